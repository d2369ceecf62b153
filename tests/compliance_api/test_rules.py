"""/api/v1/rules/: signed-in users read the current rules (filter by profile, active, code)
and a rule's versions; staff change a rule with PATCH (a new version, which the next
report uses) or add one with POST; bad parameters are a 400 with reasons and nothing saved;
anyone else gets 403."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from assays.models import ComplianceRule

pytestmark = pytest.mark.django_db

RULES = "/api/v1/rules/"


@pytest.fixture
def staff_api(staff) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff)
    return client


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["code"] for r in response.json()]


def test_signed_in_users_list_current_rules(client_for, rules):
    client = client_for("viewer")
    assert codes(client.get(RULES)) == ["T-01", "T-02", "T-03", "T-04", "T-05", "T-06"]
    assert codes(client.get(RULES, {"profile": "EV-METRIC"})) == ["T-01", "T-03", "T-04"]
    assert codes(client.get(RULES, {"code": "t-03"})) == ["T-03"]
    assert codes(client.get(RULES, {"active": "false"})) == []
    one = client.get(f"{RULES}{rules['T-03'].pk}/").json()
    assert one["params"] == {"categories": ["1a"], "min": 1}
    assert (one["severity"], one["is_current"], one["version"]) == ("error", True, 1)


def test_unknown_profile_filter_is_a_400(client_for, rules):
    assert client_for("viewer").get(RULES, {"profile": "MISEV1999"}).status_code == 400


def test_signed_out_is_refused(api_client, rules):
    assert api_client.get(RULES).status_code in (401, 403)


def test_non_staff_cannot_change_rules(client_for, rules):
    for role in ("viewer", "manager"):
        client = client_for(role)
        rule = rules["T-03"]
        assert (
            client.patch(f"{RULES}{rule.pk}/", {"severity": "info"}, format="json").status_code
            == 403
        )
        response = client.post(RULES, {"code": "LAB-01"}, format="json")
        assert response.status_code == 403
    assert ComplianceRule.objects.count() == len(rules)


def test_patch_makes_a_new_version_the_next_report_uses(staff_api, staff, client_for, seeded):
    rule = ComplianceRule.objects.get(code="T-03", is_current=True)
    response = staff_api.patch(
        f"{RULES}{rule.pk}/", {"severity": "warning", "params": {"symbols": ["CD9"]}}, format="json"
    )
    assert response.status_code == 200, response.content
    new = response.json()
    assert new["id"] != rule.pk
    assert (new["version"], new["severity"], new["is_current"]) == (2, "warning", True)
    assert new["params"] == {"symbols": ["CD9"]}
    assert new["created_by"] == staff.username
    old = staff_api.get(f"{RULES}{rule.pk}/").json()
    assert (old["is_current"], old["severity"]) == (False, "error")
    versions = staff_api.get(f"{RULES}{rule.pk}/versions/").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert codes(staff_api.get(RULES, {"code": "T-03", "current": "false"})) == ["T-03"]

    report = client_for("viewer").get(f"/api/v1/ev-preparations/{seeded.pk}/compliance/").json()
    marker = next(r for r in report["results"] if r["code"] == "T-03")
    assert (marker["version"], marker["severity"]) == (2, "warning")
    assert "CD9" in marker["message"]


def test_switch_off_and_on(staff_api, client_for, seeded):
    rule = ComplianceRule.objects.get(code="T-03", is_current=True)
    off = staff_api.patch(f"{RULES}{rule.pk}/", {"is_active": False}, format="json").json()
    assert off["is_active"] is False and off["version"] == 2
    report = client_for("viewer").get(f"/api/v1/ev-preparations/{seeded.pk}/compliance/").json()
    assert "T-03" not in {r["code"] for r in report["results"]}
    assert report["scores"]["MISEV2018"]["applicable"] == 3
    on = staff_api.patch(f"{RULES}{off['id']}/", {"is_active": True}, format="json").json()
    assert on["is_active"] is True and on["version"] == 3
    assert codes(client_for("viewer").get(RULES, {"active": "false"})) == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"params": {"min": "two"}}, "params", "min: must be a whole number"),
        ({"params": {"min": 1, "colour": "red"}}, "params", "colour: not a parameter"),
        ({"params": [1, 2]}, "params", "Parameters must be an object"),
        ({"applies_when": {"fluid_types": ["lava"]}}, "applies_when", "unknown lava"),
        ({"severity": "fatal"}, "severity", "not a valid choice"),
        ({"profiles": ["MISEV1999"]}, "profiles", "Unknown profile"),
        ({"check_name": "astrology"}, "check_name", "Unknown check"),
        ({"fix_kind": "telepathy"}, "fix_kind", "not a valid choice"),
        ({"code": "X-01"}, "code", "Not a field that can be changed"),
        ({}, "non_field_errors", "Nothing to change"),
    ],
)
def test_bad_changes_are_400_with_nothing_saved(staff_api, rules, body, field, message):
    rule = rules["T-03"]
    response = staff_api.patch(f"{RULES}{rule.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert message in str(errors[field])
    assert ComplianceRule.objects.filter(code="T-03").count() == 1
    rule.refresh_from_db()
    assert rule.is_current and rule.severity == "error"


def test_an_old_version_cannot_be_changed(staff_api, rules):
    rule = rules["T-04"]
    staff_api.patch(f"{RULES}{rule.pk}/", {"severity": "error"}, format="json")
    response = staff_api.patch(f"{RULES}{rule.pk}/", {"severity": "info"}, format="json")
    assert response.status_code == 400
    assert "not the current version" in str(response.json())
    assert ComplianceRule.objects.filter(code="T-04").count() == 2


def test_put_and_delete_are_not_allowed(staff_api, rules):
    rule = rules["T-04"]
    assert staff_api.put(f"{RULES}{rule.pk}/", {}, format="json").status_code == 405
    assert staff_api.delete(f"{RULES}{rule.pk}/").status_code == 405


def test_staff_add_a_lab_rule(staff_api, client_for, seeded):
    body = {
        "code": "LAB-01",
        "title": "CD81 detected",
        "severity": "warning",
        "check_name": "marker_detected",
        "params": {"symbols": ["CD81"]},
        "profiles": ["MISEV2018"],
        "explanation": "Our lab reports CD81 on every preparation.",
        "fix_kind": "marker",
    }
    response = staff_api.post(RULES, body, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["version"], response.json()["is_builtin"]) == (1, False)
    report = client_for("viewer").get(f"/api/v1/ev-preparations/{seeded.pk}/compliance/").json()
    lab = next(r for r in report["results"] if r["code"] == "LAB-01")
    assert (lab["status"], lab["severity"]) == ("fail", "warning")
    assert report["scores"]["MISEV2018"]["applicable"] == 5

    again = staff_api.post(RULES, body, format="json")
    assert again.status_code == 400 and "code" in again.json()


def test_a_bad_new_rule_is_400_with_nothing_saved(staff_api, rules):
    body = {
        "code": "LAB-02",
        "title": "Broken",
        "severity": "error",
        "check_name": "marker_detected",
        "params": {},  # needs categories or symbols
        "profiles": ["MISEV2018"],
        "explanation": "x",
    }
    response = staff_api.post(RULES, body, format="json")
    assert response.status_code == 400, response.content
    assert "params" in response.json()
    assert not ComplianceRule.objects.filter(code="LAB-02").exists()
    missing = staff_api.post(RULES, {"code": "LAB-03"}, format="json")
    assert missing.status_code == 400
    assert {"title", "severity", "check_name", "profiles", "explanation"} <= set(missing.json())


def test_checks_are_listed_for_rule_authors(client_for, rules):
    checks = client_for("viewer").get(f"{RULES}checks/").json()
    names = {c["name"] for c in checks}
    assert {"marker_detected", "quantification_methods", "images"} <= names
    marker = next(c for c in checks if c["name"] == "marker_detected")
    assert "symbols" in marker["params"]
