"""Small forms for what people do to tubes: split, withdraw, place or move, check out and in,
thaw and freeze, ship, receive, consume, discard.

They only collect and check input; ``samples.services`` changes the tubes under row locks.
Every form carries ``change_reason``, which ChangeReasonMiddleware writes into the audit
trail of every row the action changes.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.models import ModelChoiceIterator

from exolims.history import MAX_REASON_LENGTH, REASON_FIELD

from ..choices import VOLUME_UNIT_CHOICES, AliquotKind, ContainerType, StorageKind
from ..models import Aliquot, StorageUnit, parse_position, position_label
from ..services import free_positions
from ..units import parse_decimal, volume_to_ml
from .widgets import DATETIME_WIDGET

MAX_SPLIT = 1000
_VOLUME_FIELD = Aliquot._meta.get_field("volume_ml")


class ActionForm(forms.Form):
    """Base for tube actions: a reason for the audit trail, and a way to show what a service
    refused on the field it concerns."""

    # Service error keys → the field on this form that shows them.
    error_fields: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[REASON_FIELD] = forms.CharField(
            required=False,
            max_length=MAX_REASON_LENGTH,
            label="Reason",
            help_text="Kept in the history.",
        )

    def add_service_error(self, error: ValidationError) -> None:
        """Attach a service's ValidationError to the fields it names (else the whole form)."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, messages in error.message_dict.items():
            field = self.error_fields.get(key, key)
            self.add_error(field if field in self.fields else NON_FIELD_ERRORS, messages)

    @property
    def note(self) -> str:
        """The custody note: what was typed as a note, else the reason."""
        data = getattr(self, "cleaned_data", {})
        return (data.get("note") or data.get(REASON_FIELD) or "").strip()


def _volume_field(label: str = "Volume") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def _unit_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=VOLUME_UNIT_CHOICES,
        initial="mL",
        label="Unit",
        error_messages={"invalid_choice": "Unknown volume unit %(value)s; use mL, µL or L."},
    )


def _to_ml(text: str, unit: str) -> Decimal:
    """A typed volume in mL, checked against the tube volume column's limits."""
    volume = volume_to_ml(parse_decimal(text), unit)
    if volume <= 0:
        raise ValidationError("Give a volume greater than zero.")
    return _VOLUME_FIELD.clean(volume, None)


def _note_field(label: str = "Note") -> forms.CharField:
    return forms.CharField(
        required=False, max_length=500, label=label, widget=forms.TextInput(attrs={"size": 30})
    )


def _when_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        required=False,
        label="When",
        help_text="Leave empty for now.",
        widget=DATETIME_WIDGET,
    )


def box_choices_queryset():
    """Active boxes for the box lists (one query; the parent name makes them tellable apart)."""
    return (
        StorageUnit.objects.filter(kind=StorageKind.BOX, is_active=True)
        .select_related("parent")
        .order_by("parent__name", "name")
    )


class _BoxChoices(ModelChoiceIterator):
    def __init__(self, field: forms.ModelChoiceField) -> None:
        super().__init__(field)
        self.queryset = box_choices_queryset()


class BoxField(forms.ModelChoiceField):
    """A box chosen from the list of active boxes. Any storage unit id is looked up, so a
    freezer or a retired box is refused with a readable message, not "not a valid choice"."""

    iterator = _BoxChoices

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", StorageUnit.objects.all())
        kwargs.setdefault("empty_label", "Choose a box")
        super().__init__(**kwargs)
        self.error_messages["invalid_choice"] = "Unknown storage unit; choose a box."

    def label_from_instance(self, unit: StorageUnit) -> str:
        parent = f"{unit.parent.name} › " if unit.parent_id else ""
        barcode = f" [{unit.barcode}]" if unit.barcode else ""
        return f"{parent}{unit.name}{barcode}"

    def clean(self, value: Any) -> StorageUnit | None:
        unit = super().clean(value)
        if unit is None:
            return None
        if unit.kind != StorageKind.BOX:
            raise ValidationError(
                f"{unit.name} is a {unit.get_kind_display().lower()}, not a box; "
                "tubes go into boxes."
            )
        if not unit.is_active:
            raise ValidationError(f"Box {unit.name} is retired; choose another box.")
        return unit


def clean_position_text(text: str) -> tuple[int, int]:
    try:
        return parse_position(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class SplitForm(ActionForm):
    """N tubes of one volume (number × volume) or a list of volumes; optionally straight into
    a box, from a start well or into the first free wells."""

    count = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_SPLIT, label="Number of tubes"
    )
    volume = forms.CharField(
        required=False,
        label="Volume each",
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    volume_unit = _unit_field()
    volumes = forms.CharField(
        required=False,
        max_length=4000,
        label="Or a list of volumes",
        help_text="e.g. 0.5, 0.5, 0.25 (in the unit chosen; with decimal commas separate by ';').",
    )
    container_type = forms.ChoiceField(
        choices=ContainerType.choices, initial=ContainerType.CRYOVIAL_2ML, label="Container"
    )
    kind = forms.ChoiceField(choices=AliquotKind.choices, initial=AliquotKind.ALIQUOT)
    box = BoxField(required=False, empty_label="Do not place yet")
    start_position = forms.CharField(
        required=False,
        max_length=8,
        label="From well",
        help_text="Fills free wells from here in reading order; empty: the first free wells.",
    )
    error_fields = {
        "volume_ml": "volume",
        "volumes_ml": "volume",
        "source": NON_FIELD_ERRORS,
        "positions": "start_position",
        "position": "start_position",
    }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        volumes = self._clean_volumes(cleaned)
        cleaned["volumes_ml"] = volumes
        # Fix the wells now (reading order from the start well) so the service's
        # all-or-nothing checks see the exact positions; it re-checks them under a lock.
        cleaned["positions"] = None
        start = (cleaned.get("start_position") or "").strip()
        box = cleaned.get("box")
        if start and not box and "box" not in self.errors:
            self.add_error("start_position", "Choose the box as well.")
        elif start and box and volumes:
            try:
                row, column = clean_position_text(start)
            except ValidationError as exc:
                self.add_error("start_position", exc)
                return cleaned
            if not (1 <= row <= box.rows and 1 <= column <= box.columns):
                self.add_error(
                    "start_position",
                    f"{start.upper()} is outside box {box.name} ({box.rows} × {box.columns}).",
                )
                return cleaned
            wells = [w for w in free_positions(box) if (w.row, w.column) >= (row, column)]
            if len(wells) < len(volumes):
                self.add_error(
                    "start_position",
                    f"Box {box.name} has {len(wells)} free wells from "
                    f"{position_label(row, column)} on; {len(volumes)} needed.",
                )
            else:
                cleaned["positions"] = [(w.row, w.column) for w in wells[: len(volumes)]]
        return cleaned

    def _clean_volumes(self, cleaned: dict[str, Any]) -> list[Decimal]:
        unit = cleaned.get("volume_unit")
        listed = (cleaned.get("volumes") or "").strip()
        single = (cleaned.get("volume") or "").strip()
        count = cleaned.get("count")
        if not unit:
            return []
        if listed:
            if single or count:
                self.add_error(
                    "volumes", "Give either a number × volume or a list of volumes, not both."
                )
                return []
            separator = r"\s*;\s*" if ";" in listed else r"\s*,\s*|\s+"
            tokens = [t for t in re.split(separator, listed) if t]
            if len(tokens) > MAX_SPLIT:
                self.add_error("volumes", f"At most {MAX_SPLIT:,} tubes at once.")
                return []
            volumes = []
            for token in tokens:
                try:
                    volumes.append(_to_ml(token, unit))
                except ValidationError as exc:
                    self.add_error("volumes", f"{token}: {' '.join(exc.messages)}")
                    return []
            return volumes
        if "count" in self.errors:
            return []
        if not single:
            self.add_error("volume", "Give the volume of each tube (or a list of volumes).")
            return []
        if not count:
            self.add_error("count", "How many tubes?")
            return []
        try:
            return [_to_ml(single, unit)] * count
        except ValidationError as exc:
            self.add_error("volume", exc)
            return []


class WithdrawForm(ActionForm):
    volume = _volume_field("Volume to withdraw")
    volume_unit = _unit_field()
    note = _note_field()
    error_fields = {"volume_ml": "volume", "source": NON_FIELD_ERRORS, "status": NON_FIELD_ERRORS}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("volume") and cleaned.get("volume_unit"):
            try:
                cleaned["volume_ml"] = _to_ml(cleaned["volume"], cleaned["volume_unit"])
            except ValidationError as exc:
                self.add_error("volume", exc)
        return cleaned


class PlaceForm(ActionForm):
    """Place a tube into (or move it to) a box well; no well means the first free one."""

    box = BoxField()
    position = forms.CharField(
        required=False,
        max_length=8,
        label="Well",
        help_text="e.g. B7; empty: the first free well.",
        widget=forms.TextInput(attrs={"size": 5, "autocomplete": "off"}),
    )
    note = _note_field()
    error_fields = {"status": NON_FIELD_ERRORS}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        text = (cleaned.get("position") or "").strip()
        cleaned["row"] = cleaned["column"] = None
        if text:
            try:
                cleaned["row"], cleaned["column"] = clean_position_text(text)
            except ValidationError as exc:
                self.add_error("position", exc)
        return cleaned


def _temperature_field() -> forms.FloatField:
    return forms.FloatField(
        required=False,
        min_value=-200,
        max_value=60,
        label="Temperature (°C)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )


def _location_field(label: str, *, required: bool = False) -> forms.CharField:
    return forms.CharField(
        required=required, max_length=200, label=label, widget=forms.TextInput(attrs={"size": 30})
    )


class NoteForm(ActionForm):
    """Consume or discard: a note and optionally when."""

    note = _note_field()
    at = _when_field()
    error_fields = {"status": NON_FIELD_ERRORS}


class CheckOutForm(NoteForm):
    to_location = _location_field("Taken to")
    field_order = ["to_location", "note", "at"]


class TemperatureForm(NoteForm):
    """Thaw, freeze and check-in: the temperature it happened at."""

    temperature_c = _temperature_field()
    field_order = ["temperature_c", "note", "at"]


class ShipForm(NoteForm):
    to_location = _location_field("Shipped to", required=True)
    temperature_c = _temperature_field()
    field_order = ["to_location", "temperature_c", "note", "at"]


class ReceiveForm(NoteForm):
    """A shipped tube comes back; it can go straight into a box."""

    from_location = _location_field("Received from")
    temperature_c = _temperature_field()
    box = BoxField(required=False, empty_label="Do not place yet")
    position = forms.CharField(
        required=False,
        max_length=8,
        label="Well",
        help_text="Empty: the first free well.",
        widget=forms.TextInput(attrs={"size": 5, "autocomplete": "off"}),
    )
    field_order = ["from_location", "temperature_c", "box", "position", "note", "at"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        text = (cleaned.get("position") or "").strip()
        cleaned["row"] = cleaned["column"] = None
        if text and not cleaned.get("box") and "box" not in self.errors:
            self.add_error("position", "Choose the box as well.")
        elif text:
            try:
                cleaned["row"], cleaned["column"] = clean_position_text(text)
            except ValidationError as exc:
                self.add_error("position", exc)
        return cleaned
