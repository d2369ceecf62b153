"""Purity and recovery arithmetic, with the unit conversions at the edges."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assays.compliance import purity
from assays.compliance.catalogue import builtin_specs
from assays.compliance.engine import evaluate

from .factories import BCA, NTA, PREP_TUBE, good, with_prep, with_run

CH02 = next(s for s in builtin_specs() if s.code == "CH-02")


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.2, "mg/mL", 1200.0),
        (1.2, "µg/µL", 1200.0),
        (1.2, "μg/μL", 1200.0),  # Greek mu, as some keyboards type it
        (5.0, "ng/µL", 5.0),
        (500.0, "ng/mL", 0.5),
        (0.8, "g/L", 800.0),
        (42.0, "ug/mL", 42.0),
        (42.0, "µg / mL", 42.0),
    ],
)
def test_protein_units(value, unit, expected) -> None:
    assert purity.to_ug_per_ml(value, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (3e10, "/mL", 3e10),
        (3e10, "particles/mL", 3e10),
        (3e7, "particles/µL", 3e10),
        (3e7, "/uL", 3e10),
        (3e13, "/L", 3e10),
        (3e10, "per mL", 3e10),
    ],
)
def test_particle_units(value, unit, expected) -> None:
    assert purity.to_particles_per_ml(value, unit) == pytest.approx(expected)


def test_volume_units() -> None:
    assert purity.to_ml(250, "µL") == pytest.approx(0.25)
    assert purity.to_ml(0.004, "L") == pytest.approx(4.0)
    assert purity.to_ml(2, "mL") == 2.0


@pytest.mark.parametrize(
    ("convert", "unit"),
    [(purity.to_ug_per_ml, "µg/mL"), (purity.to_particles_per_ml, "/mL"), (purity.to_ml, "mL")],
)
def test_unknown_unit_or_value_is_refused(convert, unit) -> None:
    with pytest.raises(ValueError, match="unit"):
        convert(1.0, "furlongs")
    with pytest.raises(ValueError, match="finite"):
        convert(float("nan"), unit)


def test_ratio_from_converted_units() -> None:
    particles = purity.to_particles_per_ml(3e7, "/µL")  # 3e10 /mL
    protein = purity.to_ug_per_ml(1.2, "mg/mL")  # 1200 µg/mL
    assert purity.particles_per_ug(particles, protein) == pytest.approx(2.5e7)


@pytest.mark.parametrize("protein", [None, 0.0, -1.0])
def test_no_ratio_without_protein(protein) -> None:
    assert purity.particles_per_ug(3e10, protein) is None


def test_recovery_per_ml_of_input() -> None:
    # 2e10 particles/mL in 100 µL from 0.5 mL plasma: 2e9 particles recovered, 4e9 per mL.
    assert purity.recovery_per_ml_input(2e10, purity.to_ml(100, "µL"), 0.5) == pytest.approx(4e9)
    assert purity.recovery_per_ml_input(2e10, 0.1, 0) is None
    assert purity.recovery_per_ml_input(None, 0.1, 0.5) is None


@pytest.mark.parametrize(
    ("ratio", "band"),
    [
        (3e10, "high purity"),
        (2.9e10, "low purity"),
        (1.5e9, "low purity"),
        (1.49e9, "impure"),
        (0.0, "impure"),
    ],
)
def test_default_bands(ratio, band) -> None:
    assert purity.purity_band(ratio) == band


def test_custom_bands_in_any_order() -> None:
    bands = [{"label": "poor", "min": 0}, {"label": "good", "min": 1e10}]
    assert purity.purity_band(2e10, bands) == "good"
    assert purity.purity_band(5e9, bands) == "poor"
    assert purity.purity_band(None, bands) == ""
    assert purity.purity_band(1.0, [{"label": "good", "min": 10}]) == ""


@pytest.mark.parametrize(
    "bands",
    [
        [],
        "high",
        [{"label": "a"}],
        [{"label": "", "min": 1}],
        [{"label": "a", "min": -1}],
        [{"label": "a", "min": True}],
        [{"label": "a", "min": 1}, {"label": "a", "min": 2}],
    ],
)
def test_invalid_bands(bands) -> None:
    assert purity.validate_bands(bands)


def test_report_purity_and_recovery() -> None:
    report = evaluate(good(), [CH02])
    assert report.purity.particles_per_ug == pytest.approx(3e10 / 0.5)
    assert report.purity.band == "high purity"
    assert (report.purity.particle_measurement_id, report.purity.protein_measurement_id) == (
        NTA.id,
        BCA.id,
    )
    # 3e10 /mL × 0.1 mL ÷ 0.5 mL
    assert report.recovery_particles_per_ml_input == pytest.approx(6e9)


def test_pair_on_one_tube_is_preferred() -> None:
    other_tube = PREP_TUBE + 1
    newer_elsewhere = replace(NTA, id=20, aliquot_id=other_tube, concentration_per_ml=1e9)
    protein_elsewhere = replace(BCA, id=21, aliquot_id=other_tube, concentration_ug_per_ml=1.0)
    facts = good(particles=(newer_elsewhere, NTA), protein=(protein_elsewhere, BCA))
    particle, protein = purity.purity_pair(facts)
    assert (particle.id, protein.id) == (NTA.id, BCA.id)


def test_pair_across_aliquots_of_the_same_material() -> None:
    aliquot = PREP_TUBE + 1
    facts = good(protein=(replace(BCA, aliquot_id=aliquot),))
    particle, protein = purity.purity_pair(facts)
    assert (particle.aliquot_id, protein.aliquot_id) == (PREP_TUBE, aliquot)


def test_lysate_protein_is_not_the_preparation_concentration() -> None:
    lysate = replace(BCA, aliquot_id=PREP_TUBE + 2, same_material=False)
    assert evaluate(good(protein=(lysate,)), [CH02]).purity is None
    assert evaluate(good(protein=(lysate,)), [CH02]).result("CH-02").status == "fail"


def test_rule_bands_and_cut_off() -> None:
    custom = CH02.replace(
        params={
            "min_particles_per_ug": 1e11,
            "bands": [{"label": "clean", "min": 1e11}, {"label": "dirty", "min": 0}],
        }
    )
    report = evaluate(good(), [custom])
    assert report.purity.band == "dirty"
    result = report.result("CH-02")
    assert result.status == "warn"
    assert "1×10¹¹" in result.message


def test_study_cut_off_overrides_the_rule_minimum() -> None:
    facts = with_prep(
        good(protein=(replace(BCA, concentration_ug_per_ml=6.0),)), purity_min_particles_per_ug=None
    )
    assert evaluate(facts, [CH02]).result("CH-02").status == "pass"  # 5e9 ≥ 1.5e9
    strict = with_prep(facts, purity_min_particles_per_ug=1e10)
    result = evaluate(strict, [CH02]).result("CH-02")
    assert result.status == "warn"
    assert "study cut-off" in result.message
    lenient = with_prep(
        good(protein=(replace(BCA, concentration_ug_per_ml=60.0),)), purity_min_particles_per_ug=1e8
    )
    assert evaluate(lenient, [CH02]).result("CH-02").status == "pass"  # 5e8, below the rule's


def test_recovery_needs_input_and_preparation_volume() -> None:
    assert (
        evaluate(with_run(good(), input_volume_ml=None), [CH02]).recovery_particles_per_ml_input
        is None
    )
    assert (
        evaluate(
            with_prep(good(), resuspension_volume_ml=None), [CH02]
        ).recovery_particles_per_ml_input
        is None
    )
