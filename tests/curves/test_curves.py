"""Standard-curve fitting: known parameters recovered, exact inverse, clear refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays import curves
from assays.curves import CurveError, fit_standard_curve, significant

LEVELS = [0, 25, 125, 250, 500, 750, 1000, 1500, 2000]
# SkanIt's exported 4PL (INSTRUMENT-FORMATS §6.3), concentrations in µg/mL.
SKANIT = {"a": -0.0678141, "b": 0.78981, "c": 0.748878, "d": 2.89758}
SKANIT_LEVELS = [0, 0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8]


def four_pl(x, a, b, c, d):
    return d + (a - d) / (1 + (np.asarray(x, dtype=float) / c) ** b)


def duplicate(levels):
    return [level for level in levels for _ in range(2)]


# --- Linear ---------------------------------------------------------------------------------


def test_linear_recovers_gen5_bca_line_exactly():
    # Gen5 mock BCA: Y = 0.00168·X − 0.000723, R² = 1.
    x = duplicate(LEVELS)
    y = [0.00168 * v - 0.000723 for v in x]

    curve = fit_standard_curve(x, y, "linear")

    assert curve.model == "linear"
    assert curve.params["slope"] == pytest.approx(0.00168, rel=1e-12)
    assert curve.params["intercept"] == pytest.approx(-0.000723, rel=1e-9)
    assert curve.r_squared == pytest.approx(1.0, abs=1e-12)
    assert curve.n_points == 18
    assert curve.describe() == "y = 0.001680·x − 0.0007230"
    assert curve.increasing


def test_linear_with_noise_stays_close_and_r_squared_drops_below_one():
    rng = np.random.default_rng(20240305)
    x = np.array(duplicate(LEVELS), dtype=float)
    y = 0.05 + 0.001 * x + rng.normal(0, 0.01, len(x))

    curve = fit_standard_curve(x, y, "linear")

    assert curve.params["slope"] == pytest.approx(0.001, rel=0.02)
    assert curve.params["intercept"] == pytest.approx(0.05, abs=0.01)
    assert 0.99 < curve.r_squared < 1.0


def test_linear_least_squares_matches_numpy_polyfit():
    x = [0, 0, 50, 50, 100, 100, 200]
    y = [0.01, 0.03, 0.2, 0.24, 0.41, 0.39, 0.75]

    curve = fit_standard_curve(x, y, "linear")

    slope, intercept = np.polyfit(x, y, 1)
    assert curve.params["slope"] == pytest.approx(slope, rel=1e-12)
    assert curve.params["intercept"] == pytest.approx(intercept, rel=1e-12)
    fitted = np.polyval([slope, intercept], x)
    r2 = 1 - np.sum((np.array(y) - fitted) ** 2) / np.sum((np.array(y) - np.mean(y)) ** 2)
    assert curve.r_squared == pytest.approx(r2, rel=1e-12)


def test_weights_pull_the_line_away_from_a_down_weighted_outlier():
    x = [0, 100, 200, 300, 400]
    y = [0.0, 0.1, 0.2, 0.7, 0.4]  # the 300 µg/mL well is a pipetting error

    plain = fit_standard_curve(x, y, "linear")
    weighted = fit_standard_curve(x, y, "linear", weights=[1, 1, 1, 1e-9, 1])

    assert plain.params["slope"] == pytest.approx(0.0014)
    assert weighted.params["slope"] == pytest.approx(0.001, rel=1e-6)
    assert weighted.weighted and not plain.weighted


def test_linear_inverse_round_trips_and_extrapolates_without_refusing():
    curve = fit_standard_curve([0, 100, 200, 400], [0.05, 0.15, 0.25, 0.45], "linear")

    for x in (25.0, 100.0, 333.3, 400.0):
        assert curve.concentration_at(curve.response_at(x)) == pytest.approx(x, rel=1e-12)
    # A linear curve can always be inverted; outside the standards it is the caller's flag.
    assert curve.concentration_at(0.65) == pytest.approx(600)
    assert curve.concentration_at(0.0) == pytest.approx(-50)
    assert curve.concentration_at(float("nan")) is None


def test_replicate_levels_expose_mean_sd_and_cv():
    curve = fit_standard_curve(
        [0, 0, 100, 100, 100, 200], [0.0, 0.02, 0.09, 0.10, 0.11, 0.2], "linear"
    )

    zero, hundred, two_hundred = curve.levels
    assert zero.concentration == 0 and zero.responses == (0.0, 0.02)
    assert hundred.mean == pytest.approx(0.10)
    assert hundred.sd == pytest.approx(0.01)
    assert hundred.cv_pct == pytest.approx(10.0)
    assert two_hundred.sd is None and two_hundred.cv_pct is None
    # Replicates are fitted as individual wells, not as level means.
    assert curve.n_points == 6


def test_the_zero_standard_is_fitted_but_not_part_of_the_range():
    curve = fit_standard_curve([0, 0, 25, 25, 2000, 2000], [0, 0, 0.025, 0.025, 2, 2], "linear")

    assert curve.x_range == (25.0, 2000.0)
    assert curve.y_range == pytest.approx((0.025, 2.0))


# --- 4PL ------------------------------------------------------------------------------------


def test_four_pl_recovers_skanit_parameters_from_perfect_data():
    x = duplicate(SKANIT_LEVELS)
    y = four_pl(x, **SKANIT)

    curve = fit_standard_curve(x, y, "4pl")

    for name, value in SKANIT.items():
        assert curve.params[name] == pytest.approx(value, rel=1e-5), name
    assert curve.r_squared == pytest.approx(1.0, abs=1e-10)
    assert curve.describe() == (
        "y = d + (a − d) / (1 + (x/c)^b); a = −0.06781, b = 0.7898, c = 0.7489, d = 2.898"
    )


def test_four_pl_with_noise_recovers_parameters_within_tolerance():
    rng = np.random.default_rng(7)
    truth = {"a": 0.05, "b": 1.3, "c": 600.0, "d": 2.9}
    x = np.array(duplicate(LEVELS), dtype=float)
    y = four_pl(x, **truth) + rng.normal(0, 0.01, len(x))

    curve = fit_standard_curve(x, y, "4pl")

    assert curve.params["a"] == pytest.approx(0.05, abs=0.02)
    assert curve.params["b"] == pytest.approx(1.3, rel=0.1)
    assert curve.params["c"] == pytest.approx(600, rel=0.1)
    assert curve.params["d"] == pytest.approx(2.9, rel=0.05)
    assert 0.999 < curve.r_squared < 1.0


def test_four_pl_inverse_is_the_documented_formula_and_stops_at_the_asymptotes():
    x = duplicate(SKANIT_LEVELS)
    curve = fit_standard_curve(x, four_pl(x, **SKANIT), "4pl")
    a, b, c, d = (curve.params[k] for k in "abcd")

    y = 1.5
    assert curve.concentration_at(y) == pytest.approx(c * ((a - d) / (y - d) - 1) ** (1 / b))
    for conc in (0.0625, 0.3, 1.0, 7.9):
        assert curve.concentration_at(curve.response_at(conc)) == pytest.approx(conc, rel=1e-9)
    assert curve.concentration_at(a) == 0.0
    assert curve.concentration_at(d) is None
    assert curve.concentration_at(d + 0.5) is None
    assert curve.concentration_at(a - 0.1) is None
    with pytest.raises(ValueError):
        curve.response_at(-1)


def test_four_pl_fits_a_falling_curve_too():
    x = duplicate(LEVELS)
    curve = fit_standard_curve(x, four_pl(x, a=2.5, b=1.1, c=400, d=0.1), "4pl")

    assert not curve.increasing
    assert curve.params["c"] == pytest.approx(400, rel=1e-4)
    assert curve.concentration_at(curve.response_at(300)) == pytest.approx(300, rel=1e-8)
    assert curve.y_range[0] < curve.y_range[1]


def test_four_pl_on_near_linear_bca_data_still_fits():
    x = duplicate(LEVELS)
    y = [0.05 + 0.001 * v for v in x]

    curve = fit_standard_curve(x, y, "4pl")

    assert curve.r_squared > 0.99999
    assert curve.concentration_at(0.55) == pytest.approx(500, rel=0.01)


# --- Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "model", "message"),
    [
        ([100, 100, 100], [0.1, 0.11, 0.1], "linear", "needs at least 2 different standard"),
        ([0, 1, 2], [0, 1, 2], "4pl", "A 4PL curve needs at least 4 different standard "),
        ([0, 1, 2], [0.0, float("nan"), 2.0], "linear", "not a finite number"),
        ([0, 1, float("inf")], [0.0, 1.0, 2.0], "linear", "not a finite number"),
        ([0, -1, 2], [0.0, 1.0, 2.0], "linear", "cannot be negative"),
        ([0, 1, 2], [0.5, 0.5, 0.5], "linear", "all give the same response"),
        ([0, 1, 2, 3, 4], [0.0, 1.0, 2.0, 1.0, 0.0], "linear", "do not rise steadily"),
        ([0, 1, 2], [0.0, 1.0], "linear", "3 standard concentrations but 2 responses"),
        ([0, 1], [0.0, 1.0], "cubic", "Unknown curve model 'cubic'"),
        ([0, 1], ["zero", 1.0], "linear", "must be numbers"),
    ],
)
def test_unusable_standards_raise_curve_error_with_a_clear_message(x, y, model, message):
    with pytest.raises(CurveError) as caught:
        fit_standard_curve(x, y, model)

    assert message in caught.value.message
    assert str(caught.value) == caught.value.message


def test_a_fit_lost_in_the_noise_is_flat():
    # Rising on average, but the rise is smaller than the scatter between the wells.
    x = [0, 0, 100, 100, 200, 200, 300, 300]
    y = [0.10, 0.20, 0.11, 0.21, 0.12, 0.22, 0.125, 0.225]

    with pytest.raises(CurveError, match="flat"):
        fit_standard_curve(x, y, "linear")


@pytest.mark.parametrize("weights", [[1, 1, 0], [1, 1, -1], [1, float("nan"), 1], [1, 1]])
def test_bad_weights_are_refused(weights):
    with pytest.raises(CurveError, match="weight"):
        fit_standard_curve([0, 1, 2], [0, 1, 2], "linear", weights=weights)


def test_a_four_pl_that_does_not_converge_says_so(monkeypatch):
    def never_converges(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found: maxfev reached")

    monkeypatch.setattr(curves.optimize, "curve_fit", never_converges)
    x = duplicate(LEVELS)

    with pytest.raises(CurveError) as caught:
        fit_standard_curve(x, four_pl(x, 0.05, 1.3, 600, 2.9), "4pl")

    assert caught.value.message.startswith("The 4PL curve did not converge")
    assert "linear model" in caught.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.00168, "0.001680"),
        (-0.0678141, "−0.06781"),
        (2000, "2000"),
        (202.04, "202.0"),
        (1.943e5, "1.943 × 10⁵"),
        (-3e-5, "−3.000 × 10⁻⁵"),
    ],
)
def test_four_significant_figures(value, text):
    assert significant(value) == text


# --- Properties -----------------------------------------------------------------------------

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def monotone_four_pl(draw):
    a = draw(st.floats(-0.2, 0.5))
    span = draw(st.floats(0.05, 4.0)) * draw(st.sampled_from([1, -1]))
    b = draw(st.floats(0.5, 4.0))
    top = draw(st.sampled_from([1.0, 10.0, 2000.0, 1e5]))
    n_levels = draw(st.integers(4, 9))
    levels = [0.0, *sorted(top / 2**i for i in range(n_levels - 1))]
    c = top * draw(st.floats(0.02, 2.0))
    replicates = draw(st.integers(1, 3))
    noise = draw(st.sampled_from([0.0, 0.001, 0.02, 0.1])) * abs(span)
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.array([v for v in levels for _ in range(replicates)])
    y = four_pl(x, a, b, c, a + span) + np.random.default_rng(seed).normal(0, noise, len(x))
    return x.tolist(), y.tolist()


def _round_trips(curve: curves.StandardCurve) -> None:
    low, high = curve.x_range
    scale = max(abs(v) for v in curve.params.values())
    for fraction in (0.0, 0.37, 1.0):
        x = low + fraction * (high - low)
        y = curve.response_at(x)
        back = curve.concentration_at(y)
        if back is None:
            # Only a response that rounding pushed onto an asymptote has no concentration.
            a, d = curve.params["a"], curve.params["d"]
            assert not (min(a, d) < y < max(a, d))
            continue
        assert math.isclose(back, x, rel_tol=1e-6) or math.isclose(
            curve.response_at(back), y, rel_tol=0, abs_tol=1e-12 * scale
        )


@PROPERTY
@given(monotone_four_pl(), st.sampled_from(["4pl", "linear"]))
def test_monotone_data_fits_or_raises_curve_error_and_inverts_inside_the_range(data, model):
    x, y = data
    try:
        curve = fit_standard_curve(x, y, model)
    except CurveError as exc:
        assert exc.message
        return
    assert curve.model == model
    assert math.isfinite(curve.r_squared)
    assert curve.r_squared <= 1.0 + 1e-12
    if model == "4pl":
        assert curve.params["b"] > 0 and curve.params["c"] > 0
        _round_trips(curve)
    else:
        low, high = curve.x_range
        for x_value in (low, (low + high) / 2, high):
            back = curve.concentration_at(curve.response_at(x_value))
            assert back == pytest.approx(x_value, rel=1e-6, abs=1e-9 * high)


ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-10, 3000),
    st.sampled_from([0.0, 25.0, 2000.0]),
)


@PROPERTY
@given(
    st.lists(st.tuples(ANY_FLOAT, ANY_FLOAT), min_size=0, max_size=20),
    st.sampled_from(["4pl", "linear", "4PL", " Linear ", "quadratic"]),
)
def test_any_numbers_fit_or_raise_curve_error_never_anything_else(pairs, model):
    x = [p[0] for p in pairs]
    y = [p[1] for p in pairs]
    try:
        curve = fit_standard_curve(x, y, model)
    except CurveError as exc:
        assert exc.message
        return
    assert math.isfinite(curve.r_squared)
    assert all(math.isfinite(v) for v in curve.params.values())
    assert curve.x_range[0] > 0
