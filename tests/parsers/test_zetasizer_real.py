"""The three public Zetasizer exports in ../shared/instrument-samples/zetasizer/ (Zetasizer
software 7.11 and 8.02, from cheminfo/parse-zetasizer; never copied into this repository):
each parses, values are spot-checked against the file, and the distribution arrays equal the
file's own columns. Skips when ../shared is not beside the repository."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest

from assays.parsers.base import DETECT_BYTES
from assays.parsers.results import DLSResult
from assays.parsers.zetasizer import ZetasizerParser

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FOLDER = SHARED / "instrument-samples" / "zetasizer"
SUMMARY = "cheminfo__parse-zetasizer__chc_particleSize.txt"
SIZE = "cheminfo__parse-zetasizer__mxd_particleSize.txt"
ZETA = "cheminfo__parse-zetasizer__mxd_zetaPotential.txt"

pytestmark = pytest.mark.skipif(
    not (FOLDER / SIZE).is_file(), reason=f"real Zetasizer exports not available ({FOLDER})"
)
parser = ZetasizerParser()


def _parse(name: str) -> DLSResult:
    return parser.parse((FOLDER / name).read_bytes(), name)


def _column(name: str, table_line: int, row_line: int, prefix: str) -> list[float]:
    """The numbers under ``prefix[i]`` columns of one row, read straight from the file."""
    lines = (FOLDER / name).read_bytes().decode("latin-1").split("\r\n")
    header, row = lines[table_line - 1].split("\t"), lines[row_line - 1].split("\t")
    return [float(v) for h, v in zip(header, row, strict=True) if h.startswith(prefix + "[")]


@pytest.mark.parametrize("name", [SUMMARY, SIZE, ZETA])
def test_detected_and_parsed(name):
    data = (FOLDER / name).read_bytes()
    assert parser.detect(name, data[:DETECT_BYTES])
    result = parser.parse(data, name)
    assert result.records
    for record in result.records:
        for value in (record.z_average_nm, record.pdi, record.temperature_c):
            assert value is None or math.isfinite(value)


def test_record_summary_merges_its_two_tables():
    result = _parse(SUMMARY)
    assert len(result.records) == 4  # 4 measurements, each in both tables
    assert result.software_version == "7.11"
    assert result.instrument_serial == "MAL1143160"
    first = result.records[0]
    assert first.kind == "size"
    assert first.sample_name == "SD283 - F1, HBG6.4, 0h 1"
    assert first.record_number == 1
    assert first.measured_at == datetime(2026, 3, 6, 14, 50, 12)
    assert first.temperature_c == 25.0
    assert first.dispersant == "Water"
    assert first.z_average_nm == 108.0
    assert first.pdi == 0.112
    assert first.intercept == 0.941
    assert first.count_rate_kcps == 2683.0
    assert first.attenuator == 9
    assert first.peaks == ({"mean_nm": 116.1, "area_pct": None, "width": 32.94, "pd_pct": 28.4},)
    assert first.zeta_potential_mv is None and first.conductivity_ms_cm is None
    assert first.extra["Mean Count Rate (kcps)"] == "297.8"
    assert first.extra["Measured Intercept"] == "0.885"
    assert first.extra["Material Name"] == "Chitosan"
    assert first.extra["Dispersant RI"] == "1.330"
    assert len(first.extra["Correlation Data"]) == 192
    assert first.extra["Correlation Delay Times (µs)"][:3] == ["0.500", "1.00", "1.50"]
    last = result.records[3]
    assert (last.record_number, last.z_average_nm, last.pdi, last.count_rate_kcps) == (
        4,
        108.1,
        0.090,
        2617.8,
    )
    assert last.measured_at == datetime(2026, 3, 6, 14, 55, 18)


def test_record_summary_distributions_match_the_file():
    first = _parse(SUMMARY).records[0]
    assert list(first.sizes_nm) == _column(SUMMARY, 6, 7, "Sizes")
    assert list(first.intensity_pct) == _column(SUMMARY, 6, 7, "Intensities")
    assert list(first.number_pct) == _column(SUMMARY, 6, 7, "Numbers")
    assert list(first.volume_pct) == _column(SUMMARY, 6, 7, "Volumes")
    assert len(first.sizes_nm) == 70
    assert sum(first.intensity_pct) == pytest.approx(100, abs=0.5)


def test_size_template():
    result = _parse(SIZE)
    assert [r.record_number for r in result.records] == [20, 21, 22]
    assert result.software_version == "8.02"
    assert result.instrument_serial == "MAL1086580"
    first = result.records[0]
    assert first.kind == "size"
    assert first.sample_name == "20260916_SiNP_7 1"
    assert first.measured_at == datetime(2026, 2, 25, 16, 2, 6)
    assert first.temperature_c == 25.0
    assert first.attenuator == 7
    assert first.z_average_nm is None  # not in this template
    assert first.sizes_nm[0] == 0.4
    assert first.sizes_nm[67] == 7456.0  # fixed and exponent notation in one row
    assert first.sizes_nm[69] == 10000.0
    assert list(first.sizes_nm) == _column(SIZE, 1, 2, "Sizes")
    assert list(first.intensity_pct) == _column(SIZE, 1, 2, "Intensities")
    assert list(result.records[2].volume_pct) == _column(SIZE, 1, 4, "Volumes")
    assert first.extra["Viscosity (cP)"] == "1.2000"
    assert first.extra["Measurement Status"] == "Complete"
    assert first.extra["Analysis Date"] == "Wednesday, 25 February 2026 16:02:06"
    undersize = first.extra["Undersize By Intensity (Percent)"]
    assert (len(undersize), undersize[-1]) == (70, "100.0")
    assert result.records[2].measured_at == datetime(2026, 2, 25, 16, 5, 30)


def test_zeta_template():
    result = _parse(ZETA)
    (record,) = result.records
    assert record.kind == "zeta"
    assert record.sample_name == "LCD in FB 75/25 1"
    assert record.record_number == 57
    assert record.measured_at == datetime(2026, 2, 27, 16, 8, 39)
    assert record.zeta_potential_mv == -16.8
    assert record.zeta_deviation_mv == 5.71
    assert record.mobility_um_cm_per_v_s == -1.317
    assert record.conductivity_ms_cm == 0.943
    assert record.count_rate_kcps == 22.0
    assert record.attenuator == 11
    assert record.temperature_c == 25.0
    assert len(record.zeta_mv) == len(record.zeta_counts) == 90
    assert (record.zeta_mv[0], record.zeta_mv[75], record.zeta_mv[-1]) == (-147.0, 101.0, 147.0)
    assert list(record.zeta_mv) == _column(ZETA, 1, 2, "Zeta Potentials")
    assert list(record.zeta_counts) == _column(ZETA, 1, 2, "Intensities")
    assert record.sizes_nm == () and record.intensity_pct == ()
    assert record.extra["Zeta Runs"] == "12"
    assert record.extra["Viscosity (cP)"] == "0.8872"
    assert result.software_version == "8.02"
