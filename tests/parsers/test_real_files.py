"""Conformance over every real export in ../shared/instrument-samples/ (public files, never
copied into this repository): NTA and ZetaView files parse with consistent numbers, every
other file is not claimed by either parser and cannot make them raise anything but
ParseError. Skips when ../shared is not beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from assays.parsers import registry
from assays.parsers.base import DETECT_BYTES, ParseError

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES = SHARED / "instrument-samples"
OWN_FORMATS = {"nta-nanosight": "nta_nanosight", "zetaview": "zetaview"}


def _files() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


ALL = _files()
OWN = {fmt: [p for p in ALL if p.parent.name == folder] for folder, fmt in OWN_FORMATS.items()}
needs_shared = pytest.mark.skipif(
    not ALL, reason=f"real instrument exports not available ({SAMPLES} is absent)"
)


def _parse(path: Path):
    data = path.read_bytes()
    key = registry.detect_format(path.name, data[:DETECT_BYTES])
    return key, registry.get_parser(key).parse(data, path.name) if key else None


# Every real export in ../shared and the format it must be detected as (by folder, or by file
# where a folder holds several vendors' exports).
EXPECTED_FORMAT = {
    "nta-nanosight": "nta_nanosight",
    "zetaview": "zetaview",
    "fcs": "fcs",
    "zetasizer": "zetasizer",
    "rdml": "rdml",
    "Benchling-Open-Source__allotropy__example01.csv": "cfx",
    "Benchling-Open-Source__allotropy__appbio_quantstudio_example01.txt": "quantstudio",
    "Benchling-Open-Source__allotropy__Lowry_Protein_Assay_no_results_matrix.txt": "gen5",
    "Benchling-Open-Source__allotropy__endpoint_stdcurve_singleplate.txt": "gen5",
    "Benchling-Open-Source__allotropy__MD_SMP_absorbance_endpoint_example01.txt": "softmax_pro",
    "Benchling-Open-Source__allotropy__skanit_data.xlsx": "skanit",
    # Its first 4096 bytes name nothing Magellan (shared strings): the catch-all claims it and
    # reads it with the Magellan reader once it sees the whole workbook.
    "Benchling-Open-Source__allotropy__SLA01P01_OD.xlsx": "plate_generic",
}


@needs_shared
@pytest.mark.parametrize("path", ALL, ids=_id)
def test_every_real_file_is_detected_as_its_format(path):
    expected = EXPECTED_FORMAT.get(path.name) or EXPECTED_FORMAT.get(path.parent.name)
    assert expected, f"add {path.name} to EXPECTED_FORMAT"
    assert registry.detect_format(path.name, path.read_bytes()[:DETECT_BYTES]) == expected


@needs_shared
@pytest.mark.parametrize("path", ALL, ids=_id)
def test_every_real_file_parses_with_its_parser(path):
    _key, result = _parse(path)
    assert result is not None, f"{path.name}: not recognised"


@needs_shared
@pytest.mark.parametrize("path", [p for p in ALL if p.parent.name not in OWN_FORMATS], ids=_id)
@pytest.mark.parametrize("key", ["nta_nanosight", "zetaview"])
def test_other_formats_fail_cleanly(path, key):
    with pytest.raises(ParseError) as info:
        registry.get_parser(key).parse(path.read_bytes(), path.name)
    assert "internal error" not in info.value.message


def _nta_files() -> list[Path]:
    return OWN["nta_nanosight"]


@needs_shared
@pytest.mark.parametrize("path", _nta_files(), ids=_id)
def test_real_nta_files_parse_consistently(path):
    key, result = _parse(path)
    assert key == "nta_nanosight"
    n = result.settings["video_count"]
    assert n == len(result.settings["videos"]) == len(result.replicate_concentrations_per_ml)
    assert result.software_version.startswith("NTA 3.")
    assert result.concentration_per_ml > 0
    assert result.distribution is not None
    assert len(result.distribution.bin_centres_nm) == 1000
    assert len(result.distribution.replicates) == n
    # Bin sums agree with [Results] (checked by the parser; no warnings means it held).
    assert "parser_warnings" not in result.settings
    for value in (result.mean_nm, result.mode_nm, result.d10_nm, result.d50_nm, result.d90_nm):
        assert 10 < value < 1000
    assert result.d10_nm <= result.d50_nm <= result.d90_nm
    assert result.settings["temperature_c"] > 15


@needs_shared
def test_tidynano_beads_nta32_spreadsheet_resave():
    path = SAMPLES / "nta-nanosight" / "nguyens7__tidyNano__beads.csv"
    if not path.exists():
        pytest.skip(f"{path.name} is not in {SAMPLES}")
    _, result = _parse(path)
    assert result.software_version == "NTA 3.2 Dev Build 3.2.16"  # "Software Version,Unknown"
    assert result.settings["video_count"] == 12
    assert result.concentration_per_ml == 1.47e9
    assert result.replicate_concentrations_per_ml[0] == 1.43e9
    assert result.settings["concentration_se_per_ml"] == 1.07e8
    assert result.dilution_factor is None
    assert result.settings["dilution"] == "Not recorded"
    assert (result.mean_nm, result.mode_nm, result.d50_nm) == (100.5, 95.3, 96.4)
    assert result.settings["camera_level"] == [15, 15, 15, 10, 10, 10, 15, 15, 15, 10, 10, 10]
    assert result.settings["detection_threshold"] == 8
    assert result.settings["frames_analysed"] == 749
    assert result.sample_name == "std_combined"
    assert result.measured_at is None


@needs_shared
def test_tidynano_beads2_nta34_dilution_recorded():
    path = SAMPLES / "nta-nanosight" / "nguyens7__tidyNano__beads2.csv"
    if not path.exists():
        pytest.skip(f"{path.name} is not in {SAMPLES}")
    _, result = _parse(path)
    assert result.software_version == "NTA 3.4 Build 3.4.003"
    # 1.00e+04 recorded and already applied by NTA: 6.09e12 is reported, not 6.09e16.
    assert result.dilution_factor == 1e4
    assert result.settings["dilution_already_applied"] is True
    assert result.concentration_per_ml == 6.09e12
    assert result.replicate_concentrations_per_ml == (5.91e12, 6.05e12, 6.01e12, 6.25e12, 6.24e12)
    assert result.distribution.dilution_corrected is True
    assert (result.d10_nm, result.d50_nm, result.d90_nm) == (88.7, 99.8, 115.3)
    assert result.description == "100nmbeads"
    assert str(result.measured_at) == "2020-06-16 11:52:04"
    assert result.instrument_warnings == (
        "Vibration detected: Moderate vibration (videos 1, 3 of 5)",
        "Vibration detected: Minor vibration (videos 2, 4, 5 of 5)",
    )


def test_zetaview_real_files():
    files = OWN["zetaview"]
    if not files:
        pytest.skip(
            "no real ZetaView export in ../shared/instrument-samples/zetaview (none has a"
            " licence that allows a copy); the synthetic files cover the verified layout"
        )
    for path in files:
        key, result = _parse(path)
        assert key == "zetaview"
        assert result.software_version.startswith("ZetaView 8.")
        if result.settings.get("number_of_traces"):
            assert result.concentration_per_ml > 0
            assert "parser_warnings" not in result.settings
