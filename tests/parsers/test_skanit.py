"""Thermo SkanIt .xlsx exports, built with openpyxl in the layout of INSTRUMENT-FORMATS.md §6.3
(SkanIt 7.0, Varioskan LUX): step sheets with Abs/Sample grids, report sheets, Layout
definitions and the Standard Curve table."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from typing import Any

import pytest
from openpyxl import Workbook

from assays.parsers import plate_generic
from assays.parsers.base import ParseError
from assays.parsers.magellan import MagellanParser
from assays.parsers.plate_generic import GenericPlateParser, identify_workbook, read_workbook
from assays.parsers.results import PlateResult
from assays.parsers.skanit import SkanItParser, looks_like_skanit

LETTERS = "ABCDEFGH"
WELLS = [f"{r}{c}" for r in LETTERS for c in range(1, 13)]
STANDARDS = [2.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]  # mg/ml, columns 1–2, rows A–G


def od(well: str, base: float = 0.05) -> float:
    """A distinct, exactly representable-enough reading per well."""
    return round(base + 0.1 * LETTERS.index(well[0]) + 0.001 * int(well[1:]), 4)


def sample_id(well: str) -> str:
    row, column = LETTERS.index(well[0]), int(well[1:])
    if column <= 2:
        return "Blank1" if row == 7 else f"Std{row + 1:04d}"
    return f"Un{(column - 3) // 2 * 8 + row + 1:04d}"


def _grid(ws: Any, top: int, corner: str, cell: Any) -> int:
    """Write a SkanIt grid (float column headers, as SkanIt does) at row ``top``; returns
    the row after it."""
    ws.cell(top, 1, corner)
    for column in range(1, 13):
        ws.cell(top, column + 1, float(column))
    for r, letter in enumerate(LETTERS):
        ws.cell(top + 1 + r, 1, letter)
        for column in range(1, 13):
            value = cell(f"{letter}{column}")
            if value is not None:
                ws.cell(top + 1 + r, column + 1, value)
    return top + 9


def _step_header(ws: Any, step: str) -> None:
    ws["A1"] = "Measurement results"
    ws["A2"] = "BCA EV fractions 2024-03-05.skax"
    ws["A3"] = "3/5/2024 2:22:10 PM"
    ws["A4"] = " "
    ws["A5"] = step


def skanit_workbook(
    *,
    wavelengths: tuple[float, ...] = (562.0,),
    raw: bool = True,
    blank_subtracted: bool = True,
    standard_curve: bool = True,
    layout_definitions: bool = True,
    report_sheets: bool = True,
    conc_unit: str = "mg/ml",
    raw_cell=None,
    corner: str = "Abs",
    execution_time: str = "3/5/2024 2:22:10 PM",
) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    raw_cell = raw_cell or od
    if raw:
        ws = wb.create_sheet("Absorbance 1_01")
        _step_header(ws, "Absorbance 1")
        row = 6
        for number, wavelength in enumerate(wavelengths):
            ws.cell(row, 1, f"Wavelength: {wavelength:g} nm")
            ws.cell(row + 1, 1, " ")
            ws.cell(row + 2, 1, "Plate 1")
            ws.cell(row + 3, 1, " ")
            row = _grid(
                ws, row + 4, corner, lambda w, n=number: raw_cell(w) if n == 0 else od(w, 1.0)
            )
            row = _grid(ws, row + 1, "Sample", sample_id) + 1
        ws.cell(row, 1, f"Autoloading range A1 - M{row - 2}")
    if blank_subtracted:
        ws = wb.create_sheet("Blank Subtraction 1_02")
        _step_header(ws, "Blank Subtraction 1")
        ws["A9"] = f"Wavelength: {wavelengths[0]:g} nm"
        ws["A11"] = "Plate 1"
        end = _grid(ws, 13, "Blank subtracted", lambda w: round(od(w) - od("H1"), 4))
        _grid(ws, end + 1, "Sample", sample_id)
    if standard_curve:
        ws = wb.create_sheet("Standard Curve 1_03")
        _step_header(ws, "Standard Curve 1")
        ws["A7"] = "Fit type: 4PL"
        ws["A10"] = f"Wavelength: {wavelengths[0]:g} nm"
        ws["A38"] = "y = d + ( (a - d) / ( 1 + (x/c)^b) )"
        ws["A45"] = "R²: 0.998"
        header = ["Well", "Sample", f"Conc. [{conc_unit}]", "Original signal", "CV%"]
        for column, text in enumerate(header, start=1):
            ws.cell(47, column, text)
        row = 48
        for r, conc in enumerate(STANDARDS):
            ws.cell(row, 1, "Average")
            ws.cell(row, 2, f"Std{r + 1:04d}")
            ws.cell(row, 3, conc)
            row += 1
            for column in (1, 2):
                ws.cell(row, 1, f"{LETTERS[r]}{column:02d}")
                ws.cell(row, 2, f"Std{r + 1:04d}")
                ws.cell(row, 3, conc)
                ws.cell(row, 4, od(f"{LETTERS[r]}{column}"))
                row += 1
        ws.cell(row + 2, 1, "Plate 1")
        end = _grid(ws, row + 4, "Signal", lambda w: None if w in ("H1", "H2") else od(w))
        end = _grid(ws, end + 1, "Conc. [microg/ml]", lambda w: " < Min")
        _grid(ws, end + 1, "Sample", sample_id)
    if report_sheets:
        ws = wb.create_sheet("General information")
        ws["A1"] = "General information"
        ws["B3"] = "Report generated with SW version"
        ws["E3"] = "SkanIt Software 7.0 RE for Microplate Readers RE, ver. 7.0.0.50"
        ws = wb.create_sheet("Session information")
        ws["A1"] = "Session information"
        ws["B3"], ws["E3"] = "Session name", "BCA EV fractions 2024-03-05.skax"
        ws["B4"], ws["E4"] = "Session notes", "Micro BCA of SEC fractions"
        ws["E6"] = "Pierce kit lot 123"
        ws["B7"], ws["E7"] = (
            "Executed with",
            "SkanIt Software for Microplate Readers  RE, ver 7.0.0.50",
        )
        ws["B8"], ws["E8"] = "Execution time", execution_time
        ws = wb.create_sheet("Instrument information")
        ws["A1"] = "Instrument information"
        ws["B3"], ws["E3"] = "Name", "Varioskan LUX"
        ws["B6"], ws["E6"] = "Serial number", "3020-81776"
        ws["C11"], ws["E11"] = "Module's serial number", "LL2214801"
    if layout_definitions:
        ws = wb.create_sheet("Layout definitions")
        ws["A1"], ws["B1"] = "Name", "Plate 1"
        ws["A2"], ws["B2"] = "Plate template", "ANSI/SBS Standard, 96-well"
        for column in range(1, 13):
            ws.cell(4, column + 1, float(column))
        for r, letter in enumerate(LETTERS):
            top = 5 + 3 * r
            ws.cell(top, 1, letter)
            for column in range(1, 13):
                well = f"{letter}{column}"
                ws.cell(top, column + 1, sample_id(well))
                ws.cell(top + 1, column + 1, "Group 1")
                if column <= 2 and r < 7:
                    ws.cell(top + 2, column + 1, f"{STANDARDS[r]:g} {conc_unit}")
                elif column > 2:
                    ws.cell(top + 2, column + 1, f"1:{5 * (1 + r % 2)}")
    if not wb.worksheets:
        wb.create_sheet("Empty")
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def parse(data: bytes) -> PlateResult:
    return SkanItParser().parse(data, "skanit.xlsx")


def test_raw_readings_one_read_per_plate_and_wavelength():
    result = parse(skanit_workbook())
    assert len(result.reads) == 1
    read = result.reads[0]
    assert read.values == {well: od(well) for well in WELLS}
    assert (read.rows, read.columns) == (8, 12)
    assert read.plate_name == "Plate 1"
    assert read.wavelength_nm == 562.0
    assert read.read_type == "absorbance"
    assert read.reduced is False
    assert result.warnings == ()


def test_two_wavelengths_are_two_reads_in_file_order():
    result = parse(skanit_workbook(wavelengths=(562.0, 620.0)))
    assert [r.wavelength_nm for r in result.reads] == [562.0, 620.0]
    assert result.reads[1].values["A1"] == od("A1", 1.0)
    assert result.reads[1].plate_name == "Plate 1"


def test_blank_subtracted_only_when_there_is_no_raw_sheet():
    result = parse(skanit_workbook(raw=False))
    (read,) = result.reads
    assert read.reduced is True
    assert read.read_type == ""
    assert read.values["A1"] == round(od("A1") - od("H1"), 4)
    assert read.wavelength_nm == 562.0


def test_fluorescence_corner_sets_the_read_type():
    (read,) = parse(skanit_workbook(corner="RFU")).reads
    assert read.read_type == "fluorescence"
    assert read.reduced is False


def test_report_sheets_give_software_serial_date_and_notes():
    result = parse(skanit_workbook())
    assert result.software_version == (
        "SkanIt Software 7.0 RE for Microplate Readers RE, ver. 7.0.0.50"
    )
    assert result.instrument_serial == "3020-81776"
    # US export: month first because of the AM/PM clock.
    assert result.measured_at == datetime(2024, 3, 5, 14, 22, 10)
    assert result.description == "Micro BCA of SEC fractions\nPierce kit lot 123"


def test_date_falls_back_to_the_step_sheet():
    result = parse(skanit_workbook(report_sheets=False))
    assert result.measured_at == datetime(2024, 3, 5, 14, 22, 10)
    assert result.software_version == ""
    assert result.instrument_serial == ""


def test_day_first_date_on_a_24_hour_clock():
    result = parse(skanit_workbook(execution_time="05/03/2024 14:22:10"))
    assert result.measured_at == datetime(2024, 3, 5, 14, 22, 10)


def test_layout_from_sample_grid_and_layout_definitions():
    layout = parse(skanit_workbook()).layout
    assert len(layout) == 96
    assert layout["A1"] == {
        "role": "standard",
        "name": "Std0001",
        "group": "Group 1",
        "concentration": 2000.0,  # 2 mg/ml in µg/mL
    }
    assert layout["G2"]["concentration"] == pytest.approx(31.25)
    assert layout["H1"] == {
        "role": "blank",
        "name": "Blank1",
        "group": "Group 1",
        "concentration": None,
    }
    assert layout["A3"] == {
        "role": "sample",
        "name": "Un0001",
        "group": "Group 1",
        "concentration": None,
        "dilution": 5.0,
    }
    assert layout["B3"]["dilution"] == 10.0


def test_standard_concentrations_from_the_curve_table_without_layout_sheet():
    layout = parse(skanit_workbook(layout_definitions=False, conc_unit="microg/ml")).layout
    assert layout["A1"] == {"role": "standard", "name": "Std0001", "concentration": 2.0}
    assert layout["C2"]["concentration"] == 0.5
    assert layout["H1"]["concentration"] is None
    assert layout["D7"] == {"role": "sample", "name": "Un0020", "concentration": None}


def test_unknown_concentration_unit_is_kept_as_written():
    layout = parse(skanit_workbook(conc_unit="U/ml", layout_definitions=False)).layout
    assert layout["A1"]["concentration"] == 2.0
    assert layout["A1"]["unit"] == "U/ml"


def test_non_numeric_readings_are_empty_with_a_warning():
    def cell(well: str) -> Any:
        return {"A1": "OVRFLW", "B2": "NaN", "C3": None}.get(well, od(well))

    result = parse(skanit_workbook(raw_cell=cell))
    values = result.reads[0].values
    assert values["A1"] is None and values["B2"] is None and values["C3"] is None
    assert values["A2"] == od("A2")
    (warning,) = result.warnings
    assert 'A1 "OVRFLW"' in warning and "1 well(s)" in warning


def test_no_reading_grid_is_a_parse_error():
    data = skanit_workbook(raw=False, blank_subtracted=False)
    with pytest.raises(ParseError, match="no plate readings"):
        parse(data)


def test_detection_by_head_markers():
    data = skanit_workbook()
    assert SkanItParser().detect("run.xlsx", data[:4096])
    assert not MagellanParser().detect("run.xlsx", data[:4096])
    assert not SkanItParser().detect("run.csv", b"Well,Value\r\nA1,0.1\r\n")
    assert not SkanItParser().detect("x.xlsx", b"PK\x03\x04" + b"\x00" * 40)


def test_detection_refuses_other_workbooks():
    wb = Workbook()
    wb.active["A1"] = "Sample"
    wb.active["B1"] = "Volume"
    buffer = io.BytesIO()
    wb.save(buffer)
    assert not SkanItParser().detect("samples.xlsx", buffer.getvalue()[:4096])


def test_skanit_recognised_after_opening_and_generic_parser_delegates():
    data = skanit_workbook()
    assert looks_like_skanit(read_workbook(data, file_kind="test"))
    assert identify_workbook(data) == "skanit"
    result = GenericPlateParser().parse(data, "export.xlsx")
    assert result.reads == parse(data).reads
    assert result.layout == parse(data).layout
    assert result.warnings[-1] == "read as a Thermo SkanIt export"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an .xlsx workbook"),
        (b"Well,Value\r\nA1,0.1\r\n", "not an .xlsx workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel .xls"),
        (b"PK\x03\x04 truncated", "damaged ZIP"),
    ],
)
def test_not_a_workbook(data, message):
    with pytest.raises(ParseError, match=message):
        parse(data)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zip_that_is_not_a_workbook():
    with pytest.raises(ParseError, match="not an Excel workbook"):
        parse(_zip({"rdml_data.xml": b"<rdml/>"}))


def test_damaged_workbook_parts():
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<not xml"})
    with pytest.raises(ParseError, match="cannot be opened"):
        parse(data)


def test_zip_bomb_is_refused_before_opening():
    bomb = _zip({"[Content_Types].xml": b"<Types/>", "xl/big.xml": b"\0" * (101 * 1024 * 1024)})
    assert len(bomb) < 200_000
    with pytest.raises(ParseError, match="unpacks to 101 MB"):
        parse(bomb)


def test_sheets_are_read_within_bounds(monkeypatch):
    monkeypatch.setattr(plate_generic, "MAX_ROWS", 12)
    result = parse(skanit_workbook(standard_curve=False, blank_subtracted=False))
    # The grid header is row 10 and row A row 11: only A and B survive the 12-row cut.
    assert set(result.reads[0].values) == {f"{r}{c}" for r in "AB" for c in range(1, 13)}
    assert any("larger than the part that was read" in w for w in result.warnings)


def test_two_plates_are_two_reads_and_the_layout_is_the_first_plates():
    wb = Workbook()
    ws = wb.active
    ws.title = "Absorbance 1_01"
    _step_header(ws, "Absorbance 1")
    ws["A6"] = "Wavelength: 562 nm"
    ws["A8"] = "Plate 1"
    end = _grid(ws, 10, "Abs", od)
    end = _grid(ws, end + 1, "Sample", sample_id)
    ws.cell(end + 1, 1, "Plate 2")
    ws.cell(end + 1, 16, "a note beside the grid")  # column P: outside the grid
    end = _grid(ws, end + 3, "Abs", lambda w: od(w, 2.0))
    _grid(ws, end + 1, "Sample", lambda w: "Std0001" if w == "A3" else sample_id(w))
    wb.create_sheet("General information")
    buffer = io.BytesIO()
    wb.save(buffer)
    result = parse(buffer.getvalue())
    assert [r.plate_name for r in result.reads] == ["Plate 1", "Plate 2"]
    assert result.reads[1].values["A1"] == od("A1", 2.0)
    assert [r.wavelength_nm for r in result.reads] == [562.0, 562.0]
    assert result.layout["A3"]["name"] == "Un0001"
    assert result.warnings == (
        "the plates have different sample layouts; the layout is that of Plate 1",
    )


def test_the_row_budget_is_shared_by_all_sheets(monkeypatch):
    monkeypatch.setattr(plate_generic, "MAX_TOTAL_ROWS", 40)
    result = parse(skanit_workbook())
    assert result.reads[0].values == {well: od(well) for well in WELLS}  # 31 rows, in budget
    assert 'sheet "Blank Subtraction 1_02" is larger than the part that was read' in (
        result.warnings
    )
    assert 'sheet "Standard Curve 1_03" is larger than the part that was read' in result.warnings
