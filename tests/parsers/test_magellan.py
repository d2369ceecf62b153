"""Tecan Magellan .xlsx exports, built with openpyxl in the long layout of INSTRUMENT-FORMATS.md
§6.4: ``Raw data | Well positions | Plate`` rows in column order, then settings lines."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from openpyxl import Workbook

from assays.parsers.base import ParseError
from assays.parsers.magellan import MagellanParser, looks_like_magellan
from assays.parsers.plate_generic import GenericPlateParser, identify_workbook, read_workbook
from assays.parsers.results import PlateResult
from assays.parsers.skanit import SkanItParser

LETTERS = "ABCDEFGH"
COLUMN_ORDER = [f"{r}{c}" for c in range(1, 13) for r in LETTERS]  # A1, B1, … H1, A2 …

SETTINGS = [
    "Date of measurement: 2021-07-06/Time of measurement: 09:43:07",
    "200609_BCA.mth",
    "C:\\Users\\Public\\Documents\\Tecan\\Magellan\\mth\\200609_BCA.mth",
    "06072021-001.wsp",
    "562nm",
    "Unknown user",
    "SUNRISE",
    "Instrument serial number: 12901000069",
    "Measurement mode: Absorbance",
    "Measurement wavelength: 562 nm",
    "Number of flashes: 1",
    "Plate definition file: GRE96ft.pdf",
    "Unit: OD",
    "Meas. temperature: Raw data: 23.4 °C",
    "Date: 2021-07-06, Time: 09:43:07",
]


def od(well: str, base: float = 0.1) -> float:
    return round(base + 0.01 * LETTERS.index(well[0]) + 0.0001 * int(well[1:]), 4)


def magellan_workbook(
    *,
    header: tuple[str, ...] = ("Raw data", "Well positions", "Plate"),
    rows: list[tuple[Any, ...]] | None = None,
    settings: list[str] | None = None,
    plate_cells: int = 20,
    title: str = "Magellan Sheet 1",
) -> bytes:
    """``rows`` default to one 96-well plate; the plate cell is blank after ``plate_cells``
    rows, as in the real export."""
    if rows is None:
        rows = [
            (od(well), well, "96WEL008" if i < plate_cells else None)
            for i, well in enumerate(COLUMN_ORDER)
        ]
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    for line in SETTINGS if settings is None else settings:
        ws.append([line])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def parse(data: bytes) -> PlateResult:
    return MagellanParser().parse(data, "SLA01P01_OD.xlsx")


def test_one_plate_in_column_order():
    result = parse(magellan_workbook())
    (read,) = result.reads
    assert read.values == {well: od(well) for well in COLUMN_ORDER}
    assert list(read.values)[:3] == ["A1", "B1", "C1"]
    assert (read.rows, read.columns) == (8, 12)
    assert read.plate_name == "96WEL008"  # blank plate cells continue the plate above
    assert read.wavelength_nm == 562.0
    assert read.read_type == "absorbance"
    assert read.reduced is False
    assert result.warnings == ()


def test_settings_lines():
    result = parse(magellan_workbook())
    assert result.instrument_serial == "12901000069"
    assert result.measured_at == datetime(2021, 7, 6, 9, 43, 7)
    assert result.software_version == ""
    assert result.layout == {}


def test_day_first_dotted_date():
    settings = ["Date of measurement: 06.07.2021/Time of measurement: 17:03:00"]
    result = parse(magellan_workbook(settings=settings))
    assert result.measured_at == datetime(2021, 7, 6, 17, 3)
    assert result.reads[0].wavelength_nm is None
    assert result.reads[0].read_type == ""  # no "Measurement mode" line: not guessed
    assert result.instrument_serial == ""


def test_two_plates_are_two_reads():
    rows = [(od(w), w, "P1" if i == 0 else None) for i, w in enumerate(COLUMN_ORDER)]
    rows += [(od(w, 0.5), w, "P2" if i == 0 else None) for i, w in enumerate(COLUMN_ORDER)]
    result = parse(magellan_workbook(rows=rows))
    assert [r.plate_name for r in result.reads] == ["P1", "P2"]
    assert result.reads[1].values["H12"] == od("H12", 0.5)


def test_384_well_plate_from_wells_or_plate_definition():
    wells = [f"{r}{c}" for c in range(1, 25) for r in "ABCDEFGHIJKLMNOP"]
    result = parse(magellan_workbook(rows=[(0.1, w, "384") for w in wells]))
    assert (result.reads[0].rows, result.reads[0].columns) == (16, 24)
    assert len(result.reads[0].values) == 384
    settings = [*SETTINGS[:11], "Plate definition file: GRE384fb.pdf"]
    result = parse(magellan_workbook(rows=[(0.1, "A1", "x")], settings=settings))
    assert (result.reads[0].rows, result.reads[0].columns) == (16, 24)


def test_leading_zero_wells_and_sample_column_fill_the_layout():
    rows = [(0.5, "A01", "STD1"), (0.4, "B01", "Blank"), (0.3, "C01", "EXO-000123")]
    result = parse(magellan_workbook(header=("Raw data", "Well positions", "Sample ID"), rows=rows))
    assert result.reads[0].values == {"A1": 0.5, "B1": 0.4, "C1": 0.3}
    assert result.layout == {
        "A1": {"role": "standard", "concentration": None, "name": "STD1"},
        "B1": {"role": "blank", "concentration": None, "name": "Blank"},
        "C1": {"role": "sample", "concentration": None, "name": "EXO-000123"},
    }


def test_without_raw_data_numeric_columns_are_reduced_reads():
    rows = [("A1", 0.5, "rep 1"), ("B1", 0.25, "rep 2")]
    header = ("Well positions", "Blank reduced (562 nm)", "Replicate info")
    (read,) = parse(magellan_workbook(header=header, rows=rows)).reads
    assert read.reduced is True
    assert read.values == {"A1": 0.5, "B1": 0.25}
    assert read.wavelength_nm == 562.0


def test_saturated_wells_are_empty_with_a_warning():
    rows = [("OVER", "A1", "p"), (0.2, "B1", None), (None, "C1", None)]
    result = parse(magellan_workbook(rows=rows))
    assert result.reads[0].values == {"A1": None, "B1": 0.2, "C1": None}
    (warning,) = result.warnings
    assert 'A1 "OVER"' in warning


def test_duplicate_well_is_a_parse_error_with_its_line():
    rows = [(0.1, "A1", "p"), (0.2, "B1", None), (0.3, "A1", None)]
    with pytest.raises(ParseError) as caught:
        parse(magellan_workbook(rows=rows))
    assert "well A1" in caught.value.message
    assert caught.value.line == 4
    assert caught.value.column == "Raw data"


def test_header_without_wells_is_a_parse_error():
    with pytest.raises(ParseError, match="no wells under its header") as caught:
        parse(magellan_workbook(rows=[]))
    assert caught.value.line == 2


def test_table_without_readings_is_a_parse_error():
    rows = [("A1", "x"), ("B1", "y")]
    with pytest.raises(ParseError, match="no column of readings"):
        parse(magellan_workbook(header=("Well positions", "Notes"), rows=rows))


def test_grid_format_sheet():
    wb = Workbook()
    ws = wb.active
    ws.title = "Magellan Sheet 1"
    ws.append(["<>", *range(1, 13)])
    for letter in LETTERS:
        ws.append([letter, *[od(f"{letter}{c}") for c in range(1, 13)]])
    for line in SETTINGS:
        ws.append([line])
    buffer = io.BytesIO()
    wb.save(buffer)
    (read,) = parse(buffer.getvalue()).reads
    assert read.values == {w: od(w) for w in COLUMN_ORDER}
    assert read.wavelength_nm == 562.0


def test_nothing_magellan_in_the_workbook():
    wb = Workbook()
    wb.active.append(["Donor", "Volume"])
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(ParseError, match="no Magellan data"):
        parse(buffer.getvalue())


def test_detection_and_delegation():
    data = magellan_workbook()
    # openpyxl writes inline strings, so the header text is visible in the first bytes.
    assert MagellanParser().detect("run.xlsx", data[:4096])
    assert not SkanItParser().detect("run.xlsx", data[:4096])
    assert not MagellanParser().detect("run.csv", b"Raw data,Well positions\r\n")
    assert looks_like_magellan(read_workbook(data, file_kind="test"))
    assert identify_workbook(data) == "magellan"
    result = GenericPlateParser().parse(data, "run.xlsx")
    assert result.reads == parse(data).reads
    assert result.warnings == ("read as a Tecan Magellan export",)
