"""Protein concentration from one plate (BCA, micro-BCA, Bradford, Lowry, Qubit): the arithmetic.

Raw well values plus the plate map in, a ``PlateQuantification`` out; no database. The order
follows the team's recipe (INSTRUMENT-FORMATS §6.6):

1. **Blank.** The mean of the ``blank`` wells; when the plate has no blank well with a value,
   the mean of the 0 µg/mL standards (``blank_source`` says which, "none" when neither exists).
   With ``subtract_blank`` it is subtracted from every well, standards included.
2. **Fit** the chosen model on the standards, one point per well (``assays.curves``).
3. **Back-calculate** each standard level (recovery %).
4. **Interpolate each well**, then average the replicate wells of a sample: µg/mL in the well,
   × the well's dilution factor → µg/mL in the sample. Wells of one sample may carry different
   dilutions; each is multiplied by its own factor before averaging.
5. **Flag, never hide.** A response the curve cannot invert (beyond a 4PL plateau) gives no
   number ("not_invertible", plus the side). A response the curve *can* invert but that lies
   outside the standards (lowest non-zero to highest standard) gives the extrapolated number
   with "below_curve"/"above_curve" — for linear and 4PL alike — so the user sees the value and
   why it is not trustworthy. Replicates more than 20 % CV apart are "high_cv"; a mapped well
   without a reading is "missing_value".

Dilutions are factors ≥ 1 (1:2 → 2), not Gen5's fractions.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from .curves import CurveError, StandardCurve, fit_standard_curve

ROLES = ("standard", "blank", "sample", "empty", "control")
HIGH_CV_PCT = 20.0
FLAG_ORDER = ("missing_value", "not_invertible", "below_curve", "above_curve", "high_cv")
WELL_NAME = re.compile(r"^([A-Za-z]{1,2})0*([1-9][0-9]*)$")
# Float noise at the ends of the standard range must not flag the top standard itself.
RANGE_TOLERANCE = 1e-9


class PlateMapError(ValueError):
    """The plate map is unusable; ``message`` names the wells, ``wells`` lists them."""

    def __init__(self, message: str, wells: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.wells = wells


@dataclass(frozen=True)
class WellResult:
    """One mapped well. ``response`` is blank-corrected when the blank was subtracted;
    ``concentration`` is µg/mL in the well (None when there is none to give)."""

    well: str
    role: str
    sample: Hashable | None
    raw: float | None
    response: float | None
    concentration: float | None
    dilution: float
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class StandardResult:
    """One standard level. ``mean_response`` is what the curve was fitted on; ``cv_pct``
    is the CV of the raw signal (the blank does not change the scatter, but subtracting it
    makes the low standards' mean ≈ 0 and their CV meaningless)."""

    concentration: float
    wells: tuple[str, ...]
    n: int
    mean_response: float | None
    cv_pct: float | None
    back_calculated: float | None
    recovery_pct: float | None


@dataclass(frozen=True)
class SampleResult:
    """One sample key (or control). ``ug_per_ml`` is in the sample, after dilution;
    ``mean_well_ug_per_ml`` is in the well. ``dilution`` is None when the wells differ.
    ``cv_pct`` is between the replicate wells' concentrations."""

    sample: Hashable
    wells: tuple[str, ...]
    dilution: float | None
    responses: tuple[float | None, ...]
    well_concentrations: tuple[float | None, ...]
    mean_response: float | None
    mean_well_ug_per_ml: float | None
    ug_per_ml: float | None
    cv_pct: float | None
    flags: tuple[str, ...]
    expected_ug_per_ml: float | None = None  # controls with a nominal concentration
    recovery_pct: float | None = None


@dataclass(frozen=True)
class PlateQuantification:
    curve: StandardCurve
    blank: float | None
    blank_source: str  # "blank wells", "zero standard" or "none"
    blank_subtracted: bool
    standards: tuple[StandardResult, ...]
    samples: tuple[SampleResult, ...]
    controls: tuple[SampleResult, ...]
    wells: tuple[WellResult, ...]

    @property
    def wells_with_issues(self) -> tuple[WellResult, ...]:
        return tuple(well for well in self.wells if well.flags)

    def sample(self, key: Hashable) -> SampleResult:
        for result in self.samples:
            if result.sample == key:
                return result
        raise KeyError(key)


def total_ug(conc_ug_per_ml: float | None, volume_ml: float | None) -> float | None:
    """µg of protein in ``volume_ml`` of a sample at ``conc_ug_per_ml``; None if either
    is unknown."""
    if conc_ug_per_ml is None or volume_ml is None:
        return None
    if volume_ml < 0:
        raise ValueError("a volume cannot be negative")
    return float(conc_ug_per_ml) * float(volume_ml)


def normalise_well(name: Any) -> str | None:
    """ "a01" → "A1"; None when ``name`` is not a well name."""
    match = WELL_NAME.match(str(name).strip())
    if match is None:
        return None
    return f"{match.group(1).upper()}{match.group(2)}"


# --- Plate map ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mapped:
    well: str
    role: str
    concentration: float | None
    sample: Hashable | None
    dilution: float


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_map(plate_map: Mapping[str, Mapping], plate_wells: set[str]) -> list[_Mapped]:
    """The map's entries, checked; every mistake at once, so the user fixes them in one go."""
    problems: dict[str, list[str]] = {}

    def problem(kind: str, well: str) -> None:
        problems.setdefault(kind, []).append(well)

    entries = []
    seen: set[str] = set()
    for raw_name, entry in plate_map.items():
        well = normalise_well(raw_name)
        label = str(raw_name)
        if well is None:
            problem("not a well name", label)
            continue
        if well in seen:
            problem("mapped twice", label)
            continue
        seen.add(well)
        if well not in plate_wells:
            problem("not on the plate", label)
            continue
        if not isinstance(entry, Mapping):
            problem("entry is not a mapping", label)
            continue
        role = str(entry.get("role") or "").strip().lower()
        if role not in ROLES:
            problem(f"unknown role {entry.get('role')!r} (use {', '.join(ROLES)})", label)
            continue
        concentration = None
        if role == "standard" or (role == "control" and entry.get("concentration") is not None):
            concentration = _number(entry.get("concentration"))
            if concentration is None:
                problem(f"{role} without a concentration in µg/mL", label)
                continue
            if concentration < 0:
                problem(f"{role} with a negative concentration", label)
                continue
        sample = entry.get("sample")
        if isinstance(sample, str):
            sample = sample.strip()
        if role == "sample" and (sample is None or sample == ""):
            problem("sample well without a sample", label)
            continue
        if not isinstance(sample, Hashable):
            problem("sample key must be text or a number", label)
            continue
        dilution = 1.0
        if entry.get("dilution") is not None:
            number = _number(entry.get("dilution"))
            if number is None or number < 1:
                problem("dilution must be a factor ≥ 1 (1:2 is 2, not 0.5)", label)
                continue
            dilution = number
        if role == "control" and (sample is None or sample == ""):
            sample = well  # an unnamed control is reported on its own
        entries.append(_Mapped(well, role, concentration, sample, dilution))

    if problems:
        named = [f"{kind}: {', '.join(wells)}" for kind, wells in problems.items()]
        wells = tuple(w for group in problems.values() for w in group)
        raise PlateMapError("Plate map errors — " + "; ".join(named) + ".", wells)
    if not any(entry.role == "standard" for entry in entries):
        raise PlateMapError("The plate map has no standard wells, so no curve can be fitted.")
    return entries


# --- Quantification -------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _cv(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if mean <= 0:
        return None
    return statistics.stdev(values) / mean * 100


def _ordered(flags: set[str]) -> tuple[str, ...]:
    return tuple(flag for flag in FLAG_ORDER if flag in flags)


def _well_flags(curve: StandardCurve, response: float, concentration: float | None) -> set[str]:
    low, high = curve.x_range
    if concentration is None:
        # Beyond the plateau or under the zero response; which side is what the user needs.
        below = response < curve.y_range[0]
        return {"not_invertible", "below_curve" if below else "above_curve"}
    if concentration < low * (1 - RANGE_TOLERANCE):
        return {"below_curve"}
    if concentration > high * (1 + RANGE_TOLERANCE):
        return {"above_curve"}
    return set()


def quantify_plate(
    values: Mapping[str, float | None],
    plate_map: Mapping[str, Mapping],
    model: str,
    *,
    subtract_blank: bool = True,
) -> PlateQuantification:
    """Protein concentrations for every sample on the plate (see the module docstring).

    ``values`` is one plate read (well → value, None for no reading); ``plate_map`` gives
    each used well a role ("standard", "blank", "sample", "empty", "control"), the standard's
    "concentration" in µg/mL, the "sample" key and an optional "dilution" factor ≥ 1.
    Raises PlateMapError for map mistakes and CurveError when the standards cannot be fitted.
    """
    readings: dict[str, float | None] = {}
    for name, value in values.items():
        well = normalise_well(name)
        if well is not None:
            readings[well] = _number(value)
    entries = _read_map(plate_map, set(readings))

    blank_values = [readings[e.well] for e in entries if e.role == "blank"]
    blank_values = [v for v in blank_values if v is not None]
    zero_values = [
        readings[e.well] for e in entries if e.role == "standard" and e.concentration == 0
    ]
    zero_values = [v for v in zero_values if v is not None]
    if blank_values:
        blank, blank_source = statistics.fmean(blank_values), "blank wells"
    elif zero_values:
        blank, blank_source = statistics.fmean(zero_values), "zero standard"
    else:
        blank, blank_source = None, "none"
    offset = blank if subtract_blank and blank is not None else 0.0

    def corrected(well: str) -> float | None:
        raw = readings[well]
        return None if raw is None else raw - offset

    standards = [e for e in entries if e.role == "standard"]
    fitted = [e for e in standards if readings[e.well] is not None]
    curve = fit_standard_curve(
        [e.concentration for e in fitted], [corrected(e.well) for e in fitted], model
    )
    if not curve.increasing:
        raise CurveError(
            "The standards' response falls as the concentration rises; protein assays "
            "rise, so check the standard concentrations in the plate map."
        )

    wells: list[WellResult] = []
    for entry in entries:
        if entry.role == "empty":
            continue
        raw, response = readings[entry.well], corrected(entry.well)
        flags: set[str] = set()
        concentration = None
        if response is None:
            flags.add("missing_value")
        elif entry.role in ("sample", "control"):
            concentration = curve.concentration_at(response)
            flags |= _well_flags(curve, response, concentration)
        wells.append(
            WellResult(
                well=entry.well,
                role=entry.role,
                sample=entry.sample,
                raw=raw,
                response=response,
                concentration=concentration,
                dilution=entry.dilution,
                flags=_ordered(flags),
            )
        )

    return PlateQuantification(
        curve=curve,
        blank=blank,
        blank_source=blank_source,
        blank_subtracted=bool(subtract_blank and blank is not None),
        standards=_standard_results(curve, standards, readings, offset),
        samples=_group(wells, "sample", {}),
        controls=_group(
            wells,
            "control",
            {e.sample: e.concentration for e in entries if e.role == "control"},
        ),
        wells=tuple(wells),
    )


def _standard_results(
    curve: StandardCurve,
    standards: list[_Mapped],
    readings: Mapping[str, float | None],
    offset: float,
) -> tuple[StandardResult, ...]:
    by_level: dict[float, list[_Mapped]] = {}
    for entry in standards:
        by_level.setdefault(entry.concentration, []).append(entry)
    results = []
    for concentration in sorted(by_level):
        level = by_level[concentration]
        raw = [readings[e.well] for e in level if readings[e.well] is not None]
        mean = _mean([v - offset for v in raw])
        back = curve.concentration_at(mean) if mean is not None else None
        results.append(
            StandardResult(
                concentration=concentration,
                wells=tuple(e.well for e in level),
                n=len(raw),
                mean_response=mean,
                cv_pct=_cv(raw),
                back_calculated=back,
                recovery_pct=back / concentration * 100
                if back is not None and concentration > 0
                else None,
            )
        )
    return tuple(results)


def _group(
    wells: list[WellResult], role: str, expected: Mapping[Hashable, float | None]
) -> tuple[SampleResult, ...]:
    groups: dict[Hashable, list[WellResult]] = {}
    for well in wells:
        if well.role == role:
            groups.setdefault(well.sample, []).append(well)
    results = []
    for key, members in groups.items():
        in_well = [w.concentration for w in members if w.concentration is not None]
        in_sample = [w.concentration * w.dilution for w in members if w.concentration is not None]
        responses = [w.response for w in members if w.response is not None]
        flags = {flag for w in members for flag in w.flags}
        cv = _cv(in_sample)
        if cv is not None and cv > HIGH_CV_PCT:
            flags.add("high_cv")
        dilutions = {w.dilution for w in members}
        ug_per_ml = _mean(in_sample)
        nominal = expected.get(key)
        results.append(
            SampleResult(
                sample=key,
                wells=tuple(w.well for w in members),
                dilution=dilutions.pop() if len(dilutions) == 1 else None,
                responses=tuple(w.response for w in members),
                well_concentrations=tuple(w.concentration for w in members),
                mean_response=_mean(responses),
                mean_well_ug_per_ml=_mean(in_well),
                ug_per_ml=ug_per_ml,
                cv_pct=cv,
                flags=_ordered(flags),
                expected_ug_per_ml=nominal,
                recovery_pct=ug_per_ml / nominal * 100
                if ug_per_ml is not None and nominal
                else None,
            )
        )
    return tuple(results)
