"""Rule parameters and applicability are validated when a rule is saved."""

from __future__ import annotations

import pytest

from assays.compliance.checks import CHECKS, applies, resolve, validate_applies_when, validate_path
from assays.compliance.engine import RuleSpec

from .factories import good, with_sample


def test_every_check_documents_itself_and_its_defaults_are_valid() -> None:
    for name, check in CHECKS.items():
        assert check.description and check.label, name
        assert check.kind in ("reporting", "plausibility")
        assert check.as_dict()["name"] == name
        defaults = {k: p.default for k, p in check.params.items() if p.default is not None}
        problems = check.validate_params(defaults)
        # Only what a rule must say itself (a path, step kinds, a marker list) is missing.
        assert all("required" in p or p.startswith("Give ") for p in problems), (name, problems)


@pytest.mark.parametrize(
    ("check_name", "params", "fragment"),
    [
        ("threshold", {"path": "sample.haemolysis_a414"}, "Give min or max"),
        ("threshold", {"path": "sample.haemolysis", "max": 1}, "no field"),
        ("threshold", {"path": "donor.age", "max": 1}, "starts with"),
        ("threshold", {"path": "sample.haemolysis_a414", "max": "high"}, "number"),
        ("threshold", {"max": 1}, "path: required"),
        (
            "threshold",
            {"path": "sample.haemolysis_a414", "max": 1, "severity_when_out": "panic"},
            "one of",
        ),
        ("marker_detected", {}, "Give categories or symbols"),
        ("marker_detected", {"categories": ["9"]}, "unknown 9"),
        ("marker_detected", {"categories": ["1a"], "min": -1}, "whole number"),
        ("marker_detected", {"categories": ["1a"], "colour": "red"}, "not a parameter"),
        ("purity_ratio", {"bands": [{"label": "x"}]}, "bands"),
        ("step_parameters", {"kinds": ["centrifuge"], "params": ["g_force"]}, "unknown centrifuge"),
        ("miflowcyt_controls", {"kinds": [["isotype", "magic"]]}, "unknown magic"),
        ("field_present", {"any_of": [{"path": "sample.tube_type"}]}, "{path, in}"),
        ("freeze_thaw_max", {"max": True}, "whole number"),
        ("images", {"views": ["panorama"]}, "unknown panorama"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(check_name, params, fragment) -> None:
    problems = CHECKS[check_name].validate_params(params)
    assert any(fragment in p for p in problems), problems


def test_parameters_must_be_an_object() -> None:
    assert CHECKS["threshold"].validate_params(["max", 1]) == ["Parameters must be an object."]


def test_paths() -> None:
    assert validate_path("sample.centrifugation_steps[].brake") == []
    assert validate_path("run.input_volume_ml") == []
    assert validate_path("storage.temperature_c") == []
    assert validate_path("tube_type")
    facts = good()
    assert resolve(facts, "sample.tube_type") == ["k2_edta"]
    assert resolve(facts, "sample.centrifugation_steps[].brake") == [False, False]
    assert (
        resolve(with_sample(facts, centrifugation_steps=[]), "sample.centrifugation_steps[].g")
        == []
    )
    assert resolve(
        with_sample(facts, centrifugation_steps=None), "sample.centrifugation_steps[].g"
    ) == [None]
    assert resolve(facts, "preparation.nomenclature_term") == ["small_EV"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"fluid_types": ["blood"]}, "unknown blood"),
        ({"flags": ["shiny"]}, "unknown shiny"),
        ({"when": "always"}, "not a condition"),
        ({"field_in": {"sample.tube_type": "citrate"}}, "list of names"),
        ({"field_in": {"sample.nothing": ["x"]}}, "no field"),
        ("plasma", "must be an object"),
    ],
)
def test_bad_applicability_is_refused(value, fragment) -> None:
    problems = validate_applies_when(value)
    assert any(fragment in p for p in problems), problems


def test_empty_applicability_applies_always() -> None:
    assert validate_applies_when({}) == []
    assert validate_applies_when(None) == []
    spec = RuleSpec(
        code="X", title="X", severity="info", check_name="advisory", profiles=("MISEV2018",)
    )
    assert applies(spec, good())


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"fluid_types": ["plasma", "serum"]}, True),
        ({"fluid_types": ["urine"]}, False),
        ({"nomenclature_terms": ["small_EV"]}, True),
        ({"step_kinds_any": ["sec"]}, True),
        ({"step_kinds_any": ["ultracentrifugation"]}, False),
        ({"step_kinds_none": ["precipitation"]}, True),
        ({"step_kinds_none": ["sec"]}, False),
        ({"marker_methods_any": ["western_blot"]}, True),
        ({"marker_methods_any": ["elisa"]}, False),
        ({"measurement_kinds_any": ["flow", "imaging"]}, True),
        ({"measurement_kinds_any": ["flow"]}, False),
        ({"flags": ["ev_claim", "blood", "antibody_assay", "lysate_assay"]}, True),
        ({"flags": ["uc_step"]}, False),
        ({"field_in": {"sample.tube_type": ["k2_edta", "k3_edta"]}}, True),
        ({"fluid_types": ["plasma"], "flags": ["density_gradient"]}, False),
    ],
)
def test_applicability_conditions_all_must_hold(when, expected) -> None:
    assert validate_applies_when(when) == []
    spec = RuleSpec(
        code="X",
        title="X",
        severity="info",
        check_name="advisory",
        profiles=("MISEV2018",),
        applies_when=when,
    )
    assert applies(spec, good()) is expected
