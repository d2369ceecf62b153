"""Applied Biosystems QuantStudio / ViiA 7 / 7500 text export (verified: ViiA 7 and
QuantStudio 7 Flex exports, INSTRUMENT-FORMATS.md §7.3).

Layout: ``* Key = Value`` header lines (keys may carry two spaces before the ``=``), then
``[Section]`` blocks, each a tab table with a header row: ``[Sample Setup]``, ``[Raw Data]``,
``[Amplification Data]``, ``[Multicomponent Data]``, ``[Results]``, ``[Melt Curve …]``.
Rows come from ``[Results]``; an export without it gives the plate setup from
``[Sample Setup]`` (no Cq, with a warning), and columns ``[Results]`` lacks (Task, Reporter,
Quantity) are taken from the setup of the same well and target.

Pitfalls handled: ``Cт`` written with the Cyrillic ``т`` (headers and column names are matched
with т→T), ``Undetermined`` in the CT column, numbers with thousands separators
(``100,000,000.000``), ``Well`` written ``1.0``, right-aligned ``Well Position`` and columns
repeated at the end of the row (the first one wins). Empty wells (position only) are skipped.

Rows: ``cq`` None with ``undetermined`` for "Undetermined"; an empty CT cell is a missing
value (``undetermined`` False). ``task`` is the file's Task in lower case (UNKNOWN → unknown,
STANDARD → standard, NTC → ntc). ``quantity`` is the declared quantity of standards only;
the software's calculated quantities of unknowns are not reported. ``flags``: ``excluded``
for Omit = true, each QC flag column set to Y/T/true (``HIGHSD``, ``NOAMP``, ``OUTLIERRG``…,
named as the column), and ``AMP_STATUS_<value>`` when Amp Status is not "Amp".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ._text import decode_head, decode_text, norm_key, read_or_parse_error, split_lines, to_float
from .base import ParseError
from .rdml import normalise_well, row_letters
from .results import QPCRResult, QPCRRow

_SECTION = re.compile(r"^\s*\[([^\[\]]+)\]\s*$")
_SIGNATURE_KEYS = {
    "block type",
    "chemistry",
    "experiment file name",
    "experiment name",
    "experiment run end time",
    "experiment type",
    "instrument type",
    "passive reference",
    "quantification cycle method",
}
_CQ_COLUMNS = ("ct", "cq", "crt", "c t")
_UNDETERMINED = {"undetermined", "undet", "undet.", "no ct", "no cq", "no amp", "nan"}
_MISSING = {"", "n/a", "na", "-"}
_TRUE = {"y", "yes", "t", "true", "1"}
# QC flag columns of QuantStudio / ViiA 7 / 7500 results (Y/N or T/F per well).
_FLAG_COLUMNS = {
    "AMPNC",
    "AMPSCORE",
    "BADROX",
    "BLFAIL",
    "CQCONF",
    "CTFAIL",
    "DRNMIN",
    "EXPFAIL",
    "HIGHSD",
    "MAXCT",
    "MTP",
    "NOAMP",
    "NOISE",
    "NOSIGNAL",
    "OFFSCALE",
    "OUTLIERRG",
    "PRFDROP",
    "PRFLOW",
    "SPIKE",
    "THOLDFAIL",
}
_TASKS = {"unknown": "unknown", "standard": "standard", "ntc": "ntc"}
_TZ_HOURS = {
    "UTC": 0,
    "GMT": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "CET": 1,
    "CEST": 2,
    "BST": 1,
    "JST": 9,
}
_STAMP = re.compile(
    r"(?P<date>\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})"
    r"(?:[ T]+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?"
    r"\s*(?P<ampm>[AaPp][Mm])?\s*(?P<tz>[A-Za-z]{2,5})?)?\s*$"
)


def _fold(text: str) -> str:
    """Header text with the Cyrillic т/Т read as T, normalised like norm_key."""
    return norm_key(text.replace("т", "t").replace("Т", "T"))


class QuantStudioParser:
    format = "quantstudio"
    label = "Applied Biosystems QuantStudio / ViiA 7 / 7500 text export"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        lines = [line.strip() for line in split_lines(decode_head(head).lstrip("\ufeff"))]
        lines = [line for line in lines if line]
        if not lines:
            return False
        first = lines[0]
        if first.startswith("*") and "=" in first:
            keys = {_fold(line[1:].partition("=")[0]) for line in lines if line.startswith("*")}
            sections = {_fold(line) for line in lines if _SECTION.match(line)}
            return bool(keys & _SIGNATURE_KEYS) or bool(sections & {"[sample setup]", "[results]"})
        if _fold(first) in ("[sample setup]", "[results]") and len(lines) > 1:
            header = [_fold(cell) for cell in lines[1].split("\t")]
            return header[:1] == ["well"] and "well position" in header
        return False

    def parse(self, data: bytes, name: str = "") -> QPCRResult:
        return read_or_parse_error(lambda: _Reader(data).read(), file_kind="QuantStudio")


class _Table:
    def __init__(self, name: str, header_line: int, header: list[str]) -> None:
        self.name = name
        self.header_line = header_line  # 1-based
        self.labels = header
        self.columns: dict[str, int] = {}
        for index, label in enumerate(header):
            self.columns.setdefault(_fold(label), index)  # repeated columns: first wins
        self.rows: list[tuple[int, list[str]]] = []

    def index(self, *names: str) -> int | None:
        return next((self.columns[n] for n in names if n in self.columns), None)


def _cells(line: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.split("\t")]


class _Reader:
    def __init__(self, data: bytes) -> None:
        text, self.encoding = decode_text(data)
        self.lines = split_lines(text)
        self.header: dict[str, str] = {}
        self.tables: dict[str, _Table] = {}
        self.warnings: list[str] = []

    def read(self) -> QPCRResult:
        self._split()
        if not self.header and not self.tables:
            raise ParseError(
                'not a QuantStudio export: no "* key = value" header and no [Results] section',
                line=1,
            )
        results = self.tables.get("results")
        setup = self.tables.get("sample setup")
        if results is None and setup is None:
            raise ParseError(
                "the export has neither a [Results] nor a [Sample Setup] section"
                " (export the results table from the QuantStudio software)",
                line=len(self.lines),
            )
        if results is None:
            self.warnings.append(
                "the export has no [Results] section: the plate setup is read without Cq values"
            )
        rows = self._rows(results or setup, setup if results else None)
        if not rows:
            table = results or setup
            raise ParseError(f"the [{table.name}] table has no wells", line=table.header_line)
        return QPCRResult(
            rows=tuple(rows),
            software_version=self._software(),
            instrument=self._instrument(),
            measured_at=self._measured_at(),
            run_name=self._get("experiment name"),
            description=self._get("experiment comment") or self._get("experiment comments"),
            warnings=tuple(self.warnings),
        )

    # -- layout ----------------------------------------------------------------------------

    def _split(self) -> None:
        table: _Table | None = None
        section = ""
        for index, raw in enumerate(self.lines):
            line = raw.strip()
            if not line:
                continue
            match = _SECTION.match(line)
            if match:
                section = match.group(1).strip()
                table = None
                continue
            if not section:
                if line.startswith("*") and "=" in line:
                    key, _, value = line[1:].partition("=")
                    self.header.setdefault(_fold(key), value.strip())
                continue
            if table is None:
                key = _fold(section)
                if key in self.tables:
                    continue  # a repeated section: the first one is the table
                table = _Table(section, index + 1, _cells(raw))
                self.tables[key] = table
                continue
            table.rows.append((index + 1, _cells(raw)))

    def _get(self, key: str) -> str:
        value = self.header.get(key, "").strip()
        return "" if value.upper() == "NA" else value

    # -- rows ------------------------------------------------------------------------------

    def _rows(self, table: _Table, setup: _Table | None) -> list[QPCRRow]:
        well_col = table.index("well position")
        number_col = table.index("well")
        if well_col is None and number_col is None:
            raise ParseError(
                f'the [{table.name}] table has no "Well" or "Well Position" column',
                line=table.header_line,
            )
        cq_col = table.index(*_CQ_COLUMNS) if table.name.casefold() == "results" else None
        if table.name.casefold() == "results" and cq_col is None:
            raise ParseError(
                "the [Results] table has no CT / Cт / Cq column", line=table.header_line
            )
        fallback = self._setup_by_well(setup) if setup is not None else {}
        sample_col = table.index("sample name", "sample")
        target_col = table.index("target name", "target", "detector name", "detector")
        columns = {
            "task": table.index("task"),
            "reporter": table.index("reporter"),
            "quantity": table.index("quantity"),
        }
        omit_col = table.index("omit")
        amp_col = table.index("amp status")
        flag_cols = [
            (i, label.strip().upper())
            for i, label in enumerate(table.labels)
            if label.strip().upper() in _FLAG_COLUMNS and table.columns.get(_fold(label)) == i
        ]
        columns_per_block = self._columns_per_row()
        rows = []
        dye_targets: set[str] = set()
        for line, cells in table.rows:

            def cell(col: int | None, cells: list[str] = cells) -> str:
                return cells[col] if col is not None and col < len(cells) else ""

            sample, target, cq_text = cell(sample_col), cell(target_col), cell(cq_col)
            if not (sample or target or cq_text):
                continue  # an empty well: position only
            well = self._well(cell(well_col), cell(number_col), columns_per_block, line)
            extra = fallback.get((well, target), {})
            values = {
                key: cell(col) if col is not None else extra.get(key, "")
                for key, col in columns.items()
            }
            if not target and values["reporter"]:
                # No target named: the dye is the only thing telling the assays apart.
                target = values["reporter"]
                dye_targets.add(target)
            task_text = values["task"]
            task = _TASKS.get(task_text.casefold(), _task_code(task_text))
            cq, undetermined = self._cq(
                cq_text, line, table.labels[cq_col] if cq_col is not None else ""
            )
            quantity = None
            if task == "standard" and values["quantity"]:
                quantity = self._number(values["quantity"], line, "Quantity")
            flags = []
            if cell(omit_col).casefold() in _TRUE:
                flags.append("excluded")
            flags.extend(name for i, name in flag_cols if cell(i).casefold() in _TRUE)
            amp = cell(amp_col)
            if amp and amp.casefold() != "amp":
                flags.append("AMP_STATUS_" + re.sub(r"\W+", "_", amp.upper()).strip("_"))
            rows.append(
                QPCRRow(
                    well=well,
                    sample_name=sample,
                    target=target,
                    cq=cq,
                    undetermined=undetermined,
                    task=task,
                    reporter=values["reporter"],
                    quantity=quantity,
                    flags=tuple(flags),
                )
            )
        if dye_targets:
            self.warnings.append(
                "the Target Name is empty for some wells; their targets were taken from the"
                f" dye names (Reporter: {', '.join(sorted(dye_targets))})"
            )
        return rows

    def _setup_by_well(self, setup: _Table) -> dict[tuple[str, str], dict[str, str]]:
        well_col = setup.index("well position")
        number_col = setup.index("well")
        target_col = setup.index("target name", "target", "detector name", "detector")
        wanted = {k: setup.index(k) for k in ("task", "reporter", "quantity")}
        columns_per_block = self._columns_per_row()
        by_well = {}
        for line, cells in setup.rows:

            def cell(col: int | None, cells: list[str] = cells) -> str:
                return cells[col] if col is not None and col < len(cells) else ""

            try:
                well = self._well(cell(well_col), cell(number_col), columns_per_block, line)
            except ParseError:
                continue  # the setup only fills gaps; [Results] reports its own errors
            by_well[(well, cell(target_col))] = {k: cell(col) for k, col in wanted.items()}
        return by_well

    def _columns_per_row(self) -> int | None:
        block = self._get("block type")
        for wells, columns in (("1536", 48), ("384", 24), ("96", 12), ("48", 8)):
            if wells in block:
                return columns
        return None

    def _well(self, position: str, number: str, columns: int | None, line: int) -> str:
        if position:
            return normalise_well(position)
        try:
            value = to_float(number)
        except ValueError:
            raise ParseError(
                f"well {number[:20]!r} is neither a position nor a number" if number else "no well",
                line=line,
                column="Well",
            ) from None
        if value != int(value) or value < 1:
            raise ParseError(f"well number {number!r} is not a positive whole number", line=line)
        if columns is None:
            return str(int(value))
        row, column = divmod(int(value) - 1, columns)
        return f"{row_letters(row)}{column + 1}"

    def _cq(self, text: str, line: int, label: str) -> tuple[float | None, bool]:
        if text.casefold() in _MISSING:
            return None, False
        if text.casefold() in _UNDETERMINED:
            return None, True
        value = self._number(text, line, label or "CT")
        if value < 0:
            return None, True
        return value, False

    def _number(self, text: str, line: int, column: str) -> float:
        try:
            return to_float(text)
        except ValueError:
            raise ParseError(f"not a number: {text[:40]!r}", line=line, column=column) from None

    # -- run -------------------------------------------------------------------------------

    def _instrument(self) -> str:
        kind = self._get("instrument type")
        serial = self._get("instrument serial number")
        if kind and serial:
            return f"{kind}, serial {serial}"
        return kind or (f"serial {serial}" if serial else self._get("instrument name"))

    def _software(self) -> str:
        for key, value in self.header.items():
            if "software" in key and value.strip() and value.strip().upper() != "NA":
                return value.strip()
        return ""

    def _measured_at(self) -> datetime | None:
        for key in ("experiment run end time", "run end time", "experiment run start time"):
            text = self._get(key)
            if text:
                when = _timestamp(text)
                if when is None:
                    self.warnings.append(f"the run time {text!r} could not be read")
                return when
        return None


def _task_code(text: str) -> str:
    return re.sub(r"\W+", "_", text.strip().casefold()).strip("_") or "unknown"


def _timestamp(text: str) -> datetime | None:
    """QuantStudio run times: ``2001-12-31 09:09:19 PM EST``, also ``22:05:31 PM`` (24-hour
    clock with a redundant PM) and US dates ``06-04-2024``."""
    match = _STAMP.match(text.strip())
    if not match:
        return None
    date = match.group("date")
    try:
        if date[4:5] == "-":
            year, month, day = (int(p) for p in date.split("-"))
        elif "." in date:
            day, month, year = (int(p) for p in date.split("."))
        else:
            month, day, year = (int(p) for p in re.split(r"[-/]", date))
        hour = int(match.group("h") or 0)
        ampm = (match.group("ampm") or "").upper()
        if ampm == "PM" and hour < 12:
            hour += 12
        elif ampm == "AM" and hour == 12:
            hour = 0
        offset = _TZ_HOURS.get((match.group("tz") or "").upper())
        return datetime(
            year,
            month,
            day,
            hour,
            int(match.group("m") or 0),
            int(match.group("s") or 0),
            tzinfo=timezone(timedelta(hours=offset)) if offset is not None else None,
        )
    except ValueError:
        return None
