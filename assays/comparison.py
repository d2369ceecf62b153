"""Isolation yield, purity, modal size and marker completeness per run, and their spread
per protocol version, for the comparison page.

Yield = particles recovered per mL of input fluid: for each EV preparation of a run, the
latest particle measurement of its tube (concentration, dilution applied) × the tube's
volume, summed over the run's preparations and divided by the input volume the run used.
A run with no measured preparation is "not measured": it is counted but never enters the
statistics as zero, which would drag a method's median down for want of an NTA slot.

Purity (particles per µg protein) and marker completeness (the share of the study profile's
marker rules a preparation passes) come from the compliance engine
(``assays.compliance.engine``); a run's value is the median (purity) or the pooled share
(markers) over its preparations that have one. Inter-run CV is the sample standard
deviation over runs divided by their mean.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from django.db.models import Count, DecimalField, F, IntegerField, OuterRef, Subquery, Sum
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from .compliance.engine import PreparationReport, RuleSpec, evaluate_preparations
from .models import EVPreparation, IsolationRun, ParticleMeasurement, RunInput
from .plots import (
    AXIS_COLOUR,
    FONT,
    GRID_COLOUR,
    MEAN_COLOUR,
    power_of_ten,
    scientific,
    ticks,
)

YIELD_UNIT = "particles per mL input"
PURITY_UNIT = "particles per µg protein"
POINT_COLOUR = "#4e9ab8"
# The checks whose rules say which markers a preparation must show (MISEV2018 M1–M3 …).
MARKER_CHECKS = frozenset({"marker_detected", "marker_reported"})


@dataclass(frozen=True)
class RunYield:
    run_id: int
    version_id: int
    started_at: datetime
    input_ml: Decimal | None
    preparations: int
    measured_preparations: int
    particles: float | None  # recovered, summed over the measured preparations
    yield_per_ml: float | None  # particles per mL of input fluid
    mode_nm: float | None  # median over the measured preparations

    @property
    def measured(self) -> bool:
        return self.yield_per_ml is not None

    @property
    def partly_measured(self) -> bool:
        """Some preparations have no measurement, so the yield is a lower bound."""
        return self.measured and self.measured_preparations < self.preparations


@dataclass(frozen=True)
class Spread:
    n: int
    median: float
    minimum: float
    maximum: float
    cv_pct: float | None  # None below two values


@dataclass(frozen=True)
class YieldSummary:
    runs: int
    measured_runs: int
    partly_measured_runs: int
    yield_per_ml: Spread | None
    mode_nm: Spread | None
    measured: tuple[RunYield, ...]


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Sample SD / mean × 100 (inter-run CV %); None for fewer than two values or mean 0."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if mean == 0:
        return None
    return statistics.stdev(values) / abs(mean) * 100


def spread_of(values: Iterable[float | None]) -> Spread | None:
    """n, median, range and CV of the values that exist; None when none do."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return Spread(
        n=len(present),
        median=statistics.median(present),
        minimum=min(present),
        maximum=max(present),
        cv_pct=coefficient_of_variation(present),
    )


def _run_annotations() -> dict[str, Subquery]:
    inputs = RunInput.objects.filter(run=OuterRef("pk")).order_by().values("run")
    preparations = EVPreparation.objects.filter(run=OuterRef("pk")).order_by().values("run")
    return {
        "input_ml": Subquery(
            inputs.annotate(total=Sum("volume_used_ml")).values("total"),
            output_field=DecimalField(max_digits=14, decimal_places=4),
        ),
        "preparation_count": Subquery(
            preparations.annotate(n=Count("id")).values("n"), output_field=IntegerField()
        ),
    }


def _latest_measurements(*, user, runs) -> list[tuple[int, Decimal, float, float | None]]:
    """(run id, tube volume mL, concentration/mL, mode nm) of the latest measurement with a
    concentration of each preparation tube of ``runs``: one query (DISTINCT ON the tube)."""
    return list(
        ParticleMeasurement.objects.visible_to(user)
        .filter(
            aliquot__ev_preparation__run__in=runs,
            concentration_per_ml__isnull=False,
        )
        # An undated measurement counts as older than any dated one, then the newest row.
        .order_by("aliquot_id", F("measured_at").desc(nulls_last=True), "-id")
        .distinct("aliquot_id")
        .values_list(
            "aliquot__ev_preparation__run_id",
            "aliquot__volume_ml",
            "concentration_per_ml",
            "mode_nm",
        )
    )


def list_run_yields(*, user, version_ids: Iterable[int]) -> list[RunYield]:
    """Every run the user may see of the given protocol versions, oldest first, with its
    yield and modal size. Two queries whatever the number of runs."""
    runs = IsolationRun.objects.visible_to(user).filter(protocol_version_id__in=list(version_ids))
    rows = list(
        runs.annotate(**_run_annotations())
        .order_by("started_at", "id")
        .values_list("id", "protocol_version_id", "started_at", "input_ml", "preparation_count")
    )
    if not rows:
        return []
    by_run: dict[int, list[tuple[Decimal, float, float | None]]] = {}
    for run_id, volume_ml, concentration, mode in _latest_measurements(
        user=user, runs=runs.order_by().values("id")
    ):
        by_run.setdefault(run_id, []).append((volume_ml, concentration, mode))

    result = []
    for run_id, version_id, started_at, input_ml, preparation_count in rows:
        measured = by_run.get(run_id, [])
        particles = sum(c * float(v) for v, c, _ in measured) if measured else None
        yield_per_ml = particles / float(input_ml) if particles is not None and input_ml else None
        modes = [m for _, _, m in measured if m is not None]
        result.append(
            RunYield(
                run_id=run_id,
                version_id=version_id,
                started_at=started_at,
                input_ml=input_ml,
                preparations=preparation_count or 0,
                measured_preparations=len(measured),
                particles=particles,
                yield_per_ml=yield_per_ml,
                mode_nm=statistics.median(modes) if modes else None,
            )
        )
    return result


def summarise_runs(runs: Sequence[RunYield]) -> YieldSummary:
    """The distribution over runs; unmeasured runs are counted, not averaged as zero."""
    measured = tuple(r for r in runs if r.measured)
    return YieldSummary(
        runs=len(runs),
        measured_runs=len(measured),
        partly_measured_runs=sum(1 for r in measured if r.partly_measured),
        yield_per_ml=spread_of(r.yield_per_ml for r in measured),
        mode_nm=spread_of(r.mode_nm for r in measured),
        measured=measured,
    )


# --- Plot ---------------------------------------------------------------------------------


def yield_axis(values: Iterable[float | None]) -> tuple[int, int] | None:
    """Decades (low, high exponent) covering every positive yield, so all columns of the
    page share one axis and can be compared by eye; None when there is nothing to plot."""
    positive = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not positive:
        return None
    low = math.floor(math.log10(min(positive)))
    high = math.ceil(math.log10(max(positive)))
    return low, max(high, low + 1)


def yield_strip_svg(
    runs: Sequence[RunYield],
    *,
    axis: tuple[int, int],
    title: str,
    element_id: str,
    width: int = 280,
    height: int = 92,
) -> SafeString:
    """Yield of each measured run as a dot on a log axis, over a box (quartiles, median,
    range) once there are enough runs for one to mean something. Partly measured runs are
    hollow dots. Empty string when no run is measured."""
    points = [r for r in runs if r.measured]
    if not points:
        return mark_safe("")
    low, high = axis
    left, right, top, bottom = 16, 16, 14, 30
    plot_w = width - left - right
    mid = top + (height - top - bottom) / 2
    axis_y = height - bottom

    def px(value: float) -> float:
        exponent = math.log10(value) if value > 0 else low
        exponent = min(max(exponent, low), high)
        return left + (exponent - low) / (high - low) * plot_w

    values = [r.yield_per_ml for r in points]
    spread = spread_of(values)
    description = (
        f"Yield of {len(points)} measured run{'s' if len(points) != 1 else ''} in "
        f"{YIELD_UNIT}, log scale from {power_of_ten(low)} to {power_of_ten(high)}"
        + (
            f"; median {scientific(spread.median)}, range {scientific(spread.minimum)} to "
            f"{scientific(spread.maximum)}."
            if spread
            else "."
        )
    )
    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg"'
        f' id={quoteattr(element_id)} class="plot yield-plot"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-labelledby="{title_id} {desc_id}" font-family={quoteattr(FONT)}'
        ' font-size="10">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
    ]
    step = 1 if high - low <= 6 else 2
    parts.append(f'<g class="axis" stroke="{AXIS_COLOUR}">')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{axis_y}" y2="{axis_y}"/>')
    for exponent in range(low, high + 1, step):
        x = px(10.0**exponent)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{axis_y}" stroke="{GRID_COLOUR}"/>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis_y}" y2="{axis_y + 3}"/>'
        )
    parts.append("</g>")
    parts.append(f'<g class="tick-labels" fill="{AXIS_COLOUR}" text-anchor="middle">')
    for exponent in range(low, high + 1, step):
        parts.append(
            f'<text x="{px(10.0**exponent):.1f}" y="{axis_y + 13}">{power_of_ten(exponent)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 4}">'
        f"{escape(YIELD_UNIT)} (log scale)</text>"
    )
    parts.append("</g>")

    if spread and spread.n >= 2:
        parts.append(f'<g class="box" stroke="{MEAN_COLOUR}" fill="none">')
        parts.append(
            f'<line class="range" x1="{px(spread.minimum):.1f}" x2="{px(spread.maximum):.1f}"'
            f' y1="{mid}" y2="{mid}" stroke-opacity="0.6"/>'
        )
        if spread.n >= 4:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
            parts.append(
                f'<rect class="quartiles" x="{px(q1):.1f}" y="{mid - 10}"'
                f' width="{max(px(q3) - px(q1), 1):.1f}" height="20" fill="#f2f6f9"/>'
            )
        parts.append(
            f'<line class="median" x1="{px(spread.median):.1f}" x2="{px(spread.median):.1f}"'
            f' y1="{mid - 12}" y2="{mid + 12}" stroke-width="2.2"/>'
        )
        parts.append("</g>")

    parts.append('<g class="runs">')
    for index, run in enumerate(points):
        # A fixed vertical offset pattern instead of random jitter: the page stays the same
        # on every load and equal yields remain distinguishable.
        y = mid + (index % 5 - 2) * 3.5
        label = f"Run {run.run_id}: {scientific(run.yield_per_ml)} {YIELD_UNIT}"
        if run.partly_measured:
            label += (
                f" (only {run.measured_preparations} of {run.preparations} preparations"
                " measured: a lower bound)"
            )
        fill = "#fff" if run.partly_measured else POINT_COLOUR
        url = reverse("assays:run-detail", args=[run.run_id])
        parts.append(
            f"<a href={quoteattr(url)}>"
            f'<circle class="run{" partial" if run.partly_measured else ""}"'
            f' cx="{px(run.yield_per_ml):.1f}" cy="{y:.1f}" r="3.6" fill="{fill}"'
            f' stroke="{MEAN_COLOUR}" stroke-width="0.8" data-yield="{run.yield_per_ml:.6g}">'
            f"<title>{escape(label)}</title></circle></a>"
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


# --- Purity and marker completeness (compliance engine) ----------------------------------


@dataclass(frozen=True)
class RunQuality:
    run_id: int
    version_id: int
    preparations: int
    purity_preparations: int  # preparations with a particle:protein ratio
    purity_per_ug: float | None  # median over those preparations
    marker_passed: int  # marker rules passed, pooled over the run's preparations
    marker_applicable: int

    @property
    def marker_completeness_pct(self) -> float | None:
        if not self.marker_applicable:
            return None
        return 100.0 * self.marker_passed / self.marker_applicable


@dataclass(frozen=True)
class QualitySummary:
    runs: int
    runs_with_purity: int
    runs_with_markers: int
    purity_per_ug: Spread | None
    marker_completeness_pct: Spread | None


def marker_rule_tally(report: PreparationReport) -> tuple[int, int]:
    """(passed, applicable) marker rules of the report's own profile (MISEV2018 or
    MISEV2023); a warning counts as passed, as in the engine's scores."""
    applicable = [
        r
        for r in report.results
        if r.check_name in MARKER_CHECKS
        and report.profile in r.profiles
        and r.scored
        and r.status != "na"
    ]
    passed = sum(1 for r in applicable if r.status in ("pass", "warn"))
    return passed, len(applicable)


def run_quality(run_id: int, version_id: int, reports: Sequence[PreparationReport]) -> RunQuality:
    ratios = [r.purity.particles_per_ug for r in reports if r.purity is not None]
    tallies = [marker_rule_tally(r) for r in reports]
    return RunQuality(
        run_id=run_id,
        version_id=version_id,
        preparations=len(reports),
        purity_preparations=len(ratios),
        purity_per_ug=statistics.median(ratios) if ratios else None,
        marker_passed=sum(p for p, _ in tallies),
        marker_applicable=sum(a for _, a in tallies),
    )


def list_run_quality(
    *, user, version_ids: Iterable[int], rules: Sequence[RuleSpec] | None = None
) -> dict[int, RunQuality]:
    """Purity and marker completeness of every run (of the versions) that has a preparation
    the user may see, by run id. A fixed number of queries whatever the number of runs;
    ``rules`` replaces the database's current rules (tests, previews)."""
    rows = list(
        EVPreparation.objects.visible_to(user)
        .filter(run__protocol_version_id__in=list(version_ids))
        .order_by("run_id", "id")
        .values_list("id", "run_id", "run__protocol_version_id")
    )
    if not rows:
        return {}
    reports = evaluate_preparations([pk for pk, _, _ in rows], rules=rules)
    by_run: dict[tuple[int, int], list[PreparationReport]] = {}
    for pk, run_id, version_id in rows:
        group = by_run.setdefault((run_id, version_id), [])
        if pk in reports:
            group.append(reports[pk])
    return {
        run_id: run_quality(run_id, version_id, group)
        for (run_id, version_id), group in by_run.items()
    }


def summarise_quality(quality: Iterable[RunQuality]) -> QualitySummary:
    runs = list(quality)
    return QualitySummary(
        runs=len(runs),
        runs_with_purity=sum(1 for q in runs if q.purity_per_ug is not None),
        runs_with_markers=sum(1 for q in runs if q.marker_completeness_pct is not None),
        purity_per_ug=spread_of(q.purity_per_ug for q in runs),
        marker_completeness_pct=spread_of(q.marker_completeness_pct for q in runs),
    )


# --- Strip plots of any per-run metric ----------------------------------------------------


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    log: bool = False

    def fraction(self, value: float) -> float:
        """Where ``value`` falls between the ends (0–1, clamped)."""
        if self.log:
            exponent = math.log10(value) if value > 0 else self.low
            share = (exponent - self.low) / (self.high - self.low)
        else:
            share = (value - self.low) / (self.high - self.low)
        return min(max(share, 0.0), 1.0)

    def ticks(self) -> list[tuple[float, str]]:
        if self.log:
            low, high = int(self.low), int(self.high)
            step = 1 if high - low <= 6 else 2
            return [(10.0**e, power_of_ten(e)) for e in range(low, high + 1, step)]
        return [(v, f"{v:g}") for v in ticks(self.high, 4) if v >= self.low]

    def ends(self) -> tuple[float, float]:
        return (10.0**self.low, 10.0**self.high) if self.log else (self.low, self.high)


def log_axis(values: Iterable[float | None]) -> Axis | None:
    decades = yield_axis(values)
    return Axis(*decades, log=True) if decades else None


def linear_axis(values: Iterable[float | None], *, ceiling: float | None = None) -> Axis | None:
    """From 0 to a round number at or above the largest value (or ``ceiling``)."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return None
    top = ceiling if ceiling is not None else ticks(max(max(present), 1e-9), 4)[-1]
    return Axis(0.0, top or 1.0)


@dataclass(frozen=True)
class StripPoint:
    run_id: int
    value: float
    label: str
    hollow: bool = False


def metric_strip_svg(
    points: Sequence[StripPoint],
    *,
    axis: Axis,
    unit: str,
    title: str,
    element_id: str,
    metric: str,
    width: int = 280,
    height: int = 92,
) -> SafeString:
    """Each run's value of one metric as a dot on a shared axis (log or linear), with its
    range and median once there are two runs and the quartile box from four. Dots link to
    the run. Empty string when there is no point."""
    if not points:
        return mark_safe("")
    left, right, top, bottom = 16, 16, 14, 30
    plot_w = width - left - right
    mid = top + (height - top - bottom) / 2
    axis_y = height - bottom

    def px(value: float) -> float:
        return left + axis.fraction(value) * plot_w

    values = [p.value for p in points]
    spread = spread_of(values)
    scale = "log scale" if axis.log else "linear scale"
    fmt = scientific if axis.log else (lambda v: f"{v:.3g}")
    low, high = axis.ends()
    description = (
        f"{title}: {len(points)} run{'s' if len(points) != 1 else ''} in {unit}, {scale} from "
        f"{fmt(low)} to {fmt(high)}; median {fmt(spread.median)}, range {fmt(spread.minimum)} "
        f"to {fmt(spread.maximum)}."
    )
    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg"'
        f" id={quoteattr(element_id)} class={quoteattr(f'plot metric-plot metric-{metric}')}"
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-labelledby="{title_id} {desc_id}" font-family={quoteattr(FONT)}'
        ' font-size="10">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
        f'<g class="axis" stroke="{AXIS_COLOUR}">',
        f'<line x1="{left}" x2="{left + plot_w}" y1="{axis_y}" y2="{axis_y}"/>',
    ]
    marks = axis.ticks()
    for value, _ in marks:
        x = px(value)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{axis_y}" stroke="{GRID_COLOUR}"/>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis_y}" y2="{axis_y + 3}"/>'
        )
    parts.append("</g>")
    parts.append(f'<g class="tick-labels" fill="{AXIS_COLOUR}" text-anchor="middle">')
    for value, text in marks:
        parts.append(f'<text x="{px(value):.1f}" y="{axis_y + 13}">{escape(text)}</text>')
    parts.append(
        f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 4}">'
        f"{escape(unit)}{' (log scale)' if axis.log else ''}</text>"
    )
    parts.append("</g>")
    if spread.n >= 2:
        parts.append(f'<g class="box" stroke="{MEAN_COLOUR}" fill="none">')
        parts.append(
            f'<line class="range" x1="{px(spread.minimum):.1f}" x2="{px(spread.maximum):.1f}"'
            f' y1="{mid}" y2="{mid}" stroke-opacity="0.6"/>'
        )
        if spread.n >= 4:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
            parts.append(
                f'<rect class="quartiles" x="{px(q1):.1f}" y="{mid - 10}"'
                f' width="{max(px(q3) - px(q1), 1):.1f}" height="20" fill="#f2f6f9"/>'
            )
        parts.append(
            f'<line class="median" x1="{px(spread.median):.1f}" x2="{px(spread.median):.1f}"'
            f' y1="{mid - 12}" y2="{mid + 12}" stroke-width="2.2"/>'
        )
        parts.append("</g>")
    parts.append('<g class="points">')
    for index, point in enumerate(points):
        # The same fixed offsets as the yield plot: equal values stay distinguishable.
        y = mid + (index % 5 - 2) * 3.5
        url = reverse("assays:run-detail", args=[point.run_id])
        fill = "#fff" if point.hollow else POINT_COLOUR
        parts.append(
            f"<a href={quoteattr(url)}>"
            f'<circle class="run-point" cx="{px(point.value):.1f}" cy="{y:.1f}" r="3.6"'
            f' fill="{fill}" stroke="{MEAN_COLOUR}" stroke-width="0.8"'
            f' data-value="{point.value:.6g}"><title>{escape(point.label)}</title></circle></a>'
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


def purity_points(quality: Iterable[RunQuality]) -> list[StripPoint]:
    return [
        StripPoint(
            run_id=q.run_id,
            value=q.purity_per_ug,
            label=f"Run {q.run_id}: {scientific(q.purity_per_ug)} {PURITY_UNIT}"
            + (
                f" (median of {q.purity_preparations} preparations)"
                if q.purity_preparations > 1
                else ""
            ),
        )
        for q in quality
        if q.purity_per_ug is not None and q.purity_per_ug > 0
    ]


def mode_points(runs: Iterable[RunYield]) -> list[StripPoint]:
    return [
        StripPoint(
            run_id=r.run_id, value=r.mode_nm, label=f"Run {r.run_id}: mode {r.mode_nm:.0f} nm"
        )
        for r in runs
        if r.mode_nm is not None
    ]


def marker_points(quality: Iterable[RunQuality]) -> list[StripPoint]:
    return [
        StripPoint(
            run_id=q.run_id,
            value=q.marker_completeness_pct,
            label=f"Run {q.run_id}: {q.marker_passed} of {q.marker_applicable} marker rules "
            f"passed ({q.marker_completeness_pct:.0f} %)",
        )
        for q in quality
        if q.marker_completeness_pct is not None
    ]
