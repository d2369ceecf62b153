"""The rule pages: every current rule by profile with severity, state and parameters; the
versions of a rule; staff edit a rule (a new version, which the next evaluation uses) or
switch it off; bad input is refused with nothing saved; others read but cannot change."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from assays.models import ComplianceRule

from .html import links, row, section, text

pytestmark = pytest.mark.django_db


def staff_client(client, staff):
    client.force_login(staff)
    return client


def edit_form(rule: ComplianceRule, **changes) -> dict:
    values = {
        "severity": rule.severity,
        "params": json.dumps(rule.params),
        "applies_when": json.dumps(rule.applies_when),
        "explanation": rule.explanation,
        "fix_hint": rule.fix_hint,
        "is_active": "on" if rule.is_active else "",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v != ""}


def test_rule_list_groups_current_rules_by_profile(page_client, rules):
    html = page_client("viewer").get(reverse("assays:rule-list")).content.decode()
    assert "6 current rules" in text(html)
    ev_metric = html[html.index('id="profile-EV-METRIC"') :]
    ev_metric = ev_metric[: ev_metric.index("</table>")]
    assert [c for c in ("T-01", "T-02", "T-03", "T-04") if f'data-code="{c}"' in ev_metric] == [
        "T-01",
        "T-03",
        "T-04",
    ]
    line = text(row(html, "T-03"))
    assert "Transmembrane marker detected" in line and "Error" in line and "on" in line
    assert "marker_detected" in line and '{"categories": ["1a"], "min": 1}' in line
    assert "Edit" not in text(html), "a viewer gets no edit links"


def test_rule_list_filters(page_client, rules):
    client = page_client("viewer")
    html = client.get(reverse("assays:rule-list"), {"severity": "warning"}).content.decode()
    assert "1 current rule" in text(html) and row(html, "T-04")
    html = client.get(reverse("assays:rule-list"), {"profile": "MISEV2023"}).content.decode()
    assert row(html, "T-06") and not row(html, "T-01")


def test_non_staff_cannot_edit_or_switch(page_client, rules):
    client = page_client("manager")
    rule = rules["T-03"]
    assert client.get(reverse("assays:rule-edit", args=[rule.pk])).status_code == 403
    response = client.post(reverse("assays:rule-edit", args=[rule.pk]), edit_form(rule))
    assert response.status_code == 403
    response = client.post(reverse("assays:rule-toggle", args=[rule.pk]), {"active": "off"})
    assert response.status_code == 403
    assert ComplianceRule.objects.filter(code="T-03").count() == 1


def test_staff_edit_makes_a_version_the_next_evaluation_uses(client, staff, page_client, seeded):
    rule = ComplianceRule.objects.get(code="T-04", is_current=True)
    staff_client(client, staff)
    page = client.get(reverse("assays:rule-edit", args=[rule.pk]))
    assert page.status_code == 200 and "Saving makes version 2" in page.content.decode()
    assert "All views in one imaging session." in page.content.decode(), "the check's parameters"
    response = client.post(
        reverse("assays:rule-edit", args=[rule.pk]),
        edit_form(rule, severity="error", explanation="Images are required here."),
    )
    new = ComplianceRule.objects.get(code="T-04", is_current=True)
    assert response.status_code == 302 and response["Location"] == reverse(
        "assays:rule-detail", args=[new.pk]
    )
    assert (new.version, new.severity, new.created_by) == (2, "error", staff)
    rule.refresh_from_db()
    assert not rule.is_current and rule.severity == "warning"

    detail = text(client.get(reverse("assays:rule-detail", args=[new.pk])).content.decode())
    assert "Versions" in detail and "stella_staff" in detail
    assert "images — Single-vesicle images" in detail

    card = section(
        page_client("editor")
        .get(reverse("samples:aliquot-detail", args=[seeded.aliquot_id]))
        .content.decode(),
        "compliance",
    )
    images = text(row(card, "T-04"))
    # The badge is the result's status; the rule's severity is named beside it.
    assert images.startswith("Fail") and "error rule" in images
    assert "Images are required here." in images


def test_switching_a_rule_off_changes_the_score(client, staff, page_client, seeded):
    rule = ComplianceRule.objects.get(code="T-03", is_current=True)
    staff_client(client, staff)
    back = reverse("assays:rule-list") + "?profile=MISEV2018"
    response = client.post(
        reverse("assays:rule-toggle", args=[rule.pk]), {"active": "off", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    off = ComplianceRule.objects.get(code="T-03", is_current=True)
    assert (off.version, off.is_active) == (2, False)
    card = text(
        section(
            page_client("viewer")
            .get(reverse("samples:aliquot-detail", args=[seeded.aliquot_id]))
            .content.decode(),
            "compliance",
        )
    )
    assert "MISEV2018 67% 2/3" in card and "EV-METRIC 50% 1/2" in card


def test_toggle_does_not_redirect_off_site(client, staff, rules):
    staff_client(client, staff)
    rule = rules["T-02"]
    response = client.post(
        reverse("assays:rule-toggle", args=[rule.pk]),
        {"active": "off", "next": "https://evil.example/"},
    )
    assert response["Location"].startswith("/assays/")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"params": '{"min": "two"}'}, "min: must be a whole number"),
        ({"params": '{"min": 1, "colour": "red"}'}, "colour: not a parameter"),
        ({"params": "{not json"}, "Not valid JSON"),
        ({"params": "[1, 2]"}, "Give a JSON object"),
        ({"applies_when": '{"fluid_types": ["lava"]}'}, "fluid_types: unknown lava"),
        ({"severity": "fatal"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_refused_with_nothing_saved(client, staff, rules, changes, message):
    staff_client(client, staff)
    rule = rules["T-03"]
    response = client.post(reverse("assays:rule-edit", args=[rule.pk]), edit_form(rule, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert ComplianceRule.objects.filter(code="T-03").count() == 1


def test_editing_an_old_version_goes_to_the_current_one(client, staff, rules):
    staff_client(client, staff)
    old = rules["T-01"]
    client.post(reverse("assays:rule-edit", args=[old.pk]), edit_form(old, severity="warning"))
    current = ComplianceRule.objects.get(code="T-01", is_current=True)
    response = client.get(reverse("assays:rule-edit", args=[old.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("assays:rule-edit", args=[current.pk])
    detail = client.get(reverse("assays:rule-detail", args=[old.pk])).content.decode()
    assert "an earlier version" in detail
    assert reverse("assays:rule-detail", args=[current.pk]) in [h for h, _ in links(detail)]


def test_staff_see_edit_links_and_the_study_settings_link(client, staff, page_client, seeded):
    staff_client(client, staff)
    html = client.get(reverse("assays:rule-list")).content.decode()
    current = ComplianceRule.objects.get(code="T-01", is_current=True)
    assert reverse("assays:rule-edit", args=[current.pk]) in [h for h, _ in links(html)]
    report = page_client("manager").get(reverse("assays:preparation-compliance", args=[seeded.pk]))
    hrefs = [h for h, _ in links(report.content.decode())]
    assert reverse("samples:study-edit", args=[seeded.run.study_id]) in hrefs
