"""Small HTML look-ups for the page tests (the standard library only)."""

from __future__ import annotations

import re
from html import unescape

_LINK = re.compile(r'<a\b[^>]*\bhref="([^"]*)"[^>]*>(.*?)</a>', re.S)
_TAG = re.compile(r"<[^>]+>")


def section(html: str, element_id: str) -> str:
    """The HTML of ``<section id=…>`` up to its closing tag ("" if absent)."""
    match = re.search(
        rf'<section\b[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</section>', html, re.S
    )
    return match.group(1) if match else ""


def text(html: str) -> str:
    """Visible text with whitespace collapsed."""
    return " ".join(unescape(_TAG.sub(" ", html)).split())


def links(html: str) -> list[tuple[str, str]]:
    """(href, text) of every link, in page order."""
    return [(unescape(href), text(label)) for href, label in _LINK.findall(html)]


def attribute_values(html: str, name: str) -> list[str]:
    return [unescape(v) for v in re.findall(rf'\b{re.escape(name)}="([^"]*)"', html)]


def row(html: str, code: str) -> str:
    """The table row (or list item) carrying ``data-code="code"``."""
    match = re.search(rf'<(tr|li)\b[^>]*data-code="{re.escape(code)}"[^>]*>(.*?)</\1>', html, re.S)
    return match.group(2) if match else ""
