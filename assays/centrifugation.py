"""Centrifugation physics: RCF ↔ rpm, k-factors, pelleting and equivalent times.

Pure functions (no Django) so pages, the API, validation and tests share one set of numbers.
Formulas (EV-DOMAIN.md §1.4; rotor manuals):

    RCF (×g)  = 1.118 × 10⁻⁵ · r(cm) · rpm²
    k         = 2.53 × 10¹¹ · ln(r_max / r_min) / rpm²        (any consistent radius unit)
    k_adj     = k_max · (rpm_max / rpm)²                       (same rotor, lower speed)
    T (h)     = k / S                                          (S in Svedberg units)
    t₂        = t₁ · k₂ / k₁                                   (same pelleting on another rotor)

Which radius an RCF refers to matters: "average" RCF uses r_avg = (r_min + r_max) / 2,
"max" RCF uses r_max. Papers that say "100,000 ×g" without saying which are ambiguous by up
to a factor of two, which is why steps store the basis next to the number.

Worked examples (tests/isolation/test_centrifugation.py checks them):

    Beckman SW 41 Ti, r_min 67.4 mm, r_max 153.1 mm, 41,000 rpm:
        k = 2.53e11 · ln(153.1 / 67.4) / 41,000² = 2.53e11 · 0.82043 / 1.681e9 ≈ 123.5 (manual: 124)
        RCF max = 1.118e-5 · 15.31 · 41,000² ≈ 287,700 ×g; RCF avg (r 110.25 mm) ≈ 207,200 ×g
    Beckman Type 70 Ti, r_min 39.5 mm, r_max 91.9 mm, 70,000 rpm:
        k = 2.53e11 · ln(91.9 / 39.5) / 70,000² = 2.53e11 · 0.84441 / 4.9e9 ≈ 43.6 (manual: 44)
        RCF max = 1.118e-5 · 9.19 · 70,000² ≈ 503,400 ×g
    SW 41 Ti at 30,000 rpm: k_adj = 124 · (41,000 / 30,000)² ≈ 231.6
    A 70 min SW 41 Ti pelleting (k 124) on a Type 70 Ti (k 44): 70 · 44 / 124 ≈ 24.8 min
"""

from __future__ import annotations

import math
from typing import Literal

RCF_COEFFICIENT = 1.118e-5  # ×g per (cm · rpm²)
K_COEFFICIENT = 2.53e11

GBasis = Literal["average", "max"]


def _positive(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}.")
    return number


def radius_for(basis: str, r_min_mm: float, r_max_mm: float) -> float:
    """The radius (mm) an RCF refers to: r_avg = (r_min + r_max) / 2 or r_max."""
    r_min = _positive(r_min_mm, "r_min_mm")
    r_max = _positive(r_max_mm, "r_max_mm")
    if r_max <= r_min:
        raise ValueError("r_max_mm must be larger than r_min_mm.")
    if basis == "average":
        return (r_min + r_max) / 2
    if basis == "max":
        return r_max
    raise ValueError(f"basis must be 'average' or 'max', not {basis!r}.")


def rcf_from_rpm(rpm: float, radius_mm: float) -> float:
    """Relative centrifugal force (×g) at ``radius_mm`` and ``rpm``."""
    rpm = _positive(rpm, "rpm")
    radius_cm = _positive(radius_mm, "radius_mm") / 10
    return RCF_COEFFICIENT * radius_cm * rpm**2


def rpm_from_rcf(rcf: float, radius_mm: float) -> float:
    """Speed (rpm) that gives ``rcf`` (×g) at ``radius_mm``."""
    rcf = _positive(rcf, "rcf")
    radius_cm = _positive(radius_mm, "radius_mm") / 10
    return math.sqrt(rcf / (RCF_COEFFICIENT * radius_cm))


def k_factor(r_min_mm: float, r_max_mm: float, rpm: float) -> float:
    """Clearing factor of a rotor at ``rpm``: lower is faster pelleting."""
    r_min = _positive(r_min_mm, "r_min_mm")
    r_max = _positive(r_max_mm, "r_max_mm")
    if r_max <= r_min:
        raise ValueError("r_max_mm must be larger than r_min_mm.")
    rpm = _positive(rpm, "rpm")
    return K_COEFFICIENT * math.log(r_max / r_min) / rpm**2


def adjusted_k_factor(k_max: float, rpm_max: float, rpm: float) -> float:
    """k at a lower speed from the k at the rotor's maximum speed: k · (rpm_max / rpm)²."""
    return _positive(k_max, "k_max") * (_positive(rpm_max, "rpm_max") / _positive(rpm, "rpm")) ** 2


def pelleting_time_h(k: float, sedimentation_coefficient_s: float) -> float:
    """Hours to pellet particles of ``sedimentation_coefficient_s`` Svedberg: T = k / S."""
    return _positive(k, "k") / _positive(sedimentation_coefficient_s, "sedimentation coefficient")


def equivalent_time(t1: float, k1: float, k2: float) -> float:
    """Time on a rotor with k2 that pellets like ``t1`` on a rotor with k1: t1 · k2 / k1.
    Any time unit; the result is in the same unit."""
    return _positive(t1, "t1") * _positive(k2, "k2") / _positive(k1, "k1")
