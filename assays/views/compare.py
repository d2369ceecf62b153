"""Protocols (or single versions) side by side: how their runs went in the user's studies.

Per run: yield and modal size from particle measurements of the preparations, purity
(particles per µg protein) and marker completeness from the compliance engine
(``assays.comparison``); per column, their distribution over runs (median, range,
inter-run CV) and a strip plot on an axis shared by all columns.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from ..choices import NomenclatureTerm, StepKind
from ..comparison import (
    PURITY_UNIT,
    YIELD_UNIT,
    QualitySummary,
    RunQuality,
    RunYield,
    Spread,
    YieldSummary,
    linear_axis,
    list_run_quality,
    list_run_yields,
    log_axis,
    marker_points,
    metric_strip_svg,
    mode_points,
    purity_points,
    summarise_quality,
    summarise_runs,
    yield_axis,
    yield_strip_svg,
)
from ..models import EVPreparation, IsolationProtocol, ProtocolStep, ProtocolVersion
from ..plots import scientific
from .display import ml_text

SECTION = "isolation"
MAX_COLUMNS = 8
_TERMS = dict(NomenclatureTerm.choices)
_KINDS = dict(StepKind.choices)


class CompareForm(forms.Form):
    protocols = forms.ModelMultipleChoiceField(
        queryset=IsolationProtocol.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="All versions of each protocol together.",
    )
    versions = forms.ModelMultipleChoiceField(
        queryset=ProtocolVersion.objects.select_related("protocol").order_by(
            "protocol__name", "number"
        ),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Single versions, each in its own column.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["versions"].label_from_instance = lambda v: (
            f"{v.protocol.name} v{v.number} ({v.get_status_display().lower()})"
        )
        for name in ("protocols", "versions"):
            self.fields[name].error_messages["invalid_choice"] = (
                "%(value)s is not a protocol or version here."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        count = len(cleaned.get("protocols") or []) + len(cleaned.get("versions") or [])
        if count > MAX_COLUMNS:
            raise forms.ValidationError(f"Compare at most {MAX_COLUMNS} at once.")
        return cleaned


@dataclass
class Column:
    label: str
    url: str
    status: str = ""
    runs: int = 0
    input_total_ml: Decimal = Decimal(0)
    input_median_ml: Decimal | None = None
    preparations: int = 0
    preparations_median: float | None = None
    terms: list[tuple[str, int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    version_ids: set[int] = field(default_factory=set)
    summary: YieldSummary | None = None
    plot: SafeString | str = ""
    quality: QualitySummary | None = None
    purity_plot: SafeString | str = ""
    mode_plot: SafeString | str = ""
    marker_plot: SafeString | str = ""

    @property
    def yield_text(self) -> str:
        return _scientific_spread(self.summary.yield_per_ml if self.summary else None)

    @property
    def mode_text(self) -> str:
        spread = self.summary.mode_nm if self.summary else None
        if spread is None:
            return ""
        if spread.n == 1:
            return f"{spread.median:.0f}"
        return f"{spread.median:.0f} [{spread.minimum:.0f}–{spread.maximum:.0f}]"

    @property
    def yield_cv_text(self) -> str:
        return _percent(self.summary.yield_per_ml if self.summary else None)

    @property
    def mode_cv_text(self) -> str:
        return _percent(self.summary.mode_nm if self.summary else None)

    @property
    def purity_text(self) -> str:
        spread = self.quality.purity_per_ug if self.quality else None
        return _scientific_spread(spread)

    @property
    def purity_cv_text(self) -> str:
        return _percent(self.quality.purity_per_ug if self.quality else None)

    @property
    def marker_text(self) -> str:
        spread = self.quality.marker_completeness_pct if self.quality else None
        if spread is None:
            return ""
        if spread.n == 1:
            return f"{spread.median:.0f} %"
        return f"{spread.median:.0f} % [{spread.minimum:.0f}–{spread.maximum:.0f} %]"

    @property
    def marker_cv_text(self) -> str:
        return _percent(self.quality.marker_completeness_pct if self.quality else None)

    @property
    def input_total_text(self) -> str:
        return ml_text(self.input_total_ml)

    @property
    def input_median_text(self) -> str:
        return ml_text(self.input_median_ml)


def _scientific_spread(spread: Spread | None) -> str:
    """Median [min–max] in scientific notation: "3.50 × 10⁹ [3.00 × 10⁹–4.00 × 10⁹]"."""
    if spread is None:
        return ""
    if spread.n == 1:
        return scientific(spread.median)
    return (
        f"{scientific(spread.median)} [{scientific(spread.minimum)}–{scientific(spread.maximum)}]"
    )


def _percent(spread) -> str:
    if spread is None or spread.cv_pct is None:
        return ""
    return f"{spread.cv_pct:.1f} %"


def _columns(user, protocols, versions) -> list[Column]:
    """A fixed number of queries whatever the number of columns or runs."""
    columns: list[Column] = []
    protocol_ids = [p.pk for p in protocols]
    by_protocol: dict[int, set[int]] = {pk: set() for pk in protocol_ids}
    for version_id, protocol_id in ProtocolVersion.objects.filter(
        protocol_id__in=protocol_ids
    ).values_list("id", "protocol_id"):
        by_protocol[protocol_id].add(version_id)
    for protocol in protocols:
        columns.append(
            Column(
                label=f"{protocol.name} (all versions)",
                url=protocol.get_absolute_url(),
                version_ids=by_protocol[protocol.pk],
            )
        )
    for version in versions:
        columns.append(
            Column(
                label=str(version),
                url=version.get_absolute_url(),
                status=version.get_status_display(),
                version_ids={version.pk},
            )
        )
    wanted = set().union(*(c.version_ids for c in columns)) if columns else set()
    runs: list[RunYield] = list_run_yields(user=user, version_ids=wanted)
    quality: dict[int, RunQuality] = list_run_quality(user=user, version_ids=wanted)
    terms = list(
        EVPreparation.objects.visible_to(user)
        .filter(run__protocol_version_id__in=wanted)
        .order_by()
        .values_list("run__protocol_version_id", "nomenclature_term")
        .annotate(n=Count("id"))
    )
    kinds = list(
        ProtocolStep.objects.filter(version_id__in=[v.pk for v in versions])
        .order_by("version_id", "order")
        .values_list("version_id", "kind")
    )
    axis = yield_axis(r.yield_per_ml for r in runs)
    purity_axis = log_axis(q.purity_per_ug for q in quality.values())
    mode_axis = linear_axis(r.mode_nm for r in runs)
    marker_axis = linear_axis((q.marker_completeness_pct for q in quality.values()), ceiling=100.0)
    for index, column in enumerate(columns, start=1):
        mine = [r for r in runs if r.version_id in column.version_ids]
        # In run order, like the yield plot: the same run is the same dot in every plot.
        mine_quality = [quality[r.run_id] for r in mine if r.run_id in quality]
        column.quality = summarise_quality(mine_quality)
        if purity_axis is not None:
            column.purity_plot = metric_strip_svg(
                purity_points(mine_quality),
                axis=purity_axis,
                unit=PURITY_UNIT,
                title=f"Purity per run, {column.label}",
                element_id=f"purity-plot-{index}",
                metric="purity",
            )
        if mode_axis is not None:
            column.mode_plot = metric_strip_svg(
                mode_points(mine),
                axis=mode_axis,
                unit="modal size (nm)",
                title=f"Modal size per run, {column.label}",
                element_id=f"mode-plot-{index}",
                metric="mode",
            )
        if marker_axis is not None:
            column.marker_plot = metric_strip_svg(
                marker_points(mine_quality),
                axis=marker_axis,
                unit="% of marker rules passed",
                title=f"Marker completeness per run, {column.label}",
                element_id=f"marker-plot-{index}",
                metric="markers",
            )
        volumes = [r.input_ml or Decimal(0) for r in mine]
        counts = [r.preparations for r in mine]
        column.summary = summarise_runs(mine)
        if axis is not None:
            column.plot = yield_strip_svg(
                mine,
                axis=axis,
                title=f"Yield per run, {column.label}",
                element_id=f"yield-plot-{index}",
            )
        column.runs = len(mine)
        column.input_total_ml = sum(volumes, Decimal(0))
        column.input_median_ml = statistics.median(volumes) if volumes else None
        column.preparations = sum(counts)
        column.preparations_median = statistics.median(counts) if counts else None
        tally: dict[str, int] = {}
        for version_id, term, n in terms:
            if version_id in column.version_ids:
                tally[term] = tally.get(term, 0) + n
        column.terms = sorted(
            ((_TERMS.get(t, t), n) for t, n in tally.items()), key=lambda item: -item[1]
        )
        if len(column.version_ids) == 1 and column.status:
            (only,) = column.version_ids
            column.kinds = [_KINDS.get(k, k) for v, k in kinds if v == only]
    return columns


@login_required
@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    form = CompareForm(request.GET or None)
    columns: list[Column] = []
    if form.is_bound and form.is_valid():
        protocols = list(form.cleaned_data["protocols"])
        versions = list(form.cleaned_data["versions"])
        columns = _columns(request.user, protocols, versions)
    return render(
        request,
        "assays/compare.html",
        {
            "form": form,
            "columns": columns,
            "section": SECTION,
            "yield_unit": YIELD_UNIT,
            "purity_unit": PURITY_UNIT,
        },
    )
