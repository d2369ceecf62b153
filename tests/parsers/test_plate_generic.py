"""The catch-all plate parser: A1…H12 grids and Well/Value lists in CSV, TSV and XLSX, and its
conservative detection. Fixtures: two small files under tests/data/instruments/plate_generic/
(written for these tests) and texts/workbooks built here."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from assays.parsers.base import DETECT_BYTES, ParseError
from assays.parsers.plate_generic import (
    GenericPlateParser,
    concentration_in_ug_per_ml,
    identify_workbook,
    parse_timestamp,
    role_from_name,
    wavelength_in,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "instruments" / "plate_generic"
GRID_CSV = "bca_grid_semicolon_comma.csv"
WELL_LIST = "well_list.tsv"
LETTERS = "ABCDEFGHIJKLMNOP"
PARSER = GenericPlateParser()


def value(row: int, column: int, base: float = 0.05) -> float:
    """The reading the fixture files hold for plate row index ``row`` and column."""
    return round(base + 0.1 * row + 0.01 * column, 4)


def grid_lines(
    cell, *, rows: int = 8, columns: int = 12, delimiter: str = ",", corner: str = ""
) -> list[str]:
    lines = [delimiter.join([corner, *(str(c) for c in range(1, columns + 1))])]
    for r in range(rows):
        lines.append(
            delimiter.join([LETTERS[r], *(str(cell(r, c)) for c in range(1, columns + 1))])
        )
    return lines


def parse_text(text: str, encoding: str = "utf-8"):
    return PARSER.parse(text.encode(encoding), "plate.csv")


def detect_text(text: str, name: str = "plate.csv", encoding: str = "utf-8") -> bool:
    return PARSER.detect(name, text.encode(encoding)[:DETECT_BYTES])


# --- Files ------------------------------------------------------------------------------------


def test_semicolon_grid_with_decimal_commas_two_wavelengths_and_a_plate_map():
    data = (DATA / GRID_CSV).read_bytes()
    assert PARSER.detect(GRID_CSV, data[:DETECT_BYTES])
    result = PARSER.parse(data, GRID_CSV)
    first, second = result.reads
    assert first.values == {f"{LETTERS[r]}{c}": value(r, c) for r in range(8) for c in range(1, 13)}
    assert first.wavelength_nm == 562.0
    assert second.wavelength_nm == 620.0
    assert second.values["A1"] == 0.002
    assert second.values["H12"] == 0.083
    assert (first.rows, first.columns) == (8, 12)
    assert first.read_type == ""  # the file does not say; nothing is guessed
    assert first.plate_name == ""
    assert result.layout["A1"] == {"role": "standard", "concentration": None, "name": "STD1"}
    assert result.layout["H2"] == {"role": "blank", "concentration": None, "name": "Blank"}
    assert result.layout["H12"] == {"role": "sample", "concentration": None, "name": "S40"}
    assert len(result.layout) == 96
    assert result.warnings == ()


def test_well_list_with_wavelength_sample_role_concentration_and_dilution():
    data = (DATA / WELL_LIST).read_bytes()
    assert PARSER.detect(WELL_LIST, data[:DETECT_BYTES])
    result = PARSER.parse(data, WELL_LIST)
    first, second = result.reads
    assert (first.wavelength_nm, second.wavelength_nm) == (562.0, 620.0)
    assert first.values["A1"] == value(0, 1)
    assert first.values["H12"] == value(7, 12)
    assert second.values["C1"] == value(2, 1, 0.01)
    assert len(first.values) == len(second.values) == 96
    assert first.read_type == ""
    assert result.layout["A1"] == {
        "name": "BSA 2.0",
        "role": "standard",
        "concentration": 2000.0,  # mg/mL → µg/mL
    }
    assert result.layout["G2"]["concentration"] == 125.0
    assert result.layout["H1"] == {"name": "Buffer", "role": "blank", "concentration": None}
    assert result.layout["B3"] == {
        "name": "EXO-000002",
        "role": "sample",
        "concentration": None,
        "dilution": 10.0,
    }
    assert len(result.layout) == 96


# --- Grids ------------------------------------------------------------------------------------


def test_comma_grid_with_title_plate_and_corner_read_type():
    lines = ["Plate 2", "BCA 562 nm", *grid_lines(lambda r, c: value(r, c), corner="Abs")]
    assert detect_text("\r\n".join(lines))
    (read,) = parse_text("\r\n".join(lines)).reads
    assert read.plate_name == "Plate 2"
    assert read.wavelength_nm == 562.0
    assert read.read_type == "absorbance"
    assert read.values["D7"] == value(3, 7)


def test_lone_number_title_is_a_wavelength_and_grids_carry_the_plate():
    text = "\n".join(
        [
            "Plate A",
            "660",
            *grid_lines(lambda r, c: 0.5),
            "",
            "Wavelength=750",
            *grid_lines(lambda r, c: 0.25),
        ]
    )
    first, second = parse_text(text).reads
    assert (first.wavelength_nm, second.wavelength_nm) == (660.0, 750.0)
    assert first.plate_name == second.plate_name == "Plate A"


def test_384_well_grid_in_utf16_tab_text():
    lines = grid_lines(lambda r, c: r * 100 + c, rows=16, columns=24, delimiter="\t")
    text = "\r\n".join(["Read 1: 450nm", *lines])
    assert detect_text(text, encoding="utf-16")
    (read,) = parse_text(text, encoding="utf-16").reads
    assert (read.rows, read.columns) == (16, 24)
    assert read.values["P24"] == 1524.0
    assert read.values["A1"] == 1.0
    assert read.wavelength_nm == 450.0


def test_partial_grid_keeps_the_rows_present():
    (read,) = parse_text("\n".join(grid_lines(lambda r, c: 1.5, rows=3))).reads
    assert set(read.values) == {f"{r}{c}" for r in "ABC" for c in range(1, 13)}
    assert (read.rows, read.columns) == (8, 12)


def test_non_numeric_cells_are_empty_and_listed():
    markers = {(0, 1): "OVRFLW", (7, 3): "*0.356*", (2, 2): "", (3, 3): "NaN"}
    result = parse_text("\n".join(grid_lines(lambda r, c: markers.get((r, c), 0.1))))
    values = result.reads[0].values
    assert values["A1"] is None and values["H3"] is None
    assert values["C2"] is None and values["D3"] is None
    (warning,) = result.warnings
    assert "2 well(s)" in warning
    assert 'A1 "OVRFLW"' in warning and 'H3 "*0.356*"' in warning


def test_layout_table_next_to_a_grid():
    lines = grid_lines(lambda r, c: 0.2, rows=1)
    lines += [
        "",
        "Well,Sample,Role,Concentration [ng/mL]",
        "A1,BSA 500,STD,500000",
        "A2,EXO-000125,Unknown,",
        "A3,Buffer,blk,",
        "A4,Mystery,weird,",
    ]
    result = parse_text("\n".join(lines))
    assert len(result.reads) == 1
    assert result.layout == {
        "A1": {"name": "BSA 500", "role": "standard", "concentration": 500.0},
        "A2": {"name": "EXO-000125", "role": "sample", "concentration": None},
        "A3": {"name": "Buffer", "role": "blank", "concentration": None},
        "A4": {"name": "Mystery", "role": "sample", "concentration": None},
    }
    (warning,) = result.warnings
    assert 'role "weird"' in warning and warning.startswith("line 8:")


def test_wide_well_list_with_wavelengths_in_the_headers():
    text = "Well;A562;OD 620 nm\r\nA1;0,512;0,041\r\nB1;0,498;0,040\r\n"
    assert detect_text(text)
    first, second = parse_text(text).reads
    assert first.values == {"A1": 0.512, "B1": 0.498}
    assert second.values == {"A1": 0.041, "B1": 0.040}
    assert (first.wavelength_nm, second.wavelength_nm) == (562.0, 620.0)
    assert first.read_type == second.read_type == "absorbance"


def test_well_list_plates_and_384_wells():
    text = "Plate,Well,Value\nP1,A1,1\n,P24,2\nP2,A1,3\n"
    first, second = parse_text(text).reads
    assert (first.plate_name, second.plate_name) == ("P1", "P2")
    assert first.values == {"A1": 1.0, "P24": 2.0}
    assert (first.rows, first.columns) == (16, 24)
    assert (second.rows, second.columns) == (8, 12)


def test_duplicate_well_is_a_parse_error():
    with pytest.raises(ParseError) as caught:
        parse_text("Well,Value\nA1,0.1\nB1,0.2\nA01,0.3\n")
    assert caught.value.line == 4
    assert caught.value.column == "Value"
    assert "listed twice (also on line 2)" in caught.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \r\n", "no text"),
        (b"Donor,Volume\r\nD1,2\r\n", "no plate data found"),
        (b"Well,Sample\r\nA1,EXO-1\r\n", "no plate data found"),  # a layout and no readings
        (bytes(range(256)) * 4, "binary"),
    ],
)
def test_files_without_plate_data(data, message):
    with pytest.raises(ParseError, match=message):
        PARSER.parse(data, "x.csv")


# --- Workbooks --------------------------------------------------------------------------------


def workbook(*sheets: tuple[str, list[list[object]]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _grid_rows(base: float) -> list[list[object]]:
    rows: list[list[object]] = [["", *range(1, 13)]]
    for r in range(8):
        rows.append([LETTERS[r], *(value(r, c, base) for c in range(1, 13))])
    return rows


def test_xlsx_first_sheet_with_a_grid_is_read_and_others_are_named():
    data = workbook(
        ("Notes", [["BCA run"], ["operator", "AB"]]),
        ("562", [["Wavelength: 562 nm"], *_grid_rows(0.05)]),
        ("620", _grid_rows(0.01)),
    )
    assert PARSER.detect("bca.xlsx", data[:DETECT_BYTES])
    result = PARSER.parse(data, "bca.xlsx")
    (read,) = result.reads
    assert read.values["H12"] == value(7, 12)
    assert read.wavelength_nm == 562.0
    assert result.warnings == ('plate data read from sheet "562" only; not read: "620"',)


def test_xlsx_well_list():
    data = workbook(("Sheet1", [["Well", "OD562"], ["A1", 0.25], ["B1", 0.5]]))
    (read,) = PARSER.parse(data, "list.xlsx").reads
    assert read.values == {"A1": 0.25, "B1": 0.5}
    assert read.wavelength_nm == 562.0


def test_xlsx_without_plate_data():
    with pytest.raises(ParseError, match="no plate data found"):
        PARSER.parse(workbook(("Sheet1", [["Donor", "Volume"]])), "donors.xlsx")


# --- Detection --------------------------------------------------------------------------------

GEN5_HEAD = "\r\n".join(
    [
        "",
        "Software Version\t3.12.08",
        "Plate Number\tPlate 1",
        "Layout",
        "\t" + "\t".join(str(c) for c in range(1, 13)),
        "A\t" + "\t".join("0.1" for _ in range(12)) + "\t660",
    ]
)


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("gen5.txt", GEN5_HEAD.encode()),
        ("softmax.txt", ("##BLOCKS= 1\r\n" + GEN5_HEAD).encode("utf-16")),
        ("header-only.csv", b",1,2,3,4,5,6,7,8,9,10,11,12\r\n"),
        ("text-map.csv", "\n".join(grid_lines(lambda r, c: "STD")).encode()),
        ("layout.csv", b"Well,Sample,Role\r\nA1,STD1,Standard\r\n"),
        ("qpcr.csv", b"Well,Sample,Target,Cq,Value\r\nA1,S1,CD63,24.1,1\r\n"),
        ("eleven.csv", b",1,2,3,4,5,6,7,8,9,10,11\r\nA,1,1,1,1,1,1,1,1,1,1,1\r\n"),
        ("samples.csv", b"accession,volume_ml,concentration\r\nEXO-000001,1.5,2.3e9\r\n"),
        ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
        ("empty.csv", b""),
    ],
)
def test_not_claimed(name, head):
    assert not PARSER.detect(name, head)


def test_grid_claimed_only_with_a_number_in_row_a():
    lines = grid_lines(lambda r, c: "" if c > 1 else 0.5)
    assert detect_text("\n".join(lines))
    assert not detect_text("\n".join(lines[:1]))


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, b"<x/>")
    return buffer.getvalue()


def test_zip_claimed_only_as_a_named_spreadsheet():
    xlsx = workbook(("Sheet1", _grid_rows(0.1)))
    assert PARSER.detect("plate.xlsx", xlsx[:DETECT_BYTES])
    assert PARSER.detect("PLATE.XLSX", xlsx[:DETECT_BYTES])
    assert not PARSER.detect("plate.zip", xlsx[:DETECT_BYTES])
    assert not PARSER.detect("run.rdml", _zip("rdml_data.xml"))
    assert not PARSER.detect("report.xlsx", _zip("[Content_Types].xml", "word/document.xml"))
    assert not PARSER.detect("sheet.xlsx", _zip("mimetype", "content.xml"))
    assert not PARSER.detect("x.xlsx", b"PK\x03\x04")


# --- Vocabulary helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Std0001", "standard"),
        ("STD7", "standard"),
        ("standard 3", "standard"),
        ("Blank1", "blank"),
        ("BLK", "blank"),
        ("Ctrl2", "control"),
        ("QC high", "control"),
        ("Un0004", "sample"),
        ("SPL1:2", "sample"),
        ("Stdev", "sample"),
        ("Blanket", "sample"),
        ("", "sample"),
    ],
)
def test_role_from_name(name, role):
    assert role_from_name(name) == role


@pytest.mark.parametrize(
    ("amount", "unit", "expected"),
    [
        (1.0, "microg/ml", (1.0, "µg/mL")),
        (1.0, "µg/mL", (1.0, "µg/mL")),
        (1.0, "\u03bcg/ml", (1.0, "µg/mL")),
        (2.0, "mg/ml", (2000.0, "µg/mL")),
        (500.0, "ng/mL", (0.5, "µg/mL")),
        (1.0, "g/L", (1000.0, "µg/mL")),
        (3.0, "nM", (3.0, "nM")),
        (3.0, "", (3.0, "")),
    ],
)
def test_concentration_units(amount, unit, expected):
    assert concentration_in_ug_per_ml(amount, unit) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6/5/2023 6:09:56 PM", (2023, 6, 5, 18, 9, 56)),
        ("6/5/2023 12:09:56 AM", (2023, 6, 5, 0, 9, 56)),
        ("06/05/2023 18:09:56", (2023, 5, 6, 18, 9, 56)),
        ("13/05/2023 08:00", (2023, 5, 13, 8, 0, 0)),
        ("05/13/2023 08:00", (2023, 5, 13, 8, 0, 0)),
        ("Date: 2021-07-06, Time: 09:43:07", (2021, 7, 6, 9, 43, 7)),
        ("06.07.2021 17:03", (2021, 7, 6, 17, 3, 0)),
        ("2021-02-30 10:00", None),
        ("no date here", None),
    ],
)
def test_parse_timestamp(text, expected):
    stamp = parse_timestamp(text)
    if expected is None:
        assert stamp is None
    else:
        assert stamp is not None
        assert stamp.timetuple()[:6] == expected


@pytest.mark.parametrize(
    ("text", "bare", "expected"),
    [
        ("Wavelength: 450 nm", False, 450.0),
        ("Messung: 562nm", False, 562.0),
        ("OD562", False, 562.0),
        ("Wavelength=750", False, 750.0),
        ("660", True, 660.0),
        ("660", False, None),
        ("12", True, None),
        ("5000 nm", False, None),
        ("Plate 1", True, None),
    ],
)
def test_wavelength_in(text, bare, expected):
    assert wavelength_in(text, bare=bare) == expected


def test_plate_name_from_a_key_value_line_never_from_plate_type():
    lines = [
        "Plate Number\tPlate 7",
        "Plate Type\t96 WELL PLATE",
        *grid_lines(lambda r, c: 0.3, delimiter="\t"),
    ]
    assert parse_text("\r\n".join(lines)).reads[0].plate_name == "Plate 7"
    lines = ["Plate Type\t96 WELL PLATE", *grid_lines(lambda r, c: 0.3, delimiter="\t")]
    assert parse_text("\r\n".join(lines)).reads[0].plate_name == ""


def test_layout_table_fills_what_a_plate_map_grid_left_open():
    lines = grid_lines(lambda r, c: "STD1" if c == 1 else "EXO-1", rows=1)
    lines += grid_lines(lambda r, c: 0.4, rows=1)
    lines += ["", "Well,Conc. (mg/ml),Dilution", "A1,0.5,", "A2,,1:4"]
    result = parse_text("\n".join(lines))
    assert result.layout["A1"] == {"role": "standard", "concentration": 500.0, "name": "STD1"}
    assert result.layout["A2"] == {
        "role": "sample",
        "concentration": None,
        "name": "EXO-1",
        "dilution": 4.0,
    }


def test_out_of_range_concentration_is_dropped_with_a_warning():
    text = "Well,Value,Sample,Concentration (mg/mL)\nA1,0.1,STD1,1e308\nA2,0.2,STD2,nM\n"
    result = parse_text(text)
    assert result.layout["A1"]["concentration"] is None
    assert result.layout["A2"]["concentration"] is None
    (warning,) = result.warnings
    assert warning.startswith("line 2: the concentration 1e+308 mg/mL of STD1 is out of range")


def test_identify_workbook_never_raises_and_knows_only_vendor_exports():
    assert identify_workbook(workbook(("Sheet1", _grid_rows(0.1)))) is None
    assert identify_workbook(b"not a workbook") is None
    assert identify_workbook(_zip("[Content_Types].xml", "xl/workbook.xml")) is None
