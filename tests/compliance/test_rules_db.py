"""Rules in the database: the built-in catalogue as loaded by the migration, new versions,
switching off, labs' own rules, and edits changing what the engine says."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.migrations.recorder import MigrationRecorder

from assays.compliance.catalogue import BUILTIN_RULES, load_builtin_rules
from assays.compliance.engine import evaluate, rules_for
from assays.compliance.rules import create_rule, new_rule_version, set_rule_active
from assays.models import ComplianceRule

from .factories import good, with_run, with_sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("builtin_rules")]


def current(code: str) -> ComplianceRule:
    return ComplianceRule.objects.get(code=code, is_current=True)


def test_migration_loads_the_catalogue_and_every_rule_is_valid() -> None:
    assert MigrationRecorder.Migration.objects.filter(
        app="assays", name="0006_builtin_rules"
    ).exists()
    rules = list(ComplianceRule.objects.all())
    assert {r.code for r in rules} == {r["code"] for r in BUILTIN_RULES}
    for rule in rules:
        assert rule.is_builtin and rule.is_current and rule.is_active and rule.version == 1
        rule.full_clean()
    assert load_builtin_rules(ComplianceRule) == 0


def test_loading_adds_only_missing_codes_and_keeps_edits(members) -> None:
    edited = new_rule_version(current("PA-07"), user=members["manager"], title="Fasting recorded")
    ComplianceRule.objects.filter(code="PA-05").delete()
    assert load_builtin_rules(ComplianceRule) == 1
    assert current("PA-07") == edited
    assert current("PA-05").version == 1


def test_rules_for_a_profile() -> None:
    misev2023 = rules_for("MISEV2023")
    assert all("MISEV2023" in r.profiles for r in misev2023)
    assert "CH-10" in {r.code for r in misev2023}
    assert "CH-10" not in {r.code for r in rules_for("MISEV2018")}
    assert {r.code for r in rules_for("EV-METRIC")} == {
        "EVM-DG",
        "EVM-EVP",
        "EVM-NEV",
        "EVM-EM",
        "EVM-PA",
        "EVM-PQ",
        "EVM-UC",
        "EVM-AB",
        "EVM-LY",
    }
    assert len(rules_for(None)) == len(BUILTIN_RULES)
    with pytest.raises(ValueError):
        rules_for("MISEV2014")


def test_new_version_takes_effect(members) -> None:
    facts = with_run(good(), input_freeze_thaw_count=3)
    assert evaluate(facts, rules_for(None)).result("CU-02").status == "warn"

    old = current("CU-02")
    new = new_rule_version(old, user=members["manager"], params={"warn_above": 1, "max": 2})

    old.refresh_from_db()
    assert not old.is_current and old.params == {"warn_above": 1}
    assert (new.version, new.is_current, new.is_builtin) == (2, True, False)
    assert new.created_by == members["manager"]
    assert new.title == old.title and new.profiles == old.profiles
    result = evaluate(facts, rules_for(None)).result("CU-02")
    assert (result.status, result.version) == ("fail", 2)


def test_changed_purity_cut_off_changes_the_result(members) -> None:
    assert evaluate(good(), rules_for(None)).result("CH-02").status == "pass"  # 6e10
    new_rule_version(
        current("CH-02"), user=members["manager"], params={"min_particles_per_ug": 1e11}
    )
    assert evaluate(good(), rules_for(None)).result("CH-02").status == "warn"


def test_switching_a_rule_off_and_on(members) -> None:
    facts = with_sample(good(), fasting_state="unknown")
    assert evaluate(facts, rules_for(None)).result("PA-07").status == "fail"

    off = set_rule_active(current("PA-07"), user=members["manager"], active=False)
    assert (off.version, off.is_active) == (2, False)
    assert "PA-07" not in {r.code for r in rules_for(None)}
    assert evaluate(facts, rules_for(None)).result("PA-07") is None
    assert set_rule_active(off, user=members["manager"], active=False) == off  # already off

    on = set_rule_active(off, user=members["manager"], active=True)
    assert on.version == 3 and on.is_active
    assert evaluate(facts, rules_for(None)).result("PA-07").status == "fail"
    assert list(
        ComplianceRule.objects.filter(code="PA-07").values_list("version", "is_current")
    ) == [
        (3, True),
        (2, False),
        (1, False),
    ]


def test_invalid_edit_changes_nothing(members) -> None:
    rule = current("CH-03-TM")
    with pytest.raises(ValidationError) as caught:
        new_rule_version(rule, user=members["manager"], params={"categories": ["9"]})
    assert "params" in caught.value.message_dict
    assert current("CH-03-TM") == rule
    assert ComplianceRule.objects.filter(code="CH-03-TM").count() == 1

    with pytest.raises(ValidationError) as caught:
        new_rule_version(rule, user=members["manager"], applies_when={"fluid_types": ["blood"]})
    assert "applies_when" in caught.value.message_dict
    with pytest.raises(ValidationError):
        new_rule_version(rule, user=members["manager"], check_name="no_such_check")
    with pytest.raises(ValidationError):
        new_rule_version(rule, user=members["manager"], profiles=["MISEV2014"])
    with pytest.raises(ValidationError):
        new_rule_version(rule, user=members["manager"], fix_kind="telescope")
    with pytest.raises(ValidationError) as caught:
        new_rule_version(rule, user=members["manager"], code="CH-99", version=7)
    assert set(caught.value.message_dict) == {"code", "version"}
    assert current("CH-03-TM") == rule


def test_only_the_current_version_can_be_edited(members) -> None:
    old = current("PA-06")
    new_rule_version(old, user=members["manager"], severity="error")
    old.refresh_from_db()
    with pytest.raises(ValidationError, match="not the current version"):
        new_rule_version(old, user=members["manager"], severity="info")


def test_unchanged_edit_makes_no_version(members) -> None:
    rule = current("PA-06")
    assert new_rule_version(rule, user=members["manager"], severity=rule.severity) == rule
    assert ComplianceRule.objects.filter(code="PA-06").count() == 1


def test_a_labs_own_rule(members) -> None:
    rule = create_rule(
        user=members["manager"],
        code="LAB-CD9",
        profiles=["MISEV2018"],
        title="CD9 detected",
        severity="warning",
        check_name="marker_detected",
        params={"symbols": ["CD9"]},
        applies_when={"fluid_types": ["plasma"]},
        explanation="Our plasma SOP expects CD9.",
        fix_kind="marker",
    )
    assert (rule.version, rule.is_builtin, rule.is_current) == (1, False, True)
    result = evaluate(good(), rules_for(None)).result("LAB-CD9")
    assert result.status == "fail" and result.severity == "warning"
    with pytest.raises(ValidationError, match="exists"):
        create_rule(
            user=members["manager"],
            code="LAB-CD9",
            profiles=["MISEV2018"],
            title="x",
            severity="info",
            check_name="advisory",
            explanation="x",
        )
    with pytest.raises(ValidationError):
        create_rule(
            user=members["manager"],
            code="LAB-2",
            profiles=["MISEV2018"],
            title="x",
            severity="info",
            check_name="threshold",
            params={"path": "sample.nothing", "max": 1},
            explanation="x",
        )
    assert not ComplianceRule.objects.filter(code="LAB-2").exists()
