"""A small, valid NanoSight NTA 3.4 ``ExperimentSummary.csv`` written from the layout in
INSTRUMENT-FORMATS.md §1.2 (comma-separated ``[Section]`` blocks; one column per video,
then Average and Standard Error; 1000 one-nm Graph Data bins that sum to each video's
concentration; a 101-row percentile table)."""

from __future__ import annotations

import math


def _bins(mode_nm: float, width_nm: float, total: float) -> list[int]:
    """1000 integer bins (centres 0.5 … 999.5 nm) of a log-normal-ish peak summing to
    ``total`` (to rounding)."""
    weights = [
        math.exp(-0.5 * ((math.log(i + 0.5) - math.log(mode_nm)) / (width_nm / mode_nm)) ** 2)
        for i in range(1000)
    ]
    scale = total / math.fsum(weights)
    return [round(w * scale) for w in weights]


def experiment_summary(
    *,
    sample: str = "EXO-000001",
    concentrations: tuple[float, ...] = (2.1e8, 2.3e8, 2.2e8, 2.4e8, 2.0e8),
    modes: tuple[float, ...] = (102.0, 98.0, 105.0, 100.0, 97.0),
    warning_on_video: int | None = None,
) -> bytes:
    n = len(concentrations)
    videos = [f"{sample} 2024-03-05 14-2{i}-00" for i in range(n)]
    bins = [_bins(mode, 28.0, conc) for mode, conc in zip(modes, concentrations, strict=True)]
    concs = [sum(b) for b in bins]
    average = sum(concs) / n
    se = (sum((c - average) ** 2 for c in concs) / (n - 1)) ** 0.5 / n**0.5 if n > 1 else 0

    def row(label: str, values: list[object], *extra: object) -> str:
        return ",".join([label, *map(str, values), *map(str, extra)]) + ","

    validity = ["OK"] * n
    if warning_on_video is not None:
        validity[warning_on_video] = "Be cautious of data due to noise"
    mean_mode = sum(modes) / n
    lines = [
        "NTA Experiment Summary File,",
        "Created with NTA 3.4 Build 3.4.003,",
        ",",
        "[Experiment Details],,",
        "Software Version,NTA 3.4 Build 3.4.003,",
        f"Experiment Name,{sample} 2024-03-05 14-20-00.nano,",
        "Operator Name,AB,",
        "Time Captured,14:20:00  05/03/2024,",
        f"Sample Description,{sample},",
        "Pre-treatment,SEC fraction 3,",
        "Diluent,PBS,",
        "Remarks,,",
        ",,",
        row("Filename:", videos),
        row("Processed", ["Yes"] * n),
        "",
        "[Conditions],,,,,,",
        row("Temperature/C", ["25.010"] * n),
        row("Viscosity/cP", ["0.890020"] * n),
        row("Camera Type", ["sCMOS"] * n),
        row("Laser Type", ["Blue488"] * n),
        row("Camera Level", ["14"] * n),
        row("Shutter/ms", ["30.150000"] * n),
        row("Frame rate/fps", ["24.982500"] * n),
        "[Settings],,,,,,",
        row("Detection Threshold", ["5"] * n),
        row("Total frames analysed", ["1498"] * n),
        "[Exclusion Regions]",
        "No Exclusion Regions Used,,,,,,",
        "[Results]" + "," * n + ",Average,Standard Error,",
        row("Dilution factor (concentrations adjusted for this factor)", ["Not recorded"] * n),
        row(
            "Concentration (Particles / ml)",
            [f"{c:.2e}" for c in concs],
            f"{average:.2e}",
            f"{se:.2e}",
        ),
        row("Particles per frame", ["40.1"] * n, "40.1", "0.0"),
        "[Concentration Warnings]",
        row("Validity of concentration measurement", validity),
        "[Information]",
        row("Vibration detected", ["No"] * n),
        "[Data Included],",
        "Size distribution - Number weighting - With Percentiles,",
        "[Size Data],,",
        "Analysis Method,FTLA,",
        "Weighting,Number,",
        row("Filename", videos, "Average", "Standard Error"),
        row("Mean", [f"{m + 12:.1f}" for m in modes], f"{mean_mode + 12:.1f}", "1.0"),
        row("Mode", [f"{m:.1f}" for m in modes], f"{mean_mode:.1f}", "1.0"),
        row("SD", ["30.0"] * n, "30.0", "0.0"),
        row("D10", [f"{m - 30:.1f}" for m in modes], f"{mean_mode - 30:.1f}", "1.0"),
        row("D50", [f"{m + 8:.1f}" for m in modes], f"{mean_mode + 8:.1f}", "1.0"),
        row("D90", [f"{m + 60:.1f}" for m in modes], f"{mean_mode + 60:.1f}", "1.0"),
        row("Valid Tracks", ["2000.0"] * n),
        "Graph Data,",
        ",".join(
            ["Bin centre (nm)"]
            + ["Concentration (particles / ml)"] * n
            + ["Concentration average", "Standard Error"]
        )
        + ",",
    ]
    for i in range(1000):
        values = [b[i] for b in bins]
        lines.append(row(f"{i + 0.5:.1f}", values, f"{sum(values) / n:.0f}", "0"))
    lines.append("")
    lines.append(row("Percentile", ["Size (nm)"] * n))
    for p in range(101):
        lines.append(row(str(p), [f"{40 + p * 2:.1f}"] * n))
    lines.append(",,,,,,")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
