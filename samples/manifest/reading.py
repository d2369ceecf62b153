"""Reading manifest files (CSV in any common encoding/delimiter, XLSX) and converting cells."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from ..units import parse_decimal
from .columns import (
    _INT_MAX,
    COLUMN_BY_NAME,
    COLUMNS,
    MAX_COLUMNS,
    REQUIRED_COLUMNS,
    ManifestColumn,
    ManifestError,
)

# --- Reading files -------------------------------------------------------------------------


@dataclass
class ManifestTable:
    """Header and raw rows of a manifest; ``rows`` holds (row number, cells) where the row
    number is the one a spreadsheet shows (header = row 1)."""

    columns: list[str | None]
    rows: list[tuple[int, Sequence[Any]]]
    file_format: str


def _normalise_header(raw: Any) -> str | None:
    if raw is None:
        return None
    text = str(raw).replace("\ufeff", "").strip()
    if not text:
        return None
    # Accept "Donor code", "donor-code" and "Volume (mL)" for the column names.
    text = re.sub(r"\s*\([^)]*\)\s*$", "", text)
    return re.sub(r"[\s\-]+", "_", text).lower()


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _decode(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError:
            raise ManifestError("The file looks like UTF-16 but cannot be decoded.") from None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Excel on Windows saves "CSV" in the ANSI code page; cp1252 covers Western Europe and
    # latin-1 decodes any byte, so the last resort never fails.
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def _sniff_delimiter(first_line: str) -> str:
    counts = {delimiter: first_line.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(content: bytes) -> tuple[list[Any], Iterator[tuple[int, Sequence[Any]]]]:
    text = _decode(content)
    if "\x00" in text:
        raise ManifestError("The file contains NUL bytes; it is not a CSV text file.")
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    numbered = enumerate(reader, start=1)
    try:
        for _number, header in numbered:
            if any(not _is_blank(cell) for cell in header):
                return header, numbered
    except csv.Error as exc:
        raise ManifestError(f"The CSV file cannot be read: {exc}.") from None
    raise ManifestError("The file is empty: no header row.")


def _guarded(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """Turn whatever a damaged workbook makes openpyxl raise into a ManifestError."""
    try:
        yield from rows
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise ManifestError(f"The XLSX workbook cannot be read ({type(exc).__name__}).") from None


def _read_xlsx(content: bytes) -> tuple[list[Any], Iterator[tuple[int, Sequence[Any]]]]:
    from openpyxl import load_workbook  # only needed for XLSX uploads

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ManifestError("The file is not a valid XLSX workbook.") from None
    # A small zip can inflate to gigabytes; refuse before parsing ("zip bomb").
    if unpacked > 25 * settings.MANIFEST_MAX_BYTES:
        raise ManifestError("The workbook unpacks to too much data; save it as CSV instead.")
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        # Some writers store a wrong sheet size; recompute it instead of trusting it.
        sheet.reset_dimensions()
        numbered = enumerate(_guarded(sheet.iter_rows(values_only=True)), start=1)
        for _number, header in numbered:
            if any(not _is_blank(cell) for cell in header):
                return list(header), numbered
    except ManifestError:
        raise
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise ManifestError(f"The XLSX workbook cannot be read ({type(exc).__name__}).") from None
    raise ManifestError("The first sheet is empty: no header row.")


def read_manifest(*, content: bytes, file_name: str = "") -> ManifestTable:
    """Read a CSV or XLSX manifest; raise ManifestError for problems with the file as a whole."""
    if len(content) > settings.MANIFEST_MAX_BYTES:
        raise ManifestError(
            f"The file is larger than {settings.MANIFEST_MAX_BYTES // (1024 * 1024)} MB; split it."
        )
    if content.startswith(b"PK\x03\x04"):
        file_format = "xlsx"
        header, numbered = _read_xlsx(content)
    elif content.startswith(b"\xd0\xcf\x11\xe0"):
        raise ManifestError("Old Excel (.xls) files are not supported; save as .xlsx or CSV.")
    else:
        file_format = "csv"
        header, numbered = _read_csv(content)

    if len(header) > MAX_COLUMNS:
        raise ManifestError(f"The header has more than {MAX_COLUMNS} columns.")
    columns = [_normalise_header(cell) for cell in header]
    messages = []
    unknown = [c for c in columns if c is not None and c not in COLUMN_BY_NAME]
    if unknown:
        messages.append(
            "Unknown column(s): "
            + ", ".join(unknown)
            + ". Use the column names of the template (download it from the import page)."
        )
    duplicates = sorted({c for c in columns if c is not None and columns.count(c) > 1})
    if duplicates:
        messages.append("Column(s) given more than once: " + ", ".join(duplicates) + ".")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        messages.append("Missing required column(s): " + ", ".join(missing) + ".")
    if messages:
        raise ManifestError(messages)

    rows: list[tuple[int, Sequence[Any]]] = []
    max_rows = settings.MANIFEST_MAX_ROWS
    try:
        for number, cells in numbered:
            if not any(not _is_blank(cell) for cell in cells):
                continue
            if len(rows) >= max_rows:
                raise ManifestError(
                    f"The manifest has more than {max_rows:,} rows; split it into several files."
                )
            rows.append((number, cells))
    except csv.Error as exc:
        raise ManifestError(f"The CSV file cannot be read: {exc}.") from None
    if not rows:
        raise ManifestError("The manifest has a header but no data rows.")
    return ManifestTable(columns=columns, rows=rows, file_format=file_format)


# --- Converting cells ----------------------------------------------------------------------


class CellError(ValueError):
    pass


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-zµμ]+", "", text.lower())


def _choice_lookup(choices: type[models.TextChoices]) -> dict[str, str]:
    """Value or label, case-insensitively, also with spaces/dashes/underscores ignored."""
    table: dict[str, str] = {}
    squashed: dict[str, set[str]] = {}
    for value, label in choices.choices:
        for key in (str(value), str(label)):
            table[key.strip().lower()] = value
            squashed.setdefault(_squash(key), set()).add(value)
    for key, values in squashed.items():
        if len(values) == 1 and key:
            table.setdefault(key, next(iter(values)))
    return table


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if "\x00" in text:
        raise CellError("Contains a NUL character.")
    return text


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise CellError(f"{value!r} is not a number.")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        number = Decimal(repr(value))
    else:
        try:
            number = parse_decimal(value)
        except ValidationError as exc:
            raise CellError(exc.messages[0]) from None
    if not number.is_finite():
        raise CellError(f"{value!r} is not a finite number.")
    return number


def _convert_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise CellError(f"{value!r} is not a finite number.")
        return number
    return float(_to_decimal(value))


def _convert_int(value: Any) -> int:
    number = _to_decimal(value)
    if number != number.to_integral_value():
        raise CellError(f"{_cell_text(value)!r} is not a whole number.")
    if not 0 <= number <= _INT_MAX:
        raise CellError("Must be a whole number of at least 0.")
    return int(number)


_TRUE = frozenset({"yes", "y", "true", "t", "1", "ja", "oui", "x"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "nein", "non"})


def _convert_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _cell_text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellError(f"{_cell_text(value)!r} is not yes/no, true/false or 1/0.")


def _make_datetime_converter(zone: ZoneInfo) -> Callable[[Any], datetime]:
    def convert(value: Any) -> datetime:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value, time())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            raise CellError(
                "A number, not a date and time; format the cell as a date or use YYYY-MM-DD HH:MM."
            )
        else:
            text = _cell_text(value)
            if len(text) <= 10:
                raise CellError(
                    f"{text!r}: give the date and time of collection, e.g. 2025-03-14 09:30+01:00."
                )
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise CellError(
                    f"{text!r} is not a date and time; use YYYY-MM-DD HH:MM[:SS] with an "
                    "optional offset such as +01:00."
                ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment

    return convert


def _make_choice_converter(column: ManifestColumn) -> Callable[[Any], str]:
    assert column.choices is not None
    table = _choice_lookup(column.choices)
    listing = ", ".join(column.choices.values)

    def convert(value: Any) -> str:
        text = _cell_text(value)
        found = table.get(text.lower()) or table.get(_squash(text))
        if found is None:
            raise CellError(f"Unknown {column.name} {text!r}; use one of: {listing}.")
        return found

    return convert


def _make_text_converter(column: ManifestColumn) -> Callable[[Any], str]:
    limit = column.max_length

    def convert(value: Any) -> str:
        text = _cell_text(value)
        if limit and len(text) > limit:
            raise CellError(f"At most {limit} characters (this has {len(text)}).")
        return text

    return convert


def _convert_unit(value: Any) -> str:
    return _cell_text(value)


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Manifests repeat the same few values per column (tube, temperatures, spins): convert
    each distinct text once. Results are immutable, so sharing them between rows is safe."""
    cache: dict[str, Any] = {}

    def cached(raw: Any) -> Any:
        if type(raw) is not str:  # spreadsheet cells: 1 == 1.0 == True must not collide
            return convert(raw)
        try:
            hit = cache[raw]
        except KeyError:
            try:
                hit = convert(raw)
            except CellError as exc:
                hit = exc
            if len(cache) < 10_000:
                cache[raw] = hit
        if isinstance(hit, CellError):
            raise hit
        return hit

    return cached


def _converters(zone: ZoneInfo) -> dict[str, Callable[[Any], Any]]:
    table: dict[str, Callable[[Any], Any]] = {}
    for column in COLUMNS:
        if column.kind == "choice":
            table[column.name] = _memoised(_make_choice_converter(column))
        elif column.kind == "text":
            table[column.name] = _make_text_converter(column)
        elif column.kind == "datetime":
            table[column.name] = _make_datetime_converter(zone)
        else:
            convert = {
                "decimal": _to_decimal,
                "float": _convert_float,
                "int": _convert_int,
                "bool": _convert_bool,
                "unit": _convert_unit,
            }[column.kind]
            table[column.name] = _memoised(convert)
    return table
