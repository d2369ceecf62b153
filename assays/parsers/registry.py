"""The one list of instrument formats ExoLIMS reads. Parsers load lazily by dotted path."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from .base import DETECT_BYTES, InstrumentParser

# format key -> "module:Class". Order matters: the first parser that recognises a file wins.
PARSERS: dict[str, str] = {
    "nta_nanosight": "assays.parsers.nanosight:NanoSightParser",
    "zetaview": "assays.parsers.zetaview:ZetaViewParser",
}


@cache
def get_parser(key: str) -> InstrumentParser:
    module, _, name = PARSERS[key].partition(":")
    parser = getattr(import_module(module), name)()
    if not isinstance(parser, InstrumentParser) or parser.format != key:
        raise TypeError(f"{PARSERS[key]} does not implement the parser contract for {key!r}")
    return parser


def detect_format(name: str, head: bytes) -> str | None:
    """The format key of a file from its name and first bytes, or None."""
    head = head[:DETECT_BYTES]
    for key in PARSERS:
        if get_parser(key).detect(name, head):
            return key
    return None


def supported_formats() -> list[tuple[str, str]]:
    """(key, label) of every registered format, for messages and choices."""
    return [(key, get_parser(key).label) for key in PARSERS]
