"""The run entry form: the run itself, its input tubes (typed or scanned accessions with the
volume used), its EV preparations, and the values of each protocol step where the run
differed from the plan.

The forms only collect and check input (readable messages on the field concerned);
``assays.services.record_isolation_run`` records the run atomically and re-checks it all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, formset_factory
from django.utils import timezone

from samples.choices import ROLE_RANK, AliquotStatus, ContainerType, Role
from samples.forms.tubes import BoxField, clean_position_text
from samples.forms.widgets import DATETIME_WIDGET
from samples.models import Aliquot, StudyMembership
from samples.units import parse_decimal, volume_to_ml
from samples.views.common import accession_candidates

from ..choices import NomenclatureTerm
from ..models import ProtocolStep
from ..steps import validate_parameters
from .protocols import ServiceErrorsMixin
from .steps import ParameterFieldsMixin, add_parameter_errors, parameter_fields, raw_parameters

VOLUME_UNITS = [("mL", "mL"), ("µL", "µL")]
MAX_INPUTS = 100
MAX_OUTPUTS = 200
_GONE = {AliquotStatus.CONSUMED, AliquotStatus.DISCARDED, AliquotStatus.SHIPPED}


def _volume_ml(text: str, unit: str) -> Decimal:
    volume = volume_to_ml(parse_decimal(text), unit)
    if volume <= 0:
        raise ValidationError("Give a volume greater than zero.")
    return volume


def _volume_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 8}),
    )


def _unit_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=VOLUME_UNITS,
        initial="mL",
        label="Unit",
        widget=forms.Select(attrs={"aria-label": "Volume unit"}),
        error_messages={"invalid_choice": "Unknown volume unit %(value)s; use mL or µL."},
    )


class RunForm(ServiceErrorsMixin, forms.Form):
    operator = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        help_text="Who did the work; you by default.",
        error_messages={"invalid_choice": "Choose an active user."},
    )
    started_at = forms.DateTimeField(label="Started", widget=DATETIME_WIDGET)
    ended_at = forms.DateTimeField(label="Ended", required=False, widget=DATETIME_WIDGET)
    deviations = forms.CharField(
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was done differently from the protocol, in words.",
    )
    notes = forms.CharField(
        required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["operator"].queryset = users
        self.fields["operator"].label_from_instance = lambda u: (
            f"{u.get_full_name()} ({u.get_username()})" if u.get_full_name() else u.get_username()
        )
        zone = timezone.get_current_timezone_name()
        self.fields["started_at"].label = f"Started ({zone})"
        self.fields["ended_at"].label = f"Ended ({zone})"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        started, ended = cleaned.get("started_at"), cleaned.get("ended_at")
        if started and ended and ended < started:
            self.add_error("ended_at", "The run cannot end before it started.")
        return cleaned


class InputForm(forms.Form):
    """One input tube: found by accession among the user's studies."""

    accession = forms.CharField(
        max_length=40,
        label="Tube",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "Scan or type EXO-…",
                "data-scan": "",
                "class": "mono",
            }
        ),
    )
    volume = _volume_field("Volume used")
    volume_unit = _unit_field()

    def __init__(self, *args: Any, tubes: dict[str, Aliquot], roles: dict[int, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.tubes = tubes  # accession → tube, looked up once for the whole formset
        self.roles = roles  # study id → the user's role

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        text = (cleaned.get("accession") or "").strip()
        tube = None
        if text:
            tube = next(
                (self.tubes[c] for c in accession_candidates(text) if c in self.tubes), None
            )
            if tube is None:
                self.add_error("accession", f"No tube {text} in your studies.")
            elif ROLE_RANK.get(self.roles.get(tube.study_id), -1) < ROLE_RANK[Role.EDITOR]:
                self.add_error(
                    "accession",
                    f"You need the editor role in study {tube.study.code} to use {tube.accession}.",
                )
            elif tube.status in _GONE:
                self.add_error(
                    "accession", f"{tube.accession} is {tube.get_status_display().lower()}."
                )
        cleaned["tube"] = tube
        if cleaned.get("volume") and cleaned.get("volume_unit"):
            try:
                volume = _volume_ml(cleaned["volume"], cleaned["volume_unit"])
            except ValidationError as exc:
                self.add_error("volume", exc)
            else:
                cleaned["volume_ml"] = volume
                if tube is not None and volume > tube.remaining_volume_ml:
                    self.add_error(
                        "volume",
                        f"Only {tube.remaining_volume_ml.normalize():f} mL left in "
                        f"{tube.accession}; {volume.normalize():f} mL requested.",
                    )
        return cleaned


class BaseInputFormSet(BaseFormSet):
    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        self.user = user
        self.tubes: dict[str, Aliquot] = {}
        self.roles: dict[int, str] = {}
        super().__init__(*args, **kwargs)
        if self.is_bound:
            self._look_up_tubes()

    def _look_up_tubes(self) -> None:
        """All typed accessions in one query, and the user's roles in one more."""
        wanted: set[str] = set()
        for index in range(min(self.total_form_count(), MAX_INPUTS)):
            text = self.data.get(f"{self.prefix}-{index}-accession", "")
            if text and text.strip():
                wanted |= accession_candidates(text)
        if not wanted:
            return
        found = (
            Aliquot.objects.visible_to(self.user)
            .select_related("study")
            .filter(accession__in=wanted)
        )
        self.tubes = {tube.accession: tube for tube in found}
        if self.user.is_superuser:
            self.roles = {tube.study_id: Role.MANAGER for tube in self.tubes.values()}
        else:
            self.roles = dict(
                StudyMembership.objects.filter(user=self.user).values_list("study_id", "role")
            )

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {"tubes": self.tubes, "roles": self.roles}

    def clean(self) -> None:
        if any(self.errors):
            return
        used = [f.cleaned_data for f in self.forms if f.cleaned_data.get("tube")]
        if not used:
            raise ValidationError("Give at least one input tube.")
        seen: set[int] = set()
        for data in used:
            if data["tube"].pk in seen:
                raise ValidationError(
                    f"{data['tube'].accession} is listed twice; give its total volume once."
                )
            seen.add(data["tube"].pk)
        if len({data["tube"].study_id for data in used}) > 1:
            codes = sorted({data["tube"].study.code for data in used})
            raise ValidationError(
                f"All input tubes must belong to one study (these are from {', '.join(codes)})."
            )

    def inputs(self) -> list[tuple[Aliquot, Decimal]]:
        return [
            (f.cleaned_data["tube"], f.cleaned_data["volume_ml"])
            for f in self.forms
            if f.cleaned_data.get("tube")
        ]


class OutputForm(forms.Form):
    """One EV preparation the run produced."""

    source = forms.CharField(
        required=False,
        max_length=40,
        label="From input tube",
        help_text="Needed with more than one input.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "mono", "size": 12}),
    )
    nomenclature_term = forms.ChoiceField(
        choices=[("", "Choose a term"), *NomenclatureTerm.choices],
        label="Nomenclature (MISEV2023)",
    )
    author_term = forms.CharField(
        required=False,
        max_length=80,
        label="Author's term",
        help_text='Kept separately, e.g. "exosomes".',
    )
    fraction = forms.CharField(required=False, max_length=40, help_text="e.g. SEC fractions 7–9.")
    resuspension_buffer = forms.CharField(required=False, max_length=120, label="Buffer")
    volume = _volume_field("Volume")
    volume_unit = _unit_field()
    container_type = forms.ChoiceField(
        choices=ContainerType.choices, initial=ContainerType.LOBIND_1_5ML, label="Container"
    )
    box = BoxField(required=False, empty_label="Do not place yet")
    position = forms.CharField(
        required=False,
        max_length=8,
        label="Well",
        help_text="Empty: the first free well.",
        widget=forms.TextInput(attrs={"size": 5, "autocomplete": "off"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("volume") and cleaned.get("volume_unit"):
            try:
                cleaned["volume_ml"] = _volume_ml(cleaned["volume"], cleaned["volume_unit"])
            except ValidationError as exc:
                self.add_error("volume", exc)
        text = (cleaned.get("position") or "").strip()
        cleaned["well"] = None
        if text and not cleaned.get("box") and "box" not in self.errors:
            self.add_error("position", "Choose the box as well.")
        elif text:
            try:
                cleaned["well"] = clean_position_text(text)
            except ValidationError as exc:
                self.add_error("position", exc)
        return cleaned


class BaseOutputFormSet(BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        if not self.filled():
            raise ValidationError("Record at least one EV preparation.")

    def filled(self) -> list[dict[str, Any]]:
        return [f.cleaned_data for f in self.forms if f.has_changed() and f.cleaned_data]

    def outputs(self, inputs: list[tuple[Aliquot, Decimal]]) -> list[dict[str, Any]]:
        """Output dicts for ``record_isolation_run``; the source accession becomes the
        input's index, and an unknown one is left for the service to refuse."""
        index_of: dict[str, int] = {}
        for i, (tube, _) in enumerate(inputs):
            index_of[tube.accession] = i
        outputs = []
        for form in self.forms:
            data = form.cleaned_data
            if not form.has_changed() or not data:
                continue
            source = (data.get("source") or "").strip()
            index = None
            if source:
                index = next(
                    (index_of[c] for c in accession_candidates(source) if c in index_of), None
                )
                if index is None:
                    form.add_error("source", f"{source} is not one of this run's input tubes.")
                    continue
            outputs.append(
                {
                    "input": index,
                    "nomenclature_term": data["nomenclature_term"],
                    "author_term": data["author_term"],
                    "fraction": data["fraction"],
                    "resuspension_buffer": data["resuspension_buffer"],
                    "volume_ml": data["volume_ml"],
                    "container_type": data["container_type"],
                    "box": data.get("box"),
                    "position": data.get("well"),
                }
            )
        return outputs


def input_formset(data: Any = None, *, user, initial=None, extra: int = 1) -> BaseInputFormSet:
    formset_class = formset_factory(
        InputForm,
        formset=BaseInputFormSet,
        extra=extra,
        max_num=MAX_INPUTS,
        validate_max=True,
    )
    return formset_class(data, initial=initial, prefix="inputs", user=user)


def output_formset(data: Any = None, *, initial=None, extra: int = 1) -> BaseOutputFormSet:
    formset_class = formset_factory(
        OutputForm,
        formset=BaseOutputFormSet,
        extra=extra,
        max_num=MAX_OUTPUTS,
        validate_max=True,
    )
    return formset_class(data, initial=initial, prefix="outputs")


class ActualForm(ParameterFieldsMixin, forms.Form):
    """One protocol step's fields for what the run did differently; empty means as planned."""

    def __init__(self, *args: Any, step: ProtocolStep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.step = step
        self.fields.update(parameter_fields(step.kind))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        raw = raw_parameters(self, self.step.kind)
        if self.errors or not raw:
            cleaned["actual"] = {}
            return cleaned
        try:
            cleaned["actual"] = validate_parameters(
                self.step.kind, raw, partial=True, rotor=self.step.rotor
            )
        except ValidationError as exc:
            add_parameter_errors(self, exc)
        return cleaned


def actual_forms(steps: list[ProtocolStep], data: Any = None) -> list[ActualForm]:
    return [ActualForm(data, step=step, prefix=f"step{step.order}") for step in steps]


def step_actuals(forms_: list[ActualForm]) -> dict[str, dict[str, Any]]:
    """Only what differed from the plan: a value equal to the planned one is dropped."""
    actuals: dict[str, dict[str, Any]] = {}
    for form in forms_:
        planned = form.step.parameters or {}
        differs = {
            name: value
            for name, value in form.cleaned_data.get("actual", {}).items()
            if planned.get(name) != value
        }
        if differs:
            actuals[str(form.step.order)] = differs
    return actuals
