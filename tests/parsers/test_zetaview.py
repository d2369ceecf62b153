"""ZetaView …_size_488.txt: golden values from synthetic files in both locales, the empty
measurement, and ParseError (what and where) for unreadable files."""

from __future__ import annotations

from datetime import datetime

import pytest

from assays.parsers.base import ParseError
from assays.parsers.zetaview import ZetaViewParser

from .synth import DATA_DIR, ZV_COMMA, ZV_EMPTY, ZV_POINT

parser = ZetaViewParser()


@pytest.fixture(scope="module")
def comma_bytes() -> bytes:
    return (DATA_DIR / ZV_COMMA).read_bytes()


@pytest.fixture(scope="module")
def comma(comma_bytes):
    return parser.parse(comma_bytes, ZV_COMMA)


@pytest.fixture(scope="module")
def point():
    return parser.parse((DATA_DIR / ZV_POINT).read_bytes(), ZV_POINT)


def test_decimal_comma_header(comma):
    assert comma.method == "ZetaView"
    assert comma.sample_name == "EXO-000124"
    assert comma.description == "plasma SEC F4"
    assert comma.measured_at == datetime(2024, 3, 5, 10, 31, 11)
    assert comma.software_version == "ZetaView 8.05.16 SP3"
    assert comma.instrument_serial == "21-777"
    s = comma.settings
    assert s["temperature_c"] == 23.27
    assert s["temperature_source"] == "sensed"
    assert s["viscosity_cp"] == 0.935602
    assert s["ph"] == 7.0 and s["ph_source"] == "entered"
    assert s["conductivity"] == 14912.0
    assert s["number_of_traces"] == 100
    assert s["average_particles_per_frame"] == 10.0
    assert s["laser_wavelength_nm"] == 488.0
    assert s["filter_wavelength"] == "Scatter"
    assert s["frame_rate_fps"] == 30.0
    assert s["min_trace_length"] == 15
    assert s["cell_checked_at"] == "2024-03-05T09:47:06"
    # 1904-01-01 is LabVIEW's "never checked", so it is not a date.
    assert "particle_drift_checked_at" not in s
    assert s["original_file"] == "20240305_0007_EXO-000124_size_488.avi"
    assert s["encoding"] == "cp1252"
    # Latin-1 text and unknown keys are kept verbatim.
    assert s["general_remarks"] == "EV / 488 nm, Zellkulturüberstand"
    assert s["header"]["Camera Trigger Duration µs"] == "Shutter Duration"
    assert s["header"]["Brightness"] == "NaN"
    assert s["header"]["ZP Factor"] == "13,231712 (Smoluchowski)"
    assert s["header_qualifiers"]["Number of Traces"] == ["(at 0,100000)"]


def test_decimal_comma_concentration_times_dilution(comma):
    assert comma.dilution_factor == 5000.0
    assert comma.settings["dilution"] == 5000.0
    # Σ Concentration / cm-3 of the linear table (measured) × Dilution::.
    assert comma.settings["concentration_measured_per_ml"] == 3_854_500.0
    assert comma.concentration_per_ml == 3_854_500.0 * 5000
    assert comma.replicate_concentrations_per_ml == ()
    assert comma.concentration_sd_per_ml is None


def test_decimal_comma_size_statistics(comma):
    # Traces 10, 30, 40, 15, 5 at 87.5 … 107.5 nm.
    assert comma.mean_nm == pytest.approx(96.25)
    assert comma.mode_nm == 97.5
    assert comma.sd_nm == pytest.approx(4.96865173)
    assert comma.d10_nm == pytest.approx(90.0)
    assert comma.d50_nm == 97.5  # the instrument's own Median Number (D50)
    assert comma.settings["d50_computed_nm"] == pytest.approx(96.25)
    assert comma.d90_nm == pytest.approx(103.3333333)


def test_decimal_comma_distribution(comma):
    dist = comma.distribution
    assert len(dist.bin_centres_nm) == 1200
    # Rebuilt from the index, not the 4-digit printed value (5,998E+3).
    assert dist.bin_centres_nm[0] == 2.5
    assert dist.bin_centres_nm[-1] == 5997.5
    assert dist.dilution_corrected is True
    assert dist.mean[17] == 385_500.0 * 5000
    assert dist.mean[19] == 1_542_000.0 * 5000
    assert sum(dist.mean) == pytest.approx(comma.concentration_per_ml)
    assert dist.replicates == ()
    assert comma.settings["log_table_rows"] == 200
    assert comma.settings["bin_width_nm"] == 5.0


def test_decimal_point_806(point):
    assert point.software_version == "ZetaView 8.06.01 SP1"
    assert point.sample_name == "EXO-000125"
    assert point.measured_at == datetime(2025, 1, 10, 16, 2, 45)
    assert point.dilution_factor == 1000.0
    assert point.concentration_per_ml == 1.6e9
    # "Conductivity: 65.000000<TAB>sensed": a space instead of the tab.
    assert point.settings["conductivity"] == 65.0
    assert point.settings["conductivity_source"] == "sensed"
    assert point.settings["positions"] == 11
    assert point.settings["set_temperature_c"] == 25.0
    assert point.settings["concentration_correction_factor"] == 1.0
    assert point.settings["header"]["TempControl"] == "1"
    # Traces 4, 8, 20, 8 at 52.5 … 67.5 nm.
    assert point.mean_nm == 61.5
    assert point.sd_nm == pytest.approx(19**0.5)
    assert point.mode_nm == 62.5
    assert point.d10_nm == 55.0
    assert point.d50_nm == 62.5
    assert point.settings["d50_computed_nm"] == 62.0
    assert point.d90_nm == 67.5
    assert point.instrument_warnings == ()
    assert "parser_warnings" not in point.settings


def test_empty_measurement_is_a_result_without_data():
    result = parser.parse((DATA_DIR / ZV_EMPTY).read_bytes(), ZV_EMPTY)
    assert result.sample_name == "blank"  # Sample: is empty, so the file name decides
    assert result.settings["number_of_traces"] == 0
    assert result.concentration_per_ml is None
    assert result.distribution is None
    assert (result.mean_nm, result.mode_nm, result.d50_nm) == (None, None, None)
    assert result.settings["parser_warnings"] == [
        "no particles were tracked (empty or failed measurement)"
    ]


def test_missing_dilution_reports_measured_values(comma_bytes):
    data = comma_bytes.replace(b"\tDilution::\t5000,000000", b"")
    result = parser.parse(data)
    assert result.dilution_factor is None
    assert result.settings["dilution"] == "Not recorded"
    assert result.concentration_per_ml == 3_854_500.0
    assert result.distribution.dilution_corrected is False


def test_instrument_checks_become_warnings(comma_bytes):
    data = comma_bytes.replace(b"Cell Check Result:\tVery Good", b"Cell Check Result:\tBad")
    data = data.replace(
        b"Particle Drift Checked:\t1904-01-01", b"Particle Drift Checked:\t2024-03-05"
    )
    assert parser.parse(data).instrument_warnings == (
        "Cell Check Result: Bad",
        "Particle Drift Check Result: too high",
    )


def test_trace_count_mismatch_is_reported(comma_bytes):
    data = comma_bytes.replace(b"Number of Traces:\t100\t", b"Number of Traces:\t120\t")
    assert parser.parse(data).settings["parser_warnings"] == [
        "the size table counts 100 traces, but Number of Traces says 120"
    ]


def test_nul_bytes_in_units_are_ignored(comma_bytes):
    data = comma_bytes.replace(b"Duration \xb5s:", b"Duration \xb5\x00s:")
    assert parser.parse(data).settings["header"]["Camera Trigger Duration µs"] == "Shutter Duration"


# -- errors -------------------------------------------------------------------------------------


def _line_of(data: bytes, prefix: bytes) -> int:
    return next(i for i, line in enumerate(data.split(b"\r\n"), 1) if line.startswith(prefix))


def test_non_numeric_table_value(comma_bytes):
    data = comma_bytes.replace(b"9,750E+1\t4,000E+1\t1,542E+6", b"9,750E+1\t4,000E+1\tlots")
    with pytest.raises(ParseError) as info:
        parser.parse(data)
    assert info.value.line == _line_of(data, b"9,750E+1")
    assert info.value.column == "Concentration / cm-3"
    assert info.value.message == "not a number: 'lots'"


def test_non_numeric_header_value(comma_bytes):
    data = comma_bytes.replace(b"Temperature:\t23,270000", b"Temperature:\twarm")
    with pytest.raises(ParseError) as info:
        parser.parse(data)
    assert info.value.line == _line_of(data, b"Temperature:")
    assert info.value.column == "Temperature"


@pytest.mark.parametrize(
    ("cut_at", "message"),
    [
        (b"\r\nSize Distribution\r\n", "no header row"),
        (b"Image Evaluation:", 'no "Size Distribution" table'),
        (b"5,025E+2\t", "linear size table stops after"),
        (b"5,032E+0\t", "log size table stops after"),
    ],
)
def test_truncated(comma_bytes, cut_at, message):
    end = comma_bytes.index(cut_at) + len(cut_at)
    data = (
        comma_bytes[: comma_bytes.rindex(b"\r\n", 0, end) + 2]
        if b"E+" in cut_at
        else comma_bytes[:end]
    )
    with pytest.raises(ParseError, match=message):
        parser.parse(data)


def test_truncated_mid_row(comma_bytes):
    data = comma_bytes[: comma_bytes.index(b"9,750E+1\t4,000E+1") + 10]
    with pytest.raises(ParseError, match=r"truncated") as info:
        parser.parse(data)
    assert info.value.line == data.count(b"\r\n") + 1


def test_profile_file_is_refused_clearly(comma_bytes):
    data = comma_bytes.replace(
        b"Type of Measurement:\tSize Distribution", b"Type of Measurement:\tProfile"
    )
    with pytest.raises(ParseError, match="only size-distribution exports") as info:
        parser.parse(data)
    assert info.value.column == "Type of Measurement"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\x00\x00\x00", "contains no text"),
        (bytes(range(256)) * 8, "binary"),
        (b"Use\tPosition\tMean Int.\r\n", "not a ZetaView export"),
        (b"NTA Experiment Summary File,\r\n", "not a ZetaView export"),
    ],
)
def test_unreadable(data, message):
    with pytest.raises(ParseError, match=message):
        parser.parse(data)


def test_zero_dilution_is_an_error(comma_bytes):
    data = comma_bytes.replace(b"Dilution::\t5000,000000", b"Dilution::\t0,000000")
    with pytest.raises(ParseError, match="dilution must be positive"):
        parser.parse(data)


def test_non_numeric_optional_setting_is_kept_as_text(comma_bytes):
    data = comma_bytes.replace(b"Sensitivity:\t80,000000", b"Sensitivity:\tAuto")
    assert parser.parse(data).settings["sensitivity"] == "Auto"


def test_truncated_right_after_the_sentinel(comma_bytes):
    end = comma_bytes.index(b"-1,000E+0\t-1,000E+0")
    data = comma_bytes[: comma_bytes.index(b"\r\n", end) + 2]
    with pytest.raises(ParseError, match="log size table stops after 0 of 200"):
        parser.parse(data)
