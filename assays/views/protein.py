"""Protein pages: a result typed in and a result's page; protein plates — the list, a plate's
page (its wells, curve, standards and per-tube results), a plate typed or pasted by hand,
and the plate-map editor that says what each well holds.

A plate is seen by whoever ``ProteinAssay.objects.visible_to`` allows (its study, its
creator, its file's viewers); it is changed by whoever ``can_edit_plate`` allows. Saving a
map recomputes the plate's results in one transaction (``protein_services.save_plate_map``);
a refused map saves nothing and comes back with the problems listed by well.
"""

from __future__ import annotations

import json
import re
from typing import Any

import django_filters as filters
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import TemplateView

from exolims.views import ListPage
from samples.choices import Role
from samples.filters import ChoicesFilter, FilterSet, IdFilter
from samples.models import Aliquot, Study
from samples.views.common import has_role

from .. import characterisation_services as services
from .. import protein_services
from ..choices import ProteinAssayStatus, ProteinMethod
from ..curve_plot import standard_curve_svg
from ..curves import CurveError
from ..forms.characterisation import (
    ROW_LETTERS,
    PlateMapForm,
    PlatePasteForm,
    ProteinMeasurementForm,
    controls_formset,
    controls_from,
    map_for_editor,
    now_minute,
    record_initial,
    resolve_plate_accessions,
    without_tube,
)
from ..models import ProteinAssay, ProteinMeasurement
from ..protein import PlateMapError, PlateQuantification
from .common import PageMixin
from .measurements import (
    SECTION,
    controls_text,
    require_result_editor,
    require_some_editor_role,
    role_in,
    start_tube,
    visible_record,
)
from .particles import number_text

# What each flag of a protein result means, in words (codes from ``assays.protein``).
FLAG_WORDS: dict[str, tuple[str, str]] = {
    "missing_value": (
        "no reading",
        "A well of this tube has no value in the chosen read (empty, or over range in the "
        "file); the result uses the other wells.",
    ),
    "not_invertible": (
        "off the curve",
        "The signal lies beyond the plateau of the fitted curve, so no concentration can be "
        "read from it. Dilute the sample (or use a linear fit over a narrower range).",
    ),
    "below_curve": (
        "below the standards",
        "The signal is below the lowest non-zero standard: the number is extrapolated and "
        "not reliable. Load more sample, or use a more sensitive assay (micro-BCA).",
    ),
    "above_curve": (
        "above the standards",
        "The signal is above the highest standard: the number is extrapolated. Dilute the "
        "sample further and measure again.",
    ),
    "high_cv": (
        "replicates disagree",
        "The replicate wells differ by more than 20 % (CV); check for pipetting errors or "
        "bubbles before trusting the mean.",
    ),
}
STATUS_HELP = {
    ProteinAssayStatus.AWAITING_MAP: "Say which wells hold standards, blanks and which tubes "
    "in the plate map; the results follow.",
    ProteinAssayStatus.FIT_FAILED: "The standards could not be fitted; see why below and "
    "correct the plate map or choose another curve.",
    ProteinAssayStatus.COMPUTED: "",
}
ROLE_SHORT = {"standard": "Std", "blank": "Blank", "sample": "", "control": "Ctrl", "empty": ""}


def shown_flags(flags: Any) -> list[dict[str, str]]:
    shown = []
    for code in flags if isinstance(flags, list) else []:
        short, words = FLAG_WORDS.get(str(code), (str(code).replace("_", " "), ""))
        shown.append({"code": str(code), "short": short, "explanation": words})
    return shown


def ug_text(value: float | None) -> str:
    """µg/mL and µg with four significant digits (412.5, 82.5, 1,250, 0.1235)."""
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def protein_row(m: ProteinMeasurement) -> ProteinMeasurement:
    """Display texts of a result (list rows, the tube panel, the result's page)."""
    m.url = reverse("assays:protein-detail", args=[m.pk])
    m.concentration_text = ug_text(m.concentration_ug_per_ml)
    m.total_text = ug_text(m.total_ug)
    m.cv_text = f"{m.replicate_cv_pct:.1f} %" if m.replicate_cv_pct is not None else ""
    m.flags_shown = shown_flags(m.flags)
    return m


def can_edit_plate(user, assay: ProteinAssay) -> bool:
    return services.can_edit_plate(user, assay)


def visible_plates(user) -> QuerySet:
    return ProteinAssay.objects.visible_to(user)


# --- A result ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def protein_create(request: HttpRequest) -> HttpResponse:
    """A protein concentration typed in (Qubit, NanoDrop, a plate read elsewhere)."""
    user = request.user
    tube = start_tube(request)
    require_some_editor_role(user)
    if request.method == "POST":
        form = ProteinMeasurementForm(request.POST, user=user)
        controls = controls_formset(request.POST)
        if form.is_valid() and controls.is_valid():
            data = form.service_data(controls_from(controls))
            try:
                measurement = services.record_protein_measurement(
                    user=user, aliquot=form.cleaned_data["tube"], data=data
                )
            except PermissionDenied as error:
                form.add_tube_refusal(error)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(
                    request,
                    f"Recorded {ug_text(measurement.concentration_ug_per_ml)} µg/mL on "
                    f"{measurement.aliquot.accession}.",
                )
                return redirect(measurement)
        status = 400
    else:
        form = ProteinMeasurementForm(
            user=user,
            initial={
                "tube": tube.accession if tube else "",
                "measured_at": now_minute(),
                "dilution_factor": 1,
            },
        )
        controls = controls_formset()
        status = 200
    default_volume = protein_services.default_volume_ml(tube) if tube else None
    return render(
        request,
        "assays/protein/form.html",
        {
            "section": SECTION,
            "form": form,
            "controls": controls,
            "tube": tube,
            "default_volume": number_text(float(default_volume)) if default_volume else "",
        },
        status=status,
    )


@login_required
@require_GET
def protein_detail(request: HttpRequest, pk: int) -> HttpResponse:
    m = visible_record(request, ProteinMeasurement, pk, "assay")
    protein_row(m)
    role = role_in(request.user, m.study)
    wells = [
        {
            "well": w.get("well", ""),
            "response": number_text(w.get("response"), decimals=4),
            "ug_per_ml": ug_text(w.get("ug_per_ml")),
        }
        for w in m.wells or []
        if isinstance(w, dict)
    ]
    return render(
        request,
        "assays/protein/detail.html",
        {
            "section": SECTION,
            "measurement": m,
            "wells": wells,
            "controls_shown": controls_text(m.controls),
            "role": role,
            "can_edit": has_role(role, Role.EDITOR),
            "not_editable": not_editable_reason(m),
            "volume_text": number_text(float(m.volume_ml)) if m.volume_ml is not None else "",
        },
    )


def not_editable_reason(m: ProteinMeasurement) -> str:
    """Why a result cannot be corrected or deleted here ("" when it can)."""
    if m.assay_id:
        return "This result comes from a plate: change the plate map to change it."
    if m.instrument_file_id:
        return "This result was read from an instrument file; its numbers are the file's."
    return ""


def _editable_result(request: HttpRequest, pk: int) -> ProteinMeasurement:
    m = visible_record(request, ProteinMeasurement, pk)
    require_result_editor(request.user, m.study)
    return m


@login_required
@require_http_methods(["GET", "POST"])
def protein_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a protein result typed in, on the form it was entered with (the tube stays)."""
    m = _editable_result(request, pk)
    if reason := not_editable_reason(m):
        messages.error(request, reason)
        return redirect(m)
    user = request.user
    if request.method == "POST":
        form = without_tube(ProteinMeasurementForm(request.POST, user=user))
        controls = controls_formset(request.POST)
        if form.is_valid() and controls.is_valid():
            try:
                m = services.update_protein_measurement(
                    user=user, measurement=m, data=form.service_data(controls_from(controls))
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, "Saved the corrected protein result.")
                return redirect(m)
        status = 400
    else:
        form = without_tube(
            ProteinMeasurementForm(user=user, initial=record_initial(m, ProteinMeasurementForm))
        )
        controls = controls_formset(initial=m.controls)
        status = 200
    default_volume = protein_services.default_volume_ml(m.aliquot)
    return render(
        request,
        "assays/protein/form.html",
        {
            "section": SECTION,
            "form": form,
            "controls": controls,
            "tube": m.aliquot,
            "editing": m,
            "default_volume": number_text(float(default_volume)) if default_volume else "",
        },
        status=status,
    )


@login_required
@require_POST
def protein_delete(request: HttpRequest, pk: int) -> HttpResponse:
    m = _editable_result(request, pk)
    if reason := not_editable_reason(m):
        messages.error(request, reason)
        return redirect(m)
    tube = m.aliquot
    services.delete_record(
        user=request.user, record=m, reason=request.POST.get("change_reason", "")
    )
    messages.success(request, f"Deleted the protein result of {tube.accession}.")
    return redirect(tube)


# --- Plates: list ----------------------------------------------------------------------------


class PlateFilterSet(FilterSet):
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Plate name")
    study = IdFilter(field_name="study_id")
    method = ChoicesFilter(choices=ProteinMethod.choices)
    status = ChoicesFilter(choices=ProteinAssayStatus.choices)

    class Meta:
        model = ProteinAssay
        fields = ["study", "method", "status"]


class ProteinAssayListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/protein/plate_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        results = ProteinMeasurement.objects.filter(assay=OuterRef("pk")).order_by().values("assay")
        page = ListPage(
            self.request,
            filterset_class=PlateFilterSet,
            queryset=visible_plates(user)
            .select_related("study", "instrument_file")
            .annotate(
                result_count=Subquery(
                    results.annotate(n=Count("id")).values("n"), output_field=IntegerField()
                )
            )
            .defer("reads", "plate_map", "curve", "instrument_file__error"),
            sorts={"created": "created_at", "measured": "measured_at", "name": "name"},
            default_sort="-created",
            shown=("q", "study", "method", "status"),
            studies=Study.objects.visible_to(user),
        )
        can_add = Study.objects.editable_by(user).exists()
        return super().get_context_data(
            page=page, current="protein", can_add=can_add, status_help=STATUS_HELP, **kwargs
        )


# --- Plates: one plate -----------------------------------------------------------------------


def _tube_accessions(user, plate_map: dict) -> dict[int, str]:
    """Accessions of the plate's tubes the user may see (one query)."""
    ids = {
        int(entry["sample"])
        for entry in (plate_map or {}).values()
        if isinstance(entry, dict) and str(entry.get("sample") or "").isdecimal()
    }
    if not ids:
        return {}
    return dict(Aliquot.objects.visible_to(user).filter(pk__in=ids).values_list("pk", "accession"))


def display_quantification(
    assay: ProteinAssay, accessions: dict[int, str]
) -> PlateQuantification | None:
    """The plate quantified as stored, with tubes named by accession (the curve's points and
    the controls read better that way). None when it cannot be fitted."""
    if assay.status != ProteinAssayStatus.COMPUTED:
        return None
    shown = ProteinAssay(
        pk=assay.pk,
        reads=assay.reads,
        read_index=assay.read_index,
        curve_model=assay.curve_model,
        subtract_blank=assay.subtract_blank,
        plate_map={
            well: (
                {**entry, "sample": accessions.get(int(entry["sample"]), "tube " + entry["sample"])}
                if str(entry.get("sample") or "").isdecimal()
                else entry
            )
            for well, entry in (assay.plate_map or {}).items()
        },
    )
    try:
        return protein_services.quantify_assay(shown)
    except (CurveError, PlateMapError):
        return None


def _dilution_text(plate_map: dict, m: ProteinMeasurement) -> str:
    """A tube's dilution on the plate; "mixed (1, 2)" when its wells differ (the stored
    factor is then 1, which would read as undiluted)."""
    factors = set()
    for well in m.wells or []:
        entry = plate_map.get(str(well.get("well", "")).upper()) or {}
        try:
            factors.add(float(entry.get("dilution") or 1))
        except (TypeError, ValueError):
            factors.add(1.0)
    if len(factors) > 1:
        return "mixed (" + ", ".join(number_text(f) for f in sorted(factors)) + ")"
    return number_text(factors.pop() if factors else float(m.dilution_factor or 1))


def plate_grid(
    assay: ProteinAssay,
    plate_map: dict,
    accessions: dict[int, str],
    quantification: PlateQuantification | None = None,
) -> list[dict[str, Any]]:
    """Rows of wells for the templates: value, role, what the well holds, flags."""
    values = assay.values
    by_well = {w.well: w for w in quantification.wells} if quantification else {}
    grid = []
    for letter in ROW_LETTERS[: assay.rows]:
        cells = []
        for column in range(1, assay.columns + 1):
            well = f"{letter}{column}"
            entry = plate_map.get(well) or {}
            role = entry.get("role", "empty") if isinstance(entry, dict) else "empty"
            label = ROLE_SHORT.get(role, "")
            if role == "standard":
                label = number_text(entry.get("concentration"))
            elif role == "sample":
                sample = str(entry.get("sample") or "")
                label = accessions.get(int(sample), f"#{sample}") if sample.isdecimal() else "?"
                label = entry.get("accession") or label
            elif role == "control" and entry.get("name"):
                label = str(entry["name"])[:12]
            result = by_well.get(well)
            value = values.get(well)
            title = [well, f"value {value:g}" if isinstance(value, int | float) else "no value"]
            if role != "empty":
                title.append(role)
            if label and role != "blank":
                title.append(str(label))
            if entry.get("dilution") and entry.get("dilution") != 1:
                title.append(f"dilution {number_text(entry['dilution'])}")
            if result is not None and result.concentration is not None:
                title.append(f"{ug_text(result.concentration)} µg/mL in the well")
            flags = list(result.flags) if result is not None else []
            if flags:
                title.append("; ".join(FLAG_WORDS.get(f, (f, ""))[0] for f in flags))
            cells.append(
                {
                    "well": well,
                    "value": number_text(value, decimals=3)
                    if isinstance(value, int | float)
                    else "",
                    "role": role,
                    "label": label,
                    "dilution": number_text(entry.get("dilution"))
                    if entry.get("dilution") not in (None, 1, 1.0)
                    else "",
                    "flagged": bool(flags),
                    "title": " · ".join(str(t) for t in title),
                }
            )
        grid.append({"letter": letter, "cells": cells})
    return grid


def _standards(assay: ProteinAssay) -> list[dict[str, str]]:
    rows = []
    for level in (assay.curve or {}).get("standards", []):
        recovery = level.get("recovery_pct")
        rows.append(
            {
                "concentration": number_text(level.get("concentration")),
                "wells": ", ".join(level.get("wells", [])),
                "mean_response": number_text(level.get("mean_response"), decimals=4),
                "cv": f"{level['cv_pct']:.1f} %" if level.get("cv_pct") is not None else "",
                "back_calculated": ug_text(level.get("back_calculated")),
                "recovery": f"{recovery:.0f} %" if recovery is not None else "",
                # ±20 % is the usual acceptance for a back-calculated standard.
                "off": recovery is not None and abs(recovery - 100) > 20,
            }
        )
    return rows


@login_required
@require_GET
def protein_assay_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    assay = get_object_or_404(
        visible_plates(user).select_related("study", "instrument_file", "instrument", "operator"),
        pk=pk,
    )
    accessions = _tube_accessions(user, assay.plate_map)
    quantification = display_quantification(assay, accessions)
    results = [
        protein_row(m)
        for m in ProteinMeasurement.objects.visible_to(user)
        .filter(assay=assay)
        .select_related("aliquot")
        .order_by("aliquot__accession", "id")
    ]
    for m in results:
        m.dilution_text = _dilution_text(assay.plate_map, m)
    hidden = assay.measurements.count() - len(results)
    controls = []
    untubed = []
    if quantification is not None:
        for control in quantification.controls:
            entry = assay.plate_map.get(control.wells[0]) or {}
            named = entry.get("name")
            # Sample wells not on a tube are quantified like controls, but they are samples.
            shown = untubed if entry.get("role") == "sample" else controls
            shown.append(
                {
                    "name": named or control.sample,
                    "wells": ", ".join(control.wells),
                    "ug_per_ml": ug_text(control.ug_per_ml),
                    "expected": ug_text(control.expected_ug_per_ml),
                    "recovery": f"{control.recovery_pct:.0f} %"
                    if control.recovery_pct is not None
                    else "",
                    "flags": shown_flags(list(control.flags)),
                }
            )
    curve = assay.curve or {}
    read = assay.reads[assay.read_index] if 0 <= assay.read_index < len(assay.reads) else {}
    return render(
        request,
        "assays/protein/plate_detail.html",
        {
            "section": SECTION,
            "assay": assay,
            "can_edit": can_edit_plate(user, assay),
            "grid": plate_grid(assay, assay.plate_map, accessions, quantification),
            "columns": range(1, assay.columns + 1),
            "standards": _standards(assay),
            "results": results,
            "hidden": hidden,
            "controls": controls,
            "untubed": untubed,
            "curve": curve,
            "r_squared": f"{assay.r_squared:.4f}" if assay.r_squared is not None else "",
            "blank_text": number_text(curve.get("blank"), decimals=4),
            "read": read,
            "read_count": len(assay.reads),
            "status_help": STATUS_HELP.get(assay.status, ""),
            "flag_words": [
                {"short": short, "explanation": words} for short, words in FLAG_WORDS.values()
            ],
            "role": role_in(user, assay.study),
        },
    )


@login_required
@require_GET
def protein_assay_curve(request: HttpRequest, pk: int) -> HttpResponse:
    """The standard curve as an SVG file (the plate's page shows it in an ``<img>``)."""
    assay = get_object_or_404(visible_plates(request.user), pk=pk)
    quantification = display_quantification(assay, _tube_accessions(request.user, assay.plate_map))
    if quantification is None:
        return HttpResponse(
            "This plate has no fitted curve.", status=404, content_type="text/plain"
        )
    svg = standard_curve_svg(quantification, title=f"Standard curve of {assay}")
    response = HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + svg, content_type="image/svg+xml"
    )
    response["Content-Disposition"] = f'inline; filename="standard-curve-{assay.pk}.svg"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Plates: typed in, and mapped ----------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def protein_assay_create(request: HttpRequest) -> HttpResponse:
    """A plate read pasted from a spreadsheet; the plate-map editor comes next."""
    user = request.user
    require_some_editor_role(user)
    if request.method == "POST":
        form = PlatePasteForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                assay = services.create_plate(
                    user=user,
                    method=data["method"],
                    name=data["name"],
                    rows=data["rows"],
                    columns=data["columns"],
                    values=data["values"],
                    measured_at=data["measured_at"],
                    instrument=data["instrument"],
                    sop=data["sop"],
                    wavelength_nm=data["wavelength_nm"],
                )
            except ValidationError as error:
                if hasattr(error, "error_dict") and "values" in error.error_dict:
                    error = ValidationError(
                        {("grid" if k == "values" else k): v for k, v in error.error_dict.items()}
                    )
                form.add_service_error(error)
            else:
                filled = sum(value is not None for value in data["values"].values())
                messages.success(
                    request, f"Plate saved with {filled} readings. Now say what each well holds."
                )
                return redirect("assays:protein-assay-map", pk=assay.pk)
        status = 400
    else:
        form = PlatePasteForm(initial={"measured_at": now_minute()})
        status = 200
    return render(
        request,
        "assays/protein/plate_form.html",
        {"section": SECTION, "form": form},
        status=status,
    )


_WELL_PREFIX = re.compile(r"^([A-Pa-p]\d{1,2}):")


def _problem_wells(problems: list[str]) -> list[str]:
    wells = []
    for text in problems:
        match = _WELL_PREFIX.match(text)
        if match:
            wells.append(match.group(1).upper())
    return wells


@login_required
@require_http_methods(["GET", "POST"])
def protein_assay_map(request: HttpRequest, pk: int) -> HttpResponse:
    """The plate-map editor. The map travels as JSON in one field (the page script writes
    it; without the script the field is a plain text box); sample wells carry accessions."""
    user = request.user
    assay = get_object_or_404(
        visible_plates(user).select_related("study", "instrument_file"), pk=pk
    )
    if not can_edit_plate(user, assay):
        raise PermissionDenied("You may not change this plate's map.")
    problems: list[str] = []
    status = 200
    if request.method == "POST":
        form = PlateMapForm(request.POST, assay=assay)
        if form.is_valid():
            data = form.cleaned_data
            plate_map, problems = resolve_plate_accessions(data["plate_map"], user=user)
            if not problems:
                try:
                    saved = protein_services.save_plate_map(
                        assay,
                        user=user,
                        plate_map=plate_map,
                        method=data["method"],
                        curve_model=data["curve_model"],
                        subtract_blank=data["subtract_blank"],
                        read_index=data["read_index"],
                    )
                except ValidationError as error:
                    if hasattr(error, "error_dict"):
                        problems = list(
                            ValidationError(error.error_dict.pop("plate_map", [])).messages
                        )
                        if error.error_dict:
                            form.add_service_error(ValidationError(error.error_dict))
                    else:
                        problems = list(error.messages)
                else:
                    _report_saved(request, saved)
                    return redirect(saved)
        status = 400
        editor_map = form.data.get("plate_map", "")
    else:
        accessions = _tube_accessions(user, assay.plate_map)
        editor_map = json.dumps(map_for_editor(assay.plate_map, accessions), indent=1)
        form = PlateMapForm(
            assay=assay,
            initial={
                "plate_map": editor_map,
                "method": assay.method,
                "curve_model": assay.curve_model,
                "subtract_blank": assay.subtract_blank,
                "read_index": assay.read_index,
            },
        )
    accessions = _tube_accessions(user, assay.plate_map)
    try:
        shown_map = json.loads(editor_map or "{}")
        if not isinstance(shown_map, dict):
            shown_map = {}
    except ValueError:
        shown_map = {}
    shown_map = {k: v for k, v in shown_map.items() if isinstance(v, dict)}
    config = {
        "rows": assay.rows,
        "columns": assay.columns,
        "values": [read.get("values", {}) for read in assay.reads] or [{}],
        "errorWells": _problem_wells(problems),
    }
    return render(
        request,
        "assays/protein/plate_map.html",
        {
            "section": SECTION,
            "assay": assay,
            "form": form,
            "problems": problems,
            "grid": plate_grid(assay, _normalised(shown_map), accessions),
            "columns": range(1, assay.columns + 1),
            "config": config,
            "roles": [
                ("standard", "Standard"),
                ("blank", "Blank"),
                ("sample", "Sample (tube)"),
                ("control", "Control"),
                ("empty", "Empty"),
            ],
        },
        status=status,
    )


def _normalised(plate_map: dict) -> dict:
    from ..protein import normalise_well

    return {normalise_well(k) or k: v for k, v in plate_map.items()}


def _report_saved(request: HttpRequest, assay: ProteinAssay) -> None:
    if assay.status == ProteinAssayStatus.COMPUTED:
        count = assay.measurements.count()
        messages.success(
            request, f"Plate map saved; {count} tube result{'s' if count != 1 else ''} computed."
        )
    elif assay.status == ProteinAssayStatus.FIT_FAILED:
        messages.warning(request, f"Plate map saved, but the curve failed: {assay.fit_error}")
    else:
        messages.info(
            request,
            "Plate map saved. Results follow once the map has standards and sample tubes.",
        )
