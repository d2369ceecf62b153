"""Typed results of the characterisation parsers (flow, DLS, plate readers, qPCR).

Like ``ParticleResult`` they hold what the file says in canonical units and nothing from the
database: a parser returns one of these, and the processing step files it (``assays.filing``).
All numbers are plain floats (NaN never: a value that is not there is ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- Flow cytometry (FCS) -------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSummary:
    """One FCS parameter: its names ($PnN short, $PnS long), range, and the event statistics
    of its values (after $PnE/$PnG scaling to linear values where the file says so)."""

    index: int  # 1-based, as in $PnN
    name: str
    label: str = ""
    range: float | None = None
    amplification: str = ""  # "$PnE" as written, e.g. "0,0" linear or "4,1" log
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    median: float | None = None
    p1: float | None = None  # 1st percentile
    p99: float | None = None  # 99th percentile
    detector_voltage: float | None = None


@dataclass(frozen=True)
class FlowResult:
    """An FCS file: keywords, channels and their summaries. ``volume_ul`` is the analysed
    volume when the file states it ($VOL, in µL after unit conversion)."""

    fcs_version: str
    event_count: int
    channels: tuple[ChannelSummary, ...]
    sample_name: str = ""  # $SMNO / $FIL / SAMPLE ID / TUBE NAME
    description: str = ""
    cytometer: str = ""  # $CYT
    cytometer_serial: str = ""  # $CYTSN
    software_version: str = ""  # CREATOR / $SYS
    acquired_at: datetime | None = None  # $DATE + $BTIM
    volume_ul: float | None = None
    trigger: str = ""  # $TR
    keywords: dict[str, str] = field(default_factory=dict)  # TEXT segment, values as strings
    warnings: tuple[str, ...] = ()


# --- DLS / zeta (Malvern Zetasizer) ---------------------------------------------------------


@dataclass(frozen=True)
class DLSRecord:
    """One measurement record of a Zetasizer export (a row of the export template).

    ``kind`` is "size" or "zeta". Size distributions: ``sizes_nm`` with the matching
    ``intensity_pct``/``number_pct``/``volume_pct`` series (any may be empty). Peaks are
    dicts {"mean_nm"/"mean_mv", "area_pct", "width"} in the order the file lists them.
    """

    kind: str
    sample_name: str = ""
    record_number: int | None = None
    measured_at: datetime | None = None
    temperature_c: float | None = None
    dispersant: str = ""
    z_average_nm: float | None = None
    pdi: float | None = None
    intercept: float | None = None
    count_rate_kcps: float | None = None
    attenuator: int | None = None
    quality: str = ""  # the software's own result quality text, as written
    peaks: tuple[dict[str, float | None], ...] = ()
    sizes_nm: tuple[float, ...] = ()
    intensity_pct: tuple[float, ...] = ()
    number_pct: tuple[float, ...] = ()
    volume_pct: tuple[float, ...] = ()
    zeta_potential_mv: float | None = None
    zeta_deviation_mv: float | None = None
    mobility_um_cm_per_v_s: float | None = None
    conductivity_ms_cm: float | None = None
    zeta_mv: tuple[float, ...] = ()  # zeta distribution x axis
    zeta_counts: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # other columns, as written


@dataclass(frozen=True)
class DLSResult:
    records: tuple[DLSRecord, ...]
    software_version: str = ""
    instrument_serial: str = ""

    @property
    def sample_name(self) -> str:
        names = {record.sample_name for record in self.records if record.sample_name}
        return " ".join(sorted(names))

    description: str = ""


# --- Plate readers --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlateRead:
    """One read of one plate: well → value (absorbance or fluorescence, blank not subtracted
    unless the file only has reduced data, then ``reduced`` is True). Wells are "A1"…"P24",
    upper case, no leading zero."""

    values: dict[str, float | None]
    rows: int = 8
    columns: int = 12
    plate_name: str = ""
    wavelength_nm: float | None = None
    read_type: str = ""  # "absorbance", "fluorescence", …
    reduced: bool = False


@dataclass(frozen=True)
class PlateResult:
    """A plate-reader export: one or more plate reads (plates × wavelengths), in file order.
    ``layout`` is the plate map the export itself carries (SoftMax group/standard tables), as
    {well: {"role": "standard"|"blank"|"sample"|"control", "concentration": float,
    "name": str}} — a starting point the user confirms in the plate-map editor."""

    reads: tuple[PlateRead, ...]
    software_version: str = ""
    instrument_serial: str = ""
    measured_at: datetime | None = None
    layout: dict[str, dict[str, Any]] = field(default_factory=dict)
    sample_name: str = ""
    description: str = ""
    warnings: tuple[str, ...] = ()


# --- qPCR -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QPCRRow:
    """One well × target. ``cq`` None means undetermined / no amplification (see
    ``undetermined``); ``task`` is "unknown", "standard", "ntc", "nac", "positive", … ."""

    well: str
    sample_name: str
    target: str
    cq: float | None
    undetermined: bool = False
    task: str = "unknown"
    reporter: str = ""
    quantity: float | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class QPCRResult:
    rows: tuple[QPCRRow, ...]
    software_version: str = ""
    instrument: str = ""
    measured_at: datetime | None = None
    run_name: str = ""
    sample_name: str = ""
    description: str = ""
    warnings: tuple[str, ...] = ()
