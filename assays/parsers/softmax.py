"""Molecular Devices SoftMax Pro text export (``.txt``, verified on export version 1.3).

Layout (INSTRUMENT-FORMATS §6.2): UTF-16LE with a BOM as written by SoftMax Pro (UTF-8 is
accepted too), CRLF, tab separated. ``##BLOCKS= n`` comes first, then n blocks that each end
with ``~End`` (sometimes ``~End `` with a space), then ``Original Filename: …; Date Last
Saved: …``.

* ``Plate:`` blocks. The header line holds the plate name, the export version,
  ``PlateFormat`` or ``TimeFormat``, the read type (``Endpoint``), the read mode
  (``Absorbance``, ``Fluorescence``…; fluorescence adds one field, which shifts the rest),
  the data type (``Raw`` or ``Reduced``), the wavelengths (space separated), the number of
  columns read and the plate size. *PlateFormat* has a column-number header and one line per
  plate row; several wavelengths sit side by side, one empty column apart; the second cell is
  the temperature. *TimeFormat* (the list export) has a well-name header and one line per
  wavelength, blank-line separated. Either may be followed by a reduced section, which is not
  read when raw data are there.
* ``Group:`` blocks: a table with ``Sample``, ``Wells`` (or ``Well``), the sample descriptor
  (``Standard Value ng/mL``, ``Concentration``, ``Dilution``…) and ``WellPlateName``;
  replicate rows leave ``Sample`` blank. The formula table after it names the descriptor
  column (``!SampleDescriptor``); summaries are not read.
* ``Note:`` blocks and any other kind are skipped.

Result: one ``PlateRead`` per plate × wavelength, in file order (a ``Reduced`` export gives
one read per plate with ``reduced=True``). ``values`` has every well of the plate, ``None``
where the export has no number ("Range?", "Masked", empty, NaN; each noted in ``warnings``).
Groups become ``layout`` = {well: {"role", "concentration", "name", "group"}} plus "unit"
when the file states a unit it could not convert and "dilution" (a factor) when a sample
group has a dilution column. Mass concentrations are converted to µg/mL; other units
(Units/mL…) are kept as written. The group name decides the role: Standards → standard,
Blank… → blank, …Control… → control, anything else (Unknowns, Samples, custom names) →
sample. Kinetic, spectrum and well-scan plates are skipped with a warning.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ._text import decode_head, decode_text, norm_key, read_or_parse_error, split_lines, to_float
from .base import ParseError
from .results import PlateRead, PlateResult

# Plate size -> (rows, columns) for the standard SBS layouts.
PLATE_SIZES: dict[int, tuple[int, int]] = {
    6: (2, 3),
    12: (3, 4),
    24: (4, 6),
    48: (6, 8),
    96: (8, 12),
    384: (16, 24),
    1536: (32, 48),
}
_BLOCKS = re.compile(r"^##BLOCKS=\s*(\d+)\s*$", re.IGNORECASE)
_BLOCK_START = re.compile(r"^(?:plate|group|note)\s*:", re.IGNORECASE)
_WELL = re.compile(r"^([A-Za-z]{1,2})0*([1-9][0-9]{0,2})$")
_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_POINT_NUMBER = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")
_DATA_TYPES = {"raw", "reduced"}
# Mass concentration units -> (multiply, divide) to reach µg/mL; dividing keeps 320 ng/mL at
# exactly 0.32 where × 0.001 would not.
_TO_UG_PER_ML: dict[str, tuple[float, float]] = {
    "pg/ml": (1.0, 1e6),
    "ng/ml": (1.0, 1e3),
    "ug/l": (1.0, 1e3),
    "ug/ml": (1.0, 1.0),
    "mg/l": (1.0, 1.0),
    "ng/ul": (1.0, 1.0),
    "mg/dl": (10.0, 1.0),
    "mg/ml": (1e3, 1.0),
    "g/l": (1e3, 1.0),
    "ug/ul": (1e3, 1.0),
}
_LISTED_WELLS = 10


class SoftMaxParser:
    format = "softmax_pro"
    label = "Molecular Devices SoftMax Pro text export"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        text = decode_head(head).lstrip("\ufeff \t\r\n")
        return text[:9].upper() == "##BLOCKS="

    def parse(self, data: bytes, name: str = "") -> PlateResult:
        return read_or_parse_error(lambda: _Reader(data).read(), file_kind="SoftMax Pro")


# --- shared plate helpers -------------------------------------------------------------------


def row_letters(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA" (1536-well plates have 32 rows)."""
    if index < 26:
        return chr(ord("A") + index)
    return chr(ord("A") + index // 26 - 1) + chr(ord("A") + index % 26)


def row_index(letters: str) -> int:
    """Inverse of ``row_letters``; -1 for anything that is not one or two letters."""
    letters = letters.strip().upper()
    if not letters.isascii() or not letters.isalpha() or not 1 <= len(letters) <= 2:
        return -1
    if len(letters) == 1:
        return ord(letters) - ord("A")
    return (ord(letters[0]) - ord("A") + 1) * 26 + ord(letters[1]) - ord("A")


def plate_wells(rows: int, columns: int) -> list[str]:
    """Every well name of a plate in reading order (A1, A2, …, B1, …)."""
    return [f"{row_letters(r)}{c}" for r in range(rows) for c in range(1, columns + 1)]


def normalise_well(text: str) -> tuple[int, int] | None:
    """(row index, column number) of "A1", "a01", "P24"; None when it is not a well name."""
    match = _WELL.match(text.strip())
    if not match:
        return None
    row = row_index(match.group(1))
    return (row, int(match.group(2))) if row >= 0 else None


def sniff_decimal(cells: list[str]) -> str:
    """ "," when the numbers use a decimal comma and none uses a point, else "."."""
    comma = point = False
    for cell in cells:
        text = cell.strip()
        if not comma and _COMMA_NUMBER.match(text):
            comma = True
        elif _POINT_NUMBER.match(text):
            point = True
            break
    return "," if comma and not point else "."


class WellNotes:
    """Wells without a number, gathered per read and kind so a warning lists them once."""

    def __init__(self) -> None:
        self.notes: dict[tuple[str, str], list[str]] = {}

    def add(self, read: str, kind: str, well: str) -> None:
        self.notes.setdefault((read, kind), []).append(well)

    def messages(self) -> list[str]:
        out = []
        for (read, kind), wells in self.notes.items():
            listed = ", ".join(wells[:_LISTED_WELLS])
            if len(wells) > _LISTED_WELLS:
                listed += f" and {len(wells) - _LISTED_WELLS} more"
            count = f"{len(wells)} well" + ("s" if len(wells) > 1 else "")
            out.append(f"{read}: no value for {count} {kind} ({listed})")
        return out


def convert_to_ug_per_ml(value: float, unit: str) -> tuple[float, bool]:
    """``value`` in µg/mL and True, or unchanged and False when ``unit`` is not a mass
    concentration this knows."""
    factor = _TO_UG_PER_ML.get(_unit_key(unit))
    if factor is None:
        return value, False
    multiply, divide = factor
    return value * multiply / divide, True


def _unit_key(unit: str) -> str:
    """Comparable unit text: µg/mL, μg/ml (Greek mu), ug/mL and (µg/mL) all give ug/ml."""
    # casefold turns the micro sign into the Greek mu, so one replace covers both.
    return unit.strip().strip("()[]").casefold().replace("\u03bc", "u").replace(" ", "")


# --- reader ---------------------------------------------------------------------------------


Line = tuple[int, list[str]]  # 1-based line number, cells
# One data set of a plate block: (well, cell text) pairs and the number of plate rows found.
Matrix = tuple[list[tuple[str, str]], int]


class _Reader:
    def __init__(self, data: bytes) -> None:
        text, self.encoding = decode_text(data)
        self.lines = split_lines(text)
        self.reads: list[PlateRead] = []
        self.plate_sizes: dict[str, tuple[int, int]] = {}
        self.layout: dict[str, dict[str, Any]] = {}
        self.layout_from: dict[str, str] = {}
        self.warnings: list[str] = []
        self.notes = WellNotes()
        self.description = ""
        self.skipped: list[str] = []

    def read(self) -> PlateResult:
        start = next((i for i, line in enumerate(self.lines) if line.strip()), None)
        if start is None:
            raise ParseError("the file contains no text")
        match = _BLOCKS.match(self.lines[start].strip().lstrip("\ufeff"))
        if not match:
            raise ParseError(
                'not a SoftMax Pro export: it should start with "##BLOCKS="', line=start + 1
            )
        declared = int(match.group(1))
        blocks = self._blocks(start + 1, declared)
        if len(blocks) < declared:
            raise ParseError(
                f"the file is truncated: ##BLOCKS= says {declared} blocks but it has {len(blocks)}",
                line=len(self.lines),
            )
        if len(blocks) > declared:
            self.warnings.append(
                f"##BLOCKS= says {declared} blocks but the file has {len(blocks)}; all were read"
            )
        groups = []
        for block in blocks:
            kind = norm_key(block[0][1][0])
            if kind == "plate:":
                self._plate(block)
            elif kind.startswith("group:"):
                groups.append(block)
            elif not kind.startswith("note:"):
                self.warnings.append(
                    f'skipped a "{block[0][1][0].strip()}" block (line {block[0][0]})'
                )
        if not self.reads:
            detail = f" ({'; '.join(self.skipped)})" if self.skipped else ""
            raise ParseError(f"the export has no endpoint plate data{detail}", line=len(self.lines))
        for block in groups:
            self._group(block)
        return PlateResult(
            reads=tuple(self.reads),
            layout=self.layout,
            description=self.description,
            warnings=tuple(self.warnings + self.notes.messages()),
        )

    def _blocks(self, start: int, declared: int) -> list[list[Line]]:
        blocks: list[list[Line]] = []
        current: list[Line] | None = None
        ignored = 0
        for index in range(start, len(self.lines)):
            raw = self.lines[index]
            cells = raw.split("\t")
            if current is not None:
                if raw.strip().casefold() == "~end":
                    blocks.append(current)
                    current = None
                else:
                    current.append((index + 1, cells))
                continue
            text = raw.strip()
            if not text:
                continue
            if text.casefold().startswith("original filename:"):
                self.description = text.split(":", 1)[1].split(";", 1)[0].strip()
            elif len(blocks) >= declared and not _BLOCK_START.match(text):
                ignored += 1  # text after the last block, e.g. a note pasted by hand
            elif text.casefold().startswith("~end"):
                raise ParseError("~End without a block to end", line=index + 1)
            else:
                current = [(index + 1, cells)]
        if current is not None:
            title = " ".join(cell.strip() for cell in current[0][1][:2]).strip()
            raise ParseError(
                f'the file is truncated: the block "{title[:60]}" that starts on line'
                f" {current[0][0]} has no ~End",
                line=len(self.lines),
            )
        if ignored:
            self.warnings.append(f"{ignored} line(s) after the last block were not read")
        return blocks

    # -- plates ----------------------------------------------------------------------------

    def _plate(self, block: list[Line]) -> None:
        line_no, raw_header = block[0]
        h = [cell.strip() for cell in raw_header]
        h += [""] * (32 - len(h))
        name = h[1] or f"Plate {len(self.plate_sizes) + 1}"
        export_format, read_type, mode = h[3], h[4], h[5]
        offset = next((i - 6 for i in (6, 7) if h[i].casefold() in _DATA_TYPES), None)
        if offset is None:
            raise ParseError(
                f'plate "{name}": the header has no data type (Raw or Reduced)', line=line_no
            )
        reduced = h[6 + offset].casefold() == "reduced"
        if norm_key(read_type) != "endpoint":
            self.skipped.append(f'plate "{name}" is a {read_type or "unknown"} read')
            self.warnings.append(
                f'skipped plate "{name}": {read_type or "unknown"} reads are not supported,'
                " only endpoint reads"
            )
            return
        if h[2] and h[2] != "1.3":
            self.warnings.append(
                f'plate "{name}": export version {h[2]} (this reader was checked on 1.3)'
            )
        wavelengths = self._wavelengths(h[15 + offset], h[14 + offset], name, line_no)
        size = self._int(h[18 + offset], "plate size", name, line_no)
        if size not in PLATE_SIZES:
            raise ParseError(f'plate "{name}": {size} wells is not a standard plate', line=line_no)
        rows, columns = PLATE_SIZES[size]
        if name in self.plate_sizes:
            raise ParseError(f'the plate name "{name}" is used twice', line=line_no)
        self.plate_sizes[name] = (rows, columns)
        # Absorbance and luminescence give the first row and row count at 19-20,
        # fluorescence (one field more, and more settings) at 29-30.
        first_row = _small_int(h[19 if offset == 0 else 29]) or 1
        expected_rows = _small_int(h[20 if offset == 0 else 30])
        body = block[1:]
        fmt = norm_key(export_format)
        if fmt == "plateformat":
            matrices = self._plate_format(body, name, rows, columns, first_row, line_no)
        elif fmt == "timeformat":
            matrices = self._time_format(body, name, rows, columns, line_no)
        else:
            raise ParseError(
                f'plate "{name}": unknown export format "{export_format}" (expected PlateFormat'
                " or TimeFormat)",
                line=line_no,
            )
        if fmt == "plateformat" and expected_rows and matrices:
            found = matrices[0][1]
            if found < expected_rows:
                raise ParseError(
                    f'plate "{name}" has {found} of its {expected_rows} rows (the file is'
                    " truncated or edited)",
                    line=block[-1][0],
                )
        self._add_reads(name, rows, columns, mode, wavelengths, reduced, matrices, line_no)

    def _add_reads(
        self,
        name: str,
        rows: int,
        columns: int,
        mode: str,
        wavelengths: list[float | None],
        reduced: bool,
        matrices: list[Matrix],
        line_no: int,
    ) -> None:
        if reduced:
            matrices = matrices[:1]
            targets: list[float | None] = [wavelengths[0] if len(wavelengths) == 1 else None]
        else:
            if len(matrices) < len(wavelengths):
                raise ParseError(
                    f'plate "{name}" lists {len(wavelengths)} wavelengths but has data for'
                    f" {len(matrices)}",
                    line=line_no,
                )
            if len(matrices) > len(wavelengths):
                self.warnings.append(
                    f'plate "{name}": {len(matrices) - len(wavelengths)} data set(s) more'
                    " than wavelengths were not read"
                )
            matrices = matrices[: len(wavelengths)]
            targets = list(wavelengths)
        for (cells, _), wavelength in zip(matrices, targets, strict=True):
            decimal = sniff_decimal([text for _, text in cells])
            values: dict[str, float | None] = dict.fromkeys(plate_wells(rows, columns))
            label = f"{name} at {wavelength:g} nm" if wavelength is not None else name
            for well, text in cells:
                value, kind = _value(text, decimal)
                values[well] = value
                if kind:
                    self.notes.add(label, kind, well)
            self.reads.append(
                PlateRead(
                    values=values,
                    rows=rows,
                    columns=columns,
                    plate_name=name,
                    wavelength_nm=wavelength,
                    read_type=mode.casefold(),
                    reduced=reduced,
                )
            )

    def _wavelengths(self, listed: str, count: str, name: str, line_no: int) -> list[float | None]:
        try:
            wavelengths = [to_float(token) for token in listed.split()]
        except ValueError:
            raise ParseError(
                f'plate "{name}": the wavelengths "{listed}" are not numbers', line=line_no
            ) from None
        if any(not 150 <= w <= 1500 for w in wavelengths):
            raise ParseError(
                f'plate "{name}": "{listed}" is not a list of wavelengths in nm', line=line_no
            )
        declared = _small_int(count)
        if wavelengths and declared and declared != len(wavelengths):
            raise ParseError(
                f'plate "{name}": the header says {declared} wavelengths but lists'
                f" {len(wavelengths)}",
                line=line_no,
            )
        # Luminescence reads list no wavelength: one read without one.
        return [*wavelengths] if wavelengths else [None]

    def _int(self, text: str, what: str, name: str, line_no: int) -> int:
        value = _small_int(text)
        if value is None:
            raise ParseError(f'plate "{name}": the {what} "{text}" is not a number', line=line_no)
        return value

    def _plate_format(
        self,
        body: list[Line],
        name: str,
        rows: int,
        columns: int,
        first_row: int,
        line_no: int,
    ) -> list[Matrix]:
        start = next((i for i, (_, cells) in enumerate(body) if _filled(cells)), None)
        if start is None:
            raise ParseError(f'plate "{name}" has no data', line=line_no)
        header_no, header = body[start]
        groups = _column_groups(header, header_no, name, columns)
        data: list[Line] = []
        for n, cells in body[start + 1 :]:
            if not _filled(cells):
                break
            data.append((n, cells))
        if not data:
            raise ParseError(f'plate "{name}" has a column header but no rows', line=header_no)
        if first_row - 1 + len(data) > rows:
            raise ParseError(
                f'plate "{name}" has {len(data)} rows from row {row_letters(first_row - 1)},'
                f" more than its {rows}",
                line=data[-1][0],
            )
        matrices = []
        for group in groups:
            cells_out = []
            for r, (_, cells) in enumerate(data):
                row = row_letters(first_row - 1 + r)
                for index, column in group:
                    cells_out.append((f"{row}{column}", cells[index] if index < len(cells) else ""))
            matrices.append((cells_out, len(data)))
        return matrices

    def _time_format(
        self, body: list[Line], name: str, rows: int, columns: int, line_no: int
    ) -> list[Matrix]:
        start = next((i for i, (_, cells) in enumerate(body) if _filled(cells)), None)
        if start is None:
            raise ParseError(f'plate "{name}" has no data', line=line_no)
        header_no, header = body[start]
        wells = _well_columns(header, header_no, name, rows, columns)
        runs: list[list[Line]] = [[]]
        for n, cells in body[start + 1 :]:
            if not _filled(cells):
                if runs[-1]:
                    runs.append([])
                continue
            if _is_well_header(cells):
                break  # the reduced section: not read when raw data are there
            runs[-1].append((n, cells))
        matrices = []
        for run in runs:
            if not run:
                continue
            if len(run) > 1:
                raise ParseError(
                    f'plate "{name}": {len(run)} time points for one wavelength in an'
                    " endpoint read",
                    line=run[1][0],
                )
            _, row_cells = run[0]
            out = [(well, row_cells[i] if i < len(row_cells) else "") for i, well in wells]
            matrices.append((out, 1))
        if not matrices:
            raise ParseError(f'plate "{name}" has a well header but no values', line=header_no)
        return matrices

    # -- groups ----------------------------------------------------------------------------

    def _group(self, block: list[Line]) -> None:
        line_no, first = block[0]
        group = first[0].split(":", 1)[1].strip() if ":" in first[0] else first[0].strip()
        if len(block) < 2:
            self.warnings.append(f'group "{group}" has no table (line {line_no})')
            return
        header_no, header_cells = block[1]
        header = [cell.strip() for cell in header_cells]
        keys = [norm_key(cell) for cell in header]
        wells_col = _find(keys, ("wells", "well"))
        sample_col = _find(keys, ("sample",))
        plate_col = _find(keys, ("wellplatename",))
        if wells_col is None:
            self.warnings.append(
                f'group "{group}" has no Wells column; its wells are not in the layout'
                f" (line {header_no})"
            )
            return
        rows, formulas = _group_table(block[2:])
        descriptor_col, unit = _descriptor(header, keys, formulas)
        role = _role(group, keys)
        descriptor_kind = "concentration"
        if descriptor_col is not None and keys[descriptor_col].startswith("dil"):
            descriptor_kind = "dilution"
        decimal = sniff_decimal(
            [cells[descriptor_col] for _, cells in rows if descriptor_col < len(cells)]
            if descriptor_col is not None
            else []
        )
        _, converted = convert_to_ug_per_ml(1.0, unit)
        sample = ""
        descriptor: float | None = None
        missing: list[str] = []
        for n, cells in rows:
            cell = _cell(cells, sample_col)
            if cell:
                sample = cell
                descriptor = _number_or_none(_cell(cells, descriptor_col), decimal)
            well_text = _cell(cells, wells_col)
            if not well_text:
                continue
            where = normalise_well(well_text)
            rows_max, columns_max = self._plate_dims(_cell(cells, plate_col))
            if where is None or where[0] >= rows_max or where[1] > columns_max:
                raise ParseError(
                    f'group "{group}": "{well_text[:20]}" is not a well of the plate',
                    line=n,
                    column=header[wells_col],
                )
            well = f"{row_letters(where[0])}{where[1]}"
            entry: dict[str, Any] = {
                "role": role,
                "concentration": None,
                "name": sample or group,
                "group": group,
            }
            if descriptor_kind == "dilution":
                if role == "sample" and descriptor is not None and descriptor > 0:
                    entry["dilution"] = descriptor
            elif role in ("standard", "control") and descriptor is not None:
                entry["concentration"] = convert_to_ug_per_ml(descriptor, unit)[0]
                if not math.isfinite(entry["concentration"]):
                    raise ParseError(
                        f'group "{group}": the concentration {descriptor:g} {unit} is out of range',
                        line=n,
                    )
                if unit and not converted:
                    entry["unit"] = unit
            elif role == "standard" and entry["name"] not in missing:
                missing.append(entry["name"])
            self._place(well, entry, group)
        if converted and _unit_key(unit) != "ug/ml":
            self.warnings.append(f'group "{group}": concentrations converted from {unit} to µg/mL')
        if missing:
            self.warnings.append(
                f'group "{group}": no concentration for standard(s) {", ".join(missing)}'
            )

    def _plate_dims(self, plate: str) -> tuple[int, int]:
        if plate and plate in self.plate_sizes:
            return self.plate_sizes[plate]
        # No (or an unknown) plate name: the largest plate of the file bounds the wells.
        return max(self.plate_sizes.values(), default=PLATE_SIZES[96])

    def _place(self, well: str, entry: dict[str, Any], group: str) -> None:
        existing = self.layout.get(well)
        if existing is None:
            self.layout[well] = entry
            self.layout_from[well] = group
        elif existing != entry:
            self.warnings.append(
                f'well {well} is in group "{self.layout_from[well]}" and in "{group}"; the'
                f' layout keeps "{self.layout_from[well]}"'
            )


# --- small pure helpers ---------------------------------------------------------------------


def _value(text: str, decimal: str) -> tuple[float | None, str]:
    """The well's number, or None and why (the marker as written, "empty", "NaN")."""
    s = text.strip()
    if not s:
        return None, "empty"
    try:
        return to_float(s, decimal), ""
    except ValueError:
        pass
    if s.casefold() == "nan":
        return None, "NaN"
    return None, f'marked "{s[:20]}"'


def _number_or_none(text: str, decimal: str) -> float | None:
    if not text:
        return None
    try:
        return to_float(text, decimal)
    except ValueError:
        return None


def _small_int(text: str) -> int | None:
    s = text.strip()
    if s.isascii() and s.isdigit() and len(s) <= 5:
        return int(s)
    return None


def _filled(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def _is_well_header(cells: list[str]) -> bool:
    return any(_WELL.match(cell.strip()) for cell in cells[2:6])


def _column_groups(
    header: list[str], line: int, name: str, columns: int
) -> list[list[tuple[int, int]]]:
    """(cell index, column number) runs of a PlateFormat header, one per wavelength."""
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for index in range(2, len(header)):
        text = header[index].strip()
        if not text:
            if current:
                groups.append(current)
                current = []
            continue
        column = _small_int(text)
        if column is None or not 1 <= column <= columns:
            raise ParseError(
                f'plate "{name}": "{text[:20]}" is not a column of a {columns}-column plate',
                line=line,
            )
        current.append((index, column))
    if current:
        groups.append(current)
    if not groups:
        raise ParseError(f'plate "{name}": the column header has no column numbers', line=line)
    return groups


def _well_columns(
    header: list[str], line: int, name: str, rows: int, columns: int
) -> list[tuple[int, str]]:
    wells = []
    for index in range(2, len(header)):
        text = header[index].strip()
        if not text:
            continue
        where = normalise_well(text)
        if where is None or where[0] >= rows or where[1] > columns:
            raise ParseError(f'plate "{name}": "{text[:20]}" is not a well of the plate', line=line)
        wells.append((index, f"{row_letters(where[0])}{where[1]}"))
    if not wells:
        raise ParseError(f'plate "{name}": the well header names no wells', line=line)
    return wells


def _group_table(lines: list[Line]) -> tuple[list[Line], dict[str, str]]:
    """The data rows of a group block, and its formula table (column name -> formula)."""
    rows: list[Line] = []
    formulas: dict[str, str] = {}
    in_formulas = False
    for n, cells in lines:
        key = norm_key(cells[0])
        if key == "group summaries":
            break
        if key == "group column":
            in_formulas = True
        elif not _filled(cells):
            in_formulas = False  # a blank line ends the formula table
        elif in_formulas:
            if len(cells) > 2:
                formulas[norm_key(cells[1])] = cells[2].strip()
        else:
            rows.append((n, cells))
    return rows, formulas


def _find(keys: list[str], names: tuple[str, ...]) -> int | None:
    for wanted in names:
        if wanted in keys:
            return keys.index(wanted)
    return None


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _descriptor(
    header: list[str], keys: list[str], formulas: dict[str, str]
) -> tuple[int | None, str]:
    """The sample-descriptor column (standard concentration or dilution) and its unit."""
    names = [n for n, formula in formulas.items() if norm_key(formula) == "!sampledescriptor"]
    names += ["standard value", "concentration", "conc", "dilution factor", "dilution"]
    for wanted in names:
        for index, key in enumerate(keys):
            if key == wanted or key.startswith(wanted + " "):
                unit = header[index].strip()[len(wanted) :].strip().strip("()[]").strip()
                return index, unit
    return None, ""


def _role(group: str, keys: list[str]) -> str:
    name = norm_key(group)
    if name.startswith(("std", "standard")) or any(k.startswith("standard value") for k in keys):
        return "standard"
    if "blank" in name or name.startswith("blk"):
        return "blank"
    if "control" in name or "ctrl" in name or name.startswith("qc"):
        return "control"
    return "sample"
