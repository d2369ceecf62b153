"""Plate tables in spreadsheets and text files: the catch-all ``GenericPlateParser`` and the
sheet toolkit the SkanIt and Magellan readers share (INSTRUMENT-FORMATS.md §6).

What the generic parser reads (one CSV/TSV file, or the first sheet of an .xlsx that holds
plate data):

* **Grids**: a header row ``1 … 12`` (or ``1 … 24``) with row labels ``A … H`` (``A … P``) in
  the column before it. Several grids one after another are several reads; the text above a
  grid (or in its corner cell) gives its wavelength (``562 nm``, ``Wavelength: 562``, a lone
  ``562``), its plate (``Plate 1``) and its read type (``Abs``/``OD``, ``RFU``, ``RLU``). A
  grid holding only text (``STD1``, ``Blank``, ``S3``) is a plate map: it fills ``layout``.
* **Well lists**: a header with ``Well`` and a value column (``Value``, ``OD``, ``Abs``,
  ``Absorbance``, ``Raw data``, ``Signal``, ``RFU``, ``RLU``, or ``A562``/``OD 562 nm`` with
  the wavelength in the name); optional ``Wavelength``, ``Plate``, ``Sample``, ``Role``,
  ``Concentration [unit]`` and ``Dilution`` columns. One read per plate × wavelength × value
  column; the descriptive columns fill ``layout``. A list without a value column is a
  layout only (useful next to a grid of readings).

``layout`` entries look like those of the other plate parsers: {well: {"role",
"concentration", "name"}} plus "dilution" (a factor ≥ 1; ``1:10`` is 10) and "unit" when a
concentration's unit is not a mass concentration (mass units are converted to µg/mL). Roles
come from a role column (Standard/STD, Blank/BLK, Unknown/Sample, Control/QC) or else from
the name's prefix (``STD3`` standard, ``Blank`` blank, ``Ctrl`` control, anything else
sample).

Text files may be comma, semicolon or tab separated, in any encoding ``_text`` reads, with
decimal commas. Cells that are not numbers (``OVRFLW``, ``*0.356*``) are read as no value and
listed in ``warnings``; ``NaN``, ``n/a`` and empty cells are silently no value.

Detection sees the file name and the first 4096 bytes only, and this parser is registered
last, so it is conservative: a text file is claimed only when its head shows a ``1 … 12``
header followed by an ``A`` row with a number in it, or a ``Well`` + value header followed
by a well with a number; heads carrying another format's signature (Gen5, SoftMax Pro, NTA,
ZetaView, QuantStudio, qPCR well tables) are refused. An .xlsx cannot be recognised from its
first 4096 bytes (they hold a few compressed ZIP members, rarely the sheets), so a ZIP is
claimed when its name ends ``.xlsx`` and the visible member names are those of a
spreadsheet; the dedicated readers (SkanIt, Magellan) get the first chance in the registry.
When such a workbook turns out to be a SkanIt or Magellan export after all (their heads do
not always show it), ``parse`` reads it with that reader and says so in ``warnings``;
``identify_workbook(data)`` tells a caller holding the whole file which vendor key applies.

Workbook safety: the ZIP must unpack to less than ``MAX_UNPACKED_BYTES`` (checked from the
central directory before openpyxl sees it; zipfile never inflates past the declared sizes),
openpyxl runs read-only with defusedxml, and at most ``MAX_SHEETS`` sheets of
``MAX_ROWS`` × ``MAX_COLUMNS`` cells, ``MAX_TOTAL_ROWS`` rows in all, are read.
"""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from ._text import decode_head, decode_text, norm_key, read_or_parse_error, split_lines, to_float
from .base import ParseError
from .results import PlateRead, PlateResult

MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_MEMBERS = 10_000
MAX_SHEETS = 64
MAX_ROWS = 2000  # per sheet
MAX_COLUMNS = 60
MAX_TOTAL_ROWS = 40_000  # over all sheets: a workbook of many full sheets stays cheap

ROW_LETTERS = "ABCDEFGHIJKLMNOP"
ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
_WELL = re.compile(r"^\s*([A-Pa-p])\s*0*([1-9]\d?)\s*$")
_SILENT_EMPTY = {"", "nan", "n/a", "na", "-", "--", "none"}


# --- Sheets: the cells of a workbook sheet or a delimited text file ---------------------------


@dataclass(frozen=True)
class Sheet:
    """The cells of one sheet, row by row (``rows[0]`` is spreadsheet row 1); cells are
    what openpyxl returns (str, int, float, datetime, bool, None) or str/None from text."""

    title: str
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool = False

    def texts(self, row: int) -> list[tuple[int, str]]:
        """(column, stripped text) of the non-empty cells of a row."""
        if not 0 <= row < len(self.rows):
            return []
        found = []
        for column, value in enumerate(self.rows[row]):
            text = cell_text(value)
            if text:
                found.append((column, text))
        return found

    @property
    def first_text(self) -> str:
        for index in range(min(len(self.rows), 5)):
            texts = self.texts(index)
            if texts:
                return texts[0][1]
        return ""


def cell_text(value: Any) -> str:
    """A cell as display text: integral floats without ``.0``, whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _trim(row: Sequence[Any]) -> tuple[Any, ...]:
    end = len(row)
    while end and (row[end - 1] is None or row[end - 1] == ""):
        end -= 1
    return tuple(row[:end])


def read_workbook(data: bytes, *, file_kind: str) -> list[Sheet]:
    """Every worksheet of an .xlsx (bounded); ParseError for anything that is not a sound,
    reasonably sized workbook."""
    if data[:8] == _OLE_MAGIC:
        raise ParseError(f"the {file_kind} file is an old Excel .xls workbook; save it as .xlsx")
    if data[:4] != ZIP_MAGIC:
        raise ParseError(f"the {file_kind} file is not an .xlsx workbook (no ZIP signature)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception as exc:  # zipfile raises several types for damaged archives
        raise ParseError(
            f"the {file_kind} workbook is a damaged ZIP archive ({type(exc).__name__})"
        ) from None
    if len(members) > MAX_MEMBERS:
        raise ParseError(f"the {file_kind} workbook has {len(members)} parts; too many to read")
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ParseError(
            f"the {file_kind} workbook unpacks to {unpacked // (1024 * 1024)} MB, more than "
            f"{MAX_UNPACKED_BYTES // (1024 * 1024)} MB"
        )
    names = {member.filename for member in members}
    if "[Content_Types].xml" not in names:
        raise ParseError(f"the {file_kind} file is a ZIP archive but not an Excel workbook")

    from openpyxl import load_workbook  # only needed for workbooks

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise ParseError(
            f"the {file_kind} workbook cannot be opened ({type(exc).__name__})"
        ) from None
    sheets: list[Sheet] = []
    budget = MAX_TOTAL_ROWS
    try:
        for worksheet in workbook.worksheets[:MAX_SHEETS]:
            sheet = _read_worksheet(worksheet, min(MAX_ROWS, budget))
            budget -= len(sheet.rows)
            sheets.append(sheet)
    except Exception as exc:
        raise ParseError(
            f"the {file_kind} workbook cannot be read ({type(exc).__name__})"
        ) from None
    finally:
        workbook.close()
    if not sheets:
        raise ParseError(f"the {file_kind} workbook has no worksheets")
    return sheets


def _read_worksheet(worksheet: Any, max_rows: int) -> Sheet:
    rows: list[tuple[Any, ...]] = []
    truncated = False
    # One row and one column more than kept, to know whether anything was cut off.
    for row in worksheet.iter_rows(
        min_row=1, max_row=max_rows + 1, max_col=MAX_COLUMNS + 1, values_only=True
    ):
        if len(rows) == max_rows:
            truncated = truncated or any(value is not None for value in row)
            break
        if len(row) > MAX_COLUMNS and row[MAX_COLUMNS] is not None:
            truncated = True
        rows.append(_trim(row[:MAX_COLUMNS]))
    while rows and not rows[-1]:
        rows.pop()
    return Sheet(title=str(worksheet.title), rows=tuple(rows), truncated=truncated)


def read_delimited(data: bytes) -> tuple[Sheet, str]:
    """A CSV/TSV file as one sheet, and its decimal mark ("." or ",")."""
    text, _codec = decode_text(data)
    lines = split_lines(text)
    delimiter = sniff_delimiter(lines[:50])
    rows: list[tuple[Any, ...]] = []
    truncated = False
    try:
        reader = csv.reader(lines, delimiter=delimiter)
        for cells in reader:
            if len(rows) == MAX_ROWS:
                truncated = True
                break
            if len(cells) > MAX_COLUMNS:
                truncated = truncated or any(c.strip() for c in cells[MAX_COLUMNS:])
            rows.append(_trim([c.strip() or None for c in cells[:MAX_COLUMNS]]))
    except csv.Error as exc:
        raise ParseError(f"the file cannot be read as delimited text: {exc}") from None
    while rows and not rows[-1]:
        rows.pop()
    if not rows:
        raise ParseError("the file contains no table")
    decimal = "," if delimiter != "," and _decimal_commas(rows) else "."
    return Sheet(title="", rows=tuple(rows), truncated=truncated), decimal


def sniff_delimiter(lines: Sequence[str]) -> str:
    """Tab, semicolon or comma: the one found on the most lines (ties: tab, then ;)."""
    best, best_score = ",", (0, 0)
    for delimiter in ("\t", ";", ","):
        score = (
            sum(1 for line in lines if delimiter in line),
            sum(line.count(delimiter) for line in lines),
        )
        if score > best_score:
            best, best_score = delimiter, score
    return best


_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_POINT_NUMBER = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")


def _decimal_commas(rows: Sequence[Sequence[Any]]) -> bool:
    commas = points = 0
    for row in rows[:500]:
        for cell in row:
            if isinstance(cell, str):
                if _COMMA_NUMBER.match(cell):
                    commas += 1
                elif _POINT_NUMBER.match(cell):
                    points += 1
    return commas > points


# --- Cells ------------------------------------------------------------------------------------


def cell_number(value: Any, decimal: str = ".") -> tuple[float | None, str]:
    """(number, marker): a finite float, or None with the text the cell held. The marker is
    "" for cells that mean "no value" (empty, NaN, n/a), so callers can warn about the rest
    (``OVRFLW``, ``*0.356*``, ``> Max``)."""
    if value is None:
        return None, ""
    if isinstance(value, bool) or isinstance(value, (datetime, date, time, timedelta)):
        return None, cell_text(value)
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None, cell_text(value)
        return (number, "") if math.isfinite(number) else (None, "")
    text = cell_text(value)
    if text.casefold() in _SILENT_EMPTY:
        return None, ""
    try:
        return to_float(text, decimal), ""
    except ValueError:
        return None, text


def column_number(value: Any) -> int | None:
    """The plate column a header cell names (1, 1.0, "01", "1.0"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(".0"):
            text = text[:-2]
        if text.isascii() and text.isdigit() and len(text) <= 3:
            return int(text)
    return None


def well_name(value: Any) -> str | None:
    """ "A1" for A1, a01, " B 12 "; None when the cell is not a well of a 384-well plate."""
    if not isinstance(value, str):
        return None
    match = _WELL.match(value)
    if not match or int(match.group(2)) > 24:
        return None
    return f"{match.group(1).upper()}{int(match.group(2))}"


def plate_shape(wells: Sequence[str]) -> tuple[int, int]:
    """(rows, columns) of the smallest of 96/384-well plates holding ``wells``."""
    for rows, columns in ((8, 12), (16, 24)):
        if all(ROW_LETTERS.index(w[0]) < rows and int(w[1:]) <= columns for w in wells if w):
            return rows, columns
    return 16, 24


# --- Grids ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """A plate grid: header row ``top`` holds 1…N from column ``left + 1``, the row labels
    sit in column ``left`` (whose header cell is ``corner``); ``cells`` maps well → raw cell
    for the plate rows present (``bottom`` is the last one)."""

    top: int
    left: int
    bottom: int
    corner: str
    rows: int
    columns: int
    cells: dict[str, Any]


def grid_header(row: Sequence[Any]) -> tuple[int, int] | None:
    """(corner column, plate columns 12 or 24) when ``row`` is a 1…12 / 1…24 header."""
    for start in range(1, len(row)):
        if column_number(row[start]) != 1:
            continue
        count = 1
        while start + count < len(row) and column_number(row[start + count]) == count + 1:
            count += 1
        if count >= 24:
            return start - 1, 24
        if count >= 12:
            return start - 1, 12
    return None


def find_grids(rows: Sequence[Sequence[Any]]) -> list[Grid]:
    """Every plate grid of a sheet, top to bottom; a grid needs at least its ``A`` row."""
    grids: list[Grid] = []
    index = 0
    while index < len(rows):
        grid = _grid_at(rows, index)
        if grid is None:
            index += 1
        else:
            grids.append(grid)
            index = grid.bottom + 1
    return grids


def _grid_at(rows: Sequence[Sequence[Any]], top: int) -> Grid | None:
    header = grid_header(rows[top])
    if header is None:
        return None
    left, columns = header
    plate_rows = 16 if columns == 24 else 8
    cells: dict[str, Any] = {}
    bottom = top
    for offset in range(plate_rows):
        index = top + 1 + offset
        if index >= len(rows):
            break
        row = rows[index]
        label = row[left] if left < len(row) else None
        letter = ROW_LETTERS[offset]
        if not isinstance(label, str) or label.strip().upper() != letter:
            break
        for column in range(1, columns + 1):
            position = left + column
            cells[f"{letter}{column}"] = row[position] if position < len(row) else None
        bottom = index
    if bottom == top:
        return None
    corner = cell_text(rows[top][left])
    return Grid(top, left, bottom, corner, plate_rows, columns, cells)


@dataclass(frozen=True)
class GridValues:
    values: dict[str, float | None]
    markers: dict[str, str]  # well → text that is not a number
    numbers: int


def grid_values(grid: Grid, decimal: str = ".") -> GridValues:
    values: dict[str, float | None] = {}
    markers: dict[str, str] = {}
    numbers = 0
    for well, raw in grid.cells.items():
        number, marker = cell_number(raw, decimal)
        values[well] = number
        if number is not None:
            numbers += 1
        elif marker:
            markers[well] = marker
    return GridValues(values, markers, numbers)


def marker_warning(what: str, markers: dict[str, str]) -> str:
    shown = ", ".join(f'{well} "{text}"' for well, text in list(markers.items())[:8])
    more = f" and {len(markers) - 8} more" if len(markers) > 8 else ""
    return f"{what}: {len(markers)} well(s) hold no number and were read as empty ({shown}{more})"


# --- Lab vocabulary: roles, units, wavelengths, dates -----------------------------------------

_ROLE_WORDS = {
    "standard": "standard",
    "standards": "standard",
    "std": "standard",
    "calibrator": "standard",
    "calibration": "standard",
    "cal": "standard",
    "blank": "blank",
    "blanks": "blank",
    "blk": "blank",
    "bl": "blank",
    "sample": "sample",
    "samples": "sample",
    "unknown": "sample",
    "unknowns": "sample",
    "unk": "sample",
    "un": "sample",
    "spl": "sample",
    "control": "control",
    "controls": "control",
    "ctrl": "control",
    "qc": "control",
}
_ROLE_PREFIX = re.compile(
    r"^(?:(?P<standard>std|standard|calibrator)|(?P<blank>blank|blk)|"
    r"(?P<control>ctrl|control|qc))(?![a-z])",
    re.IGNORECASE,
)


def role_from_name(name: str) -> str:
    """The role a well ID implies: ``Std0001``/``STD3`` standard, ``Blank1``/``BLK`` blank,
    ``Ctrl1``/``QC`` control, anything else a sample (``Un0001``, ``SPL1``, ``EXO-000123``)."""
    match = _ROLE_PREFIX.match(name.strip())
    if match:
        return match.lastgroup or "sample"
    return "sample"


def role_from_word(text: str) -> str | None:
    """A role column's value (Standard, STD, Blank, Unknown, Ctrl…), or None if unknown."""
    key = norm_key(text)
    if key in _ROLE_WORDS:
        return _ROLE_WORDS[key]
    match = _ROLE_PREFIX.match(key)
    return match.lastgroup if match else None


# Mass concentration units → factor to µg/mL (the lab's unit for protein assays).
_TO_UG_PER_ML = {
    "ug/ml": 1.0,
    "microg/ml": 1.0,
    "mcg/ml": 1.0,
    "mg/l": 1.0,
    "ng/ul": 1.0,
    "mg/ml": 1000.0,
    "g/l": 1000.0,
    "ug/ul": 1000.0,
    "mg/dl": 10.0,
    "ng/ml": 1e-3,
    "ug/l": 1e-3,
    "pg/ml": 1e-6,
}
UG_PER_ML = "µg/mL"


def concentration_in_ug_per_ml(value: float, unit: str) -> tuple[float, str]:
    """(value, unit): converted to µg/mL when ``unit`` is a mass concentration, else the
    value and unit as written (``""`` when the file gives none)."""
    key = "".join(unit.split()).casefold().replace("\u03bc", "u").replace("\u00b5", "u")
    factor = _TO_UG_PER_ML.get(key)
    if factor is None:
        return value, unit.strip()
    return value * factor, UG_PER_ML


def set_concentration(entry: dict[str, Any], value: float, unit: str) -> str | None:
    """Put a concentration into a layout entry the way every plate parser does: µg/mL when
    the unit converts, else the number with ``"unit"`` as written (no key when the file
    gives no unit). Returns a warning instead when the converted number is not finite."""
    converted, shown = concentration_in_ug_per_ml(value, unit)
    if not math.isfinite(converted):
        return (
            f"the concentration {value:g} {unit} of {entry.get('name', 'a well')} is out of range"
        )
    entry["concentration"] = converted
    if shown and shown != UG_PER_ML:
        entry["unit"] = shown
    return None


def layout_entry(name: str, role: str | None = None) -> dict[str, Any]:
    """A layout entry with the keys every plate parser writes: role, concentration, name."""
    return {"role": role or role_from_name(name), "concentration": None, "name": name}


_AMOUNT = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?)\s*(\S.*)?$")
_RATIO = re.compile(r"^\s*1\s*:\s*(\d+(?:[.,]\d+)?)\s*$")
_UNIT_IN_HEADER = re.compile(r"[\[(]\s*([^\])]+?)\s*[\])]\s*$")


def amount(text: str) -> tuple[float, str] | None:
    """``"0.5 microg/ml"`` → (0.5, "microg/ml"); None when the text is not number + unit."""
    match = _AMOUNT.match(text)
    if not match:
        return None
    try:
        number = to_float(match.group(1), "," if "," in match.group(1) else ".")
    except ValueError:
        return None
    return number, (match.group(2) or "").strip()


def dilution_factor(value: Any, decimal: str = ".") -> float | None:
    """``1:25`` → 25.0, ``25`` → 25.0; None for anything else or a factor below 1."""
    number, _marker = cell_number(value, decimal)
    if number is None and isinstance(value, str):
        match = _RATIO.match(value)
        if match:
            number, _marker = cell_number(match.group(1), ",")
    if number is None or number < 1:
        return None
    return number


def header_unit(header: str) -> str:
    """The unit in a header's trailing brackets: ``Conc. [microg/ml]`` → ``microg/ml``."""
    match = _UNIT_IN_HEADER.search(header)
    return match.group(1) if match else ""


_NM = re.compile(r"(?<![\d.,])(\d{3,4}(?:[.,]\d+)?)\s*nm\b", re.IGNORECASE)
_WAVELENGTH_KEY = re.compile(
    r"(?:wavelength|lambda|λ|\bwl\b)[^0-9]{0,20}?(\d{3,4}(?:[.,]\d+)?)", re.IGNORECASE
)
_BARE_WAVELENGTH = re.compile(r"^\s*(\d{3,4})\s*$")
_ODLIKE = re.compile(r"\b(?:OD|A|Abs)\s*[-_ ]?(\d{3})\b", re.IGNORECASE)  # OD562, A 595


def wavelength_in(text: str, *, bare: bool = False) -> float | None:
    """A wavelength in nm from ``562 nm``, ``Wavelength: 562``, ``OD562``; with ``bare`` a
    lone 3-digit number (a Gen5-style block title) counts too. 200–1100 nm only."""
    for pattern in (_NM, _WAVELENGTH_KEY, _ODLIKE) + ((_BARE_WAVELENGTH,) if bare else ()):
        match = pattern.search(text)
        if match:
            value = float(match.group(1).replace(",", "."))
            if 200 <= value <= 1100:
                return value
    return None


def read_type_in(text: str) -> str:
    key = text.casefold()
    if re.search(r"\b(?:abs|absorbance|od|photometric)\b", key) or _ODLIKE.search(text):
        return "absorbance"
    if re.search(r"\b(?:rfu|fluorescence|fluorometric|fl)\b", key):
        return "fluorescence"
    if re.search(r"\b(?:rlu|luminescence|luminometric)\b", key):
        return "luminescence"
    return ""


_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)")
_DOT_DATE = re.compile(r"(?<!\d)(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\d)")
_SLASH_DATE = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")
_TIME = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?[Mm]\.?)?")


def parse_timestamp(value: Any) -> datetime | None:
    """A naive local date and time from an instrument's text (or a datetime cell).

    ISO ``2021-07-06`` and dotted ``06.07.2021`` (day first) are unambiguous. Slashed dates
    follow the clock: with AM/PM they are US month-first (``6/5/2023 6:09:56 PM`` is 5 June);
    on a 24-hour clock day-first, unless the first number cannot be a month."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    text = cell_text(value)
    if not text:
        return None
    clock = _TIME.search(text)
    day_first = clock is None or not clock.group(4)
    found: tuple[int, int, int] | None = None
    if match := _ISO_DATE.search(text):
        found = int(match.group(1)), int(match.group(2)), int(match.group(3))
    elif match := _DOT_DATE.search(text):
        found = int(match.group(3)), int(match.group(2)), int(match.group(1))
    elif match := _SLASH_DATE.search(text):
        first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        if first > 12 or (day_first and second <= 12):
            found = year, second, first
        else:
            found = year, first, second
    if found is None or match is None:
        return None
    clock = _TIME.search(text, match.end())
    hour = minute = second_ = 0
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        second_ = int(clock.group(3) or 0)
        meridiem = (clock.group(4) or "").lower()
        if meridiem == "p" and hour < 12:
            hour += 12
        elif meridiem == "a" and hour == 12:
            hour = 0
    try:
        return datetime(found[0], found[1], found[2], hour, minute, second_)
    except ValueError:
        return None


# --- Peeking into an .xlsx from its first bytes -------------------------------------------------

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_PEEK_LIMIT = 1 << 18


def zip_head_members(head: bytes) -> list[tuple[str, str]]:
    """(name, start of its text) of each ZIP member whose local header lies in ``head``;
    deflated data is inflated as far as the head reaches. Never raises."""
    members: list[tuple[str, str]] = []
    position = 0
    budget = 4 * _PEEK_LIMIT
    while budget > 0:
        start = head.find(ZIP_MAGIC, position)
        if start < 0 or start + _LOCAL_HEADER.size > len(head):
            break
        fields = _LOCAL_HEADER.unpack_from(head, start)
        method, name_length, extra_length = fields[3], fields[9], fields[10]
        name_end = start + _LOCAL_HEADER.size + name_length
        if name_end > len(head):
            break
        name = head[start + _LOCAL_HEADER.size : name_end].decode("utf-8", "replace")
        body = head[name_end + extra_length :]
        content = b""
        try:
            if method == 8:
                content = zlib.decompressobj(-15).decompress(body, _PEEK_LIMIT)
            elif method == 0:
                content = body[: body.find(ZIP_MAGIC)] if ZIP_MAGIC in body else body
        except zlib.error:
            content = b""
        budget -= len(content)
        members.append((name, content.decode("utf-8", "ignore")))
        position = start + 4
    return members


def is_spreadsheet_zip(head: bytes) -> bool:
    """A ZIP whose visible members are those of an Office Open XML workbook."""
    if head[:4] != ZIP_MAGIC:
        return False
    names = [name for name, _text in zip_head_members(head)]
    if any(
        name.startswith(("word/", "ppt/")) or name in {"mimetype", "rdml_data.xml"}
        for name in names
    ):
        return False
    return any(
        name.startswith(("xl/", "_rels/", "docProps/")) or name == "[Content_Types].xml"
        for name in names
    )


def zip_head_text(head: bytes) -> str:
    """Member names and inflated text visible in the head, for marker searches."""
    return "\n".join(f"{name}\n{text}" for name, text in zip_head_members(head))


# --- The generic parser -----------------------------------------------------------------------

_WELL_HEADERS = {"well", "wells", "well position", "well positions", "well name"}
_VALUE_HEADERS = {
    "value",
    "values",
    "od",
    "abs",
    "absorbance",
    "raw",
    "raw data",
    "raw value",
    "signal",
    "rfu",
    "rlu",
    "fluorescence",
    "luminescence",
    "reading",
    "measurement",
}
_VALUE_WITH_WAVELENGTH = re.compile(
    r"^(?:od|abs|absorbance|a|value|raw|signal)\s*[-_@(\[]?\s*(\d{3,4})\s*(?:nm)?\s*[)\]]?$"
)
_WAVELENGTH_HEADERS = {
    "wavelength",
    "wavelength nm",
    "wavelength (nm)",
    "wavelength [nm]",
    "lambda",
    "λ",
    "wl",
    "nm",
}
_SAMPLE_HEADERS = {"sample", "sample name", "sample id", "name", "id", "label", "sample label"}
_ROLE_HEADERS = {"role", "type", "sample type", "well type", "well role", "kind"}
_CONCENTRATION = re.compile(
    r"^(?:conc\.?|concentration|std\.? conc\.?|standard concentration|"
    r"nominal concentration|expected concentration|known concentration)\s*(?:[\[(].*)?$"
)
_DILUTION_HEADERS = {"dilution", "dilution factor", "df", "dil", "dil."}
_PLATE_HEADERS = {"plate", "plate name", "plate id", "plate number", "plate no", "plate no."}
# Headers that make a well table another instrument's (qPCR) rather than a plate read.
_FOREIGN_HEADERS = {
    "cq",
    "ct",
    "cт",
    "c(t)",
    "fluor",
    "target",
    "target name",
    "reporter",
    "quencher",
    "dye",
}
_FOREIGN_HEAD = re.compile(
    r"^\s*(?:##BLOCKS=|Software Version\t|\"?NTA Experiment Summary|Original File:|"
    r"\* Block Type|\[Sample Setup\]|\[Results\]|FCS[23]\.\d)",
    re.MULTILINE | re.IGNORECASE,
)


def _header_key(value: Any) -> str:
    return norm_key(cell_text(value)).rstrip(":").strip()


@dataclass(frozen=True)
class _Table:
    """Column positions of a well-list header."""

    row: int
    well: int
    values: tuple[tuple[int, str, float | None], ...]  # (column, header, wavelength)
    wavelength: int | None
    plate: int | None
    sample: int | None
    role: int | None
    concentration: int | None
    concentration_unit: str
    dilution: int | None


def _table_header(row: Sequence[Any], index: int) -> _Table | None:
    keys = [_header_key(value) for value in row]
    if any(key in _FOREIGN_HEADERS for key in keys):
        return None
    wells = [i for i, key in enumerate(keys) if key in _WELL_HEADERS]
    if not wells:
        return None
    found: dict[str, int] = {}
    values: list[tuple[int, str, float | None]] = []
    unit = ""
    for i, key in enumerate(keys):
        if i == wells[0] or not key:
            continue
        if key in _VALUE_HEADERS:
            values.append((i, cell_text(row[i]), None))
        elif match := _VALUE_WITH_WAVELENGTH.match(key):
            values.append((i, cell_text(row[i]), wavelength_in(match.group(1), bare=True)))
        elif key in _WAVELENGTH_HEADERS:
            found.setdefault("wavelength", i)
        elif key in _PLATE_HEADERS:
            found.setdefault("plate", i)
        elif key in _SAMPLE_HEADERS:
            found.setdefault("sample", i)
        elif key in _ROLE_HEADERS:
            found.setdefault("role", i)
        elif _CONCENTRATION.match(key):
            if "concentration" not in found:
                found["concentration"] = i
                unit = header_unit(cell_text(row[i]))
        elif key in _DILUTION_HEADERS:
            found.setdefault("dilution", i)
    if not values and not ({"sample", "role", "concentration"} & found.keys()):
        return None
    return _Table(
        row=index,
        well=wells[0],
        values=tuple(values),
        wavelength=found.get("wavelength"),
        plate=found.get("plate"),
        sample=found.get("sample"),
        role=found.get("role"),
        concentration=found.get("concentration"),
        concentration_unit=unit,
        dilution=found.get("dilution"),
    )


def find_well_table(sheet: Sheet) -> _Table | None:
    for index, row in enumerate(sheet.rows):
        table = _table_header(row, index)
        if table is not None:
            return table
    return None


@dataclass
class _Collected:
    reads: list[PlateRead]
    layout: dict[str, dict[str, Any]]
    warnings: list[str]


def _read_well_table(sheet: Sheet, table: _Table, decimal: str, out: _Collected) -> None:
    # (plate, wavelength, value column) → {well: value}; first appearance keeps file order.
    groups: dict[tuple[str, float | None, int], dict[str, float | None]] = {}
    seen_at: dict[tuple[tuple[str, float | None, int], str], int] = {}
    markers: dict[str, str] = {}
    plate = ""
    started = False
    for index in range(table.row + 1, len(sheet.rows)):
        row = sheet.rows[index]
        raw_well = row[table.well] if table.well < len(row) else None
        well = well_name(raw_well)
        if well is None:
            if not cell_text(raw_well):
                continue
            if started:
                break  # the table is over: notes or metadata follow
            continue  # a units line under the header
        started = True
        line = index + 1
        if table.plate is not None and (name := cell_text(_at(row, table.plate))):
            plate = name
        row_wavelength = None
        if table.wavelength is not None:
            raw = _at(row, table.wavelength)
            number, _ = cell_number(raw, decimal)
            row_wavelength = number if number is not None else wavelength_in(cell_text(raw))
        for column, header, header_wavelength in table.values:
            wavelength = header_wavelength if header_wavelength is not None else row_wavelength
            key = (plate, wavelength, column)
            if (key, well) in seen_at:
                raise ParseError(
                    f"well {well} is listed twice (also on line {seen_at[key, well]})",
                    line=line,
                    column=header,
                )
            seen_at[key, well] = line
            number, marker = cell_number(_at(row, column), decimal)
            groups.setdefault(key, {})[well] = number
            if number is None and marker:
                markers[f"{well}"] = marker
        _layout_from_row(row, table, well, decimal, line, out)
    for (plate_name, wavelength, column), values in groups.items():
        header = next(h for c, h, _w in table.values if c == column)
        rows, columns = plate_shape(list(values))
        out.reads.append(
            PlateRead(
                values=values,
                rows=rows,
                columns=columns,
                plate_name=plate_name,
                wavelength_nm=wavelength,
                read_type=read_type_in(header),
            )
        )
    if markers:
        out.warnings.append(marker_warning("well list", markers))


def _at(row: Sequence[Any], column: int | None) -> Any:
    if column is None or column >= len(row):
        return None
    return row[column]


def _layout_from_row(
    row: Sequence[Any], table: _Table, well: str, decimal: str, line: int, out: _Collected
) -> None:
    name = cell_text(_at(row, table.sample))
    role_text = cell_text(_at(row, table.role))
    conc_raw = _at(row, table.concentration)
    dilution_raw = _at(row, table.dilution)
    if not (name or role_text or cell_text(conc_raw) or cell_text(dilution_raw)):
        return
    role = role_from_word(role_text) if role_text else None
    if role_text and role is None:
        out.warnings.append(
            f'line {line}: role "{role_text}" of well {well} is not standard, blank, sample or '
            "control; the role was taken from the sample name"
        )
    entry = layout_entry(name, role)
    number, marker = cell_number(conc_raw, decimal)
    unit = table.concentration_unit
    if number is None and marker and (parsed := amount(marker)):
        number, unit = parsed[0], parsed[1] or unit
    if number is not None and (problem := set_concentration(entry, number, unit)):
        out.warnings.append(f"line {line}: {problem}")
    factor = dilution_factor(dilution_raw, decimal)
    if factor is not None:
        entry["dilution"] = factor
    known = out.layout.setdefault(well, entry)
    # The same well again (another wavelength or plate, or a plate-map grid above): the
    # first description stands and this row only fills what it left open.
    for key, value in entry.items():
        if known.get(key) in (None, "") and value not in (None, ""):
            known[key] = value


# "Plate 1", "Plate #2", "Plate: BCA-7" but not "Plate Type", "Plate template", "Plate reader".
_PLATE_LINE = re.compile(
    r"^plate(?![a-z])(?!\s*(?:type|template|definition|adapter|layout|map|reader|format|size)\b)"
    r"\s*(?:#|no\.?|number|name|id)?\s*[:=]?\s*\S",
    re.IGNORECASE,
)


def _grid_context(sheet: Sheet, start: int, grid: Grid) -> tuple[list[str], str]:
    """Texts between the previous grid and this one (nearest first), and the plate name."""
    texts: list[str] = []
    plate = ""
    for index in range(grid.top - 1, start - 1, -1):
        cells = [text for _column, text in sheet.texts(index)]
        texts.extend(cells)
        if plate or not cells:
            continue
        if len(cells) == 1 and _PLATE_LINE.match(cells[0]):
            plate = cells[0]
        elif len(cells) >= 2 and _header_key(cells[0]) in _PLATE_HEADERS:
            plate = cells[1]
    return texts, plate


def _read_grids(sheet: Sheet, grids: list[Grid], decimal: str, out: _Collected) -> None:
    previous_end = 0
    last_plate = ""
    for grid in grids:
        texts, plate = _grid_context(sheet, previous_end, grid)
        previous_end = grid.bottom + 1
        plate = plate or last_plate
        last_plate = plate
        found = grid_values(grid, decimal)
        if found.numbers == 0:
            if any(cell_text(v) for v in grid.cells.values()):
                _layout_from_grid(grid, out)
            continue
        titled = [grid.corner, *texts]
        wavelength = next(
            (w for t in titled if t and (w := wavelength_in(t, bare=True)) is not None), None
        )
        read_type = next((r for t in titled if t and (r := read_type_in(t))), "")
        out.reads.append(
            PlateRead(
                values=found.values,
                rows=grid.rows,
                columns=grid.columns,
                plate_name=plate,
                wavelength_nm=wavelength,
                read_type=read_type,
            )
        )
        if found.markers:
            where = f' of sheet "{sheet.title}"' if sheet.title else ""
            out.warnings.append(marker_warning(f"grid on row {grid.top + 1}{where}", found.markers))


def _layout_from_grid(grid: Grid, out: _Collected) -> None:
    for well, raw in grid.cells.items():
        name = cell_text(raw)
        if name and well not in out.layout:
            out.layout[well] = layout_entry(name)


def plate_result_from_sheet(sheet: Sheet, decimal: str = ".") -> PlateResult | None:
    """Reads and layout from the grids and well list of one sheet; None if it has none."""
    out = _Collected(reads=[], layout={}, warnings=[])
    grids = find_grids(sheet.rows)
    _read_grids(sheet, grids, decimal, out)
    table = find_well_table(sheet)
    if table is not None:
        _read_well_table(sheet, table, decimal, out)
    if not out.reads:
        return None
    if sheet.truncated:
        out.warnings.append(f"only the first {MAX_ROWS} rows and {MAX_COLUMNS} columns were read")
    return PlateResult(reads=tuple(out.reads), layout=out.layout, warnings=tuple(out.warnings))


_NO_PLATE = (
    "no plate data found: expected a grid with a 1…12 (or 1…24) header and rows A…H "
    "(A…P), or a table with a Well column and a value column (Value, OD, Absorbance…)"
)


def identify_workbook(data: bytes) -> str | None:
    """ "skanit" or "magellan" when a whole .xlsx turns out to be that vendor's export, else
    None; never raises. For callers that have the whole file and got "plate_generic" from
    head-only detection (a Magellan workbook with shared strings shows nothing in its head)."""
    from . import magellan, skanit

    try:
        sheets = read_workbook(data, file_kind="plate")
    except ParseError:
        return None
    if skanit.looks_like_skanit(sheets):
        return "skanit"
    if magellan.looks_like_magellan(sheets):
        return "magellan"
    return None


def _from_workbook(sheets: list[Sheet]) -> PlateResult:
    # Imported here: both readers import this module's toolkit.
    from . import magellan, skanit

    if skanit.looks_like_skanit(sheets):
        result = skanit.result_from_sheets(sheets)
        return replace(result, warnings=(*result.warnings, "read as a Thermo SkanIt export"))
    if magellan.looks_like_magellan(sheets):
        result = magellan.result_from_sheets(sheets)
        return replace(result, warnings=(*result.warnings, "read as a Tecan Magellan export"))
    for position, sheet in enumerate(sheets):
        result = plate_result_from_sheet(sheet)
        if result is None:
            continue
        others = [
            other.title
            for other in sheets[position + 1 :]
            if find_grids(other.rows) or find_well_table(other) is not None
        ]
        if others:
            skipped = ", ".join(f'"{title}"' for title in others)
            note = f'plate data read from sheet "{sheet.title}" only; not read: {skipped}'
            result = replace(result, warnings=(*result.warnings, note))
        return result
    raise ParseError(_NO_PLATE)


def _from_text(data: bytes) -> PlateResult:
    sheet, decimal = read_delimited(data)
    result = plate_result_from_sheet(sheet, decimal)
    if result is None:
        raise ParseError(_NO_PLATE)
    return result


def _split(line: str, delimiter: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.split(delimiter)]


def _head_has_grid(rows: list[list[str]]) -> bool:
    for index, row in enumerate(rows[:-1]):
        header = grid_header(row)
        if header is None:
            continue
        left, columns = header
        following = rows[index + 1]
        if len(following) > left and following[left].upper() == "A":
            cells = following[left + 1 : left + 1 + columns]
            if any(cell_number(cell, ".")[0] is not None for cell in cells):
                return True
    return False


def _head_has_well_table(rows: list[list[str]]) -> bool:
    for index, row in enumerate(rows):
        table = _table_header(row, index)
        if table is None or not table.values:
            continue
        for following in rows[index + 1 : index + 6]:
            if well_name(_at(following, table.well)) and any(
                cell_number(_at(following, column), ",")[0] is not None
                for column, _h, _w in table.values
            ):
                return True
        return False
    return False


def text_head_is_plate(head: bytes) -> bool:
    text = decode_head(head)
    if not text.strip() or _FOREIGN_HEAD.search(text[:2048]):
        return False
    lines = split_lines(text)[:120]
    for delimiter in ("\t", ";", ","):
        if not any(delimiter in line for line in lines):
            continue
        rows = [_split(line, delimiter) for line in lines]
        if _head_has_grid(rows) or _head_has_well_table(rows):
            return True
    return False


class GenericPlateParser:
    format = "plate_generic"
    label = "Plate layout (CSV/XLSX, A1…H12 grid or well,value list)"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        try:
            if head[:4] == ZIP_MAGIC:
                return name.casefold().endswith(".xlsx") and is_spreadsheet_zip(head)
            if head[:8] == _OLE_MAGIC:
                return False
            return text_head_is_plate(head)
        except Exception:  # detection never raises; a parser bug must not block uploads
            return False

    def parse(self, data: bytes, name: str = "") -> PlateResult:
        if data[:4] == ZIP_MAGIC or data[:8] == _OLE_MAGIC:
            sheets = read_workbook(data, file_kind="plate")
            return read_or_parse_error(lambda: _from_workbook(sheets), file_kind="plate")
        return read_or_parse_error(lambda: _from_text(data), file_kind="plate")
