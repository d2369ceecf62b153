"""Findings of the compliance walkthrough, on the pages: fix links follow what is missing,
study counts keep to the chosen profile, links to the methods text and EV-TRACK record,
companion profiles with no applicable rule are hidden, flags are badged by status, the
Warnings column is explained and rule parameters read as JSON."""

from __future__ import annotations

import csv
import json

import pytest
from django.urls import reverse

from assays.compliance.rules import new_rule_version
from assays.models import ComplianceRule

from .html import links, row, section, text

pytestmark = pytest.mark.django_db


def card_of(client, preparation) -> str:
    response = client.get(reverse("samples:aliquot-detail", args=[preparation.aliquot_id]))
    assert response.status_code == 200
    return section(response.content.decode(), "compliance")


@pytest.fixture
def both_quantities(rules, staff) -> ComplianceRule:
    """T-02 asks for particles *and* protein (as CH-01 does), its rule's fix kind protein."""
    return new_rule_version(
        rules["T-02"], user=staff, params={"min": 2, "methods": ["particles", "protein"]}
    )


def test_missing_particles_link_to_the_upload_even_when_the_rule_says_protein(
    page_client, both_quantities, published, record_run, measure
):
    (preparation,) = record_run(published)
    measure(preparation.aliquot, "protein")
    card = card_of(page_client("editor"), preparation)
    fixes = [(href, label) for href, label in links(row(card, "T-02"))]
    upload = reverse("assays:file-upload") + f"?aliquot={preparation.aliquot.accession}"
    assert (upload, "Upload particle data") in fixes
    assert not any(label == "Add protein result" for _, label in fixes)


def test_missing_protein_links_to_the_protein_form(
    page_client, both_quantities, published, record_run, measure
):
    (preparation,) = record_run(published)
    measure(preparation.aliquot, "particles")
    card = card_of(page_client("editor"), preparation)
    labels = [label for _, label in links(row(card, "T-02"))]
    assert "Add protein result" in labels and "Upload particle data" not in labels


def test_card_and_preparation_page_link_the_methods_text_and_evtrack(page_client, seeded):
    client = page_client("editor")
    expected = {
        reverse("assays:methods-preparation", args=[seeded.pk]),
        reverse("assays:evtrack-json", args=[seeded.pk]),
        reverse("assays:evtrack-csv", args=[seeded.pk]),
    }
    card = card_of(client, seeded)
    assert expected <= {href for href, _ in links(card)}
    page = client.get(reverse("assays:preparation-compliance", args=[seeded.pk]))
    assert expected <= {href for href, _ in links(page.content.decode())}


def test_companion_profile_with_no_applicable_rule_is_hidden(page_client, rules, seeded):
    """A plasma preparation: a urine-only rule does not apply, so no "urine n/a" score."""
    ComplianceRule.objects.create(
        code="T-URINE",
        title="Urine void type",
        severity="error",
        check_name="field_present",
        params={"paths": ["sample.urine_void_type"]},
        applies_when={"fluid_types": ["urine"]},
        profiles=["urine"],
        explanation="Urine only.",
    )
    client = page_client("editor")
    card = text(card_of(client, seeded))
    assert "urine" not in card and "no rule applies" not in card
    page = client.get(reverse("assays:preparation-compliance", args=[seeded.pk]))
    assert "no rule applies" not in text(page.content.decode())


def test_a_flag_is_badged_by_its_status_with_the_severity_beside_it(
    page_client, rules, seeded, staff
):
    """An error-severity plausibility rule that warns shows "Warning", not "error"."""
    ComplianceRule.objects.create(
        code="T-ADVICE",
        title="Always doubtful",
        severity="error",
        check_name="advisory",
        params={"status": "warn", "message": "Check this."},
        profiles=["MISEV2018"],
        explanation="A plausibility warning whenever it applies.",
    )
    card = card_of(page_client("editor"), seeded)
    flag = row(section_after(card, "Plausibility flags"), "T-ADVICE")
    assert flag, "the rule is a plausibility flag"
    assert 'class="badge cmp-status-warn">Warning<' in flag
    assert "cmp-sev-error" not in flag
    assert "error rule" in text(flag)


def section_after(html: str, heading: str) -> str:
    return html[html.index(heading) :] if heading in html else ""


def test_study_counts_only_the_chosen_profiles_rules(page_client, study, seeded):
    """seeded fails T-03 (error) and T-04 (warning), both MISEV2018 and EV-METRIC rules. A
    failing MIBlood-EV error (a companion profile, judged alongside) is not the chosen
    profile's: it stays out of the counts and the missing codes."""
    ComplianceRule.objects.create(
        code="T-BLOOD",
        title="DLS measured",
        severity="error",
        check_name="single_particle_method",
        params={"methods": ["dls"]},
        profiles=["MIBlood-EV"],
        explanation="Only in MIBlood-EV.",
    )
    client = page_client("viewer")
    url = reverse("assays:study-compliance-export", args=[study.pk])
    for profile in ("MISEV2018", "EV-METRIC"):
        response = client.get(url, {"format": "csv", "profile": profile})
        (line,) = list(csv.DictReader(response.content.decode().splitlines()))
        assert (line["failed_errors"], line["failed_warnings"]) == ("1", "1"), profile
        assert set(line["missing"].split()) == {"T-03", "T-04"}, profile
    page = client.get(reverse("assays:study-compliance", args=[study.pk]), {"profile": "EV-METRIC"})
    assert "T-BLOOD" not in page.content.decode()


def test_study_table_explains_the_warnings_column(page_client, study, seeded):
    html = page_client("viewer").get(reverse("assays:study-compliance", args=[study.pk]))
    shown = text(html.content.decode())
    assert "“+n” after Warnings counts rules met with a warning" in shown


def test_rule_pages_show_parameters_as_json(page_client, rules, staff):
    rule = rules["T-01"]
    expected = json.dumps(rule.params, ensure_ascii=False, sort_keys=True)
    client = page_client("viewer")
    listing = client.get(reverse("assays:rule-list")).content.decode()
    assert "{&quot;methods&quot;: [&quot;particles&quot;], &quot;min&quot;: 1}" in listing
    assert "{&#x27;" not in listing and "&#x27;methods&#x27;" not in listing
    detail = client.get(reverse("assays:rule-detail", args=[rule.pk])).content.decode()
    assert "&#x27;methods&#x27;" not in detail
    assert expected.replace('"', "&quot;") in detail
