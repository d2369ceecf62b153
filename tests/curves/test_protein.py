"""Protein µg/mL from a plate: blank, fit, per-well interpolation, dilution, flags, map errors.

The expected numbers are worked out by hand in ``tests/curves/__init__.py``: after the 0.1
blank the BCA standards lie exactly on OD = 0.001·µg/mL.
"""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.curves import CurveError
from assays.protein import PlateMapError, normalise_well, quantify_plate, total_ug

from . import BCA_LEVELS, bca_plate


def four_pl(x: float, a: float, b: float, c: float, d: float) -> float:
    return d + (a - d) / (1 + (x / c) ** b)


@pytest.fixture
def linear():
    values, plate_map = bca_plate()
    return quantify_plate(values, plate_map, "linear")


def test_blank_is_the_mean_of_the_blank_wells_and_is_subtracted(linear):
    assert linear.blank == pytest.approx(0.1)
    assert linear.blank_source == "blank wells"
    assert linear.blank_subtracted
    assert linear.curve.params["slope"] == pytest.approx(0.001, rel=1e-9)
    assert linear.curve.params["intercept"] == pytest.approx(0.0, abs=1e-9)
    # Every standard well is 0.004 off the line: SS_res = 18 × 0.004².
    responses = [0.001 * level + shift for level in BCA_LEVELS for shift in (0.004, -0.004)]
    mean = statistics.fmean(responses)
    ss_tot = sum((r - mean) ** 2 for r in responses)
    assert linear.curve.r_squared == pytest.approx(1 - 18 * 0.004**2 / ss_tot, rel=1e-12)


def test_duplicates_are_interpolated_per_well_then_multiplied_by_the_dilution(linear):
    exo1 = linear.sample("EXO-1")

    assert exo1.wells == ("D1", "D2")
    assert exo1.responses == pytest.approx((0.25, 0.27))
    assert exo1.well_concentrations == pytest.approx((250.0, 270.0))
    assert exo1.mean_well_ug_per_ml == pytest.approx(260.0)
    assert exo1.dilution == 2
    assert exo1.ug_per_ml == pytest.approx(520.0)
    # sd(500, 540) / 520
    assert exo1.cv_pct == pytest.approx(statistics.stdev([500, 540]) / 520 * 100)
    assert exo1.cv_pct == pytest.approx(5.4393, abs=1e-4)
    assert exo1.flags == ()


def test_triplicate_at_one_in_five(linear):
    exo3 = linear.sample("EXO-3")

    assert exo3.well_concentrations == pytest.approx((490.0, 500.0, 510.0))
    assert exo3.ug_per_ml == pytest.approx(2500.0)
    assert exo3.cv_pct == pytest.approx(2.0)
    assert exo3.flags == ()


def test_below_the_lowest_standard_is_reported_but_flagged(linear):
    low = linear.sample("EXO-LOW")

    # 10 and 12 µg/mL: real numbers from the line, but under the 25 µg/mL standard.
    assert low.well_concentrations == pytest.approx((10.0, 12.0))
    assert low.ug_per_ml == pytest.approx(11.0)
    assert low.flags == ("below_curve",)


def test_above_the_highest_standard_is_reported_but_flagged(linear):
    high = linear.sample("EXO-HIGH")

    assert high.ug_per_ml == pytest.approx(2200.0)
    assert high.flags == ("above_curve",)


def test_replicates_far_apart_are_high_cv(linear):
    spread = linear.sample("EXO-CV")

    assert spread.well_concentrations == pytest.approx((100.0, 300.0))
    assert spread.ug_per_ml == pytest.approx(200.0)
    assert spread.cv_pct == pytest.approx(70.7107, abs=1e-4)
    assert spread.flags == ("high_cv",)


def test_a_well_without_a_value_is_flagged_and_the_other_replicate_still_counts(linear):
    gap = linear.sample("EXO-GAP")

    assert gap.responses[1] is None
    assert gap.well_concentrations[1] is None
    assert gap.ug_per_ml == pytest.approx(400.0)
    assert gap.cv_pct is None
    assert gap.flags == ("missing_value",)


def test_wells_with_issues_lists_exactly_the_flagged_wells(linear):
    issues = {well.well: well.flags for well in linear.wells_with_issues}

    assert issues == {
        "E1": ("below_curve",),
        "E2": ("below_curve",),
        "E3": ("above_curve",),
        "E4": ("above_curve",),
        "F4": ("missing_value",),
    }
    # high_cv belongs to the sample (two wells together), not to a single well.
    assert "F1" not in issues


def test_empty_wells_count_nowhere(linear):
    assert "H12" not in {well.well for well in linear.wells}
    assert linear.curve.n_points == 2 * len(BCA_LEVELS)


def test_standard_levels_report_mean_cv_and_recovery(linear):
    levels = {level.concentration: level for level in linear.standards}

    assert list(levels) == list(BCA_LEVELS)
    zero, s25, top = levels[0], levels[25], levels[2000]
    assert zero.wells == ("A1", "B1") and zero.n == 2
    assert zero.mean_response == pytest.approx(0.0, abs=1e-12)
    # CV of the raw ODs: sd(0.104, 0.096) / 0.1
    assert zero.cv_pct == pytest.approx(statistics.stdev([0.104, 0.096]) / 0.1 * 100)
    assert zero.recovery_pct is None
    assert s25.mean_response == pytest.approx(0.025)
    assert s25.back_calculated == pytest.approx(25.0)
    assert s25.recovery_pct == pytest.approx(100.0)
    assert top.cv_pct == pytest.approx(statistics.stdev([2.104, 2.096]) / 2.1 * 100)


def test_without_blank_wells_the_zero_standard_is_the_blank():
    values, plate_map = bca_plate(blanks=False)

    result = quantify_plate(values, plate_map, "linear")

    assert result.blank_source == "zero standard"
    assert result.blank == pytest.approx(0.1)  # mean of 0.104 and 0.096
    assert result.sample("EXO-1").ug_per_ml == pytest.approx(520.0)


def test_blank_wells_without_readings_fall_back_to_the_zero_standard():
    values, plate_map = bca_plate()
    values["C1"] = values["C2"] = None

    result = quantify_plate(values, plate_map, "linear")

    assert result.blank_source == "zero standard"
    assert {w.well for w in result.wells_with_issues} >= {"C1", "C2"}


def test_no_blank_and_no_zero_standard_means_no_subtraction():
    values, plate_map = bca_plate(blanks=False)
    for well in ("A1", "B1"):
        plate_map[well] = {"role": "empty"}

    result = quantify_plate(values, plate_map, "linear")

    assert result.blank is None and result.blank_source == "none"
    assert not result.blank_subtracted
    # The line absorbs the 0.1 offset, so the samples do not change.
    assert result.curve.params["intercept"] == pytest.approx(0.1)
    assert result.sample("EXO-1").ug_per_ml == pytest.approx(520.0)


def test_subtract_blank_false_keeps_raw_responses_but_reports_the_blank():
    values, plate_map = bca_plate()

    result = quantify_plate(values, plate_map, "linear", subtract_blank=False)

    assert result.blank == pytest.approx(0.1)
    assert not result.blank_subtracted
    exo1 = result.sample("EXO-1")
    assert exo1.responses == pytest.approx((0.35, 0.37))
    assert exo1.ug_per_ml == pytest.approx(520.0)


def test_wells_of_one_sample_at_different_dilutions_each_use_their_own():
    values, plate_map = bca_plate()
    values.update({"G1": 0.35, "G2": 0.15})  # 250 µg/mL × 2 and 50 µg/mL × 10
    plate_map["G1"] = {"role": "sample", "sample": "EXO-9", "dilution": 2}
    plate_map["G2"] = {"role": "sample", "sample": "EXO-9", "dilution": 10}

    exo9 = quantify_plate(values, plate_map, "linear").sample("EXO-9")

    assert exo9.dilution is None
    assert exo9.ug_per_ml == pytest.approx(500.0)
    assert exo9.mean_well_ug_per_ml == pytest.approx(150.0)
    assert exo9.cv_pct == pytest.approx(0.0, abs=1e-9)


def test_controls_are_quantified_with_recovery_against_their_nominal_value():
    values, plate_map = bca_plate()
    values.update({"G5": 0.6, "G6": 0.62})
    plate_map["G5"] = {"role": "control", "sample": "BSA QC", "concentration": 500}
    plate_map["G6"] = {"role": "control", "sample": "BSA QC", "concentration": 500}

    result = quantify_plate(values, plate_map, "linear")

    [qc] = result.controls
    assert qc.sample == "BSA QC"
    assert qc.ug_per_ml == pytest.approx(510.0)
    assert qc.recovery_pct == pytest.approx(102.0)
    assert "BSA QC" not in {s.sample for s in result.samples}


def test_well_names_are_normalised():
    values, plate_map = bca_plate()
    plate_map["d01"] = plate_map.pop("D1")

    result = quantify_plate(values, plate_map, "linear")

    assert result.sample("EXO-1").wells == ("D2", "D1")
    assert normalise_well(" h012 ") == "H12"
    assert normalise_well("12A") is None


# --- 4PL ------------------------------------------------------------------------------------

TRUTH = {"a": 0.0, "b": 1.2, "c": 800.0, "d": 3.0}


def four_pl_plate():
    values, plate_map = bca_plate()
    for column, level in enumerate(BCA_LEVELS, start=1):
        for row in "AB":
            values[f"{row}{column}"] = 0.1 + four_pl(level, **TRUTH)
    values.update({"D1": 0.1 + four_pl(300, **TRUTH), "D2": 0.1 + four_pl(340, **TRUTH)})
    values.update({"E1": 3.5, "E2": 3.6})  # beyond the plateau of 3.0 (+0.1 blank)
    values.update({"E3": 0.05, "E4": 0.06})  # under the blank: below the zero response
    for well, key in (("E1", "OVER"), ("E2", "OVER"), ("E3", "UNDER"), ("E4", "UNDER")):
        plate_map[well]["sample"] = key
    return values, plate_map


def test_four_pl_plate_recovers_known_concentrations():
    values, plate_map = four_pl_plate()

    result = quantify_plate(values, plate_map, "4pl")

    assert result.curve.params["c"] == pytest.approx(800, rel=1e-4)
    exo1 = result.sample("EXO-1")
    assert exo1.well_concentrations == pytest.approx((300.0, 340.0), rel=1e-4)
    assert exo1.ug_per_ml == pytest.approx(640.0, rel=1e-4)
    assert exo1.flags == ()


def test_four_pl_beyond_the_asymptotes_gives_no_number_and_says_which_side():
    values, plate_map = four_pl_plate()

    result = quantify_plate(values, plate_map, "4pl")

    over, under = result.sample("OVER"), result.sample("UNDER")
    assert over.well_concentrations == (None, None)
    assert over.ug_per_ml is None and over.cv_pct is None
    assert over.flags == ("not_invertible", "above_curve")
    assert under.well_concentrations == (None, None)
    assert under.flags == ("not_invertible", "below_curve")
    flagged = {w.well: w.flags for w in result.wells_with_issues}
    assert flagged["E1"] == ("not_invertible", "above_curve")
    assert flagged["E3"] == ("not_invertible", "below_curve")


# --- Refusals -------------------------------------------------------------------------------


def test_map_errors_name_every_bad_well_at_once():
    values, plate_map = bca_plate()
    plate_map.update(
        {
            "G1": {"role": "unknown-thing"},
            "G2": {"role": "standard"},
            "G3": {"role": "sample", "dilution": 2},
            "G4": {"role": "sample", "sample": "EXO-1", "dilution": 0.5},
            "I13": {"role": "blank"},
            "XYZ": {"role": "blank"},
        }
    )

    with pytest.raises(PlateMapError) as caught:
        quantify_plate(values, plate_map, "linear")

    message = caught.value.message
    assert "unknown role 'unknown-thing'" in message and "G1" in message
    assert "standard without a concentration in µg/mL: G2" in message
    assert "sample well without a sample: G3" in message
    assert "dilution must be a factor ≥ 1 (1:2 is 2, not 0.5): G4" in message
    assert "not on the plate: I13" in message
    assert "not a well name: XYZ" in message
    assert set(caught.value.wells) == {"G1", "G2", "G3", "G4", "I13", "XYZ"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"role": "standard", "concentration": -5}, "standard with a negative concentration: G1"),
        ({"role": "standard", "concentration": "lots"}, "standard without a concentration"),
        ({"role": "sample", "sample": "  "}, "sample well without a sample: G1"),
        ({"role": "sample", "sample": "X", "dilution": "abc"}, "dilution must be a factor"),
        ({}, "unknown role None"),
        ({"role": "sample", "sample": ["EXO-1"]}, "sample key must be text or a number: G1"),
        ("sample", "entry is not a mapping: G1"),
    ],
)
def test_single_map_errors(entry, message):
    values, plate_map = bca_plate()
    plate_map["G1"] = entry

    with pytest.raises(PlateMapError) as caught:
        quantify_plate(values, plate_map, "linear")

    assert message in caught.value.message


def test_a_well_mapped_twice_is_an_error():
    values, plate_map = bca_plate()
    plate_map["d1"] = {"role": "blank"}

    with pytest.raises(PlateMapError, match="mapped twice: d1"):
        quantify_plate(values, plate_map, "linear")


def test_a_map_without_standards_is_an_error():
    values = {"A1": 0.1, "A2": 0.2}

    with pytest.raises(PlateMapError, match="no standard wells"):
        quantify_plate(
            values, {"A1": {"role": "blank"}, "A2": {"role": "sample", "sample": "S"}}, "linear"
        )


def test_standards_that_fall_with_concentration_are_refused():
    values, plate_map = bca_plate()
    for column, level in enumerate(BCA_LEVELS, start=1):
        for row in "AB":
            values[f"{row}{column}"] = 2.2 - 0.001 * level

    with pytest.raises(CurveError, match="falls as the concentration rises"):
        quantify_plate(values, plate_map, "linear")


def test_too_few_standards_read_is_a_curve_error():
    values, plate_map = bca_plate()
    for column in range(2, len(BCA_LEVELS) + 1):
        values[f"A{column}"] = values[f"B{column}"] = None

    with pytest.raises(CurveError, match="needs at least 2 different standard"):
        quantify_plate(values, plate_map, "linear")


def test_total_ug():
    assert total_ug(520.0, 0.05) == pytest.approx(26.0)
    assert total_ug(None, 0.05) is None
    assert total_ug(520.0, None) is None
    with pytest.raises(ValueError):
        total_ug(520.0, -1)
    assert math.isclose(total_ug(0.0, 1.0), 0.0)


READING = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-0.1, 4.0),
    st.sampled_from(["0.5", "Range?", "", 0]),
)


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.dictionaries(st.sampled_from([f"{r}{c}" for r in "ABDEF" for c in range(1, 10)]), READING),
    st.sampled_from(["linear", "4pl"]),
)
def test_any_readings_give_a_result_or_a_curve_error(changes, model):
    values, plate_map = bca_plate()
    values.update(changes)
    try:
        result = quantify_plate(values, plate_map, model)
    except CurveError as exc:
        assert exc.message
        return
    for sample in result.samples:
        assert sample.ug_per_ml is None or math.isfinite(sample.ug_per_ml)
        if sample.ug_per_ml is None:
            assert sample.flags
    for well in result.wells:
        if well.role == "sample" and well.concentration is None:
            assert well.flags
