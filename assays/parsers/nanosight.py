"""NanoSight NTA 3.x ``ExperimentSummary.csv`` (verified on NTA 3.2.16, 3.3.203, 3.4.003).

The file is a report of ``[Section]`` blocks. Each data row is ``key, video 1 … video N
[, Average, Standard Error]``; N comes from the ``Filename:`` row only. The number-weighted
``[Size Data]`` block gives the statistics and the 1-nm ``Graph Data`` bins (particles/mL
per bin) that the result reports; surface-area, volume and diffusion blocks are read for
their statistics only.

Dilution: NTA writes ``Dilution factor (concentrations adjusted for this factor)`` as
``Not recorded`` or a number. When it is a number every concentration in the file, bins
included, is *already* multiplied by it, so the parser reports the values as they are and
never multiplies again (``settings["dilution_already_applied"]``). When it is not recorded
the concentrations are those of the measured suspension and ``dilution_factor`` is None.

``settings`` (JSON) holds: experiment details; per-video lists under ``conditions``,
``analysis_settings``, ``results``, ``concentration_warnings`` and ``information``, keyed
by the file's own labels (unknown rows kept); canonical summaries (``temperature_c`` and
``viscosity_cp`` are the mean over videos; other capture settings are one value when all
videos agree, else the per-video list); ``size_stats``/``diffusion_stats`` per weighting;
``parser_warnings`` for failed consistency checks (bin sums vs concentrations).
``measured_at`` is naive local time of the instrument PC.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections.abc import Sequence
from datetime import datetime
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

SIGNATURE = "NTA Experiment Summary File"
_SIG = SIGNATURE.casefold()
_STAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ _](\d{2})-(\d{2})-(\d{2})")
_CAPTURED = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})\s+(\d{1,2})/(\d{1,2})/(\d{4})")
_STATS = {"mean": "mean", "mode": "mode", "sd": "sd", "d10": "d10", "d50": "d50", "d90": "d90"}
_WEIGHTINGS = ("number", "surface area", "volume")
# Every real file has 1000 one-nm bins; fewer at the end of the file means truncation.
_GRAPH_ROWS = 1000
_MAX_EXTRA_ROWS = 100
# Far above any real suspension (water holds ~3e22 molecules/mL): a corrupt number.
_MAX_CONCENTRATION = 1e20
_NOT_A_WARNING = {"", "ok", "no"}
_INFO_ONLY = {"vibration correction applied"}
# file label -> canonical settings key, for the capture conditions worth a summary.
_CANONICAL = {
    "camera type": "camera_type",
    "laser type": "laser_type",
    "camera level": "camera_level",
    "slider shutter": "slider_shutter",
    "slider gain": "slider_gain",
    "shutter/ms": "shutter_ms",
    "camera histogram upper limit": "histogram_upper_limit",
    "camera histogram lower limit": "histogram_lower_limit",
    "frame rate/fps": "frame_rate_fps",
    "syringe pump speed/au": "syringe_pump_speed_au",
    "detection threshold": "detection_threshold",
    "max jump mode": "max_jump_mode",
    "max jump distance": "max_jump_distance",
    "blur": "blur",
    "min track length": "min_track_length",
    "first frame": "first_frame",
    "total frames analysed": "frames_analysed",
}
_DETAILS = {
    "experiment name": "experiment_name",
    "operator name": "operator",
    "time captured": "time_captured",
    "pre-treatment": "pre_treatment",
    "diluent": "diluent",
    "remarks": "remarks",
}


class NanoSightParser:
    format = "nta_nanosight"
    label = "NanoSight NTA ExperimentSummary (.csv)"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        text = decode_head(head).lstrip('\ufeff \t\r\n"')
        if text[: len(SIGNATURE)].casefold() != _SIG:
            return False
        rest = text[len(SIGNATURE) : len(SIGNATURE) + 1]
        return rest in ("", ",", ";", "\t", "\r", "\n", '"')

    def parse(self, data: bytes, name: str = "") -> ParticleResult:
        return read_or_parse_error(lambda: _Reader(data, name).read(), file_kind="NTA")


class _Block:
    """One ``Weighting`` block of ``[Size Data]`` or ``[Diffusion Coefficient Data]``."""

    def __init__(self, domain: str, weighting: str) -> None:
        self.domain = domain
        self.weighting = weighting
        self.avg_col: int | None = None
        self.se_col: int | None = None
        self.stats: dict[str, dict[str, Any]] = {}
        self.bins: list[float] = []
        self.videos: list[list[float]] = []
        self.average: list[float] = []
        self.graph_header_line = 0
        self.percentiles_last: float | None = None


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        text, self.encoding = decode_text(data)
        self.lines = split_lines(text)
        self.delimiter = self._sniff_delimiter()
        self.decimal = self._sniff_decimal()
        self.videos: list[str] = []
        self.details: dict[str, str] = {}
        self.created_with = ""
        self.tables: dict[str, dict[str, list[Any]]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.results_cols: tuple[int | None, int | None] = (None, None)
        self.dilutions: list[float | None] = []
        self.concentrations: list[float] | None = None
        self.conc_avg: float | None = None
        self.conc_se: float | None = None
        self.data_included: list[str] = []
        self.exclusion: list[str] = []
        self.blocks: list[_Block] = []
        self.extra_sections: dict[str, dict[str, list[str]]] = {}
        self.warnings: list[str] = []

    # -- reading ---------------------------------------------------------------------------

    def _sniff_delimiter(self) -> str:
        first = self.lines[0].lstrip('\ufeff "') if self.lines else ""
        if first[: len(SIGNATURE)].casefold() != _SIG:
            raise ParseError(
                f'not a NanoSight NTA ExperimentSummary file: it should start with "{SIGNATURE}"',
                line=1,
            )
        after = first[len(SIGNATURE) : len(SIGNATURE) + 2].lstrip('"')[:1]
        if after in (",", ";", "\t"):
            return after
        counts = {d: sum(d in line for line in self.lines[:40]) for d in (",", ";", "\t")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] > counts[","] else ","

    def _sniff_decimal(self) -> str:
        """With a ',' separator numbers can only use '.'; otherwise (EU-locale re-saves)
        the always-fractional Viscosity/cP row tells, before any number is read."""
        if self.delimiter == ",":
            return "."
        for line in self.lines:
            if line.casefold().startswith(("viscosity/cp", "temperature/c")):
                cells = line.split(self.delimiter)[1:]
                if any(re.fullmatch(r"\s*-?\d+,\d+\s*", cell) for cell in cells):
                    return ","
                if any("." in cell for cell in cells):
                    return "."
        return ","

    def read(self) -> ParticleResult:
        reader = csv.reader(self.lines, delimiter=self.delimiter)
        try:
            self._walk(reader)
        except csv.Error as exc:
            # e.g. an unclosed quote swallowing the rest of the file into one cell
            raise ParseError(
                f"unreadable CSV: {exc} (an unclosed quote?)", line=reader.line_num
            ) from None
        return self._result()

    def _walk(self, reader: Any) -> None:
        section = ""
        block: _Block | None = None
        mode = ""  # "" | "graph header" | "graph" | "percentile" inside a distribution block
        graph_cols: tuple[int, int | None] = (0, None)
        line = 0
        for row in reader:
            line = reader.line_num
            key = row[0].strip() if row else ""
            if mode:
                if mode == "graph header":
                    graph_cols = self._graph_header(row, line)
                    mode = "graph"
                    continue
                if mode == "graph":
                    if key and _numeric(key):
                        self._graph_row(row, line, block, graph_cols)
                        continue
                    mode = ""
                    if not key:
                        continue
                elif mode == "percentile":
                    if key and _numeric(key):
                        block.percentiles_last = _num(key, line, "Percentile", self.decimal)
                        continue
                    mode = ""
                    if not key:
                        continue
            if key.startswith("[") and key.endswith("]"):
                section = norm_key(key[1:-1])
                block = None
                if section == "results":
                    self.results_cols = _avg_se_cols(row)
                continue
            if not key and not any(cell.strip() for cell in row):
                continue
            norm = norm_key(key)
            if line == 2 and norm.startswith("created with"):
                self.created_with = key[len("created with") :].strip()
                continue
            if section == "experiment details" or not section:
                self._detail(norm, key, row, line)
            elif section in ("conditions", "settings"):
                self._per_video(section, key, row, line)
            elif section == "results":
                self._result_row(norm, key, row, line)
            elif section in ("concentration warnings", "information"):
                self._per_video(section, key, row, line, text=True)
            elif section == "data included":
                self.data_included.append(key)
            elif section == "exclusion regions":
                self.exclusion.append(key)
            elif section == "size data" or "diffusion" in section:
                domain = "diffusion" if "diffusion" in section else "size"
                if norm == "analysis method":
                    continue
                if norm == "weighting":
                    block = _Block(domain, norm_key(_cell(row, 1)))
                    self.blocks.append(block)
                    continue
                if block is None:
                    block = _Block(domain, "number")
                    self.blocks.append(block)
                if norm == "filename":
                    block.avg_col, block.se_col = _avg_se_cols(row)
                elif norm == "graph data":
                    mode = "graph header"
                    block.graph_header_line = line
                elif norm == "percentile":
                    mode = "percentile"
                else:
                    self._stat_row(block, norm, key, row, line)
            else:
                extra = self.extra_sections.setdefault(section, {})
                if len(extra) < _MAX_EXTRA_ROWS:  # unknown sections are kept, within reason
                    extra[key] = _trim([cell.strip() for cell in row[1:]])
        self._check_end(line, mode, block)

    def _need_videos(self, line: int) -> int:
        if not self.videos:
            raise ParseError(
                'the "Filename:" row listing the videos must come before the data', line=line
            )
        return len(self.videos)

    def _detail(self, norm: str, key: str, row: list[str], line: int) -> None:
        if norm == "filename:":
            if self.videos:
                raise ParseError('a second "Filename:" row', line=line)
            names = _trim([cell.strip() for cell in row[1:]])
            if not names:
                raise ParseError('the "Filename:" row lists no videos', line=line)
            self.videos = [n or f"Video {i}" for i, n in enumerate(names, 1)]
        elif norm == "processed":
            self.tables.setdefault("experiment details", {})[key] = [
                _cell(row, i).strip() for i in range(1, len(self.videos) + 1)
            ]
        else:
            self.details[norm] = _cell(row, 1).strip()

    def _per_video(
        self, section: str, key: str, row: list[str], line: int, *, text: bool = False
    ) -> None:
        n = self._need_videos(line)
        cells = [_cell(row, i).strip() for i in range(1, n + 1)]
        values: list[Any] = cells if text else [scalar(c, self.decimal) for c in cells]
        self.tables.setdefault(section, {})[key] = values

    def _result_row(self, norm: str, key: str, row: list[str], line: int) -> None:
        n = self._need_videos(line)
        avg_col, se_col = self.results_cols
        avg_col = n + 1 if avg_col is None else avg_col
        se_col = n + 2 if se_col is None else se_col
        if norm.startswith("dilution factor"):
            self.dilutions = []
            for i in range(1, n + 1):
                cell = _cell(row, i).strip()
                if not cell or norm_key(cell) in ("not recorded", "unknown"):
                    self.dilutions.append(None)
                else:
                    value = _num(cell, line, self._video(i), self.decimal)
                    if value <= 0:
                        raise ParseError(
                            f"dilution factor must be positive, not {cell!r}",
                            line=line,
                            column=self._video(i),
                        )
                    self.dilutions.append(value)
            return
        if norm.startswith("concentration (particles / ml)") or norm.startswith(
            "concentration (particles/ml)"
        ):
            values = []
            for i in range(1, n + 1):
                value = _num(_cell(row, i), line, self._video(i), self.decimal)
                if not 0 <= value <= _MAX_CONCENTRATION:
                    raise ParseError(
                        f"impossible concentration {_cell(row, i).strip()!r}",
                        line=line,
                        column=self._video(i),
                    )
                values.append(value)
            self.concentrations = values
            self.conc_avg = _opt_num(_cell(row, avg_col), line, "Average", self.decimal)
            self.conc_se = _opt_num(_cell(row, se_col), line, "Standard Error", self.decimal)
            return
        entry: dict[str, Any] = {
            "videos": [scalar(_cell(row, i), self.decimal) for i in range(1, n + 1)]
        }
        average = scalar(_cell(row, avg_col), self.decimal)
        error = scalar(_cell(row, se_col), self.decimal)
        if average is not None:
            entry["average"] = average
        if error is not None:
            entry["standard_error"] = error
        self.results[key] = entry

    def _stat_row(self, block: _Block, norm: str, key: str, row: list[str], line: int) -> None:
        n = self._need_videos(line)
        stat = _STATS.get(norm)
        avg_col = n + 1 if block.avg_col is None else block.avg_col
        se_col = n + 2 if block.se_col is None else block.se_col
        if stat is None:
            block.stats[key] = {
                "videos": [scalar(_cell(row, i), self.decimal) for i in range(1, n + 1)]
            }
            return
        videos = [_num(_cell(row, i), line, self._video(i), self.decimal) for i in range(1, n + 1)]
        entry: dict[str, Any] = {"videos": videos}
        average = _opt_num(_cell(row, avg_col), line, "Average", self.decimal)
        entry["average"] = average if average is not None else statistics.fmean(videos)
        error = _opt_num(_cell(row, se_col), line, "Standard Error", self.decimal)
        if error is not None:
            entry["standard_error"] = error
        block.stats[stat] = entry

    def _graph_header(self, row: list[str], line: int) -> tuple[int, int | None]:
        n = self._need_videos(line)
        labels = [norm_key(cell) for cell in row]
        if not labels or not labels[0].startswith("bin centre"):
            raise ParseError('the row after "Graph Data" should start with "Bin centre"', line=line)
        if len(_trim(row)) < n + 1:
            raise ParseError(
                f"Graph Data has {len(_trim(row)) - 1} value columns for {n} videos", line=line
            )
        avg_col = next((i for i, label in enumerate(labels) if i > n and "average" in label), None)
        return n, avg_col

    def _graph_row(
        self, row: list[str], line: int, block: _Block, cols: tuple[int, int | None]
    ) -> None:
        n, avg_col = cols
        if len(row) <= n:
            raise ParseError(
                f"Graph Data row has {len(row) - 1} values, expected {n}"
                + (" (the file is truncated)" if line == len(self.lines) else ""),
                line=line,
            )
        if block.domain != "size" or block.weighting != "number":
            block.bins.append(0.0)  # counted only, for the truncation check
            return
        decimal = self.decimal
        has_avg = avg_col is not None and avg_col < len(row) and row[avg_col].strip()
        try:
            # Hot loop (1000 rows): plain float() first; the locale-aware path on failure.
            if decimal != ".":
                raise ValueError
            centre = float(row[0])
            values = list(map(float, row[1 : n + 1]))
            average = float(row[avg_col]) if has_avg else 0.0
            if not math.isfinite(centre + sum(values) + average):
                raise ValueError
        except (ValueError, OverflowError):
            try:
                centre = to_float(row[0], decimal)
                values = [to_float(row[i], decimal) for i in range(1, n + 1)]
                average = to_float(row[avg_col], decimal) if has_avg else 0.0
                if not math.isfinite(sum(values)):
                    raise ValueError from None
            except ValueError:
                self._graph_error(row, line, n, avg_col if has_avg else None)
                raise ParseError("values too large to add up", line=line) from None
        block.bins.append(centre)
        if has_avg:
            block.average.append(average)
        block.videos.append(values)

    def _graph_error(self, row: list[str], line: int, n: int, avg_col: int | None) -> None:
        """Raise the ParseError naming the first unreadable cell of a Graph Data row."""
        columns = [(0, "Bin centre (nm)")] + [(i, self._video(i)) for i in range(1, n + 1)]
        if avg_col is not None:
            columns.append((avg_col, "Concentration average"))
        for i, label in columns:
            _num(row[i], line, label, self.decimal)

    def _video(self, i: int) -> str:
        return self.videos[i - 1] if 0 < i <= len(self.videos) else f"column {i + 1}"

    # -- checks and result -----------------------------------------------------------------

    def _check_end(self, line: int, mode: str, block: _Block | None) -> None:
        truncated = "the file is truncated"
        if mode in ("graph header", "graph") and block and len(block.bins) < _GRAPH_ROWS:
            raise ParseError(
                f"{truncated}: Graph Data stops after {len(block.bins)} of {_GRAPH_ROWS} bins",
                line=line,
            )
        if mode == "percentile" and block is not None and (block.percentiles_last or 0) < 100:
            raise ParseError(f"{truncated}: the percentile table stops early", line=line)
        if not self.videos:
            raise ParseError('no "Filename:" row listing the videos (truncated file?)', line=line)
        if self.concentrations is None:
            raise ParseError(
                "no [Results] section with a Concentration (Particles / ml) row (truncated file?)",
                line=line,
            )
        seen = {(b.domain, b.weighting) for b in self.blocks}
        for entry in self.data_included:
            text = norm_key(entry)
            domain = "diffusion" if "diffusion" in text else "size"
            weighting = next((w for w in _WEIGHTINGS if w in text), None)
            if weighting and (domain, weighting) not in seen:
                raise ParseError(
                    f'{truncated} or edited: [Data Included] lists "{entry}" but that block is'
                    " missing",
                    line=line,
                )
        if not any(b.domain == "size" for b in self.blocks):
            raise ParseError("no [Size Data] section (truncated file?)", line=line)
        number = self._number_block()
        if number is not None and number.graph_header_line and not number.videos:
            raise ParseError("Graph Data has no rows", line=number.graph_header_line)

    def _number_block(self) -> _Block | None:
        return next(
            (b for b in self.blocks if b.domain == "size" and b.weighting == "number"), None
        )

    def _result(self) -> ParticleResult:
        n = len(self.videos)
        concs = self.concentrations or []
        settings = self._settings()
        number = self._number_block()
        distribution = None
        stats: dict[str, float | None] = dict.fromkeys(_STATS.values())
        dilution = self._dilution(settings)
        if number is not None:
            for key, entry in number.stats.items():
                if key in stats:
                    stats[key] = entry["average"]
            if number.videos:
                distribution = self._distribution(number, concs, dilution is not None, settings)
        conc = self.conc_avg if self.conc_avg is not None else statistics.fmean(concs)
        sd = statistics.stdev(concs) if n > 1 else None
        if self.warnings:
            settings["parser_warnings"] = list(self.warnings)
        return ParticleResult(
            method="NTA",
            sample_name=self._sample_name(),
            description=self.details.get("sample description", ""),
            measured_at=self._measured_at(settings),
            software_version=self._software_version(),
            dilution_factor=dilution,
            concentration_per_ml=conc,
            concentration_sd_per_ml=sd,
            replicate_concentrations_per_ml=tuple(concs),
            mean_nm=stats["mean"],
            mode_nm=stats["mode"],
            sd_nm=stats["sd"],
            d10_nm=stats["d10"],
            d50_nm=stats["d50"],
            d90_nm=stats["d90"],
            settings=settings,
            distribution=distribution,
            instrument_warnings=self._instrument_warnings(),
        )

    def _dilution(self, settings: dict[str, Any]) -> float | None:
        recorded = [d for d in self.dilutions if d is not None]
        if not recorded:
            settings["dilution"] = "Not recorded"
            settings["dilution_already_applied"] = False
            return None
        settings["dilution"] = recorded[0] if len(set(recorded)) == 1 else list(self.dilutions)
        settings["dilution_already_applied"] = True
        if len(recorded) < len(self.dilutions):
            self.warnings.append("the dilution factor is recorded for some videos only")
        return recorded[0] if len(set(recorded)) == 1 else None

    def _distribution(
        self, block: _Block, concs: list[float], corrected: bool, settings: dict[str, Any]
    ) -> SizeDistribution:
        n = len(self.videos)
        columns = list(zip(*block.videos, strict=True))
        if len(block.average) == len(block.bins):
            mean = tuple(block.average)
        else:
            # Autosampler builds omit "Concentration average": average the videos ourselves.
            mean = tuple(sum(row) / n for row in block.videos)
            settings["distribution_mean_computed"] = True
        for i, (column, conc) in enumerate(zip(columns, concs, strict=False), 1):
            total = safe_fsum(column)
            if conc > 0 and abs(total - conc) > 0.01 * conc:
                self.warnings.append(
                    f"Graph Data bins of {self._video(i)} sum to {total:.3g} particles/mL,"
                    f" but [Results] says {conc:.3g}"
                )
        return SizeDistribution(
            bin_centres_nm=tuple(block.bins),
            mean=mean,
            replicates=tuple(tuple(c) for c in columns),
            dilution_corrected=corrected,
        )

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"format": "nta_nanosight", "encoding": self.encoding}
        for norm, canonical in _DETAILS.items():
            if self.details.get(norm):
                settings[canonical] = self.details[norm]
        known = set(_DETAILS) | {"software version", "sample description", "sample name"}
        extra = {k: v for k, v in self.details.items() if k not in known and v}
        if extra:
            settings["experiment_extra"] = extra
        settings["videos"] = list(self.videos)
        settings["video_count"] = len(self.videos)
        processed = self.tables.get("experiment details", {})
        for values in processed.values():
            settings["processed"] = values
        conditions = self.tables.get("conditions", {})
        analysis = self.tables.get("settings", {})
        for label, values in conditions.items():
            norm = norm_key(label)
            if norm == "temperature/c":
                _mean_into(settings, "temperature_c", values)
            elif norm == "viscosity/cp":
                _mean_into(settings, "viscosity_cp", values)
        for label, values in (*conditions.items(), *analysis.items()):
            canonical = _CANONICAL.get(norm_key(label))
            if canonical:
                settings[canonical] = values[0] if len(set(map(repr, values))) == 1 else values
        settings["conditions"] = conditions
        settings["analysis_settings"] = analysis
        settings["results"] = self.results
        if self.conc_se is not None:
            settings["concentration_se_per_ml"] = self.conc_se
        settings["concentration_warnings"] = self.tables.get("concentration warnings", {})
        settings["information"] = self.tables.get("information", {})
        settings["data_included"] = self.data_included
        if self.exclusion:
            settings["exclusion_regions"] = self.exclusion
        for domain, key in (("size", "size_stats"), ("diffusion", "diffusion_stats")):
            blocks = {b.weighting: b.stats for b in self.blocks if b.domain == domain}
            if blocks:
                settings[key] = blocks
        if self.extra_sections:
            settings["sections"] = self.extra_sections
        return settings

    def _software_version(self) -> str:
        version = self.details.get("software version", "")
        if version and norm_key(version) != "unknown":
            return version
        return self.created_with

    def _sample_name(self) -> str:
        if self.details.get("sample name"):
            return self.details["sample name"]
        experiment = self.details.get("experiment name", "")
        stem = re.sub(r"\.nano$", "", experiment, flags=re.IGNORECASE)
        return _STAMP.sub("", stem).strip(" _-")

    def _measured_at(self, settings: dict[str, Any]) -> datetime | None:
        captured = _captured(self.details.get("time captured", ""))
        if captured is not None and captured.day > 12:
            settings["measured_at_source"] = "Time Captured"
            return captured
        for source, text in (
            ("experiment name", self.details.get("experiment name", "")),
            ("file name", self.name),
        ):
            stamp = _stamp(text)
            if stamp is not None:
                settings["measured_at_source"] = source
                return stamp
        if captured is not None:
            settings["measured_at_source"] = "Time Captured (day-first)"
        return captured

    def _instrument_warnings(self) -> tuple[str, ...]:
        n = len(self.videos)
        messages: list[str] = []
        seen: set[tuple[str, str]] = set()
        for section in ("concentration warnings", "information"):
            for label, values in self.tables.get(section, {}).items():
                norm = norm_key(label)
                if norm in _INFO_ONLY:
                    continue
                by_value: dict[str, list[int]] = {}
                for i, value in enumerate(values, 1):
                    if norm_key(value) not in _NOT_A_WARNING:
                        by_value.setdefault(value, []).append(i)
                for value, videos in by_value.items():
                    if (norm, norm_key(value)) in seen:
                        continue
                    seen.add((norm, norm_key(value)))
                    messages.append(f"{label}: {value} ({_which(videos, n)})")
        return tuple(messages)


# -- small helpers ---------------------------------------------------------------------------


def _cell(row: Sequence[str], i: int) -> str:
    return row[i] if i < len(row) else ""


def _trim(values: list[str]) -> list[str]:
    while values and not values[-1]:
        values.pop()
    return values


def _numeric(text: str) -> bool:
    return text[0] in "+-.,0123456789"


def _num(cell: str, line: int, column: str, decimal: str) -> float:
    text = cell.strip()
    if not text:
        raise ParseError("missing value", line=line, column=column)
    try:
        return to_float(text, decimal)
    except ValueError:
        raise ParseError(f"not a number: {text[:40]!r}", line=line, column=column) from None


def _opt_num(cell: str, line: int, column: str, decimal: str) -> float | None:
    return _num(cell, line, column, decimal) if cell.strip() else None


def _avg_se_cols(row: Sequence[str]) -> tuple[int | None, int | None]:
    avg = se = None
    for i, cell in enumerate(row):
        label = norm_key(cell)
        if label == "average" and avg is None:
            avg = i
        elif label == "standard error" and se is None:
            se = i
    return avg, se


def _mean_into(settings: dict[str, Any], key: str, values: list[Any]) -> None:
    numbers = [v for v in values if isinstance(v, int | float)]
    if numbers:
        settings[key] = numbers[0] if len(set(numbers)) == 1 else statistics.fmean(numbers)
        if len(numbers) > 1:
            settings[f"{key}_range"] = [min(numbers), max(numbers)]


def _which(videos: list[int], n: int) -> str:
    if len(videos) == n and n > 1:
        return f"all {n} videos"
    label = "video" if len(videos) == 1 else "videos"
    return f"{label} {', '.join(map(str, videos))} of {n}"


def _stamp(text: str) -> datetime | None:
    match = _STAMP.search(text or "")
    if not match:
        return None
    try:
        return datetime(*map(int, match.groups()))
    except ValueError:
        return None


def _captured(text: str) -> datetime | None:
    match = _CAPTURED.search(text)
    if not match:
        return None
    hour, minute, second, day, month, year = map(int, match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
