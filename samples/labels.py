"""Tube labels: a catalogue of label stocks, one layout per stock, and PDF and ZPL output.

Pure: works on ``LabelData`` (or records whose relations are already loaded) and never
queries the database. Every label carries the accession three ways, printed large, as an
ECC200 DataMatrix and as a Code 128, so a rack reader, a hand scanner and a person all read
the same code.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.ecc200datamatrix import ECC200DataMatrix
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

MM = 72 / 25.4  # PDF points per millimetre
INCH_MM = 25.4
MAX_LABELS = 2000  # per file: a full box is at most 780 tubes
MAX_COPIES = 10
DPI_CHOICES = (203, 300)
FORMATS = ("pdf", "zpl")
ACCESSION_FONT = "Helvetica-Bold"
TEXT_FONT = "Helvetica"
MIN_FONT_PT = 3.5
# Only these characters reach barcode fields, so no ZPL command or escape can ride along.
_BARCODE_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")


class LabelError(ValueError):
    """A request that cannot be printed as asked; the message is for the user."""


@dataclass(frozen=True)
class LabelData:
    """What one label shows: the accession (also in both codes) and a few short lines."""

    accession: str
    lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _BARCODE_SAFE.fullmatch(self.accession):
            raise ValueError(f"{self.accession!r} cannot be printed as a barcode.")


@dataclass(frozen=True)
class LabelStock:
    """A label size and how labels sit on the page; a roll has one label per page."""

    key: str
    name: str
    width_mm: float
    height_mm: float
    page_mm: tuple[float, float] | None = None  # None: a roll for a label printer
    columns: int = 1
    rows: int = 1
    left_mm: float = 0
    top_mm: float = 0
    pitch_x_mm: float = 0
    pitch_y_mm: float = 0

    @property
    def is_roll(self) -> bool:
        return self.page_mm is None

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def slot_origin_mm(self, slot: int) -> tuple[float, float]:
        """Top-left corner of the ``slot``-th label on a page, filled row by row."""
        row, column = divmod(slot, self.columns)
        return self.left_mm + column * self.pitch_x_mm, self.top_mm + row * self.pitch_y_mm


_A4_MM = (210.0, 297.0)
_LETTER_MM = (8.5 * INCH_MM, 11 * INCH_MM)

STOCKS: dict[str, LabelStock] = {
    s.key: s
    for s in (
        LabelStock("roll-25x13", "Roll, 25.4 × 12.7 mm (1″ × ½″): 1.5–2 mL tubes", 25.4, 12.7),
        LabelStock("roll-32x13", "Roll, 32.5 × 12.7 mm: 1.5–2 mL cryovials", 32.5, 12.7),
        LabelStock("roll-38x13", "Roll, 38 × 13 mm: 2–5 mL cryovials", 38.0, 13.0),
        LabelStock("roll-51x25", "Roll, 50.8 × 25.4 mm (2″ × 1″): 15/50 mL tubes", 50.8, 25.4),
        LabelStock(
            "a4-38x21",
            "A4 sheet, 65 labels of 38.1 × 21.2 mm (Avery L7651 layout)",
            38.1,
            21.2,
            _A4_MM,
            columns=5,
            rows=13,
            left_mm=4.67,
            top_mm=10.7,
            pitch_x_mm=40.64,
            pitch_y_mm=21.2,
        ),
        LabelStock(
            "letter-128x05",
            "Letter sheet, 85 cryo-labels of 1.28″ × 0.5″ (5 × 17)",
            1.28 * INCH_MM,
            0.5 * INCH_MM,
            _LETTER_MM,
            columns=5,
            rows=17,
            left_mm=0.61 * INCH_MM,
            top_mm=0.75 * INCH_MM,
            pitch_x_mm=1.5 * INCH_MM,
            pitch_y_mm=0.5625 * INCH_MM,
        ),
        LabelStock(
            "letter-175x05",
            "Letter sheet, 80 labels of 1.75″ × 0.5″ (Avery 5167 layout)",
            1.75 * INCH_MM,
            0.5 * INCH_MM,
            _LETTER_MM,
            columns=4,
            rows=20,
            left_mm=0.3 * INCH_MM,
            top_mm=0.5 * INCH_MM,
            pitch_x_mm=2.05 * INCH_MM,
            pitch_y_mm=0.5 * INCH_MM,
        ),
    )
}
DEFAULT_STOCK = "roll-25x13"


# --- What goes on a label ---------------------------------------------------------------


def sample_label(sample) -> LabelData:
    """Accession, study, fluid and collection date. Needs ``sample.study`` loaded."""
    return LabelData(
        sample.accession,
        (sample.study.code, f"{_fluid(sample.fluid_type)} {_date(sample.collected_at)}"),
    )


def aliquot_label(aliquot) -> LabelData:
    """Accession, study and fluid, volume and the collection date of the material.
    Needs ``aliquot.study`` and ``aliquot.sample`` loaded."""
    fluid = _fluid(aliquot.sample.fluid_type)
    if aliquot.kind == "ev_preparation":
        fluid = f"{fluid} EV"
    return LabelData(
        aliquot.accession,
        (
            f"{aliquot.study.code} · {fluid}",
            f"{_volume(aliquot.volume_ml)} {_date(aliquot.sample.collected_at)}",
        ),
    )


def _fluid(value: str) -> str:
    text = value.replace("_", " ")
    return text.upper() if len(text) <= 3 else text.capitalize()


def _date(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d")


def _volume(ml: Decimal) -> str:
    if ml < 1:
        return f"{(ml * 1000).normalize():f} µL"
    return f"{ml.normalize():f} mL"


# --- Codes -------------------------------------------------------------------------------

# Square ECC200 symbols with one Reed–Solomon block: (modules, regions per side, data, ecc).
_DATAMATRIX_SIZES = (
    (10, 1, 3, 5),
    (12, 1, 5, 7),
    (14, 1, 8, 10),
    (16, 1, 12, 12),
    (18, 1, 18, 14),
    (20, 1, 22, 18),
    (22, 1, 30, 20),
    (24, 1, 36, 24),
    (26, 1, 44, 28),
    (32, 2, 62, 36),
    (36, 2, 86, 42),
    (40, 2, 114, 48),
    (44, 2, 144, 56),
)


def _ascii_codewords(text: str) -> list[int]:
    """ECC200 ASCII mode: one codeword per character, two per digit pair."""
    words, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if len(pair) == 2 and pair.isascii() and pair.isdigit():
            words.append(130 + int(pair))
            i += 2
        else:
            words.append(ord(text[i]) + 1)
            i += 1
    return words


class _DataMatrix(ECC200DataMatrix):
    """reportlab's ECC200 encoder ships one fixed 44 × 44 size, far too dense for a 1 cm
    code; this picks the smallest square symbol instead and encodes in ASCII mode."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        needed = len(_ascii_codewords(value))
        size = next((s for s in _DATAMATRIX_SIZES if s[2] >= needed), None)
        if size is None:
            raise LabelError("Too much data for a DataMatrix.")
        modules, regions, self.cw_data, self.cw_ecc = size
        self.row_modules = self.col_modules = modules
        self.row_regions = self.col_regions = regions
        self.row_usable_modules = self.col_usable_modules = modules - 2 * regions
        self.validate()

    def _encode_c40(self, value: str) -> list[int]:  # the hook encode() calls for data words
        words = _ascii_codewords(value)
        if len(words) < self.cw_data:
            words.append(129)  # first pad; later pads are scrambled as ECC200 requires
        while len(words) < self.cw_data:
            words.append((129 + (149 * (len(words) + 1)) % 253 + 1) % 254)
        return words


def datamatrix_modules(text: str) -> list[list[int]]:
    """The DataMatrix for ``text`` as rows of 0/1 modules, top row first."""
    return list(reversed(_DataMatrix(text).encode()))


def code128_bars(text: str) -> Code128:
    """Code 128 with one-unit modules (``.width`` is the module count)."""
    return Code128(text, barWidth=1, barHeight=1, quiet=0, humanReadable=0)


# --- Layout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """A rectangle in mm from the label's top-left corner."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Layout:
    code2d: Box
    code128: Box
    text: Box
    accession_mm: float  # text heights (font size) in mm
    line_mm: float


def layout_for(stock: LabelStock) -> Layout:
    """2D code on the left, accession and short text beside it, Code 128 along the bottom."""
    margin = min(1.5, stock.height_mm * 0.08)
    inner_w, inner_h = stock.width_mm - 2 * margin, stock.height_mm - 2 * margin
    gap = inner_h * 0.05
    bar_h = inner_h * 0.28
    top_h = inner_h - bar_h - gap
    side = min(top_h, inner_w * 0.4)
    text_x = margin + side + gap
    return Layout(
        code2d=Box(margin, margin, side, side),
        code128=Box(margin, margin + top_h + gap, inner_w, bar_h),
        text=Box(text_x, margin, stock.width_mm - margin - text_x, top_h),
        accession_mm=top_h * 0.4,
        line_mm=top_h * 0.25,
    )


def fit_text(text: str, font: str, size_pt: float, width_pt: float) -> tuple[str, float]:
    """Shrink to fit the width, down to a legible minimum; then cut with an ellipsis."""
    width = stringWidth(text, font, size_pt)
    if width > width_pt:
        size_pt = max(MIN_FONT_PT, size_pt * width_pt / width)
    while text and stringWidth(text, font, size_pt) > width_pt * 1.001:  # float slack
        text = text[:-2] + "…" if len(text) > 1 else ""
    return text, size_pt


# --- Output ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelFile:
    content: bytes
    content_type: str
    extension: str


def render_labels(
    labels: Sequence[LabelData],
    *,
    stock_key: str,
    fmt: str = "pdf",
    dpi: int = 300,
    offset: int = 0,
    copies: int = 1,
) -> LabelFile:
    """The labels as a PDF (rolls: one page per label; sheets from slot ``offset`` on) or
    as ZPL for a Zebra printer. Raises LabelError with a message for the user."""
    stock = STOCKS.get(stock_key)
    if stock is None:
        raise LabelError(f"Unknown label stock {stock_key!r}; choose one of {', '.join(STOCKS)}.")
    if fmt not in FORMATS:
        raise LabelError("The format must be pdf or zpl.")
    if not labels:
        raise LabelError("There is nothing to print.")
    if not 1 <= copies <= MAX_COPIES:
        raise LabelError(f"Copies must be between 1 and {MAX_COPIES}.")
    if not 0 <= offset < stock.per_page:
        raise LabelError(
            "A start offset only applies to sheets."
            if stock.is_roll
            else f"The start offset must be between 0 and {stock.per_page - 1} on this sheet."
        )
    if len(labels) * copies > MAX_LABELS:
        raise LabelError(f"At most {MAX_LABELS} labels per file; print in smaller batches.")
    repeated = [label for label in labels for _ in range(copies)]
    if fmt == "zpl":
        if not stock.is_roll:
            raise LabelError("ZPL is for Zebra label printers: choose a roll stock.")
        if dpi not in DPI_CHOICES:
            raise LabelError("The printer resolution must be 203 or 300 dpi.")
        return LabelFile(
            render_zpl(repeated, stock=stock, dpi=dpi).encode("ascii"), "text/plain", "zpl"
        )
    return LabelFile(render_pdf(repeated, stock=stock, offset=offset), "application/pdf", "pdf")


def render_pdf(labels: Sequence[LabelData], *, stock: LabelStock, offset: int = 0) -> bytes:
    buffer = io.BytesIO()
    page_w, page_h = stock.page_mm or (stock.width_mm, stock.height_mm)
    canvas = Canvas(buffer, pagesize=(page_w * MM, page_h * MM), pageCompression=1)
    canvas.setTitle("ExoLIMS labels")
    canvas.setCreator("ExoLIMS")
    layout = layout_for(stock)
    for index, label in enumerate(labels, start=offset):
        slot = index % stock.per_page
        if slot == 0 and index > offset:
            canvas.showPage()
        x, y = stock.slot_origin_mm(slot)
        canvas.saveState()
        canvas.translate(x * MM, (page_h - y - stock.height_mm) * MM)
        _draw_label(canvas, label, layout, stock.height_mm)
        canvas.restoreState()
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_label(canvas: Canvas, label: LabelData, layout: Layout, height_mm: float) -> None:
    """Draw with the origin at the label's bottom-left corner."""

    def points(box: Box) -> tuple[float, float, float, float]:  # top-down mm → PDF points
        return box.x * MM, (height_mm - box.y - box.h) * MM, box.w * MM, box.h * MM

    _draw_datamatrix(canvas, label.accession, *points(layout.code2d))
    _draw_code128(canvas, label.accession, *points(layout.code128))
    x, y, width, height = points(layout.text)
    y += height
    for line, font, size_mm in _text_lines(label, layout):
        fitted, size = fit_text(line, font, size_mm * MM, width)
        y -= size
        canvas.setFont(font, size)
        canvas.drawString(x, y, fitted)
        y -= size * 0.15


def _draw_datamatrix(
    canvas: Canvas, text: str, x: float, y: float, side: float, _height: float
) -> None:
    modules = datamatrix_modules(text)
    cell = side / len(modules)
    top = y + side
    for r, row in enumerate(modules):
        for c, dark in enumerate(row):
            if dark:
                canvas.rect(x + c * cell, top - (r + 1) * cell, cell, cell, stroke=0, fill=1)


def _draw_code128(
    canvas: Canvas, text: str, x: float, y: float, width: float, height: float
) -> None:
    # Ten spare modules keep a small quiet zone inside the label margin.
    module = width / (code128_bars(text).width + 10)
    barcode = Code128(text, barWidth=module, barHeight=height, quiet=0, humanReadable=0)
    barcode.drawOn(canvas, x + (width - barcode.width) / 2, y)


def _text_lines(label: LabelData, layout: Layout) -> Iterator[tuple[str, str, float]]:
    yield label.accession, ACCESSION_FONT, layout.accession_mm
    for line in label.lines[:2]:
        yield line, TEXT_FONT, layout.line_mm


# --- ZPL ---------------------------------------------------------------------------------


def zpl_text(text: str, *, limit: int = 60) -> str:
    """Field data for a ``^FH`` field: printable ASCII stays, ``^``, ``~`` and the escape
    ``_`` itself become hex escapes, other characters their UTF-8 bytes (^CI28), and control
    characters a space — so no text can end the field or start a command."""
    out = []
    for char in text[:limit]:
        if char in "^~_" or not char.isascii():
            out.append("".join(f"_{byte:02X}" for byte in char.encode("utf-8")))
        elif char.isprintable():
            out.append(char)
        else:
            out.append(" ")
    return "".join(out)


def render_zpl(labels: Sequence[LabelData], *, stock: LabelStock, dpi: int) -> str:
    """One ^XA…^XZ block per label, sized for a ``dpi`` printer."""
    return "".join(_zpl_label(label, stock=stock, dpi=dpi) for label in labels)


def _zpl_label(label: LabelData, *, stock: LabelStock, dpi: int) -> str:
    def dots(mm: float) -> int:
        return round(mm * dpi / INCH_MM)

    layout = layout_for(stock)
    code, bars, text = layout.code2d, layout.code128, layout.text
    module_2d = max(1, dots(code.w) // len(datamatrix_modules(label.accession)))
    bar_modules = code128_bars(label.accession).width
    module_1d = max(1, min(10, dots(bars.w) // int(bar_modules)))
    bar_x = dots(bars.x) + max(0, (dots(bars.w) - module_1d * int(bar_modules)) // 2)
    commands = [
        "^XA",
        "^CI28",
        f"^PW{dots(stock.width_mm)}",
        f"^LL{dots(stock.height_mm)}",
        "^LH0,0",
        f"^FO{dots(code.x)},{dots(code.y)}^BXN,{module_2d},200^FD{label.accession}^FS",
        f"^FO{bar_x},{dots(bars.y)}^BY{module_1d}"
        f"^BCN,{dots(bars.h)},N,N,N,A^FD{label.accession}^FS",
    ]
    y = text.y
    for line, _font, size_mm in _text_lines(label, layout):
        # Font 0 glyphs average about 0.55 of their height: cut what would overflow.
        size_mm = max(MIN_FONT_PT / MM, min(size_mm, text.w / max(1, 0.55 * len(line))))
        limit = max(1, math.floor(text.w / (0.55 * size_mm)))
        commands.append(
            f"^FO{dots(text.x)},{dots(y)}^A0N,{dots(size_mm)}^FH^FD{zpl_text(line, limit=limit)}^FS"
        )
        y += size_mm * 1.15
    commands.append("^XZ")
    return "\n".join(commands) + "\n"
