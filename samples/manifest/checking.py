"""Validating manifest rows in memory (donors resolved with one query)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models.base import ModelState

from ..models import Donor, Sample, Study, sample_errors
from ..units import volume_to_ml
from .columns import (
    _FIELD_TO_COLUMN,
    _SPIN_FIELD,
    _VOLUME_MAX_ML,
    COLUMN_NAMES,
    EXAMPLE_NOTE,
    MAX_SPINS,
    PREVIEW_ROWS,
    REQUIRED_COLUMNS,
    RowError,
)
from .reading import (
    CellError,
    ManifestTable,
    _cell_text,
    _converters,
    _is_blank,
    read_manifest,
)

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
