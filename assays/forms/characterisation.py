"""Forms of the characterisation pages: a protein result typed in, a plate pasted from a
spreadsheet, the plate map, the MIFlowCyt-EV fields of a flow measurement, a DLS result,
Cq values typed in, and the tube of each unmatched qPCR sample name.

The forms only collect and check input; ``assays.characterisation_services`` and
``assays.protein_services`` write, in one transaction, and check again. Numbers may be typed
with a decimal comma (``0,5``), as lab spreadsheets in many locales write them.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import formset_factory
from django.utils import timezone

from samples.forms.widgets import DATETIME_WIDGET
from samples.units import parse_decimal
from samples.views.common import accession_candidates

from ..choices import (
    ControlKind,
    CurveModel,
    DLSKind,
    FluorescenceUnit,
    ProteinMethod,
    QPCRTask,
    ScatterUnit,
)
from ..matching import recordable_aliquots
from ..models import Instrument, ProteinAssay
from ..protein import normalise_well
from .files import TubeAccessionField, find_tube_for_results
from .protocols import ServiceErrorsMixin

ROW_LETTERS = "ABCDEFGHIJKLMNOP"
PLATE_SIZES = {"96": (8, 12), "384": (16, 24)}
# What plate readers write in a well they could not read (saturated, over range, no read).
NO_READING = {"", "-", "*", "na", "n/a", "nan", "ovrflw", "overflow", "over", "sat", "sat."}
MAX_QPCR_ROWS = 96


# --- Small parts -----------------------------------------------------------------------------


class NumberField(forms.CharField):
    """A number typed by a person, as a float: ``1.5`` and ``1,5`` are both accepted."""

    def __init__(
        self,
        *,
        min_value: float | None = None,
        max_value: float | None = None,
        above: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.min_value, self.max_value, self.above = min_value, max_value, above
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "maxlength": 40}),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> float | None:
        text = super().to_python(value).strip()
        if not text:
            return None
        if len(text) > 40:
            raise ValidationError("That is too long for a number.")
        number = float(parse_decimal(text))
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationError("Give a finite number.")
        if self.min_value is not None and number < self.min_value:
            raise ValidationError(f"Must be at least {self.min_value:g}.")
        if self.max_value is not None and number > self.max_value:
            raise ValidationError(f"Must be at most {self.max_value:g}.")
        if self.above is not None and number <= self.above:
            raise ValidationError(f"Must be greater than {self.above:g}.")
        return number

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, float):
            return f"{value:g}"
        return value


def instrument_field(**kwargs: Any) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Instrument.objects.filter(is_active=True).order_by("name"),
        required=False,
        empty_label="Not given",
        **kwargs,
    )


def measured_at_field(**kwargs: Any) -> forms.DateTimeField:
    kwargs.setdefault("label", "Measured")
    return forms.DateTimeField(required=False, widget=DATETIME_WIDGET, **kwargs)


def now_minute():
    return timezone.localtime().replace(second=0, microsecond=0)


class TubeMixin:
    """A ``tube`` field: the accession, typed or scanned, of a tube the user may record on."""

    user: Any

    def clean_tube(self):
        return find_tube_for_results(self.cleaned_data["tube"], user=self.user)

    def add_tube_refusal(self, error: PermissionDenied) -> None:
        """Show, on the tube, why the service would not record on it (the tube was fine when
        the form was checked; the service has the last word)."""
        self.add_error("tube", str(error) or "You cannot record results on this tube.")


def record_initial(record: Any, form_class: type[forms.Form]) -> dict[str, Any]:
    """A create form's initial values from a stored record, to correct it. The tube is the
    record's and is not changed by editing (the form's tube field is dropped)."""
    names = [name for name in form_class.base_fields if name != "tube"]
    return {name: getattr(record, name) for name in names if hasattr(record, name)}


def without_tube(form: forms.Form) -> forms.Form:
    """The form for editing a record: its tube stays as it is."""
    form.fields.pop("tube", None)
    return form


def tube_field(**kwargs: Any) -> TubeAccessionField:
    kwargs.setdefault("label", "Tube")
    kwargs.setdefault("help_text", "Type or scan the accession of the measured tube.")
    kwargs.setdefault("error_messages", {"required": "Type or scan the tube's accession."})
    return TubeAccessionField(**kwargs)


# --- Controls (MIFlowCyt-EV, MISEV: every record says which controls were run) -----------------


class ControlForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("", "—"), *ControlKind.choices], required=False, label="Control"
    )
    description = forms.CharField(max_length=500, required=False, label="Description")
    result = forms.CharField(max_length=500, required=False, label="Result")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("description") or data.get("result")) and not data.get("kind"):
            self.add_error("kind", "Say which kind of control this is.")
        return data


ControlFormSet = formset_factory(ControlForm, extra=0, max_num=50, absolute_max=50)


def controls_formset(data=None, *, initial: list[dict] | None = None) -> Any:
    """The controls rows: those recorded plus two empty ones to fill in (no script needed)."""
    rows = list(initial or [])
    if data is not None:
        return ControlFormSet(data, prefix="controls")
    formset = formset_factory(ControlForm, extra=2, max_num=52, absolute_max=52)
    return formset(initial=rows, prefix="controls")


def controls_from(formset) -> list[dict[str, str]]:
    """The filled-in controls as the models store them."""
    rows = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", None) or {}
        if data.get("kind"):
            rows.append(
                {
                    "kind": data["kind"],
                    "description": data.get("description", ""),
                    "result": data.get("result", ""),
                }
            )
    return rows


# --- Protein --------------------------------------------------------------------------------


class ProteinMeasurementForm(TubeMixin, ServiceErrorsMixin, forms.Form):
    """A protein concentration measured without a plate in ExoLIMS (Qubit, NanoDrop, a plate
    read elsewhere)."""

    tube = tube_field()
    method = forms.ChoiceField(choices=ProteinMethod.choices, initial=ProteinMethod.BCA)
    concentration_ug_per_ml = NumberField(
        label="Concentration (µg/mL)",
        min_value=0,
        help_text="In the tube, the dilution already applied.",
        error_messages={"required": "Give the concentration in µg/mL."},
    )
    dilution_factor = NumberField(
        label="Dilution factor",
        min_value=1,
        required=False,
        initial=1,
        help_text="1:10 is 10. For the record only; the concentration above is the tube's.",
    )
    volume_ml = NumberField(
        label="Volume (mL)",
        above=0,
        required=False,
        help_text="For the total µg. Empty: the preparation's resuspension volume (or the "
        "tube's volume).",
    )
    measured_at = measured_at_field()
    instrument = instrument_field()
    sop = forms.CharField(label="SOP / kit", max_length=200, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def service_data(self, controls: list[dict]) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("tube", None)  # absent when a record is edited
        if data.get("dilution_factor") is None:
            data["dilution_factor"] = 1.0
        if data.get("volume_ml") is None:
            data.pop("volume_ml")
        else:  # a DecimalField: a float would carry binary noise into its decimal places
            data["volume_ml"] = Decimal(str(data["volume_ml"]))
        data["controls"] = controls
        return data


def _cell_number(text: str, *, thousands_comma: bool) -> float | None:
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if cleaned.lower() in NO_READING:
        return None
    cleaned = cleaned.replace(",", "") if thousands_comma else cleaned.replace(",", ".")
    number = float(cleaned)  # ValueError for text: the caller names the well
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


def _split(line: str) -> list[str]:
    if "\t" in line:
        return line.split("\t")
    if ";" in line:
        return line.split(";")
    if "," in line and "." in line:  # an English CSV: commas separate, points are decimals
        return line.split(",")
    return line.split()


def parse_plate_grid(text: str, *, rows: int, columns: int) -> dict[str, float | None]:
    """Well → value from what was copied out of a spreadsheet.

    Two shapes are understood: the plate as a grid (one line per plate row, a leading row
    letter and a header line of column numbers are optional), or one ``well value`` pair per
    line. Cells are separated by tabs (Excel), semicolons or, for an English CSV, commas.
    Empty cells and overflow markers (OVRFLW, *) are wells without a reading.
    """
    lines = [line.rstrip("\r") for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValidationError("Paste the plate's values.")
    table = [[cell.strip() for cell in _split(line)] for line in lines]
    cells = [cell for row in table for cell in row]
    thousands_comma = any("," in cell and "." in cell for cell in cells)
    pairs = all(len([c for c in row if c]) == 2 and normalise_well(row[0]) for row in table)
    values: dict[str, float | None] = {}
    problems: list[str] = []

    def put(well: str, cell: str) -> None:
        try:
            values[well] = _cell_number(cell, thousands_comma=thousands_comma)
        except ValueError:
            problems.append(f"{well}: “{cell}” is not a number")

    if pairs:
        for row in table:
            cell_texts = [c for c in row if c]
            well = normalise_well(cell_texts[0])
            if not _on_plate(well, rows, columns):
                problems.append(f"{cell_texts[0]}: not a well of a {rows}×{columns} plate")
                continue
            put(well, cell_texts[1])
    else:
        # A header line of column numbers (1 2 3 … with or without a corner cell) is skipped.
        header = [c for c in table[0] if c]
        if len(header) > 1 and header == [str(n) for n in range(1, len(header) + 1)]:
            table = table[1:]
        if len(table) > rows:
            raise ValidationError(
                f"The grid has {len(table)} rows; a {rows}×{columns} plate has {rows}."
            )
        for index, row in enumerate(table):
            letter = ROW_LETTERS[index]
            if row and row[0].upper() == letter:
                row = row[1:]
            if len(row) > columns and not any(row[columns:]):
                row = row[:columns]
            if len(row) > columns:
                raise ValidationError(
                    f"Row {letter} has {len(row)} values; a {rows}×{columns} plate has "
                    f"{columns} columns."
                )
            for column, cell in enumerate(row, start=1):
                put(f"{letter}{column}", cell)
    if problems:
        raise ValidationError(problems)
    if not any(value is not None for value in values.values()):
        raise ValidationError("No well has a number.")
    # Every well of the plate is in the read (None: no reading), so a map may name any well.
    return {
        f"{letter}{column}": values.get(f"{letter}{column}")
        for letter in ROW_LETTERS[:rows]
        for column in range(1, columns + 1)
    }


def _on_plate(well: str | None, rows: int, columns: int) -> bool:
    if well is None:
        return False
    letters = well.rstrip("0123456789")
    return letters in ROW_LETTERS[:rows] and len(letters) == 1 and 1 <= int(well[1:]) <= columns


class PlatePasteForm(ServiceErrorsMixin, forms.Form):
    """A plate read typed or pasted by hand (no instrument file)."""

    name = forms.CharField(max_length=120, required=False, help_text="e.g. BCA 2026-03-02")
    method = forms.ChoiceField(choices=ProteinMethod.choices, initial=ProteinMethod.BCA)
    plate_size = forms.ChoiceField(
        label="Plate", choices=[("96", "96 wells (8 × 12)"), ("384", "384 wells (16 × 24)")]
    )
    grid = forms.CharField(
        label="Values",
        widget=forms.Textarea(
            attrs={"rows": 10, "class": "mono paste-grid", "spellcheck": "false", "wrap": "off"}
        ),
        help_text="Copy the plate from Excel and paste it here: one line per row (A, B, …), "
        "tab- or semicolon-separated; a decimal comma is fine. Or one “A1  0.123” per line.",
        error_messages={"required": "Paste the plate's values."},
    )
    wavelength_nm = NumberField(label="Wavelength (nm)", required=False, above=0)
    measured_at = measured_at_field()
    instrument = instrument_field()
    sop = forms.CharField(label="SOP / kit", max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "grid" in data and data.get("plate_size") in PLATE_SIZES:
            rows, columns = PLATE_SIZES[data["plate_size"]]
            try:
                data["values"] = parse_plate_grid(data["grid"], rows=rows, columns=columns)
            except ValidationError as error:
                self.add_error("grid", error)
            data["rows"], data["columns"] = rows, columns
        return data


def read_choices(assay: ProteinAssay) -> list[tuple[int, str]]:
    choices = []
    for index, read in enumerate(assay.reads or []):
        parts = [f"Read {index + 1}"]
        if read.get("wavelength_nm"):
            parts.append(f"{read['wavelength_nm']:g} nm")
        if read.get("plate_name"):
            parts.append(str(read["plate_name"]))
        if read.get("read_type"):
            parts.append(str(read["read_type"]))
        choices.append((index, " · ".join(parts)))
    return choices or [(0, "Read 1")]


class PlateMapForm(ServiceErrorsMixin, forms.Form):
    """The plate map (JSON, written by the map editor or typed) and the plate's settings."""

    plate_map = forms.CharField(
        label="Plate map (JSON)",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 12, "class": "mono plate-map-json", "spellcheck": "false"}
        ),
        help_text='Well → what it holds, e.g. {"A1": {"role": "standard", "concentration": '
        '2000}, "C1": {"role": "sample", "accession": "EXO-000123", "dilution": 2}}.',
    )
    method = forms.ChoiceField(choices=ProteinMethod.choices)
    curve_model = forms.ChoiceField(label="Curve", choices=CurveModel.choices)
    subtract_blank = forms.BooleanField(
        label="Subtract the blank",
        required=False,
        help_text="Mean of the blank wells (or the "
        "0 µg/mL standards when there are none) is taken off every well.",
    )
    read_index = forms.TypedChoiceField(label="Read", coerce=int, choices=[(0, "Read 1")])

    def __init__(self, *args: Any, assay: ProteinAssay, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assay = assay
        self.fields["read_index"].choices = read_choices(assay)

    def clean_plate_map(self) -> dict:
        text = self.cleaned_data["plate_map"].strip() or "{}"
        try:
            plate_map = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"The plate map is not valid JSON ({exc}).") from None
        if not isinstance(plate_map, dict):
            raise ValidationError("The plate map must be an object keyed by well (A1, B2, …).")
        return plate_map


def resolve_plate_accessions(plate_map: dict, *, user) -> tuple[dict, list[str]]:
    """Sample wells name their tube by accession (typed or scanned); the stored map holds tube
    ids. Accessions are looked up among the tubes the user may record on, all in one query.
    Returns the map with ids and the problems, each naming its well."""
    wanted: dict[str, set[str]] = {}
    for well, entry in plate_map.items():
        if isinstance(entry, dict) and str(entry.get("accession") or "").strip():
            wanted[well] = accession_candidates(str(entry["accession"]))
    spellings = {text for texts in wanted.values() for text in texts}
    found = dict(
        recordable_aliquots(user).filter(accession__in=spellings).values_list("accession", "pk")
    )
    resolved: dict = {}
    problems: list[str] = []
    for well, entry in plate_map.items():
        if well not in wanted:
            resolved[well] = entry
            continue
        entry = dict(entry)
        typed = str(entry.pop("accession")).strip()
        tube_id = next((found[text] for text in wanted[well] if text in found), None)
        if tube_id is None:
            problems.append(f"{well}: no tube {typed} that you can record results on")
            continue
        entry["sample"] = str(tube_id)
        resolved[well] = entry
    return resolved, problems


def map_for_editor(plate_map: dict, accessions: dict[int, str]) -> dict:
    """The stored map with each sample's accession added (the editor shows accessions)."""
    shown = {}
    for well, entry in (plate_map or {}).items():
        item = dict(entry)
        sample = str(item.get("sample") or "")
        if sample.isdigit() and int(sample) in accessions:
            item["accession"] = accessions[int(sample)]
        shown[well] = item
    return shown


# --- Flow (MIFlowCyt-EV) ----------------------------------------------------------------------


class FlowReportingForm(ServiceErrorsMixin, forms.Form):
    """What MIFlowCyt-EV asks that an FCS file does not say."""

    analysed_volume_ul = NumberField(
        label="Analysed volume (µL)",
        required=False,
        above=0,
        help_text="Overrides the file's $VOL; needed for events per mL.",
    )
    dilution_factor = NumberField(
        label="Dilution factor", min_value=1, initial=1, help_text="1:100 is 100."
    )
    calibration_beads = forms.CharField(
        max_length=200, required=False, help_text="e.g. Rosetta Calibration, ApogeeMix"
    )
    refractive_index_assumed = NumberField(
        label="Refractive index assumed",
        required=False,
        min_value=1,
        max_value=3,
        help_text="For scatter → size conversion, e.g. 1.38 for EVs.",
    )
    scatter_unit = forms.ChoiceField(choices=ScatterUnit.choices)
    fluorescence_unit = forms.ChoiceField(choices=FluorescenceUnit.choices)
    lod_scatter = NumberField(label="Scatter limit of detection", required=False)
    lod_fluorescence = NumberField(label="Fluorescence limit of detection", required=False)
    gating = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The gates in words (and their figure's name).",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    FIELDS = (
        "analysed_volume_ul",
        "dilution_factor",
        "calibration_beads",
        "refractive_index_assumed",
        "scatter_unit",
        "fluorescence_unit",
        "lod_scatter",
        "lod_fluorescence",
        "gating",
        "notes",
    )


# --- DLS ------------------------------------------------------------------------------------


class DLSForm(TubeMixin, ServiceErrorsMixin, forms.Form):
    """A Zetasizer result typed in (size: Z-average and PDI; zeta: potential)."""

    tube = tube_field()
    kind = forms.ChoiceField(choices=DLSKind.choices, initial=DLSKind.SIZE)
    measured_at = measured_at_field()
    z_average_nm = NumberField(label="Z-average (nm)", required=False, above=0)
    pdi = NumberField(label="PDI", required=False, min_value=0, max_value=1)
    zeta_potential_mv = NumberField(label="Zeta potential (mV)", required=False)
    zeta_deviation_mv = NumberField(label="Zeta deviation (mV)", required=False, min_value=0)
    conductivity_ms_cm = NumberField(label="Conductivity (mS/cm)", required=False, min_value=0)
    temperature_c = NumberField(label="Temperature (°C)", required=False)
    dispersant = forms.CharField(max_length=120, required=False, help_text="e.g. PBS")
    count_rate_kcps = NumberField(label="Count rate (kcps)", required=False, min_value=0)
    instrument = instrument_field()
    sop = forms.CharField(label="SOP", max_length=200, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == DLSKind.SIZE and data.get("z_average_nm") is None:
            self.add_error("z_average_nm", "A size result needs its Z-average.")
        if data.get("kind") == DLSKind.ZETA and data.get("zeta_potential_mv") is None:
            self.add_error("zeta_potential_mv", "A zeta result needs the zeta potential.")
        return data

    def service_data(self, controls: list[dict], *, editing: bool = False) -> dict[str, Any]:
        """Editing sends the emptied fields too (as None), so a value can be taken out."""
        data = {k: v for k, v in self.cleaned_data.items() if k != "tube"}
        data["controls"] = controls
        if data["kind"] == DLSKind.ZETA:
            data["z_average_nm"] = data["pdi"] = None
        if editing:
            return data
        return {k: v for k, v in data.items() if v is not None}


# --- qPCR -----------------------------------------------------------------------------------

_WELL = re.compile(r"^[A-Pa-p](0?[1-9]|1[0-9]|2[0-4])$")


class QPCRRunForm(TubeMixin, ServiceErrorsMixin, forms.Form):
    tube = tube_field()
    run_name = forms.CharField(
        label="Run name", max_length=200, required=False, help_text="e.g. miR panel 2026-03-02"
    )
    measured_at = measured_at_field()
    instrument = instrument_field()
    sop = forms.CharField(label="SOP / kit", max_length=200, required=False)

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user


class CqRowForm(forms.Form):
    """One well × target; the row's labels are the table's column heads."""

    target = forms.CharField(max_length=120, required=False)
    cq = NumberField(label="Cq", required=False, min_value=0, max_value=100)
    undetermined = forms.BooleanField(required=False, label="Undetermined")
    well = forms.CharField(max_length=8, required=False)
    task = forms.ChoiceField(choices=QPCRTask.choices, initial=QPCRTask.UNKNOWN, required=False)
    reporter = forms.CharField(max_length=40, required=False)
    quantity = NumberField(required=False, min_value=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = str(field.label or "")

    def has_content(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return bool(data.get("target") or data.get("cq") is not None or data.get("undetermined"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.has_content():
            return data
        if not data.get("target"):
            self.add_error("target", "Name the target (e.g. miR-21, GAPDH).")
        if data.get("cq") is None and not data.get("undetermined"):
            self.add_error("cq", "Give the Cq, or tick “undetermined”.")
        if data.get("cq") is not None and data.get("undetermined"):
            self.add_error("undetermined", "A Cq and “undetermined” contradict each other.")
        well = (data.get("well") or "").strip()
        if well and not _WELL.match(well):
            self.add_error("well", "A well is a row letter and a column, e.g. B7.")
        data["well"] = (normalise_well(well) or "") if well else ""
        return data


def cq_formset(data=None, *, extra: int = 6):
    formset = formset_factory(CqRowForm, extra=extra, max_num=MAX_QPCR_ROWS, absolute_max=96)
    return formset(data, prefix="cq")


def cq_rows(formset) -> list[dict[str, Any]]:
    rows = []
    for form in formset.forms:
        if not form.has_content():
            continue
        data = form.cleaned_data
        rows.append(
            {
                "target": data["target"].strip(),
                "cq": None if data.get("undetermined") else data["cq"],
                "well": data.get("well", ""),
                "task": data.get("task") or QPCRTask.UNKNOWN,
                "reporter": data.get("reporter", "").strip(),
                "quantity": data.get("quantity"),
            }
        )
    return rows


def qpcr_sample_map(post, names: list[str], *, user) -> tuple[dict[str, int], dict[str, str]]:
    """The tube typed or scanned for each unmatched sample name (``tube-<index>`` fields in
    the order of ``names``). Returns the map and the problems per sample name."""
    sample_map: dict[str, int] = {}
    problems: dict[str, str] = {}
    for index, name in enumerate(names):
        text = (post.get(f"tube-{index}") or "").strip()
        if not text:
            continue
        try:
            tube = find_tube_for_results(text, user=user)
        except ValidationError as error:
            problems[name] = " ".join(error.messages)
            continue
        sample_map[name] = tube.pk
    return sample_map, problems
