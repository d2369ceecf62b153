"""Characterisation records entered by people: protein results and hand-typed plates, marker
results (with blot images and densitometry), imaging records and their images, DLS results,
the MIFlowCyt-EV fields of flow measurements, manual Cq values and qPCR sample maps.

Pages and the API call these functions; the instrument-file pipeline writes its own rows
(``assays.filing``). Every writer runs in one transaction with the acting user on the audit
trail, checks that the user may record on the tube (editor or manager of its study; else
``PermissionDenied``), validates with the model's ``full_clean()`` and raises
``ValidationError({field: message})`` before anything is stored. Files are checked (Pillow
for images, the ImageJ parser for densitometry tables) before any row is written.

``StateConflict`` is a refusal that is not about the input but about the record (a result
derived from a plate, a marker still in use); the API answers it with 409.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import numpy as np
import pghistory
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models import CheckConstraint, Q
from PIL import Image

from exolims.services import service
from samples.choices import Role
from samples.models import Aliquot, Study, StudyMembership

from . import protein_services
from .choices import DLSKind, ImageView, ProteinAssayStatus, ProteinMethod, QPCRTask
from .models import (
    DLSMeasurement,
    FlowMeasurement,
    ImagingImage,
    ImagingRecord,
    Instrument,
    InstrumentFile,
    Marker,
    MarkerResult,
    ProteinAssay,
    ProteinMeasurement,
    QPCRResult,
    QPCRRun,
)
from .permissions import instrument_of
from .protein import normalise_well

__all__ = [
    "BLOT_IMAGE_MAX_BYTES",
    "DENSITOMETRY_MAX_BYTES",
    "IMAGE_MAX_BYTES",
    "THUMBNAIL_PX",
    "StateConflict",
    "add_image",
    "can_edit_markers",
    "can_edit_plate",
    "can_edit_qpcr_run",
    "create_plate",
    "delete_marker",
    "delete_record",
    "map_qpcr_samples",
    "marker_for",
    "record_dls_measurement",
    "record_imaging",
    "record_marker_result",
    "record_protein_measurement",
    "record_qpcr_results",
    "save_marker",
    "update_flow_reporting",
    "update_imaging_record",
    "update_marker_result",
    "update_protein_measurement",
]

MB = 1024 * 1024
BLOT_IMAGE_MAX_BYTES = 50 * MB
# Electron micrographs come as large (often 16-bit) TIFFs.
IMAGE_MAX_BYTES = 200 * MB
DENSITOMETRY_MAX_BYTES = 10 * MB  # the ImageJ parser's own limit
THUMBNAIL_PX = 320
MAX_QPCR_ROWS = 1536  # a full 1536-well plate
MAX_PLATE_ROWS, MAX_PLATE_COLUMNS = 16, 48  # up to 1536-well plates
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff"}

# Fields a person may give for each kind of record (besides the tube).
COMMON_FIELDS = (
    "measured_at",
    "operator",
    "instrument",
    "sop",
    "controls",
    "notes",
    "raw_files",
)
# Most raw files one record may link to.
MAX_RAW_FILES = 50
PROTEIN_OWN_FIELDS = ("method", "concentration_ug_per_ml", "dilution_factor", "volume_ml")
MARKER_OWN_FIELDS = (
    "marker",
    "method",
    "detection",
    "antibody_clone",
    "antibody_vendor",
    "antibody_catalogue",
    "antibody_rrid",
    "antibody_lot",
    "antibody_dilution",
    "lysis_buffer",
    "reducing",
    "loading_amount",
    "loading_unit",
    "semi_quantitative",
    "band_intensity",
)
IMAGING_OWN_FIELDS = (
    "method",
    "stain",
    "grid",
    "grid_positions_predefined",
    "bilayer_observed",
    "n_vesicles_measured",
    "size_mean_nm",
    "size_median_nm",
    "size_sd_nm",
    "size_min_nm",
    "size_max_nm",
)
DLS_OWN_FIELDS = (
    "kind",
    "record_number",
    "sample_name",
    "temperature_c",
    "dispersant",
    "z_average_nm",
    "pdi",
    "intercept",
    "count_rate_kcps",
    "attenuator",
    "quality",
    "peaks",
    "zeta_potential_mv",
    "zeta_deviation_mv",
    "mobility",
    "conductivity_ms_cm",
)
PROTEIN_FIELDS = (*COMMON_FIELDS, *PROTEIN_OWN_FIELDS)
MARKER_FIELDS = (*COMMON_FIELDS, *MARKER_OWN_FIELDS)
IMAGING_FIELDS = (*COMMON_FIELDS, *IMAGING_OWN_FIELDS)
DLS_FIELDS = (*COMMON_FIELDS, *DLS_OWN_FIELDS)
IMAGE_FIELDS = ("view", "scale_nm_per_px", "scale_bar_nm", "magnification", "caption")
FLOW_REPORTING_FIELDS = (
    "calibration_beads",
    "refractive_index_assumed",
    "scatter_unit",
    "fluorescence_unit",
    "lod_scatter",
    "lod_fluorescence",
    "gating",
    "analysed_volume_ul",
    "dilution_factor",
    "controls",
    "notes",
    "raw_files",
)
QPCR_ROW_FIELDS = ("target", "cq", "well", "task", "reporter", "quantity", "sample_name")
MARKER_VOCABULARY_FIELDS = ("symbol", "name", "aliases", "category", "source")


class StateConflict(ValidationError):
    """The input is fine but the record's state refuses the change (the API answers 409)."""


# --- Who may do what --------------------------------------------------------------------------


def _require_tube(user, aliquot: Aliquot | None) -> None:
    if aliquot is None or aliquot.pk is None:
        raise ValidationError({"aliquot": "Pick the measured tube."})
    if not Aliquot.objects.editable_by(user).filter(pk=aliquot.pk).exists():
        raise PermissionDenied(
            "You need the editor role in the tube's study to record results on it."
        )


def _require_record(user, record) -> None:
    """Changing a record needs the editor role in its study (the tube's study)."""
    if not Study.objects.editable_by(user).filter(pk=record.study_id).exists():
        raise PermissionDenied("You need the editor role in the record's study to change it.")


def _editable_study_ids(user) -> set[int] | None:
    """Ids of the studies the user may edit; None for a superuser (all)."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return None
    return set(Study.objects.editable_by(user).values_list("pk", flat=True))


def can_edit_plate(user, assay: ProteinAssay) -> bool:
    """May ``user`` change this plate's map (and so replace its results)? They must see it,
    and be an editor of every study whose tubes it holds results for; a plate on no study
    yet goes to its creator or, like an unmatched instrument file, any editor."""
    if not ProteinAssay.objects.visible_to(user).filter(pk=assay.pk).exists():
        return False
    editable = _editable_study_ids(user)
    if editable is None:
        return True
    studies = set(
        ProteinMeasurement.objects.filter(assay_id=assay.pk).values_list("study_id", flat=True)
    )
    if assay.study_id:
        studies.add(assay.study_id)
    # Tubes the saved map names count too: a half-mapped plate is its mapper's study's.
    named = {
        int(entry["sample"])
        for entry in (assay.plate_map or {}).values()
        if isinstance(entry, dict)
        and str(entry.get("sample") or "").isascii()
        and str(entry.get("sample") or "").isdecimal()
    }
    if named:
        studies |= set(Aliquot.objects.filter(pk__in=named).values_list("study_id", flat=True))
    if studies:
        return studies <= editable
    return _unclaimed_for(user, assay.created_by_id, assay.instrument_file_id, editable)


def can_edit_qpcr_run(user, run: QPCRRun) -> bool:
    """The same rule for a qPCR run: re-assigning its rows must not move results of a study
    the user cannot edit."""
    if not QPCRRun.objects.visible_to(user).filter(pk=run.pk).exists():
        return False
    editable = _editable_study_ids(user)
    if editable is None:
        return True
    studies = set(
        QPCRResult.objects.filter(run_id=run.pk, study__isnull=False).values_list(
            "study_id", flat=True
        )
    )
    if run.study_id:
        studies.add(run.study_id)
    named = {
        int(tube)
        for tube in (run.sample_map or {}).values()
        if str(tube).isascii() and str(tube).isdecimal()
    }
    if named:
        studies |= set(Aliquot.objects.filter(pk__in=named).values_list("study_id", flat=True))
    if studies:
        return studies <= editable
    return _unclaimed_for(user, run.created_by_id, run.instrument_file_id, editable)


def _unclaimed_for(user, created_by_id, file_id, editable: set[int]) -> bool:
    """Nothing on any tube yet: its creator may act, and for a lab instrument's file (no
    person uploaded it) any editor of the lab — as for an unmatched instrument file."""
    if created_by_id == user.pk:
        return True
    if not editable or file_id is None:
        return False
    return InstrumentFile.objects.filter(pk=file_id, uploaded_by__instrument__isnull=False).exists()


def can_edit_markers(user) -> bool:
    """The vocabulary is lab-wide: staff and the managers of any study may change it."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if instrument_of(user) is not None:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return StudyMembership.objects.filter(user=user, role=Role.MANAGER).exists()


# --- Validation helpers -----------------------------------------------------------------------


def _assign(record: models.Model, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError({name: "Not a field you can set on this record." for name in unknown})
    for name, value in data.items():
        if name == "raw_files":
            record._raw_file_ids = value  # linked after the row is saved (_link_raw_files)
            continue
        if name == "operator":
            value = _operator(value)
        elif name == "instrument":
            value = _instrument(value)
        elif isinstance(value, str) and name not in ("notes", "gating"):
            value = value.strip()
        setattr(record, name, value)


def _link_raw_files(record: models.Model, user) -> None:
    """Link the instrument files a person named as the record's raw data. Only files the
    user may see; any other id is refused (the service's transaction undoes the save)."""
    ids = getattr(record, "_raw_file_ids", None)
    if ids is None:
        return
    if not isinstance(ids, list | tuple) or len(ids) > MAX_RAW_FILES:
        raise ValidationError({"raw_files": f"Give at most {MAX_RAW_FILES} file ids as a list."})
    wanted = set()
    for value in ids:
        text = str(value).strip()
        if isinstance(value, bool) or not (text.isascii() and text.isdecimal()):
            raise ValidationError({"raw_files": f"{value!r} is not an instrument file id."})
        wanted.add(int(text))
    found = set(
        InstrumentFile.objects.visible_to(user).filter(pk__in=wanted).values_list("pk", flat=True)
    )
    missing = sorted(wanted - found)
    if missing:
        listed = ", ".join(str(pk) for pk in missing)
        raise ValidationError({"raw_files": f"No instrument file you can see has id {listed}."})
    record.raw_files.set(sorted(found))


def _operator(value: Any):
    if value is None or value == "":
        return None
    user_model = get_user_model()
    if isinstance(value, user_model):
        if value.is_active:
            return value
    elif str(value).isdecimal():
        found = user_model.objects.filter(pk=int(value), is_active=True).first()
        if found is not None:
            return found
    raise ValidationError({"operator": "No such active user."})


def _instrument(value: Any) -> Instrument | None:
    if value is None or value == "":
        return None
    if isinstance(value, Instrument):
        return value
    if str(value).isdecimal():
        found = Instrument.objects.filter(pk=int(value)).first()
        if found is not None:
            return found
    raise ValidationError({"instrument": f"No instrument {value!r}."})


def _condition_fields(condition: Q) -> list[str]:
    names: list[str] = []
    for child in condition.children:
        if isinstance(child, Q):
            names.extend(_condition_fields(child))
        else:
            names.append(child[0].split("__")[0])
    return names


def _field_of_constraint(model: type[models.Model], message: str) -> str | None:
    """The field a check constraint's message is about (its first field), so a violated
    constraint is reported next to the input that broke it."""
    for constraint in model._meta.constraints:
        if isinstance(constraint, CheckConstraint) and (
            str(constraint.violation_error_message) == message
        ):
            fields = _condition_fields(constraint.condition)
            return fields[0] if fields else None
    return None


def _full_clean(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """``full_clean()`` with the constraint messages moved onto their fields and infinite
    or NaN numbers refused (PostgreSQL would store them)."""
    errors: dict[str, list[str]] = {}
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            if key == "__all__":
                for message in messages:
                    field = _field_of_constraint(type(instance), message) or "__all__"
                    errors.setdefault(field, []).append(message)
            else:
                errors.setdefault(key, []).extend(messages)
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname, None)
        if isinstance(field, models.FloatField) and isinstance(value, float):
            if not math.isfinite(value):
                errors.setdefault(field.name, []).append("Must be a finite number.")
    if errors:
        raise ValidationError(errors)


def _new_record(model: type[models.Model], *, user, aliquot: Aliquot) -> Any:
    return model(aliquot=aliquot, study_id=aliquot.study_id, created_by=user, operator=user)


def _defaults_operator(record, user, data: Mapping[str, Any]) -> None:
    if data.get("operator") in (None, ""):
        record.operator = user


def _locked(record: models.Model) -> Any:
    return type(record).objects.select_for_update().get(pk=record.pk)


# --- Markers ----------------------------------------------------------------------------------


def marker_for(symbol: str) -> Marker:
    """The vocabulary row for a symbol or alias. A symbol that only a family pattern covers
    (ITGB1 under ITGB*) gets its own row, classified as the family is, so results always
    name a specific protein."""
    text = (symbol if isinstance(symbol, str) else "").strip().upper()
    if not text:
        raise ValidationError({"marker": "Give the marker's HGNC symbol, e.g. CD63."})
    marker = Marker.objects.lookup(text)
    if marker is None:
        raise ValidationError(
            {
                "marker": f"Unknown marker '{symbol}'. Add it to the marker vocabulary with "
                "its MISEV category first."
            }
        )
    if not marker.is_family:
        return marker
    member = Marker(
        symbol=text, category=marker.category, source=f"family {marker.symbol}", aliases=[]
    )
    try:
        member.full_clean()
    except ValidationError as exc:
        problems = exc.message_dict.get("symbol") or exc.messages
        raise ValidationError({"marker": f"{symbol!r}: {' '.join(problems)}"}) from None
    with transaction.atomic():
        found, _created = Marker.objects.get_or_create(
            symbol=text,
            defaults={"category": marker.category, "source": member.source, "aliases": []},
        )
    return found


def _resolve_marker(value: Any) -> Marker:
    if isinstance(value, Marker):
        if value.is_family:
            raise ValidationError(
                {"marker": "Record the specific marker (e.g. ITGB1), not a family pattern."}
            )
        return value
    return marker_for(value)


@service
def save_marker(*, user, data: Mapping[str, Any], marker: Marker | None = None) -> Marker:
    """Add a vocabulary row or change one (symbol, name, aliases, category, source). An
    alias may not be another row's symbol or alias; built-in rows keep their symbol."""
    if not can_edit_markers(user):
        raise PermissionDenied("Changing the marker vocabulary needs staff or a study manager.")
    data = dict(data)
    if isinstance(data.get("symbol"), str):
        data["symbol"] = data["symbol"].strip().upper()
    if marker is None:
        row = Marker(created_by=user)
    else:
        row = Marker.objects.select_for_update().get(pk=marker.pk)
        if row.is_builtin and "symbol" in data and data["symbol"] != row.symbol:
            raise ValidationError(
                {"symbol": "A built-in row keeps its symbol; add a new row instead."}
            )
        # A built-in category decides every study's MISEV scores: staff change it, like rules.
        if (
            row.is_builtin
            and "category" in data
            and data["category"] != row.category
            and not (user.is_staff or user.is_superuser)
        ):
            raise PermissionDenied(
                "Re-categorising a built-in marker changes every study's scores; ask staff."
            )
    _assign(row, data, MARKER_VOCABULARY_FIELDS)
    _full_clean(row)
    others = Marker.objects.exclude(pk=row.pk) if row.pk else Marker.objects.all()
    clashes = [
        alias
        for alias in row.aliases
        if others.filter(Q(symbol=alias) | Q(aliases__contains=[alias])).exists()
    ]
    if clashes:
        raise ValidationError(
            {"aliases": f"Already the symbol or alias of another marker: {', '.join(clashes)}."}
        )
    if others.filter(aliases__contains=[row.symbol]).exists():
        raise ValidationError({"symbol": f"{row.symbol} is already another marker's alias."})
    with pghistory.context(reason="marker vocabulary"):
        row.save()
    return row


@service
def delete_marker(*, user, marker: Marker) -> None:
    """Remove an unused, lab-added row (built-in rows are re-categorised, not deleted)."""
    if not can_edit_markers(user):
        raise PermissionDenied("Changing the marker vocabulary needs staff or a study manager.")
    if marker.is_builtin:
        raise StateConflict("A built-in marker cannot be deleted; change its category instead.")
    used = MarkerResult.objects.filter(marker_id=marker.pk).count()
    if used:
        raise StateConflict(
            f"{marker.symbol} is used by {used} marker result(s); it cannot be deleted."
        )
    with pghistory.context(reason="marker vocabulary"):
        Marker.objects.filter(pk=marker.pk).delete()


# --- Protein ----------------------------------------------------------------------------------


def _protein_totals(measurement: ProteinMeasurement) -> None:
    volume = measurement.volume_ml
    if volume is not None and not isinstance(volume, Decimal):
        try:
            measurement.volume_ml = Decimal(str(volume))
        except ArithmeticError:
            raise ValidationError({"volume_ml": "Give the volume in mL as a number."}) from None
    if measurement.volume_ml is not None and measurement.volume_ml < 0:
        raise ValidationError({"volume_ml": "A volume cannot be negative."})
    protein_services.set_total_from_volume(measurement)


@service
def record_protein_measurement(*, user, aliquot: Aliquot, data: Mapping[str, Any]):
    """A protein concentration typed in (e.g. Qubit or a plate read elsewhere). The
    concentration is the tube's (dilution already applied); total µg uses ``volume_ml``,
    by default the preparation's resuspension volume or the tube's volume."""
    _require_tube(user, aliquot)
    measurement = _new_record(ProteinMeasurement, user=user, aliquot=aliquot)
    _assign(measurement, data, PROTEIN_FIELDS)
    _defaults_operator(measurement, user, data)
    if data.get("volume_ml") is None:
        measurement.volume_ml = protein_services.default_volume_ml(aliquot)
    if data.get("concentration_ug_per_ml") in (None, ""):
        raise ValidationError(
            {"concentration_ug_per_ml": "Give the protein concentration in µg/mL."}
        )
    _full_clean(measurement)
    _protein_totals(measurement)
    measurement.save()
    _link_raw_files(measurement, user)
    return measurement


@service
def update_protein_measurement(
    *, user, measurement: ProteinMeasurement, data: Mapping[str, Any]
) -> ProteinMeasurement:
    """Correct a typed-in result. A plate's results follow its map and are not edited."""
    _require_record(user, measurement)
    if measurement.assay_id:
        raise StateConflict("This result comes from a plate; change the plate map to change it.")
    row = _locked(measurement)
    _assign(row, data, PROTEIN_FIELDS)
    if "concentration_ug_per_ml" in data and data["concentration_ug_per_ml"] in (None, ""):
        raise ValidationError(
            {"concentration_ug_per_ml": "Give the protein concentration in µg/mL."}
        )
    _full_clean(row)
    _protein_totals(row)
    row.save()
    _link_raw_files(row, user)
    return row


def _plate_values(values: Any, rows: int, columns: int) -> dict[str, float | None]:
    if not isinstance(values, Mapping) or not values:
        raise ValidationError({"values": "Give the plate's readings as {well: value}."})
    letters = "ABCDEFGHIJKLMNOP"[:rows]
    cleaned: dict[str, float | None] = {}
    problems: list[str] = []
    for raw_well, raw_value in values.items():
        well = normalise_well(raw_well)
        if well is None or well.rstrip("0123456789") not in letters:
            problems.append(f"{raw_well}: not a well of a {rows}×{columns} plate")
            continue
        if not 1 <= int(well.lstrip(letters)) <= columns:
            problems.append(f"{raw_well}: not a well of a {rows}×{columns} plate")
            continue
        if well in cleaned:
            problems.append(f"{raw_well}: given twice")
            continue
        number = _reading(raw_value)
        if number is False:
            problems.append(f"{raw_well}: {raw_value!r} is not a number")
            continue
        cleaned[well] = number
    if problems:
        raise ValidationError({"values": problems})
    if all(value is None for value in cleaned.values()):
        raise ValidationError({"values": "The plate has no readings."})
    return cleaned


def _reading(value: Any) -> float | bool | None:
    """A well's value; None for an empty well; False when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return False
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        return False
    return number if math.isfinite(number) else False


@service
def create_plate(
    *,
    user,
    method: str,
    name: str,
    rows: int = 8,
    columns: int = 12,
    values: dict[str, float | None],
    measured_at=None,
    instrument=None,
    sop: str = "",
    wavelength_nm: float | None = None,
) -> ProteinAssay:
    """A plate typed or pasted in by hand (no file); map it with
    ``protein_services.save_plate_map``."""
    if not Study.objects.editable_by(user).exists():
        raise PermissionDenied("You need the editor role in a study to enter a plate.")
    errors: dict[str, str] = {}
    if method not in ProteinMethod.values:
        errors["method"] = f"Method must be one of {', '.join(ProteinMethod.values)}."
    if not isinstance(rows, int) or isinstance(rows, bool) or not 1 <= rows <= MAX_PLATE_ROWS:
        errors["rows"] = f"A plate has 1 to {MAX_PLATE_ROWS} rows."
    if (
        not isinstance(columns, int)
        or isinstance(columns, bool)
        or not 1 <= columns <= MAX_PLATE_COLUMNS
    ):
        errors["columns"] = f"A plate has 1 to {MAX_PLATE_COLUMNS} columns."
    if wavelength_nm is not None and (
        isinstance(wavelength_nm, bool)
        or not isinstance(wavelength_nm, int | float)
        or not 100 <= wavelength_nm <= 1100
    ):
        errors["wavelength_nm"] = "The wavelength is in nm (100–1100)."
    if errors:
        raise ValidationError(errors)
    readings = _plate_values(values, rows, columns)
    name = (name or "").strip()
    assay = ProteinAssay(
        name=name,
        method=method,
        rows=rows,
        columns=columns,
        reads=[
            {
                "plate_name": name[:120],
                "wavelength_nm": float(wavelength_nm) if wavelength_nm is not None else None,
                "read_type": "",
                "reduced": False,
                "rows": rows,
                "columns": columns,
                "values": readings,
            }
        ],
        read_index=0,
        measured_at=measured_at,
        instrument=_instrument(instrument),
        sop=(sop or "").strip(),
        operator=user,
        created_by=user,
        status=ProteinAssayStatus.AWAITING_MAP,
    )
    _full_clean(assay)
    with pghistory.context(reason="plate entered"):
        assay.save()
    return assay


# --- Files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedImage:
    name: str
    format: str
    width: int
    height: int
    sha256: str
    thumbnail: bytes | None


def _upload_name(upload) -> str:
    return PurePath(getattr(upload, "name", "") or "upload").name[:255] or "upload"


def _upload_size(upload) -> int:
    size = getattr(upload, "size", None)
    if size is None:
        upload.seek(0, io.SEEK_END)
        size = upload.tell()
    return int(size)


def check_image(upload, *, field: str, max_bytes: int, thumbnail: bool) -> CheckedImage:
    """Open the upload with Pillow: a PNG, JPEG or TIFF that decodes completely, within
    ``max_bytes``; its size, SHA-256 and (if asked) a PNG thumbnail of at most
    ``THUMBNAIL_PX`` on the long side. Anything else is a ValidationError naming the file."""
    name = _upload_name(upload)
    size = _upload_size(upload)
    if size == 0:
        raise ValidationError({field: f"{name}: the file is empty."})
    if size > max_bytes:
        raise ValidationError({field: f"{name}: larger than {max_bytes // MB} MB."})
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in (
        upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(MB), b"")
    ):
        digest.update(chunk)
    try:
        upload.seek(0)
        with warnings.catch_warnings():
            # Pillow warns about odd metadata it skips; the checks below are what count.
            warnings.simplefilter("ignore", UserWarning)
            # A small file may claim a huge size; refuse it before any pixel is decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                kind = image.format
                image.verify()
        if kind not in IMAGE_FORMATS:
            raise ValidationError({field: f"{name}: a {kind} image; use PNG, JPEG or TIFF."})
        upload.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                image.load()  # verify() does not decode; a truncated file fails here
                width, height = image.size
                small = _thumbnail(image) if thumbnail else None
    except ValidationError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        megapixels = (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000
        raise ValidationError(
            {field: f"{name}: the image has more than {megapixels} million pixels."}
        ) from None
    except Exception:  # untrusted bytes: Pillow raises many exception types
        raise ValidationError({field: f"{name}: not a readable PNG, JPEG or TIFF image."}) from None
    finally:
        upload.seek(0)
    return CheckedImage(name, kind, width, height, digest.hexdigest(), small)


def _thumbnail(image: Image.Image) -> bytes:
    """A PNG preview. 16-bit and float images (EM TIFFs) are shrunk first, then their used
    range stretched to 8 bits: most micrographs use a small part of 16 bits and would look
    black if just cut to 8."""
    frame = image.copy()
    frame.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    if frame.mode in ("1", "L", "RGB", "RGBA", "LA"):
        preview = frame
    elif frame.mode in ("P", "PA"):
        preview = frame.convert("RGBA")
    elif frame.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        preview = frame.convert("RGB")
    else:
        array = np.asarray(frame, dtype=np.float64)
        if array.ndim == 3:
            array = array.mean(axis=2)
        finite = array[np.isfinite(array)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        scaled = np.zeros_like(array) if high <= low else (array - low) / (high - low) * 255.0
        scaled = np.nan_to_num(scaled, nan=0.0).clip(0, 255).astype(np.uint8)
        preview = Image.fromarray(scaled, mode="L")
    out = io.BytesIO()
    preview.save(out, format="PNG")
    return out.getvalue()


def _read_upload(upload, *, field: str, max_bytes: int) -> bytes:
    name = _upload_name(upload)
    size = _upload_size(upload)
    if size == 0:
        raise ValidationError({field: f"{name}: the file is empty."})
    if size > max_bytes:
        raise ValidationError({field: f"{name}: larger than {max_bytes // MB} MB."})
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    return data


def _finite_cell(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _densitometry(upload) -> tuple[dict, float | None]:
    """An ImageJ/Fiji Results table as stored on the result, and the band intensity when the
    table measured exactly one band."""
    from .parsers.base import ParseError
    from .parsers.imagej import band_values, parse_results_table

    data = _read_upload(upload, field="densitometry_file", max_bytes=DENSITOMETRY_MAX_BYTES)
    name = _upload_name(upload)
    try:
        table = parse_results_table(data, name)
        bands = band_values(table)
    except ParseError as exc:
        raise ValidationError({"densitometry_file": f"{name}: {exc.describe()}"}) from None
    stored = {
        "value_column": table.value_column,
        "columns": list(table.columns),
        "rows": [{key: _finite_cell(value) for key, value in row.items()} for row in table.rows],
        "bands": [{"label": label, "value": _finite_cell(value)} for label, value in bands],
        "file_name": name,
    }
    intensity = _finite_cell(bands[0][1]) if len(bands) == 1 else None
    return stored, intensity


def _delete_files_on_commit(names: list[tuple[Any, str]]) -> None:
    def remove() -> None:
        for storage, name in names:
            if name:
                storage.delete(name)

    transaction.on_commit(remove)


# --- Marker results ---------------------------------------------------------------------------


def _attach_marker_files(result: MarkerResult, blot_image, densitometry_file) -> None:
    if blot_image is not None:
        checked = check_image(
            blot_image, field="blot_image", max_bytes=BLOT_IMAGE_MAX_BYTES, thumbnail=False
        )
        result._checked_blot = (checked, blot_image)
    if densitometry_file is not None:
        stored, intensity = _densitometry(densitometry_file)
        result.densitometry = stored
        if result.band_intensity is None and intensity is not None:
            result.band_intensity = intensity


def _save_with_blot(result: MarkerResult) -> None:
    checked = getattr(result, "_checked_blot", None)
    old_name = None
    if checked is not None:
        info, upload = checked
        old_name = result.blot_image.name if result.pk else None
        result.blot_image.save(info.name, upload, save=False)
    try:
        result.save()
    except Exception:
        if checked is not None:
            result.blot_image.storage.delete(result.blot_image.name)
        raise
    if old_name:
        _delete_files_on_commit([(result.blot_image.storage, old_name)])


@service
def record_marker_result(
    *, user, aliquot: Aliquot, data: Mapping[str, Any], blot_image=None, densitometry_file=None
) -> MarkerResult:
    """Whether a marker was found in the tube. ``data["marker"]`` is a symbol or alias (a
    family member gets its own vocabulary row); a blot image (PNG/JPEG/TIFF ≤ 50 MB) and an
    ImageJ/Fiji Results table may come with it."""
    _require_tube(user, aliquot)
    data = dict(data)
    result = _new_record(MarkerResult, user=user, aliquot=aliquot)
    marker = data.pop("marker", None)
    if marker in (None, ""):
        raise ValidationError({"marker": "Give the marker's HGNC symbol, e.g. CD63."})
    _assign(result, data, MARKER_FIELDS)
    _defaults_operator(result, user, data)
    result.marker = _resolve_marker(marker)
    _attach_marker_files(result, blot_image, densitometry_file)
    _full_clean(result, exclude=["blot_image"])
    _save_with_blot(result)
    _link_raw_files(result, user)
    return result


@service
def update_marker_result(
    *,
    user,
    result: MarkerResult,
    data: Mapping[str, Any],
    blot_image=None,
    densitometry_file=None,
) -> MarkerResult:
    """Correct a marker result; a new blot image or Results table replaces the old one."""
    _require_record(user, result)
    row = _locked(result)
    data = dict(data)
    if "marker" in data:
        row.marker = _resolve_marker(data.pop("marker"))
    _assign(row, data, MARKER_FIELDS)
    _attach_marker_files(row, blot_image, densitometry_file)
    _full_clean(row, exclude=["blot_image"])
    _save_with_blot(row)
    _link_raw_files(row, user)
    return row


# --- Imaging ----------------------------------------------------------------------------------


def _image_row(record: ImagingRecord, upload, fields: Mapping[str, Any], label: str):
    """An unsaved ImagingImage for the upload, checked, with its thumbnail bytes."""
    unknown = sorted(set(fields) - set(IMAGE_FIELDS))
    if unknown:
        raise ValidationError({"images": f"{label}: unknown fields {', '.join(unknown)}."})
    checked = check_image(upload, field="images", max_bytes=IMAGE_MAX_BYTES, thumbnail=True)
    image = ImagingImage(
        record=record,
        original_name=checked.name,
        sha256=checked.sha256,
        width_px=checked.width,
        height_px=checked.height,
        view=fields.get("view") or "",
        scale_nm_per_px=fields.get("scale_nm_per_px"),
        scale_bar_nm=fields.get("scale_bar_nm"),
        magnification=str(fields.get("magnification") or "").strip(),
        caption=str(fields.get("caption") or "").strip(),
    )
    if image.view not in ImageView.values:
        raise ValidationError(
            {"images": f"{checked.name}: view must be one of {', '.join(ImageView.values)}."}
        )
    try:
        _full_clean(image, exclude=["record", "image", "thumbnail"])
    except ValidationError as exc:
        lines = [
            f"{checked.name}: {message}"
            if key == "__all__"
            else f"{checked.name}: {key}: {message}"
            for key, messages in exc.message_dict.items()
            for message in messages
        ]
        raise ValidationError({"images": lines}) from None
    for key in ("scale_nm_per_px", "scale_bar_nm"):
        value = getattr(image, key)
        if value is not None and value <= 0:
            raise ValidationError({"images": f"{checked.name}: {key} must be greater than zero."})
    return image, checked, upload


def _save_images(prepared: list) -> list[ImagingImage]:
    saved: list[ImagingImage] = []
    written: list[tuple[Any, str]] = []
    try:
        for image, checked, upload in prepared:
            image.image.save(checked.name, upload, save=False)
            written.append((image.image.storage, image.image.name))
            if checked.thumbnail is not None:
                stem = PurePath(checked.name).stem or "image"
                image.thumbnail.save(f"{stem}.png", ContentFile(checked.thumbnail), save=False)
                written.append((image.thumbnail.storage, image.thumbnail.name))
            image.record_id = image.record.pk
            image.save()
            saved.append(image)
    except Exception:
        for storage, name in written:
            storage.delete(name)
        raise
    return saved


@service
def record_imaging(
    *,
    user,
    aliquot: Aliquot,
    data: Mapping[str, Any],
    images: list[tuple[Any, dict]] = (),
) -> ImagingRecord:
    """An imaging session of a tube (TEM, cryo-EM, AFM, …) with its images. Each image is
    (upload, {view, scale_nm_per_px | scale_bar_nm, magnification, caption})."""
    _require_tube(user, aliquot)
    record = _new_record(ImagingRecord, user=user, aliquot=aliquot)
    _assign(record, data, IMAGING_FIELDS)
    _defaults_operator(record, user, data)
    _full_clean(record)
    prepared = [
        _image_row(record, upload, fields or {}, f"Image {number}")
        for number, (upload, fields) in enumerate(images, start=1)
    ]
    record.save()
    _save_images(prepared)
    _link_raw_files(record, user)
    return record


@service
def update_imaging_record(*, user, record: ImagingRecord, data: Mapping[str, Any]) -> ImagingRecord:
    _require_record(user, record)
    row = _locked(record)
    _assign(row, data, IMAGING_FIELDS)
    _full_clean(row)
    row.save()
    _link_raw_files(row, user)
    return row


@service
def add_image(*, user, record: ImagingRecord, upload, **image_fields: Any) -> ImagingImage:
    """One more image on an imaging record."""
    _require_record(user, record)
    prepared = _image_row(record, upload, image_fields, "Image")
    with pghistory.context(reason="image added"):
        return _save_images([prepared])[0]


# --- DLS and flow -----------------------------------------------------------------------------


@service
def record_dls_measurement(*, user, aliquot: Aliquot, data: Mapping[str, Any]) -> DLSMeasurement:
    """A DLS size or zeta-potential result typed in (the Zetasizer file gives them too)."""
    _require_tube(user, aliquot)
    measurement = _new_record(DLSMeasurement, user=user, aliquot=aliquot)
    _assign(measurement, data, DLS_FIELDS)
    _defaults_operator(measurement, user, data)
    _full_clean(measurement)
    if measurement.kind == DLSKind.SIZE and measurement.z_average_nm is None:
        raise ValidationError({"z_average_nm": "A size result needs its Z-average (nm)."})
    if measurement.kind == DLSKind.ZETA and measurement.zeta_potential_mv is None:
        raise ValidationError({"zeta_potential_mv": "A zeta result needs its potential (mV)."})
    measurement.save()
    _link_raw_files(measurement, user)
    return measurement


@service
def update_dls_measurement(
    *, user, measurement: DLSMeasurement, data: Mapping[str, Any]
) -> DLSMeasurement:
    """Correct a DLS or zeta result typed in. A record read from a Zetasizer file has the
    file's numbers: re-process or delete the file instead."""
    _require_record(user, measurement)
    if measurement.instrument_file_id:
        raise StateConflict("This result comes from an instrument file; it is not edited.")
    row = _locked(measurement)
    _assign(row, data, DLS_FIELDS)
    _full_clean(row)
    if row.kind == DLSKind.SIZE and row.z_average_nm is None:
        raise ValidationError({"z_average_nm": "A size result needs its Z-average (nm)."})
    if row.kind == DLSKind.ZETA and row.zeta_potential_mv is None:
        raise ValidationError({"zeta_potential_mv": "A zeta result needs its potential (mV)."})
    row.save()
    _link_raw_files(row, user)
    return row


@service
def update_flow_reporting(
    *, user, measurement: FlowMeasurement, data: Mapping[str, Any]
) -> FlowMeasurement:
    """What MIFlowCyt-EV asks and the FCS file does not say; the events per mL follow the
    analysed volume and dilution. Parsed fields are the file's and stay as they are."""
    _require_record(user, measurement)
    row = _locked(measurement)
    _assign(row, data, FLOW_REPORTING_FIELDS)
    if row.dilution_factor is None:
        row.dilution_factor = 1.0
    _full_clean(row)
    if row.analysed_volume_ul is not None and row.analysed_volume_ul <= 0:
        raise ValidationError({"analysed_volume_ul": "The analysed volume must be above 0 µL."})
    for key in ("lod_scatter", "lod_fluorescence"):
        if getattr(row, key) is not None and getattr(row, key) < 0:
            raise ValidationError({key: "A limit of detection cannot be negative."})
    row.event_concentration_per_ml = row.compute_concentration()
    with pghistory.context(reason="MIFlowCyt-EV reporting"):
        row.save()
    _link_raw_files(row, user)
    return row


# --- qPCR -------------------------------------------------------------------------------------


@service
def record_qpcr_results(
    *,
    user,
    aliquot: Aliquot,
    rows: list[dict],
    run_name: str = "",
    measured_at=None,
    instrument=None,
    sop: str = "",
) -> QPCRRun:
    """Cq values typed in for one tube: a run without a file and one result per row
    (``cq`` None = undetermined). Only "unknown" rows are the tube's material; controls and
    standards typed alongside stay on the run without a tube."""
    _require_tube(user, aliquot)
    if not isinstance(rows, list | tuple) or not rows:
        raise ValidationError({"rows": "Give at least one Cq value."})
    if len(rows) > MAX_QPCR_ROWS:
        raise ValidationError({"rows": f"At most {MAX_QPCR_ROWS} values at once."})
    run = QPCRRun(
        study_id=aliquot.study_id,
        run_name=(run_name or "").strip(),
        instrument=_instrument(instrument),
        measured_at=measured_at,
        operator=user,
        sop=(sop or "").strip(),
        created_by=user,
    )
    _full_clean(run, exclude=["instrument_file"])
    results: list[QPCRResult] = []
    problems: list[str] = []
    for number, raw in enumerate(rows, start=1):
        if not isinstance(raw, Mapping):
            problems.append(f"Row {number}: must be an object with a target and a Cq.")
            continue
        # The accession as sample name: re-assigning the run's rows finds the same tube.
        result = QPCRResult(
            aliquot=aliquot,
            study_id=aliquot.study_id,
            task=QPCRTask.UNKNOWN,
            sample_name=aliquot.accession,
        )
        try:
            _assign(result, raw, QPCR_ROW_FIELDS)
            if result.well:
                result.well = _qpcr_well(result.well)
            result.cq = None if result.cq in (None, "") else result.cq
            if result.task != QPCRTask.UNKNOWN:
                # A control's sample name must not carry the accession either, or putting
                # the run's rows on tubes again would move it onto the tube.
                result.aliquot = None
                if result.sample_name == aliquot.accession:
                    result.sample_name = dict(QPCRTask.choices).get(result.task, result.task)
            _full_clean(result, exclude=["run"])
        except ValidationError as exc:
            problems.extend(
                f"Row {number}: {key}: {message}"
                for key, messages in exc.message_dict.items()
                for message in messages
            )
            continue
        result.undetermined = result.cq is None
        results.append(result)
    if problems:
        raise ValidationError({"rows": problems})
    run.save()
    for result in results:
        result.run = run
    QPCRResult.objects.bulk_create(results)
    return run


# Rows of plates up to 1536 wells (A–P, then AA–AF), columns up to 48.
_PLATE_ROW_NAMES = frozenset([*"ABCDEFGHIJKLMNOP", *(f"A{c}" for c in "ABCDEF")])


def _qpcr_well(text: str) -> str:
    well = normalise_well(text)
    letters = (well or "").rstrip("0123456789")
    if well is None or letters not in _PLATE_ROW_NAMES or not 1 <= int(well[len(letters) :]) <= 48:
        raise ValidationError({"well": f"{text!r} is not a well name (e.g. B7)."})
    return well


@service
def map_qpcr_samples(*, user, run: QPCRRun, sample_map: dict[str, int | None]) -> QPCRRun:
    """Say which tube each of the run's sample names is (None: no tube); the entries given
    replace those names' earlier ones, then every row is put on its tube again."""
    from .filing import assign_qpcr_tubes

    if not can_edit_qpcr_run(user, run):
        raise PermissionDenied("You need the editor role in every study this run has results for.")
    if not isinstance(sample_map, Mapping):
        raise ValidationError({"sample_map": "Give {sample name: tube id or null}."})
    names = set(run.results.values_list("sample_name", flat=True))
    problems: list[str] = []
    wanted: dict[str, int | None] = {}
    for name, value in sample_map.items():
        if name not in names:
            problems.append(f"{name!r}: no well of this run has that sample name")
            continue
        if value is None or value == "":
            wanted[name] = None
        elif isinstance(value, bool) or not str(value).strip().isdecimal():
            problems.append(f"{name!r}: give a tube id")
        else:
            wanted[name] = int(str(value).strip())
    tube_ids = {value for value in wanted.values() if value is not None}
    allowed = set(
        Aliquot.objects.editable_by(user).filter(pk__in=tube_ids).values_list("pk", flat=True)
    )
    problems.extend(
        f"{name!r}: no tube you can record results on has id {value}"
        for name, value in wanted.items()
        if value is not None and value not in allowed
    )
    if problems:
        raise ValidationError({"sample_map": problems})
    with pghistory.context(reason="qPCR sample map"):
        locked = QPCRRun.objects.select_for_update().get(pk=run.pk)
        merged = dict(locked.sample_map)
        for name, value in wanted.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        locked.sample_map = merged
        locked.save(update_fields=["sample_map"])
        assign_qpcr_tubes(locked, uploader=user)
    return QPCRRun.objects.get(pk=run.pk)


# --- Deleting ---------------------------------------------------------------------------------


def _files_of(record) -> list[tuple[Any, str]]:
    if isinstance(record, MarkerResult):
        return [(record.blot_image.storage, record.blot_image.name)] if record.blot_image else []
    if isinstance(record, ImagingImage):
        return [(field.storage, field.name) for field in (record.image, record.thumbnail) if field]
    if isinstance(record, ImagingRecord):
        return [pair for image in record.images.all() for pair in _files_of(image)]
    return []


@service
def delete_record(*, user, record, reason: str = "") -> None:
    """Delete a characterisation record (editors of its study). A plate's results go with
    their plate map, not one by one; stored files are removed once the deletion commits."""
    if isinstance(record, ProteinAssay):
        if not can_edit_plate(user, record):
            raise PermissionDenied("You cannot delete this plate.")
    elif isinstance(record, QPCRRun):
        if not can_edit_qpcr_run(user, record):
            raise PermissionDenied("You cannot delete this qPCR run.")
    elif isinstance(record, ImagingImage):
        _require_record(user, record.record)
    elif isinstance(record, QPCRResult):
        if record.study_id is None:
            if not can_edit_qpcr_run(user, record.run):
                raise PermissionDenied("You cannot delete this result.")
        else:
            _require_record(user, record)
    elif isinstance(
        record,
        ProteinMeasurement | MarkerResult | ImagingRecord | DLSMeasurement | FlowMeasurement,
    ):
        _require_record(user, record)
    else:
        raise TypeError(f"delete_record cannot delete a {type(record).__name__}")
    if isinstance(record, ProteinMeasurement) and record.assay_id:
        raise StateConflict(
            "This result comes from a plate; take the tube off the plate map instead."
        )
    files = _files_of(record)
    with pghistory.context(reason=(reason or "deleted").strip()[:500]):
        record.delete()
    _delete_files_on_commit(files)
