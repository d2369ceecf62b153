"""Standard curves and protein quantification. The plate builders live here so the protein and
plot tests share one BCA-like plate whose expected numbers are worked out by hand."""

from __future__ import annotations

from typing import Any

# Pierce BCA standard series (µg/mL), in duplicate in rows A and B, columns 1–9.
BCA_LEVELS = (0, 25, 125, 250, 500, 750, 1000, 1500, 2000)
BLANK_OD = 0.1
SLOPE = 0.001  # OD per µg/mL after blank subtraction


def bca_plate(*, blanks: bool = True) -> tuple[dict[str, float | None], dict[str, dict[str, Any]]]:
    """A full 96-well read and its map. Raw OD = 0.1 + 0.001·µg/mL; the duplicates of each
    standard sit ±0.004 around that, so the least-squares line is exactly OD = 0.001·x after
    subtracting the 0.1 blank, and every sample below can be checked with a pencil."""
    values: dict[str, float | None] = {f"{r}{c}": 0.05 for r in "ABCDEFGH" for c in range(1, 13)}
    plate_map: dict[str, dict[str, Any]] = {}
    for column, level in enumerate(BCA_LEVELS, start=1):
        for row, shift in (("A", 0.004), ("B", -0.004)):
            values[f"{row}{column}"] = BLANK_OD + SLOPE * level + shift
            plate_map[f"{row}{column}"] = {"role": "standard", "concentration": level}
    if blanks:
        values.update({"C1": 0.098, "C2": 0.102})
        plate_map.update({"C1": {"role": "blank"}, "C2": {"role": "blank"}})

    def sample(well: str, od: float | None, key: str, dilution: float | None = None) -> None:
        values[well] = od
        entry: dict[str, Any] = {"role": "sample", "sample": key}
        if dilution is not None:
            entry["dilution"] = dilution
        plate_map[well] = entry

    # EXO-1, 1:2: 250 and 270 µg/mL in the well → 260 → 520 µg/mL.
    sample("D1", 0.35, "EXO-1", 2)
    sample("D2", 0.37, "EXO-1", 2)
    # EXO-3, 1:5, triplicate: 490, 500, 510 → 500 → 2500 µg/mL, CV 2 %.
    sample("D3", 0.59, "EXO-3", 5)
    sample("D4", 0.60, "EXO-3", 5)
    sample("D5", 0.61, "EXO-3", 5)
    # EXO-LOW: 10 and 12 µg/mL, under the 25 µg/mL standard.
    sample("E1", 0.11, "EXO-LOW")
    sample("E2", 0.112, "EXO-LOW")
    # EXO-HIGH: 2200 µg/mL, over the 2000 µg/mL standard.
    sample("E3", 2.3, "EXO-HIGH")
    sample("E4", 2.3, "EXO-HIGH")
    # EXO-CV: 100 and 300 µg/mL, CV 70.7 %.
    sample("F1", 0.2, "EXO-CV")
    sample("F2", 0.4, "EXO-CV")
    # EXO-GAP: one well unread; the other gives 400 µg/mL.
    sample("F3", 0.5, "EXO-GAP")
    sample("F4", None, "EXO-GAP")
    # An empty well with a stray reading must not count anywhere.
    values["H12"] = 3.5
    plate_map["H12"] = {"role": "empty"}
    return values, plate_map
