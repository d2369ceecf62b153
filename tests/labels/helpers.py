"""Helpers for label tests: read PDFs and draw codes as images a decoder can scan."""

from __future__ import annotations

import io

from PIL import Image
from pypdf import PdfReader

from samples.labels import code128_bars, datamatrix_modules


def pdf_pages(content: bytes) -> list[str]:
    """Text of each page; pypdf refuses anything that is not a well-formed PDF."""
    assert content.startswith(b"%PDF-")
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def text_positions(content: bytes, page_number: int = 0) -> dict[str, tuple[float, float]]:
    """Where each string starts on a page, in points from the bottom-left corner."""
    found: dict[str, tuple[float, float]] = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            found.setdefault(text.strip(), (cm[4] + tm[4], cm[5] + tm[5]))

    PdfReader(io.BytesIO(content)).pages[page_number].extract_text(visitor_text=visit)
    return found


def datamatrix_image(text: str, scale: int = 6) -> Image.Image:
    modules = datamatrix_modules(text)
    size = (len(modules) + 4) * scale
    image = Image.new("L", (size, size), 255)
    for r, row in enumerate(modules):
        for c, dark in enumerate(row):
            if dark:
                x, y = (c + 2) * scale, (r + 2) * scale
                image.paste(0, (x, y, x + scale, y + scale))
    return image


def code128_image(text: str, scale: int = 3, height: int = 60) -> Image.Image:
    """``decomposed`` alternates bars (upper case) and spaces (lower case), A/a = 1 module."""
    bars = code128_bars(text)
    assert bars.width > 0  # computing the size also lays out the bars
    runs = bars.decomposed
    width = (sum(ord(ch.upper()) - 64 for ch in runs) + 20) * scale
    image = Image.new("L", (width, height), 255)
    x = 10 * scale
    for ch in runs:
        step = (ord(ch.upper()) - 64) * scale
        if ch.isupper():
            image.paste(0, (x, 0, x + step, height))
        x += step
    return image
