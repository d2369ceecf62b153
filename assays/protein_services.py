"""Protein plates in the database: the plate map a user edits, the curve fitted on it and
the per-tube results it gives. The arithmetic is ``assays.protein`` (pure); this module
checks who may name which tube, stores the outcome and keeps results in step with the map.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from samples.models import Aliquot

from .choices import CurveModel, ProteinAssayStatus, ProteinMethod
from .curves import CurveError
from .matching import accession_tokens, recordable_aliquots
from .models import EVPreparation, ProteinAssay, ProteinMeasurement
from .protein import ROLES, PlateMapError, PlateQuantification, normalise_well, quantify_plate
from .protein import total_ug as protein_total

MAX_DILUTION = 1e6


def layout_to_plate_map(layout: dict[str, dict[str, Any]], *, uploader) -> dict[str, dict]:
    """A first plate map from the layout a plate-reader export carries: roles and standard
    concentrations as written; sample wells put on a tube when their name holds exactly one
    accession of a tube the uploader may record on (the user confirms the rest)."""
    names = {well: str(entry.get("name") or "") for well, entry in layout.items()}
    wanted = {token for name in names.values() for token in accession_tokens(name)}
    tubes = dict(
        recordable_aliquots(uploader).filter(accession__in=wanted).values_list("accession", "pk")
    )
    plate_map: dict[str, dict] = {}
    for raw_well, entry in layout.items():
        well = normalise_well(raw_well)
        role = entry.get("role")
        if well is None or role not in ROLES:
            continue
        item: dict[str, Any] = {"role": role}
        if role == "standard" and entry.get("concentration") is not None:
            item["concentration"] = entry["concentration"]
        if role in ("sample", "control"):
            dilution = _number(entry.get("dilution"))
            item["dilution"] = dilution if dilution and 1 <= dilution <= MAX_DILUTION else 1.0
        if names[raw_well]:
            group = str(entry.get("group") or "")
            item["name"] = (f"{group} {names[raw_well]}" if group else names[raw_well])[:80]
        tokens = accession_tokens(names[raw_well])
        if role == "sample" and len(tokens) == 1 and tokens[0] in tubes:
            item["sample"] = str(tubes[tokens[0]])
        plate_map[well] = item
    return plate_map


def clean_plate_map(assay: ProteinAssay, plate_map: Any, *, user) -> dict[str, dict]:
    """The map as it will be stored, or ValidationError naming the wells. Tubes are looked
    up among those the user may record results on (ids from a client are never trusted)."""
    if not isinstance(plate_map, dict):
        raise ValidationError({"plate_map": "The plate map must be an object keyed by well."})
    cleaned: dict[str, dict] = {}
    problems: list[str] = []
    rows = set("ABCDEFGHIJKLMNOP"[: assay.rows])
    for raw_well, entry in plate_map.items():
        well = normalise_well(raw_well)
        letters = (well or "").rstrip("0123456789")
        if well is None or letters not in rows or not 1 <= int(well[1:]) <= assay.columns:
            problems.append(f"{raw_well}: not a well of a {assay.rows}×{assay.columns} plate")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{well}: must be an object with a role")
            continue
        role = entry.get("role")
        if role not in ROLES:
            problems.append(f"{well}: role must be one of {', '.join(ROLES)}")
            continue
        if role == "empty":
            continue
        item: dict[str, Any] = {"role": role}
        if role == "standard":
            concentration = _number(entry.get("concentration"))
            if concentration is None or concentration < 0:
                problems.append(f"{well}: a standard needs its concentration (µg/mL, ≥ 0)")
                continue
            item["concentration"] = concentration
        if role in ("sample", "control"):
            dilution = _number(entry.get("dilution", 1) or 1)
            if dilution is None or not 1 <= dilution <= MAX_DILUTION:
                problems.append(f"{well}: dilution must be a factor ≥ 1 (1:10 → 10)")
                continue
            item["dilution"] = dilution
        if role == "sample":
            # A sample not (yet) linked to a tube is kept: it is interpolated and shown, but no
            # result is stored for it.
            sample = str(entry.get("sample") or "").strip()
            if sample and not sample.isdecimal():
                problems.append(f"{well}: pick the tube this sample well holds")
                continue
            if sample:
                item["sample"] = sample
        if entry.get("name"):
            item["name"] = str(entry["name"])[:80]
        cleaned[well] = item
    tube_ids = {int(item["sample"]) for item in cleaned.values() if "sample" in item}
    allowed = set(recordable_aliquots(user).filter(pk__in=tube_ids).values_list("pk", flat=True))
    for well, item in cleaned.items():
        if "sample" in item and int(item["sample"]) not in allowed:
            problems.append(f"{well}: no tube you can record results on has id {item['sample']}")
    if problems:
        raise ValidationError({"plate_map": problems})
    return dict(sorted(cleaned.items(), key=lambda pair: _well_order(pair[0])))


def save_plate_map(
    assay: ProteinAssay,
    *,
    user,
    plate_map: Any,
    method: str | None = None,
    curve_model: str | None = None,
    subtract_blank: bool | None = None,
    read_index: int | None = None,
) -> ProteinAssay:
    """Store the user's map and settings and recompute the plate's results atomically.
    Only an editor of every study the plate holds results for may do it."""
    from .characterisation_services import can_edit_plate  # it builds on this module

    if not can_edit_plate(user, assay):
        raise PermissionDenied("You cannot edit this plate.")
    errors: dict[str, str] = {}
    if method is not None and method not in ProteinMethod.values:
        errors["method"] = f"Method must be one of {', '.join(ProteinMethod.values)}."
    if curve_model is not None and curve_model not in CurveModel.values:
        errors["curve_model"] = "Curve model must be linear or 4pl."
    if read_index is not None and not 0 <= read_index < max(len(assay.reads), 1):
        errors["read_index"] = f"This plate has {len(assay.reads)} read(s)."
    if errors:
        raise ValidationError(errors)
    cleaned = clean_plate_map(assay, plate_map, user=user)
    with pghistory.context(user=user.pk, reason="plate map"), transaction.atomic():
        locked = ProteinAssay.objects.select_for_update().get(pk=assay.pk)
        locked.plate_map = cleaned
        if method is not None:
            locked.method = method
        if curve_model is not None:
            locked.curve_model = curve_model
        if subtract_blank is not None:
            locked.subtract_blank = subtract_blank
        if read_index is not None:
            locked.read_index = read_index
        if locked.operator_id is None and not hasattr(user, "instrument"):
            locked.operator = user
        locked.save()
        recompute_assay(locked)
    return ProteinAssay.objects.get(pk=assay.pk)


def quantify_assay(assay: ProteinAssay) -> PlateQuantification:
    """Fit and interpolate the plate as it is stored (raises PlateMapError / CurveError).
    Sample wells without a tube are computed as controls named after their label, so the
    page still shows their numbers."""
    plate_map = {}
    for well, entry in assay.plate_map.items():
        if entry.get("role") == "sample" and not entry.get("sample"):
            entry = {**entry, "role": "control", "sample": entry.get("name") or well}
        plate_map[well] = entry
    return quantify_plate(
        assay.values, plate_map, assay.curve_model, subtract_blank=assay.subtract_blank
    )


def recompute_assay(assay: ProteinAssay, *, quiet: bool = False) -> ProteinAssay:
    """Replace the plate's per-tube results with what its read, map and curve give now.

    A plate without standards or sample tubes waits for its map; a curve that cannot be
    fitted is stored as such with the reason (``quiet`` only affects nothing being raised:
    the pipeline calls this and must not fail a file because its map is not done yet)."""
    assay.measurements.all().delete()
    has_standards = any(e.get("role") == "standard" for e in assay.plate_map.values())
    has_samples = any(e.get("sample") for e in assay.plate_map.values())
    if not assay.values or not has_standards or not has_samples:
        _set_status(assay, ProteinAssayStatus.AWAITING_MAP, "")
        return assay
    try:
        result = quantify_assay(assay)
    except (CurveError, PlateMapError) as exc:
        _set_status(assay, ProteinAssayStatus.FIT_FAILED, str(getattr(exc, "message", exc)))
        return assay
    tube_ids = [int(sample.sample) for sample in result.samples]
    tubes = {tube.pk: tube for tube in Aliquot.objects.filter(pk__in=tube_ids)}
    prep_volumes = dict(
        EVPreparation.objects.filter(aliquot_id__in=tube_ids).values_list(
            "aliquot_id", "resuspension_volume_ml"
        )
    )
    rows = []
    for sample in result.samples:
        tube = tubes.get(int(sample.sample))
        if tube is None:  # deleted since the map was saved
            continue
        volume = prep_volumes.get(tube.pk) or tube.volume_ml
        concentration = sample.ug_per_ml if sample.ug_per_ml is None else max(sample.ug_per_ml, 0)
        rows.append(
            ProteinMeasurement(
                assay=assay,
                aliquot=tube,
                study_id=tube.study_id,
                method=assay.method,
                measured_at=assay.measured_at,
                operator_id=assay.operator_id,
                instrument_id=assay.instrument_id,
                instrument_file_id=None,
                sop=assay.sop,
                concentration_ug_per_ml=concentration,
                dilution_factor=max(sample.dilution or 1.0, 1.0),
                volume_ml=volume,
                total_ug=protein_total(concentration, float(volume) if volume else None),
                replicate_cv_pct=sample.cv_pct,
                wells=[
                    {"well": well, "response": response, "ug_per_ml": conc}
                    for well, response, conc in zip(
                        sample.wells, sample.responses, sample.well_concentrations, strict=True
                    )
                ],
                flags=list(sample.flags),
                created_by=assay.created_by,
            )
        )
    ProteinMeasurement.objects.bulk_create(rows)
    studies = {row.study_id for row in rows}
    assay.study_id = studies.pop() if len(studies) == 1 else None
    assay.curve = _curve_json(result)
    assay.r_squared = result.curve.r_squared
    assay.status, assay.fit_error = ProteinAssayStatus.COMPUTED, ""
    assay.save(update_fields=["study", "curve", "r_squared", "status", "fit_error", "updated_at"])
    return assay


def set_total_from_volume(measurement: ProteinMeasurement) -> None:
    """Total µg of an entered result from its concentration and volume (if both known)."""
    volume = measurement.volume_ml
    measurement.total_ug = protein_total(
        measurement.concentration_ug_per_ml, float(volume) if volume is not None else None
    )


def default_volume_ml(aliquot: Aliquot) -> Decimal:
    prep = EVPreparation.objects.filter(aliquot=aliquot).values_list(
        "resuspension_volume_ml", flat=True
    )
    return next(iter(prep), None) or aliquot.volume_ml


def _curve_json(result: PlateQuantification) -> dict:
    curve = result.curve
    return {
        "model": curve.model,
        "params": curve.params,
        "r_squared": curve.r_squared,
        "formula": curve.describe(),
        "n_points": curve.n_points,
        "x_range": list(curve.x_range),
        "y_range": list(curve.y_range),
        "blank": result.blank,
        "blank_source": result.blank_source,
        "blank_subtracted": result.blank_subtracted,
        "standards": [
            {
                "concentration": level.concentration,
                "wells": list(level.wells),
                "mean_response": level.mean_response,
                "cv_pct": level.cv_pct,
                "back_calculated": level.back_calculated,
                "recovery_pct": level.recovery_pct,
            }
            for level in result.standards
        ],
    }


def _set_status(assay: ProteinAssay, status: str, error: str) -> None:
    assay.status, assay.fit_error, assay.curve, assay.r_squared = status, error, None, None
    assay.save(update_fields=["status", "fit_error", "curve", "r_squared", "updated_at"])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        number = float(str(value).replace(",", "."))
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _well_order(well: str) -> tuple[int, int]:
    letters = well.rstrip("0123456789")
    return ("ABCDEFGHIJKLMNOP".index(letters), int(well[len(letters) :]))
