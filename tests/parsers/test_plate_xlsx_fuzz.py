"""Property-based fuzzing of the plate spreadsheet parsers (SkanIt, Magellan, generic): damaged
bytes, workbooks with mutated cells, mutated text tables and random heads give a result or a
ParseError (never its "internal error" net), and every result keeps the PlateResult rules."""

from __future__ import annotations

import io
import math
import zipfile

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from assays.parsers.base import DETECT_BYTES, ParseError
from assays.parsers.magellan import MagellanParser
from assays.parsers.plate_generic import ROW_LETTERS, GenericPlateParser
from assays.parsers.results import PlateResult
from assays.parsers.skanit import SkanItParser

from .mutations import mutated
from .test_magellan import magellan_workbook
from .test_plate_generic import DATA, GRID_CSV, WELL_LIST
from .test_skanit import skanit_workbook

PARSERS = {"skanit": SkanItParser(), "magellan": MagellanParser(), "plate": GenericPlateParser()}
ROLES = {"standard", "blank", "sample", "control"}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Writing a workbook per example is slow; every example runs all three parsers on it.
FUZZ_WORKBOOKS = settings(FUZZ, max_examples=40)


def _small_skanit() -> bytes:
    return skanit_workbook(blank_subtracted=False, standard_curve=False)


GOLDEN_XLSX = [_small_skanit(), magellan_workbook()]
GOLDEN_TEXT = [(DATA / GRID_CSV).read_bytes(), (DATA / WELL_LIST).read_bytes()]


def _rows_of(data: bytes) -> list[tuple[str, list[list[object]]]]:
    wb = load_workbook(io.BytesIO(data))
    sheets = [
        (ws.title, [list(row) for row in ws.iter_rows(values_only=True)]) for ws in wb.worksheets
    ]
    wb.close()
    return sheets


GOLDEN_CELLS = [_rows_of(data) for data in GOLDEN_XLSX]


def _check_result(result: PlateResult) -> None:
    assert isinstance(result, PlateResult)
    assert result.reads
    for read in result.reads:
        assert (read.rows, read.columns) in {(8, 12), (16, 24)}
        for well, value in read.values.items():
            assert well[0] in ROW_LETTERS[: read.rows]
            assert 1 <= int(well[1:]) <= read.columns and not well[1:].startswith("0")
            assert value is None or (isinstance(value, float) and math.isfinite(value))
        assert read.wavelength_nm is None or math.isfinite(read.wavelength_nm)
    for well, entry in result.layout.items():
        assert well[0] in ROW_LETTERS and entry["role"] in ROLES
        assert entry["concentration"] is None or math.isfinite(entry["concentration"])
        assert "dilution" not in entry or (
            math.isfinite(entry["dilution"]) and entry["dilution"] >= 1
        )
    assert all(isinstance(w, str) and w for w in result.warnings)


def _check(key: str, data: bytes, name: str) -> str:
    try:
        result = PARSERS[key].parse(data, name)
    except ParseError as exc:
        assert exc.message
        assert "internal error" not in exc.message, exc.message
        assert exc.line is None or exc.line >= 1
        return "ParseError"
    _check_result(result)
    return "result"


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(key, data):
    _check(key, data, "fuzz.xlsx")
    _check(key, b"PK\x03\x04" + data, "fuzz.xlsx")


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_damaged_workbook_bytes(key, data):
    raw = bytearray(data.draw(st.sampled_from(GOLDEN_XLSX)))
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del raw[pos : pos + data.draw(st.integers(1, 64))]
        else:
            del raw[max(pos, 4) :]
    _check(key, bytes(raw), "fuzz.xlsx")


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


GOLDEN_MEMBERS = [_members(data) for data in GOLDEN_XLSX]


@FUZZ_WORKBOOKS
@given(data=st.data())
def test_damaged_xml_inside_a_sound_zip(data):
    # The ZIP and its checksums are fine; the XML openpyxl reads is not.
    members = list(data.draw(st.sampled_from(GOLDEN_MEMBERS)))
    index = data.draw(st.integers(0, len(members) - 1))
    name, content = members[index]
    text = bytearray(content)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, max(0, len(text) - 1)))
        kind = data.draw(st.sampled_from(["flip", "splice", "delete"]))
        if kind == "flip" and text:
            text[pos] = data.draw(st.integers(0, 255))
        elif kind == "splice":
            text[pos:pos] = data.draw(
                st.sampled_from(
                    [
                        b"<",
                        b">",
                        b'"',
                        b"&amp;",
                        b"&#0;",
                        b'<c r="XFD1048576"><v>1</v></c>',
                        b'<row r="0">',
                        b"</row>",
                        b"<v>1e999</v>",
                        b't="s"',
                        b't="e"',
                        b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
                    ]
                )
            )
        else:
            del text[pos : pos + data.draw(st.integers(1, 32))]
    members[index] = (name, bytes(text))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, body in members:
            archive.writestr(member, body)
    for key in PARSERS:
        _check(key, buffer.getvalue(), "fuzz.xlsx")


_WORDS = [
    "Abs",
    "RFU",
    "Sample",
    "Blank subtracted",
    "Measurement results",
    "Wavelength: 450 nm",
    "Wavelength: 0 nm",
    "Plate 1",
    "Std0001",
    "Blank1",
    "Un0001",
    "1:25",
    "1:0",
    "0 microg/ml",
    "1e308 mg/ml",
    "Group 1",
    "OVRFLW",
    "NaN",
    "A",
    "H",
    "P",
    "A1",
    "P24",
    "Q1",
    "A99",
    "Well positions",
    "Raw data",
    "Raw data (562 nm)",
    "Well",
    "Value",
    "Conc. [microg/ml]",
    "Dilution factor",
    "Name",
    "Date of measurement: 2021-02-30/Time of measurement: 25:61:00",
    "Execution time",
    "6/5/2023 6:09:56 PM",
    "Measurement wavelength: 99999 nm",
    "Plate definition file: GRE384.pdf",
    "Serial number",
]
_CELLS = st.one_of(
    st.none(),
    st.integers(-5, 30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(_WORDS),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
)


def _workbook(sheets: list[tuple[str, list[list[object]]]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@FUZZ_WORKBOOKS
@given(data=st.data())
def test_workbooks_with_mutated_cells(data):
    sheets = [
        (title, [list(r) for r in rows]) for title, rows in data.draw(st.sampled_from(GOLDEN_CELLS))
    ]
    for _ in range(data.draw(st.integers(1, 12))):
        _title, rows = sheets[data.draw(st.integers(0, len(sheets) - 1))]
        if not rows:
            continue
        r = data.draw(st.integers(0, len(rows) - 1))
        kind = data.draw(st.sampled_from(["cell", "cell", "cell", "drop", "copy", "wipe"]))
        if kind == "cell":
            c = data.draw(st.integers(0, 14))
            rows[r] = rows[r] + [None] * max(0, c + 1 - len(rows[r]))
            rows[r][c] = data.draw(_CELLS)
        elif kind == "drop":
            del rows[r]
        elif kind == "copy":
            rows.insert(data.draw(st.integers(0, len(rows))), list(rows[r]))
        else:
            rows[r] = []
    workbook = _workbook(sheets)
    outcomes = {key: _check(key, workbook, "fuzz.xlsx") for key in PARSERS}
    event(f"skanit: {outcomes['skanit']}, magellan: {outcomes['magellan']}")


# Fragments that mean something to plate text tables, spliced into good ones.
TEXT_SPLICES = [
    b";",
    b",",
    b"\t",
    b'"',
    b"\r\n",
    b"\x00",
    b"1e999",
    b"1,000,000",
    b"A1",
    b"Z9",
    b"\nWell,Value\n",
    b";1;2;3;4;5;6;7;8;9;10;11;12\n",
    b"\xff\xfe",
    b"\xb5",
    b"1:0",
    b"99999 nm",
]


@FUZZ
@given(data=mutated(GOLDEN_TEXT, TEXT_SPLICES))
def test_mutated_text_tables(data):
    for key in PARSERS:
        _check(key, data, "fuzz.csv")


@FUZZ
@given(text=st.text(max_size=1500), delimiter=st.sampled_from([",", ";", "\t"]))
def test_random_text_behind_a_grid_header(text, delimiter):
    header = delimiter.join(["", *(str(c) for c in range(1, 13))]) + "\n"
    _check("plate", (header + "A" + delimiter + text).encode("utf-8"), "fuzz.csv")
    _check("plate", ("Well" + delimiter + "Value\n" + text).encode("utf-8"), "fuzz.csv")


@FUZZ
@given(head=st.binary(max_size=DETECT_BYTES + 16), name=st.text(max_size=40))
def test_detection_never_raises(head, name):
    for parser in PARSERS.values():
        assert parser.detect(name, head[:DETECT_BYTES]) in (True, False)
    assert PARSERS["plate"].detect(name + ".xlsx", b"PK\x03\x04" + head) in (True, False)
