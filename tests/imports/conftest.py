"""Helpers for manifest-import tests: build CSV/XLSX manifests in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from samples.manifest import COLUMN_NAMES


def good_row(**overrides: Any) -> dict[str, Any]:
    """A valid plasma row for donor D-001 (the ``donor`` fixture)."""
    row: dict[str, Any] = {
        "donor_code": "D-001",
        "fluid_type": "plasma",
        "collected_at": "2024-05-01T09:30:00+02:00",
        "tube_type": "k2_edta",
        "volume": "4.5",
        "volume_unit": "mL",
        "time_to_processing_min": "45",
        "processing_temp_c": "21",
        "spin1_g": "2500",
        "spin1_minutes": "15",
        "spin1_temp_c": "20",
        "spin1_brake": "no",
        "spin2_g": "2500",
        "spin2_minutes": "15",
        "spin2_temp_c": "20",
        "spin2_brake": "no",
        "post_centrifugation_delay_min": "30",
        "post_centrifugation_temp_c": "20",
        "storage_container": "cryotube",
        "storage_temp_c": "-80",
        "notes": "",
    }
    row.update(overrides)
    return row


def manifest_csv(
    rows: Sequence[dict[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> bytes:
    columns = list(columns or COLUMN_NAMES)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c, "") for c in columns])
    return buffer.getvalue().encode(encoding)


def manifest_xlsx(rows: Sequence[dict[str, Any]], *, columns: Sequence[str] | None = None) -> bytes:
    from openpyxl import Workbook

    columns = list(columns or COLUMN_NAMES)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(columns)
    for row in rows:
        sheet.append([row.get(c) if row.get(c) != "" else None for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def naive(text: str) -> datetime:
    return datetime.fromisoformat(text)
