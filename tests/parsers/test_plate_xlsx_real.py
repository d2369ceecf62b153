"""The real SkanIt and Magellan workbooks in ../shared/instrument-samples/plate-reader/ (public
allotropy test files, never copied here) parse with exact values; no other real export is
claimed by the plate spreadsheet parsers or makes them fail uncleanly. Skips when ../shared
is not beside the repository."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from assays.parsers.base import DETECT_BYTES, ParseError
from assays.parsers.magellan import MagellanParser
from assays.parsers.plate_generic import GenericPlateParser, identify_workbook
from assays.parsers.results import PlateResult
from assays.parsers.skanit import SkanItParser

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES = SHARED / "instrument-samples"
PLATES = SAMPLES / "plate-reader"
SKANIT = PLATES / "Benchling-Open-Source__allotropy__skanit_data.xlsx"
MAGELLAN = PLATES / "Benchling-Open-Source__allotropy__SLA01P01_OD.xlsx"
OURS = {SKANIT.name, MAGELLAN.name}
PARSERS = {"skanit": SkanItParser(), "magellan": MagellanParser(), "plate": GenericPlateParser()}


def _needs(path: Path):
    return pytest.mark.skipif(not path.is_file(), reason=f"{path} is absent")


def _others() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(
        p
        for p in SAMPLES.rglob("*")
        if p.is_file() and p.name != "SOURCES.md" and p.name not in OURS
    )


@_needs(SKANIT)
def test_skanit_varioskan_lux_export():
    data = SKANIT.read_bytes()
    assert SkanItParser().detect(SKANIT.name, data[:DETECT_BYTES])
    result = SkanItParser().parse(data, SKANIT.name)
    (read,) = result.reads  # the Abs sheet; blank-subtracted and curve sheets are not reads
    assert read.values["A1"] == 1.7455
    assert read.values["D4"] == 0.9411
    assert read.values["H1"] == 0.0905
    assert read.values["H12"] == 0.1032
    assert len(read.values) == 96 and None not in read.values.values()
    assert (read.rows, read.columns) == (8, 12)
    assert read.plate_name == "Plate 1"
    assert read.wavelength_nm == 450.0
    assert read.read_type == "absorbance"
    assert read.reduced is False
    assert result.software_version == (
        "SkanIt Software 7.0 RE for Microplate Readers RE, ver. 7.0.0.50"
    )
    assert result.instrument_serial == "3020-81776"
    assert result.measured_at == datetime(2023, 6, 5, 18, 9, 56)
    assert result.description == (
        "5. APOE potency MOA_EB_20230522_003\nAPOE ELISA kit ABCAM Ab108813"
    )
    assert result.warnings == ()


@_needs(SKANIT)
def test_skanit_layout():
    layout = SkanItParser().parse(SKANIT.read_bytes(), SKANIT.name).layout
    assert len(layout) == 96
    assert layout["A1"] == {
        "role": "standard",
        "name": "Std0001",
        "group": "Group 1",
        "concentration": 1.0,
    }
    assert layout["G2"]["concentration"] == 0.016
    assert layout["H2"] == {
        "role": "blank",
        "name": "Blank1",
        "group": "Group 1",
        "concentration": None,
    }
    assert layout["D3"] == {
        "role": "sample",
        "name": "Un0023",
        "group": "Group 1",
        "concentration": None,
        "dilution": 250.0,
    }
    assert layout["H12"]["dilution"] == 1000.0
    roles = [entry["role"] for entry in layout.values()]
    assert (roles.count("standard"), roles.count("blank"), roles.count("sample")) == (14, 2, 80)


@_needs(MAGELLAN)
def test_magellan_export():
    data = MAGELLAN.read_bytes()
    result = MagellanParser().parse(data, MAGELLAN.name)
    (read,) = result.reads
    assert read.values["A1"] == 0.1462
    assert read.values["B1"] == 0.2118
    assert read.values["A11"] == 0.0462
    assert read.values["H12"] == 0.0461
    assert list(read.values)[:2] == ["A1", "B1"]
    assert len(read.values) == 96 and None not in read.values.values()
    assert read.plate_name == "96WEL008"
    assert read.wavelength_nm == 595.0
    assert read.read_type == "absorbance"
    assert result.instrument_serial == "12901000069"
    assert result.measured_at == datetime(2021, 7, 6, 9, 43, 7)
    assert result.warnings == ()


@_needs(MAGELLAN)
def test_magellan_head_shows_nothing_so_the_generic_parser_reads_it():
    # Shared strings: the first 4096 bytes hold no Magellan text at all (documented limit).
    data = MAGELLAN.read_bytes()
    head = data[:DETECT_BYTES]
    assert not MagellanParser().detect(MAGELLAN.name, head)
    assert not SkanItParser().detect(MAGELLAN.name, head)
    assert GenericPlateParser().detect(MAGELLAN.name, head)
    generic = GenericPlateParser().parse(data, MAGELLAN.name)
    assert generic.reads == MagellanParser().parse(data, MAGELLAN.name).reads
    assert generic.warnings == ("read as a Tecan Magellan export",)
    # With the whole file in hand the vendor is known.
    assert identify_workbook(data) == "magellan"


@_needs(SKANIT)
def test_skanit_through_the_generic_parser():
    data = SKANIT.read_bytes()
    generic = GenericPlateParser().parse(data, SKANIT.name)
    assert generic.reads == SkanItParser().parse(data, SKANIT.name).reads
    assert identify_workbook(data) == "skanit"
    assert not MagellanParser().detect(SKANIT.name, data[:DETECT_BYTES])


@pytest.mark.parametrize("path", _others(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_other_real_exports_are_not_claimed(path):
    head = path.read_bytes()[:DETECT_BYTES]
    assert [key for key, parser in PARSERS.items() if parser.detect(path.name, head)] == []


@pytest.mark.parametrize("path", _others(), ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("key", sorted(PARSERS))
def test_other_real_exports_fail_cleanly(path, key):
    try:
        result = PARSERS[key].parse(path.read_bytes(), path.name)
    except ParseError as exc:
        assert "internal error" not in exc.message
    else:
        # Only the catch-all may read grids out of another vendor's text export.
        assert key == "plate"
        assert isinstance(result, PlateResult) and result.reads
