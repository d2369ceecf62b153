"""A tiny instrument format for the processing tests, so they do not depend on a real
parser's details. Registered in place of the real ones by the ``fake_parsers`` fixture and,
for the worker processes of the fault tests, by tests.processing.worker_app.

Layout (UTF-8, one ``key,value[,value…]`` row per line)::

    FAKE-NTA v1
    Sample Name,EXO-000123 1:1000
    Description,SEC fraction 3
    Dilution,1000
    Concentrations,1.0e9,1.1e9,0.9e9     (particles/mL, dilution applied)
    Mode,95
    Mean,110
    Warnings,Noise detected             (optional)
    Bins,50.5,51.5,52.5                 (optional: then Mean Bins and Video 1.. rows)
    Mean Bins,1e6,2e6,1e6
    Video 1,1e6,2e6,1e6

Test hook (read only here, never by ExoLIMS code): with ``EXOLIMS_TEST_SLOW_PARSE_MARKER``
set to a path that does not exist yet, the first parse creates that file and then sleeps
``EXOLIMS_TEST_SLOW_PARSE_SECONDS`` (default 60): the fault tests use it to kill a worker
mid-parse. A ``Crash,yes`` row makes the parser fail with a non-ParseError (a "parser bug").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from assays.parsers.base import ParseError, ParticleResult, SizeDistribution

MAGIC = b"FAKE-NTA"
# Registry entries for the fake format (registry.PARSERS shape).
FAKE_PARSERS = {"test_nta": "tests.processing.fake_parser:FakeNTAParser"}


class FakeNTAParser:
    format = "test_nta"
    label = "Fake NTA (tests)"
    version = "0.1"

    def detect(self, name: str, head: bytes) -> bool:
        return head.startswith(MAGIC)

    def parse(self, data: bytes, name: str = "") -> ParticleResult:
        _maybe_sleep()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ParseError("the text is not valid UTF-8", line=line) from None
        rows: dict[str, tuple[int, list[str]]] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if number == 1 or not line.strip():
                continue
            key, *values = line.split(",")
            rows[key.strip()] = (number, [value.strip() for value in values])
        if rows.get("Crash", (0, [""]))[1][0] == "yes":
            raise RuntimeError("simulated parser bug")

        def numbers(key: str, *, required: bool = False) -> list[float]:
            if key not in rows:
                if required:
                    raise ParseError("missing row", column=key)
                return []
            number, values = rows[key]
            try:
                return [float(value) for value in values if value]
            except ValueError:
                raise ParseError("not a number", line=number, column=key) from None

        concentrations = numbers("Concentrations", required=True)
        if not concentrations:
            raise ParseError("no concentrations", line=rows["Concentrations"][0])
        distribution = None
        if "Bins" in rows:
            videos = [numbers(key) for key in sorted(rows) if key.startswith("Video ")]
            distribution = SizeDistribution(
                bin_centres_nm=tuple(numbers("Bins")),
                mean=tuple(numbers("Mean Bins")),
                replicates=tuple(tuple(video) for video in videos),
                dilution_corrected=True,
            )
        dilution = numbers("Dilution")
        mode = numbers("Mode")
        mean = numbers("Mean")
        warnings = rows.get("Warnings", (0, []))[1]
        return ParticleResult(
            method="NTA",
            sample_name=",".join(rows.get("Sample Name", (0, []))[1]),
            description=",".join(rows.get("Description", (0, []))[1]),
            software_version="Fake 1.0",
            dilution_factor=dilution[0] if dilution else None,
            concentration_per_ml=sum(concentrations) / len(concentrations),
            replicate_concentrations_per_ml=tuple(concentrations),
            mean_nm=mean[0] if mean else None,
            mode_nm=mode[0] if mode else None,
            settings={"videos": len(concentrations), "temperature_c": 22.0},
            distribution=distribution,
            instrument_warnings=tuple(w for w in warnings if w),
        )


def fake_file(
    *,
    sample: str = "EXO-000001",
    description: str = "",
    concentrations: tuple[float, ...] = (1.0e9, 1.05e9, 0.95e9),
    mode: float = 95.0,
    dilution: float | None = 1000.0,
    warnings: tuple[str, ...] = (),
    bins: bool = True,
    extra: str = "",
) -> bytes:
    lines = [
        "FAKE-NTA v1",
        f"Sample Name,{sample}",
        f"Description,{description}",
        "Concentrations," + ",".join(f"{c:.3e}" for c in concentrations),
        f"Mode,{mode}",
        "Mean,110.0",
    ]
    if dilution is not None:
        lines.append(f"Dilution,{dilution}")
    if warnings:
        lines.append("Warnings," + ",".join(warnings))
    if bins:
        lines.append("Bins," + ",".join(f"{b + 0.5}" for b in range(40, 60)))
        shape = [0.0] * 5 + [1e6, 5e6, 2e7, 3e7, 2e7, 5e6, 1e6] + [0.0] * 8
        lines.append("Mean Bins," + ",".join(str(v) for v in shape))
        for index, _conc in enumerate(concentrations, start=1):
            lines.append(f"Video {index}," + ",".join(str(v * (0.9 + 0.1 * index)) for v in shape))
    if extra:
        lines.append(extra)
    return ("\n".join(lines) + "\n").encode()


def _maybe_sleep() -> None:
    marker = os.environ.get("EXOLIMS_TEST_SLOW_PARSE_MARKER")
    if not marker or Path(marker).exists():
        return
    Path(marker).write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("EXOLIMS_TEST_SLOW_PARSE_SECONDS", "60")))
