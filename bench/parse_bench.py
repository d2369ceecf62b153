"""Parse-time benchmark for the instrument parsers (issue 5: an NTA ExperimentSummary in
under 10 ms median on one core). Pure Python, no database.

    .venv/bin/python bench/parse_bench.py            # print and update docs/benchmarks.md
    .venv/bin/python bench/parse_bench.py --no-doc   # print only

Files: the project's synthetic exports (tests/data/instruments/) and every real NTA and
ZetaView export in ../shared/instrument-samples/ when that folder is present. Each file is
parsed from bytes (decode + parse + checks, as the Celery task does) after a warm-up; the
process is pinned to one CPU where the OS allows it. Only the "Parsing (issue 5)" section
of docs/benchmarks.md is replaced; the rest of the document is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assays.parsers.base import DETECT_BYTES  # noqa: E402
from assays.parsers.registry import detect_format, get_parser  # noqa: E402
from tests.parsers import synth  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
OUT = ROOT / "bench" / "out"
SAMPLES = ROOT.parent / "shared" / "instrument-samples"
SECTION = "## Parsing (issue 5)"
START, END = "<!-- parse-bench:start -->", "<!-- parse-bench:end -->"
TARGET_MS = 10.0


def _inputs() -> list[tuple[str, str, bytes]]:
    """(label, file name, bytes) for every file to time."""
    files = [
        (
            "synthetic NTA 3.4, 3 videos + volume block (golden)",
            synth.NTA_GOLDEN,
            synth.golden_nta(),
        ),
        (
            "synthetic NTA 3.4, + diffusion block",
            synth.NTA_GOLDEN,
            synth.golden_nta(with_diffusion_block=True),
        ),
        (
            "synthetic NTA 3.4, all six distributions (size + diffusion × 3 weightings)",
            synth.NTA_GOLDEN,
            synth.golden_nta(all_six_blocks=True),
        ),
        ("synthetic NTA 3.3 autosampler, 2 videos", synth.NTA_AUTOSAMPLER, synth.autosampler_nta()),
        ("synthetic ZetaView 8.05, decimal comma", synth.ZV_COMMA, synth.golden_zetaview_comma()),
        ("synthetic ZetaView 8.06, decimal point", synth.ZV_POINT, synth.golden_zetaview_point()),
    ]
    for folder in ("nta-nanosight", "zetaview"):
        for path in sorted((SAMPLES / folder).glob("*")) if (SAMPLES / folder).is_dir() else []:
            files.append((f"real: {folder}/{path.name}", path.name, path.read_bytes()))
    return files


def _pin_one_core() -> str:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return "pinned to one CPU (sched_setaffinity)"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity); single-threaded anyway"


def _time(name: str, data: bytes, runs: int) -> dict:
    key = detect_format(name, data[:DETECT_BYTES])
    if key is None:
        raise SystemExit(f"{name}: format not recognised")
    parser = get_parser(key)
    for _ in range(max(5, runs // 10)):
        parser.parse(data, name)
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        parser.parse(data, name)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    detect = []
    for _ in range(200):
        start = time.perf_counter_ns()
        detect_format(name, data[:DETECT_BYTES])
        detect.append((time.perf_counter_ns() - start) / 1e6)
    return {
        "format": key,
        "bytes": len(data),
        "median_ms": statistics.median(samples),
        "p95_ms": p95,
        "detect_median_ms": statistics.median(detect),
    }


def render(results: list[tuple[str, dict]], pinning: str, runs: int) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nta = [r for _, r in results if r["format"] == "nta_nanosight"]
    worst = max(r["median_ms"] for r in nta)
    lines = [
        SECTION,
        "",
        f"Measured {now} by `bench/parse_bench.py` ({cpu}, Python {platform.python_version()},"
        f" {pinning}; load average {os.getloadavg()[0]:.1f} at the start, so p95 includes"
        " other work on the machine). Each file is parsed from its bytes"
        f" {runs} times after a warm-up: decoding,"
        " the section reader, number parsing and the consistency checks (bin sums), exactly what"
        " the processing task calls. Re-run: `.venv/bin/python bench/parse_bench.py`.",
        "",
        "| File | Format | Size | Median | p95 | Detect |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, r in results:
        lines.append(
            f"| {label} | {r['format']} | {r['bytes'] / 1024:.1f} KiB | {r['median_ms']:.2f} ms"
            f" | {r['p95_ms']:.2f} ms | {r['detect_median_ms'] * 1000:.0f} µs |"
        )
    verdict = "**met**" if worst < TARGET_MS else "**not met**"
    lines += [
        "",
        f"Target: an NTA ExperimentSummary in under {TARGET_MS:.0f} ms median on one core."
        f" Slowest NTA file {worst:.2f} ms → {verdict}.",
        "",
        "How: one pass over the decoded text with `csv.reader` and a small state machine"
        " (section, weighting block, table); only the number-weighted size table is converted"
        " to floats (other distribution tables are counted for the truncation check, their"
        " statistics kept); numbers go through `float()` directly and only fall back to the"
        " locale-aware path (decimal commas, thousands separators) when that fails.",
        "",
    ]
    return "\n".join(lines)


def update_doc(section: str) -> None:
    """Replace this script's block (between its own markers) or append it; other sections
    and other scripts' markers are never touched."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{START}\n{section.strip()}\n{END}"
    marked = re.compile(rf"{re.escape(START)}\n.*?{re.escape(END)}", re.S)
    # Before markers existed: the bare heading up to the next heading or comment.
    bare = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |^<!--|\Z)", re.S | re.M)
    if marked.search(text):
        text = marked.sub(lambda _: block, text)
    elif bare.search(text):
        text = bare.sub(lambda _: block + "\n\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOC.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()
    pinning = _pin_one_core()
    results = []
    for label, name, data in _inputs():
        result = _time(name, data, args.runs)
        results.append((label, result))
        print(
            f"{label:70} {result['median_ms']:7.2f} ms median {result['p95_ms']:7.2f} ms p95",
            flush=True,
        )
    section = render(results, pinning, args.runs)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "parse_bench.json").write_text(json.dumps(results, indent=2))
    if not args.no_doc:
        update_doc(section)
        print(f"updated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
