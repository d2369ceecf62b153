"""Server-side SVG plots: a particle size distribution as a self-contained ``<svg>``.

No chart library and no script: the plot is markup, so it shows with JavaScript off, in a
saved page and in print, and pages load no external assets. Every replicate (video or
ZetaView position) is one thin ``<path class="replicate">``, the mean one bold
``<path class="mean">``; axes, ticks and the legend use ``<line>``/``<text>`` only.
Colours are attributes rather than CSS so the SVG served on its own looks the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.utils.safestring import SafeString, mark_safe

MEAN_COLOUR = "#14303d"
REPLICATE_COLOURS = ("#4e9ab8", "#d08a3c", "#6aa56b", "#b0607e", "#8a7cc2", "#6f8f9c")
GRID_COLOUR = "#e3e8ee"
AXIS_COLOUR = "#5b6675"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
# The x axis ends where the mean curve has reached this share of its particles, so a
# 1000-bin NTA curve of 100 nm vesicles is not squashed into the left tenth of the plot.
X_COVERAGE = 0.995
MIN_X_SPAN_NM = 100.0
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Series:
    ys: tuple[float, ...]
    kind: str  # "mean" or "replicate"
    label: str


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    font_size: int
    x_ticks: int
    y_ticks: int
    max_points: int

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom


FULL = Layout(
    width=720,
    height=340,
    left=64,
    right=18,
    top=28,
    bottom=48,
    font_size=12,
    x_ticks=8,
    y_ticks=5,
    max_points=1000,
)
COMPACT = Layout(
    width=300,
    height=150,
    left=44,
    right=8,
    top=20,
    bottom=34,
    font_size=10,
    x_ticks=4,
    y_ticks=3,
    max_points=150,
)


# --- Numbers -----------------------------------------------------------------------------


def power_of_ten(exponent: int) -> str:
    """10⁹ as text."""
    return "10" + str(exponent).translate(SUPERSCRIPT)


def scientific(value: float | None, *, digits: int = 3) -> str:
    """1.23 × 10⁹, as people write concentrations; "" for no value."""
    if value is None or not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10**exponent
    text = f"{mantissa:.{max(digits - 1, 0)}f}"
    if float(text) >= 10:  # 9.996 rounds to 10.00
        exponent += 1
        text = f"{value / 10**exponent:.{max(digits - 1, 0)}f}"
    if exponent == 0:
        return text
    return f"{text} × {power_of_ten(exponent)}"


def nice_step(span: float, count: int) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10ⁿ) giving about ``count`` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def ticks(maximum: float, count: int) -> list[float]:
    """Tick values from 0 up to the first tick at or above ``maximum``."""
    step = nice_step(maximum, count)
    top = math.ceil(maximum / step - 1e-9) * step if maximum > 0 else step
    n = round(top / step)
    return [round(i * step, 10) for i in range(n + 1)]


def _tick_text(value: float) -> str:
    return f"{value:.6g}"


# --- Data -------------------------------------------------------------------------------


def _numbers(values: Any, length: int | None = None) -> tuple[float, ...] | None:
    """Finite floats (None → 0) of the expected length, or None if the list is unusable."""
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        return None
    if length is not None and len(values) != length:
        return None
    out = []
    for value in values:
        if value is None:
            out.append(0.0)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        out.append(number if math.isfinite(number) else 0.0)
    return tuple(out)


def distribution_series(
    distribution: Mapping[str, Any] | None,
) -> tuple[tuple[float, ...], list[Series]] | None:
    """(bin centres, series) from a stored distribution, replicates first and the mean
    last; None when there is nothing to draw. A malformed replicate is left out rather
    than breaking the page."""
    if not isinstance(distribution, Mapping):
        return None
    xs = _numbers(distribution.get("bin_centres_nm"))
    if not xs or len(xs) < 2:
        return None
    series = []
    for index, values in enumerate(distribution.get("replicates") or (), start=1):
        ys = _numbers(values, len(xs))
        if ys is not None:
            series.append(Series(ys=ys, kind="replicate", label=f"Replicate {index}"))
    mean = _numbers(distribution.get("mean"), len(xs))
    if mean is not None:
        series.append(Series(ys=mean, kind="mean", label="Mean"))
    if not series:
        return None
    return xs, series


def _x_limit(xs: Sequence[float], series: list[Series]) -> float:
    reference = next((s.ys for s in reversed(series) if s.kind == "mean"), series[-1].ys)
    total = sum(y for y in reference if y > 0)
    limit = xs[-1]
    if total > 0:
        running = 0.0
        for x, y in zip(xs, reference, strict=True):
            running += max(y, 0.0)
            if running >= X_COVERAGE * total:
                limit = x
                break
    # End on a round tick past the limit, so the axis closes with a labelled tick (stored
    # distributions are trimmed after their last particle, so the axis may go further).
    origin = min(xs[0], 0.0)
    limit = max(limit, origin + MIN_X_SPAN_NM)
    step = nice_step(limit - origin, FULL.x_ticks)
    return origin + math.ceil((limit - origin) / step - 1e-9) * step


def _thin(indices: list[int], xs: Sequence[float], ys: Sequence[float], most: int):
    """At most ``most`` points: neighbouring bins averaged in equal groups, which keeps
    the curve's area and shape (picking every n-th bin would lose narrow peaks)."""
    if len(indices) <= most:
        return [(xs[i], ys[i]) for i in indices]
    size = math.ceil(len(indices) / most)
    points = []
    for start in range(0, len(indices), size):
        group = indices[start : start + size]
        points.append(
            (sum(xs[i] for i in group) / len(group), sum(ys[i] for i in group) / len(group))
        )
    return points


# --- Drawing ----------------------------------------------------------------------------


def _attrs(**attrs: Any) -> str:
    return "".join(
        f" {name.rstrip('_').replace('_', '-')}={quoteattr(str(value))}"
        for name, value in attrs.items()
    )


def size_distribution_svg(
    distribution: Mapping[str, Any] | None,
    *,
    title: str,
    description: str = "",
    compact: bool = False,
    element_id: str = "size-plot",
    replicate_label: str = "video",
) -> SafeString:
    """The plot as an inline ``<svg>`` (empty string when there is no distribution).

    ``element_id`` must be unique on the page (it names the title and description that
    screen readers announce). ``compact`` draws the thumbnail for the tube page.
    """
    data = distribution_series(distribution)
    if data is None:
        return mark_safe("")
    xs, series = data
    layout = COMPACT if compact else FULL
    x_max = _x_limit(xs, series)
    x_min = 0.0 if xs[0] >= 0 else xs[0]
    shown = [i for i, x in enumerate(xs) if x_min <= x <= x_max]
    lines = [(s, _thin(shown, xs, s.ys, layout.max_points)) for s in series]

    y_peak = max((y for _, points in lines for _, y in points), default=0.0)
    y_ticks = ticks(y_peak if y_peak > 0 else 1.0, layout.y_ticks)
    y_top = y_ticks[-1]
    x_ticks = [t for t in ticks(x_max - x_min, layout.x_ticks) if t <= x_max - x_min + 1e-9]
    x_span = max(x_max - x_min, 1e-9)
    exponent = math.floor(math.log10(y_top)) if y_top > 0 else 0

    def px(x: float) -> float:
        return layout.left + (x - x_min) / x_span * layout.plot_width

    def py(y: float) -> float:
        return layout.top + layout.plot_height - max(y, 0.0) / y_top * layout.plot_height

    left, top = layout.left, layout.top
    right, bottom = layout.left + layout.plot_width, layout.top + layout.plot_height
    fs = layout.font_size
    parts: list[str] = []

    replicates = [s for s in series if s.kind == "replicate"]
    has_mean = any(s.kind == "mean" for s in series)
    if not description:
        description = (
            f"Particle concentration (particles/mL) against size (nm), from {x_min:g} to "
            f"{x_max:g} nm; peak {scientific(y_peak)} particles/mL. "
            + (f"{len(replicates)} {replicate_label}s as thin lines" if replicates else "")
            + (", the mean as a bold line." if has_mean and replicates else "")
            + ("The mean as a bold line." if has_mean and not replicates else "")
        )
    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    parts.append(
        '<svg xmlns="http://www.w3.org/2000/svg"'
        + _attrs(
            id=element_id,
            class_="plot size-plot" + (" compact" if compact else ""),
            viewBox=f"0 0 {layout.width} {layout.height}",
            width=layout.width,
            height=layout.height,
            role="img",
            aria_labelledby=f"{title_id} {desc_id}",
            font_family=FONT,
            font_size=fs,
        )
        + ">"
    )
    parts.append(f'<title id="{title_id}">{escape(title)}</title>')
    parts.append(f'<desc id="{desc_id}">{escape(description)}</desc>')
    parts.append(f'<rect x="0" y="0" width="{layout.width}" height="{layout.height}" fill="#fff"/>')

    # Grid and ticks
    parts.append('<g class="grid">')
    for value in y_ticks:
        y = py(value)
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>'
        )
    for value in x_ticks:
        x = px(x_min + value)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="{GRID_COLOUR}"/>'
        )
    parts.append("</g>")
    parts.append(f'<g class="axes" stroke="{AXIS_COLOUR}">')
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>')
    for value in y_ticks:
        y = py(value)
        parts.append(f'<line x1="{left - 4}" x2="{left}" y1="{y:.1f}" y2="{y:.1f}"/>')
    for value in x_ticks:
        x = px(x_min + value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}"/>')
    parts.append("</g>")
    parts.append(f'<g class="tick-labels" fill="{AXIS_COLOUR}">')
    for value in y_ticks:
        parts.append(
            f'<text x="{left - 7}" y="{py(value) + fs * 0.35:.1f}" text-anchor="end">'
            f"{escape(_tick_text(value / 10**exponent))}</text>"
        )
    for value in x_ticks:
        parts.append(
            f'<text x="{px(x_min + value):.1f}" y="{bottom + fs + 5}" text-anchor="middle">'
            f"{escape(_tick_text(x_min + value))}</text>"
        )
    parts.append("</g>")

    # Axis labels: the y exponent sits in the label, so tick labels stay short.
    unit = f"× {power_of_ten(exponent)} particles/mL" if exponent else "particles/mL"
    parts.append(
        f'<text class="axis-label" x="{left + layout.plot_width / 2:.1f}" '
        f'y="{layout.height - 6}" text-anchor="middle" fill="{AXIS_COLOUR}">Size (nm)</text>'
    )
    parts.append(
        f'<text class="axis-label" x="{left}" y="{top - 8}" text-anchor="start" '
        f'fill="{AXIS_COLOUR}">Concentration ({escape(unit)})</text>'
    )

    # Curves: replicates first so the mean is drawn on top.
    parts.append('<g class="series" fill="none" stroke-linejoin="round" stroke-linecap="round">')
    colour_index = 0
    for line, points in lines:
        d = "M" + "L".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        if line.kind == "mean":
            colour, width, opacity = MEAN_COLOUR, (2.0 if compact else 2.6), 1
        else:
            colour = REPLICATE_COLOURS[colour_index % len(REPLICATE_COLOURS)]
            colour_index += 1
            width, opacity = (0.8 if compact else 1.1), 0.85
        parts.append(
            "<path"
            + _attrs(
                class_=line.kind,
                d=d,
                stroke=colour,
                stroke_width=width,
                stroke_opacity=opacity,
                data_label=line.label,
            )
            + f"><title>{escape(line.label)}</title></path>"
        )
    parts.append("</g>")

    # Legend above the plot, right-aligned on the y label's line, so it never hides data;
    # lines, not paths, so "one path per curve" stays true.
    legend = []
    if replicates:
        noun = replicate_label + ("s" if len(replicates) != 1 else "")
        legend.append((REPLICATE_COLOURS[0], 1.2, f"{len(replicates)} {noun}"))
    if has_mean:
        legend.append((MEAN_COLOUR, 2.6, "mean"))
    if legend and not compact:
        y = top - 12
        x = right
        parts.append('<g class="legend">')
        for colour, width, text in reversed(legend):
            x -= len(text) * fs * 0.6
            parts.append(
                f'<text x="{x:.1f}" y="{y + fs * 0.35:.1f}" fill="{AXIS_COLOUR}">'
                f"{escape(text)}</text>"
            )
            x -= 28
            parts.append(
                f'<line x1="{x:.1f}" x2="{x + 22:.1f}" y1="{y}" y2="{y}" stroke="{colour}" '
                f'stroke-width="{width}"/>'
            )
            x -= 14
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))
