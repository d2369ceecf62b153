"""Tecan Magellan Excel export (INSTRUMENT-FORMATS.md §6.4, verified on a Magellan export of
an absorbance read on a Tecan "ULTRA").

Layout (long format, one sheet ``Magellan Sheet 1``): a header row ``Raw data | Well
positions | Plate``, one row per well in column order (``0.1462 | A1 | 96WEL008``; the plate
cell may be blank after the first rows, meaning "same plate"), then one line per setting in
the first column: ``Date of measurement: 2021-07-06/Time of measurement: 09:43:07``, the
method (``….mth``) and workspace (``….wsp``) files, the instrument, ``Instrument serial
number: …``, ``Measurement mode: Absorbance``, ``Measurement wavelength: 595 nm``, ``Plate
definition file: GRE96ft.pdf``, ``Unit: OD``, temperature, ``Date: …, Time: …``.

Magellan lets the method choose the exported columns. ``Raw data`` columns become raw reads,
one per plate (a header naming a wavelength, ``Raw data (595 nm)``, gives that column's
wavelength; otherwise ``Measurement wavelength`` applies). Without a raw data column, the
other numeric columns are read as reduced data. A ``Sample``/``Sample ID``/``Name`` column
fills ``layout`` (role from the name prefix). Plate size is 96 wells unless a well or the
plate definition file (``…384…``) needs 384. A Magellan sheet in plate (grid) format — a
``<>`` corner with 1…12 and A…H — is read with the generic grid reader and the same
settings lines. Magellan does not write its own version into this export, so
``software_version`` stays empty.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ._text import norm_key, read_or_parse_error
from .base import ParseError
from .plate_generic import (
    Sheet,
    cell_number,
    cell_text,
    find_grids,
    grid_values,
    is_spreadsheet_zip,
    layout_entry,
    marker_warning,
    parse_timestamp,
    plate_shape,
    read_type_in,
    read_workbook,
    wavelength_in,
    well_name,
    zip_head_text,
)
from .results import PlateRead, PlateResult

_HEAD_MARK = re.compile(r"Magellan|Well positions|Tecan|Instrument serial number:")
_WELL_HEADERS = {"well positions", "well position", "well", "wells"}
_PLATE_HEADERS = {"plate", "plate id", "plate name", "plate barcode"}
_SAMPLE_HEADERS = {"sample", "sample id", "sample name", "name"}
_TEXT_HEADERS = {"replicate info", "replicate", "comment", "comments", "type", "sample type"}
_SERIAL = re.compile(r"instrument serial number:\s*(\S+)", re.IGNORECASE)
_MODE = re.compile(r"measurement mode:\s*(.+)", re.IGNORECASE)
_WAVELENGTH = re.compile(
    r"(?:measurement|emission) wavelength:\s*(\d+(?:[.,]\d+)?)\s*nm", re.IGNORECASE
)
_PLATE_DEFINITION = re.compile(r"plate definition file:\s*(.+)", re.IGNORECASE)
_DATE_LINE = re.compile(r"^(?:date of measurement|date)\s*:", re.IGNORECASE)


class MagellanParser:
    format = "magellan"
    label = "Tecan Magellan export (xlsx)"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        try:
            return is_spreadsheet_zip(head) and bool(_HEAD_MARK.search(zip_head_text(head)))
        except Exception:  # detection never raises
            return False

    def parse(self, data: bytes, name: str = "") -> PlateResult:
        sheets = read_workbook(data, file_kind="Magellan")
        return read_or_parse_error(lambda: result_from_sheets(sheets), file_kind="Magellan")


def looks_like_magellan(sheets: list[Sheet]) -> bool:
    """A ``Magellan Sheet`` or a ``Well positions`` column header (Magellan's own words)."""
    for sheet in sheets:
        if norm_key(sheet.title).startswith("magellan"):
            return True
        if _header_row(sheet) is not None:
            return True
    return False


def _header_row(sheet: Sheet) -> int | None:
    for index, row in enumerate(sheet.rows):
        if any(norm_key(cell_text(value)) == "well positions" for value in row):
            return index
    return None


def result_from_sheets(sheets: list[Sheet]) -> PlateResult:
    for sheet in sheets:
        header = _header_row(sheet)
        if header is None:
            header = _generic_header(sheet)
        if header is not None:
            return _long_format(sheet, header)
    for sheet in sheets:
        if find_grids(sheet.rows):
            return _grid_format(sheet)
    raise ParseError(
        "no Magellan data found: expected a header row with a Well positions column, "
        "or a plate grid"
    )


def _generic_header(sheet: Sheet) -> int | None:
    """A ``Well`` header next to a ``Raw data`` column (older or edited exports)."""
    for index, row in enumerate(sheet.rows):
        keys = {norm_key(cell_text(value)) for value in row}
        if keys & _WELL_HEADERS and any(key.startswith("raw data") for key in keys):
            return index
    return None


class _Settings:
    """The settings lines outside the table."""

    def __init__(self, lines: list[str]) -> None:
        self.measured_at: datetime | None = None
        self.serial = ""
        self.read_type = ""
        self.wavelengths: list[float] = []
        self.plate_definition = ""
        for line in lines:
            if self.measured_at is None and _DATE_LINE.match(line):
                self.measured_at = parse_timestamp(line)
            if not self.serial and (match := _SERIAL.search(line)):
                self.serial = match.group(1)
            if not self.read_type and (match := _MODE.search(line)):
                self.read_type = _mode(match.group(1))
            if match := _WAVELENGTH.search(line):
                number, _marker = cell_number(match.group(1), ",")
                if number is not None and number not in self.wavelengths:
                    self.wavelengths.append(number)
            if not self.plate_definition and (match := _PLATE_DEFINITION.search(line)):
                self.plate_definition = match.group(1).strip()

    @property
    def wavelength(self) -> float | None:
        return self.wavelengths[0] if len(self.wavelengths) == 1 else None

    def shape(self, wells: list[str]) -> tuple[int, int]:
        rows, columns = plate_shape(wells)
        if "384" in self.plate_definition:
            return 16, 24
        return rows, columns


def _mode(text: str) -> str:
    key = text.casefold()
    for word, read_type in (
        ("absorbance", "absorbance"),
        ("fluorescence", "fluorescence"),
        ("luminescence", "luminescence"),
    ):
        if word in key:
            return read_type
    return norm_key(text)


def _settings_lines(sheet: Sheet, skip: range) -> list[str]:
    lines = []
    for index in range(len(sheet.rows)):
        if index in skip:
            continue
        texts = sheet.texts(index)
        if texts:
            lines.append(" ".join(text for _c, text in texts))
    return lines


def _long_format(sheet: Sheet, header: int) -> PlateResult:
    row = sheet.rows[header]
    keys = [norm_key(cell_text(value)) for value in row]
    well_column = next(i for i, key in enumerate(keys) if key in _WELL_HEADERS)
    plate_column = next((i for i, key in enumerate(keys) if key in _PLATE_HEADERS), None)
    sample_column = next((i for i, key in enumerate(keys) if key in _SAMPLE_HEADERS), None)
    named = {well_column, plate_column, sample_column}
    candidates = [
        i for i, key in enumerate(keys) if key and i not in named and key not in _TEXT_HEADERS
    ]
    raw_columns = [i for i in candidates if keys[i].startswith("raw data")]

    end = header + 1
    while end < len(sheet.rows) and well_name(_at(sheet.rows[end], well_column)):
        end += 1
    body = sheet.rows[header + 1 : end]
    if not body:
        raise ParseError("the Magellan table has no wells under its header", line=header + 2)
    value_columns = raw_columns or [
        i for i in candidates if any(cell_number(_at(r, i))[0] is not None for r in body)
    ]
    if not value_columns:
        raise ParseError("the Magellan table has no column of readings", line=header + 1)
    settings = _Settings(_settings_lines(sheet, range(header, end)))

    warnings: list[str] = []
    reads: list[PlateRead] = []
    layout: dict[str, dict[str, Any]] = {}
    for column in value_columns:
        title = cell_text(row[column])
        per_plate: dict[str, dict[str, float | None]] = {}
        markers: dict[str, str] = {}
        plate = ""
        for offset, data in enumerate(body):
            line = header + 2 + offset
            well = well_name(_at(data, well_column))
            assert well is not None
            if plate_column is not None and (name := cell_text(_at(data, plate_column))):
                plate = name
            values = per_plate.setdefault(plate, {})
            if well in values:
                raise ParseError(
                    f"well {well} of plate {plate or '(unnamed)'} is listed twice",
                    line=line,
                    column=title,
                )
            number, marker = cell_number(_at(data, column))
            values[well] = number
            if number is None and marker:
                markers[well] = marker
            name = cell_text(_at(data, sample_column))
            if name and well not in layout:
                layout[well] = layout_entry(name)
        wavelength = wavelength_in(title) or settings.wavelength
        if wavelength is None and len(settings.wavelengths) > 1:
            warnings.append(
                f'column "{title}": the export lists several wavelengths and the header does '
                "not say which one this column holds"
            )
        for plate_name, values in per_plate.items():
            rows, columns = settings.shape(list(values))
            reads.append(
                PlateRead(
                    values=values,
                    rows=rows,
                    columns=columns,
                    plate_name=plate_name,
                    wavelength_nm=wavelength,
                    read_type=settings.read_type or read_type_in(title),
                    reduced=column not in raw_columns,
                )
            )
        if markers:
            warnings.append(marker_warning(f'column "{title}"', markers))
    if sheet.truncated:
        warnings.append(f'sheet "{sheet.title}" is larger than the part that was read')
    return PlateResult(
        reads=tuple(reads),
        instrument_serial=settings.serial,
        measured_at=settings.measured_at,
        layout=layout,
        warnings=tuple(warnings),
    )


def _grid_format(sheet: Sheet) -> PlateResult:
    grids = find_grids(sheet.rows)
    grid_rows: set[int] = set()
    for grid in grids:
        grid_rows.update(range(grid.top, grid.bottom + 1))
    settings = _Settings(
        [
            " ".join(text for _c, text in sheet.texts(i))
            for i in range(len(sheet.rows))
            if i not in grid_rows and sheet.texts(i)
        ]
    )
    reads: list[PlateRead] = []
    warnings: list[str] = []
    for grid in grids:
        found = grid_values(grid)
        if found.numbers == 0:
            continue
        if found.markers:
            warnings.append(marker_warning(f"grid on row {grid.top + 1}", found.markers))
        reads.append(
            PlateRead(
                values=found.values,
                rows=grid.rows,
                columns=grid.columns,
                wavelength_nm=settings.wavelength,
                read_type=settings.read_type,
            )
        )
    if not reads:
        raise ParseError("the Magellan sheet has plate grids but no readings in them")
    return PlateResult(
        reads=tuple(reads),
        instrument_serial=settings.serial,
        measured_at=settings.measured_at,
        warnings=tuple(warnings),
    )


def _at(row: tuple[Any, ...], column: int | None) -> Any:
    if column is None or column >= len(row):
        return None
    return row[column]
