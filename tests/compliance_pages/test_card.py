"""The completeness card on an EV preparation's tube page and the preparation's full
report: the numbers of the seeded preparation (worked out by hand in fixtures.py), failed
rules errors first with explanation, source and a link to the form that adds what is
missing, evidence and purity links, and scoping."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse

from assays.plots import scientific
from assays.views.compliance import FIX_FORMS, Target, fix_link

from .html import links, row, section, text

pytestmark = pytest.mark.django_db


def tube_page(client, preparation) -> str:
    response = client.get(reverse("samples:aliquot-detail", args=[preparation.aliquot_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_card_shows_scores_counts_purity_and_recovery(page_client, seeded):
    card = section(tube_page(page_client("editor"), seeded), "compliance")
    assert card, "the tube page of an EV preparation has the card"
    shown = text(card)
    assert "MISEV2018 50% 2/4" in shown
    assert "EV-METRIC 33% 1/3" in shown
    for count in ("2 passed", "2 failed", "0 warned", "1 n/a"):
        assert count in shown
    assert f"Purity {scientific(1e10)} particles/µg low purity" in shown
    assert f"Recovery {scientific(1e10)} particles per mL of input" in shown
    purity_links = dict((label, href) for href, label in links(card))
    assert purity_links["particles"].startswith("/assays/particles/")


def test_card_lists_failed_rules_errors_first_with_why_source_and_next_step(page_client, seeded):
    card = section(tube_page(page_client("editor"), seeded), "compliance")
    codes = [code for code in ("T-01", "T-02", "T-03", "T-04", "T-05") if row(card, code)]
    assert codes == ["T-03", "T-04"], "only the failed rules, not the passed or n/a ones"
    assert card.index('data-code="T-03"') < card.index('data-code="T-04"')
    marker = text(row(card, "T-03"))
    assert "error" in marker and "Transmembrane marker detected" in marker
    assert "0 of 1 category 1a marker(s) detected" in marker
    assert "A category 1a protein shows the particles have a lipid bilayer." in marker
    assert "Source: MISEV2018 Table 3" in marker
    assert "What to add next: Add a western blot of CD63, CD81 or CD9." in marker
    assert "warning" in text(row(card, "T-04"))
    assert reverse("assays:preparation-compliance", args=[seeded.pk]) in [h for h, _ in links(card)]


def expected_fix_url(kind: str, preparation) -> str | None:
    """The form each fix kind must lead to, or None while that form's page is not installed."""
    aliquot = preparation.aliquot
    try:
        return {
            "particles": lambda: reverse("assays:file-upload") + f"?aliquot={aliquot.accession}",
            "protein": lambda: reverse("assays:protein-create") + f"?aliquot={aliquot.pk}",
            "marker": lambda: reverse("assays:marker-result-create") + f"?aliquot={aliquot.pk}",
            "imaging": lambda: reverse("assays:imaging-create") + f"?aliquot={aliquot.pk}",
            "flow": lambda: reverse("assays:file-upload") + f"?aliquot={aliquot.accession}",
            "dls": lambda: reverse("assays:dls-create") + f"?aliquot={aliquot.pk}",
            "sample": lambda: reverse("samples:sample-edit", args=[aliquot.sample_id]),
            "run": lambda: reverse("assays:run-detail", args=[preparation.run_id]),
        }[kind]()
    except NoReverseMatch:
        return None


@pytest.mark.parametrize("kind", sorted(FIX_FORMS))
def test_each_fix_kind_links_to_its_form(seeded, kind):
    seeded.aliquot.refresh_from_db()
    link = fix_link(kind, Target.of(seeded))
    expected = expected_fix_url(kind, seeded)
    if expected is None:
        assert link is None, "no link to a page that does not exist"
    else:
        assert link is not None and link["url"] == expected


def test_unknown_fix_kind_has_no_link(seeded):
    assert fix_link("telepathy", Target.of(seeded)) is None


def test_card_links_each_failed_rule_to_its_form(page_client, seeded):
    card = section(tube_page(page_client("editor"), seeded), "compliance")
    for code, kind in (("T-03", "marker"), ("T-04", "imaging")):
        expected = expected_fix_url(kind, seeded)
        hrefs = [href for href, _ in links(row(card, code))]
        if expected is not None:
            assert expected in hrefs
        else:
            assert not [h for h in hrefs if "?aliquot=" in h]


def test_card_offers_protein_form_when_protein_is_missing(page_client, bare):
    card = section(tube_page(page_client("editor"), bare), "compliance")
    hrefs = [href for href, _ in links(row(card, "T-02"))]
    assert reverse("assays:protein-create") + f"?aliquot={bare.aliquot_id}" in hrefs
    upload = [href for href, _ in links(row(card, "T-01"))]
    assert reverse("assays:file-upload") + f"?aliquot={bare.aliquot.accession}" in upload
    assert "needs a particle count and a protein result" in text(card)


def test_viewer_sees_the_card_without_links_to_record_things(page_client, bare):
    card = section(tube_page(page_client("viewer"), bare), "compliance")
    assert "MISEV2018 0% 0/4" in text(card)
    assert "cmp-fix" not in card
    assert "Add protein result" not in text(card)


def test_tubes_that_are_not_preparations_have_no_card(page_client, seeded):
    input_tube = seeded.source.aliquot_id
    response = page_client("editor").get(reverse("samples:aliquot-detail", args=[input_tube]))
    html = response.content.decode()
    assert 'id="isolation"' in html, "the input tube's page did render its panels"
    assert 'id="compliance"' not in html


def test_full_report_lists_every_rule_with_its_status(page_client, seeded):
    response = page_client("viewer").get(reverse("assays:preparation-compliance", args=[seeded.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    statuses = {code: text(row(html, code)) for code in ("T-01", "T-02", "T-03", "T-04", "T-05")}
    assert statuses["T-01"].startswith("Pass")
    assert statuses["T-02"].startswith("Pass")
    assert statuses["T-03"].startswith("Fail")
    assert statuses["T-04"].startswith("Fail")
    assert statuses["T-05"].startswith("Not applicable")
    assert not row(html, "T-06"), "a MISEV2023 rule is not in a MISEV2018 study's report"
    # Failed first, then passed, then not applicable.
    assert html.index('data-code="T-03"') < html.index('data-code="T-01"')
    assert html.index('data-code="T-01"') < html.index('data-code="T-05"')
    # Evidence links to the records the pass rests on.
    particle_links = [h for h, _ in links(row(html, "T-01")) if "/assays/particles/" in h]
    assert particle_links


def test_full_report_for_another_profile(page_client, seeded):
    url = reverse("assays:preparation-compliance", args=[seeded.pk])
    html = page_client("viewer").get(url, {"profile": "MISEV2023"}).content.decode()
    assert text(row(html, "T-06")).startswith("Pass")
    assert not row(html, "T-02")
    assert "MISEV2023 100% 1/1" in text(html)


def test_another_studys_preparation_is_not_found(page_client, seeded, members):
    url = reverse("assays:preparation-compliance", args=[seeded.pk])
    assert page_client("outsider").get(url).status_code == 404
    assert page_client("viewer").get(url).status_code == 200
