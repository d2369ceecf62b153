"""Conformance of the qPCR parsers over the real public exports in
../shared/instrument-samples/ (never copied into this repository): every RDML, CFX and
QuantStudio file parses with exact spot checks, each parser claims only its own files, and
no other instrument file makes them raise anything but ParseError. Skips when ../shared is
not beside the repository."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assays.parsers.base import DETECT_BYTES, ParseError
from assays.parsers.cfx import CFXParser
from assays.parsers.quantstudio import QuantStudioParser
from assays.parsers.rdml import RDMLParser
from assays.parsers.results import QPCRResult

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES = SHARED / "instrument-samples"
PARSERS = {"rdml": RDMLParser(), "quantstudio": QuantStudioParser(), "cfx": CFXParser()}
STEPONE = "rdml/PCRuniversum__RDML__stepone_std.rdml"
BIORAD = "rdml/PCRuniversum__RDML__BioRad_qPCR_melt.rdml"
MAESTRO = "qpcr-export/Benchling-Open-Source__allotropy__example01.csv"
VIIA7 = "qpcr-export/Benchling-Open-Source__allotropy__appbio_quantstudio_example01.txt"
OWN = {STEPONE: "rdml", BIORAD: "rdml", MAESTRO: "cfx", VIIA7: "quantstudio"}


def _files() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def _key(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


ALL = _files()
needs_shared = pytest.mark.skipif(
    not ALL, reason=f"real instrument exports not available ({SAMPLES} is absent)"
)


def _real(relative: str) -> QPCRResult:
    path = SAMPLES / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in {SAMPLES}")
    data = path.read_bytes()
    fmt = OWN[relative]
    assert PARSERS[fmt].detect(path.name, data[:DETECT_BYTES])
    return PARSERS[fmt].parse(data, path.name)


@needs_shared
@pytest.mark.parametrize("path", ALL, ids=_key)
def test_each_parser_claims_only_its_own_real_files(path):
    head = path.read_bytes()[:DETECT_BYTES]
    claimed = {fmt for fmt, parser in PARSERS.items() if parser.detect(path.name, head)}
    expected = {OWN[_key(path)]} if _key(path) in OWN else set()
    assert claimed == expected


@needs_shared
@pytest.mark.parametrize("path", [p for p in ALL if _key(p) in OWN], ids=_key)
def test_every_real_qpcr_file_parses(path):
    result = PARSERS[OWN[_key(path)]].parse(path.read_bytes(), path.name)
    assert result.rows
    for row in result.rows:
        assert row.well and (row.cq is None or 0 < row.cq < 60)
        assert row.undetermined is (row.cq is None)


@needs_shared
@pytest.mark.parametrize("path", [p for p in ALL if _key(p) not in OWN], ids=_key)
@pytest.mark.parametrize("fmt", sorted(PARSERS))
def test_other_instrument_files_fail_cleanly(path, fmt):
    with pytest.raises(ParseError) as info:
        PARSERS[fmt].parse(path.read_bytes(), path.name)
    assert "internal error" not in info.value.message


@needs_shared
def test_stepone_rdml_10():
    result = _real(STEPONE)
    assert len(result.rows) == 24
    assert result.software_version == "StepOne™ Software v2.3"
    assert result.instrument == "Applied Biosystems StepOne™ Instrument"
    assert result.measured_at == datetime(2006, 11, 10, 9, 24, 39, 265000)
    assert result.run_name == "Run001"
    assert [r.well for r in result.rows[:9]] == [f"A{i}" for i in range(1, 9)] + ["B1"]
    assert result.rows[-1].well == "C8"
    # NTCs carry the cycle count (40.0) as Cq: undetermined.
    ntc = result.rows[0]
    assert (ntc.sample_name, ntc.task, ntc.cq, ntc.undetermined) == (
        "NTC_RNase P",
        "ntc",
        None,
        True,
    )
    assert ntc.flags == ("cq_at_last_cycle",)
    assert sum(r.undetermined for r in result.rows) == 3
    pop1 = result.rows[3]
    assert (pop1.well, pop1.sample_name, pop1.task, pop1.cq) == (
        "A4",
        "pop1_RNase P",
        "unknown",
        28.96287,
    )
    assert pop1.quantity is None
    std = result.rows[9]
    assert (std.well, std.sample_name, std.task) == ("B2", "STD_RNase P_10000.0", "standard")
    assert (std.cq, std.quantity) == (26.874498, 10000.0)
    assert result.rows[-1].cq == 31.035166 and result.rows[-1].quantity == 625.0
    assert {r.target for r in result.rows} == {"RNase P"}
    assert {r.reporter for r in result.rows} == {"FAM"}
    assert sorted({r.quantity for r in result.rows if r.task == "standard"}) == [
        625.0,
        1250.0,
        2500.0,
        5000.0,
        10000.0,
    ]


@needs_shared
def test_biorad_cfx_rdml_11():
    result = _real(BIORAD)
    assert len(result.rows) == 60
    assert result.run_name == "Amp Step 3_FAM; Amp Step 3_Cy5"
    assert result.description == "All Wells: A1-H12"
    assert result.software_version.startswith("BioRadCFXManager.exe 3.0.1224.1015.")
    assert result.instrument.startswith('Block Type "96FX", Cycler SN: CC009466')
    assert result.measured_at is None  # the file has no runDate
    first = result.rows[0]
    assert (first.well, first.sample_name, first.target, first.task, first.reporter) == (
        "A1",
        "Alm12",
        "EvaGreen",
        "positive",
        "FAM",
    )
    assert first.cq == 27.7514537682101
    by_well = {(r.well, r.target): r for r in result.rows}
    assert by_well[("D1", "EvaGreen")].cq == 10.1244311147873  # react 37
    assert by_well[("H1", "EvaGreen")].cq == 8.12129984743228  # react 85
    assert by_well[("H10", "EvaGreen")].cq == 35.3197402365743  # react 94
    assert by_well[("A8", "EvaGreen")].undetermined  # no <cq>
    assert by_well[("A9", "EvaGreen")].task == "ntc"
    cy5 = [r for r in result.rows if r.reporter == "Cy5"]
    assert len(cy5) == 30 and all(r.undetermined for r in cy5)
    assert sum(r.undetermined for r in result.rows) == 34
    assert result.warnings == ()


@needs_shared
def test_cfx_maestro_csv():
    result = _real(MAESTRO)
    assert len(result.rows) == 48
    first, last = result.rows[0], result.rows[-1]
    assert (first.well, first.reporter, first.sample_name, first.cq) == (
        "A1",
        "FAM",
        "M3905 R Ctx",
        21.1877528266099,
    )
    assert (last.well, last.reporter, last.sample_name, last.cq) == (
        "D6",
        "VIC",
        "M4354 R Ctx",
        20.9102822371808,
    )
    assert [r.reporter for r in result.rows].count("VIC") == 24
    assert {r.task for r in result.rows} == {"unknown"}
    # The Target column is empty: each dye is its own target (FAM, VIC), not one blank one.
    assert all(r.target == r.reporter for r in result.rows)
    assert not any(r.undetermined or r.quantity is not None for r in result.rows)


@needs_shared
def test_viia7_quantstudio_txt():
    result = _real(VIIA7)
    assert len(result.rows) == 16
    assert [r.well for r in result.rows][11:13] == ["A12", "A15"]  # A13/A14 are empty
    assert (result.rows[0].sample_name, result.rows[0].cq) == ("1SAMPLE_1.1", 18.717)
    assert (result.rows[-1].well, result.rows[-1].cq) == ("A18", 18.842)
    assert {(r.target, r.task, r.reporter) for r in result.rows} == {
        ("TARGET_1", "unknown", "SYBR")
    }
    assert result.run_name == "trial 1"
    assert result.description == ""  # "NA"
    assert result.instrument == "ViiA 7, serial INST_1"
    assert result.measured_at == datetime(
        2001, 12, 31, 21, 9, 19, tzinfo=timezone(timedelta(hours=-5))
    )
    assert result.warnings == ()
