"""Flow, DLS and qPCR pages, and what every characterisation page shares: who may add or
change a record, the tube a form starts from, the "Characterisation" panel's sections
beyond particle counts, and the records parsed from an instrument file.

Records are scoped like the study they belong to (``visible_to``): another study's record
is a 404. Adding or changing one needs the editor role in its study; viewers see no buttons
and get a 403 on POST. The services (``assays.characterisation_services``) write, in one
transaction, and check the same rules again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from xml.sax.saxutils import escape, quoteattr

import django_filters as filters
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    Count,
    IntegerField,
    Model,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
)
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_http_methods
from django.views.generic import TemplateView

from exolims.views import ListPage
from samples.choices import Role
from samples.filters import ChoicesFilter, FilterSet, IdFilter
from samples.models import Aliquot, Study
from samples.views.common import accession_candidates, has_role

from .. import characterisation_services as services
from ..choices import ControlKind, DLSKind, QPCRTask
from ..forms.characterisation import (
    DLSForm,
    FlowReportingForm,
    QPCRRunForm,
    controls_formset,
    controls_from,
    cq_formset,
    cq_rows,
    now_minute,
    qpcr_sample_map,
    record_initial,
    without_tube,
)
from ..models import (
    DLSMeasurement,
    FlowMeasurement,
    ImagingImage,
    ImagingRecord,
    InstrumentFile,
    MarkerResult,
    ProteinAssay,
    ProteinMeasurement,
    QPCRResult,
    QPCRRun,
)
from ..plots import (
    AXIS_COLOUR,
    FONT,
    GRID_COLOUR,
    MEAN_COLOUR,
    REPLICATE_COLOURS,
    nice_step,
    scientific,
)
from .common import PageMixin
from .particles import number_text

SECTION = "instruments"
PANEL_ROWS = 8
RECORD_RELATED = ("aliquot", "study", "instrument", "operator", "instrument_file")

Record = TypeVar("Record", bound=Model)


def visible_record(request: HttpRequest, model: type[Record], pk: int, *related: str) -> Record:
    """Record ``pk`` of ``model`` if the user may see it (404 otherwise), with the tube, study,
    instrument and people every record page shows, and ``related`` besides."""
    return get_object_or_404(
        model.objects.visible_to(request.user).select_related(*RECORD_RELATED, *related), pk=pk
    )


# --- Who may do what ------------------------------------------------------------------------


def role_in(user, study: Study | None) -> str | None:
    return study.role_of(user) if study is not None else None


def require_editor(
    user, study: Study | None, *, refusal: str = "Your role in this study does not allow changes."
) -> str:
    """The user's role in ``study``; PermissionDenied (saying ``refusal``) below editor."""
    role = role_in(user, study)
    if not has_role(role, Role.EDITOR):
        raise PermissionDenied(refusal)
    return role


def require_result_editor(user, study: Study | None) -> None:
    """PermissionDenied unless the user may correct a result typed in for ``study``."""
    require_editor(user, study, refusal="You need the editor role in this study to change results.")


def start_tube(request: HttpRequest) -> Aliquot | None:
    """The tube an "Add …" button came from (``?aliquot=<id>``): None without one, 404 for a
    tube the user cannot see, 403 for one they may not record on."""
    raw = request.GET.get("aliquot", "")
    if not raw:
        return None
    if not raw.isdecimal():
        raise Http404("No such tube.")
    tube = get_object_or_404(
        Aliquot.objects.visible_to(request.user).select_related("study"), pk=raw
    )
    require_editor(request.user, tube.study)
    return tube


def require_some_editor_role(user) -> None:
    if not Study.objects.editable_by(user).exists():
        raise PermissionDenied("Recording results needs the editor role in a study.")


def tube_from_accession(queryset: QuerySet, value: str) -> QuerySet:
    if not value.strip():
        return queryset
    return queryset.filter(aliquot__accession__in=accession_candidates(value))


def controls_text(controls: Any) -> list[dict[str, str]]:
    """Controls with their kind spelled out, for the detail pages."""
    labels = dict(ControlKind.choices)
    shown = []
    for item in controls if isinstance(controls, list) else []:
        if isinstance(item, dict):
            shown.append(
                {
                    "kind": labels.get(item.get("kind"), item.get("kind", "")),
                    "description": item.get("description", ""),
                    "result": item.get("result", ""),
                }
            )
    return shown


# --- Plots ------------------------------------------------------------------------------------

PLOT_W, PLOT_H = 720, 320
P_LEFT, P_RIGHT, P_TOP, P_BOTTOM = 60, 18, 30, 48


def _attrs(**attrs: Any) -> str:
    return "".join(
        f" {name.rstrip('_').replace('_', '-')}={quoteattr(str(value))}"
        for name, value in attrs.items()
    )


def _finite_list(values: Any, length: int) -> list[float] | None:
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != length:
        return None
    out = []
    for value in values:
        try:
            number = float(value) if value is not None else 0.0
        except (TypeError, ValueError):
            return None
        out.append(number if math.isfinite(number) else 0.0)
    return out


def line_plot_svg(
    xs: Sequence[float],
    series: list[tuple[str, list[float]]],
    *,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    log_x: bool,
    element_id: str,
) -> SafeString:
    """A small self-contained ``<svg>``: one ``<path class="series">`` per series, the first
    drawn bold. ``log_x`` for DLS sizes, which are spaced logarithmically (0.4 nm–10 µm)."""
    if log_x:
        keep = [i for i, x in enumerate(xs) if x > 0]
    else:
        keep = list(range(len(xs)))
    # Trim to where any series has signal, with a margin, so a 100 nm peak is not a sliver.
    signal = [i for i in keep if any(ys[i] > 0 for _, ys in series)]
    if not signal:
        return mark_safe("")
    first, last = signal[0], signal[-1]
    if log_x:
        x_min = 10 ** math.floor(math.log10(xs[first]))
        x_max = 10 ** math.ceil(math.log10(xs[last]))
        if x_max <= x_min:
            x_max = x_min * 10
        x_ticks = []
        tick = x_min
        while tick <= x_max * 1.0001:
            x_ticks.append(tick)
            tick *= 10
    else:
        span = xs[last] - xs[first] or 1.0
        step = nice_step(span, 6)
        x_min = math.floor(xs[first] / step) * step
        x_max = math.ceil(xs[last] / step) * step
        if x_max <= x_min:
            x_max = x_min + step
        x_ticks = [x_min + i * step for i in range(round((x_max - x_min) / step) + 1)]
    shown = [i for i in keep if x_min <= xs[i] <= x_max]
    y_peak = max((ys[i] for _, ys in series for i in shown), default=0.0) or 1.0
    y_step = nice_step(y_peak, 4)
    y_top = math.ceil(y_peak / y_step - 1e-9) * y_step
    y_ticks = [i * y_step for i in range(round(y_top / y_step) + 1)]
    plot_w, plot_h = PLOT_W - P_LEFT - P_RIGHT, PLOT_H - P_TOP - P_BOTTOM
    right, bottom = P_LEFT + plot_w, P_TOP + plot_h

    def px(x: float) -> float:
        if log_x:
            share = (math.log10(x) - math.log10(x_min)) / (math.log10(x_max) - math.log10(x_min))
        else:
            share = (x - x_min) / (x_max - x_min)
        return P_LEFT + share * plot_w

    def py(y: float) -> float:
        return bottom - max(min(y, y_top), 0.0) / y_top * plot_h

    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg"'
        + _attrs(
            id=element_id,
            class_="plot line-plot",
            viewBox=f"0 0 {PLOT_W} {PLOT_H}",
            width=PLOT_W,
            height=PLOT_H,
            role="img",
            aria_labelledby=f"{title_id} {desc_id}",
            font_family=FONT,
            font_size=12,
        )
        + ">",
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{PLOT_W}" height="{PLOT_H}" fill="#fff"/>',
        '<g class="grid">',
    ]
    for value in y_ticks:
        parts.append(
            f'<line x1="{P_LEFT}" x2="{right}" y1="{py(value):.1f}" y2="{py(value):.1f}" '
            f'stroke="{GRID_COLOUR}"/>'
        )
    for value in x_ticks:
        parts.append(
            f'<line x1="{px(value):.1f}" x2="{px(value):.1f}" y1="{P_TOP}" y2="{bottom}" '
            f'stroke="{GRID_COLOUR}"/>'
        )
    parts.append("</g>")
    parts.append(
        f'<g class="axes" stroke="{AXIS_COLOUR}"><line x1="{P_LEFT}" x2="{right}" '
        f'y1="{bottom}" y2="{bottom}"/><line x1="{P_LEFT}" x2="{P_LEFT}" y1="{P_TOP}" '
        f'y2="{bottom}"/></g>'
    )
    parts.append(f'<g class="tick-labels" fill="{AXIS_COLOUR}">')
    for value in y_ticks:
        parts.append(
            f'<text x="{P_LEFT - 7}" y="{py(value) + 4:.1f}" text-anchor="end">{value:.6g}</text>'
        )
    for value in x_ticks:
        parts.append(
            f'<text x="{px(value):.1f}" y="{bottom + 17}" text-anchor="middle">{value:g}</text>'
        )
    parts.append("</g>")
    parts.append(
        f'<text class="axis-label" x="{P_LEFT + plot_w / 2:.1f}" y="{PLOT_H - 6}" '
        f'text-anchor="middle" fill="{AXIS_COLOUR}">{escape(x_label)}</text>'
        f'<text class="axis-label" x="{P_LEFT}" y="{P_TOP - 10}" fill="{AXIS_COLOUR}">'
        f"{escape(y_label)}</text>"
    )
    parts.append('<g class="series-lines" fill="none" stroke-linejoin="round">')
    colours = [MEAN_COLOUR, *REPLICATE_COLOURS]
    for index, (label, ys) in enumerate(series):
        d = "M" + "L".join(f"{px(xs[i]):.1f},{py(ys[i]):.1f}" for i in shown)
        parts.append(
            "<path"
            + _attrs(
                class_="series",
                d=d,
                stroke=colours[index % len(colours)],
                stroke_width=2.4 if index == 0 else 1.4,
                data_label=label,
            )
            + f"><title>{escape(label)}</title></path>"
        )
    parts.append("</g>")
    if len(series) > 1:
        x = right
        parts.append('<g class="legend">')
        for index, (label, _ys) in reversed(list(enumerate(series))):
            x -= len(label) * 7.2
            parts.append(
                f'<text x="{x:.1f}" y="{P_TOP - 10}" fill="{AXIS_COLOUR}">{escape(label)}</text>'
            )
            x -= 26
            parts.append(
                f'<line x1="{x:.1f}" x2="{x + 20:.1f}" y1="{P_TOP - 14}" y2="{P_TOP - 14}" '
                f'stroke="{colours[index % len(colours)]}" '
                f'stroke-width="{2.4 if index == 0 else 1.4}"/>'
            )
            x -= 12
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))


def dls_size_svg(m: DLSMeasurement, *, element_id: str = "dls-plot") -> SafeString:
    """Intensity, number and volume distributions of a size record (those the file has)."""
    data = m.distribution if isinstance(m.distribution, dict) else {}
    sizes = _finite_list(data.get("sizes_nm"), len(data.get("sizes_nm") or []))
    if not sizes or len(sizes) < 2:
        return mark_safe("")
    series = []
    for key, label in (
        ("intensity_pct", "by intensity"),
        ("number_pct", "by number"),
        ("volume_pct", "by volume"),
    ):
        ys = _finite_list(data.get(key), len(sizes))
        if ys and any(y > 0 for y in ys):
            series.append((label, ys))
    if not series:
        return mark_safe("")
    tube = m.aliquot.accession if m.aliquot_id else "the tube"
    return line_plot_svg(
        sizes,
        series,
        title=f"DLS size distribution of {tube}",
        description=f"Share of the signal (%) against hydrodynamic diameter (nm, log scale), "
        f"{', '.join(label for label, _ in series)}.",
        x_label="Size, hydrodynamic diameter (nm)",
        y_label="%",
        log_x=True,
        element_id=element_id,
    )


def dls_zeta_svg(m: DLSMeasurement, *, element_id: str = "zeta-plot") -> SafeString:
    data = m.zeta_distribution if isinstance(m.zeta_distribution, dict) else {}
    xs = _finite_list(data.get("zeta_mv"), len(data.get("zeta_mv") or []))
    if not xs or len(xs) < 2:
        return mark_safe("")
    counts = _finite_list(data.get("counts"), len(xs))
    if not counts:
        return mark_safe("")
    tube = m.aliquot.accession if m.aliquot_id else "the tube"
    return line_plot_svg(
        xs,
        [("counts", counts)],
        title=f"Zeta potential distribution of {tube}",
        description="Counts against zeta potential (mV).",
        x_label="Zeta potential (mV)",
        y_label="Counts",
        log_x=False,
        element_id=element_id,
    )


# --- Display ----------------------------------------------------------------------------------


def flow_row(m: FlowMeasurement) -> FlowMeasurement:
    m.url = reverse("assays:flow-detail", args=[m.pk])
    m.events_text = number_text(m.event_count) if m.event_count is not None else ""
    m.concentration_text = scientific(m.event_concentration_per_ml)
    # A row marker (lists, the tube panel): the file's problems are not only on its page.
    warnings = [str(w) for w in m.warnings or []]
    m.warning_count = len(warnings)
    m.warning_title = "; ".join(warnings[:3]) + (" …" if len(warnings) > 3 else "")
    return m


def dls_row(m: DLSMeasurement) -> DLSMeasurement:
    m.url = reverse("assays:dls-detail", args=[m.pk])
    m.z_text = number_text(m.z_average_nm)
    m.pdi_text = f"{m.pdi:.3f}" if m.pdi is not None else ""
    m.zeta_text = number_text(m.zeta_potential_mv)
    m.zeta_sd_text = number_text(m.zeta_deviation_mv)
    return m


def cq_text(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else ""


MIFLOWCYT_ITEMS = (
    ("calibration_beads", "calibration beads"),
    ("refractive_index_assumed", "refractive index"),
    ("lod_scatter", "scatter limit of detection"),
    ("lod_fluorescence", "fluorescence limit of detection"),
    ("gating", "gating"),
    ("controls", "controls (buffer only, unstained, detergent, serial dilution)"),
)


def miflowcyt_missing(m: FlowMeasurement) -> list[str]:
    missing = [label for field, label in MIFLOWCYT_ITEMS if not getattr(m, field)]
    if not m.volume_ul:
        missing.insert(0, "analysed volume (needed for events per mL)")
    return missing


# --- Flow --------------------------------------------------------------------------------------


class RecordFilterSet(FilterSet):
    study = IdFilter(field_name="study_id")
    tube = filters.CharFilter(method="by_tube", label="Tube accession")
    measured_from = filters.DateFilter(field_name="measured_at__date", lookup_expr="gte")
    measured_to = filters.DateFilter(field_name="measured_at__date", lookup_expr="lte")
    file = IdFilter(field_name="instrument_file_id")

    def by_tube(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return tube_from_accession(queryset, value)


class FlowFilterSet(RecordFilterSet):
    class Meta:
        model = FlowMeasurement
        fields = ["study"]


class DLSFilterSet(RecordFilterSet):
    kind = ChoicesFilter(choices=DLSKind.choices)

    class Meta:
        model = DLSMeasurement
        fields = ["study", "kind"]


def _list_page(request: HttpRequest, *, filterset_class, queryset, sorts, shown) -> ListPage:
    user = request.user
    page = ListPage(
        request,
        filterset_class=filterset_class,
        queryset=queryset,
        sorts=sorts,
        default_sort="-measured",
        shown=shown,
        studies=Study.objects.visible_to(user),
    )
    fields = page.filterset.form.fields
    for name in ("measured_from", "measured_to"):
        if name in fields:
            fields[name].widget = forms.DateInput(attrs={"type": "date"})
    if "tube" in fields:
        fields["tube"].widget.attrs.update({"placeholder": "EXO-…", "class": "mono"})
    page.filter_fields = [page.filterset.form[name] for name in page.shown]
    return page


class FlowListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/flow/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page = _list_page(
            self.request,
            filterset_class=FlowFilterSet,
            queryset=FlowMeasurement.objects.visible_to(self.request.user)
            .select_related("aliquot", "study", "instrument_file")
            .defer("channels", "keywords", "instrument_file__error"),
            sorts={
                "measured": "measured_at",
                "events": "event_count",
                "concentration": "event_concentration_per_ml",
            },
            shown=("study", "tube", "measured_from", "measured_to"),
        )
        page.rows = [flow_row(m) for m in page.rows]
        return super().get_context_data(page=page, current="flow", **kwargs)


@login_required
@require_http_methods(["GET", "POST"])
def flow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Keywords, channels and the MIFlowCyt-EV fields (editors change them here)."""
    m = visible_record(request, FlowMeasurement, pk)
    role = role_in(request.user, m.study)
    can_edit = has_role(role, Role.EDITOR)
    form = controls = None
    status = 200
    if request.method == "POST":
        require_editor(request.user, m.study)
        form = FlowReportingForm(request.POST)
        controls = controls_formset(request.POST)
        if form.is_valid() and controls.is_valid():
            data = {name: form.cleaned_data[name] for name in FlowReportingForm.FIELDS}
            data["controls"] = controls_from(controls)
            try:
                services.update_flow_reporting(user=request.user, measurement=m, data=data)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, "MIFlowCyt-EV details saved.")
                return redirect(m)
        status = 400
    elif can_edit:
        form = FlowReportingForm(
            initial={name: getattr(m, name) for name in FlowReportingForm.FIELDS}
        )
        controls = controls_formset(initial=m.controls)
    flow_row(m)
    keywords = sorted(
        (str(k), str(v)) for k, v in (m.keywords or {}).items() if not _channel_keyword(str(k))
    )
    return render(
        request,
        "assays/flow/detail.html",
        {
            "section": SECTION,
            "measurement": m,
            "role": role,
            "can_edit": can_edit,
            "form": form,
            "controls": controls,
            "channels": [_channel_row(c) for c in m.channels or [] if isinstance(c, dict)],
            "keywords": keywords,
            "missing": miflowcyt_missing(m),
            "controls_shown": controls_text(m.controls),
            "volume_text": number_text(m.volume_ul),
            "volume_source": "entered"
            if m.analysed_volume_ul
            else ("$VOL in the file" if m.file_volume_ul else ""),
        },
        status=status,
    )


def _channel_keyword(key: str) -> bool:
    """$P3N, $P3S, … are shown in the channel table rather than the keyword list."""
    upper = key.upper().lstrip("$")
    return upper.startswith("P") and upper[1:2].isdigit()


def _channel_row(channel: dict) -> dict[str, str]:
    return {
        "index": channel.get("index", ""),
        "name": channel.get("name", ""),
        "label": channel.get("label", ""),
        "range": number_text(channel.get("range")),
        "amplification": channel.get("amplification", ""),
        "voltage": number_text(channel.get("detector_voltage")),
        **{
            key: number_text(channel.get(key), decimals=2)
            for key in ("minimum", "median", "mean", "p1", "p99", "maximum")
        },
    }


# --- DLS ---------------------------------------------------------------------------------------


class DLSListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/dls/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = _list_page(
            self.request,
            filterset_class=DLSFilterSet,
            queryset=DLSMeasurement.objects.visible_to(user)
            .select_related("aliquot", "study", "instrument_file")
            .defer("distribution", "zeta_distribution", "extra", "instrument_file__error"),
            sorts={"measured": "measured_at", "z_average": "z_average_nm", "pdi": "pdi"},
            shown=("study", "kind", "tube", "measured_from", "measured_to"),
        )
        page.rows = [dls_row(m) for m in page.rows]
        can_add = Study.objects.editable_by(user).exists()
        return super().get_context_data(page=page, current="dls", can_add=can_add, **kwargs)


@login_required
def dls_detail(request: HttpRequest, pk: int) -> HttpResponse:
    m = visible_record(request, DLSMeasurement, pk)
    dls_row(m)
    role = role_in(request.user, m.study)
    siblings = []
    if m.instrument_file_id:
        siblings = [
            dls_row(s)
            for s in DLSMeasurement.objects.visible_to(request.user)
            .filter(instrument_file_id=m.instrument_file_id)
            .exclude(pk=m.pk)
            .select_related("aliquot")
            .defer("distribution", "zeta_distribution", "extra")
            .order_by("record_number", "id")[:50]
        ]
    extra = sorted(
        (
            str(k),
            v if isinstance(v, str) else ", ".join(map(str, v)) if isinstance(v, list) else str(v),
        )
        for k, v in (m.extra or {}).items()
    )
    return render(
        request,
        "assays/dls/detail.html",
        {
            "section": SECTION,
            "measurement": m,
            "plot": dls_size_svg(m) if m.kind == DLSKind.SIZE else dls_zeta_svg(m),
            "peaks": [_peak_row(p, m.kind) for p in m.peaks or [] if isinstance(p, dict)],
            "siblings": siblings,
            "extra": extra,
            "controls_shown": controls_text(m.controls),
            "role": role,
            "can_edit": has_role(role, Role.EDITOR),
            "not_editable": dls_not_editable(m),
        },
    )


def _peak_row(peak: dict, kind: str) -> dict[str, str]:
    mean = peak.get("mean_mv") if kind == DLSKind.ZETA else peak.get("mean_nm")
    return {
        "mean": number_text(mean),
        "area": number_text(peak.get("area_pct")),
        "width": number_text(peak.get("width")),
    }


@login_required
@require_http_methods(["GET", "POST"])
def dls_create(request: HttpRequest) -> HttpResponse:
    """A DLS or zeta result typed in from the instrument's report."""
    user = request.user
    tube = start_tube(request)
    require_some_editor_role(user)
    if request.method == "POST":
        form = DLSForm(request.POST, user=user)
        controls = controls_formset(request.POST)
        if form.is_valid() and controls.is_valid():
            try:
                record = services.record_dls_measurement(
                    user=user,
                    aliquot=form.cleaned_data["tube"],
                    data=form.service_data(controls_from(controls)),
                )
            except PermissionDenied as error:
                form.add_tube_refusal(error)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"Recorded the {record.get_kind_display().lower()}.")
                return redirect(record)
        status = 400
    else:
        form = DLSForm(
            user=user,
            initial={"tube": tube.accession if tube else "", "measured_at": now_minute()},
        )
        controls = controls_formset()
        status = 200
    return render(
        request,
        "assays/dls/form.html",
        {"section": SECTION, "form": form, "controls": controls, "tube": tube},
        status=status,
    )


def dls_not_editable(m: DLSMeasurement) -> str:
    """Why a DLS result cannot be corrected or deleted here ("" when it can)."""
    if m.instrument_file_id:
        return (
            "This result was read from an instrument file; its numbers are the file's "
            "(re-process or delete the file instead)."
        )
    return ""


def _editable_dls(request: HttpRequest, pk: int) -> DLSMeasurement:
    m = visible_record(request, DLSMeasurement, pk)
    require_editor(request.user, m.study)
    return m


@login_required
@require_http_methods(["GET", "POST"])
def dls_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a DLS or zeta result typed in, on the form it was entered with."""
    m = _editable_dls(request, pk)
    if reason := dls_not_editable(m):
        messages.error(request, reason)
        return redirect(m)
    user = request.user
    if request.method == "POST":
        form = without_tube(DLSForm(request.POST, user=user))
        controls = controls_formset(request.POST)
        if form.is_valid() and controls.is_valid():
            data = form.service_data(controls_from(controls), editing=True)
            try:
                m = services.update_dls_measurement(user=user, measurement=m, data=data)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"Saved the corrected {m.get_kind_display().lower()}.")
                return redirect(m)
        status = 400
    else:
        form = without_tube(DLSForm(user=user, initial=record_initial(m, DLSForm)))
        controls = controls_formset(initial=m.controls)
        status = 200
    return render(
        request,
        "assays/dls/form.html",
        {
            "section": SECTION,
            "form": form,
            "controls": controls,
            "tube": m.aliquot,
            "editing": m,
        },
        status=status,
    )


@login_required
@require_http_methods(["POST"])
def dls_delete(request: HttpRequest, pk: int) -> HttpResponse:
    m = _editable_dls(request, pk)
    if reason := dls_not_editable(m):
        messages.error(request, reason)
        return redirect(m)
    tube, kind = m.aliquot, m.get_kind_display().lower()
    services.delete_record(
        user=request.user, record=m, reason=request.POST.get("change_reason", "")
    )
    messages.success(request, f"Deleted the {kind} of {tube.accession}.")
    return redirect(tube)


# --- qPCR --------------------------------------------------------------------------------------


class QPCRRunFilterSet(FilterSet):
    q = filters.CharFilter(field_name="run_name", lookup_expr="icontains", label="Run name")
    study = IdFilter(field_name="study_id")
    tube = filters.CharFilter(method="by_tube", label="Tube accession")
    measured_from = filters.DateFilter(field_name="measured_at__date", lookup_expr="gte")
    measured_to = filters.DateFilter(field_name="measured_at__date", lookup_expr="lte")

    class Meta:
        model = QPCRRun
        fields = ["study"]

    def by_tube(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value.strip():
            return queryset
        runs = QPCRResult.objects.filter(aliquot__accession__in=accession_candidates(value)).values(
            "run_id"
        )
        return queryset.filter(pk__in=runs)


def _run_counts() -> dict[str, Subquery]:
    rows = QPCRResult.objects.filter(run=OuterRef("pk")).order_by().values("run")
    return {
        "result_count": Subquery(
            rows.annotate(n=Count("id")).values("n"), output_field=IntegerField()
        ),
        "target_count": Subquery(
            rows.annotate(n=Count("target", distinct=True)).values("n"),
            output_field=IntegerField(),
        ),
        "unmatched_count": Subquery(
            QPCRResult.objects.filter(
                run=OuterRef("pk"), aliquot__isnull=True, task=QPCRTask.UNKNOWN
            )
            .order_by()
            .values("run")
            .annotate(n=Count("sample_name", distinct=True))
            .values("n"),
            output_field=IntegerField(),
        ),
    }


class QPCRRunListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/qpcr/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = ListPage(
            self.request,
            filterset_class=QPCRRunFilterSet,
            queryset=QPCRRun.objects.visible_to(user)
            .select_related("study", "instrument_file")
            .annotate(**_run_counts())
            .defer("sample_map", "warnings", "instrument_file__error"),
            sorts={"measured": "measured_at", "created": "created_at", "name": "run_name"},
            default_sort="-created",
            shown=("q", "study", "tube", "measured_from", "measured_to"),
            studies=Study.objects.visible_to(user),
        )
        fields = page.filterset.form.fields
        for name in ("measured_from", "measured_to"):
            fields[name].widget = forms.DateInput(attrs={"type": "date"})
        fields["tube"].widget.attrs.update({"placeholder": "EXO-…", "class": "mono"})
        page.filter_fields = [page.filterset.form[name] for name in page.shown]
        can_add = Study.objects.editable_by(user).exists()
        return super().get_context_data(page=page, current="qpcr", can_add=can_add, **kwargs)


@dataclass
class CqCell:
    values: list[str]
    mean: str
    undetermined: int


@dataclass
class CqRow:
    label: str
    tube: Aliquot | None
    task: str
    cells: list[CqCell]
    task_label: str = ""


def cq_table(results: list[QPCRResult]) -> tuple[list[str], list[CqRow]]:
    """Targets (columns) and one row per tube or sample name: the replicates' Cq values and
    their mean. Undetermined wells are counted, not averaged in as a number. Each task is
    its own row: a control never shares a mean with the tube's unknowns."""
    targets = sorted({r.target for r in results}, key=str.lower)
    groups: dict[tuple, list[QPCRResult]] = {}
    for r in results:
        key = ("tube", r.aliquot_id) if r.aliquot_id else ("name", r.sample_name or r.well)
        groups.setdefault((*key, r.task), []).append(r)
    rows = []
    for members in groups.values():
        first = members[0]
        cells = []
        for target in targets:
            wells = [r for r in members if r.target == target]
            cqs = [r.cq for r in wells if r.cq is not None]
            mean = sum(cqs) / len(cqs) if cqs else None
            cells.append(
                CqCell(
                    values=[cq_text(r.cq) if r.cq is not None else "Undet." for r in wells],
                    mean=cq_text(mean) if len(cqs) > 1 else "",
                    undetermined=sum(r.cq is None for r in wells),
                )
            )
        rows.append(
            CqRow(
                label=first.aliquot.accession if first.aliquot_id else first.sample_name,
                tube=first.aliquot if first.aliquot_id else None,
                task=first.task,
                cells=cells,
                task_label=first.get_task_display(),
            )
        )
    rows.sort(key=lambda row: (row.tube is None, row.task != QPCRTask.UNKNOWN, row.label))
    return targets, rows


def unmatched_names(results: list[QPCRResult]) -> list[str]:
    """Sample names of unknowns not on a tube (standards and controls need none)."""
    names = {r.sample_name for r in results if r.aliquot_id is None and r.task == QPCRTask.UNKNOWN}
    return sorted((n for n in names if n), key=str.lower)


@login_required
@require_http_methods(["GET", "POST"])
def qpcr_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Cq values by target × sample; editors put unmatched sample names on tubes."""
    user = request.user
    run = get_object_or_404(
        QPCRRun.objects.visible_to(user).select_related(
            "study", "instrument", "instrument_file", "operator"
        ),
        pk=pk,
    )
    can_edit = services.can_edit_qpcr_run(user, run)
    results = list(QPCRResult.objects.visible_to(user).filter(run=run).select_related("aliquot"))
    names = unmatched_names(results)
    problems: dict[str, str] = {}
    typed: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only an editor of the run's study may put samples on tubes.")
        posted = [request.POST.get(f"name-{i}", "") for i in range(len(names))]
        if posted != names:
            messages.error(request, "The run's samples changed while you were typing; try again.")
            return redirect(run)
        typed = {name: request.POST.get(f"tube-{i}", "").strip() for i, name in enumerate(names)}
        sample_map, problems = qpcr_sample_map(request.POST, names, user=user)
        if not sample_map and not problems:
            problems = {"": "Type or scan a tube accession for at least one sample."}
        if not problems:
            try:
                services.map_qpcr_samples(user=user, run=run, sample_map=sample_map)
            except PermissionDenied as error:
                problems = {"": str(error) or "You cannot put these samples on those tubes."}
            except ValidationError as error:
                problems = {"": " ".join(error.messages)}
            else:
                messages.success(
                    request,
                    f"Put {len(sample_map)} sample name{'s' if len(sample_map) != 1 else ''} "
                    "on tubes.",
                )
                return redirect(run)
        status = 400
    targets, rows = cq_table(results)
    hidden = run.results.count() - len(results)
    return render(
        request,
        "assays/qpcr/detail.html",
        {
            "section": SECTION,
            "run": run,
            "can_edit": can_edit,
            "targets": targets,
            "rows": rows,
            "results": sorted(results, key=lambda r: (r.well, r.target)),
            "unmatched": [
                {"index": i, "name": n, "typed": typed.get(n, ""), "problem": problems.get(n, "")}
                for i, n in enumerate(names)
            ],
            "general_problem": problems.get(""),
            "map_failed": status == 400,
            "hidden": hidden,
            "mapped": _mapped(user, run),
        },
        status=status,
    )


def _mapped(user, run: QPCRRun) -> list[tuple[str, str]]:
    """The run's sample map as (sample name, tube accession) for the tubes the user sees."""
    ids = {int(v) for v in (run.sample_map or {}).values() if str(v).isdecimal()}
    accessions = dict(
        Aliquot.objects.visible_to(user).filter(pk__in=ids).values_list("pk", "accession")
    )
    return sorted(
        (name, accessions.get(int(tube), "a tube you cannot see"))
        for name, tube in (run.sample_map or {}).items()
        if str(tube).isdecimal()
    )


@login_required
@require_http_methods(["GET", "POST"])
def qpcr_create(request: HttpRequest) -> HttpResponse:
    """Cq values of one tube typed in (a run without a file)."""
    user = request.user
    tube = start_tube(request)
    require_some_editor_role(user)
    if request.method == "POST":
        form = QPCRRunForm(request.POST, user=user)
        rows = cq_formset(request.POST)
        if form.is_valid() and rows.is_valid():
            entered = cq_rows(rows)
            if not entered:
                form.add_error(None, "Give at least one target with its Cq (or undetermined).")
            else:
                try:
                    run = services.record_qpcr_results(
                        user=user,
                        aliquot=form.cleaned_data["tube"],
                        rows=entered,
                        run_name=form.cleaned_data["run_name"],
                        measured_at=form.cleaned_data["measured_at"],
                        instrument=form.cleaned_data["instrument"],
                        sop=form.cleaned_data["sop"],
                    )
                except PermissionDenied as error:
                    form.add_tube_refusal(error)
                except ValidationError as error:
                    form.add_service_error(error)
                else:
                    messages.success(request, f"Recorded {len(entered)} Cq value(s).")
                    return redirect(run)
        status = 400
    else:
        form = QPCRRunForm(
            user=user,
            initial={"tube": tube.accession if tube else "", "measured_at": now_minute()},
        )
        rows = cq_formset()
        status = 200
    return render(
        request,
        "assays/qpcr/form.html",
        {"section": SECTION, "form": form, "rows": rows, "tube": tube},
        status=status,
    )


# --- The tube page's panel: every kind beyond particle counts ---------------------------------


def panel_sections(*, user, aliquot: Aliquot) -> dict[str, Any]:
    """The characterisation records of one tube, newest first, at most PANEL_ROWS per kind
    (one more tells whether there are more). One query per kind, two for imaging (its
    images), whatever the number of rows."""

    def newest(queryset: QuerySet) -> tuple[list, bool]:
        rows = list(
            queryset.filter(aliquot=aliquot).order_by("-measured_at", "-id")[: PANEL_ROWS + 1]
        )
        return rows[:PANEL_ROWS], len(rows) > PANEL_ROWS

    protein, more_protein = newest(
        ProteinMeasurement.objects.visible_to(user)
        .select_related("assay")
        .defer("wells", "controls", "notes", "assay__reads", "assay__plate_map", "assay__curve")
    )
    markers, more_markers = newest(
        MarkerResult.objects.visible_to(user)
        .select_related("marker")
        .defer("densitometry", "controls", "notes")
    )
    imaging, more_imaging = newest(
        ImagingRecord.objects.visible_to(user).prefetch_related(
            Prefetch("images", queryset=ImagingImage.objects.order_by("id"))
        )
    )
    flow, more_flow = newest(
        FlowMeasurement.objects.visible_to(user).defer("channels", "keywords", "controls")
    )
    dls, more_dls = newest(
        DLSMeasurement.objects.visible_to(user).defer(
            "distribution", "zeta_distribution", "extra", "controls"
        )
    )
    qpcr = list(
        QPCRResult.objects.visible_to(user)
        .filter(aliquot=aliquot, task=QPCRTask.UNKNOWN)  # controls are the run's, not the tube's
        .select_related("run")
        .order_by("-run__created_at", "run_id", "target", "well", "id")[: PANEL_ROWS * 6 + 1]
    )
    from .protein import protein_row

    for m in protein:
        protein_row(m)
    for record in imaging:
        images = list(record.images.all())
        record.wide_count = sum(i.view == "wide_field" for i in images)
        record.close_count = len(images) - record.wide_count
        record.thumbs = [
            {
                "url": reverse("assays:imaging-thumbnail", args=[image.pk]),
                "caption": image.caption or image.original_name,
                "view": image.get_view_display(),
            }
            for image in images[:4]
        ]
    return {
        "protein": protein,
        "more_protein": more_protein,
        "markers": markers,
        "more_markers": more_markers,
        "imaging": imaging,
        "more_imaging": more_imaging,
        "flow": [flow_row(m) for m in flow],
        "more_flow": more_flow,
        "dls": [dls_row(m) for m in dls],
        "more_dls": more_dls,
        "qpcr": _panel_qpcr(qpcr[: PANEL_ROWS * 6]),
        "more_qpcr": len(qpcr) > PANEL_ROWS * 6,
    }


def _panel_qpcr(results: list[QPCRResult]) -> list[dict[str, Any]]:
    """Per run and target: the Cq values of the replicates."""
    grouped: dict[tuple[int, str], dict[str, Any]] = {}
    for r in results:
        entry = grouped.setdefault(
            (r.run_id, r.target),
            {"run": r.run, "target": r.target, "values": [], "cqs": []},
        )
        entry["values"].append(cq_text(r.cq) if r.cq is not None else "Undet.")
        if r.cq is not None:
            entry["cqs"].append(r.cq)
    for entry in grouped.values():
        cqs = entry.pop("cqs")
        entry["mean"] = cq_text(sum(cqs) / len(cqs)) if len(cqs) > 1 else ""
        entry["url"] = reverse("assays:qpcr-run-detail", args=[entry["run"].pk])
    return list(grouped.values())[:PANEL_ROWS]


def panel_add_links(aliquot: Aliquot) -> list[tuple[str, str]]:
    """The "Add …" buttons editors get on the tube page."""
    query = f"?aliquot={aliquot.pk}"
    return [
        ("Protein result", reverse("assays:protein-create") + query),
        ("Protein plate", reverse("assays:protein-assay-create")),
        ("Marker result", reverse("assays:marker-result-create") + query),
        ("Imaging", reverse("assays:imaging-create") + query),
        ("DLS / zeta", reverse("assays:dls-create") + query),
        ("qPCR Cq", reverse("assays:qpcr-create") + query),
    ]


# --- What an instrument file gave ------------------------------------------------------------


def file_records(user, instrument_file: InstrumentFile) -> list[dict[str, str]]:
    """Links from a file's page to the plate, qPCR run, flow and DLS records parsed from it
    (those the user may see). Four small queries, whatever the file holds."""
    links = []
    plate = (
        ProteinAssay.objects.visible_to(user)
        .filter(instrument_file=instrument_file)
        .only("id", "name", "method", "status")
        .first()
    )
    if plate is not None:
        links.append(
            {
                "kind": "Protein plate",
                "url": plate.get_absolute_url(),
                "text": str(plate),
                "note": plate.get_status_display(),
            }
        )
    run = QPCRRun.objects.visible_to(user).filter(instrument_file=instrument_file).first()
    if run is not None:
        links.append(
            {"kind": "qPCR run", "url": run.get_absolute_url(), "text": str(run), "note": ""}
        )
    for m in (
        FlowMeasurement.objects.visible_to(user)
        .filter(instrument_file=instrument_file)
        .select_related("aliquot")
        .only("id", "event_count", "aliquot__accession")
    ):
        links.append(
            {
                "kind": "Flow measurement",
                "url": m.get_absolute_url(),
                "text": m.aliquot.accession,
                "note": f"{number_text(m.event_count)} events" if m.event_count else "",
            }
        )
    for m in (
        DLSMeasurement.objects.visible_to(user)
        .filter(instrument_file=instrument_file)
        .select_related("aliquot")
        .only(
            "id", "kind", "record_number", "z_average_nm", "zeta_potential_mv", "aliquot__accession"
        )
        .order_by("record_number", "id")
    ):
        value = (
            f"Z-average {number_text(m.z_average_nm)} nm"
            if m.kind == DLSKind.SIZE
            else f"zeta {number_text(m.zeta_potential_mv)} mV"
        )
        links.append(
            {
                "kind": m.get_kind_display(),
                "url": m.get_absolute_url(),
                "text": m.aliquot.accession,
                "note": value + (f" (record {m.record_number})" if m.record_number else ""),
            }
        )
    return links
