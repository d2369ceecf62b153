"""The standard curve of a protein plate as a self-contained ``<svg>`` (no script, no assets).

Same conventions as ``assays.plots``: markup only, colours as attributes, ``<title>`` and
``<desc>`` for screen readers, all text escaped. Standards are filled dots
(``<circle class="standard">``), the fit one ``<path class="fit">``, the sample wells open dots
on the curve (``<circle class="sample">``, ``"sample flagged"`` when a well carries a flag).
The band of concentrations covered by the standards is shaded, so a point outside it is
visibly an extrapolation. R² and the formula sit in the caption under the axis.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from django.utils.safestring import SafeString, mark_safe

from .curves import significant
from .plots import AXIS_COLOUR, FONT, GRID_COLOUR, MEAN_COLOUR, nice_step, ticks
from .protein import PlateQuantification

WIDTH, HEIGHT = 600, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 18, 30, 96
FONT_SIZE = 12
STANDARD_COLOUR = MEAN_COLOUR
SAMPLE_COLOUR = "#d08a3c"
FLAGGED_COLOUR = "#b3261e"
FIT_COLOUR = "#4e9ab8"
RANGE_COLOUR = "#f1f6f9"
# Sample points further out than this multiple of the top standard are pinned to the edge
# rather than squashing the curve into a corner.
MAX_X_STRETCH = 1.5
CURVE_STEPS = 160


def _attrs(**attrs: object) -> str:
    return "".join(
        f" {name.rstrip('_').replace('_', '-')}={quoteattr(str(value))}"
        for name, value in attrs.items()
    )


def _tick_text(value: float) -> str:
    return f"{value:.6g}"


def _r_squared_text(r_squared: float) -> str:
    """Four decimals, rounded down: 0.99996 is not a perfect fit and must not read 1.0000."""
    if r_squared >= 1 - 1e-9:
        return "1.0000"
    return f"{math.floor(r_squared * 1e4) / 1e4:.4f}"


def _nominal(value: float) -> str:
    """A nominal concentration as the lab wrote it: 25, not 25.00."""
    return f"{value:.6g}"


def _y_axis(low: float, high: float) -> list[float]:
    """Round ticks covering low…high, including 0. A blank-corrected zero standard sits a
    hair below 0; that is drawn on the 0 line rather than spending a whole tick on it."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        high = low + 1.0
    if low > -0.02 * (high - low):
        low = 0.0
    step = nice_step(high - low, 5)
    start = math.floor(low / step + 1e-9)
    stop = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(start, stop + 1)]


def standard_curve_svg(
    quantification: PlateQuantification,
    *,
    title: str = "Standard curve",
    element_id: str = "standard-curve",
    response_label: str = "Absorbance",
) -> SafeString:
    """The plot as an inline ``<svg>``; ``element_id`` must be unique on the page."""
    q = quantification
    curve = q.curve
    standards = [w for w in q.wells if w.role == "standard" and w.response is not None]
    level_of = {well: s.concentration for s in q.standards for well in s.wells}
    readable = [
        w
        for w in q.wells
        if w.role in ("sample", "control")
        and w.concentration is not None
        and w.response is not None
    ]
    unreadable = [
        w for w in q.wells if w.role in ("sample", "control") and "not_invertible" in w.flags
    ]

    top_standard = max(level_of.values())
    x_limit = max(
        top_standard,
        min(max((w.concentration for w in readable), default=0.0), top_standard * MAX_X_STRETCH),
    )
    x_ticks = ticks(x_limit, 6)
    x_max = x_ticks[-1]
    curve_xs = [x_max * i / CURVE_STEPS for i in range(CURVE_STEPS + 1)]
    curve_ys = [curve.response_at(x) for x in curve_xs]
    y_values = (
        [w.response for w in standards]
        + [w.response for w in readable]
        + [y for y in curve_ys if math.isfinite(y)]
    )
    y_ticks = _y_axis(min(y_values), max(y_values))
    y_min, y_max = y_ticks[0], y_ticks[-1]

    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    right, bottom = LEFT + plot_w, TOP + plot_h

    def px(x: float) -> float:
        return LEFT + min(max(x, 0.0), x_max) / x_max * plot_w

    def py(y: float) -> float:
        y = min(max(y, y_min), y_max)
        return bottom - (y - y_min) / (y_max - y_min) * plot_h

    model = "4PL" if curve.model == "4pl" else "Linear"
    r2 = f"R² = {_r_squared_text(curve.r_squared)}"
    label = response_label + (" (blank-subtracted)" if q.blank_subtracted else "")
    description = (
        f"{model} standard curve, {r2}: {curve.describe()}. {len(standards)} standard wells "
        f"from {_nominal(min(level_of.values()))} to {_nominal(top_standard)} µg/mL; "
        f"{len(readable)} sample wells placed on the curve"
        + (
            f"; {len(unreadable)} sample wells outside the curve are not shown"
            if unreadable
            else ""
        )
        + "."
    )
    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    fs = FONT_SIZE
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg"'
        + _attrs(
            id=element_id,
            class_="plot standard-curve",
            viewBox=f"0 0 {WIDTH} {HEIGHT}",
            width=WIDTH,
            height=HEIGHT,
            role="img",
            aria_labelledby=f"{title_id} {desc_id}",
            font_family=FONT,
            font_size=fs,
        )
        + ">",
        f"<title{_attrs(id=title_id)}>{escape(title)}</title>",
        f"<desc{_attrs(id=desc_id)}>{escape(description)}</desc>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]

    # The concentrations the standards cover: inside, values are interpolated.
    low, high = curve.x_range
    parts.append(
        "<rect"
        + _attrs(
            class_="standard-range",
            x=f"{px(low):.1f}",
            y=TOP,
            width=f"{px(high) - px(low):.1f}",
            height=plot_h,
            fill=RANGE_COLOUR,
        )
        + "><title>Range of the standards</title></rect>"
    )

    parts.append('<g class="grid">')
    for value in y_ticks:
        y = py(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>'
        )
    for value in x_ticks:
        x = px(value)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{bottom}" stroke="{GRID_COLOUR}"/>'
        )
    parts.append("</g>")
    parts.append(f'<g class="axes" stroke="{AXIS_COLOUR}">')
    parts.append(f'<line x1="{LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}"/>')
    parts.append("</g>")
    parts.append(f'<g class="tick-labels" fill="{AXIS_COLOUR}">')
    for value in y_ticks:
        parts.append(
            f'<text x="{LEFT - 7}" y="{py(value) + fs * 0.35:.1f}" text-anchor="end">'
            f"{escape(_tick_text(value))}</text>"
        )
    for value in x_ticks:
        parts.append(
            f'<text x="{px(value):.1f}" y="{bottom + fs + 5}" text-anchor="middle">'
            f"{escape(_tick_text(value))}</text>"
        )
    parts.append("</g>")
    parts.append(
        f'<text class="axis-label" x="{LEFT + plot_w / 2:.1f}" y="{bottom + 2 * fs + 12}" '
        f'text-anchor="middle" fill="{AXIS_COLOUR}">Protein (µg/mL)</text>'
    )
    parts.append(
        f'<text class="axis-label" x="{LEFT}" y="{TOP - 10}" text-anchor="start" '
        f'fill="{AXIS_COLOUR}">{escape(label)}</text>'
    )

    d = "M" + "L".join(
        f"{px(x):.1f},{py(y):.1f}"
        for x, y in zip(curve_xs, curve_ys, strict=True)
        if math.isfinite(y)
    )
    parts.append(
        "<path"
        + _attrs(class_="fit", d=d, fill="none", stroke=FIT_COLOUR, stroke_width=2)
        + f"><title>{escape(curve.describe())}</title></path>"
    )

    parts.append('<g class="points">')
    for well in standards:
        level = level_of[well.well]
        tip = f"Standard {_nominal(level)} µg/mL, {well.well}: {significant(well.response)}"
        parts.append(
            "<circle"
            + _attrs(
                class_="standard",
                cx=f"{px(level):.1f}",
                cy=f"{py(well.response):.1f}",
                r=4,
                fill=STANDARD_COLOUR,
                data_well=well.well,
            )
            + f"><title>{escape(tip)}</title></circle>"
        )
    for well in readable:
        flagged = bool(well.flags)
        off_scale = not (0 <= well.concentration <= x_max)
        tip = (
            f"{well.sample} ({well.well}): {significant(well.response)} → "
            f"{significant(well.concentration)} µg/mL in the well"
            + (f" [{', '.join(well.flags)}]" if flagged else "")
            + (" (off the plotted scale)" if off_scale else "")
        )
        parts.append(
            "<circle"
            + _attrs(
                class_="sample"
                + (" flagged" if flagged else "")
                + (" off-scale" if off_scale else ""),
                cx=f"{px(well.concentration):.1f}",
                cy=f"{py(well.response):.1f}",
                r=4.5,
                fill="#fff",
                stroke=FLAGGED_COLOUR if flagged else SAMPLE_COLOUR,
                stroke_width=2,
                data_well=well.well,
            )
            + f"><title>{escape(tip)}</title></circle>"
        )
    parts.append("</g>")

    # Legend above the plot, right-aligned, as in assays.plots.
    legend = [("standard", STANDARD_COLOUR, "standards")]
    if any(not w.flags for w in readable):
        legend.append(("sample", SAMPLE_COLOUR, "samples"))
    if any(w.flags for w in readable):
        legend.append(("flagged", FLAGGED_COLOUR, "flagged samples"))
    y, x = TOP - 14, right
    parts.append('<g class="legend">')
    for kind, colour, text in reversed(legend):
        x -= len(text) * fs * 0.6
        parts.append(
            f'<text x="{x:.1f}" y="{y + fs * 0.35:.1f}" fill="{AXIS_COLOUR}">{escape(text)}</text>'
        )
        x -= 10
        fill = colour if kind == "standard" else "#fff"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y}" r="4" fill="{fill}" stroke="{colour}" '
            f'stroke-width="{1 if kind == "standard" else 2}"/>'
        )
        x -= 16
    parts.append("</g>")

    caption = [f"{model} fit, {r2}", *curve.describe().split("; ")]
    parts.append(f'<g class="caption" fill="{AXIS_COLOUR}">')
    for index, line in enumerate(caption):
        parts.append(
            f'<text x="{LEFT}" y="{bottom + 3 * fs + 20 + index * (fs + 4)}">{escape(line)}</text>'
        )
    parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))
