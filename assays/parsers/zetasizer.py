"""Malvern Zetasizer export-template text: DLS size and zeta-potential records (verified:
Zetasizer software 7.11 and 8.02, INSTRUMENT-FORMATS.md §5).

Layout: a header row, then one row per measurement record. The lab chooses the columns in
File → Export, so everything is found by header name, never by position: scalars take one
column each (``Z-Ave (d.nm)``, ``T (°C)``, ``Zeta Potential (mV)``…), arrays spread over
numbered columns ``Name[i] (unit)`` (``Sizes[1..70] (d.nm)``, ``Zeta Potentials[1..90]
(mV)``…). Headers may repeat (``Sample Name`` twice); the first non-empty cell wins. An
empty cell means "not measured". Text is tab-separated latin-1 (``°C``, ``µmcm/Vs``) with
the PC's decimal mark.

One file may hold several tables, each starting with its own header row: the "record
summary" template writes a short table and then the same records again with arrays and
dispersant. Rows of a later table that describe a record already read (same type, sample
name and measurement date and time) are merged into it: filled-in values win over empty
ones, and the first table's value wins when both have one.

Units are converted to the fields' units (sizes in diameter nm, so ``r.nm`` is doubled;
°F/K to °C; cps/Mcps to kcps; µS/cm and S/m to mS/cm); an unknown unit on a field the
parser fills is a ParseError rather than a silently wrong number. Intensity peaks (size
records) or zeta peaks (zeta records) become ``peaks``; a peak whose cells are all empty
or zero is the software's "no such peak" and is left out. Every other non-empty column
goes into ``extra`` as written: scalars as text, arrays as a list of texts keyed
``Name (unit)``.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._text import decode_head, decode_text, norm_key, read_or_parse_error, split_lines, to_float
from .base import ParseError
from .results import DLSRecord, DLSResult

_MAX_ROWS = 100_000
_MAX_COLUMNS = 20_000
_MISSING = {"", "-", "--", "---", "n/a", "na", "nan", "none", "null", "#n/a"}

# Header cells that name a record rather than a result: a row holding two of them (or one
# and a Zetasizer result column) is a header row, never a record.
_RECORD_LABELS = {
    "record",
    "record number",
    "type",
    "sample name",
    "measurement date and time",
    "s/w version",
    "serial number",
}
_ID_LABELS = {"record", "record number", "type", "sample name"}
# Columns only a Zetasizer export has; with an identifying column they make detection sure.
_MARKERS = {
    "z-ave",
    "z-average",
    "pdi",
    "intercept",
    "derived count rate",
    "mean count rate",
    "attenuator",
    "zeta potential",
    "zp",
    "zeta deviation",
    "mobility",
    "mob",
    "sizes",
    "zeta potentials",
    "intensities",
    "correlation data",
    "correlation delay times",
}

_TEXT_FIELDS = {
    "type": "kind",
    "sample name": "sample_name",
    "measurement date and time": "measured_at",
    "measurement date": "measured_at",
    "date and time": "measured_at",
    "dispersant name": "dispersant",
    "dispersant": "dispersant",
    "result quality": "quality",
    "data quality": "quality",
    "quality": "quality",
    "s/w version": "software_version",
    "software version": "software_version",
    "serial number": "instrument_serial",
}
# header name -> (field, unit family)
_NUMBER_FIELDS = {
    "record": ("record_number", "count"),
    "record number": ("record_number", "count"),
    "t": ("temperature_c", "temperature"),
    "temperature": ("temperature_c", "temperature"),
    "z-ave": ("z_average_nm", "size"),
    "z-average": ("z_average_nm", "size"),
    "z average": ("z_average_nm", "size"),
    "pdi": ("pdi", "none"),
    "polydispersity index": ("pdi", "none"),
    "intercept": ("intercept", "none"),
    "derived count rate": ("count_rate_kcps", "rate"),
    "attenuator": ("attenuator", "count"),
    "zeta potential": ("zeta_potential_mv", "mv"),
    "zp": ("zeta_potential_mv", "mv"),
    "zeta deviation": ("zeta_deviation_mv", "mv"),
    "zeta dev": ("zeta_deviation_mv", "mv"),
    "mobility": ("mobility_um_cm_per_v_s", "mobility"),
    "mob": ("mobility_um_cm_per_v_s", "mobility"),
    "conductivity": ("conductivity_ms_cm", "conductivity"),
    "cond": ("conductivity_ms_cm", "conductivity"),
}
# array name -> (role, unit family)
_ARRAYS = {
    "sizes": ("sizes", "size"),
    "intensities": ("intensities", "any"),
    "numbers": ("numbers", "percent"),
    "volumes": ("volumes", "percent"),
    "zeta potentials": ("zeta_axis", "mv"),
}
_KINDS = {"size": "size", "zeta": "zeta", "zeta potential": "zeta", "protein mobility": "zeta"}

_FACTORS: dict[str, dict[str, float]] = {
    "size": {"": 1, "nm": 1, "d.nm": 1, "r.nm": 2, "um": 1e3, "d.um": 1e3, "r.um": 2e3},
    "rate": {"": 1, "kcps": 1, "cps": 1e-3, "mcps": 1e3},
    "mv": {"": 1, "mv": 1},
    "mobility": {"": 1, "umcm/vs": 1, "10^-8m2/vs": 1, "m2/vs": 1e8, "m^2/vs": 1e8},
    "conductivity": {"": 1, "ms/cm": 1, "us/cm": 1e-3, "s/m": 10, "ms/m": 1e-2},
    "percent": {"": 1, "percent": 1, "%": 1},
}
_TEMPERATURES: dict[str, Callable[[float], float]] = {
    "": lambda t: t,
    "c": lambda t: t,
    "degc": lambda t: t,
    "f": lambda t: (t - 32) * 5 / 9,
    "degf": lambda t: (t - 32) * 5 / 9,
    "k": lambda t: t - 273.15,
}

_PEAK = re.compile(r"(?:^|(?<=[\s%]))(?:peak|pk)\s*(\d{1,2})(?!\d)")
_COMMA_NUMBER = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_POINT_NUMBER = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")


class ZetasizerParser:
    format = "zetasizer"
    label = "Malvern Zetasizer export (DLS size / zeta potential)"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        text = decode_head(head).lstrip("\ufeff \t\r\n")
        first = text.split("\n", 1)[0].rstrip("\r")
        if not first:
            return False
        names = {_split_header(cell)[0] for cell in _split(first, _delimiter(first))}
        return bool(names & _ID_LABELS) and bool(
            names & _MARKERS or any(_PEAK.search(n) for n in names)
        )

    def parse(self, data: bytes, name: str = "") -> DLSResult:
        return read_or_parse_error(lambda: _Reader(data).read(), file_kind="Zetasizer")


# -- header ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    position: int
    header: str  # as written
    name: str  # normalised, without index and unit
    unit: str  # as written
    index: int | None


@dataclass(eq=False)  # identity: one object per array in a table, used as a dict key
class _Array:
    """One array parameter: ``Name[1..n] (unit)`` columns, by index."""

    name: str
    label: str  # "Sizes (d.nm)": the extra key when the parser does not use the array
    unit: str
    role: str | None
    family: str
    positions: dict[int, list[int]] = field(default_factory=dict)
    headers: dict[int, str] = field(default_factory=dict)  # position -> header as written
    first: _Column | None = None


@dataclass(frozen=True)
class _PeakColumn:
    column: _Column
    number: int
    measure: str  # "mean", "width", "area_pct", "pd_pct"
    basis: str  # "intensity", "number", "volume", "zeta", "mobility", "auto"


def _split_header(cell: str) -> tuple[str, int | None, str]:
    """'Sizes[3] (d.nm)' -> ('sizes', 3, 'd.nm'); 'T (°C)' -> ('t', None, '°C')."""
    rest, unit, index = cell.strip(), "", None
    if rest.endswith(")"):
        opening = rest.rfind("(")
        if opening >= 0 and ")" not in rest[opening:-1]:
            rest, unit = rest[:opening].rstrip(), rest[opening + 1 : -1].strip()
    if rest.endswith("]"):
        opening = rest.rfind("[")
        digits = rest[opening + 1 : -1].strip()
        if opening >= 0 and digits.isdigit() and digits.isascii() and len(digits) <= 6:
            rest, index = rest[:opening], int(digits)
    return norm_key(rest), index, unit


def _unit_key(unit: str) -> str:
    """'µmcm/Vs', 'μm cm / V s', '?mcm/Vs' (a lost µ) all become 'umcm/vs'."""
    # Degree look-alikes go before NFKC, which turns "º" (ordinal) into "o".
    key = unicodedata.normalize("NFKC", re.sub(r"[°º˚]", "", unit)).casefold()
    key = re.sub(r"[\s·*]", "", key)
    key = key.replace("μ", "u").replace("µ", "u").replace("\ufffd", "u").replace("?", "u")
    return key.replace("â", "")


def _converter(family: str, unit: str) -> Callable[[float], float] | None:
    """How to bring a value in ``unit`` to the field's unit; None for a unit we do not know."""
    if family in ("none", "count", "any"):
        return lambda v: v
    key = _unit_key(unit)
    if family == "temperature":
        return _TEMPERATURES.get(re.sub(r"^u", "", key))  # "?C": a degree sign lost on export
    if family == "mobility":
        key = key.replace(".", "")
    factor = _FACTORS[family].get(key)
    if factor is None:
        return None
    if factor == 1:
        return lambda v: v
    return lambda v: v * factor


def _peak_column(column: _Column) -> _PeakColumn | None:
    match = _PEAK.search(column.name)
    if not match:
        return None
    rest = column.name[: match.start()] + " " + column.name[match.end() :]
    words = set(re.findall(r"[a-z]+", rest))
    if "%pd" in rest or "pd" in words:
        measure = "pd_pct"
    elif words & {"width", "sd", "stdev", "std", "st"}:
        measure = "width"
    elif "area" in words:
        measure = "area_pct"
    else:
        measure = "mean"
    if words & {"number", "num"}:
        basis = "number"
    elif words & {"volume", "vol"}:
        basis = "volume"
    elif words & {"zeta", "zp"}:
        basis = "zeta"
    elif words & {"mobility", "mob"}:
        basis = "mobility"
    elif words & {"intensity", "int"}:
        basis = "intensity"
    elif _unit_key(column.unit) == "mv":
        basis = "zeta"
    elif _unit_key(column.unit) in _FACTORS["size"] and column.unit:
        basis = "intensity"  # "Peak 1 Mean (d.nm)": DLS peaks are by intensity by default
    else:
        basis = "auto"
    return _PeakColumn(column, int(match.group(1)), measure, basis)


class _Table:
    """One header row and the record rows under it, with the columns sorted by use."""

    def __init__(self, cells: list[str], line: int) -> None:
        if len(cells) > _MAX_COLUMNS:
            raise ParseError(f"the header has {len(cells)} columns (more than {_MAX_COLUMNS})")
        self.line = line
        self.width = len(cells)
        self.rows: list[tuple[int, list[str]]] = []
        self.text: dict[str, list[_Column]] = {}
        self.numbers: dict[str, list[tuple[_Column, Callable[[float], float]]]] = {}
        self.arrays: list[_Array] = []
        self.peaks: list[_PeakColumn] = []
        self.extra: list[_Column] = []
        arrays: dict[tuple[str, str], _Array] = {}
        for position, raw in enumerate(cells):
            header = raw.strip()
            name, index, unit = _split_header(header)
            column = _Column(position, header, name, unit, index)
            if index is not None:
                self._add_to_array(arrays, column)
            elif name in _TEXT_FIELDS:
                self.text.setdefault(_TEXT_FIELDS[name], []).append(column)
            elif name in _NUMBER_FIELDS:
                target, family = _NUMBER_FIELDS[name]
                self.numbers.setdefault(target, []).append((column, self._convert(column, family)))
            elif (peak := _peak_column(column)) is not None:
                self._check_peak_unit(peak)
                self.peaks.append(peak)
            else:
                self.extra.append(column)
        for array in arrays.values():
            expected = set(range(1, len(array.positions) + 1))
            if set(array.positions) != expected:
                missing = min(expected - set(array.positions))
                raise ParseError(
                    f'the array "{array.label}" has no column [{missing}]',
                    line=line,
                    column=array.first.header if array.first else None,
                )
            self.arrays.append(array)

    def _convert(self, column: _Column, family: str) -> Callable[[float], float]:
        convert = _converter(family, column.unit)
        if convert is None:
            raise ParseError(f'unknown unit "{column.unit}"', line=self.line, column=column.header)
        return convert

    def _add_to_array(self, arrays: dict[tuple[str, str], _Array], column: _Column) -> None:
        key = (column.name, _unit_key(column.unit))
        array = arrays.get(key)
        if array is None:
            role, family = _ARRAYS.get(column.name, (None, "any"))
            if role is not None and family not in ("any",):
                self._convert(column, family)
            label = column.header.split("[", 1)[0].strip()
            label = f"{label} ({column.unit})" if column.unit else label
            array = _Array(column.name, label, column.unit, role, family, first=column)
            arrays[key] = array
        assert column.index is not None
        array.positions.setdefault(column.index, []).append(column.position)
        array.headers[column.position] = column.header

    def _check_peak_unit(self, peak: _PeakColumn) -> None:
        if peak.basis in ("number", "volume", "mobility"):
            return  # kept as written in extra
        if peak.measure in ("area_pct", "pd_pct"):
            family = "percent"
        elif peak.basis == "zeta":
            family = "mv"
        elif peak.basis == "intensity":
            family = "size"
        else:
            return  # "Pk 1 Mean" without a unit: read as the record's own kind
        self._convert(peak.column, family)


def _delimiter(line: str) -> str:
    if "\t" in line:
        return "\t"
    if line.count(";") > line.count(","):
        return ";"
    return "," if "," in line else "\t"


def _split(line: str, delimiter: str) -> list[str]:
    if delimiter == "\t":
        cells = [cell.strip() for cell in line.split("\t")]
        if '"' in line:
            cells = [_unquote(cell) for cell in cells]
        return cells
    try:
        return [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return [cell.strip() for cell in line.split(delimiter)]


def _unquote(cell: str) -> str:
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        return cell[1:-1].replace('""', '"')
    return cell


def _is_header(cells: list[str]) -> bool:
    # Header labels start with a letter; skipping numbers keeps this cheap on record rows.
    names = [_split_header(cell)[0] for cell in cells if cell[:1].isalpha() and len(cell) < 100]
    labels = sum(1 for n in names if n in _RECORD_LABELS)
    if labels >= 2:
        return True
    return labels == 1 and any(n in _MARKERS for n in names)


# -- reader ----------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        text, self.encoding = decode_text(data)
        self.lines = split_lines(text)
        self.ends_with_newline = text.endswith(("\n", "\r"))
        self.decimal = "."
        self.day_first: bool | None = None

    def read(self) -> DLSResult:
        if len(self.lines) > _MAX_ROWS:
            raise ParseError(f"the file has more than {_MAX_ROWS} lines")
        tables = self._tables()
        self.decimal = self._sniff_decimal(tables)
        self.day_first = self._sniff_date_order(tables)
        records: list[DLSRecord] = []
        # Records of the tables already read, by key, for the later tables to merge into.
        earlier: dict[tuple[Any, ...], list[int]] = {}
        versions: dict[str, None] = {}
        serials: dict[str, None] = {}
        for table in tables:
            added: list[tuple[tuple[Any, ...], int]] = []
            merged: set[int] = set()  # one row of a table per earlier record
            for line, cells in table.rows:
                record, key, version, serial = self._record(table, cells, line)
                if version:
                    versions[version] = None
                if serial:
                    serials[serial] = None
                candidates = earlier.get(key, []) if key is not None else []
                match = next(
                    (i for i in candidates if i not in merged and _same(records[i], record)), None
                )
                if match is not None:
                    records[match] = _merge(records[match], record)
                    merged.add(match)
                    continue
                if key is not None:
                    added.append((key, len(records)))
                records.append(record)
            for key, position in added:
                earlier.setdefault(key, []).append(position)
        if not records:
            raise ParseError("the export has a header row but no records", line=tables[-1].line)
        return DLSResult(
            records=tuple(records),
            software_version=", ".join(versions),
            instrument_serial=", ".join(serials),
        )

    # -- layout ----------------------------------------------------------------------------

    def _tables(self) -> list[_Table]:
        start = next((i for i, line in enumerate(self.lines) if line.strip()), None)
        if start is None:  # pragma: no cover - decode_text refuses blank files
            raise ParseError("the file contains no text")
        first = self.lines[start]
        self.delimiter = _delimiter(first)
        cells = _split(first, self.delimiter)
        if not _is_header(cells):
            raise ParseError(
                "not a Zetasizer export: the first line should be the export template's header"
                ' row (with "Type", "Record" or "Sample Name" and result columns)',
                line=start + 1,
            )
        tables = [_Table(cells, start + 1)]
        last = len(self.lines) - 1
        for index in range(start + 1, len(self.lines)):
            raw = self.lines[index]
            cells = _split(raw, self.delimiter)
            if not any(cells):
                continue
            if _is_header(cells):
                tables.append(_Table(cells, index + 1))
                continue
            table = tables[-1]
            if len(cells) > table.width:
                if any(cells[table.width :]):
                    raise ParseError(
                        f"the row has {len(cells)} values but its header has {table.width} columns",
                        line=index + 1,
                    )
                del cells[table.width :]
            elif len(cells) < table.width:
                if index == last and not self.ends_with_newline:
                    raise ParseError(
                        f"the file is truncated: the last row has {len(cells)} of"
                        f" {table.width} values",
                        line=index + 1,
                    )
                cells.extend([""] * (table.width - len(cells)))
            table.rows.append((index + 1, cells))
        return tables

    def _sniff_decimal(self, tables: list[_Table]) -> str:
        if self.delimiter == ",":
            return "."
        comma = point = 0
        for table in tables:
            positions = [c.position for cols in table.numbers.values() for c, _ in cols]
            positions += [p.column.position for p in table.peaks]
            for array in table.arrays:
                if array.role is not None:
                    positions += [ps[0] for ps in array.positions.values()]
            for _, cells in table.rows:
                for position in positions:
                    cell = cells[position]
                    if _COMMA_NUMBER.fullmatch(cell):
                        comma += 1
                    elif _POINT_NUMBER.fullmatch(cell):
                        point += 1
        return "," if comma and not point else "."

    def _sniff_date_order(self, tables: list[_Table]) -> bool | None:
        """True/False when some numeric date in the file can only be day/month (or
        month/day); None leaves each date to its own clock style."""
        day_first = month_first = False
        for table in tables:
            for column in table.text.get("measured_at", []):
                for _, cells in table.rows:
                    match = _NUMERIC_DATE.search(cells[column.position])
                    if match and match.group(2) != ".":
                        first, second = int(match.group(1)), int(match.group(3))
                        day_first |= first > 12 >= second
                        month_first |= second > 12 >= first
        if day_first != month_first:
            return day_first
        return None

    # -- one row ---------------------------------------------------------------------------

    def _record(
        self, table: _Table, cells: list[str], line: int
    ) -> tuple[DLSRecord, tuple[Any, ...] | None, str, str]:
        text = {name: self._text(cols, cells) for name, cols in table.text.items()}
        values: dict[str, float | None] = {}
        for target, columns in table.numbers.items():
            values[target] = self._first_number(columns, cells, line)
        arrays = {array: self._array(array, cells, line) for array in table.arrays if array.role}
        kind = self._kind(table, text.get("kind", ""), values, arrays, line)
        record_number = self._integer(values.get("record_number"), table, "record_number", line)
        attenuator = self._integer(values.get("attenuator"), table, "attenuator", line)
        date_text = text.get("measured_at", "")
        measured_at = parse_datetime(date_text, self.day_first) if date_text else None

        series: dict[str, tuple[float, ...]] = {}
        used: set[int] = set()
        for array, numbers in arrays.items():
            role = array.role or ""
            if role == "intensities":
                role = "zeta_counts" if kind == "zeta" else "intensity_pct"
                if (
                    role == "intensity_pct"
                    and numbers
                    and _converter("percent", array.unit) is None
                ):
                    raise ParseError(
                        f'unknown unit "{array.unit}" for a size distribution',
                        line=line,
                        column=array.first.header if array.first else None,
                    )
            if numbers and role not in series:
                series[role] = numbers
                used.add(id(array))
        self._check_lengths(series, table, line)

        peaks, peak_columns = self._peaks(table, cells, line, kind)
        extra = self._extra(table, cells, arrays, used, peak_columns)
        if date_text and measured_at is None:
            extra[_header_of(table, "measured_at")] = date_text
        record = DLSRecord(
            kind=kind,
            sample_name=text.get("sample_name", ""),
            record_number=record_number,
            measured_at=measured_at,
            temperature_c=values.get("temperature_c"),
            dispersant=text.get("dispersant", ""),
            z_average_nm=values.get("z_average_nm"),
            pdi=values.get("pdi"),
            intercept=values.get("intercept"),
            count_rate_kcps=values.get("count_rate_kcps"),
            attenuator=attenuator,
            quality=text.get("quality", ""),
            peaks=peaks,
            sizes_nm=series.get("sizes", ()),
            intensity_pct=series.get("intensity_pct", ()),
            number_pct=series.get("numbers", ()),
            volume_pct=series.get("volumes", ()),
            zeta_potential_mv=values.get("zeta_potential_mv"),
            zeta_deviation_mv=values.get("zeta_deviation_mv"),
            mobility_um_cm_per_v_s=values.get("mobility_um_cm_per_v_s"),
            conductivity_ms_cm=values.get("conductivity_ms_cm"),
            zeta_mv=series.get("zeta_axis", ()),
            zeta_counts=series.get("zeta_counts", ()),
            extra=extra,
        )
        key = None
        if date_text:
            when: Any = measured_at or norm_key(date_text)
            key = (kind, record.sample_name, when)
        return record, key, text.get("software_version", ""), text.get("instrument_serial", "")

    @staticmethod
    def _text(columns: list[_Column], cells: list[str]) -> str:
        for column in columns:
            value = cells[column.position].strip()
            if value:
                return value
        return ""

    def _number(self, cell: str, column: _Column | str, line: int) -> float | None:
        text = cell.strip()
        if not text or (not text[0].isdigit() and norm_key(text) in _MISSING):
            return None
        try:
            return to_float(text, self.decimal)
        except ValueError:
            header = column if isinstance(column, str) else column.header
            raise ParseError(f"not a number: {text[:40]!r}", line=line, column=header) from None

    def _first_number(
        self,
        columns: list[tuple[_Column, Callable[[float], float]]],
        cells: list[str],
        line: int,
    ) -> float | None:
        for column, convert in columns:
            value = self._number(cells[column.position], column, line)
            if value is not None:
                return _finite(convert(value), column, line)
        return None

    def _integer(self, value: float | None, table: _Table, target: str, line: int) -> int | None:
        if value is None:
            return None
        if value != int(value) or abs(value) > 2**31:
            raise ParseError(
                f"expected a whole number, not {value:g}",
                line=line,
                column=table.numbers[target][0][0].header,
            )
        return int(value)

    def _array(self, array: _Array, cells: list[str], line: int) -> tuple[float, ...]:
        convert = (_converter(array.family, array.unit) if array.family != "any" else None) or (
            lambda v: v
        )
        if self.decimal == "." and all(len(ps) == 1 for ps in array.positions.values()):
            # Fast path for the usual full row of plain numbers; anything odd reads slowly.
            texts = [cells[array.positions[i][0]] for i in range(1, len(array.positions) + 1)]
            try:
                fast = [convert(float(t)) for t in texts]
            except ValueError:
                pass
            else:
                if all(math.isfinite(v) for v in fast) and not any("_" in t for t in texts):
                    return tuple(fast)
        values: list[float | None] = []
        for index in range(1, len(array.positions) + 1):
            value = None
            for position in array.positions[index]:
                header = array.headers[position]
                number = self._number(cells[position], header, line)
                if number is not None:
                    value = convert(number)
                    if not math.isfinite(value):
                        raise ParseError("the value is out of range", line=line, column=header)
                    break
            values.append(value)
        # An array printed shorter than the header (another analysis model) ends in blanks.
        while values and values[-1] is None:
            values.pop()
        if any(v is None for v in values):
            gap = values.index(None) + 1
            raise ParseError(
                f'the array "{array.label}" has an empty value at [{gap}] before its end',
                line=line,
                column=array.first.header if array.first else None,
            )
        return tuple(v for v in values if v is not None)

    def _kind(
        self,
        table: _Table,
        written: str,
        values: dict[str, float | None],
        arrays: dict[_Array, tuple[float, ...]],
        line: int,
    ) -> str:
        if written:
            kind = _KINDS.get(norm_key(written)) or (
                "size" if norm_key(written).startswith("size") else None
            )
            if kind is None:
                raise ParseError(
                    f'record type "{written}" is not supported (only Size and Zeta records)',
                    line=line,
                    column=table.text["kind"][0].header,
                )
            return kind
        roles = {a.role for a, v in arrays.items() if v}
        zeta = (
            any(
                values.get(k) is not None
                for k in ("zeta_potential_mv", "mobility_um_cm_per_v_s", "zeta_deviation_mv")
            )
            or "zeta_axis" in roles
        )
        size = any(values.get(k) is not None for k in ("z_average_nm", "pdi")) or bool(
            roles & {"sizes", "numbers", "volumes"}
        )
        if zeta != size:
            return "zeta" if zeta else "size"
        # Nothing measured: go by what the template can hold.
        can_zeta = any(k in table.numbers for k in ("zeta_potential_mv", "mobility_um_cm_per_v_s"))
        can_size = any(k in table.numbers for k in ("z_average_nm", "pdi")) or any(
            a.role == "sizes" for a in table.arrays
        )
        if can_zeta != can_size:
            return "zeta" if can_zeta else "size"
        raise ParseError(
            "cannot tell whether this record is a size or a zeta measurement (no Type column"
            " and no results in the row)",
            line=line,
        )

    def _check_lengths(
        self, series: dict[str, tuple[float, ...]], table: _Table, line: int
    ) -> None:
        for axis, dependents in (
            ("sizes", ("intensity_pct", "numbers", "volumes")),
            ("zeta_axis", ("zeta_counts",)),
        ):
            if axis not in series:
                continue
            for name in dependents:
                if name in series and len(series[name]) != len(series[axis]):
                    raise ParseError(
                        f"the distribution has {len(series[axis])} classes but"
                        f" {len(series[name])} {_SERIES_LABELS[name]} values",
                        line=line,
                    )

    def _peaks(
        self, table: _Table, cells: list[str], line: int, kind: str
    ) -> tuple[tuple[dict[str, float | None], ...], set[int]]:
        wanted = {"zeta", "auto"} if kind == "zeta" else {"intensity", "auto"}
        found: dict[int, dict[str, float | None]] = {}
        consumed: set[int] = set()
        for peak in table.peaks:
            if peak.basis not in wanted:
                continue
            consumed.add(peak.column.position)
            raw = self._number(cells[peak.column.position], peak.column, line)
            value = None
            if raw is not None:
                if peak.measure in ("mean", "width"):
                    family = "mv" if kind == "zeta" else "size"
                else:
                    family = "percent"
                convert = _converter(family, peak.column.unit)
                if convert is None:
                    raise ParseError(
                        f'unknown unit "{peak.column.unit}"', line=line, column=peak.column.header
                    )
                value = _finite(convert(raw), peak.column, line)
            entry = found.setdefault(peak.number, {})
            key = {"mean": "mean_mv" if kind == "zeta" else "mean_nm"}.get(
                peak.measure, peak.measure
            )
            if entry.get(key) is None:
                entry[key] = value
        peaks = []
        for number in sorted(found):
            entry = found[number]
            if all(not v for v in entry.values()):
                continue  # the software writes 0 for a peak it did not find
            mean_key = "mean_mv" if kind == "zeta" else "mean_nm"
            peak = {mean_key: entry.get(mean_key), "area_pct": entry.get("area_pct")}
            peak["width"] = entry.get("width")
            if "pd_pct" in entry:
                peak["pd_pct"] = entry["pd_pct"]
            peaks.append(peak)
        return tuple(peaks), consumed

    @staticmethod
    def _extra(
        table: _Table,
        cells: list[str],
        arrays: dict[_Array, tuple[float, ...]],
        used: set[int],
        peak_columns: set[int],
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        for column in table.extra + [p.column for p in table.peaks]:
            if column.position in peak_columns:
                continue
            value = cells[column.position].strip()
            key = column.header or f"column {column.position + 1}"
            if value and key not in extra:
                extra[key] = value
        for array in table.arrays:
            if id(array) in used:
                continue
            texts = [
                next((cells[p].strip() for p in array.positions[i] if cells[p].strip()), "")
                for i in range(1, len(array.positions) + 1)
            ]
            while texts and not texts[-1]:
                texts.pop()
            if texts and array.label not in extra:
                extra[array.label] = texts
        return extra


_SERIES_LABELS = {
    "intensity_pct": "intensity",
    "numbers": "number",
    "volumes": "volume",
    "zeta_counts": "zeta intensity",
}


def _header_of(table: _Table, target: str) -> str:
    return table.text[target][0].header


def _finite(value: float, column: _Column, line: int) -> float:
    if not math.isfinite(value):
        raise ParseError("the value is out of range", line=line, column=column.header)
    return value


def _same(first: DLSRecord, second: DLSRecord) -> bool:
    """Two rows with the same key are one record unless their record numbers differ."""
    return (
        first.record_number is None
        or second.record_number is None
        or first.record_number == second.record_number
    )


_RECORD_FIELDS = tuple(
    name for name in DLSRecord.__dataclass_fields__ if name not in ("kind", "extra")
)


def _merge(first: DLSRecord, later: DLSRecord) -> DLSRecord:
    """``first`` completed with what ``later`` (the same record in a later table) adds."""
    changes: dict[str, Any] = {}
    for name in _RECORD_FIELDS:
        mine, theirs = getattr(first, name), getattr(later, name)
        if (mine is None or mine in ("", ())) and theirs not in (None, "", ()):
            changes[name] = theirs
    extra = dict(later.extra)
    extra.update(first.extra)
    changes["extra"] = extra
    return DLSRecord(
        **{**{n: getattr(first, n) for n in DLSRecord.__dataclass_fields__}, **changes}
    )


# -- dates -----------------------------------------------------------------------------------

_TIME = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,6}))?(?!\d)")
_MERIDIEM = re.compile(r"\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
_YMD = re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})\s*([-/.])\s*(\d{1,2})\s*[-/.]\s*(\d{4}|\d{2})(?!\d)")
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan januar janner jan janvier janv enero ene gennaio gen janeiro januari",
        "february feb februar fevrier fevr fev febrero febbraio fevereiro februari",
        "march mar marz mrz mars marzo marco maart mrt",
        "april apr avril avr abril abr aprile",
        "may mai mayo maggio mag maio mei",
        "june jun juni juin junio giugno giu junho",
        "july jul juli juillet juil julio luglio lug julho",
        "august aug aout agosto ago augustus",
        "september sep sept septembre septiembre setiembre settembre set setembro",
        "october oct oktober okt octobre octubre ottobre ott outubro out",
        "november nov novembre noviembre novembro",
        "december dec dezember dez decembre diciembre dic dicembre dezembro",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def parse_datetime(text: str, day_first: bool | None = None) -> datetime | None:
    """The local date and time of a Zetasizer "Measurement Date and Time" in any of the
    forms Windows locales print: ``Wednesday, 25 February 2026 16:02:06``, ``06 March 2026
    14:50:12``, ``Mittwoch, 25. Februar 2026``, ``2/25/2026 4:02:06 PM``, ``25.02.2026``,
    ISO. Numeric day/month order follows ``day_first``, else the clock (AM/PM means US
    month first). None when the text is not a date."""
    folded = _fold(text.strip())
    hour = minute = second = micro = 0
    meridiem = ""
    time = _TIME.search(folded)
    if time:
        hour, minute = int(time.group(1)), int(time.group(2))
        second = int(time.group(3) or 0)
        micro = int((time.group(4) or "0").ljust(6, "0")[:6])
        after = _MERIDIEM.match(folded, time.end())
        if after:
            meridiem = after.group(1)
        folded = folded[: time.start()] + " " + folded[after.end() if after else time.end() :]
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    date = _date_part(folded, day_first, bool(meridiem))
    if date is None:
        return None
    try:
        return datetime(*date, hour, minute, second, micro)
    except ValueError:
        return None


def _date_part(text: str, day_first: bool | None, twelve_hour: bool) -> tuple[int, int, int] | None:
    match = _YMD.search(text)
    if match:
        return int(match.group(1)), int(match.group(2)), int(match.group(3))
    match = _NUMERIC_DATE.search(text)
    if match:
        first, separator, second = int(match.group(1)), match.group(2), int(match.group(3))
        year = int(match.group(4))
        year += 2000 if year < 100 else 0
        if separator == ".":
            return year, second, first  # dotted dates are day first everywhere
        if day_first is None:
            day_first = not twelve_hour
        return (year, second, first) if day_first else (year, first, second)
    months = {_MONTHS[w] for w in re.findall(r"[^\W\d_]+", text) if w in _MONTHS}
    numbers = re.findall(r"\d+", text)
    years = [int(n) for n in numbers if len(n) == 4]
    days = [int(n) for n in numbers if len(n) <= 2]
    if len(months) != 1 or len(years) != 1 or len(days) != 1:
        return None
    return years[0], months.pop(), days[0]
