"""The one list of instrument formats ExoLIMS reads. Parsers load lazily by dotted path."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from .base import DETECT_BYTES, InstrumentParser

# format key -> "module:Class". Order matters: the first parser that recognises a file wins.
PARSERS: dict[str, str] = {
    "nta_nanosight": "assays.parsers.nanosight:NanoSightParser",
    "zetaview": "assays.parsers.zetaview:ZetaViewParser",
    "fcs": "assays.parsers.fcs:FCSParser",
    "zetasizer": "assays.parsers.zetasizer:ZetasizerParser",
    "softmax_pro": "assays.parsers.softmax:SoftMaxParser",
    "gen5": "assays.parsers.gen5:Gen5Parser",
    "skanit": "assays.parsers.skanit:SkanItParser",
    "magellan": "assays.parsers.magellan:MagellanParser",
    "rdml": "assays.parsers.rdml:RDMLParser",
    "quantstudio": "assays.parsers.quantstudio:QuantStudioParser",
    "cfx": "assays.parsers.cfx:CFXParser",
    # The catch-all plate layout last: it claims only what no vendor parser recognised.
    "plate_generic": "assays.parsers.plate_generic:GenericPlateParser",
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
