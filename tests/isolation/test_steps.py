"""Per-kind parameter validation: good and bad values, clear messages, units."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from assays.choices import StepKind
from assays.steps import all_schemas, schema_for, validate_parameters

ROTOR = SimpleNamespace(name="SW 41 Ti", r_min_mm=67.4, r_max_mm=153.1, max_rpm=41_000)

GOOD = {
    StepKind.DIFFERENTIAL_CENTRIFUGATION: {
        "g_force": 10_000,
        "g_basis": "max",
        "duration_min": 30,
        "temperature_c": 4,
        "brake": False,
    },
    StepKind.ULTRACENTRIFUGATION: {
        "g_force": 100_000,
        "g_basis": "average",
        "duration_min": 70,
        "washes": 1,
        "resuspension_buffer": "PBS",
        "resuspension_volume_ml": 0.1,
    },
    StepKind.DENSITY_GRADIENT: {
        "medium": "iodixanol",
        "loading": "bottom",
        "range_from_percent": 5,
        "range_to_percent": 40,
        "g_force": 100_000,
        "g_basis": "average",
        "duration_min": 1080,
        "fractions_pooled": [6, 7, 8],
        "pooled_densities_g_ml": [1.10, 1.12, 1.15],
    },
    StepKind.SEC: {
        "column": "qEV original 70 nm",
        "load_volume_ml": 0.5,
        "void_volume_ml": 3,
        "fraction_volume_ml": 0.5,
        "fractions_pooled": "7, 8, 9",
    },
    StepKind.PRECIPITATION: {"reagent": "PEG 6000", "peg_percent": 8, "incubation_min": 720},
    StepKind.ULTRAFILTRATION: {"mwco_kda": 10, "membrane": "regenerated cellulose"},
    StepKind.IMMUNOAFFINITY: {
        "target_antigen": "CD63",
        "antibody_rrid": "AB_2783013",
        "elution": "low_ph",
    },
    StepKind.FILTRATION: {"pore_size_um": 0.22, "position": "pre"},
    StepKind.AF4: {"spacer_um": 490, "detectors": ["MALS", "UV"]},
    StepKind.KIT: {"vendor": "Qiagen", "kit_name": "exoEasy Maxi"},
    StepKind.OTHER: {"name": "Microfluidic chip", "extra": {"flow_ul_min": 5, "chip": "A1"}},
}


@pytest.mark.parametrize("kind", list(StepKind.values))
def test_every_kind_has_a_schema_and_a_good_example(kind):
    schema = schema_for(kind)
    assert schema["kind"] == kind and schema["parameters"]
    cleaned = validate_parameters(kind, GOOD[kind])
    assert set(cleaned) <= {p["name"] for p in schema["parameters"]}


@pytest.mark.parametrize(
    ("kind", "params", "field", "text"),
    [
        (
            StepKind.ULTRACENTRIFUGATION,
            {"g_force": 2_000_000, "g_basis": "average", "duration_min": 70},
            "g_force",
            "g_force: must be between 1 and 1,500,000 ×g",
        ),
        (
            StepKind.DIFFERENTIAL_CENTRIFUGATION,
            {"g_force": 2000, "g_basis": "median", "duration_min": 10},
            "g_basis",
            "'median' is not one of average, max",
        ),
        (
            StepKind.DIFFERENTIAL_CENTRIFUGATION,
            {"g_force": 2000, "duration_min": 10},
            "g_basis",
            "g_basis: say whether g_force is the average or the max RCF",
        ),
        (
            StepKind.ULTRACENTRIFUGATION,
            {"duration_min": 70},
            "g_force",
            "g_force: required (×g), or give rpm with a rotor",
        ),
        (
            StepKind.ULTRACENTRIFUGATION,
            {"g_force": 1e5, "g_basis": "max", "duration_min": 70, "temperature_c": 99},
            "temperature_c",
            "temperature_c: must be between -30 and 60 °C",
        ),
        (
            StepKind.DENSITY_GRADIENT,
            {**GOOD[StepKind.DENSITY_GRADIENT], "medium": "percoll"},
            "medium",
            "'percoll' is not one of iodixanol, sucrose",
        ),
        (
            StepKind.DENSITY_GRADIENT,
            {**GOOD[StepKind.DENSITY_GRADIENT], "range_from_percent": 40, "range_to_percent": 5},
            "range_to_percent",
            "must be above range_from_percent",
        ),
        (
            StepKind.DENSITY_GRADIENT,
            {**GOOD[StepKind.DENSITY_GRADIENT], "pooled_densities_g_ml": [1.1, 3]},
            "pooled_densities_g_ml",
            "must be between 0.9 and 1.6 g/mL",
        ),
        (StepKind.SEC, {"load_volume_ml": 0.5}, "column", "column: required"),
        (
            StepKind.SEC,
            {"column": "qEV", "load_volume_ml": -1},
            "load_volume_ml",
            "load_volume_ml: must be between 0.0001 and 1,000 mL",
        ),
        (StepKind.ULTRAFILTRATION, {"mwco_kda": 0}, "mwco_kda", "between 1 and 1,000 kDa"),
        (
            StepKind.IMMUNOAFFINITY,
            {"target_antigen": "CD9", "elution": "magic"},
            "elution",
            "'magic' is not one of none, low_ph",
        ),
        (
            StepKind.IMMUNOAFFINITY,
            {"target_antigen": "CD9", "elution": "none", "antibody_rrid": "CD9-123"},
            "antibody_rrid",
            "is not an antibody RRID",
        ),
        (StepKind.FILTRATION, {"pore_size_um": 500}, "pore_size_um", "between 0.01 and 100 µm"),
        (StepKind.KIT, {"vendor": "Qiagen"}, "kit_name", "kit_name: required"),
        (StepKind.OTHER, {"name": "x", "extra": {"a": [1]}}, "extra", "a must be a number or text"),
        (
            StepKind.ULTRACENTRIFUGATION,
            {"g_force": 1e5, "g_basis": "max", "duration_min": 70, "washes": 1.5},
            "washes",
            "washes: must be a whole number",
        ),
        (
            StepKind.ULTRACENTRIFUGATION,
            {"g_force": "fast", "g_basis": "max", "duration_min": 70},
            "g_force",
            "is not a number",
        ),
    ],
)
def test_bad_parameters_have_field_level_messages(kind, params, field, text):
    with pytest.raises(ValidationError) as caught:
        validate_parameters(kind, params)
    errors = caught.value.message_dict
    assert field in errors, errors
    assert any(text in m for m in errors[field]), errors[field]


def test_unknown_parameter_is_an_error_naming_the_known_ones():
    with pytest.raises(ValidationError) as caught:
        validate_parameters(StepKind.FILTRATION, {"pore_size_um": 0.22, "pore_size": 0.22})
    message = caught.value.message_dict["pore_size"][0]
    assert "not a parameter of filtration" in message and "pore_size_um" in message


def test_unknown_kind_is_refused():
    with pytest.raises(ValidationError) as caught:
        validate_parameters("centrifuge", {})
    assert "Unknown step kind" in caught.value.message_dict["kind"][0]


def test_volumes_in_other_units_are_stored_in_ml():
    cleaned = validate_parameters(
        StepKind.ULTRACENTRIFUGATION,
        {
            "g_force": 100_000,
            "g_basis": "average",
            "duration_min": {"value": 1.5, "unit": "h"},
            "resuspension_volume_ml": {"value": 250, "unit": "µL"},
            "fill_volume_ml": {"value": "0,0125", "unit": "L"},
        },
    )
    assert cleaned["resuspension_volume_ml"] == 0.25
    assert cleaned["fill_volume_ml"] == 12.5
    assert cleaned["duration_min"] == 90


def test_unknown_unit_is_refused_with_the_allowed_units():
    with pytest.raises(ValidationError) as caught:
        validate_parameters(
            StepKind.SEC,
            {"column": "qEV", "load_volume_ml": {"value": 2, "unit": "cups"}},
        )
    assert "mL, µL, L" in caught.value.message_dict["load_volume_ml"][0]
    with pytest.raises(ValidationError) as caught:
        validate_parameters(StepKind.ULTRAFILTRATION, {"mwco_kda": {"value": 10000, "unit": "Da"}})
    assert "give the value in kDa" in caught.value.message_dict["mwco_kda"][0]


def test_text_input_from_forms_is_parsed():
    cleaned = validate_parameters(
        StepKind.DIFFERENTIAL_CENTRIFUGATION,
        {
            "g_force": "2000",
            "g_basis": "average",
            "duration_min": "10,5",
            "brake": "off",
            "repeats": "2",
            "temperature_c": "",
        },
    )
    assert cleaned == {
        "g_force": 2000.0,
        "g_basis": "average",
        "duration_min": 10.5,
        "brake": False,
        "repeats": 2,
    }


def test_rpm_with_rotor_computes_the_force():
    cleaned = validate_parameters(
        StepKind.ULTRACENTRIFUGATION, {"rpm": 41_000, "duration_min": 70}, rotor=ROTOR
    )
    assert cleaned["g_basis"] == "average"
    assert cleaned["g_force"] == pytest.approx(207_199, abs=1)
    cleaned = validate_parameters(
        StepKind.ULTRACENTRIFUGATION,
        {"rpm": 41_000, "g_basis": "max", "duration_min": 70},
        rotor=ROTOR,
    )
    assert cleaned["g_force"] == pytest.approx(287_730, abs=1)


def test_rpm_without_rotor_or_above_its_maximum_is_refused():
    with pytest.raises(ValidationError) as caught:
        validate_parameters(StepKind.ULTRACENTRIFUGATION, {"rpm": 38_000, "duration_min": 70})
    assert "choose the rotor" in caught.value.message_dict["rpm"][0]
    with pytest.raises(ValidationError) as caught:
        validate_parameters(
            StepKind.ULTRACENTRIFUGATION, {"rpm": 45_000, "duration_min": 70}, rotor=ROTOR
        )
    assert "above the maximum of SW 41 Ti (41,000 rpm)" in caught.value.message_dict["rpm"][0]


def test_force_and_rpm_must_agree():
    with pytest.raises(ValidationError) as caught:
        validate_parameters(
            StepKind.ULTRACENTRIFUGATION,
            {"rpm": 41_000, "g_force": 100_000, "g_basis": "average", "duration_min": 70},
            rotor=ROTOR,
        )
    assert "does not match 41,000 rpm on SW 41 Ti" in caught.value.message_dict["g_force"][0]
    ok = validate_parameters(
        StepKind.ULTRACENTRIFUGATION,
        {"rpm": 41_000, "g_force": 207_000, "g_basis": "average", "duration_min": 70},
        rotor=ROTOR,
    )
    assert ok["g_force"] == 207_000


def test_partial_skips_required_but_still_checks_values():
    assert validate_parameters(
        StepKind.ULTRACENTRIFUGATION, {"duration_min": 90}, partial=True
    ) == {"duration_min": 90}
    with pytest.raises(ValidationError):
        validate_parameters(StepKind.ULTRACENTRIFUGATION, {"duration_min": -5}, partial=True)
    with pytest.raises(ValidationError):
        validate_parameters(StepKind.ULTRACENTRIFUGATION, {"speed": 5}, partial=True)


def test_schema_is_plain_data_for_forms():
    import json

    data = all_schemas()
    json.dumps(data)  # serialisable as is
    uc = next(s for s in data if s["kind"] == "ultracentrifugation")
    g = next(p for p in uc["parameters"] if p["name"] == "g_force")
    assert g == {**g, "type": "number", "unit": "×g", "min": 1, "max": 1_500_000}
    volume = next(p for p in uc["parameters"] if p["name"] == "resuspension_volume_ml")
    assert volume["accepts_units"] == ["mL", "µL", "L"]
    basis = next(p for p in uc["parameters"] if p["name"] == "g_basis")
    assert [c["value"] for c in basis["choices"]] == ["average", "max"]
