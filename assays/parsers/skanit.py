"""Thermo SkanIt Excel export (Varioskan, Multiskan; INSTRUMENT-FORMATS.md §6.3, verified on
SkanIt Software 7.0 RE with a Varioskan LUX).

Layout: one sheet per session step, named ``<step> <n>_<order>`` (``Absorbance 1_01``,
``Blank Subtraction 1_02``, ``Standard Curve 1_03``, ``Dilution Factor 1_04``). A step sheet
starts ``Measurement results``, the session file (``….skax``), the run date and the step
name; then, per wavelength and plate, ``Wavelength: 450 nm``, ``Plate 1`` and a grid (header
``1.0 … 12.0``, rows ``A … H``) whose corner cell says what it holds: ``Abs``/``RFU``/``RLU``
raw readings, ``Blank subtracted``, ``Signal``, ``Conc. [microg/ml]``, ``Value``,
``Dilution factor`` — and ``Sample`` for the well IDs (``Std0001``, ``Un0001``, ``Blank1``).
Report sheets follow: ``General information`` (software), ``Session information`` (name,
notes, execution time), ``Instrument information`` (name, serial number), ``Protocol
parameters``, ``Run log`` and ``Layout definitions`` (per well: ID, group, and a standard's
concentration ``1 microg/ml`` or a sample's dilution ``1:25``).

What the result holds:

* ``reads``: every raw grid (``Abs``, ``RFU``, ``RLU``), one read per step × wavelength ×
  plate in sheet order. Only when a workbook has no raw grid are the ``Blank subtracted``
  grids used, marked ``reduced`` (their read type is then unknown, "").
* ``layout``: {well: {"role", "concentration", "name"}} plus "group" and, for samples,
  "dilution" (a factor ≥ 1: ``1:25`` is 25). Name and role come from the ``Sample`` grids of
  the first plate (role from the ID prefix: Std → standard, Blank → blank, Ctrl/QC →
  control, others → sample); group, concentration and dilution from ``Layout definitions``;
  standard concentrations missing there from the ``Standard Curve`` table (``Conc.
  [unit]``), dilutions missing there from a ``Dilution factor`` grid. Concentrations are in
  µg/mL when the unit is a mass concentration (``microg/ml``, mg/ml, ng/ml…); otherwise the
  number is kept with "unit" as written.
* ``measured_at`` from Session information ``Execution time`` (else the step sheet's date
  line), ``software_version`` from ``Report generated with SW version`` (else ``Executed
  with``), ``instrument_serial`` from Instrument information ``Serial number``,
  ``description`` from the session notes.

SkanIt's own curve fit and concentrations are not carried over: the LIMS fits its curve from
the raw readings and the layout.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from ._text import norm_key, read_or_parse_error
from .base import ParseError
from .plate_generic import (
    ROW_LETTERS,
    Grid,
    Sheet,
    amount,
    cell_number,
    cell_text,
    concentration_in_ug_per_ml,
    dilution_factor,
    find_grids,
    grid_header,
    grid_values,
    header_unit,
    is_spreadsheet_zip,
    layout_entry,
    marker_warning,
    parse_timestamp,
    read_workbook,
    role_from_name,
    set_concentration,
    well_name,
    zip_head_text,
)
from .results import PlateRead, PlateResult

# What the first 4096 bytes of a SkanIt workbook may show: the software or reader names, the
# first cell of every step sheet, or step sheet names (in workbook.xml or chart formulas).
_HEAD_MARK = re.compile(
    r"SkanIt|Varioskan|Multiskan|Measurement results|"
    r"(?:Absorbance|Fluorescence|Luminescence|Photometric|Fluorometric|Luminometric|"
    r"Blank Subtraction|Standard Curve|Dilution Factor) \d+_\d{2}\b"
)
_RAW_CORNERS = {
    "abs": "absorbance",
    "abs.": "absorbance",
    "od": "absorbance",
    "absorbance": "absorbance",
    "rfu": "fluorescence",
    "fluorescence": "fluorescence",
    "rlu": "luminescence",
    "luminescence": "luminescence",
}
_WAVELENGTH_LINE = re.compile(r"^wavelength[^:]*:\s*(\d+(?:[.,]\d+)?)\s*nm", re.IGNORECASE)
_SESSION_FILE = re.compile(r"\.sk[a-z]{1,3}$", re.IGNORECASE)
_INFO_TITLES = {"general information", "session information", "instrument information"}


class SkanItParser:
    format = "skanit"
    label = "Thermo SkanIt export (xlsx)"
    version = "1.0"

    def detect(self, name: str, head: bytes) -> bool:
        try:
            return is_spreadsheet_zip(head) and bool(_HEAD_MARK.search(zip_head_text(head)))
        except Exception:  # detection never raises
            return False

    def parse(self, data: bytes, name: str = "") -> PlateResult:
        sheets = read_workbook(data, file_kind="SkanIt")
        return read_or_parse_error(lambda: result_from_sheets(sheets), file_kind="SkanIt")


def looks_like_skanit(sheets: list[Sheet]) -> bool:
    """A step sheet (first cell ``Measurement results``) and a SkanIt report sheet or
    session file name: enough to tell SkanIt from a hand-made workbook."""
    steps = [s for s in sheets if norm_key(s.first_text) == "measurement results"]
    if not steps:
        return False
    if _INFO_TITLES & {norm_key(s.title) for s in sheets}:
        return True
    return any(
        _SESSION_FILE.search(text) for s in steps for i in range(4) for _c, text in s.texts(i)
    )


def result_from_sheets(sheets: list[Sheet]) -> PlateResult:
    warnings: list[str] = []
    # Raw and blank-subtracted reads each with their own warnings: only one set is kept.
    raw: tuple[list[PlateRead], list[str]] = ([], [])
    reduced: tuple[list[PlateRead], list[str]] = ([], [])
    samples: dict[str, dict[str, str]] = {}  # plate → well → ID
    dilutions: dict[str, float] = {}
    for sheet in sheets:
        plate = ""
        for grid in find_grids(sheet.rows):
            plate = _plate_above(sheet, grid) or plate
            kind = norm_key(grid.corner)
            if kind in _RAW_CORNERS:
                _read(sheet, grid, plate, _RAW_CORNERS[kind], raw)
            elif kind == "blank subtracted":
                _read(sheet, grid, plate, "", reduced)
            elif kind == "sample":
                ids = samples.setdefault(plate, {})
                for well, value in grid.cells.items():
                    if (text := cell_text(value)) and well not in ids:
                        ids[well] = text
            elif kind == "dilution factor":
                for well, value in grid.cells.items():
                    factor = dilution_factor(value)
                    if factor is not None:
                        dilutions.setdefault(well, factor)
        if sheet.truncated:
            warnings.append(f'sheet "{sheet.title}" is larger than the part that was read')
    reads, read_warnings = raw if raw[0] else reduced
    if not reads:
        raise ParseError(
            "no plate readings found in the SkanIt workbook (a grid whose corner cell is "
            '"Abs", "RFU", "RLU" or "Blank subtracted")'
        )
    warnings[:0] = read_warnings
    first_plate = reads[0].plate_name
    ids = samples.get(first_plate) or next(iter(samples.values()), {})
    if any(
        ids.get(well, text) != text for other in samples.values() for well, text in other.items()
    ):
        warnings.append(
            f"the plates have different sample layouts; the layout is that of "
            f"{first_plate or 'the first plate'}"
        )
    info = _report_values(sheets)
    layout = _layout(sheets, ids, dilutions, warnings)
    return PlateResult(
        reads=tuple(reads),
        software_version=info.get("report generated with sw version")
        or info.get("executed with", ""),
        instrument_serial=info.get("serial number", ""),
        measured_at=_measured_at(sheets, info),
        layout=layout,
        description=info.get("session notes", ""),
        warnings=tuple(warnings),
    )


def _read(
    sheet: Sheet,
    grid: Grid,
    plate: str,
    read_type: str,
    into: tuple[list[PlateRead], list[str]],
) -> None:
    """One grid as a read; ``read_type`` "" means blank-subtracted (reduced) data."""
    reads, warnings = into
    found = grid_values(grid)
    where = f'sheet "{sheet.title}" row {grid.top + 1}'
    if found.numbers == 0:
        warnings.append(f"{where}: the {grid.corner} grid holds no numbers and was skipped")
        return
    if found.markers:
        warnings.append(marker_warning(where, found.markers))
    reads.append(
        PlateRead(
            values=found.values,
            rows=grid.rows,
            columns=grid.columns,
            plate_name=plate,
            wavelength_nm=_wavelength_above(sheet, grid),
            read_type=read_type,
            reduced=not read_type,
        )
    )


def _plate_above(sheet: Sheet, grid: Grid) -> str:
    """The plate line right above a grid (``Plate 1``); "" when the grid follows another."""
    for index in range(grid.top - 1, -1, -1):
        # Only the grid's own columns: users add notes and charts beside SkanIt's grids.
        texts = [(c, t) for c, t in sheet.texts(index) if c <= grid.left + grid.columns]
        if not texts:
            continue
        column, text = texts[0]
        if len(texts) == 1 and column == grid.left and not _WAVELENGTH_LINE.match(text):
            return text
        return ""
    return ""


def _wavelength_above(sheet: Sheet, grid: Grid) -> float | None:
    for index in range(grid.top - 1, -1, -1):
        texts = sheet.texts(index)
        if texts and (match := _WAVELENGTH_LINE.match(texts[0][1])):
            number, _marker = cell_number(match.group(1), ",")
            return number
    return None


def _report_values(sheets: list[Sheet]) -> dict[str, str]:
    """Key → value of the report sheets (first occurrence wins). A key's value may continue
    on following rows in the value column (multi-line session notes)."""
    values: dict[str, str] = {}
    for sheet in sheets:
        if norm_key(sheet.title) not in _INFO_TITLES:
            continue
        key = ""
        value_column = -1
        for index in range(len(sheet.rows)):
            texts = sheet.texts(index)
            if len(texts) >= 2:
                key = norm_key(texts[0][1])
                value_column = texts[1][0]
                if key in values:
                    key = ""  # a repeated key: keep the first, drop its continuation
                else:
                    values[key] = " ".join(text for _c, text in texts[1:])
            elif len(texts) == 1 and key and texts[0][0] >= value_column:
                values[key] += "\n" + texts[0][1]
            elif texts:
                key = ""
    return values


def _measured_at(sheets: list[Sheet], info: dict[str, str]) -> datetime | None:
    stamp = parse_timestamp(info.get("execution time", ""))
    if stamp is not None:
        return stamp
    for sheet in sheets:
        if norm_key(sheet.first_text) != "measurement results":
            continue
        for index in range(1, 5):
            for _column, text in sheet.texts(index):
                # The session file name may carry a date of its own: skip it.
                stamp = None if _SESSION_FILE.search(text) else parse_timestamp(text)
                if stamp is not None:
                    return stamp
    return None


# --- Layout -----------------------------------------------------------------------------------


def _layout(
    sheets: list[Sheet], ids: dict[str, str], dilutions: dict[str, float], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    definitions: dict[str, dict[str, Any]] = {}
    standards: dict[str, tuple[float, str]] = {}
    for sheet in sheets:
        title = norm_key(sheet.title)
        if title == "layout definitions" and not definitions:
            definitions = _layout_definitions(sheet, warnings)
        elif title.startswith("standard curve") and not standards:
            standards = _standard_table(sheet)
    layout: dict[str, dict[str, Any]] = {}
    for well in _plate_order({*ids, *definitions}):
        defined = definitions.get(well, {})
        name = ids.get(well) or defined.get("name", "")
        if not name:
            continue
        if defined.get("name") and ids.get(well) and defined["name"] != ids[well]:
            warnings.append(
                f"well {well} is {ids[well]} in the data sheets but {defined['name']} in "
                "Layout definitions; the data sheets were followed"
            )
        entry = layout_entry(name)
        if defined.get("group"):
            entry["group"] = defined["group"]
        conc = _concentration(well, defined.get("concentration"), standards.get(well), warnings)
        if conc is not None and (problem := set_concentration(entry, *conc)):
            warnings.append(f"well {well}: {problem}")
        factor = defined.get("dilution") or dilutions.get(well)
        if factor is not None and entry["role"] != "standard":
            entry["dilution"] = factor
        layout[well] = entry
    return layout


def _plate_order(wells: set[str]) -> list[str]:
    return sorted(wells, key=lambda w: (ROW_LETTERS.index(w[0]), int(w[1:])))


def _concentration(
    well: str,
    defined: tuple[float, str] | None,
    curve: tuple[float, str] | None,
    warnings: list[str],
) -> tuple[float, str] | None:
    """The (amount, unit) to use: Layout definitions first, the Standard Curve table when
    they have none; a disagreement between the two is reported."""
    if defined and curve:
        value, unit = concentration_in_ug_per_ml(*defined)
        other, other_unit = concentration_in_ug_per_ml(*curve)
        if other_unit == unit and not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12):
            warnings.append(
                f"well {well}: Layout definitions say {value:g} {unit} but the Standard Curve "
                f"table says {other:g} {unit}; Layout definitions were followed"
            )
    return defined or curve


def _layout_definitions(sheet: Sheet, warnings: list[str]) -> dict[str, dict[str, Any]]:
    """The first plate of ``Layout definitions``: after a 1…12 header, each plate row is a
    labelled line of IDs followed by unlabelled lines of group and amount/dilution."""
    entries: dict[str, dict[str, Any]] = {}
    plates = [
        texts[1][1]
        for index in range(len(sheet.rows))
        if len(texts := sheet.texts(index)) >= 2 and norm_key(texts[0][1]) == "name"
    ]
    if len(plates) > 1:
        warnings.append(
            f"Layout definitions describe {len(plates)} plates; the layout of the first "
            f"({plates[0]}) was used"
        )
    rows = sheet.rows
    start = next((i for i, row in enumerate(rows) if grid_header(row)), None)
    if start is None:
        return entries
    header = grid_header(rows[start])
    assert header is not None
    left, columns = header
    letter = -1
    for index in range(start + 1, len(rows)):
        row = rows[index]
        label = cell_text(row[left]) if left < len(row) else ""
        if label:
            if letter + 1 >= len(ROW_LETTERS) or label.upper() != ROW_LETTERS[letter + 1]:
                break
            letter += 1
        elif letter < 0 or not any(cell_text(c) for c in row):
            break
        for column in range(1, columns + 1):
            position = left + column
            raw = row[position] if position < len(row) else None
            if not cell_text(raw):
                continue
            well = f"{ROW_LETTERS[letter]}{column}"
            if label:
                entries[well] = {"name": cell_text(raw)}
            else:
                _definition_attribute(entries.setdefault(well, {}), raw)
    return entries


def _definition_attribute(entry: dict[str, Any], raw: Any) -> None:
    text = cell_text(raw)
    factor = dilution_factor(text) if ":" in text else None
    if factor is not None:
        entry.setdefault("dilution", factor)
        return
    if isinstance(raw, (int, float)):
        number, _marker = cell_number(raw)
        if number is not None and role_from_name(entry.get("name", "")) == "standard":
            entry.setdefault("concentration", (number, ""))
        return
    parsed = amount(text)
    if parsed is not None and parsed[1]:
        entry.setdefault("concentration", parsed)
    else:
        entry.setdefault("group", text)


def _standard_table(sheet: Sheet) -> dict[str, tuple[float, str]]:
    """Well → (concentration, unit) from the ``Well | Sample | Conc. [unit] | …`` table."""
    found: dict[str, tuple[float, str]] = {}
    for index, row in enumerate(sheet.rows):
        keys = [norm_key(cell_text(c)) for c in row]
        if "well" not in keys:
            continue
        conc = next((i for i, key in enumerate(keys) if key.startswith("conc")), None)
        if conc is None:
            continue
        well_column = keys.index("well")
        unit = header_unit(cell_text(row[conc]))
        for data in sheet.rows[index + 1 :]:
            label = cell_text(data[well_column]) if well_column < len(data) else ""
            if not label:
                break
            well = well_name(label)
            if well is None:
                continue  # "Average" rows
            number, _marker = cell_number(data[conc] if conc < len(data) else None)
            if number is not None:
                found.setdefault(well, (number, unit))
        break
    return found
