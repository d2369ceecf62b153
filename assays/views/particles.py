"""Particle results: a measurement's page (numbers, size-distribution plot, capture
settings, warnings and quality flags), the list of measurements, the plot as an SVG file,
and the "Characterisation" panel on a tube's page.

Measurements are scoped like the study they belong to (``visible_to``): another study's
measurement is a 404.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import django_filters as filters
from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET
from django.views.generic import DetailView, TemplateView

from exolims.views import ListPage
from samples.choices import Role
from samples.filters import ChoicesFilter, FilterSet, IdFilter
from samples.models import Aliquot, Study
from samples.views.common import accession_candidates, has_role

from ..choices import FileStatus, ParticleMethod
from ..models import InstrumentFile, ParticleMeasurement
from ..plots import scientific, size_distribution_svg
from .common import PageMixin
from .files import FINAL_STATUSES, dropzone_context

SECTION = "instruments"
PANEL_MEASUREMENTS = 6
PANEL_FILES = 10

# What each quality flag (``assays.quality``) means and what to do about it; the flag's own
# message says what was found in this measurement.
FLAG_EXPLANATIONS: dict[str, str] = {
    "instrument_warnings": (
        "The instrument's software reported a problem with the capture or analysis; its "
        "own wording is listed under Instrument warnings."
    ),
    "high_replicate_cv": (
        "The replicate measurements (videos/positions) disagree by more than 25 % in "
        "concentration. Common causes are too few particles per frame, drift, bubbles or "
        "sedimentation; consider measuring again at a better dilution."
    ),
    "mode_outside_small_ev_range": (
        "For a small-EV preparation the modal size is expected between 50 and 300 nm. A "
        "mode outside this range suggests aggregates, lipoproteins, protein or debris, or "
        "a preparation labelled with the wrong EV term."
    ),
    "mode_below_sizing_floor": (
        "Particle tracking cannot size particles this small reliably (they scatter too "
        "little light); the reported sizes and concentration are likely biased."
    ),
    "few_videos": (
        "Fewer than 3 replicate videos were recorded, so the concentration's spread cannot "
        "be estimated reliably; record at least 3 (typically 5) captures per sample."
    ),
}

# Short names of the quality flags for cards and table cells (the full message is the
# tooltip and is shown on the measurement's page).
FLAG_SHORT: dict[str, str] = {
    "instrument_warnings": "instrument warning",
    "high_replicate_cv": "CV > 25 %",
    "mode_outside_small_ev_range": "mode outside 50–300 nm",
    "mode_below_sizing_floor": "mode < 50 nm",
    "few_videos": "< 3 videos",
}

SETTING_UNITS = {
    "_c": "°C",
    "_cp": "cP",
    "_ms": "ms",
    "_fps": "fps",
    "_nm": "nm",
    "_s": "s",
    "_ml": "mL",
    "_ul": "µL",
    "_pct": "%",
    "_au": "AU",
}
# Capture settings shown first, in this order, with the labels people know from the
# instrument software; any other plain value the parser stored follows.
SETTING_LABELS: dict[str, tuple[str, str]] = {
    "temperature_c_range": ("Temperature range", "°C"),
    "viscosity_cp_range": ("Viscosity range", "cP"),
    "concentration_se_per_ml": ("Concentration standard error", "particles/mL"),
    "ph": ("pH", ""),
    "ph_source": ("pH source", ""),
}
PRIMARY_SETTINGS: dict[str, str] = {
    "temperature_c": "Temperature",
    "viscosity_cp": "Viscosity",
    "video_count": "Videos",
    "frames_analysed": "Frames analysed",
    "camera_type": "Camera",
    "laser_type": "Laser",
    "camera_level": "Camera level",
    "detection_threshold": "Detection threshold",
    "shutter_ms": "Shutter",
    "slider_shutter": "Slider shutter",
    "slider_gain": "Slider gain",
    "frame_rate_fps": "Frame rate",
    "histogram_upper_limit": "Camera histogram upper limit",
    "histogram_lower_limit": "Camera histogram lower limit",
    "syringe_pump_speed_au": "Syringe pump speed",
    "max_jump_mode": "Max jump mode",
    "max_jump_distance": "Max jump distance",
    "blur": "Blur",
    "min_track_length": "Min track length",
    "first_frame": "First frame",
    "dilution": "Dilution (as written)",
    "diluent": "Diluent",
    "pre_treatment": "Pre-treatment",
    "operator": "Operator",
    "experiment_name": "Experiment",
    "time_captured": "Time captured",
}
# Bookkeeping and nested tables: shown per video below, or not at all.
HIDDEN_SETTINGS = {
    "format",
    "encoding",
    "videos",
    "processed",
    "dilution_already_applied",
    "measured_at_source",
    "distribution_mean_computed",
    "data_included",
}
# Per-video tables in the parser's settings (label → one value per video).
PER_VIDEO_SECTIONS = {
    "conditions": "Conditions",
    "analysis_settings": "Analysis settings",
    "results": "Results",
    "concentration_warnings": "Concentration warnings",
    "information": "Information",
}
REPLICATE_NOUN = {ParticleMethod.NTA: "video", ParticleMethod.ZETAVIEW: "position"}


# --- Display ------------------------------------------------------------------------------


def number_text(value: Any, *, decimals: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return scientific(value)
        if value.is_integer():
            return f"{int(value):,}"
        if abs(value) < 1:
            return f"{value:.3g}"
        return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
    return str(value)


def setting_label(key: str) -> tuple[str, str]:
    """("Temperature", "°C") from "temperature_c"; unknown keys read as words."""
    if key in SETTING_LABELS:
        return SETTING_LABELS[key]
    if key.endswith("_per_ml"):  # concentrations, e.g. "concentration_measured_per_ml"
        return key[: -len("_per_ml")].replace("_", " ").capitalize(), "particles/mL"
    unit = ""
    stem = key
    for suffix, suffix_unit in SETTING_UNITS.items():
        if key.endswith(suffix) and len(key) > len(suffix):
            stem, unit = key[: -len(suffix)], suffix_unit
            break
    label = PRIMARY_SETTINGS.get(key) or stem.replace("_", " ").capitalize()
    return label, unit


def setting_value(value: Any) -> str:
    """A capture setting as text: per-video lists collapse to one value when all agree."""
    if isinstance(value, list | tuple):
        values = [setting_value(v) for v in value]
        distinct = list(dict.fromkeys(values))
        if len(distinct) == 1:
            return distinct[0]
        return ", ".join(values)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {setting_value(v)}" for k, v in value.items())
    return number_text(value, decimals=2)


@dataclass(frozen=True)
class SettingRow:
    label: str
    value: str
    unit: str


def _plain(value: Any) -> bool:
    """A value that reads well in one table cell (not a nested table)."""
    if isinstance(value, dict):
        return False
    if isinstance(value, list | tuple):
        return all(not isinstance(v, dict | list | tuple) for v in value)
    return True


def settings_rows(settings: Any) -> list[SettingRow]:
    """The capture settings table: known settings first, then other plain values."""
    if not isinstance(settings, dict):
        return []
    keys = [k for k in PRIMARY_SETTINGS if k in settings]
    keys += [
        k
        for k in settings
        if k not in PRIMARY_SETTINGS
        and k not in HIDDEN_SETTINGS
        and k not in PER_VIDEO_SECTIONS
        and _plain(settings[k])
    ]
    rows = []
    for key in keys:
        value = settings[key]
        if not _plain(value):
            continue
        label, unit = setting_label(str(key))
        if str(key).endswith("_range") and isinstance(value, list | tuple) and len(value) == 2:
            low, high = (setting_value(v) for v in value)
            text = low if low == high else f"{low}–{high}"
        else:
            text = setting_value(value)
        if text != "":
            rows.append(SettingRow(label=label, value=text, unit=unit))
    return rows


@dataclass(frozen=True)
class PerVideoSection:
    title: str
    rows: list[tuple[str, list[str]]]


def per_video_sections(settings: Any) -> tuple[list[str], list[PerVideoSection]]:
    """(video names, sections) for the "per video" table: each row one label of the file
    with one value per video. Rows of another length are left out."""
    if not isinstance(settings, dict):
        return [], []
    videos = [str(v) for v in settings.get("videos") or [] if not isinstance(v, dict | list)]
    if not videos:
        return [], []
    sections = []
    for key, title in PER_VIDEO_SECTIONS.items():
        table = settings.get(key)
        if not isinstance(table, dict):
            continue
        rows = []
        for label, values in table.items():
            if isinstance(values, dict):
                values = values.get("videos")
            if isinstance(values, list) and len(values) == len(videos):
                rows.append((str(label), [setting_value(v) for v in values]))
        if rows:
            sections.append(PerVideoSection(title=title, rows=rows))
    return videos, sections


@dataclass(frozen=True)
class ShownFlag:
    code: str
    message: str
    explanation: str
    short: str


def shown_flags(flags: Any) -> list[ShownFlag]:
    shown = []
    for flag in flags if isinstance(flags, list) else []:
        if isinstance(flag, dict):
            code = str(flag.get("code", ""))
            message = str(flag.get("message", "") or code.replace("_", " "))
        else:
            code, message = "", str(flag)
        shown.append(
            ShownFlag(
                code=code,
                message=message,
                explanation=FLAG_EXPLANATIONS.get(code, ""),
                short=FLAG_SHORT.get(code, message),
            )
        )
    return shown


def decorate(measurement: ParticleMeasurement) -> ParticleMeasurement:
    """Add the display texts the templates use (concentration in scientific notation …)."""
    m = measurement
    m.url = reverse("assays:particle-detail", args=[m.pk])
    m.concentration_text = scientific(m.concentration_per_ml)
    m.concentration_sd_text = scientific(m.concentration_sd_per_ml)
    m.dilution_text = number_text(m.dilution_factor) if m.dilution_factor else ""
    m.cv_text = f"{m.replicate_cv_pct:.1f} %" if m.replicate_cv_pct is not None else ""
    m.sizes = [
        (label, number_text(value))
        for label, value in (
            ("Mean", m.mean_nm),
            ("Mode", m.mode_nm),
            ("SD", m.sd_nm),
            ("D10", m.d10_nm),
            ("D50", m.d50_nm),
            ("D90", m.d90_nm),
        )
    ]
    m.shown_flags = shown_flags(m.flags)
    m.replicate_noun = REPLICATE_NOUN.get(m.method, "replicate")
    return m


def measurement_rows(queryset: Iterable[ParticleMeasurement]) -> list[ParticleMeasurement]:
    return [decorate(m) for m in queryset]


def plot_for(m: ParticleMeasurement, *, compact: bool = False, element_id: str = "") -> SafeString:
    tube = m.aliquot.accession if m.aliquot_id else "the tube"
    return size_distribution_svg(
        m.distribution,
        title=f"Size distribution of {tube} ({m.get_method_display()})",
        compact=compact,
        element_id=element_id or f"size-plot-{m.pk}",
        replicate_label=REPLICATE_NOUN.get(m.method, "replicate"),
    )


# --- Pages --------------------------------------------------------------------------------


def visible_measurements(user) -> QuerySet:
    return ParticleMeasurement.objects.visible_to(user)


class ParticleDetailView(PageMixin, DetailView):
    section = SECTION
    template_name = "assays/particles/detail.html"
    context_object_name = "measurement"

    def get_queryset(self) -> QuerySet:
        return visible_measurements(self.request.user).select_related(
            "aliquot", "study", "instrument_file__instrument"
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        m = decorate(self.object)
        others = measurement_rows(
            visible_measurements(self.request.user)
            .filter(aliquot_id=m.aliquot_id)
            .exclude(pk=m.pk)
            .defer("distribution", "settings")[:10]
        )
        return super().get_context_data(
            plot=plot_for(m),
            settings_rows=settings_rows(m.settings),
            per_video=per_video_sections(m.settings),
            warnings=[str(w) for w in m.instrument_warnings or []],
            others=others,
            role=m.study.role_of(self.request.user),
            **kwargs,
        )


@require_GET
@login_required
def particle_plot(request: HttpRequest, pk: int) -> HttpResponse:
    """The plot alone, as an SVG file (to save or put in a report)."""
    m = get_object_or_404(visible_measurements(request.user).select_related("aliquot"), pk=pk)
    svg = plot_for(m, element_id="size-plot")
    if not svg:
        return HttpResponse("No size distribution in this measurement.", status=404)
    response = HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + svg, content_type="image/svg+xml"
    )
    response["Content-Disposition"] = f'inline; filename="size-distribution-{m.pk}.svg"'
    return response


class ParticleFilterSet(FilterSet):
    study = IdFilter(field_name="study_id")
    method = ChoicesFilter(choices=ParticleMethod.choices)
    tube = filters.CharFilter(method="by_tube", label="Tube accession")
    measured_from = filters.DateFilter(field_name="measured_at__date", lookup_expr="gte")
    measured_to = filters.DateFilter(field_name="measured_at__date", lookup_expr="lte")
    file = IdFilter(field_name="instrument_file_id")

    class Meta:
        model = ParticleMeasurement
        fields = ["study", "method"]

    def by_tube(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value.strip():
            return queryset
        return queryset.filter(aliquot__accession__in=accession_candidates(value))


class ParticleListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/particles/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = ListPage(
            self.request,
            filterset_class=ParticleFilterSet,
            queryset=visible_measurements(user)
            .select_related("aliquot", "study", "instrument_file")
            .defer("distribution", "settings", "instrument_file__error"),
            sorts={
                "measured": "measured_at",
                "concentration": "concentration_per_ml",
                "mode": "mode_nm",
            },
            default_sort="-measured",
            shown=("study", "method", "tube", "measured_from", "measured_to"),
            studies=Study.objects.visible_to(user),
        )
        fields = page.filterset.form.fields
        for name in ("measured_from", "measured_to"):
            fields[name].widget = forms.DateInput(attrs={"type": "date"})
        fields["tube"].widget.attrs.update({"placeholder": "EXO-…", "class": "mono"})
        page.filter_fields = [page.filterset.form[name] for name in page.shown]
        page.rows = measurement_rows(page.rows)
        return super().get_context_data(page=page, **kwargs)


# --- The tube page's panel -------------------------------------------------------------------


def characterisation_panel(*, request: HttpRequest, aliquot: Aliquot, role: str | None) -> str:
    """Every kind of result of this tube: particle measurements with a small plot each, then
    protein, markers, imaging, flow, DLS and qPCR (one query per kind); files still being
    processed for it; and (editors) "Add …" buttons and a drop zone aimed at this tube."""
    from .measurements import panel_add_links, panel_sections

    user = request.user
    measurements = list(
        visible_measurements(user)
        .filter(aliquot=aliquot)
        .select_related("aliquot")
        .order_by("-measured_at", "-id")[: PANEL_MEASUREMENTS + 1]
    )
    more = len(measurements) > PANEL_MEASUREMENTS
    measurements = measurement_rows(measurements[:PANEL_MEASUREMENTS])
    for m in measurements:
        m.small_plot = plot_for(m, compact=True, element_id=f"tube-plot-{m.pk}")
    pending = list(
        InstrumentFile.objects.visible_to(user)
        .filter(aliquot=aliquot)
        .exclude(status=FileStatus.PARSED)
        .only("id", "original_name", "status", "error", "review_reason", "received_at")
        .order_by("-received_at", "-id")[:PANEL_FILES]
    )
    sections = panel_sections(user=user, aliquot=aliquot)
    kinds = {
        "protein": "protein",
        "markers": "marker",
        "imaging": "imaging",
        "flow": "flow",
        "dls": "DLS",
        "qpcr": "qPCR",
    }
    empty = [label for key, label in kinds.items() if not sections[key]]
    can_upload = has_role(role, Role.EDITOR)
    return render_to_string(
        "assays/characterisation_panel.html",
        {
            "aliquot": aliquot,
            "measurements": measurements,
            "more": more,
            **sections,
            "has_results": len(empty) < len(kinds),
            "empty_kinds": ", ".join(empty[:-1]) + (" or " if len(empty) > 1 else "") + empty[-1]
            if empty
            else "",
            "add_links": panel_add_links(aliquot) if can_upload else [],
            "pending": pending,
            "final_statuses": FINAL_STATUSES,
            "can_upload": can_upload,
            "dropzone": dropzone_context(user=user, aliquot=aliquot) if can_upload else None,
        },
        request=request,
    )


characterisation_panel.panel_title = "Characterisation"
