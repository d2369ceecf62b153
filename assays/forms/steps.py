"""Per-kind step forms, built from ``assays.steps.schema_for(kind)``.

A step form has the common fields (kind, title, rotor, notes) and one field per parameter
of its kind, named ``p_<parameter>`` (plus ``p_<parameter>_unit`` where the schema accepts
other units). The fields follow the kind in the submitted data, so changing the kind and
re-rendering (the no-JS "Show fields" button) gives that kind's fields; the page script does
the same in place from one ``<template>`` per kind.

Validation is ``assays.steps.validate_parameters``; its messages already name the parameter
and unit and are shown on the parameter's field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms import BaseFormSet, formset_factory

from samples.units import parse_decimal

from ..choices import StepKind
from ..models import Rotor
from ..steps import CENTRIFUGATION_KINDS, schema_for, validate_parameters

PREFIX = "p_"
UNIT_SUFFIX = "_unit"
MAX_STEPS = 40
BOOL_CHOICES = [("", "Not stated"), ("true", "Yes"), ("false", "No")]


def field_name(param: str) -> str:
    return f"{PREFIX}{param}"


def _label(param: dict[str, Any]) -> str:
    unit = param["unit"]
    # Units that may be chosen get their own select, so the label leaves them out.
    return f"{param['label']} ({unit})" if unit and not param["accepts_units"] else param["label"]


def _help(param: dict[str, Any]) -> str:
    parts = [param["help"]] if param["help"] else []
    if param["type"] == "list":
        parts.append("Separate with commas.")
    if param["type"] == "mapping":
        parts.append("One per line: name = value.")
    return " ".join(parts)


def parameter_fields(kind: str) -> dict[str, forms.Field]:
    """The form fields of one kind's parameters (in schema order)."""
    fields: dict[str, forms.Field] = {}
    for param in schema_for(kind)["parameters"]:
        name = field_name(param["name"])
        common = {"required": False, "label": _label(param), "help_text": _help(param)}
        kind_of = param["type"]
        if kind_of in ("number", "int"):
            attrs = {"inputmode": "decimal", "autocomplete": "off", "data-param": param["name"]}
            fields[name] = forms.CharField(
                max_length=40, widget=forms.TextInput(attrs=attrs), **common
            )
            if param["accepts_units"]:
                fields[name + UNIT_SUFFIX] = forms.ChoiceField(
                    choices=[(u, u) for u in param["accepts_units"]],
                    initial=param["unit"],
                    required=False,
                    label="Unit",
                    widget=forms.Select(attrs={"aria-label": f"Unit of {param['label'].lower()}"}),
                )
        elif kind_of == "bool":
            fields[name] = forms.ChoiceField(choices=BOOL_CHOICES, **common)
        elif kind_of == "choice":
            choices = [("", "—")] + [(c["value"], c["label"]) for c in param["choices"]]
            fields[name] = forms.ChoiceField(
                choices=choices, widget=forms.Select(attrs={"data-param": param["name"]}), **common
            )
        elif kind_of == "mapping":
            fields[name] = forms.CharField(
                max_length=4000, widget=forms.Textarea(attrs={"rows": 2}), **common
            )
        else:  # text, list
            fields[name] = forms.CharField(max_length=1000, **common)
    return fields


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (float, Decimal)):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


def parameters_as_initial(kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Stored parameters (canonical units) as the text the form shows."""
    initial: dict[str, Any] = {}
    for param in schema_for(kind)["parameters"]:
        value = parameters.get(param["name"])
        if value is None:
            continue
        name = field_name(param["name"])
        if param["type"] == "bool":
            initial[name] = "true" if value else "false"
        elif param["type"] == "list":
            initial[name] = ", ".join(_number_text(v) for v in value)
        elif param["type"] == "mapping":
            initial[name] = "\n".join(f"{k} = {_number_text(v)}" for k, v in value.items())
        elif param["type"] in ("number", "int"):
            initial[name] = _number_text(value)
            if param["accepts_units"]:
                initial[name + UNIT_SUFFIX] = param["unit"]
        else:
            initial[name] = value
    return initial


def _mapping_from_text(text: str) -> dict[str, Any] | str:
    """``name = value`` lines → {name: number or text}; a line without "=" is returned as
    the raw text so the validator can say what is wrong."""
    result: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            name, sep, value = line.partition(":")
        if not sep:
            raise ValidationError(f'"{line.strip()}": write name = value.')
        value = value.strip()
        try:
            number = parse_decimal(value)
        except ValidationError:
            result[name.strip()] = value
        else:
            result[name.strip()] = int(number) if number == number.to_integral() else float(number)
    return result


def raw_parameters(form: forms.Form, kind: str) -> dict[str, Any]:
    """The typed parameter values of ``form`` as ``validate_parameters`` takes them."""
    raw: dict[str, Any] = {}
    data = form.cleaned_data
    for param in schema_for(kind)["parameters"]:
        name = field_name(param["name"])
        value = data.get(name)
        if value in (None, ""):
            continue
        if param["type"] == "mapping":
            try:
                value = _mapping_from_text(value)
            except ValidationError as exc:
                form.add_error(name, f"{param['name']}: {exc.messages[0]}")
                continue
        elif param["accepts_units"] and data.get(name + UNIT_SUFFIX):
            value = {"value": value, "unit": data[name + UNIT_SUFFIX]}
        raw[param["name"]] = value
    return raw


def add_parameter_errors(form: forms.Form, error: ValidationError) -> None:
    """Put ``validate_parameters`` errors on the parameter fields (else on the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, messages in error.message_dict.items():
        name = field_name(key)
        if name in form.fields:
            target = name
        elif key in form.fields:
            target = key
        else:
            target = NON_FIELD_ERRORS
        form.add_error(target, messages)


class RotorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, rotor: Rotor) -> str:
        retired = "" if rotor.is_active else ", retired"
        return f"{rotor.name} (max {rotor.max_rpm:,} rpm{retired})"


class ParameterFieldsMixin:
    @property
    def parameter_fields(self) -> list[tuple[forms.BoundField, forms.BoundField | None]]:
        """Parameter fields, each with its unit select when it has one (for templates)."""
        rows = []
        for name in self.fields:
            if name.startswith(PREFIX) and not name.endswith(UNIT_SUFFIX):
                unit = name + UNIT_SUFFIX
                rows.append((self[name], self[unit] if unit in self.fields else None))
        return rows


class StepForm(ParameterFieldsMixin, forms.Form):
    """One step of a version: its kind decides its parameter fields."""

    kind = forms.ChoiceField(
        choices=[("", "Choose a kind"), *StepKind.choices],
        widget=forms.Select(attrs={"data-step-kind": ""}),
    )
    title = forms.CharField(required=False, max_length=120, label="Title")
    rotor = RotorChoiceField(
        # Retired rotors stay choosable: older steps that used one must remain editable.
        queryset=Rotor.objects.order_by("-is_active", "name"),
        required=False,
        empty_label="No rotor",
        widget=forms.Select(attrs={"data-step-rotor": ""}),
        error_messages={"invalid_choice": "Unknown rotor; choose one from the catalogue."},
    )
    notes = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chosen_kind = self._chosen_kind()
        if self.chosen_kind:
            self.fields.update(parameter_fields(self.chosen_kind))

    def _chosen_kind(self) -> str:
        if self.is_bound:
            kind = self.data.get(self.add_prefix("kind"), "")
        else:
            kind = self.initial.get("kind", "")
        return kind if kind in StepKind.values else ""

    def has_changed(self) -> bool:
        # The page script numbers every row, so a position alone is not a filled-in step.
        return any(name not in ("ORDER", "DELETE") for name in self.changed_data)

    @property
    def is_centrifugation(self) -> bool:
        return self.chosen_kind in CENTRIFUGATION_KINDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not kind or kind != self.chosen_kind:
            return cleaned
        rotor = cleaned.get("rotor")
        if rotor is not None and kind not in CENTRIFUGATION_KINDS:
            self.add_error("rotor", "Only centrifugation steps use a rotor.")
            return cleaned
        raw = raw_parameters(self, kind)
        if self.errors:
            return cleaned
        try:
            cleaned["parameters"] = validate_parameters(kind, raw, rotor=rotor)
        except ValidationError as exc:
            add_parameter_errors(self, exc)
        return cleaned

    def step_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "title": data.get("title", ""),
            "rotor": data.get("rotor"),
            "notes": data.get("notes", ""),
            "parameters": data.get("parameters", {}),
        }


class BaseStepFormSet(BaseFormSet):
    """The ordered steps of a version. Deleted rows and rows left entirely empty are
    ignored; the order is the ORDER column (the page script keeps it in step with the
    rows' order when steps are dragged up or down)."""

    def clean(self) -> None:
        if any(self.errors):
            return
        if not self.steps():
            raise ValidationError("Add at least one step.")

    def steps(self) -> list[dict[str, Any]]:
        """The steps in order as plain data for ``save_version_steps``; ``ordered_forms``
        leaves out deleted rows and added rows left empty."""
        return [form.step_data() for form in self.ordered_forms]

    def rows_as_initial(self) -> list[dict[str, Any]]:
        """The submitted rows (in their order, without the deleted ones) as initial data:
        the no-JS "show fields" / "add a step" re-render, which must not show errors for a
        form nobody has finished."""
        rows = []
        for index in range(min(self.total_form_count(), MAX_STEPS)):
            prefix = f"{self.prefix}-{index}-"
            row = {
                key[len(prefix) :]: self.data.get(key)
                for key in self.data
                if key.startswith(prefix)
            }
            if row.get("DELETE") in ("on", "true", "1"):
                continue
            try:
                order = int(row.get("ORDER") or 0) or 10_000 + index
            except ValueError:
                order = 10_000 + index
            if any(v for k, v in row.items() if k not in ("ORDER", "DELETE")):
                rows.append((order, index, row))
        rows.sort(key=lambda item: item[:2])
        initial = [row for _, _, row in rows]
        for position, row in enumerate(initial, start=1):
            row["ORDER"] = position
        return initial


STEPS_PREFIX = "steps"


def step_formset(
    data: Any = None, *, initial: list[dict[str, Any]] | None = None, extra: int = 0
) -> BaseStepFormSet:
    """The steps formset; ``extra`` empty rows at the end (a new protocol starts with one)."""
    formset_class = formset_factory(
        StepForm,
        formset=BaseStepFormSet,
        extra=extra,
        can_delete=True,
        can_order=True,
        max_num=MAX_STEPS,
        validate_max=True,
    )
    return formset_class(data, initial=initial, prefix=STEPS_PREFIX)


def step_initial(steps) -> list[dict[str, Any]]:
    """Initial rows for editing existing steps (ProtocolStep objects, in order)."""
    rows = []
    for step in steps:
        row = {
            "kind": step.kind,
            "title": step.title,
            "rotor": step.rotor_id,
            "notes": step.notes,
        }
        row.update(parameters_as_initial(step.kind, step.parameters or {}))
        rows.append(row)
    return rows
