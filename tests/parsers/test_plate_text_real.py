"""The SoftMax Pro and Gen5 parsers on the real exports in ../shared/instrument-samples/ (public
files, never copied into this repository). Every plate-reader .txt is recognised by exactly one
of them and parses; well values are compared with the file's own text, read here independently;
every other real file is refused by both. Skips when ../shared is not beside the repository."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest

from assays.parsers.base import DETECT_BYTES, ParseError
from assays.parsers.gen5 import Gen5Parser
from assays.parsers.softmax import SoftMaxParser

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES = SHARED / "instrument-samples"
PLATES = SAMPLES / "plate-reader"
SOFTMAX_FILE = PLATES / "Benchling-Open-Source__allotropy__MD_SMP_absorbance_endpoint_example01.txt"
BCA_FILE = PLATES / "Benchling-Open-Source__allotropy__endpoint_stdcurve_singleplate.txt"
LOWRY_FILE = PLATES / "Benchling-Open-Source__allotropy__Lowry_Protein_Assay_no_results_matrix.txt"
PARSERS = {"softmax_pro": SoftMaxParser(), "gen5": Gen5Parser()}


def _files(pattern: str) -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.rglob(pattern) if p.is_file() and p.name != "SOURCES.md")


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


PLATE_TXT = [p for p in _files("*.txt") if p.parent.name == "plate-reader"]
OTHERS = [p for p in _files("*") if p not in PLATE_TXT]
needs_shared = pytest.mark.skipif(
    not PLATE_TXT, reason=f"real plate-reader exports not available ({PLATES} is absent)"
)


def _require(path: Path) -> bytes:
    if not path.exists():
        pytest.skip(f"{path.name} is not in {path.parent}")
    return path.read_bytes()


def _detected(path: Path) -> list[str]:
    head = path.read_bytes()[:DETECT_BYTES]
    return [key for key, parser in PARSERS.items() if parser.detect(path.name, head)]


@needs_shared
@pytest.mark.parametrize("path", PLATE_TXT, ids=_id)
def test_every_plate_text_export_is_claimed_once_and_parses(path):
    keys = _detected(path)
    assert len(keys) == 1, keys
    result = PARSERS[keys[0]].parse(path.read_bytes(), path.name)
    assert result.reads
    for read in result.reads:
        assert len(read.values) == read.rows * read.columns
        assert all(v is None or math.isfinite(v) for v in read.values.values())
        assert read.read_type == "absorbance" and not read.reduced
    other = "gen5" if keys[0] == "softmax_pro" else "softmax_pro"
    with pytest.raises(ParseError):
        PARSERS[other].parse(path.read_bytes(), path.name)


@needs_shared
@pytest.mark.parametrize("path", OTHERS, ids=_id)
def test_other_real_files_are_refused(path):
    assert _detected(path) == []
    for parser in PARSERS.values():
        with pytest.raises(ParseError) as info:
            parser.parse(path.read_bytes(), path.name)
        assert "internal error" not in info.value.message


# --- SoftMax Pro (UTF-16LE, 2 plates, Standards + UnknownsNoDiln groups) ----------------------


def _softmax_raw_matrices(text: str) -> dict[str, dict[str, float]]:
    """Plate name -> well -> value, straight from the first matrix after each Plate: line."""
    lines = text.splitlines()
    plates: dict[str, dict[str, float]] = {}
    for i, line in enumerate(lines):
        cells = line.split("\t")
        if cells[0] != "Plate:":
            continue
        plates[cells[1]] = {
            f"{'ABCDEFGH'[r]}{c}": float(lines[i + 2 + r].split("\t")[1 + c])
            for r in range(8)
            for c in range(1, 13)
        }
    return plates


@needs_shared
def test_softmax_values_match_the_file_exactly():
    data = _require(SOFTMAX_FILE)
    result = SoftMaxParser().parse(data, SOFTMAX_FILE.name)
    expected = _softmax_raw_matrices(data.decode("utf-16"))
    assert [(r.plate_name, r.wavelength_nm) for r in result.reads] == [
        ("Plate01", 450.0),
        ("Plate02", 450.0),
    ]
    for read in result.reads:
        assert read.values == expected[read.plate_name]
    plate1, plate2 = result.reads[0].values, result.reads[1].values
    assert plate1["A1"] == 3.41797666666667
    assert plate1["H1"] == 7.66666666666667e-05
    assert plate1["H2"] == -0.000243333333333333
    assert plate2["A1"] == 3.43082333333333
    # The raw value, not the longer reduced one below it (1.7901879613333334).
    assert plate2["H12"] == 1.79018796133333


@needs_shared
def test_softmax_groups_give_the_layout():
    result = SoftMaxParser().parse(_require(SOFTMAX_FILE), SOFTMAX_FILE.name)
    layout = result.layout
    # "Standard Value ng/mL" 320.000 → 0.32 µg/mL.
    assert layout["A1"] == {
        "role": "standard",
        "concentration": 0.32,
        "name": "01",
        "group": "Standards",
    }
    assert layout["B3"]["concentration"] == 0.16
    assert layout["G3"]["concentration"] == 0.005
    assert layout["A4"] == {
        "role": "sample",
        "concentration": None,
        "name": "01",
        "group": "UnknownsNoDiln",
    }
    assert layout["H12"]["name"] == "24"
    assert layout["A10"]["name"] == "17"
    assert "H1" not in layout
    assert len(layout) == 7 * 3 + 24 * 3
    assert result.warnings == ('group "Standards": concentrations converted from ng/mL to µg/mL',)
    assert result.description.startswith("231127_mockELISA_7point_24samples")
    assert result.measured_at is None


# --- Gen5 mock BCA (Results block: raw, blank-subtracted, concentration) ----------------------


def _gen5_rows(text: str, label: str) -> dict[str, str]:
    """Well -> cell text for the lines whose column-14 label is ``label``."""
    out: dict[str, str] = {}
    row = ""
    for line in text.splitlines():
        cells = line.split("\t")
        if len(cells) != 14 or cells[13] != label:
            continue
        row = cells[0] or row
        for c in range(1, 13):
            out[f"{row}{c}"] = cells[c]
    return out


@needs_shared
def test_gen5_bca_values_match_the_file_exactly():
    data = _require(BCA_FILE)
    result = Gen5Parser().parse(data, BCA_FILE.name)
    raw = _gen5_rows(data.decode("ascii"), "630nmAbsRead:630")
    assert len(raw) == 96
    assert len(result.reads) == 1
    read = result.reads[0]
    assert (read.plate_name, read.wavelength_nm, read.rows, read.columns) == ("Plate 1", 630, 8, 12)
    assert read.values == {well: float(text) for well, text in raw.items()}
    assert read.values["A1"] == 3.337
    assert read.values["E7"] == 2.744
    assert read.values["H1"] == 0.001  # the blank-subtracted set has -0.000 here
    assert read.values["H12"] == 0.194


@needs_shared
def test_gen5_bca_header_and_layout():
    result = Gen5Parser().parse(_require(BCA_FILE), BCA_FILE.name)
    assert result.measured_at == datetime(2022, 10, 10, 21, 0, 4)
    assert result.software_version == "Gen5 3.12.08"
    assert result.instrument_serial == ""  # "n/a"
    assert result.description == "2022_10_10_mockBCA_defaultExport_singlePlate.xpt"
    layout = result.layout
    assert layout["A1"] == {"role": "standard", "concentration": 2000.0, "name": "STD1"}
    assert layout["B2"]["concentration"] == 666.67
    assert layout["G3"]["concentration"] == 2.7435
    assert layout["H1"] == {"role": "blank", "concentration": None, "name": "BLK"}
    # SPL1:2 is sample 1 at Gen5 dilution 0.5, i.e. a factor of 2.
    assert layout["B4"] == {
        "role": "sample",
        "concentration": None,
        "name": "SPL1",
        "dilution": 2.0,
    }
    assert layout["H12"]["dilution"] == 8.0
    assert len(layout) == 96
    assert len(result.warnings) == 1 and "unit" in result.warnings[0]


# --- Gen5 Lowry (separate 660 and Conc blocks, masked well) ------------------------------------


@needs_shared
def test_gen5_lowry_raw_read_without_results_matrix():
    data = _require(LOWRY_FILE)
    result = Gen5Parser().parse(data, LOWRY_FILE.name)
    assert len(result.reads) == 1
    read = result.reads[0]
    assert read.wavelength_nm == 660.0
    raw = _gen5_rows(data.decode("ascii"), "660")
    expected = {well: float(text) for well, text in raw.items() if text != "*0.356*"}
    assert read.values == {**expected, "H3": None}
    assert read.values["A1"] == 0.044
    assert read.values["G5"] == 0.095
    assert read.values["H12"] == 0.526
    assert "Plate 1, 660: no value for 1 well masked in Gen5 as *0.356* (H3)" in result.warnings
    assert result.measured_at == datetime(2006, 2, 8, 5, 27, 40)


@needs_shared
def test_gen5_lowry_layout():
    result = Gen5Parser().parse(_require(LOWRY_FILE), LOWRY_FILE.name)
    layout = result.layout
    assert layout["A1"] == {"role": "standard", "concentration": 0.0, "name": "STD1"}
    assert layout["B6"] == {"role": "standard", "concentration": 200.0, "name": "STD6"}
    assert layout["A7"] == {"role": "sample", "concentration": None, "name": "SPL1"}
    assert layout["H12"]["name"] == "SPL42"
    assert len(layout) == 96
