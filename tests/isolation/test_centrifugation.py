"""RCF ↔ rpm and k-factor maths against worked examples (Beckman rotor manuals; the
arithmetic is written out in assays/centrifugation.py)."""

from __future__ import annotations

import math

import pytest

from assays import centrifugation as c

SW41 = (67.4, 153.1, 41_000)
TYPE70 = (39.5, 91.9, 70_000)


def test_k_factor_sw41ti_matches_manual():
    assert c.k_factor(*SW41) == pytest.approx(123.5, abs=0.1)
    assert round(c.k_factor(*SW41)) == 123  # manual says 124: radii are rounded to 0.1 mm
    assert c.k_factor(*SW41) == pytest.approx(124, rel=0.01)


def test_k_factor_type70ti_matches_manual():
    assert c.k_factor(*TYPE70) == pytest.approx(43.6, abs=0.1)
    assert c.k_factor(*TYPE70) == pytest.approx(44, rel=0.01)


def test_k_factor_is_unit_free_in_radius():
    assert c.k_factor(6.74, 15.31, 41_000) == pytest.approx(c.k_factor(*SW41))


def test_rcf_from_rpm_at_rmax_and_ravg():
    assert c.rcf_from_rpm(41_000, 153.1) == pytest.approx(287_730, rel=1e-4)
    r_avg = c.radius_for("average", 67.4, 153.1)
    assert r_avg == pytest.approx(110.25)
    assert c.rcf_from_rpm(41_000, r_avg) == pytest.approx(207_199, rel=1e-4)
    assert c.rcf_from_rpm(70_000, 91.9) == pytest.approx(503_447, rel=1e-4)


def test_textbook_rcf_example():
    # 1.118e-5 · 10 cm · 10,000² = 11,180 ×g
    assert c.rcf_from_rpm(10_000, 100) == pytest.approx(11_180)


def test_rpm_and_rcf_round_trip():
    rpm = c.rpm_from_rcf(100_000, 110.25)
    assert rpm == pytest.approx(28_484, abs=1)
    assert c.rcf_from_rpm(rpm, 110.25) == pytest.approx(100_000)


def test_radius_basis():
    assert c.radius_for("max", 67.4, 153.1) == 153.1
    with pytest.raises(ValueError):
        c.radius_for("median", 67.4, 153.1)
    with pytest.raises(ValueError):
        c.radius_for("max", 153.1, 67.4)


def test_adjusted_k_at_lower_speed():
    assert c.adjusted_k_factor(124, 41_000, 30_000) == pytest.approx(231.6, abs=0.05)
    # Same as computing k directly at the lower speed.
    assert c.adjusted_k_factor(c.k_factor(*SW41), 41_000, 30_000) == pytest.approx(
        c.k_factor(67.4, 153.1, 30_000)
    )


def test_pelleting_and_equivalent_time():
    assert c.pelleting_time_h(124, 100) == pytest.approx(1.24)
    assert c.equivalent_time(70, 124, 44) == pytest.approx(24.84, abs=0.01)
    assert c.equivalent_time(c.equivalent_time(70, 124, 44), 44, 124) == pytest.approx(70)


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
def test_nonsense_inputs_refused(bad):
    with pytest.raises(ValueError):
        c.rcf_from_rpm(bad, 100)
    with pytest.raises(ValueError):
        c.k_factor(67.4, 153.1, bad)
