"""A synthetic 96-well BCA plate whose readings follow a known straight line, so the µg/mL
the plate map gives can be checked to the digit."""

from __future__ import annotations

INTERCEPT = 0.05  # the blank's absorbance
SLOPE = 0.001  # absorbance per µg/mL
STANDARDS = (0, 125, 250, 500, 750, 1000, 1500, 2000)  # µg/mL, rows A–H, columns 1 and 2


def absorbance(ug_per_ml: float) -> float:
    return INTERCEPT + SLOPE * ug_per_ml


def bca_plate(samples: dict[str, tuple[float, float]]) -> tuple[dict, dict]:
    """Readings and a plate map. ``samples``: tube id → (µg/mL in the tube, dilution); each
    tube gets two wells in columns 4 onwards (A4/B4, C4/D4, …)."""
    values: dict[str, float | None] = {}
    plate_map: dict[str, dict] = {}
    for row, level in zip("ABCDEFGH", STANDARDS, strict=True):
        for column in (1, 2):
            values[f"{row}{column}"] = absorbance(level)
            plate_map[f"{row}{column}"] = {"role": "standard", "concentration": level}
    for well in ("A3", "B3"):
        values[well] = INTERCEPT
        plate_map[well] = {"role": "blank"}
    rows = iter("ABCDEFGH")
    for tube_id, (ug_per_ml, dilution) in samples.items():
        for _replicate in range(2):
            well = f"{next(rows)}4"
            values[well] = absorbance(ug_per_ml / dilution)
            plate_map[well] = {"role": "sample", "sample": str(tube_id), "dilution": dilution}
    return values, plate_map


def flat_plate(tube_id: int) -> tuple[dict, dict]:
    """Standards that all read the same: no curve can be fitted."""
    values, plate_map = bca_plate({tube_id: (600.0, 1.0)})
    for row in "ABCDEFGH":
        for column in (1, 2):
            values[f"{row}{column}"] = 0.5
    return values, plate_map
