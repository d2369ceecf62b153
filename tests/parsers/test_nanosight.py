"""NanoSight NTA ExperimentSummary.csv: golden values from the project's own synthetic files,
and a clear ParseError (what and where) for everything unreadable."""

from __future__ import annotations

from datetime import datetime

import pytest

from assays.parsers.base import ParseError
from assays.parsers.nanosight import NanoSightParser

from .synth import DATA_DIR, NTA_AUTOSAMPLER, NTA_GOLDEN

parser = NanoSightParser()


@pytest.fixture(scope="module")
def golden_bytes() -> bytes:
    return (DATA_DIR / NTA_GOLDEN).read_bytes()


@pytest.fixture(scope="module")
def golden(golden_bytes):
    return parser.parse(golden_bytes, NTA_GOLDEN)


def test_golden_identity_and_dates(golden):
    assert golden.method == "NTA"
    assert golden.software_version == "NTA 3.4 Build 3.4.003"
    assert golden.description == "EXO-000123"
    assert golden.sample_name == "EXO-000123 SEC F3"
    # "05/03/2024" is ambiguous day-first, so the experiment-name stamp decides.
    assert golden.measured_at == datetime(2024, 3, 5, 14, 22, 10)
    assert golden.settings["measured_at_source"] == "experiment name"
    assert golden.settings["operator"] == "AB"
    assert golden.settings["pre_treatment"] == "SEC fraction 3"
    assert golden.settings["diluent"] == "PBS"
    assert golden.settings["encoding"] == "cp1252"


def test_golden_concentrations_already_dilution_corrected(golden):
    # The recorded 1.00e+02 was already applied by NTA: reported as is, never multiplied.
    assert golden.dilution_factor == 100.0
    assert golden.settings["dilution"] == 100.0
    assert golden.settings["dilution_already_applied"] is True
    assert golden.concentration_per_ml == 2.35e8
    assert golden.replicate_concentrations_per_ml == (2.34e8, 2.20e8, 2.50e8)
    assert golden.concentration_sd_per_ml == pytest.approx(1.5011107e7)
    assert golden.settings["concentration_se_per_ml"] == 8.67e6
    assert golden.distribution.dilution_corrected is True


def test_golden_size_statistics(golden):
    assert (golden.mean_nm, golden.mode_nm, golden.sd_nm) == (100.1, 99.8, 0.7)
    assert (golden.d10_nm, golden.d50_nm, golden.d90_nm) == (99.0, 99.8, 100.7)
    number = golden.settings["size_stats"]["number"]
    assert number["mode"]["videos"] == [99.5, 100.5, 99.5]
    assert number["d50"]["standard_error"] == 0.1
    assert golden.settings["size_stats"]["volume"]["mean"]["average"] == 100.1


def test_golden_distribution(golden):
    dist = golden.distribution
    assert len(dist.bin_centres_nm) == 1000
    assert dist.bin_centres_nm[:3] == (0.5, 1.5, 2.5)
    assert dist.bin_centres_nm[-1] == 999.5
    assert len(dist.replicates) == 3
    assert dist.replicates[0][99] == 120_000_000
    assert dist.replicates[2][98] == 50_000_000
    assert [sum(video) for video in dist.replicates] == [2.34e8, 2.20e8, 2.50e8]
    assert dist.mean[99] == 113_333_333
    assert "parser_warnings" not in golden.settings


def test_golden_capture_conditions(golden):
    s = golden.settings
    assert s["video_count"] == 3
    assert s["videos"][1] == "EXO-000123 SEC F3 2024-03-05 14-23-44"
    assert s["temperature_c"] == pytest.approx(25.002)
    assert s["temperature_c_range"] == [24.914, 25.09]
    assert s["viscosity_cp"] == 0.89002
    assert s["camera_level"] == 14
    assert s["detection_threshold"] == 5
    assert s["frames_analysed"] == 1498
    assert s["syringe_pump_speed_au"] == 100
    assert s["shutter_ms"] == 30.15
    assert s["laser_type"] == "Blue488"
    assert s["conditions"]["Temperature/C"] == [24.914, 25.002, 25.09]
    assert s["analysis_settings"]["Max Jump Mode"] == ["Auto", "Auto", "Auto"]
    assert s["results"]["Particles per frame"] == {
        "videos": [40.1, 40.1, 40.1],
        "average": 40.1,
        "standard_error": 0.0,
    }
    assert s["processed"] == ["Yes", "Yes", "Yes"]
    assert s["data_included"] == [
        "Size distribution - Number weighting - With Percentiles",
        "Size distribution - Volume weighting",
    ]


def test_golden_instrument_warnings(golden):
    assert golden.instrument_warnings == (
        "Validity of concentration measurement: Be cautious of data due to noise (video 2 of 3)",
        "Noise level: Noise detected (video 2 of 3)",
    )
    assert golden.settings["concentration_warnings"]["Noise level"] == [
        "No",
        "Noise detected",
        "No",
    ]


def test_autosampler_layout_without_averages():
    result = parser.parse((DATA_DIR / NTA_AUTOSAMPLER).read_bytes(), NTA_AUTOSAMPLER)
    assert result.software_version == "NTA 3.3 - Sample Assistant Dev Build 3.3.203"
    assert result.dilution_factor is None
    assert result.settings["dilution"] == "Not recorded"
    assert result.settings["dilution_already_applied"] is False
    assert result.distribution.dilution_corrected is False
    # No Average cell in [Results]: the mean of the videos.
    assert result.concentration_per_ml == 1.6e9
    assert result.concentration_sd_per_ml == pytest.approx(1.41421356e8)
    # No "Concentration average" graph column: computed from the videos, and said so.
    assert result.settings["distribution_mean_computed"] is True
    assert result.distribution.mean[150] == 950_000_000
    assert result.distribution.mean[152] == 400_000_000
    assert result.mode_nm == 150.5
    assert result.sample_name == "plate A1"
    assert result.description == ""
    assert result.measured_at == datetime(2023, 11, 12, 9, 5, 0)
    assert "processed" not in result.settings
    assert result.instrument_warnings == ()


def test_unambiguous_time_captured_wins(golden_bytes):
    data = golden_bytes.replace(b"14:22:10  05/03/2024", b"14:22:10  25/03/2024")
    result = parser.parse(data.replace(b"2024-03-05 14-22-10.nano", b"run.nano"), "x.csv")
    assert result.measured_at == datetime(2024, 3, 25, 14, 22, 10)
    assert result.settings["measured_at_source"] == "Time Captured"


def test_bin_sum_mismatch_is_reported_not_fatal(golden_bytes):
    data = golden_bytes.replace(b"\r\n99.5,120000000,", b"\r\n99.5,150000000,", 1)
    result = parser.parse(data)
    assert result.settings["parser_warnings"] == [
        "Graph Data bins of EXO-000123 SEC F3 2024-03-05 14-22-31 sum to 2.64e+08"
        " particles/mL, but [Results] says 2.34e+08"
    ]


# -- errors: what and where --------------------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def _line_of(data: bytes, prefix: bytes) -> int:
    return next(i for i, line in enumerate(_lines(data), 1) if line.startswith(prefix))


def test_non_numeric_concentration_names_line_and_video(golden_bytes):
    data = golden_bytes.replace(
        b"Concentration (Particles / ml),2.34e+08,2.20e+08",
        b"Concentration (Particles / ml),2.34e+08,lots",
    )
    with pytest.raises(ParseError) as info:
        parser.parse(data)
    err = info.value
    assert err.line == _line_of(data, b"Concentration (Particles / ml)")
    assert err.column == "EXO-000123 SEC F3 2024-03-05 14-23-44"
    assert "not a number: 'lots'" in err.message


def test_non_numeric_graph_value_names_line_and_column(golden_bytes):
    data = golden_bytes.replace(b"\r\n100.5,90000000,", b"\r\n100.5,9O000000,", 1)
    with pytest.raises(ParseError) as info:
        parser.parse(data)
    assert info.value.line == _line_of(data, b"100.5,9O000000")
    assert info.value.column == "EXO-000123 SEC F3 2024-03-05 14-22-31"
    assert "line" in str(info.value) and "column" in str(info.value)


@pytest.mark.parametrize(
    ("cut_after", "message"),
    [
        (b"[Results]", "no [Results] section"),
        (b"Graph Data,", "Graph Data stops after"),
        (b"500.5,", "Graph Data stops after 500 of 1000 bins"),
        (b"Percentile,", "percentile table stops early"),
    ],
)
def test_truncated_file(golden_bytes, cut_after, message):
    data = golden_bytes[: golden_bytes.index(cut_after) + len(cut_after)]
    data = data[: data.rindex(b"\r\n")] if cut_after == b"500.5," else data
    with pytest.raises(ParseError, match="truncated"):
        try:
            parser.parse(data)
        except ParseError as exc:
            assert message in exc.message
            raise


def test_truncated_mid_row():
    data = (DATA_DIR / NTA_AUTOSAMPLER).read_bytes()
    data = data[: data.index(b"\n300.5,") + 6]
    with pytest.raises(ParseError) as info:
        parser.parse(data)
    assert "truncated" in info.value.message
    assert info.value.line == data.count(b"\n") + 1


def test_missing_data_included_block(golden_bytes):
    data = golden_bytes[: golden_bytes.index(b"Weighting,Volume")]
    with pytest.raises(ParseError, match="Volume weighting"):
        parser.parse(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\r\n \r\n", "contains no text"),
        (bytes(range(256)) * 8, "binary"),
        (b"Sample,Concentration\r\nA,1\r\n", "not a NanoSight NTA ExperimentSummary"),
        (b"NTA Experiment Summary File,\r\nCreated with NTA 3.4,\r\n", 'no "Filename:" row'),
    ],
)
def test_unreadable_files(data, message):
    with pytest.raises(ParseError, match=message):
        parser.parse(data)


def test_zero_videos_is_an_error(golden_bytes):
    start = golden_bytes.index(b"Filename:,")
    end = golden_bytes.index(b"\r\n", start)
    data = golden_bytes[:start] + b"Filename:,,,," + golden_bytes[end:]
    with pytest.raises(ParseError, match="lists no videos"):
        parser.parse(data)


def test_negative_dilution_is_an_error(golden_bytes):
    data = golden_bytes.replace(b"1.00e+02", b"-1.00e+02", 1)
    with pytest.raises(ParseError, match="dilution factor must be positive") as info:
        parser.parse(data)
    assert info.value.column == "EXO-000123 SEC F3 2024-03-05 14-22-31"


def test_diffusion_blocks_are_read_for_their_statistics(golden):
    from .synth import golden_nta

    result = parser.parse(golden_nta(with_diffusion_block=True), NTA_GOLDEN)
    assert result.settings["diffusion_stats"]["number"]["mean"]["average"] == 440.0
    # The size results are those of the number-weighted size block, as before.
    assert result.distribution == golden.distribution
    assert (result.mean_nm, result.d90_nm) == (golden.mean_nm, golden.d90_nm)
    assert (
        "Diffusion distribution - Number weighting - With Percentiles"
        in result.settings["data_included"]
    )


def test_all_six_distributions(golden):
    from .synth import golden_nta

    result = parser.parse(golden_nta(all_six_blocks=True), NTA_GOLDEN)
    assert set(result.settings["size_stats"]) == {"number", "surface area", "volume"}
    assert set(result.settings["diffusion_stats"]) == {"number", "surface area", "volume"}
    assert result.distribution == golden.distribution


def test_second_filename_row_is_an_error(golden_bytes):
    data = golden_bytes.replace(b"[Conditions]", b"Filename:,a,b\r\n[Conditions]", 1)
    with pytest.raises(ParseError, match='second "Filename:" row'):
        parser.parse(data)


def test_overflowing_graph_values(golden_bytes):
    data = golden_bytes.replace(b"\r\n99.5,120000000,100000000,", b"\r\n99.5,1e308,1e308,", 1)
    with pytest.raises(ParseError, match="too large") as info:
        parser.parse(data)
    assert info.value.line == _line_of(data, b"99.5,1e308")


def test_unclosed_quote_is_a_clean_error(golden_bytes):
    # The quote swallows the rest of the file into one cell, past the csv field limit.
    data = golden_bytes.replace(b"Remarks,,", b'Remarks,"unclosed,', 1) + b"x" * 140_000
    with pytest.raises(ParseError, match="unreadable CSV") as info:
        parser.parse(data)
    assert info.value.line > 12


def test_huge_cell_is_a_clean_error():
    data = b"NTA Experiment Summary File," + b"9" * 200_000 + b"\r\n"
    with pytest.raises(ParseError, match="unreadable CSV"):
        parser.parse(data)
