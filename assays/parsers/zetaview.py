"""Particle Metrix ZetaView size export ``…_size_<laser>.txt`` (verified: 8.05.14 SP7,
8.05.16 SP3, 8.06.01 SP1).

Layout: a ``Key:<TAB>value`` header (several pairs may share a line, e.g. ``Number of
Traces … Dilution::``; 8.06 sometimes writes a space instead of the tab), then
``Size Distribution`` and one tab table made of two glued tables: 1200 linear 5-nm bins,
a ``-1`` sentinel row, then 200 log-spaced bins. Numbers follow the PC's locale
(``7,000000`` or ``7.000000``); text is cp1252/latin-1 with NULs inside unit strings.

Units and dilution: ``Concentration / cm-3`` is particles/mL of the measured (diluted)
suspension, so the parser multiplies it by ``Dilution::`` for ``concentration_per_ml`` and
for the distribution (``dilution_corrected``). Without a dilution the measured values are
reported and ``dilution_factor`` is None. Size statistics are number-weighted over the
linear table (the file only reports the medians): mean, SD (population), mode (centre of
the fullest bin), D10/D90 by linear interpolation of the cumulative count; ``d50_nm`` is
the instrument's own ``Median Number (D50)`` when given. A measurement with no traces is a
valid file: the result then has no concentration, statistics or distribution.

``settings`` holds canonical keys (``temperature_c``, ``number_of_traces``, ``positions``,
``laser_wavelength_nm``…), every header pair verbatim under ``header`` (unknown keys kept),
trailing qualifiers such as ``sensed`` under ``header_qualifiers``, and
``parser_warnings`` for failed consistency checks (Σ Number ≠ Number of Traces).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import PureWindowsPath
from typing import Any

from ._text import (
    decode_head,
    decode_text,
    norm_key,
    read_or_parse_error,
    safe_fsum,
    scalar,
    split_lines,
    to_float,
)
from .base import ParseError, ParticleResult, SizeDistribution

_LINEAR_BINS = 1200
_LOG_BINS = 200
_NAME = re.compile(r"^\d{8}_\d{4}_(?P<sample>.+?)_(?:size|prof)_\d+", re.IGNORECASE)
_FRAME_RATE = re.compile(r"FRate\s+([0-9.,]+)")
_NEVER_CHECKED_YEAR = 1904  # LabVIEW epoch: "Particle Drift Checked" was never done
_GOOD_CHECKS = {"very good", "good", "ok", ""}
# file key (normalised) -> canonical settings key; numbers are parsed in the file's locale.
_NUMERIC = {
    "ph": "ph",
    "conductivity": "conductivity",
    "temperature": "temperature_c",
    "settemperature": "set_temperature_c",
    "viscosity": "viscosity_cp",
    "scattering intensity": "scattering_intensity",
    "detected particles": "detected_particles",
    "positions": "positions",
    "number of traces": "number_of_traces",
    "average number of particles": "average_particles_per_frame",
    "concentration correction factor": "concentration_correction_factor",
    "minimum brightness": "min_brightness",
    "maximum brightness": "max_brightness",
    "minimum area": "min_area",
    "maximum area": "max_area",
    "minimum tracelength": "min_trace_length",
    "tracking radius2": "tracking_radius2",
    "sensitivity": "sensitivity",
    "gain": "gain",
    "shutter": "shutter",
    "laser wavelength nm": "laser_wavelength_nm",
    "micrometer per pixel": "micrometer_per_pixel",
    "median number (d50)": "median_number_d50_nm",
    "median concentration (d50)": "median_concentration_d50_nm",
    "median volume (d50)": "median_volume_d50_nm",
}
# A non-number in these fails the file; other settings keep the text as written.
_REQUIRED_NUMBERS = {"dilution", "number of traces", "temperature", "viscosity"}
_COUNTS = {
    "detected_particles",
    "positions",
    "number_of_traces",
    "min_brightness",
    "max_brightness",
    "min_area",
    "max_area",
    "min_trace_length",
    "tracking_radius2",
}
_TEXT = {
    "operator": "operator",
    "experiment": "experiment",
    "zetaview s/n": "instrument_serial",
    "cell s/n": "cell_serial",
    "sop": "sop",
    "electrolyte": "electrolyte",
    "type of measurement": "measurement_type",
    "filter wavelength nm": "filter_wavelength",
    "camera": "camera",
    "cell check result": "cell_check_result",
    "particle drift check result": "particle_drift_check_result",
    "general remarks": "general_remarks",
}


class ZetaViewParser:
    format = "zetaview"
    label = "Particle Metrix ZetaView size distribution (.txt)"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        text = decode_head(head).lstrip("\ufeff \t\r\n")
        if not text[:14].casefold().startswith("original file:"):
            return False
        lowered = text.casefold()
        return "zetaview" in lowered or "size distribution" in lowered

    def parse(self, data: bytes, name: str = "") -> ParticleResult:
        return read_or_parse_error(lambda: _Reader(data, name).read(), file_kind="ZetaView")


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        text, self.encoding = decode_text(data)
        self.lines = split_lines(text)
        self.header: dict[str, str] = {}
        self.by_norm: dict[str, str] = {}
        self.qualifiers: dict[str, list[str]] = {}
        self.lines_of: dict[str, int] = {}
        self.free_lines: list[str] = []
        self.decimal = "."
        self.warnings: list[str] = []

    def read(self) -> ParticleResult:
        first = self.lines[0].lstrip("\ufeff ") if self.lines else ""
        if not first.casefold().startswith("original file:"):
            raise ParseError('not a ZetaView export: it should start with "Original File:"', line=1)
        table_at = self._read_header()
        self.decimal = self._sniff_decimal()
        measurement = norm_key(self._get("type of measurement"))
        if measurement and measurement != "size distribution":
            raise ParseError(
                f'this is a ZetaView "{self._get("type of measurement")}" measurement; only'
                " size-distribution exports (…_size_<laser>.txt) are supported",
                line=self.lines_of.get("type of measurement"),
                column="Type of Measurement",
            )
        if table_at is None:
            raise ParseError(
                'no "Size Distribution" table (the file is truncated or not a size export)',
                line=len(self.lines),
            )
        linear, log_rows = self._read_table(table_at)
        return self._result(linear, log_rows)

    # -- header ----------------------------------------------------------------------------

    def _read_header(self) -> int | None:
        for index, raw in enumerate(self.lines):
            line = raw.strip()
            if norm_key(line) == "size distribution":
                return index + 1
            if not line:
                continue
            self._header_line(raw, index + 1)
        return None

    def _header_line(self, raw: str, line: int) -> None:
        tokens = [t.strip() for t in raw.split("\t")]
        # 8.06 sometimes writes "Conductivity: 65.000000" with a space for the tab.
        head = tokens[0]
        if not head.endswith(":") and ": " in head:
            key, _, value = head.partition(": ")
            tokens[0:1] = [key + ":", value]
        i = 0
        found = False
        while i < len(tokens):
            token = tokens[i]
            if not token.endswith(":"):
                i += 1
                continue
            found = True
            key = token.rstrip(":").strip()
            value = ""
            j = i + 1
            if j < len(tokens) and not tokens[j].endswith(":"):
                value = tokens[j]
                j += 1
            extra = []
            while j < len(tokens) and not tokens[j].endswith(":"):
                if tokens[j]:
                    extra.append(tokens[j])
                j += 1
            self._store(key, value, extra, line)
            i = j
        if not found:
            self.free_lines.append(raw.strip())

    def _store(self, key: str, value: str, extra: list[str], line: int) -> None:
        if not key:
            return
        norm = norm_key(key)
        if norm in self.by_norm:
            suffix = 2
            while f"{norm} ({suffix})" in self.by_norm:
                suffix += 1
            key, norm = f"{key} ({suffix})", f"{norm} ({suffix})"
        self.header[key] = value
        self.by_norm[norm] = value
        self.lines_of[norm] = line
        if extra:
            self.qualifiers[key] = extra

    def _get(self, norm: str) -> str:
        return self.by_norm.get(norm, "")

    def _sniff_decimal(self) -> str:
        for key in ("viscosity", "temperature", "ph", "average number of particles"):
            value = self._get(key)
            if "," in value and "." not in value:
                return ","
            if "." in value:
                return "."
        return "."

    def _number(self, norm: str) -> float | None:
        value = self._get(norm).strip()
        if not value or norm_key(value) in ("nan", "n/a"):
            return None
        token = value.split()[0]
        try:
            return to_float(token, self.decimal)
        except ValueError:
            raise ParseError(
                f"not a number: {value[:40]!r}",
                line=self.lines_of.get(norm),
                column=_display(norm),
            ) from None

    # -- table -----------------------------------------------------------------------------

    def _read_table(self, start: int) -> tuple[list[list[float]], list[list[float]]]:
        if start >= len(self.lines) or not self.lines[start].strip():
            raise ParseError(
                "the Size Distribution table has no header row (the file is truncated)",
                line=start,
            )
        labels = [norm_key(t) for t in self.lines[start].split("\t")]
        if not labels[0].startswith("size"):
            raise ParseError(
                'the Size Distribution header should start with "Size / nm"', line=start + 1
            )
        try:
            number_col = next(i for i, t in enumerate(labels) if t.startswith("number"))
            conc_col = next(i for i, t in enumerate(labels) if t.startswith("concentration"))
        except StopIteration:
            raise ParseError(
                'the Size Distribution header needs "Number" and "Concentration" columns',
                line=start + 1,
            ) from None
        self.column_labels = self.lines[start].split("\t")
        width = max(number_col, conc_col) + 1
        linear: list[list[float]] = []
        log_rows: list[list[float]] = []
        target = linear
        sentinels = 0
        decimal = self.decimal
        last = len(self.lines)
        for index in range(start + 1, last):
            raw = self.lines[index]
            if not raw.strip():
                continue
            cells = raw.split("\t")
            line = index + 1
            if len(cells) < width:
                raise ParseError(
                    f"table row has {len(cells)} values, expected {len(labels)}"
                    + (" (the file is truncated)" if line == last else ""),
                    line=line,
                )
            try:
                row = [to_float(cells[0], decimal), to_float(cells[number_col], decimal)]
                row.append(to_float(cells[conc_col], decimal))
            except ValueError:
                self._cell_error(cells, line, (0, number_col, conc_col))
            if row[0] == -1:
                sentinels += 1
                target = log_rows
                continue
            if row[1] < 0 or row[2] < 0:
                raise ParseError("negative count or concentration", line=line)
            target.append(row)
        if sentinels == 0:
            raise ParseError(
                f"the file is truncated: the linear size table stops after {len(linear)} rows"
                " without its -1 end marker",
                line=last,
            )
        if len(linear) == _LINEAR_BINS and len(log_rows) < _LOG_BINS:
            raise ParseError(
                f"the file is truncated: the log size table stops after {len(log_rows)} of"
                f" {_LOG_BINS} rows",
                line=last,
            )
        return linear, log_rows

    def _cell_error(self, cells: list[str], line: int, columns: tuple[int, ...]) -> None:
        for col in columns:
            label = self.column_labels[col].strip() if col < len(self.column_labels) else ""
            text = cells[col].strip()
            try:
                to_float(text, self.decimal)
            except ValueError:
                raise ParseError(
                    f"not a number: {text[:40]!r}" if text else "missing value",
                    line=line,
                    column=label or f"column {col + 1}",
                ) from None

    # -- result ----------------------------------------------------------------------------

    def _result(self, linear: list[list[float]], log_rows: list[list[float]]) -> ParticleResult:
        settings = self._settings()
        settings["log_table_rows"] = len(log_rows)
        dilution = self._number("dilution")
        if dilution is not None and dilution <= 0:
            raise ParseError(
                f"dilution must be positive, not {self._get('dilution')!r}",
                line=self.lines_of.get("dilution"),
                column="Dilution::",
            )
        settings["dilution"] = dilution if dilution is not None else "Not recorded"
        factor = dilution or 1.0
        traces = self._number("number of traces")
        counts = [row[1] for row in linear]
        total_count = safe_fsum(counts)
        if traces is not None and linear and abs(total_count - traces) > 0.5:
            self.warnings.append(
                f"the size table counts {total_count:g} traces, but Number of Traces says"
                f" {traces:g}"
            )
        centres = self._bin_centres(linear)
        measured = safe_fsum(row[2] for row in linear)
        if not (math.isfinite(total_count) and math.isfinite(measured)):
            raise ParseError(
                "the size table's values are too large to add up", line=len(self.lines)
            )
        has_data = bool(linear) and total_count > 0
        stats = _number_stats(centres, counts) if has_data else {}
        if not all(math.isfinite(v) for v in stats.values() if v is not None):
            raise ParseError("the size table's values are out of range", line=len(self.lines))
        reported_d50 = self._number("median number (d50)")
        d50 = reported_d50 if reported_d50 else stats.get("d50")
        if has_data:
            settings["concentration_measured_per_ml"] = measured
            settings["d50_computed_nm"] = stats.get("d50")
            settings["bin_width_nm"] = centres[1] - centres[0] if len(centres) > 1 else None
        else:
            self.warnings.append("no particles were tracked (empty or failed measurement)")
        if self.warnings:
            settings["parser_warnings"] = list(self.warnings)
        distribution = None
        if has_data:
            distribution = SizeDistribution(
                bin_centres_nm=tuple(centres),
                mean=tuple(row[2] * factor for row in linear),
                dilution_corrected=dilution is not None,
            )
        return ParticleResult(
            method="ZetaView",
            sample_name=self._sample_name(),
            description=self._description(),
            measured_at=self._measured_at(),
            software_version=self._software_version(),
            instrument_serial=self._get("zetaview s/n"),
            dilution_factor=dilution,
            concentration_per_ml=measured * factor if has_data else None,
            mean_nm=stats.get("mean"),
            mode_nm=stats.get("mode"),
            sd_nm=stats.get("sd"),
            d10_nm=stats.get("d10"),
            d50_nm=d50 if has_data else None,
            d90_nm=stats.get("d90"),
            settings=settings,
            distribution=distribution,
            instrument_warnings=self._instrument_warnings(),
        )

    def _bin_centres(self, linear: list[list[float]]) -> list[float]:
        printed = [row[0] for row in linear]
        if len(printed) < 2:
            return printed
        # Printed centres keep 4 significant digits (5998 for 5997.5): rebuild them from
        # the index when they follow an even grid.
        start, width = printed[0], printed[1] - printed[0]
        if width <= 0:
            return printed
        rebuilt = [start + width * i for i in range(len(printed))]
        if all(abs(p - r) <= 5e-4 * abs(r) + 1e-9 for p, r in zip(printed, rebuilt, strict=True)):
            return rebuilt
        return printed

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"format": "zetaview", "encoding": self.encoding}
        for norm, canonical in _TEXT.items():
            value = self._get(norm)
            if value:
                settings[canonical] = value
        for norm, canonical in _NUMERIC.items():
            try:
                value = self._number(norm)
            except ParseError:
                if norm in _REQUIRED_NUMBERS:
                    raise
                settings[canonical] = self._get(norm)  # e.g. "Auto": kept as the file says
                continue
            if value is not None:
                settings[canonical] = int(value) if canonical in _COUNTS else value
        for norm, canonical in (
            ("ph", "ph_source"),
            ("temperature", "temperature_source"),
            ("conductivity", "conductivity_source"),
        ):
            qualifier = self._qualifier(norm)
            if qualifier:
                settings[canonical] = qualifier
        frame_rate = _FRAME_RATE.search(self._get("camera"))
        if frame_rate:
            settings["frame_rate_fps"] = scalar(frame_rate.group(1), self.decimal)
        for norm, canonical in (
            ("cell checked", "cell_checked_at"),
            ("particle drift checked", "particle_drift_checked_at"),
        ):
            when = _iso(self._get(norm))
            if when is not None and when.year != _NEVER_CHECKED_YEAR:
                settings[canonical] = when.isoformat()
        original = self._get("original file")
        if original:
            settings["original_file"] = PureWindowsPath(original).name
        settings["header"] = dict(self.header)
        if self.qualifiers:
            settings["header_qualifiers"] = self.qualifiers
        if self.free_lines:
            settings["unparsed_header_lines"] = self.free_lines
        return settings

    def _qualifier(self, norm: str) -> str:
        for key, values in self.qualifiers.items():
            if norm_key(key) == norm and values:
                return values[0]
        return ""

    def _sample_name(self) -> str:
        sample = self._get("sample").strip()
        if sample:
            return sample
        for candidate in (self.name, PureWindowsPath(self._get("original file")).name):
            match = _NAME.match(PureWindowsPath(candidate or "").name)
            if match:
                return match.group("sample")
        return ""

    def _description(self) -> str:
        parts = []
        for key, value in self.header.items():
            norm = norm_key(key)
            if value and (norm == "remarks" or norm.startswith(("sample info", "sample remarks"))):
                parts.append(value)
        return "; ".join(dict.fromkeys(parts))

    def _measured_at(self) -> datetime | None:
        return _iso(f"{self._get('date')} {self._get('time')}".strip())

    def _software_version(self) -> str:
        software = self._get("software")
        match = re.search(r"version\s+([^)]+)\)", software)
        return f"ZetaView {match.group(1).strip()}" if match else software

    def _instrument_warnings(self) -> tuple[str, ...]:
        warnings = []
        cell = self._get("cell check result")
        if norm_key(cell) not in _GOOD_CHECKS:
            warnings.append(f"Cell Check Result: {cell}")
        drift = self._get("particle drift check result")
        checked = _iso(self._get("particle drift checked"))
        if checked is not None and checked.year != _NEVER_CHECKED_YEAR:
            if norm_key(drift) not in _GOOD_CHECKS:
                warnings.append(f"Particle Drift Check Result: {drift}")
        return tuple(warnings)


def _display(norm: str) -> str:
    return norm[:1].upper() + norm[1:]


def _iso(text: str) -> datetime | None:
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _number_stats(centres: list[float], counts: list[float]) -> dict[str, float | None]:
    total = safe_fsum(counts)
    mean = safe_fsum(c * n for c, n in zip(centres, counts, strict=True)) / total
    variance = safe_fsum(n * (c - mean) * (c - mean) for c, n in zip(centres, counts, strict=True))
    mode = centres[max(range(len(counts)), key=counts.__getitem__)]
    width = centres[1] - centres[0] if len(centres) > 1 else 0.0
    return {
        "mean": mean,
        "sd": math.sqrt(variance / total),
        "mode": mode,
        "d10": _percentile(centres, counts, total, 0.10, width),
        "d50": _percentile(centres, counts, total, 0.50, width),
        "d90": _percentile(centres, counts, total, 0.90, width),
    }


def _percentile(
    centres: list[float], counts: list[float], total: float, fraction: float, width: float
) -> float:
    """Size below which ``fraction`` of the particles lie, interpolating within the bin."""
    target = fraction * total
    running = 0.0
    for centre, count in zip(centres, counts, strict=True):
        if count and running + count >= target:
            lower = centre - width / 2
            return lower + width * (target - running) / count
        running += count
    return centres[-1]
