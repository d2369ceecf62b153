"""Synthetic instrument exports that follow the verified layouts (INSTRUMENT-FORMATS.md §1, §2).

The golden files in tests/data/instruments/ were written by ``python -m tests.parsers.synth``;
their expected values are asserted exactly in test_nanosight.py / test_zetaview.py. The
builders are also used directly to make variants (other encodings, line endings, locales).
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "instruments"

NTA_GOLDEN = "EXO-000123 SEC F3 2024-03-05 14-22-10-ExperimentSummary.csv"
NTA_AUTOSAMPLER = "plate A1 2023-11-12 09-05-00-ExperimentSummary.csv"
ZV_COMMA = "20240305_0007_EXO-000124_size_488.txt"
ZV_POINT = "20250110_0002_EXO-000125_size_488.txt"
ZV_EMPTY = "20250110_0003_blank_size_488.txt"


def _row(cells: list[object], width: int) -> str:
    text = [str(c) for c in cells]
    return ",".join(text + [""] * max(0, width - len(text)))


def nta_summary(
    *,
    version: str = "3.4",
    videos: list[str],
    concentrations: list[str],
    average: tuple[str, str] | None,
    dilution: str = "Not recorded",
    bins: list[dict[int, int]],
    stats: dict[str, list[str]],
    temperatures: list[str],
    validity: list[str],
    noise: list[str],
    sample_description: str = "",
    experiment_name: str,
    time_captured: str,
    with_average_column: bool = True,
    with_volume_block: bool = False,
    with_diffusion_block: bool = False,
    all_six_blocks: bool = False,
    eol: str = "\r\n",
) -> str:
    """An NTA 3.3/3.4 ExperimentSummary.csv; ``bins`` maps bin index (centre = i + 0.5 nm)
    to particles/mL per video; each video's bins must sum to its concentration."""
    n = len(videos)
    w = n + 1
    created = {
        "3.4": "NTA 3.4 Build 3.4.003",
        "3.3": "NTA 3.3 - Sample Assistant Dev Build 3.3.203",
    }[version]
    lines = [
        "NTA Experiment Summary File,",
        f"Created with {created},",
        ",",
        "[Experiment Details],,",
        f"Software Version,{created},",
        f"Experiment Name,{experiment_name},",
        "Operator Name,AB,",
        f"Time Captured,{time_captured},",
        f"Sample Description,{sample_description},",
        "Pre-treatment,SEC fraction 3,",
        "Diluent,PBS,",
        "Remarks,,",
        ",,",
        ",,,,,",
        _row(["Filename:", *videos], w) + ",",
    ]
    if version == "3.4":
        lines.append(_row(["Processed", *["Yes"] * n], w) + ",")
        lines.append("")
    else:
        lines.append(",,,,,,")
    per_video = lambda label, values: _row([label, *values], w) + ","  # noqa: E731
    lines += [
        "[Conditions]" + "," * (w - 1),
        per_video("Temperature/C", temperatures),
        per_video("Viscosity/cP", ["0.890020"] * n),
        per_video("Camera Type", ["sCMOS"] * n),
        per_video("Laser Type", ["Blue488"] * n),
        per_video("Camera Level", ["14"] * n),
        per_video("Slider Shutter", ["1206"] * n),
        per_video("Slider Gain", ["366"] * n),
        per_video("Shutter/ms", ["30.150000"] * n),
        per_video("Camera Histogram Upper Limit", ["3294"] * n),
        per_video("Camera Histogram Lower Limit", ["0"] * n),
        per_video("Frame rate/fps", ["24.982500"] * n),
        per_video("Syringe Pump Speed/AU", ["100"] * n),
        "," * w,
        "[Settings]" + "," * (w - 1),
        per_video("Detection Threshold", ["5"] * n),
        per_video("Max Jump Mode", ["Auto"] * n),
        per_video("Max Jump Distance", ["15.0000"] * n),
        per_video("Blur", ["Auto"] * n),
        per_video("Min Track Length", ["Auto"] * n),
        per_video("First frame", ["0"] * n),
        per_video("Total frames analysed", ["1498"] * n),
        "," * w,
        "[Exclusion Regions]",
        "No Exclusion Regions Used" + "," * w,
        "",
        "[Results]" + "," * n + ",Average,Standard Error,",
        per_video("Dilution factor (concentrations adjusted for this factor)", [dilution] * n)
        + ",,",
        _row(["Concentration (Particles / ml)", *concentrations, *(average or ("", ""))], w + 2)
        + ",",
        per_video("Concentration Upgrade?", ["Yes"] * n) + ",,",
        per_video("Particles per frame", ["40.1"] * n) + "40.1,0.0,",
        per_video("Completed tracks", ["2500"] * n) + ",,",
        "," * (w + 2),
        "[Concentration Warnings]",
        per_video("Validity of concentration measurement", validity),
        per_video("Completed Tracks", ["OK"] * n),
        per_video("Particles per frame", ["OK"] * n),
        per_video("Noise level", noise),
        "",
        "[Information]",
        per_video("Completed Tracks", ["OK"] * n),
        per_video("Concentration", ["OK"] * n),
        per_video("Noise level", noise),
        per_video("Vibration detected", ["No"] * n),
        per_video("Vibration correction applied", ["Yes"] * n),
        per_video("Errors (1)", [""] * n),
        "",
        "[Data Included],",
        "Size distribution - Number weighting - With Percentiles,",
    ]
    if with_volume_block:
        lines.append("Size distribution - Volume weighting,")
    diffusion = ["Number", "Surface area", "Volume"] if all_six_blocks else ["Number"]
    if with_diffusion_block or all_six_blocks:
        for weighting in diffusion:
            lines.append(f"Diffusion distribution - {weighting} weighting - With Percentiles,")
    lines += [",", "[Size Data],,"]
    blocks = [("Number", "Concentration (particles / ml)", "Concentration average")]
    if all_six_blocks:
        blocks.append(
            ("Surface Area", "Surface area conc. (nm\u00b2 / ml)", "Surface area average")
        )
    if with_volume_block or all_six_blocks:
        blocks.append(("Volume", "Volume conc. (nm\u00b3 / ml)", "Volume average"))
    for weighting, column, average_column in blocks:
        lines += [
            "Analysis Method,FTLA,",
            f"Weighting,{weighting},",
            _row(["Filename", *videos, "Average", "Standard Error"], 0) + ",",
        ]
        for label in ("Mean", "Mode", "SD", "D10", "D50", "D90"):
            lines.append(_row([label, *stats[label]], 0) + ",")
        lines += ["Valid Tracks" + ",2000.0" * n + ",,,", "Graph Data,"]
        header = ["Bin centre (nm)", *[column] * n]
        if with_average_column:
            header += [average_column, "Standard Error"]
        lines.append(",".join(header) + ",")
        for i in range(1000):
            values = [b.get(i, 0) for b in bins]
            row = [f"{i + 0.5:.1f}", *values]
            if with_average_column:
                mean = sum(values) / n
                row += [f"{mean:.0f}", "0"]
            lines.append(",".join(map(str, row)) + ",")
        lines.append("")
        lines.append(_row(["Percentile", *["Size (nm)"] * n], 0) + ",")
        for p in range(101):
            lines.append(_row([p, *[f"{60 + p:.1f}"] * n], 0) + ",")
        lines.append("," * w)
    if with_diffusion_block or all_six_blocks:
        lines.append("[Diffusion Coefficient Data],,")
    for weighting in diffusion if with_diffusion_block or all_six_blocks else []:
        lines += [
            "Analysis Method,FTLA,",
            f"Weighting,{weighting.title()},",
            _row(["Filename", *videos, "Average", "Standard Error"], 0) + ",",
            _row(["Mean", *["440.0"] * n, "440.0", "0.0"], 0) + ",",
            "Graph Data,",
            ",".join(["Bin centre (E4 nm\u00b2/s)", *["Concentration (particles / ml)"] * n]) + ",",
        ]
        for i in range(1000):
            lines.append(",".join([f"{2 + 4 * i:.1f}", *["0"] * n]) + ",")
        lines.append("")
        lines.append(_row(["Percentile", *["Diffusion Coefficient (E4 nm\u00b2/s)"] * n], 0) + ",")
        for p in range(101):
            lines.append(_row([p, *[f"{400 + p:.1f}"] * n], 0) + ",")
        lines.append("," * w)
    return eol.join(lines) + eol


def golden_nta(*, with_diffusion_block: bool = False, all_six_blocks: bool = False) -> bytes:
    """NTA 3.4, three videos, dilution 1.00e+02 recorded (values already adjusted), a
    volume block with nm³ (so cp1252), CRLF, a noise warning on video 2."""
    bins = [
        {99: 120_000_000, 100: 90_000_000, 101: 24_000_000},  # 2.34e+08
        {99: 100_000_000, 100: 100_000_000, 101: 20_000_000},  # 2.20e+08
        {98: 50_000_000, 99: 120_000_000, 100: 80_000_000},  # 2.50e+08
    ]
    text = nta_summary(
        version="3.4",
        videos=[f"EXO-000123 SEC F3 2024-03-05 {t}" for t in ("14-22-31", "14-23-44", "14-24-57")],
        concentrations=["2.34e+08", "2.20e+08", "2.50e+08"],
        average=("2.35e+08", "8.67e+06"),
        dilution="1.00e+02",
        bins=bins,
        stats={
            "Mean": ["100.1", "100.6", "99.7", "100.1", "0.3"],
            "Mode": ["99.5", "100.5", "99.5", "99.8", "0.3"],
            "SD": ["0.7", "0.6", "0.7", "0.7", "0.0"],
            "D10": ["99.2", "99.3", "98.6", "99.0", "0.2"],
            "D50": ["99.9", "100.0", "99.6", "99.8", "0.1"],
            "D90": ["100.8", "101.0", "100.4", "100.7", "0.2"],
        },
        temperatures=["24.914", "25.002", "25.090"],
        validity=["OK", "Be cautious of data due to noise", "OK"],
        noise=["No", "Noise detected", "No"],
        sample_description="EXO-000123",
        experiment_name="EXO-000123 SEC F3 2024-03-05 14-22-10.nano",
        time_captured="14:22:10  05/03/2024",
        with_volume_block=True,
        with_diffusion_block=with_diffusion_block,
        all_six_blocks=all_six_blocks,
    )
    return text.encode("cp1252")


def autosampler_nta() -> bytes:
    """NTA 3.3 Sample Assistant layout: two videos, dilution not recorded, no
    "Concentration average" graph column, no Average in [Results], LF, pure ASCII."""
    text = nta_summary(
        version="3.3",
        videos=["plate A1 2023-11-12 09-05-20", "plate A1 2023-11-12 09-06-33"],
        concentrations=["1.50e+09", "1.70e+09"],
        average=None,
        bins=[{150: 1_000_000_000, 151: 500_000_000}, {150: 900_000_000, 152: 800_000_000}],
        stats={
            "Mean": ["150.8", "151.4", "151.1", "0.3"],
            "Mode": ["150.5", "150.5", "150.5", "0.0"],
            "SD": ["0.5", "1.0", "0.8", "0.2"],
            "D10": ["150.1", "150.1", "150.1", "0.0"],
            "D50": ["150.8", "151.2", "151.0", "0.2"],
            "D90": ["151.5", "152.5", "152.0", "0.5"],
        },
        temperatures=["21.500", "21.600"],
        validity=["OK", "OK"],
        noise=["No", "No"],
        sample_description="",
        experiment_name="plate A1 2023-11-12 09-05-00.nano",
        time_captured="09:05:00  12/11/2023",
        with_average_column=False,
        eol="\n",
    )
    return text.encode("ascii")


# -- ZetaView ---------------------------------------------------------------------------------


def _zv_number(value: float, decimal: str) -> str:
    """ZetaView's 4-significant-digit notation: 1.750E+1, -1.000E+0, 9.999E-2."""
    mantissa, exp = f"{value:.3E}".split("E")
    digits = exp[1:].lstrip("0") or "0"
    return f"{mantissa}E{exp[0]}{digits}".replace(".", decimal)


def _zv_fixed(value: float, decimal: str) -> str:
    return f"{value:.6f}".replace(".", decimal)


def zetaview_size(
    *,
    decimal: str,
    version: str,
    sample: str,
    experiment: str,
    dilution: float,
    numbers: dict[int, int],
    conc_per_particle: float,
    median_d50: float,
    date: str,
    time: str,
    temperature: float,
    space_variant: bool = False,
    cell_check: str = "Very Good",
    eol: str = "\r\n",
) -> str:
    """A ZetaView ``…_size_488.txt``: Key:<TAB>value header, then 1200 linear 5-nm bins,
    the -1 sentinel row, then 200 log bins. ``numbers`` maps linear bin index to traces."""
    f = lambda v: _zv_fixed(v, decimal)  # noqa: E731
    traces = sum(numbers.values())
    avg_particles = traces / 10
    conductivity = (
        f"Conductivity: {f(65)}\tsensed" if space_variant else f"Conductivity:\t{f(14912)}\tsensed"
    )
    lines = [
        f"Original File:\tC:\\ZetaView\\{experiment}_{sample}_size_488.avi\tSection:\t{f(0.1)[:3]} [0]",
        "Operator:\tZetaUser",
        f"Experiment:\t{experiment}",
        "ZetaView S/N:\t21-777",
        "Cell S/N:\t018-020-21-000-001-1",
        f"Software:\tZetaView (version {version})\tAnalyze:\t{version}",
        "SOP:\tEV_488",
        f"Sample:\t{sample}",
        "Electrolyte:\tPBS",
        f"pH:\t{f(7)}\tentered",
        conductivity,
    ]
    if version.startswith("8.06"):
        lines += ["TempControl:\t1", f"SetTemperature:\t{f(25)}"]
    lines += [
        f"Temperature:\t{f(temperature)}\tsensed",
        f"Viscosity:\t{f(0.935602)}",
        f"Date:\t{date}",
        f"Time:\t{time}",
        "General Remarks:\tEV / 488 nm, Zellkulturüberstand",
        "Remarks:\t",
        "Sample Info 1:\tplasma SEC F4",
        "Sample Info 2:\t",
        "Sample Info 3:",
        f"Scattering Intensity:\t{f(33)}",
        "Detected Particles:\t234",
        "Particle Drift Checked:\t1904-01-01 01:00:00",
        "Particle Drift Check Result:\ttoo high",
        "Cell Checked:\t2024-03-05 09:47:06",
        f"Cell Check Result:\t{cell_check}",
        "Type of Measurement:\tSize Distribution",
    ]
    if version.startswith("8.06"):
        lines.append("Positions:\t11")
    lines += [
        f"Microscope Position:\t{f(0.100001)}",
        f"Number of Traces:\t{traces}\t(at {f(0.1)})\tAverage Number of Particles:\t"
        f"{f(avg_particles)}\tDilution::\t{f(dilution)}",
    ]
    if version.startswith("8.06"):
        lines.append(f"Concentration Correction Factor:\t{f(1)}")
    lines += [
        "Image Evaluation:",
        "Minimum Brightness:\t30",
        "Minimum Area:\t10",
        "Maximum Area:\t1000",
        "Maximum Brightness:\t255",
        "Tracking Radius2:\t100",
        "Minimum Tracelength:\t15",
        "Begin New Traces:\t1",
        "PSD log Correction:\t0",
        f"Camera:\tFpSec 30 #Cycles 2 FRate {f(30)}",
        f"Sensitivity:\t{f(80)}",
        f"Gain:\t{f(28.8)}",
        f"Shutter:\t{f(100)}",
        "Brightness:\tNaN",
        "Camera Trigger Duration µs:\tShutter Duration",
        f"Laser Wavelength nm:\t{f(488)}",
        "Filter Wavelength nm:\tScatter",
        f"actual Microscope:\t-118322\t(Pos\t{f(0.100001)})",
        f"Micrometer per Pixel:\t{f(0.714)}",
        f"ZP Factor:\t{f(13.231712)} (Smoluchowski)",
        f"Results (Pos {f(0.100001)}):",
        f"Median Number (D50):\t{f(median_d50)}",
        f"Median Concentration (D50):\t{f(median_d50)}",
        f"Median Volume (D50):\t{f(median_d50 + 20)}",
        "Size Distribution",
        "Size / nm\tNumber\tConcentration / cm-3\tVolume / nm^3\tArea / nm^2",
    ]
    z = lambda v: _zv_number(v, decimal)  # noqa: E731
    if traces:
        for i in range(1200):
            centre = 2.5 + 5 * i
            count = numbers.get(i, 0)
            volume = count * 3.14159 / 6 * centre**3
            area = count * 3.14159 * centre**2
            lines.append(
                "\t".join([z(centre), z(count), z(count * conc_per_particle), z(volume), z(area)])
            )
    lines.append("\t".join([z(-1), z(-1), z(-1), z(-1), z(0)]))
    if traces:
        for i in range(200):
            centre = 4.683 * (6025 / 4.683) ** (i / 199)
            lines.append("\t".join([z(centre), z(0), z(0), z(0), z(0)]))
    else:
        lines.append("\t".join([z(-1), z(-1), z(-1), z(-1), z(0)]))
    return eol.join(lines) + eol


def golden_zetaview_comma() -> bytes:
    """8.05.16 SP3, decimal comma, latin-1 (µ, ü), CRLF, dilution 5000."""
    text = zetaview_size(
        decimal=",",
        version="8.05.16 SP3",
        sample="EXO-000124",
        experiment="20240305_0007",
        dilution=5000,
        numbers={17: 10, 18: 30, 19: 40, 20: 15, 21: 5},  # centres 87.5 … 107.5 nm
        conc_per_particle=3.855e4,
        median_d50=97.5,
        date="2024-03-05",
        time="10:31:11",
        temperature=23.27,
    )
    return text.encode("latin-1")


def golden_zetaview_point() -> bytes:
    """8.06.01 SP1, decimal point, a space instead of a tab after "Conductivity:",
    TempControl/Positions keys, LF."""
    text = zetaview_size(
        decimal=".",
        version="8.06.01 SP1",
        sample="EXO-000125",
        experiment="20250110_0002",
        dilution=1000,
        numbers={10: 4, 11: 8, 12: 20, 13: 8},  # 52.5 … 67.5 nm
        conc_per_particle=4.0e4,
        median_d50=62.5,
        date="2025-01-10",
        time="16:02:45",
        temperature=25.01,
        space_variant=True,
        eol="\n",
    )
    return text.encode("cp1252")


def empty_zetaview() -> bytes:
    """A failed 8.06 measurement: 0 traces and only the two sentinel rows."""
    text = zetaview_size(
        decimal=".",
        version="8.06.01 SP1",
        sample="",
        experiment="20250110_0003",
        dilution=1000,
        numbers={},
        conc_per_particle=4.0e4,
        median_d50=0,
        date="2025-01-10",
        time="16:10:00",
        temperature=25.0,
        space_variant=True,
    )
    return text.encode("cp1252")


GOLDEN = {
    NTA_GOLDEN: golden_nta,
    NTA_AUTOSAMPLER: autosampler_nta,
    ZV_COMMA: golden_zetaview_comma,
    ZV_POINT: golden_zetaview_point,
    ZV_EMPTY: empty_zetaview,
}


def write_golden_files() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, build in GOLDEN.items():
        (DATA_DIR / name).write_bytes(build())


if __name__ == "__main__":
    write_golden_files()
