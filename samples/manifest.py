"""Bulk registration of samples from a CSV or XLSX manifest.

Three stages, each usable on its own:

* ``read_manifest`` turns the file's bytes into a header and raw rows (file-level problems
  such as unknown columns raise ``ManifestError``);
* ``validate_manifest`` converts and checks every row. It resolves donor codes with one query
  and then validates row by row in memory (``samples.models.sample_errors``), so 100,000 rows
  validate without a query per row;
* ``import_manifest`` / ``commit_rows`` validate again and insert in the same pass: each
  valid row is streamed into PostgreSQL COPY as soon as it is checked, in one transaction;
  an invalid row aborts the COPY, so every row or none is imported.

The page flow stages the file as a ``ManifestUpload`` first (``stage_manifest``, preview,
then ``commit_staged_manifest``, which re-reads and re-validates the stored file against the
database as it is at commit time); the API calls ``import_manifest`` directly.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from .choices import (
    CultureSerum,
    FastingState,
    FluidType,
    SampleStatus,
    SerumEVDepletion,
    StorageContainer,
    TubeType,
    UrineVoid,
)
from .manifest_models import ManifestUpload, ManifestUploadStatus
from .models import Donor, Sample, Study, next_accessions, sample_errors
from .units import VOLUME_UNITS, parse_decimal, volume_to_ml

MAX_SPINS = 3
PREVIEW_ROWS = 50
# Errors kept on the staged upload for the preview page; the full list is recomputed from
# the file when someone downloads it.
STORED_ERRORS = 5000
MAX_COLUMNS = 200
EXAMPLE_NOTE = "Example row: replace or delete it before uploading."
_INT_MAX = 2_147_483_647
_VOLUME_MAX_ML = Decimal("99999999")  # volume_ml is NUMERIC(12, 4)


class ManifestError(Exception):
    """The file as a whole cannot be read (format, encoding, columns, size)."""

    def __init__(self, messages: str | Sequence[str]) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__(" ".join(self.messages))


class ManifestInvalid(Exception):
    """Rows have errors; nothing was imported."""

    def __init__(self, result: ValidatedManifest) -> None:
        self.result = result
        super().__init__(f"{result.error_count} error(s) in {result.row_count} row(s).")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


# --- Columns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestColumn:
    name: str
    kind: str  # text | choice | decimal | float | int | bool | datetime | unit
    description: str
    unit: str = ""
    example: Any = None
    required: bool = False
    choices: type[models.TextChoices] | None = None
    max_length: int | None = None

    @property
    def allowed(self) -> str:
        """Allowed values for the template help sheet and the upload page."""
        if self.choices is not None:
            return "; ".join(f"{value} ({label})" for value, label in self.choices.choices)
        return {
            "bool": "yes/no, true/false, 1/0",
            "unit": ", ".join(VOLUME_UNITS) + " (default mL)",
            "int": "whole number ≥ 0",
            "decimal": "number > 0 (decimal point or comma)",
            "float": "number (decimal point or comma)",
            "datetime": "YYYY-MM-DD HH:MM[:SS][±HH:MM] or a date-time cell",
        }.get(
            self.kind, f"text, at most {self.max_length} characters" if self.max_length else "text"
        )


def _spin_columns(number: int) -> list[ManifestColumn]:
    example = {1: (2500, 15, 20, "no"), 2: (2500, 15, 20, "no")}.get(number, (None,) * 4)
    return [
        ManifestColumn(f"spin{number}_g", "float", f"Spin {number}: relative centrifugal force.", "×g", example[0]),
        ManifestColumn(f"spin{number}_minutes", "float", f"Spin {number}: duration.", "min", example[1]),
        ManifestColumn(f"spin{number}_temp_c", "float", f"Spin {number}: temperature.", "°C", example[2]),
        ManifestColumn(f"spin{number}_brake", "bool", f"Spin {number}: brake on? Leave empty if not recorded.", "", example[3]),
    ]  # fmt: skip


COLUMNS: tuple[ManifestColumn, ...] = (
    ManifestColumn("donor_code", "text", "Pseudonymous donor code in the chosen study. Required except for conditioned cell-culture medium.", example="D-0001", max_length=64),
    ManifestColumn("fluid_type", "choice", "Body fluid collected.", example="plasma", required=True, choices=FluidType),
    ManifestColumn("collected_at", "datetime", "Date and time of collection. Give the UTC offset (e.g. +01:00); without one the time is read in the server's time zone.", example="2025-03-14T09:30:00+01:00", required=True),
    ManifestColumn("tube_type", "choice", "Collection tube / anticoagulant. Required for plasma (an anticoagulant tube), serum and whole blood.", example="k2_edta", choices=TubeType),
    ManifestColumn("volume", "decimal", "Volume collected, in volume_unit.", "volume_unit", example=4.5),
    ManifestColumn("volume_unit", "unit", "Unit of volume: mL, µL (or uL) or L. Empty means mL.", example="mL"),
    ManifestColumn("fasting_state", "choice", "Fasting state at collection. Empty means unknown.", example="fasting", choices=FastingState),
    ManifestColumn("fasting_hours", "float", "Hours since the last meal (0–72).", "h", example=10),
    ManifestColumn("time_to_processing_min", "int", "Time from collection to first processing.", "min", example=45),
    ManifestColumn("processing_temp_c", "float", "Temperature until processing (−30 to 45).", "°C", example=21),
    *_spin_columns(1),
    *_spin_columns(2),
    *_spin_columns(3),
    ManifestColumn("not_centrifuged", "bool", "yes when the sample was deliberately not centrifuged (leave the spin columns empty). Empty spins and no here mean 'not recorded'.", example="no"),
    ManifestColumn("post_centrifugation_delay_min", "int", "Delay from the last spin to storage.", "min", example=30),
    ManifestColumn("post_centrifugation_temp_c", "float", "Temperature during that delay (−30 to 45).", "°C", example=20),
    ManifestColumn("haemolysis_a414", "float", "Haemolysis as absorbance at 414 nm (0–5). Blood-derived samples only.", "A414", example=0.12),
    ManifestColumn("free_haemoglobin_g_l", "float", "Free haemoglobin (0–50). Blood-derived samples only.", "g/L"),
    ManifestColumn("residual_platelets_per_ml", "float", "Residual platelets. Blood-derived samples only.", "/mL"),
    ManifestColumn("urine_void_type", "choice", "Urine void type. Required for urine, urine only.", choices=UrineVoid),
    ManifestColumn("creatinine_mmol_l", "float", "Urinary creatinine (0–100). Urine only.", "mmol/L"),
    ManifestColumn("cell_line", "text", "Cell line with Cellosaurus id, e.g. HEK293T (CVCL_0063). Required for conditioned medium, conditioned medium only.", max_length=120),
    ManifestColumn("passage_number", "int", "Passage number. Conditioned medium only."),
    ManifestColumn("culture_serum", "choice", "Serum in the culture medium. Conditioned medium only.", choices=CultureSerum),
    ManifestColumn("serum_ev_depletion", "choice", "How the serum was EV-depleted; required when the medium contains serum.", choices=SerumEVDepletion),
    ManifestColumn("conditioning_hours", "float", "Time the medium was conditioned. Conditioned medium only.", "h"),
    ManifestColumn("viability_at_harvest_pct", "float", "Cell viability at harvest (0–100). Conditioned medium only.", "%"),
    ManifestColumn("storage_temp_c", "float", "Storage temperature (−200 to 40).", "°C", example=-80),
    ManifestColumn("storage_container", "choice", "Storage container.", example="cryotube", choices=StorageContainer),
    ManifestColumn("status", "choice", "Sample status. Empty means available.", example="available", choices=SampleStatus),
    ManifestColumn("notes", "text", "Free-text notes.", example=EXAMPLE_NOTE),
)  # fmt: skip
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
COLUMN_BY_NAME = {column.name: column for column in COLUMNS}
REQUIRED_COLUMNS = tuple(column.name for column in COLUMNS if column.required)

# Model fields whose name differs from the manifest column that carries them.
_FIELD_TO_COLUMN = {"donor": "donor_code", "volume_ml": "volume"}
_SPIN_FIELD = re.compile(r"^Spin (\d)\b")


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


# --- Validating rows -----------------------------------------------------------------------

# Sample fields written by COPY, in table order (everything but the primary key).
_COPY_FIELDS = [f for f in Sample._meta.concrete_fields if not f.primary_key]
_COPY_COLUMNS = [f.column for f in _COPY_FIELDS]
_COPY_ATTNAMES = [f.attname for f in _COPY_FIELDS]
_JSON_ATTNAMES = [f.attname for f in _COPY_FIELDS if isinstance(f, models.JSONField)]
# Placeholder donor id for donors the commit will create (never a real primary key).
_NEW_DONOR_ID = 0
_FIELD_COLUMNS = (
    "fluid_type", "collected_at", "tube_type", "fasting_state", "fasting_hours",
    "time_to_processing_min", "processing_temp_c", "post_centrifugation_delay_min",
    "post_centrifugation_temp_c", "haemolysis_a414", "free_haemoglobin_g_l",
    "residual_platelets_per_ml", "urine_void_type", "creatinine_mmol_l", "cell_line",
    "passage_number", "culture_serum", "serum_ev_depletion", "conditioning_hours",
    "viability_at_harvest_pct", "storage_temp_c", "storage_container", "status", "notes",
)  # fmt: skip
_SPIN_NAMES = [
    [f"spin{n}_{part}" for part in ("g", "minutes", "temp_c", "brake")]
    for n in range(1, MAX_SPINS + 1)
]
_COLUMN_ORDER = {name: i for i, name in enumerate(COLUMN_NAMES)}


@dataclass
class ValidatedManifest:
    row_count: int
    errors: list[RowError]
    preview: list[dict[str, Any]]
    new_donor_codes: list[str]
    valid_count: int = 0
    file_format: str = "csv"

    @property
    def error_count(self) -> int:
        return len(self.errors)

    @property
    def rows_with_errors(self) -> int:
        return len({error.row for error in self.errors})

    @property
    def is_valid(self) -> bool:
        return not self.errors


def _donor_code_pattern() -> re.Pattern[str]:
    for validator in Donor._meta.get_field("code").validators:
        regex = getattr(validator, "regex", None)
        if regex is not None:
            return regex
    return re.compile(r".+")


_DONOR_CODE = _donor_code_pattern()
_DONOR_CODE_MAX = Donor._meta.get_field("code").max_length


def _is_valid_donor_code(code: str) -> bool:
    return len(code) <= _DONOR_CODE_MAX and _DONOR_CODE.match(code) is not None


def _resolve_donors(*, study: Study, codes: Iterable[str]) -> dict[str, int]:
    """Map donor codes to ids in ONE query (``= ANY(array)`` stays one parameter for 100k codes)."""
    codes = list(codes)
    if not codes:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT code, id FROM {Donor._meta.db_table} WHERE study_id = %s AND code = ANY(%s)",
            [study.pk, codes],
        )
        return dict(cursor.fetchall())


def _sample_factory() -> Callable[[dict[str, Any]], Sample]:
    """Build unsaved Samples from attribute values.

    ``Model.__init__`` costs about a third of the validation time per row; starting from a
    copy of a default instance's attributes gives the same object far cheaper. Falls back to
    ``__init__`` if a field ever gets a mutable default (it would be shared between rows).
    """
    defaults = dict(Sample().__dict__)
    defaults.pop("_state", None)
    if any(isinstance(value, (list, dict, set)) for value in defaults.values()):
        return lambda fields: Sample(**fields)

    def build(fields: dict[str, Any]) -> Sample:
        sample = Sample.__new__(Sample)
        attributes = defaults.copy()
        attributes.update(fields)
        attributes["_state"] = ModelState()
        sample.__dict__ = attributes
        return sample

    return build


def _donor_codes_in(table: ManifestTable) -> set[str]:
    try:
        index = table.columns.index("donor_code")
    except ValueError:
        return set()
    codes = set()
    for _, cells in table.rows:
        if index < len(cells) and not _is_blank(cells[index]):
            try:
                codes.add(_cell_text(cells[index]))
            except CellError:
                pass
    return codes


@dataclass
class _CheckedRow:
    number: int
    errors: dict[str, str]
    sample: Sample | None
    donor_code: str | None
    new_donor: bool


class _RowChecker:
    """Converts and validates one row at a time, in memory (no query per row)."""

    def __init__(
        self,
        *,
        table: ManifestTable,
        study: Study,
        donor_ids: dict[str, int],
        create_missing_donors: bool,
    ) -> None:
        converters = _converters(ZoneInfo(settings.TIME_ZONE))
        self.positions = [
            (i, name, converters[name]) for i, name in enumerate(table.columns) if name is not None
        ]
        self.width = len(table.columns)
        self.unnamed = [i for i, name in enumerate(table.columns) if name is None]
        self.study = study
        self.donor_ids = donor_ids
        self.create_missing_donors = create_missing_donors
        self.new_sample = _sample_factory()

    def check(self, number: int, cells: Sequence[Any]) -> _CheckedRow:
        row_errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for i, name, convert in self.positions:
            raw = cells[i] if i < len(cells) else None
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            try:
                values[name] = convert(raw)
            except CellError as exc:
                row_errors[name] = str(exc)
        for i in self.unnamed:
            if i < len(cells) and not _is_blank(cells[i]):
                row_errors[""] = f"A value in column {i + 1}, which has no name in the header row."
        if len(cells) > self.width and any(not _is_blank(c) for c in cells[self.width :]):
            row_errors[""] = (
                f"The row has {len(cells)} cells but the header only {self.width}; is a "
                "decimal comma unquoted in a comma-separated file?"
            )
        for name in REQUIRED_COLUMNS:
            if name not in values and name not in row_errors:
                row_errors[name] = "This column is required."
        if values.get("notes") == EXAMPLE_NOTE:
            row_errors["notes"] = "This is the template's example row; delete it or replace it."

        fields: dict[str, Any] = {"study_id": self.study.pk}
        for name in _FIELD_COLUMNS:
            if name in values:
                fields[name] = values[name]
        self._add_volume(values, fields, row_errors)
        self._add_spins(values, fields, row_errors)
        donor_code, new_donor = self._add_donor(values, fields, row_errors)

        sample = None
        if "fluid_type" in fields:
            # Rules that span fields (and range checks) are the model's, shared with the
            # forms and the API.
            sample = self.new_sample(fields)
            for field_name, message in sample_errors(sample, donor_study_id=self.study.pk).items():
                column = _FIELD_TO_COLUMN.get(field_name, field_name)
                if field_name == "centrifugation_steps":
                    match = _SPIN_FIELD.match(message)
                    column = f"spin{match.group(1)}_g" if match else "spin1_g"
                row_errors.setdefault(column, message)
        return _CheckedRow(number, row_errors, sample, donor_code, new_donor)

    @staticmethod
    def _add_volume(values: dict[str, Any], fields: dict[str, Any], errors: dict[str, str]) -> None:
        if "volume" not in values:
            return
        try:
            volume = volume_to_ml(values["volume"], values.get("volume_unit") or "mL")
        except ValidationError as exc:
            errors.setdefault("volume_unit" if exc.code == "unit" else "volume", exc.messages[0])
            return
        if volume > _VOLUME_MAX_ML:
            errors["volume"] = "Volume is too large."
        elif volume <= 0 < values["volume"]:
            errors["volume"] = "Volume is too small to record (below 0.0001 mL)."
        else:
            fields["volume_ml"] = volume

    @staticmethod
    def _add_spins(values: dict[str, Any], fields: dict[str, Any], errors: dict[str, str]) -> None:
        steps: list[dict[str, Any]] = []
        for n, names in enumerate(_SPIN_NAMES, start=1):
            if not any(name in values or name in errors for name in names):
                continue
            if len(steps) != n - 1:
                errors.setdefault(names[0], f"Fill spin {n - 1} before spin {n}.")
                continue
            for name in names[:3]:
                if name not in values and name not in errors:
                    errors[name] = f"Needed when spin {n} is given."
            steps.append(
                {
                    "g": values.get(names[0]),
                    "minutes": values.get(names[1]),
                    "temp_c": values.get(names[2]),
                    "brake": values.get(names[3]),
                }
            )
        if values.get("not_centrifuged"):
            if steps:
                errors["not_centrifuged"] = "Leave the spin columns empty when not centrifuged."
            fields["centrifugation_steps"] = []
        elif steps and not any(name.startswith("spin") for name in errors):
            fields["centrifugation_steps"] = steps

    def _add_donor(
        self, values: dict[str, Any], fields: dict[str, Any], errors: dict[str, str]
    ) -> tuple[str | None, bool]:
        code = values.get("donor_code")
        if code is None:
            if "donor_code" in errors:
                fields["donor_id"] = _NEW_DONOR_ID  # already reported; avoid a second message
            return None, False
        donor_id = self.donor_ids.get(code)
        if donor_id is not None:
            fields["donor_id"] = donor_id
            return code, False
        fields["donor_id"] = _NEW_DONOR_ID
        if not self.create_missing_donors:
            errors["donor_code"] = (
                f"No donor {code!r} in study {self.study.code}. Register the donor first or "
                "choose 'create donors that do not exist yet'."
            )
        elif not _is_valid_donor_code(code):
            errors["donor_code"] = (
                f"{code!r} is not a valid donor code: letters, digits, '.', '_', '-' or '/', "
                "no spaces."
            )
        return code, True


def _row_errors(checked: _CheckedRow) -> list[RowError]:
    return [
        RowError(checked.number, column, checked.errors[column])
        for column in sorted(checked.errors, key=lambda c: _COLUMN_ORDER.get(c, -1))
    ]


def _preview_row(checked: _CheckedRow) -> dict[str, Any]:
    sample = checked.sample
    assert sample is not None
    return {
        "row": checked.number,
        "donor_code": checked.donor_code or "",
        "new_donor": checked.new_donor,
        "fluid_type": sample.get_fluid_type_display(),
        "collected_at": sample.collected_at.isoformat() if sample.collected_at else "",
        "tube_type": sample.get_tube_type_display() if sample.tube_type else "",
        "volume_ml": str(sample.volume_ml) if sample.volume_ml is not None else "",
        "storage_temp_c": sample.storage_temp_c,
        "status": sample.get_status_display(),
        "sprec_code": sample.compute_sprec(),
    }


def validate_manifest(
    *, table: ManifestTable, study: Study, create_missing_donors: bool
) -> ValidatedManifest:
    """Check every row without saving anything. One query (donor codes); the rest runs in
    memory."""
    checker = _RowChecker(
        table=table,
        study=study,
        donor_ids=_resolve_donors(study=study, codes=_donor_codes_in(table)),
        create_missing_donors=create_missing_donors,
    )
    errors: list[RowError] = []
    preview: list[dict[str, Any]] = []
    new_codes: set[str] = set()
    valid_count = 0
    for number, cells in table.rows:
        checked = checker.check(number, cells)
        if checked.errors:
            errors.extend(_row_errors(checked))
            continue
        valid_count += 1
        if checked.new_donor:
            new_codes.add(checked.donor_code)
        if len(preview) < PREVIEW_ROWS:
            preview.append(_preview_row(checked))
    return ValidatedManifest(
        row_count=len(table.rows),
        errors=errors,
        preview=preview,
        new_donor_codes=sorted(new_codes),
        valid_count=valid_count,
        file_format=table.file_format,
    )


def check_manifest(
    *, content: bytes, file_name: str, study: Study, create_missing_donors: bool
) -> ValidatedManifest:
    """Read and validate without saving anything (the dry run and the preview)."""
    table = read_manifest(content=content, file_name=file_name)
    return validate_manifest(table=table, study=study, create_missing_donors=create_missing_donors)


# --- Importing -----------------------------------------------------------------------------


@dataclass
class ImportResult:
    count: int
    accessions: list[str]
    created_donors: list[str] = field(default_factory=list)

    @property
    def accession_range(self) -> str:
        if not self.accessions:
            return ""
        return f"{self.accessions[0]} – {self.accessions[-1]}"


def _require_editor(*, user, study: Study) -> None:
    if not Study.objects.editable_by(user).filter(pk=study.pk).exists():
        raise PermissionDenied(f"You need the editor role in study {study.code} to import samples.")


def _create_donors(*, study: Study, codes: Sequence[str]) -> dict[str, int]:
    """Create donors with default attributes for ``codes`` in one statement; return code → id.

    A manifest may name 100,000 new donors; ``bulk_create`` spends ~0.1 ms per donor on SQL
    compilation, ``INSERT … SELECT FROM unnest(codes)`` a fraction of that. ON CONFLICT: an
    import running at the same time may just have created the same code; we then use it.
    """
    if not codes:
        return {}
    now = timezone.now()
    template = Donor(study=study, code="")
    columns, selects, params = [], [], []
    for donor_field in Donor._meta.concrete_fields:
        if donor_field.primary_key:
            continue
        if donor_field.name == "code":
            columns.append(donor_field.column)
            selects.append("new_code")
            continue
        value = now if donor_field.name in {"created_at", "updated_at"} else None
        if value is None:
            value = getattr(template, donor_field.attname)
        if value is None:
            continue  # NULL is the column default
        columns.append(donor_field.column)
        selects.append(f"%s::{donor_field.db_type(connection)}")
        params.append(donor_field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Donor._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(selects)} FROM unnest(%s::text[]) AS new_code "
            "ON CONFLICT DO NOTHING",
            [*params, list(codes)],
        )
    return _resolve_donors(study=study, codes=codes)


class _RowsInvalid(Exception):
    """Aborts the COPY (nothing of it is kept) when a row turned out to be invalid."""


def _copy_checked_rows(
    *,
    table: ManifestTable,
    checker: _RowChecker,
    accessions: Sequence[str],
    user_id: Any,
    errors: list[RowError],
) -> None:
    """Validate row by row and stream valid rows into COPY as we go.

    PostgreSQL indexes the rows already sent while Python validates the next ones, so the
    two overlap on separate cores. After the first invalid row nothing more is sent, but
    every row is still checked and its errors appended to ``errors``.
    """
    now = timezone.now()
    sql = f"COPY {Sample._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        for (number, cells), accession in zip(table.rows, accessions, strict=True):
            checked = checker.check(number, cells)
            if checked.errors:
                errors.extend(_row_errors(checked))
                continue
            if errors:
                continue
            sample = checked.sample
            assert sample is not None
            attributes = sample.__dict__
            attributes["accession"] = accession
            attributes["sprec_code"] = sample.compute_sprec()
            attributes["remaining_volume_ml"] = attributes["volume_ml"]
            attributes["created_by_id"] = user_id
            attributes["created_at"] = attributes["updated_at"] = now
            for name in _JSON_ATTNAMES:
                if attributes[name] is not None:
                    attributes[name] = orjson.dumps(attributes[name]).decode()
            copy.write_row([attributes[name] for name in _COPY_ATTNAMES])
        if errors:
            raise _RowsInvalid  # psycopg ends the COPY with CopyFail: the server keeps nothing


def commit_rows(
    *, table: ManifestTable, study: Study, user, create_missing_donors: bool
) -> ImportResult:
    """Validate and insert every row in one pass; raise ManifestInvalid and keep nothing if
    any row is invalid. Must run inside a transaction (donors are created first)."""
    codes = _donor_codes_in(table)
    donor_ids = _resolve_donors(study=study, codes=codes)
    created: dict[str, int] = {}
    if create_missing_donors:
        missing = sorted(code for code in codes - donor_ids.keys() if _is_valid_donor_code(code))
        created = _create_donors(study=study, codes=missing)
        donor_ids.update(created)
    # Codes still missing now are invalid ones; the checker reports them as the preview does.
    checker = _RowChecker(
        table=table, study=study, donor_ids=donor_ids, create_missing_donors=create_missing_donors
    )
    accessions = next_accessions(len(table.rows))
    errors: list[RowError] = []
    try:
        _copy_checked_rows(
            table=table,
            checker=checker,
            accessions=accessions,
            user_id=getattr(user, "pk", None),
            errors=errors,
        )
    except _RowsInvalid:
        # The transaction is unusable after the aborted COPY; the caller's atomic block
        # rolls it back (donors included).
        raise ManifestInvalid(
            ValidatedManifest(
                row_count=len(table.rows),
                errors=errors,
                preview=[],
                new_donor_codes=[],
                file_format=table.file_format,
            )
        ) from None
    return ImportResult(count=len(accessions), accessions=accessions, created_donors=list(created))


def import_manifest(
    *,
    content: bytes,
    file_name: str,
    study: Study,
    user,
    create_missing_donors: bool,
) -> ImportResult:
    """Import every row of a manifest or none: raise ManifestError (file) or ManifestInvalid
    (rows) and save nothing when anything is wrong."""
    _require_editor(user=user, study=study)
    table = read_manifest(content=content, file_name=file_name)
    with transaction.atomic():
        return commit_rows(
            table=table, study=study, user=user, create_missing_donors=create_missing_donors
        )


# --- Staged uploads (the page flow) --------------------------------------------------------


def _store_findings(upload: ManifestUpload, result: ValidatedManifest) -> None:
    upload.row_count = result.row_count
    upload.error_count = result.error_count
    upload.errors = [error.as_dict() for error in result.errors[:STORED_ERRORS]]
    upload.preview_rows = result.preview
    upload.new_donor_codes = result.new_donor_codes


def stage_manifest(
    *, user, study: Study, file_name: str, content: bytes, create_missing_donors: bool
) -> ManifestUpload:
    """Validate an uploaded manifest and keep it for preview; raise ManifestError if the file
    cannot be read at all (then nothing is stored)."""
    _require_editor(user=user, study=study)
    result = check_manifest(
        content=content,
        file_name=file_name,
        study=study,
        create_missing_donors=create_missing_donors,
    )
    upload = ManifestUpload(
        owner=user,
        study=study,
        file_name=file_name[:255],
        content=content,
        create_missing_donors=create_missing_donors,
    )
    _store_findings(upload, result)
    upload.save()
    return upload


def recheck_staged_manifest(*, upload: ManifestUpload) -> ValidatedManifest:
    """All of a staged upload's errors, recomputed from its file (for the error download)."""
    return check_manifest(
        content=bytes(upload.content),
        file_name=upload.file_name,
        study=upload.study,
        create_missing_donors=upload.create_missing_donors,
    )


def commit_staged_manifest(*, upload: ManifestUpload, user) -> ImportResult:
    """Re-read and re-validate a staged upload against the database as it is now, and
    import every row or none.

    Raises ManifestInvalid when a row has errors (the upload's stored findings are refreshed
    so the preview shows them). Committing twice (a double click) imports once.
    """
    _require_editor(user=user, study=upload.study)
    try:
        with transaction.atomic():
            locked = (
                ManifestUpload.objects.select_for_update()
                .select_related("study")
                .get(pk=upload.pk, owner=user)
            )
            if locked.status == ManifestUploadStatus.COMMITTED:
                return ImportResult(
                    count=len(locked.accessions), accessions=list(locked.accessions)
                )
            table = read_manifest(content=bytes(locked.content), file_name=locked.file_name)
            imported = commit_rows(
                table=table,
                study=locked.study,
                user=user,
                create_missing_donors=locked.create_missing_donors,
            )
            locked.status = ManifestUploadStatus.COMMITTED
            locked.accessions = imported.accessions
            locked.committed_at = timezone.now()
            locked.content = b""  # the samples are the record now; keep no second copy
            locked.save(update_fields=["status", "accessions", "committed_at", "content"])
            return imported
    except ManifestInvalid:
        # Something changed since the preview (e.g. a donor was deleted): show it there.
        result = recheck_staged_manifest(upload=upload)
        _store_findings(upload, result)
        upload.save(
            update_fields=["row_count", "error_count", "errors", "preview_rows", "new_donor_codes"]
        )
        raise ManifestInvalid(result) from None


def purge_stale_uploads(*, older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete staged (never committed) uploads older than ``older_than``; return how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = ManifestUpload.objects.filter(
        status=ManifestUploadStatus.STAGED, created_at__lt=cutoff
    ).delete()
    return deleted


# --- Templates -----------------------------------------------------------------------------


def _example_cell(column: ManifestColumn) -> str:
    value = column.example
    return "" if value is None else str(value)


def build_template_csv() -> bytes:
    """Header with every column and one example row; UTF-8 with BOM so Excel shows µ and °."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMN_NAMES)
    writer.writerow([_example_cell(column) for column in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def build_template_xlsx() -> bytes:
    """Sheet 1: header + example row; sheet 2: every column with unit and allowed values."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Samples"
    sheet.append(list(COLUMN_NAMES))
    sheet.append([column.example for column in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column.name) + 2)
        if column.kind in {"text", "choice", "unit", "datetime"}:
            # Text cells: Excel must not turn codes like 1-2 or 03/04 into dates.
            sheet.cell(row=2, column=index).number_format = "@"
    sheet.freeze_panes = "A2"

    help_sheet = workbook.create_sheet("Columns")
    help_sheet.append(
        ["Column", "Required", "Type", "Unit", "Allowed values", "Description", "Example"]
    )
    for cell in help_sheet[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        help_sheet.append(
            [
                column.name,
                "yes" if column.required else "",
                column.kind if column.kind != "unit" else "choice",
                column.unit,
                column.allowed,
                column.description,
                _example_cell(column),
            ]
        )
    help_sheet.append([])
    help_sheet.append(
        [
            "Notes",
            "",
            "",
            "",
            "",
            f"Times without an offset are read in {settings.TIME_ZONE}. Choice values may be "
            "given as value or label, in any case. Decimal commas are accepted. Only the "
            "first sheet is imported; delete the example row before uploading.",
        ]
    )
    for letter, width in zip("ABCDEFG", (30, 9, 9, 10, 60, 70, 28), strict=True):
        help_sheet.column_dimensions[letter].width = width
    for row in help_sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
