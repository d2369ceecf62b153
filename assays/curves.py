"""Standard curves for plate assays (BCA, micro-BCA, Bradford, Lowry, Qubit): fit, invert, describe.

Pure numbers in, a frozen ``StandardCurve`` out; no database. Two models:

* ``"linear"``: y = intercept + slope·x by (optionally weighted) least squares (describe()
  prints it as "y = slope·x + intercept", like Gen5). Invertible everywhere, so a
  response outside the standards still gives a number; the caller flags it (see ``x_range``).
* ``"4pl"``: y = d + (a − d) / (1 + (x/c)^b), b > 0, c > 0, the SkanIt/Gen5 form. a is the
  response at zero, d the plateau; the inverse exists only for responses between them.

Replicate standards (several wells at one concentration) are fitted as individual points, so a
level with more wells weighs more and R² reflects the scatter between replicates; ``levels``
gives each concentration's mean and CV.

**Range of the standards.** Every standard is fitted, the zero standard included (it anchors
the low end of the curve). ``x_range`` however runs from the lowest *non-zero* standard to the
highest: a response between the blank and the first real standard is not distinguishable from
the blank with any confidence, so it counts as below the curve, the way plate-reader software
reports "<LLOQ". ``y_range`` is the fitted response at both ends of ``x_range``.

Anything that makes a curve meaningless raises ``CurveError`` with a message meant for the
person at the bench.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

MODELS = ("linear", "4pl")
RESPONSE_PARAMS = ("intercept", "a", "d")  # in response units, unlike slope, b and c
MIN_LEVELS = {"linear": 2, "4pl": 4}
# A curve whose rise over the standards is within this many residual SDs is noise, not a curve.
FLAT_NOISE_FACTOR = 2.0
# Below this rank correlation between concentration and mean response the standards do not
# rise (or fall) steadily, e.g. wells swapped or a hook effect; one swapped neighbour pair in
# six levels still gives ρ ≈ 0.94.
MIN_RANK_CORRELATION = 0.5
# A 4PL start that leaves less than this share of the variance unexplained (R² ≥ 0.999) is
# kept without trying the other starting points.
GOOD_ENOUGH_UNEXPLAINED = 1e-3
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class CurveError(ValueError):
    """The standards cannot give a usable curve; ``message`` is meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StandardLevel:
    """One nominal concentration of the standards and the responses measured for it."""

    concentration: float
    responses: tuple[float, ...]
    mean: float
    sd: float | None  # None for a single well
    cv_pct: float | None  # None for a single well or a mean of zero


@dataclass(frozen=True)
class StandardCurve:
    """A fitted standard curve. ``params`` are {"intercept", "slope"} for linear and
    {"a", "b", "c", "d"} for 4PL (same letters as SkanIt's export)."""

    model: str
    params: dict[str, float]
    r_squared: float
    n_points: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    levels: tuple[StandardLevel, ...] = ()
    weighted: bool = False

    @property
    def increasing(self) -> bool:
        """True when the response rises with concentration (every protein assay)."""
        if self.model == "linear":
            return self.params["slope"] > 0
        return self.params["d"] > self.params["a"]

    def response_at(self, x: float) -> float:
        """The fitted response at concentration ``x`` (≥ 0 for 4PL)."""
        x = float(x)
        p = self.params
        if self.model == "linear":
            return p["intercept"] + p["slope"] * x
        if x < 0:
            raise ValueError("a 4PL curve is defined for concentrations ≥ 0 only")
        return float(_four_pl(np.array([x]), p["a"], p["b"], p["c"], p["d"])[0])

    def concentration_at(self, y: float) -> float | None:
        """The concentration giving response ``y``, or None when no concentration does
        (a 4PL response at or beyond the plateau, or below the zero response). Outside
        ``x_range`` the number is an extrapolation: the caller decides how to flag it."""
        y = float(y)
        if not math.isfinite(y):
            return None
        p = self.params
        if self.model == "linear":
            x = (y - p["intercept"]) / p["slope"]
            return x if math.isfinite(x) else None
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        if y == a:
            return 0.0
        # Strictly between the response at zero (a) and the plateau (d), in either direction.
        if not (min(a, d) < y < max(a, d)):
            return None
        ratio = (a - d) / (y - d)
        try:
            x = c * math.pow(ratio - 1.0, 1.0 / b)
        except (OverflowError, ValueError):
            return None
        return x if math.isfinite(x) else None

    def describe(self) -> str:
        """The fitted formula for people, numbers to 4 significant figures."""
        # Rounding residue (an intercept of 1e-16 on a 0…2 absorbance scale) reads as 0.
        scale = max(abs(v) for v in self.y_range) or 1.0
        p = {
            k: 0.0 if k in RESPONSE_PARAMS and abs(v) <= 1e-9 * scale else v
            for k, v in self.params.items()
        }
        if self.model == "linear":
            slope, intercept = p["slope"], p["intercept"]
            if intercept == 0:
                return f"y = {significant(slope)}·x"
            sign = "−" if intercept < 0 else "+"
            return f"y = {significant(slope)}·x {sign} {significant(abs(intercept))}"
        return "y = d + (a − d) / (1 + (x/c)^b); " + ", ".join(
            f"{name} = {significant(p[name])}" for name in ("a", "b", "c", "d")
        )


def significant(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant figures, with a real minus sign and × 10ⁿ
    instead of e-notation."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:#.{digits}g}"  # "#" keeps trailing zeros: 0.001000 has 4 figures
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa.rstrip('.')} × 10{str(int(exponent)).translate(SUPERSCRIPT)}"
    text = text.rstrip(".")
    return text.replace("-", "−", 1) if text.startswith("-") else text


# --- Fitting --------------------------------------------------------------------------------


def fit_standard_curve(
    concentrations: Sequence[float],
    responses: Sequence[float],
    model: str,
    *,
    weights: Sequence[float] | None = None,
) -> StandardCurve:
    """Fit ``model`` ("linear" or "4pl") to the standards, one point per well.

    ``weights`` (optional, one per point, > 0) multiply the squared residuals, e.g. 1/y² for
    a 4PL over several decades; with weights R² is the weighted R².
    """
    kind = str(model).strip().lower()
    if kind not in MODELS:
        raise CurveError(f"Unknown curve model {model!r}: choose linear or 4PL.")
    # Absurd magnitudes (1e300) overflow to inf/nan; the finiteness checks catch that, so
    # numpy's warnings would only be noise.
    with np.errstate(all="ignore"):
        return _fit(kind, *_checked(concentrations, responses, weights))


def _fit(kind: str, x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> StandardCurve:
    levels = _levels(x, y)
    needed = MIN_LEVELS[kind]
    if len(levels) < needed:
        raise CurveError(
            f"A {'4PL' if kind == '4pl' else 'linear'} curve needs at least {needed} different "
            f"standard concentrations; the plate has {len(levels)}."
        )
    _check_monotonic(levels)

    if kind == "linear":
        params = _fit_linear(x, y, w)
    else:
        params = _fit_four_pl(x, y, w, levels)
    fitted = _predict(kind, params, x)
    if not (np.all(np.isfinite(fitted)) and all(map(math.isfinite, params.values()))):
        raise CurveError("The fitted curve gives non-finite responses; check the standards.")
    _check_not_flat(kind, params, x, y, fitted, w)
    r_squared = _r_squared(y, fitted, w)
    if not math.isfinite(r_squared):
        raise CurveError("R² of the fit is not a finite number; check the standards.")

    positive = x[x > 0]
    x_range = (float(positive.min()), float(positive.max()))
    ends = _predict(kind, params, np.array(x_range))
    y_range = (float(ends.min()), float(ends.max()))
    return StandardCurve(
        model=kind,
        params={name: float(value) for name, value in params.items()},
        r_squared=r_squared,
        n_points=len(x),
        x_range=x_range,
        y_range=y_range,
        levels=levels,
        weighted=w is not None,
    )


def _checked(
    concentrations: Sequence[float],
    responses: Sequence[float],
    weights: Sequence[float] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        x = np.asarray([float(v) for v in concentrations], dtype=float)
        y = np.asarray([float(v) for v in responses], dtype=float)
        w = None if weights is None else np.asarray([float(v) for v in weights], dtype=float)
    except (TypeError, ValueError) as exc:
        raise CurveError("Standard concentrations and responses must be numbers.") from exc
    if len(x) != len(y):
        raise CurveError(
            f"{len(x)} standard concentrations but {len(y)} responses; they must pair up."
        )
    if w is not None and len(w) != len(x):
        raise CurveError(f"{len(w)} weights for {len(x)} standards; give one weight per well.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise CurveError("A standard concentration or response is not a finite number.")
    if np.any(x < 0):
        raise CurveError("Standard concentrations cannot be negative.")
    if w is not None and not (np.all(np.isfinite(w)) and np.all(w > 0)):
        raise CurveError("Curve weights must be finite and greater than zero.")
    return x, y, w


def _levels(x: np.ndarray, y: np.ndarray) -> tuple[StandardLevel, ...]:
    levels = []
    for conc in sorted(set(x.tolist())):
        values = y[x == conc]
        mean = float(values.mean())
        sd = float(values.std(ddof=1)) if len(values) > 1 else None
        if sd is not None and not math.isfinite(sd):
            sd = None
        cv = sd / abs(mean) * 100 if sd is not None and mean != 0 else None
        levels.append(
            StandardLevel(
                concentration=float(conc),
                responses=tuple(values.tolist()),
                mean=mean,
                sd=sd,
                cv_pct=cv,
            )
        )
    return tuple(levels)


def _check_monotonic(levels: tuple[StandardLevel, ...]) -> None:
    means = np.array([level.mean for level in levels])
    if np.ptp(means) == 0:
        raise CurveError(
            "The standards all give the same response, so no curve can be fitted; "
            "check that the reagent was added and the right wavelength was read."
        )
    if len(levels) < 3:
        return
    rho = stats.pearsonr(stats.rankdata(means), np.arange(len(means))).statistic
    if not math.isfinite(rho) or abs(rho) < MIN_RANK_CORRELATION:
        raise CurveError(
            "The standards' responses do not rise steadily with concentration (ρ = "
            f"{rho:.2f}); check the standard wells and concentrations in the plate map."
        )


def _fit_linear(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> dict[str, float]:
    weights = np.ones_like(x) if w is None else w
    total = weights.sum()
    x_mean = (weights * x).sum() / total
    y_mean = (weights * y).sum() / total
    sxx = (weights * (x - x_mean) ** 2).sum()
    sxy = (weights * (x - x_mean) * (y - y_mean)).sum()
    slope = sxy / sxx  # sxx > 0: there are at least two levels
    return {"intercept": float(y_mean - slope * x_mean), "slope": float(slope)}


def _four_pl(x: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return d + (a - d) / (1.0 + np.power(x / c, b))


def _four_pl_jacobian(x: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    """∂y/∂(a, b, c, d); analytic, because finite differences made every fit several times
    slower and less sure near the bounds."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        u = np.power(x / c, b)
        share = 1.0 / (1.0 + u)
        dy_du = -(a - d) * share**2
        log_ratio = np.where(x > 0, np.log(np.where(x > 0, x, 1.0) / c), 0.0)
        jac = np.column_stack([share, dy_du * u * log_ratio, dy_du * (-b * u / c), 1.0 - share])
    return np.nan_to_num(jac, nan=0.0, posinf=0.0, neginf=0.0)


def _fit_four_pl(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    levels: tuple[StandardLevel, ...],
) -> dict[str, float]:
    # Fit on scaled data (x / highest standard, y to 0…1 over the level means) so the four
    # parameters have similar magnitudes, then scale back.
    x_top = float(x.max())
    means = np.array([level.mean for level in levels])
    y_low, y_span = float(means.min()), float(np.ptp(means))
    xs, ys = x / x_top, (y - y_low) / y_span
    sigma = None if w is None else 1.0 / np.sqrt(w)
    weights = np.ones_like(ys) if w is None else w
    ss_tot = float(np.sum(weights * (ys - np.average(ys, weights=weights)) ** 2))

    level_x = np.array([level.concentration for level in levels]) / x_top
    level_y = (means - y_low) / y_span
    first, last = float(level_y[0]), float(level_y[-1])
    positive = level_x[level_x > 0]
    x_small = float(positive.min())
    lower = np.array([-100.0, 0.05, x_small * 1e-3, -100.0])
    upper = np.array([101.0, 20.0, 1e3, 101.0])

    # The concentration where the response is halfway between the first and last level is
    # a good guess for c; other Hill slopes, plateaus and midpoints are tried only when the
    # first guesses do not fit well (local minima are rare but real with few standards).
    order = np.argsort(level_y)
    c_mid = float(np.interp((first + last) / 2, level_y[order], level_x[order]))
    c_guesses = dict.fromkeys(
        [min(max(c_mid, x_small), 1.0), 1.0, float(np.exp(np.log(positive).mean()))]
    )
    stretch = last - first
    starts = [
        (first, hill, c0, last + extra * stretch)
        for hill in (1.0, 2.0, 0.7)
        for c0 in c_guesses
        for extra in (0.1, 1.0)
    ]

    best: tuple[float, np.ndarray] | None = None
    for start in starts:
        start = np.clip(start, lower + 1e-9, upper - 1e-9)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                popt, _ = optimize.curve_fit(
                    _four_pl,
                    xs,
                    ys,
                    p0=start,
                    sigma=sigma,
                    bounds=(lower, upper),
                    method="trf",
                    jac=_four_pl_jacobian,
                    maxfev=2000,
                )
        except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        cost = float(np.sum(weights * (_four_pl(xs, *popt) - ys) ** 2))
        if not math.isfinite(cost):
            continue
        # Two starts ending at the same minimum make a better one unlikely.
        agrees = best is not None and math.isclose(cost, best[0], rel_tol=1e-6, abs_tol=1e-15)
        if best is None or cost < best[0]:
            best = (cost, popt)
        if agrees or best[0] <= GOOD_ENOUGH_UNEXPLAINED * ss_tot:
            break
    if best is None:
        raise CurveError(
            "The 4PL curve did not converge on these standards; check them, or use the "
            "linear model over the linear part of the range."
        )
    a, b, c, d = best[1]
    return {
        "a": float(a * y_span + y_low),
        "b": float(b),
        "c": float(c * x_top),
        "d": float(d * y_span + y_low),
    }


def _predict(kind: str, params: Mapping[str, float], x: np.ndarray) -> np.ndarray:
    if kind == "linear":
        return params["intercept"] + params["slope"] * x
    return _four_pl(x, params["a"], params["b"], params["c"], params["d"])


def _check_not_flat(
    kind: str,
    params: Mapping[str, float],
    x: np.ndarray,
    y: np.ndarray,
    fitted: np.ndarray,
    w: np.ndarray | None,
) -> None:
    ends = _predict(kind, params, np.array([x.min(), x.max()]))
    rise = float(abs(ends[1] - ends[0]))
    scale = float(np.abs(y).max())
    dof = len(x) - len(params)
    # Weights scaled to average 1, so a down-weighted well does not count as scatter.
    weights = np.ones_like(y) if w is None else w / w.mean()
    residual = float(np.sum(weights * (y - fitted) ** 2))
    noise = math.sqrt(residual / dof) if dof > 0 else 0.0
    if rise <= 1e-9 * scale or rise <= FLAT_NOISE_FACTOR * noise:
        raise CurveError(
            "The fitted curve is flat: the standards' response hardly changes with "
            "concentration compared with the scatter between wells, so no concentration "
            "can be read from it."
        )


def _r_squared(y: np.ndarray, fitted: np.ndarray, w: np.ndarray | None) -> float:
    weights = np.ones_like(y) if w is None else w
    mean = (weights * y).sum() / weights.sum()
    ss_tot = float((weights * (y - mean) ** 2).sum())
    ss_res = float((weights * (y - fitted) ** 2).sum())
    if not ss_tot > 0:  # responses so small their spread underflows: nothing to read
        raise CurveError(
            "The standards' responses are too close to zero to fit a curve; check the "
            "plate read and the wells picked as standards."
        )
    return 1.0 - ss_res / ss_tot
