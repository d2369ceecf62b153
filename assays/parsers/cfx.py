"""Bio-Rad CFX Manager / CFX Maestro "Quantification Cq Results" CSV (verified: CFX Maestro
export, INSTRUMENT-FORMATS.md §7.2).

Layout: one header row ``,Well,Fluor,Target,Content,Sample,Biological Set Name,Cq,Cq Mean,
Cq Std. Dev,Starting Quantity (SQ),…`` whose first cell is empty (that column holds a row
index or nothing), then one row per well × fluor. Wells are zero-padded (``A01``) and are
reported as ``A1``. A PC with a decimal-comma locale writes ``;`` between cells and decimal
commas; both are accepted. Older CFX Manager files call the Cq column ``C(t)``.

Rows: ``Content`` gives the task once its replicate number is dropped (``Unkn-01`` → unknown,
``Std-03`` → standard, ``NTC`` → ntc, ``Pos`` → positive, ``Neg`` → negative, ``NRT`` → nrt).
``cq`` None with ``undetermined`` when Cq is ``NaN`` or empty (CFX's "no Cq"). ``quantity``
is ``Starting Quantity (SQ)`` for standards only (for unknowns CFX calculates it from the
curve; that value is not reported). ``reporter`` is the Fluor; when the Target column is
empty (a plate set up with dyes only) the Fluor is the target too, so each dye keeps its own
column, and a warning says so. Unloaded wells (no content,
sample, target or Cq) are skipped. The CSV carries no run metadata.
"""

from __future__ import annotations

import csv
import re

from ._text import decode_head, decode_text, norm_key, read_or_parse_error, split_lines, to_float
from .base import ParseError
from .rdml import normalise_well
from .results import QPCRResult, QPCRRow

_CQ_COLUMNS = ("cq", "c(t)", "ct")
_NO_CQ = {"", "nan", "n/a", "none"}
_REPLICATE = re.compile(r"[\s-]*\d+$")
_TASKS = {
    "unkn": "unknown",
    "unknown": "unknown",
    "std": "standard",
    "standard": "standard",
    "ntc": "ntc",
    "nrt": "nrt",
    "pos": "positive",
    "pos ctrl": "positive",
    "positive control": "positive",
    "neg": "negative",
    "neg ctrl": "negative",
    "negative control": "negative",
}


def _delimiter(line: str) -> str | None:
    """The separator of a CFX header row (empty first cell, then Well), or None."""
    for delimiter in (",", ";", "\t"):
        cells = [norm_key(c.strip('"')) for c in line.split(delimiter)]
        if len(cells) > 4 and cells[0] == "" and cells[1] == "well":
            return delimiter
    return None


class CFXParser:
    format = "cfx"
    label = "Bio-Rad CFX / CFX Maestro Cq results (CSV)"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        lines = [line for line in split_lines(decode_head(head).lstrip("\ufeff")) if line.strip()]
        if not lines:
            return False
        delimiter = _delimiter(lines[0])
        if delimiter is None:
            return False
        cells = {norm_key(c.strip('"')) for c in lines[0].split(delimiter)}
        return bool(cells & set(_CQ_COLUMNS)) and bool(cells & {"fluor", "content"})

    def parse(self, data: bytes, name: str = "") -> QPCRResult:
        return read_or_parse_error(lambda: _read(data), file_kind="CFX")


def _read(data: bytes) -> QPCRResult:
    text, _ = decode_text(data)
    lines = split_lines(text)
    start = next((i for i, line in enumerate(lines) if line.strip()), 0)
    delimiter = _delimiter(lines[start]) if lines else None
    if delimiter is None:
        raise ParseError(
            'not a CFX Cq results export: the header row should be ",Well,Fluor,Target,'
            'Content,Sample,…,Cq,…"',
            line=start + 1,
        )
    try:
        table = list(csv.reader(lines[start:], delimiter=delimiter, strict=False))
    except csv.Error as exc:
        raise ParseError(f"the CSV cannot be read ({exc})") from None
    header = [norm_key(cell) for cell in table[0]]
    columns: dict[str, int] = {}
    for index, label in enumerate(header):
        columns.setdefault(label, index)

    def find(*names: str) -> int | None:
        return next((columns[n] for n in names if n in columns), None)

    cq_col = find(*_CQ_COLUMNS)
    if cq_col is None:
        raise ParseError("the header has no Cq column", line=start + 1)
    well_col = find("well")
    if well_col is None:
        raise ParseError('the header has no "Well" column', line=start + 1)
    fluor_col, target_col = find("fluor"), find("target")
    content_col, sample_col = find("content"), find("sample")
    sq_col = find("starting quantity (sq)", "sq", "starting quantity")
    decimal = _decimal(table[1:], cq_col, delimiter)
    rows = []
    dye_targets: set[str] = set()
    for offset, cells in enumerate(table[1:], start=start + 2):

        def cell(col: int | None, cells: list[str] = cells) -> str:
            return cells[col].strip() if col is not None and col < len(cells) else ""

        if not any(c.strip() for c in cells):
            continue
        content, sample, target = cell(content_col), cell(sample_col), cell(target_col)
        cq_text = cell(cq_col)
        if not (content or sample or target or cq_text.casefold() not in _NO_CQ):
            continue  # an unloaded well
        fluor = cell(fluor_col)
        if not target and fluor:
            target = fluor
            dye_targets.add(fluor)
        well = cell(well_col)
        if not well:
            raise ParseError("a row without a well", line=offset, column="Well")
        kind = _REPLICATE.sub("", content).strip()
        task = _TASKS.get(kind.casefold(), re.sub(r"\W+", "_", kind.casefold()).strip("_"))
        task = task or "unknown"
        cq = None
        if cq_text.casefold() not in _NO_CQ:
            cq = _number(cq_text, decimal, offset, table[0][cq_col])
        quantity = None
        sq_text = cell(sq_col)
        if task == "standard" and sq_text.casefold() not in _NO_CQ:
            quantity = _number(
                sq_text, decimal, offset, table[0][sq_col] if sq_col is not None else "SQ"
            )
        rows.append(
            QPCRRow(
                well=normalise_well(well),
                sample_name=sample,
                target=target,
                cq=cq if cq is None or cq >= 0 else None,
                undetermined=cq is None or cq < 0,
                task=task,
                reporter=fluor,
                quantity=quantity,
            )
        )
    if not rows:
        raise ParseError("the export has a header but no wells", line=start + 1)
    warnings = ()
    if dye_targets:
        warnings = (
            "the Target column is empty for some wells; their targets were taken from the dye "
            f"names (Fluor: {', '.join(sorted(dye_targets))})",
        )
    return QPCRResult(rows=tuple(rows), warnings=warnings)


def _decimal(rows: list[list[str]], cq_col: int, delimiter: str) -> str:
    """A ``;``-separated export from a decimal-comma PC writes ``21,18``."""
    if delimiter == ",":
        return "."
    for cells in rows:
        value = cells[cq_col] if cq_col < len(cells) else ""
        if "," in value and "." not in value:
            return ","
        if "." in value:
            return "."
    return "."


def _number(text: str, decimal: str, line: int, column: str) -> float:
    try:
        return to_float(text, decimal)
    except ValueError:
        raise ParseError(f"not a number: {text[:40]!r}", line=line, column=column) from None
