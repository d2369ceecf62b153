"""Manifest columns, their conversions and the downloadable templates."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from ..choices import (
    CultureSerum,
    FastingState,
    FluidType,
    SampleStatus,
    SerumEVDepletion,
    StorageContainer,
    TubeType,
    UrineVoid,
)
from ..units import VOLUME_UNITS

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


if TYPE_CHECKING:
    from .checking import ValidatedManifest


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
