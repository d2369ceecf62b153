"""Quality flags: thresholds from EV-DOMAIN §4.3, applied to stored numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assays import particle_results, processing
from assays.models import ParticleMeasurement
from assays.parsers.base import ParticleResult, SizeDistribution
from assays.quality import quality_flags

from .fake_parser import fake_file


def codes(**overrides) -> list[str]:
    values = {
        "instrument_warnings": [],
        "replicate_cv_pct": 10.0,
        "mode_nm": 100.0,
        "replicates": 5,
        "preparation_term": None,
    }
    values.update(overrides)
    return [flag["code"] for flag in quality_flags(**values)]


def test_a_clean_measurement_has_no_flags():
    assert codes() == []


def test_instrument_warnings_are_flagged_and_quoted():
    [flag] = quality_flags(
        instrument_warnings=["Unreliable", "High noise", "Too Low", "Minor vibration"],
        replicate_cv_pct=None,
        mode_nm=None,
        replicates=None,
        preparation_term=None,
    )
    assert flag == {
        "code": "instrument_warnings",
        "message": "The instrument warned: Unreliable; High noise; Too Low (and 1 more).",
    }


@pytest.mark.parametrize(("cv", "flagged"), [(25.0, False), (25.01, True), (None, False)])
def test_replicate_cv_above_25_percent_is_flagged(cv, flagged):
    assert ("high_replicate_cv" in codes(replicate_cv_pct=cv)) is flagged


@pytest.mark.parametrize(
    ("mode", "term", "expected"),
    [
        (49.0, "small_EV", ["mode_outside_small_ev_range"]),
        (50.0, "small_EV", []),
        (300.0, "small_EV", []),
        (301.0, "small_EV", ["mode_outside_small_ev_range"]),
        (350.0, "large_EV", []),
        (350.0, None, []),
        (49.0, None, ["mode_below_sizing_floor"]),
        (49.0, "EV", ["mode_below_sizing_floor"]),
    ],
)
def test_mode_limits_depend_on_the_preparation(mode, term, expected):
    assert codes(mode_nm=mode, preparation_term=term) == expected


@pytest.mark.parametrize(("videos", "flagged"), [(1, True), (2, True), (3, False), (None, False)])
def test_fewer_than_three_videos_are_flagged(videos, flagged):
    assert ("few_videos" in codes(replicates=videos)) is flagged


def test_flags_are_stored_with_the_measurement(make_file, tube, fake_parsers):
    upload = make_file(
        fake_file(concentrations=(1e9, 2e9), mode=40.0, warnings=("High noise",)), aliquot=tube
    )
    processing.process_file(upload.pk)
    measurement = ParticleMeasurement.objects.get(instrument_file=upload)
    assert measurement.instrument_warnings == ["High noise"]
    assert [flag["code"] for flag in measurement.flags] == [
        "instrument_warnings",
        "high_replicate_cv",
        "mode_below_sizing_floor",
        "few_videos",
    ]


def test_a_small_ev_preparation_is_held_to_the_small_ev_range(make_file, run_for, fake_parsers):
    run = run_for()
    preparation = run.preparations.get()
    assert preparation.nomenclature_term == "small_EV"
    upload = make_file(fake_file(mode=320.0), aliquot=preparation.aliquot)
    processing.process_file(upload.pk)
    measurement = ParticleMeasurement.objects.get(instrument_file=upload)
    assert [flag["code"] for flag in measurement.flags] == ["mode_outside_small_ev_range"]


# --- Stored values ---------------------------------------------------------------------------


def test_distributions_are_trimmed_rounded_and_dilution_corrected_once():
    raw = SizeDistribution(
        bin_centres_nm=(0.5, 1.5, 2.5, 3.5, 4.5, 5.5),
        mean=(0.0, 0.0, 123456.0, 0.0, 7.0, 0.0),
        replicates=((0.0, 0.0, 246912.0, 0.0, 14.0, 0.0),),
    )
    compact = particle_results.compact_distribution(raw, 10.0)
    assert compact == {
        "bin_centres_nm": [1.5, 2.5, 3.5, 4.5, 5.5],
        "mean": [0.0, 1235000.0, 0.0, 70.0, 0.0],
        "replicates": [[0.0, 2469000.0, 0.0, 140.0, 0.0]],
    }
    corrected = SizeDistribution(bin_centres_nm=(1.0,), mean=(5.0,), dilution_corrected=True)
    assert particle_results.compact_distribution(corrected, 10.0)["mean"] == [5.0]


def test_a_distribution_with_mismatched_series_fails_the_file_as_a_parser_bug():
    raw = SizeDistribution(bin_centres_nm=(1.0, 2.0), mean=(1.0,))
    with pytest.raises(particle_results.ResultError, match="2 bins but a series of 1 values"):
        particle_results.compact_distribution(raw, None)


def test_non_finite_numbers_are_stored_as_missing():
    result = ParticleResult(
        method="NTA",
        concentration_per_ml=float("nan"),
        replicate_concentrations_per_ml=(1e9, float("inf"), 3e9),
        mode_nm=float("nan"),
        settings={"viscosity": float("nan"), "nested": ({"ok": 1},), "when": Decimal("1.5")},
    )
    values = particle_results.measurement_values(result, preparation_term=None)
    assert values["concentration_per_ml"] == 2e9  # the mean of the usable replicates
    assert values["replicates"] == 2 and values["mode_nm"] is None
    assert values["settings"] == {"viscosity": None, "nested": [{"ok": 1}], "when": "1.5"}


def test_an_unknown_method_is_refused():
    with pytest.raises(particle_results.ResultError):
        particle_results.measurement_values(ParticleResult(method="TRPS"), preparation_term=None)
