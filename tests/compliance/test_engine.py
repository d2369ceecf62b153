"""The engine over hand-built facts: applicability, scores, EV-METRIC, next steps, flags,
profiles, and edits to a rule changing the result."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from assays.compliance.catalogue import builtin_specs
from assays.compliance.engine import RuleSpec, evaluate, profiles_in_scope

from .factories import (
    SEC,
    SPIN,
    good,
    gradient,
    marker,
    uc,
    with_markers,
    with_prep,
    with_run,
    with_sample,
    with_steps,
    without_markers,
)

SPECS = builtin_specs()


def spec(code: str, **changes) -> RuleSpec:
    found = next(s for s in SPECS if s.code == code)
    return found.replace(**changes) if changes else found


def rule(code: str, check_name: str, params: dict, *, profiles=("MISEV2018",), **extra) -> RuleSpec:
    return RuleSpec(
        code=code,
        title=f"Rule {code}",
        severity=extra.pop("severity", "error"),
        check_name=check_name,
        profiles=tuple(profiles),
        params=params,
        **extra,
    )


# --- Applicability ---------------------------------------------------------------------------


def test_sec_only_workflow_makes_ultracentrifugation_rules_not_applicable() -> None:
    report = evaluate(good(), SPECS)
    for code in ("SE-02", "SE-02-K", "EVM-UC", "SE-03", "PL-01"):
        assert report.result(code).status == "na", code
    assert report.result("SE-04").status == "pass"


def test_uc_workflow_makes_them_applicable() -> None:
    report = evaluate(with_steps(good(), SPIN, uc()), SPECS)
    assert report.result("SE-02").status == "pass"
    assert report.result("EVM-UC").status == "pass"
    assert report.result("SE-04").status == "na"


def test_source_specific_rules_follow_the_fluid() -> None:
    plasma = evaluate(good(), SPECS)
    assert plasma.result("CH-04-BLOOD").status == "pass"
    assert plasma.result("CH-04-URINE").status == "na"
    assert plasma.result("PA-10").status == "na"
    urine_like = evaluate(with_sample(good(), "urine"), SPECS)
    assert urine_like.result("CH-04-BLOOD").status == "na"
    assert urine_like.result("CH-04-URINE").status == "fail"


def test_ev_claim_rules_do_not_apply_to_non_vesicular_particles() -> None:
    report = evaluate(with_prep(without_markers(good(), "CD63"), nomenclature_term="NVEP"), SPECS)
    assert report.result("CH-03-TM").status == "na"


def test_field_in_condition() -> None:
    citrate = evaluate(with_sample(good(), tube_type="citrate", time_to_processing_min=90), SPECS)
    edta = evaluate(with_sample(good(), time_to_processing_min=90), SPECS)
    assert citrate.result("PA-03-CIT").status == "warn"
    assert edta.result("PA-03-CIT").status == "na"


# --- Scores ----------------------------------------------------------------------------------


def test_score_counts_pass_and_warn_of_applicable_reporting_rules() -> None:
    rules = [
        rule("A", "field_present", {"paths": ["sample.tube_type"]}),  # pass
        rule("B", "field_present", {"paths": ["sample.creatinine_mmol_l"]}),  # fail
        rule("C", "purity_ratio", {"min_particles_per_ug": 1e11}),  # warn: below cut-off
        rule("D", "step_parameters", {"kinds": ["ultracentrifugation"], "params": ["g_force"]}),
        # D is na (SEC only); E is a plausibility check and never scored.
        rule("E", "storage_temperature", {"max_c": -100}),
    ]
    report = evaluate(good(), rules)
    statuses = {r.code: r.status for r in report.results}
    assert statuses == {"A": "pass", "B": "fail", "C": "warn", "D": "na", "E": "warn"}
    score = report.scores["MISEV2018"]
    assert (score.passed, score.applicable) == (2, 3)
    assert score.pct == pytest.approx(200 / 3)
    assert [m.code for m in score.missing] == ["B"]
    # A low purity is a doubt about recorded values, like a warm freezer.
    assert [r.code for r in report.flags] == ["C", "E"]


def test_score_is_none_when_nothing_applies() -> None:
    rules = [
        rule("D", "step_parameters", {"kinds": ["ultracentrifugation"], "params": ["g_force"]})
    ]
    score = evaluate(good(), rules).scores["MISEV2018"]
    assert (score.passed, score.applicable, score.pct) == (0, 0, None)


def test_complete_sec_preparation_scores_full_misev2018() -> None:
    report = evaluate(good(), SPECS)
    score = report.scores["MISEV2018"]
    assert score.pct == 100.0
    assert score.applicable == score.passed > 10


def _evmetric(facts):
    return evaluate(facts, SPECS).evmetric


def test_evmetric_duc_wb_nta_tem_has_nine_components_and_misses_the_gradient() -> None:
    score = _evmetric(with_steps(good(), SPIN, uc()))
    assert (score.passed, score.applicable) == (8, 9)
    assert score.pct == pytest.approx(800 / 9)
    assert [m.code for m in score.missing] == ["EVM-DG"]


def test_evmetric_sec_wb_nta_tem_has_eight_components() -> None:
    score = _evmetric(good())
    assert (score.passed, score.applicable) == (7, 8)


def test_evmetric_sec_without_antibodies_or_lysates_has_six_components() -> None:
    mass_free = replace(
        good(),
        markers=tuple(replace(m, method="other") for m in good().markers),
    )
    score = _evmetric(mass_free)
    assert score.applicable == 6
    assert (score.passed, score.pct) == (5, pytest.approx(500 / 6))


def test_evmetric_full_marks_with_a_gradient() -> None:
    score = _evmetric(with_steps(good(), SPIN, SEC, gradient()))
    assert (score.passed, score.applicable, score.pct) == (8, 8, 100.0)
    assert score.missing == ()


def test_evmetric_lists_what_is_missing() -> None:
    score = _evmetric(without_markers(good(imaging=()), "CANX", "APOA1", "APOB"))
    assert {m.code for m in score.missing} == {"EVM-DG", "EVM-EM", "EVM-NEV"}
    assert all(m.title for m in score.missing)


# --- Next steps, flags, profiles ---------------------------------------------------------------


def test_next_steps_are_failures_errors_first() -> None:
    facts = with_sample(without_markers(good(protein=()), "TSG101"), fasting_state="unknown")
    report = evaluate(facts, SPECS)
    severities = [r.severity for r in report.next_steps]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    codes = [r.code for r in report.next_steps]
    assert {"CH-01", "CH-02", "CH-03-CY", "PA-07", "EVM-PQ"} <= set(codes)
    assert all(r.status == "fail" for r in report.next_steps)
    assert next(r for r in report.next_steps if r.code == "CH-03-CY").fix_kind == "marker"


def test_flags_are_implausible_values_not_missing_ones() -> None:
    facts = with_sample(good(), haemolysis_a414=0.5, residual_platelets_per_ml=None)
    facts = replace(facts, storage=replace(facts.storage, temperature_c=-20.0))
    report = evaluate(facts, SPECS)
    flagged = {r.code for r in report.flags}
    assert {"PA-06-A414", "CU-03"} <= flagged
    assert "PA-05" not in flagged  # not recorded: a gap to fill, not a doubt
    assert report.result("PA-05").status == "fail"


def test_profile_scope_study_profile_and_companions() -> None:
    assert profiles_in_scope("MISEV2018") == ("MISEV2018", "EV-METRIC", "MIBlood-EV", "urine")
    report = evaluate(good(flow=()), SPECS)
    assert report.profile == "MISEV2018"
    assert report.result("CH-10") is None  # a MISEV2023-only rule
    assert set(report.scores) == {"MISEV2018", "EV-METRIC", "MIBlood-EV", "urine"}
    assert report.scores["urine"].pct is None


def test_profile_from_study_or_argument() -> None:
    misev2023 = with_prep(good(), compliance_profile="MISEV2023")
    assert evaluate(misev2023, SPECS).profile == "MISEV2023"
    assert evaluate(good(), SPECS, profile="MISEV2023").result("CH-10").status == "na"


def test_unknown_check_is_not_applicable_and_not_scored() -> None:
    report = evaluate(good(), [rule("X", "no_such_check", {})])
    result = report.result("X")
    assert result.status == "na" and not result.scored
    assert "no_such_check" in result.message


def test_report_is_plain_json() -> None:
    facts = with_steps(with_run(good(), has_actuals=True), SPIN, uc())
    data = evaluate(facts, SPECS).as_dict()
    text = json.dumps(data)
    assert json.loads(text)["purity"]["particles_per_ug"] == pytest.approx(6e10)
    assert data["evmetric"]["applicable"] == 9
    assert data["results"][0]["evidence"] is not None


def test_evaluate_is_deterministic() -> None:
    assert evaluate(good(), SPECS) == evaluate(good(), SPECS)


def test_evidence_names_records_and_pages() -> None:
    report = evaluate(good(), SPECS)
    evidence = report.result("CH-03-TM").evidence
    assert [(e.kind, e.url_name) for e in evidence] == [("marker", "assays:marker-result-detail")]
    purity_evidence = report.result("CH-02").evidence
    assert {e.kind for e in purity_evidence} == {"particles", "protein"}


# --- Rule edits change results (pure variants; the database ones are in test_rules_db) --------


def test_changed_threshold_changes_the_result() -> None:
    facts = with_run(good(), input_freeze_thaw_count=3)
    assert evaluate(facts, [spec("CU-02")]).result("CU-02").status == "warn"
    stricter = spec("CU-02", params={"warn_above": 1, "max": 2}, version=2)
    result = evaluate(facts, [stricter]).result("CU-02")
    assert (result.status, result.version) == ("fail", 2)


def test_study_maximum_overrides_the_rule() -> None:
    facts = with_prep(with_run(good(), input_freeze_thaw_count=2), max_freeze_thaw_cycles=1)
    result = evaluate(facts, [spec("CU-02", params={"max": 5})]).result("CU-02")
    assert result.status == "fail"
    assert "study" in result.message


def test_a_new_marker_list_changes_the_result() -> None:
    facts = with_markers(good(), marker("CD9", "1a"))
    stricter = spec("CH-03-TM", params={"symbols": ["CD9", "CD63", "CD81"], "min": 3})
    assert evaluate(facts, [stricter]).result("CH-03-TM").status == "fail"
    facts = with_markers(facts, marker("CD81", "1a"))
    assert evaluate(facts, [stricter]).result("CH-03-TM").status == "pass"


def test_a_removed_rule_is_not_judged() -> None:
    without = [s for s in SPECS if s.code != "PA-07"]
    facts = with_sample(good(), fasting_state="unknown")
    assert evaluate(facts, SPECS).result("PA-07").status == "fail"
    assert evaluate(facts, without).result("PA-07") is None
