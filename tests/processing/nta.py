"""Synthetic NanoSight NTA 3.4 ExperimentSummary.csv files (layout: shared/formats
INSTRUMENT-FORMATS.md §1.2): distinct bytes per sample name, for the real-parser tests of
processing and for bench/pipeline_bench.py. Each video's 1-nm bins sum to its concentration,
as in real exports."""

from __future__ import annotations

import math


def _row(cells: list[object]) -> str:
    return ",".join(str(cell) for cell in cells) + ","


def nta_summary(
    *,
    sample: str,
    videos: int = 5,
    concentration: float = 2.0e9,
    mode_nm: float = 110.0,
    spread: float = 0.08,
    dilution: str = "Not recorded",
    warning: str = "OK",
) -> bytes:
    """An ExperimentSummary.csv whose ``Sample Description`` is ``sample``."""
    names = [f"{sample.replace(',', ' ')}_{index:02d}" for index in range(videos)]
    concentrations = [
        concentration * (1 + spread * (index - (videos - 1) / 2)) for index in range(videos)
    ]
    sigma = 0.25
    weights = [
        math.exp(-((math.log((b + 0.5) / mode_nm)) ** 2) / (2 * sigma**2)) for b in range(1000)
    ]
    total = sum(weights)
    per_video = [[round(c * w / total) for w in weights] for c in concentrations]
    sums = [sum(bins) for bins in per_video]
    average_bins = [round(sum(column) / videos) for column in zip(*per_video, strict=True)]
    average = sum(sums) / videos
    se = (
        (sum((s - average) ** 2 for s in sums) / (videos - 1)) ** 0.5 / videos**0.5
        if videos > 1
        else 0
    )
    blank = [""] * videos
    lines = [
        "NTA Experiment Summary File,",
        "Created with NTA 3.4 Build 3.4.003,",
        ",",
        "[Experiment Details],,",
        "Software Version,NTA 3.4 Build 3.4.003,",
        f"Experiment Name,{names[0]}.nano,",
        "Operator Name,bench,",
        "Time Captured,14:22:10  05/03/2024,",
        f"Sample Description,{sample.replace(',', ' ')},",
        "Pre-treatment,,",
        "Diluent,PBS,",
        "Remarks,,",
        ",,",
        _row(["Filename:", *names]),
        _row(["Processed", *["Yes"] * videos]),
        "",
        "[Conditions],,",
        _row(["Temperature/C", *["22.000"] * videos]),
        _row(["Viscosity/cP", *["0.952941"] * videos]),
        _row(["Camera Level", *["14"] * videos]),
        _row(["Frame rate/fps", *["24.982500"] * videos]),
        "[Settings],,",
        _row(["Detection Threshold", *["5"] * videos]),
        _row(["Total frames analysed", *["749"] * videos]),
        "[Exclusion Regions]",
        "No Exclusion Regions Used,",
        "",
        _row(["[Results]", *blank, "Average", "Standard Error"]),
        _row(["Dilution factor (concentrations adjusted for this factor)", *[dilution] * videos]),
        _row(
            [
                "Concentration (Particles / ml)",
                *[f"{s:.2e}" for s in sums],
                f"{average:.2e}",
                f"{se:.2e}",
            ]
        ),
        "[Concentration Warnings]",
        _row(["Validity of concentration measurement", *[warning] + ["OK"] * (videos - 1)]),
        "[Information]",
        _row(["Noise level", *["No"] * videos]),
        "",
        "[Data Included],",
        "Size distribution - Number weighting - With Percentiles,",
        ",",
        "[Size Data],,",
        "Analysis Method,FTLA,",
        "Weighting,Number,",
        _row(["Filename", *names, "Average", "Standard Error"]),
        _row(["Mean", *[f"{mode_nm * 1.1:.1f}"] * videos, f"{mode_nm * 1.1:.1f}", "0.5"]),
        _row(["Mode", *[f"{mode_nm:.1f}"] * videos, f"{mode_nm:.1f}", "0.5"]),
        _row(["SD", *["35.0"] * videos, "35.0", "0.5"]),
        _row(["D10", *[f"{mode_nm * 0.75:.1f}"] * videos, f"{mode_nm * 0.75:.1f}", "0.5"]),
        _row(["D50", *[f"{mode_nm * 1.05:.1f}"] * videos, f"{mode_nm * 1.05:.1f}", "0.5"]),
        _row(["D90", *[f"{mode_nm * 1.5:.1f}"] * videos, f"{mode_nm * 1.5:.1f}", "0.5"]),
        _row(["Valid Tracks", *["1900.0"] * videos]),
        "Graph Data,",
        _row(
            [
                "Bin centre (nm)",
                *["Concentration (particles / ml)"] * videos,
                "Concentration average",
                "Standard Error",
            ]
        ),
    ]
    for index in range(1000):
        values = [bins[index] for bins in per_video]
        lines.append(_row([f"{index + 0.5}", *values, average_bins[index], 0]))
    lines.append("")
    lines.append(_row(["Percentile", *["Size (nm)"] * videos]))
    for pct in range(101):
        lines.append(_row([pct, *[f"{mode_nm * (0.5 + pct / 100):.1f}"] * videos]))
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
