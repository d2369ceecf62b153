"""BioTek / Agilent Gen5 text export (verified: Gen5 3.12.08, mock BCA and Lowry exports).

Layout (INSTRUMENT-FORMATS §6.1): tab separated, CRLF, ASCII/cp1252, blank lines first.
Each plate has a header (``Software Version``, ``Experiment File Path:``, ``Plate Number``,
``Date`` as M/D/YYYY, ``Time``, ``Reader Type:``, ``Reader Serial Number:``), then
``Procedure Details`` (``Plate Type\\t96 WELL PLATE…``, ``Read`` steps, ``Wavelengths:``),
then matrix blocks: a title line (``Layout``, ``Results``, ``660``, ``Conc``…), a header
``\\t1\\t2…\\t12`` and one or more lines per plate row — the row letter (continuation lines
leave it empty), one cell per column, and the line's label in the column after the last
(column 14 on a 96-well plate). A multi-plate export repeats the whole header per plate.

* Layout labels: ``Well ID`` (``STDn`` standard, ``SPLn`` or ``SPLn:k`` sample n at dilution
  step k, ``BLK`` blank, anything else — ``CTLn``, ``POS``, ``NEG`` — an assay control) and
  ``Conc/Dil`` (the standard's concentration, or the sample's dilution as a fraction).
* Data labels: a raw read is ``<step>:<nm>`` or ``<nm>`` (``630nmAbsRead:630``, ``660``),
  ``<step>:<ex>,<em>`` for fluorescence filters, ``Lum`` for luminescence. ``Blank …``,
  ``[Concentration]``, ``Conc`` and other data-reduction sets are not read (only when a plate
  has no raw read are its ``Blank …`` sets returned, with ``reduced=True``).

Result: one ``PlateRead`` per plate × raw read; ``values`` has every well of the plate, None
where Gen5 wrote no number (``OVRFLW``, ``*0.356*`` masked, ``<0.000``, ``?????``, empty;
each noted in ``warnings``). ``layout`` = {well: {"role", "concentration", "name"}} plus
"dilution" for samples as a factor ≥ 1 (Gen5's fraction 0.5 becomes 2; a value above 1 is
taken as a factor already). Gen5 does not state the standards' unit, so their concentrations
are kept as written (a warning says so). ``measured_at`` is the first plate's Date + Time.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import PureWindowsPath
from typing import Any

from ._text import decode_head, decode_text, norm_key, read_or_parse_error, split_lines, to_float
from .base import ParseError
from .results import PlateRead, PlateResult
from .softmax import PLATE_SIZES, WellNotes, plate_wells, row_index, row_letters, sniff_decimal

_PLATE_TYPE = re.compile(r"\b(\d{1,4})\b")
_READ_KIND = re.compile(
    r"^(absorbance|fluorescence|luminescence)\s+(endpoint|kinetic|spectrum|area scan|well scan)",
    re.IGNORECASE,
)
_WAVELENGTHS = re.compile(r"^wavelengths?\s*:\s*(.*)$", re.IGNORECASE)
_WAVELENGTH_LABEL = re.compile(r"^(?:(?P<step>.+):)?(?P<nm>\d{3,4}(?:\.\d+)?)$")
_FILTER_LABEL = re.compile(r"^(?:(?P<step>.+):)?(?P<ex>\d{3,4})(?:/\d+)?,(?P<em>\d{3,4})(?:/\d+)?$")
_WELL_ID = re.compile(r"^(?P<kind>[A-Za-z]+)(?P<number>\d*)(?::(?P<step>\d+))?$")
_NO_SERIAL = {"", "n/a", "na", "unknown", "none", "-"}
_DETECT_KEYS = ("experiment file path", "plate number", "procedure details", "reader type")


class Gen5Parser:
    format = "gen5"
    label = "BioTek/Agilent Gen5 text export"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        lines = [line.strip() for line in decode_head(head).lstrip("\ufeff").splitlines()]
        filled = [line for line in lines if line]
        # Every Gen5 export seen starts (after blank lines) with "Software Version<TAB>".
        if not filled or not filled[0].casefold().startswith("software version\t"):
            return False
        keys = {norm_key(line.split("\t", 1)[0]).rstrip(":") for line in filled}
        return any(key in keys for key in _DETECT_KEYS)

    def parse(self, data: bytes, name: str = "") -> PlateResult:
        return read_or_parse_error(lambda: _Reader(data).read(), file_kind="Gen5")


class _Block:
    """One matrix: its title, column count and, per label, {well: cell text}."""

    def __init__(self, title: str, columns: int, line: int) -> None:
        self.title = title
        self.columns = columns
        self.line = line
        self.labels: dict[str, dict[tuple[int, int], str]] = {}
        self.label_lines: dict[str, int] = {}


class _Section:
    """One plate of the export: its header, procedure and matrix blocks."""

    def __init__(self) -> None:
        self.header: dict[str, str] = {}
        self.read_kind = ""
        self.steps: list[str] = []
        self.wavelengths: list[float] = []
        self.full_plate = False
        self.blocks: list[_Block] = []


class _Reader:
    def __init__(self, data: bytes) -> None:
        text, self.encoding = decode_text(data)
        self.lines = split_lines(text)
        self.sections: list[_Section] = []
        self.warnings: list[str] = []
        self.notes = WellNotes()
        self.layout: dict[str, dict[str, Any]] = {}
        self.layout_plate: dict[str, str] = {}
        self.unit_noted = False

    def read(self) -> PlateResult:
        self._scan()
        if not self.sections:
            raise ParseError('not a Gen5 export: there is no "Software Version" line')
        reads: list[PlateRead] = []
        found_labels: list[str] = []
        for number, section in enumerate(self.sections, start=1):
            reads += self._plate(section, number, found_labels)
        if not reads:
            if not found_labels:
                raise ParseError(
                    "no plate matrix (a title line, then a \\t1\\t2… column header) in the"
                    " export; kinetic, spectral and column-format exports are not supported",
                    line=len(self.lines),
                )
            listed = ", ".join(dict.fromkeys(found_labels))
            raise ParseError(
                f"no raw read in the export, only calculated data ({listed[:200]})",
                line=len(self.lines),
            )
        first = self.sections[0]
        return PlateResult(
            reads=tuple(reads),
            software_version=self._software(first),
            instrument_serial=self._serial(),
            measured_at=self._measured_at(first),
            layout=self.layout,
            description=self._description(first),
            warnings=tuple(self.warnings + self.notes.messages()),
        )

    # -- scanning --------------------------------------------------------------------------

    def _scan(self) -> None:
        section: _Section | None = None
        index = 0
        while index < len(self.lines):
            cells = self.lines[index].split("\t")
            key = norm_key(cells[0]).rstrip(":").strip()
            value = cells[1].strip() if len(cells) > 1 else ""
            if key == "software version":  # each plate of a multi-plate export repeats it
                section = _Section()
                self.sections.append(section)
            if section is None:
                index += 1
                continue
            if key == "plate number" and "plate number" in section.header:
                section = _Section()  # a plate without its own Software Version line
                self.sections.append(section)
            if key and key not in section.header and len(cells) > 1:
                section.header[key] = value
            if key == "read" and value and not _READ_KIND.match(value):
                section.steps.append(value)
            self._procedure(section, cells)
            columns = _matrix_columns(cells)
            if columns:
                index = self._matrix(section, index, columns)
                continue
            index += 1

    def _procedure(self, section: _Section, cells: list[str]) -> None:
        for cell in cells[:2]:
            text = cell.strip()
            kind = _READ_KIND.match(text)
            if kind and not section.read_kind:
                section.read_kind = f"{kind.group(1).casefold()} {kind.group(2).casefold()}"
            if norm_key(text) == "full plate":
                section.full_plate = True
            wavelengths = _WAVELENGTHS.match(text)
            if wavelengths:
                for token in re.split(r"[,;\s]+", wavelengths.group(1).strip()):
                    try:
                        section.wavelengths.append(to_float(token))
                    except ValueError:
                        continue

    def _matrix(self, section: _Section, index: int, columns: int) -> int:
        """Read the block whose column header is on ``index``; the next line to scan."""
        title = self._title(index)
        block = _Block(title, columns, index + 1)
        section.blocks.append(block)
        row = -1
        index += 1
        while index < len(self.lines):
            cells = self.lines[index].split("\t")
            if not any(cell.strip() for cell in cells):
                break
            letters = cells[0].strip()
            if letters:
                row = row_index(letters)
                if row < 0 or sum(1 for cell in cells if cell.strip()) == 1:
                    break  # the next section ("StdCurve Fitting Results", a title) starts
            elif row < 0:
                raise ParseError(
                    f'the "{title}" block has values before its first row letter',
                    line=index + 1,
                )
            if len(cells) < columns + 1:
                raise ParseError(
                    f'row {row_letters(row)} of the "{title}" block has {len(cells) - 1} of'
                    f" {columns} values (the file is truncated or edited)",
                    line=index + 1,
                )
            label = cells[columns + 1].strip() if len(cells) > columns + 1 else ""
            label = label or title
            by_well = block.labels.setdefault(label, {})
            block.label_lines.setdefault(label, index + 1)
            if (row, 1) in by_well:
                raise ParseError(
                    f'row {row_letters(row)} appears twice for "{label}" in the "{title}" block',
                    line=index + 1,
                )
            for column in range(1, columns + 1):
                by_well[(row, column)] = cells[column]
            index += 1
        return index

    def _title(self, index: int) -> str:
        for back in range(index - 1, max(-1, index - 4), -1):
            cells = [cell.strip() for cell in self.lines[back].split("\t")]
            filled = [cell for cell in cells if cell]
            if filled:
                return filled[0] if len(filled) == 1 else ""
        return ""

    # -- one plate -------------------------------------------------------------------------

    def _plate(self, section: _Section, number: int, found: list[str]) -> list[PlateRead]:
        name = section.header.get("plate number") or f"Plate {number}"
        rows, columns = self._dimensions(section, name)
        raw: list[tuple[str, _Block]] = []
        blanked: list[tuple[str, _Block]] = []
        for block in section.blocks:
            if block.columns > columns:
                raise ParseError(
                    f'the "{block.title}" block of {name} has {block.columns} columns, more'
                    f" than a {rows * columns}-well plate",
                    line=block.line,
                )
            for label, by_well in block.labels.items():
                beyond = max(row for row, _ in by_well)
                if beyond >= rows:
                    raise ParseError(
                        f'"{label}" of {name} has row {row_letters(beyond)}, beyond the {rows}'
                        " rows of the plate",
                        line=block.label_lines[label],
                    )
            if norm_key(block.title) == "layout":
                self._layout(block, name)
                continue
            for label in block.labels:
                found.append(label)
                if self._raw_kind(section, label) is not None:
                    raw.append((label, block))
                elif label.casefold().startswith("blank ") and self._raw_kind(
                    section, label[6:].strip()
                ):
                    blanked.append((label, block))
        chosen, reduced = (raw, False) if raw else (blanked, True)
        reads = []
        seen: dict[str, dict[str, float | None]] = {}
        for label, block in chosen:
            values = self._values(section, name, label, block, rows, columns)
            if label in seen:
                if seen[label] != values:
                    self.warnings.append(
                        f'{name}: "{label}" appears twice with different values; the first was kept'
                    )
                continue
            seen[label] = values
            label_for_raw = label[6:].strip() if reduced else label
            read_type, wavelength = self._raw_kind(section, label_for_raw) or ("", None)
            reads.append(
                PlateRead(
                    values=values,
                    rows=rows,
                    columns=columns,
                    plate_name=name,
                    wavelength_nm=wavelength,
                    read_type=read_type,
                    reduced=reduced,
                )
            )
        return reads

    def _dimensions(self, section: _Section, name: str) -> tuple[int, int]:
        plate_type = section.header.get("plate type", "")
        # "96 WELL PLATE (Use plate lid)", "Generic 96 UV": the first plate size named.
        for number in _PLATE_TYPE.findall(plate_type):
            if int(number) in PLATE_SIZES:
                return PLATE_SIZES[int(number)]
        # No Plate Type line: the widest matrix tells the plate.
        widest = max((block.columns for block in section.blocks), default=0)
        for rows, columns in PLATE_SIZES.values():
            if columns >= widest:
                return rows, columns
        raise ParseError(f"{name}: {widest} columns is not a standard plate")

    def _raw_kind(self, section: _Section, label: str) -> tuple[str, float | None] | None:
        """(read type, wavelength) when ``label`` names a raw read, else None."""
        kind = section.read_kind.split(" ", 1)[0]
        text = label.strip()
        if text.casefold().startswith("blank "):
            return None
        match = _WAVELENGTH_LABEL.match(text)
        if match:
            return kind or "absorbance", to_float(match.group("nm"))
        match = _FILTER_LABEL.match(text)
        if match:
            return kind or "fluorescence", to_float(match.group("em"))
        if text.casefold() == "lum" or text.casefold().endswith(":lum"):
            return kind or "luminescence", None
        if text in section.steps:
            single = section.wavelengths[0] if len(section.wavelengths) == 1 else None
            return kind, single
        return None

    def _values(
        self,
        section: _Section,
        name: str,
        label: str,
        block: _Block,
        rows: int,
        columns: int,
    ) -> dict[str, float | None]:
        by_well = block.labels[label]
        found_rows = {row for row, _ in by_well}
        if section.full_plate and len(found_rows) < rows and block.columns == columns:
            raise ParseError(
                f'{name}: the full-plate read "{label}" has {len(found_rows)} of {rows} rows'
                " (the file is truncated or edited)",
                line=block.label_lines[label],
            )
        decimal = sniff_decimal(list(by_well.values()))
        values: dict[str, float | None] = dict.fromkeys(plate_wells(rows, columns))
        where = f"{name}, {label}"
        for (row, column), text in by_well.items():
            well = f"{row_letters(row)}{column}"
            value, kind = _value(text, decimal)
            values[well] = value
            if kind:
                self.notes.add(where, kind, well)
        return values

    # -- layout ----------------------------------------------------------------------------

    def _layout(self, block: _Block, plate: str) -> None:
        ids = next((v for k, v in block.labels.items() if norm_key(k) == "well id"), {})
        amounts = next((v for k, v in block.labels.items() if norm_key(k) == "conc/dil"), {})
        decimal = sniff_decimal(list(amounts.values()))
        standards = 0
        for (row, column), text in ids.items():
            well_id = text.strip()
            if not well_id:
                continue
            well = f"{row_letters(row)}{column}"
            amount = _number(amounts.get((row, column), ""), decimal)
            match = _WELL_ID.match(well_id)
            kind = match.group("kind").upper() if match else ""
            base = f"{match.group('kind')}{match.group('number')}" if match else well_id
            entry: dict[str, Any] = {"role": "control", "concentration": None, "name": base}
            if kind == "STD":
                entry["role"] = "standard"
                entry["concentration"] = amount
                standards += amount is not None
            elif kind == "BLK":
                entry["role"] = "blank"
            elif kind == "SPL":
                entry["role"] = "sample"
                factor = self._dilution(amount, plate, well)
                if factor is not None:
                    entry["dilution"] = factor
            else:
                entry["concentration"] = amount
            self._place(well, entry, plate)
        if standards and not self.unit_noted:
            self.unit_noted = True
            self.warnings.append(
                "Gen5 does not state the standards' unit: their concentrations are kept as"
                " written (check that they are µg/mL)"
            )

    def _dilution(self, amount: float | None, plate: str, well: str) -> float | None:
        if amount is None:
            return None
        if amount <= 0:
            self.warnings.append(f"{plate} {well}: dilution {amount:g} is not positive; ignored")
            return None
        if amount > 1:
            return amount
        factor = 1 / amount if amount >= 1e-300 else math.inf
        if not math.isfinite(factor):
            self.warnings.append(f"{plate} {well}: dilution {amount:g} is out of range; ignored")
            return None
        # 0.333 (1:3 written with three decimals) is a dilution of 3, not 3.003.
        nearest = round(factor)
        return float(nearest) if abs(factor - nearest) <= 0.005 * factor else factor

    def _place(self, well: str, entry: dict[str, Any], plate: str) -> None:
        existing = self.layout.get(well)
        if existing is None:
            self.layout[well] = entry
            self.layout_plate[well] = plate
        elif existing != entry:
            self.warnings.append(
                f"well {well} has a different layout on {plate} than on"
                f" {self.layout_plate[well]}; the layout keeps {self.layout_plate[well]}"
            )

    # -- header fields ---------------------------------------------------------------------

    def _software(self, section: _Section) -> str:
        version = section.header.get("software version", "")
        return f"Gen5 {version}" if version else "Gen5"

    def _serial(self) -> str:
        for section in self.sections:
            serial = section.header.get("reader serial number", "")
            if norm_key(serial) not in _NO_SERIAL:
                return serial
        return ""

    def _description(self, section: _Section) -> str:
        path = section.header.get("experiment file path", "")
        return PureWindowsPath(path).name if path else ""

    def _measured_at(self, section: _Section) -> datetime | None:
        date, time = section.header.get("date", ""), section.header.get("time", "")
        if not date:
            return None
        when = _when(date, time)
        if when is None:
            self.warnings.append(f'the date and time "{date} {time}" could not be read')
        return when


# --- small pure helpers ---------------------------------------------------------------------


def _matrix_columns(cells: list[str]) -> int:
    """n when the line is a matrix column header ``\\t1\\t2…\\tn``, else 0."""
    if cells[0].strip() or len(cells) < 2:
        return 0
    numbers = [cell.strip() for cell in cells[1:]]
    while numbers and not numbers[-1]:
        numbers.pop()
    if not numbers or len(numbers) > 48:
        return 0
    if numbers != [str(n) for n in range(1, len(numbers) + 1)]:
        return 0
    return len(numbers)


def _value(text: str, decimal: str) -> tuple[float | None, str]:
    """The well's number, or None and why."""
    s = text.strip()
    if not s:
        return None, "empty"
    try:
        return to_float(s, decimal), ""
    except ValueError:
        pass
    if s.upper() == "OVRFLW":
        return None, "saturated (OVRFLW)"
    if len(s) > 2 and s.startswith("*") and s.endswith("*"):
        return None, f"masked in Gen5 as {s[:20]}"
    if s[0] in "<>":
        return None, f"out of range ({s[:20]})"
    if set(s) == {"?"}:
        return None, f"not written ({s[:20]})"
    return None, f'marked "{s[:20]}"'


def _number(text: str, decimal: str) -> float | None:
    s = text.strip()
    if not s:
        return None
    try:
        return to_float(s, decimal)
    except ValueError:
        return None


def _when(date: str, time: str) -> datetime | None:
    """Date + Time as Gen5 writes them: M/D/YYYY (D/M/YYYY when the first part cannot be a
    month), D.M.YYYY or YYYY-MM-DD, and 12- or 24-hour times."""
    parts = re.split(r"[/.\-]", date.strip())
    if len(parts) != 3 or not all(p.isdecimal() for p in parts):
        return None
    a, b, c = (int(p) for p in parts)
    if "-" in date:
        year, month, day = a, b, c
    elif "." in date or a > 12:
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if year < 100:
        year += 2000
    hour = minute = second = 0
    t = time.strip().upper()
    if t:
        match = re.match(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM)?$", t)
        if not match:
            return None
        hour, minute = int(match.group(1)), int(match.group(2))
        second = int(match.group(3) or 0)
        if match.group(4):
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if match.group(4) == "PM" else 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
