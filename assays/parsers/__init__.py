"""Instrument-file parsers: one module per format, one registry (registry.PARSERS)."""

from .base import ParseError, ParticleResult, SizeDistribution
from .registry import detect_format, get_parser, supported_formats

__all__ = [
    "ParseError",
    "ParticleResult",
    "SizeDistribution",
    "detect_format",
    "get_parser",
    "supported_formats",
]
