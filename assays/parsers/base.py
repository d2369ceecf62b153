"""The contract every instrument parser keeps: bytes in, a typed result out, no database.

A parser module declares a class with ``format`` (registry key), ``label``, ``version``,
``detect(name, head) -> bool`` (file name and the first bytes only) and
``parse(data, name) -> result`` (a ``ParticleResult`` or one of ``results.py``'s types). A
parser for big binary files (FCS) also has ``parse_stream(stream, name)``: the pipeline then
hands it the stored file instead of its bytes, and ``max_bytes`` caps the size. Anything wrong with the file raises ``ParseError`` with
the place it was found; a parser never raises anything else on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# How many bytes detection may look at; registry.detect_format reads no more.
DETECT_BYTES = 4096


class ParseError(Exception):
    """The file cannot be read as this format. ``line`` is 1-based, ``column`` a header name."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f'column "{self.column}"')
        return f"{self.message} ({', '.join(where)})" if where else self.message


@dataclass(frozen=True)
class SizeDistribution:
    """Concentration per size bin, in particles/mL of the measured (diluted) suspension
    unless ``dilution_corrected``; ``replicates`` holds one series per video/position."""

    bin_centres_nm: tuple[float, ...]
    mean: tuple[float, ...]
    replicates: tuple[tuple[float, ...], ...] = ()
    dilution_corrected: bool = False


@dataclass(frozen=True)
class ParticleResult:
    """What a particle-counting export says (NTA, ZetaView, …), in canonical units:
    concentrations in particles/mL of the original sample (already × dilution factor),
    sizes in nm, temperatures in °C."""

    method: str
    sample_name: str = ""
    description: str = ""
    measured_at: datetime | None = None
    software_version: str = ""
    instrument_serial: str = ""
    dilution_factor: float | None = None
    concentration_per_ml: float | None = None
    concentration_sd_per_ml: float | None = None
    replicate_concentrations_per_ml: tuple[float, ...] = ()
    mean_nm: float | None = None
    mode_nm: float | None = None
    sd_nm: float | None = None
    d10_nm: float | None = None
    d50_nm: float | None = None
    d90_nm: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    distribution: SizeDistribution | None = None
    instrument_warnings: tuple[str, ...] = ()


@runtime_checkable
class InstrumentParser(Protocol):
    format: str
    label: str
    version: str

    def detect(self, name: str, head: bytes) -> bool: ...

    def parse(self, data: bytes, name: str = "") -> Any: ...
