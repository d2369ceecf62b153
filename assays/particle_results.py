"""From a parser's ParticleResult to the field values of a ParticleMeasurement row
(pure, no database): missing summary values derived from replicates, replicate CV, the
size distribution compacted, text and JSON made storable, quality flags attached."""

from __future__ import annotations

import math
import statistics
from datetime import datetime
from typing import Any

from django.utils import timezone

from .choices import ParticleMethod
from .parsers.base import ParticleResult, SizeDistribution
from .quality import quality_flags

# Significant figures kept in stored distributions (NTA writes 3, ZetaView 6; 4 keeps the
# plot exact to the eye and the JSON a third of the size).
_DISTRIBUTION_DIGITS = 4


class ResultError(Exception):
    """The parser returned something that cannot be stored (a parser bug, not a bad file)."""


def measurement_values(result: ParticleResult, *, preparation_term: str | None) -> dict:
    """The ParticleMeasurement fields for a parse result (pure; raises ResultError)."""
    if result.method not in ParticleMethod.values:
        raise ResultError(f"unknown method {result.method!r}")
    replicates = [_finite(value) for value in result.replicate_concentrations_per_ml]
    replicates = [value for value in replicates if value is not None]
    concentration = _finite(result.concentration_per_ml)
    if concentration is None and replicates:
        concentration = statistics.fmean(replicates)
    sd = _finite(result.concentration_sd_per_ml)
    if sd is None and len(replicates) >= 2:
        sd = statistics.stdev(replicates)
    cv = replicate_cv_pct(replicates)
    distribution = compact_distribution(result.distribution, result.dilution_factor)
    replicate_count = len(replicates) or (
        len(distribution["replicates"]) if distribution and distribution["replicates"] else None
    )
    warnings = [_text(warning) for warning in result.instrument_warnings if _text(warning).strip()]
    mode = _finite(result.mode_nm)
    return {
        "method": result.method,
        "measured_at": _aware(result.measured_at),
        "software_version": _text(result.software_version or "")[:80],
        "dilution_factor": _finite(result.dilution_factor),
        "concentration_per_ml": concentration,
        "concentration_sd_per_ml": sd,
        "replicate_cv_pct": cv,
        "replicates": replicate_count,
        "mean_nm": _finite(result.mean_nm),
        "mode_nm": mode,
        "sd_nm": _finite(result.sd_nm),
        "d10_nm": _finite(result.d10_nm),
        "d50_nm": _finite(result.d50_nm),
        "d90_nm": _finite(result.d90_nm),
        "settings": _json_safe(dict(result.settings)),
        "distribution": distribution,
        "instrument_warnings": warnings,
        "flags": quality_flags(
            instrument_warnings=warnings,
            replicate_cv_pct=cv,
            mode_nm=mode,
            replicates=replicate_count,
            preparation_term=preparation_term,
        ),
    }


def replicate_cv_pct(values: list[float]) -> float | None:
    """Coefficient of variation (sample SD / mean, %) of replicate concentrations."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if mean <= 0:
        return None
    return round(statistics.stdev(values) / mean * 100, 2)


def compact_distribution(
    distribution: SizeDistribution | None, dilution_factor: float | None
) -> dict | None:
    """The size distribution as JSON lists in particles/mL of the measured tube: empty bins
    at both ends trimmed (one kept for the plot's baseline), values to 4 significant figures.
    """
    if distribution is None or not distribution.bin_centres_nm:
        return None
    bins = list(distribution.bin_centres_nm)
    replicates = [list(series) for series in distribution.replicates]
    mean = list(distribution.mean)
    if not mean and replicates:
        mean = [statistics.fmean(values) for values in zip(*replicates, strict=True)]
    for series in (mean, *replicates):
        if len(series) != len(bins):
            raise ResultError(
                f"size distribution has {len(bins)} bins but a series of {len(series)} values"
            )
    factor = 1.0
    if not distribution.dilution_corrected and _finite(dilution_factor):
        factor = float(dilution_factor)
    # The populated range over all series (NaN counts as populated: it is kept, as None).
    first, last = len(bins), -1
    for series in (mean, *replicates):
        nonzero = [index for index, value in enumerate(series) if value]
        if nonzero:
            first, last = min(first, nonzero[0]), max(last, nonzero[-1])
    start, stop = (max(first - 1, 0), min(last + 2, len(bins))) if last >= 0 else (0, 0)

    def values(series: list[float]) -> list[float | None]:
        return [_round_sig(value, factor) for value in series[start:stop]]

    return {
        "bin_centres_nm": [round(float(value), 3) for value in bins[start:stop]],
        "mean": values(mean),
        "replicates": [values(series) for series in replicates],
    }


def _round_sig(value: Any, factor: float) -> float | None:
    if not value:
        return None if value is None else 0.0
    scaled = float(value) * factor
    if not math.isfinite(scaled):
        return None
    return float(f"{scaled:.{_DISTRIBUTION_DIGITS}g}")


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    """PostgreSQL text and JSONB cannot hold NUL characters (mis-encoded files have them)."""
    return str(value).replace("\x00", "")


def _aware(value: datetime | None) -> datetime | None:
    """Instrument PCs write local wall-clock time; read it in the site's time zone."""
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, timezone.get_default_timezone())


def _json_safe(value: Any) -> Any:
    """JSONB rejects NaN/Infinity and Python-only types; keep what JSON can say."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, int | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
