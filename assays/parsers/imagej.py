"""ImageJ / Fiji "Results" tables: western-blot band densitometry uploaded with a marker result
(INSTRUMENT-FORMATS.md §8; layout from ImageJ's ResultsTable, no lab export seen yet).

Not an instrument file, so it is not in the registry: the upload view calls
``parse_results_table`` directly. ImageJ writes ``.csv`` (comma) or ``.xls`` (really tab
text); a table re-saved by a European Excel may use ``;`` and decimal commas. The first,
unnamed column is ImageJ's row index (header ``" "``), reported as ``"#"``; then come the
measurements the user enabled (``Label``, ``Area``, ``Mean``, ``IntDen``, ``RawIntDen``,
``%Area``…), or ``Area``/``Percent`` from the Gel Analyzer's wand tool. The column set
depends on the user's Set Measurements, so columns are found by name.

Values are floats, ``Label`` and columns ImageJ never writes stay text, and empty or
``NaN`` cells are None. ``band_values`` gives one value per band from the best column the
table has.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from ._text import decode_text, norm_key, read_or_parse_error, split_lines, to_float
from .base import ParseError

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000

# Preferred band value first: IntDen (Area × Mean), RawIntDen (sum of pixel values), the
# Gel Analyzer's peak Area (a table without Mean), then Mean.
VALUE_COLUMNS = ("IntDen", "RawIntDen", "Area", "Mean")
INDEX_COLUMN = "#"
LABEL_COLUMN = "Label"
# Every number column ImageJ's Analyzer and Gel Analyzer can write.
_NUMERIC = {
    norm_key(name)
    for name in (
        "Area Mean StdDev Mode Min Max X Y XM YM Perim. BX BY Width Height Major Minor Angle"
        " Circ. Feret IntDen Median Skew Kurt %Area RawIntDen Slice Ch Frame FeretX FeretY"
        " FeretAngle MinFeret AR Round Solidity Percent Length"
    ).split()
}
_MISSING = {"", "nan", "-nan", "infinity", "-infinity", "inf", "-inf"}
# Rows Analyze > Summarize appends under the measurements.
_SUMMARY_LABELS = ("mean", "sd", "min", "max")
_COMMA_NUMBER = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_POINT_NUMBER = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class DensitometryTable:
    """An ImageJ Results table: ``columns`` in file order, one dict per row keyed by them."""

    columns: tuple[str, ...]
    rows: tuple[dict[str, float | str | None], ...]

    @property
    def value_column(self) -> str | None:
        """The column ``band_values`` reads, or None when the table has none of them."""
        by_norm = {norm_key(c): c for c in self.columns}
        for wanted in VALUE_COLUMNS:
            key = norm_key(wanted)
            if key not in by_norm:
                continue
            if key == "area" and "mean" in by_norm:
                # Beside Mean, Area is Analyze > Measure's ROI size (the same for every box
                # of one size), not a band signal; only the Gel Analyzer's Area is a peak.
                continue
            return by_norm[key]
        return None


class BandValues(list[tuple[str, float]]):
    """(label, value) per band, with ``value_column`` naming the column they came from."""

    def __init__(self, values: list[tuple[str, float]], value_column: str) -> None:
        super().__init__(values)
        self.value_column = value_column


def parse_results_table(data: bytes, name: str = "") -> DensitometryTable:
    """The Results table in ``data`` (CSV or tab text); ParseError for anything else."""
    if len(data) > MAX_BYTES:
        raise ParseError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    return read_or_parse_error(lambda: _read(data), file_kind="ImageJ Results")


def band_values(table: DensitometryTable) -> BandValues:
    """(label, value) of every measured band, from IntDen, else RawIntDen, else the Gel
    Analyzer's peak Area, else Mean (see ``DensitometryTable.value_column``). The label is
    ``Label`` when ImageJ wrote one, else the row index. Rows without a value and the
    Mean/SD/Min/Max rows of Analyze > Summarize are left out."""
    column = table.value_column
    if column is None:
        raise ParseError(
            "the table has no IntDen, RawIntDen, Area or Mean column to read band values from"
        )
    label_column = next((c for c in table.columns if norm_key(c) == norm_key(LABEL_COLUMN)), None)
    rows = list(table.rows)
    if [_row_label(row, label_column) for row in rows[-4:]] == list(_SUMMARY_LABELS):
        del rows[-4:]  # Analyze > Summarize appended Mean, SD, Min and Max rows
    values: list[tuple[str, float]] = []
    for number, row in enumerate(rows, start=1):
        value = row.get(column)
        if not isinstance(value, float):
            continue
        values.append((_label(row, label_column, number), value))
    return BandValues(values, column)


def _row_label(row: dict[str, float | str | None], label_column: str | None) -> str:
    """The normalised text label of a row (Label, or text ImageJ put in the index column)."""
    for column in (label_column, INDEX_COLUMN):
        value = row.get(column) if column else None
        if isinstance(value, str) and value:
            return norm_key(value)
    return ""


def _label(row: dict[str, float | str | None], label_column: str | None, number: int) -> str:
    if label_column is not None:
        label = row.get(label_column)
        if isinstance(label, str) and label:
            return label
    index = row.get(INDEX_COLUMN)
    if isinstance(index, float):
        return f"{index:g}"
    if isinstance(index, str) and index:
        return index  # a row label ImageJ wrote in place of the number
    return str(number)


def _read(data: bytes) -> DensitometryTable:
    text, _ = decode_text(data)
    lines = split_lines(text)
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:  # pragma: no cover - decode_text refuses blank files
        raise ParseError("the file contains no text")
    delimiter = _delimiter(lines[start])
    reader = csv.reader(lines[start:], delimiter=delimiter, strict=False)
    table: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            # line_num counts physical lines, so a quoted value spanning lines stays exact.
            table.append((start + reader.line_num, cells))
            if len(table) > MAX_ROWS + 1:
                raise ParseError(f"the table has more than {MAX_ROWS} rows", line=table[-1][0])
    except csv.Error as exc:
        raise ParseError(
            f"the table cannot be read ({exc})", line=start + reader.line_num
        ) from None
    columns = _columns(table[0][1], table[0][0])
    body = [(line, cells) for line, cells in table[1:] if any(c.strip() for c in cells)]
    if not body:
        raise ParseError("the Results table has a header but no measurements", line=start + 1)
    decimal = _sniff_decimal(columns, body, delimiter)
    rows = tuple(_row(columns, cells, line, decimal) for line, cells in body)
    return DensitometryTable(columns=tuple(columns), rows=rows)


def _delimiter(header: str) -> str:
    if "\t" in header:
        return "\t"
    return ";" if header.count(";") > header.count(",") else ","


def _columns(cells: list[str], line: int) -> list[str]:
    columns = [cell.strip() for cell in cells]
    while len(columns) > 1 and not columns[-1]:
        columns.pop()  # a trailing delimiter
    if columns and not columns[0]:
        columns[0] = INDEX_COLUMN  # ImageJ's unnamed row-index column
    for position, column in enumerate(columns):
        if not column:
            raise ParseError(f"column {position + 1} has no header", line=line)
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise ParseError(f'the column "{column}" appears twice', line=line, column=column)
        seen.add(column)
    if not any(norm_key(c) in _NUMERIC for c in columns):
        raise ParseError(
            "not an ImageJ Results table: the header has none of ImageJ's measurement columns"
            " (Area, Mean, IntDen, RawIntDen, …)",
            line=line,
        )
    return columns


def _sniff_decimal(columns: list[str], body: list[tuple[int, list[str]]], delimiter: str) -> str:
    if delimiter == ",":
        return "."
    comma = point = 0
    for _, cells in body:
        for cell in cells[: len(columns)]:
            cell = cell.strip()
            if _COMMA_NUMBER.fullmatch(cell):
                comma += 1
            elif _POINT_NUMBER.fullmatch(cell):
                point += 1
    return "," if comma and not point else "."


def _row(
    columns: list[str], cells: list[str], line: int, decimal: str
) -> dict[str, float | str | None]:
    if len(cells) > len(columns):
        if any(c.strip() for c in cells[len(columns) :]):
            raise ParseError(
                f"the row has {len(cells)} values but the header has {len(columns)} columns",
                line=line,
            )
        cells = cells[: len(columns)]
    row: dict[str, float | str | None] = {}
    for position, column in enumerate(columns):
        text = cells[position].strip() if position < len(cells) else ""
        key = norm_key(column)
        if key == norm_key(LABEL_COLUMN):
            row[column] = text
        elif norm_key(text) in _MISSING:
            row[column] = None
        else:
            try:
                row[column] = to_float(text, decimal)
            except ValueError:
                # The index column may hold a row label (summary rows) instead of a number.
                if key in _NUMERIC:
                    raise ParseError(
                        f"not a number: {text[:40]!r}", line=line, column=column
                    ) from None
                row[column] = text
    return row
