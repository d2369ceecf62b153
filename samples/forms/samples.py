"""The sample form: volume as number + unit, centrifugation as rows of spins.

It validates through the model (``full_clean`` → ``sample_errors``), so pages, API and
manifest import enforce one set of rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from ..choices import VOLUME_UNIT_CHOICES
from ..models import Donor, Sample, Study
from ..units import parse_decimal, volume_to_ml
from .widgets import DATETIME_WIDGET

SPIN_ROWS = 3
BRAKE_CHOICES = [("", "Not recorded"), ("on", "Brake on"), ("off", "No brake")]
_BRAKE_VALUES = {"": None, "on": True, "off": False}
# Model errors on fields the form shows under another name.
_ERROR_TARGETS = {"volume_ml": "volume", "centrifugation_steps": "not_centrifuged"}


def _number_text(value: Decimal | None) -> str:
    """1.5000 → "1.5" for the volume box."""
    if value is None:
        return ""
    return format(value.normalize(), "f")


class SampleForm(forms.ModelForm):
    """One body-fluid sample.

    The volume is typed as number + unit and stored in mL; centrifugation is up to three
    rows (more when an existing sample has more) plus "not centrifuged": ticked means none
    ([]), all empty means not recorded (None).
    """

    volume = forms.CharField(
        required=False, max_length=30, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    volume_unit = forms.ChoiceField(
        choices=VOLUME_UNIT_CHOICES,
        initial="mL",
        label="Unit",
        error_messages={"invalid_choice": "Unknown volume unit %(value)s; use mL, µL or L."},
    )
    not_centrifuged = forms.BooleanField(
        required=False,
        label="Not centrifuged",
        help_text="Tick when no spin was done; leave all rows empty when it was not recorded.",
    )

    class Meta:
        model = Sample
        fields = [
            "study",
            "donor",
            "fluid_type",
            "collected_at",
            "status",
            "tube_type",
            "fasting_state",
            "fasting_hours",
            "time_to_processing_min",
            "processing_temp_c",
            "post_centrifugation_delay_min",
            "post_centrifugation_temp_c",
            "haemolysis_a414",
            "free_haemoglobin_g_l",
            "residual_platelets_per_ml",
            "urine_void_type",
            "creatinine_mmol_l",
            "cell_line",
            "passage_number",
            "culture_serum",
            "serum_ev_depletion",
            "conditioning_hours",
            "viability_at_harvest_pct",
            "storage_temp_c",
            "storage_container",
            "notes",
        ]
        widgets = {"collected_at": DATETIME_WIDGET, "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["collected_at"].label = f"Collected at ({timezone.get_current_timezone_name()})"
        study_field = self.fields["study"]
        donor_field = self.fields["donor"]
        if self.instance.pk:
            study_field.disabled = True
            study_field.queryset = Study.objects.filter(pk=self.instance.study_id)
            study_id = self.instance.study_id
            self.initial["volume"] = _number_text(self.instance.volume_ml)
        else:
            study_field.queryset = Study.objects.editable_by(user).order_by("code")
            study_id = self._chosen_study_id(study_field.queryset)
        study_field.empty_label = None if self.instance.pk else "Choose a study"
        # Only the chosen study's donors; the page script reloads them when the study changes.
        donor_field.queryset = (
            Donor.objects.filter(study_id=study_id).only("id", "code", "study_id").order_by("code")
            if study_id
            else Donor.objects.none()
        )
        donor_field.label_from_instance = lambda donor: donor.code
        donor_field.empty_label = "No donor (conditioned medium only)"
        self.spin_rows = self._add_spin_fields()

    def _chosen_study_id(self, studies) -> int | None:
        raw = self.data.get("study") if self.is_bound else self.initial.get("study")
        raw = getattr(raw, "pk", raw)
        if raw in (None, ""):
            ids = list(studies.values_list("pk", flat=True)[:2])
            if len(ids) == 1:
                if not self.is_bound:
                    self.initial["study"] = ids[0]
                return ids[0]
            return None
        try:
            study_id = int(raw)
        except (TypeError, ValueError):
            return None
        return study_id if studies.filter(pk=study_id).exists() else None

    def _add_spin_fields(self) -> list[dict[str, forms.BoundField]]:
        steps = self.instance.centrifugation_steps if self.instance.pk else None
        if steps == []:
            self.initial["not_centrifuged"] = True
        steps = steps or []
        rows = max(SPIN_ROWS, len(steps))
        names = []
        for number in range(1, rows + 1):
            step = steps[number - 1] if number <= len(steps) else {}
            prefix = f"spin{number}_"
            for part, low, high, unit in (
                ("g", 1, 1_500_000, "×g"),
                ("minutes", 0.1, 4320, "minutes"),
                ("temp_c", -30, 45, "°C"),
            ):
                self.fields[prefix + part] = forms.FloatField(
                    required=False,
                    min_value=low,
                    max_value=high,
                    label=f"Spin {number} {unit}",
                    widget=forms.NumberInput(
                        attrs={"aria-label": f"Spin {number} {unit}", "step": "any"}
                    ),
                )
            self.fields[prefix + "brake"] = forms.ChoiceField(
                required=False,
                choices=BRAKE_CHOICES,
                label=f"Spin {number} brake",
                widget=forms.Select(attrs={"aria-label": f"Spin {number} brake"}),
            )
            if step:
                brake = step.get("brake")
                self.initial.update(
                    {
                        prefix + "g": step.get("g"),
                        prefix + "minutes": step.get("minutes"),
                        prefix + "temp_c": step.get("temp_c"),
                        prefix + "brake": "" if brake is None else "on" if brake else "off",
                    }
                )
            names.append(prefix)
        return [
            {part: self[prefix + part] for part in ("g", "minutes", "temp_c", "brake")}
            for prefix in names
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.instance.volume_ml = self._clean_volume(cleaned)
        self.instance.centrifugation_steps = self._clean_spins(cleaned)
        return cleaned

    def _clean_volume(self, cleaned: dict[str, Any]) -> Decimal | None:
        text = (cleaned.get("volume") or "").strip()
        if not text or "volume_unit" not in cleaned:
            return None
        try:
            volume = volume_to_ml(parse_decimal(text), cleaned["volume_unit"])
            # Check the column's digit limits here: the model field itself is not on the form.
            return Sample._meta.get_field("volume_ml").clean(volume, self.instance)
        except ValidationError as exc:
            self.add_error("volume", exc)
            return None

    def _clean_spins(self, cleaned: dict[str, Any]) -> list[dict[str, Any]] | None:
        old_steps = (self.instance.centrifugation_steps or []) if self.instance.pk else []
        steps: list[dict[str, Any]] = []
        gap = False
        for number, row in enumerate(self.spin_rows, start=1):
            prefix = f"spin{number}_"
            values = {part: cleaned.get(prefix + part) for part in ("g", "minutes", "temp_c")}
            brake = cleaned.get(prefix + "brake") or ""
            if any(row[part].errors for part in row):
                steps.append({})  # keep numbering; the field already says what is wrong
                continue
            if all(v is None for v in values.values()) and not brake:
                gap = True
                continue
            missing = [name for name, v in values.items() if v is None]
            if missing:
                labels = {"g": "×g", "minutes": "minutes", "temp_c": "°C"}
                self.add_error(
                    prefix + missing[0],
                    f"Spin {number}: give {', '.join(labels[m] for m in missing)} as well.",
                )
                continue
            if gap:
                self.add_error(prefix + "g", f"Spin {number}: fill the spins in order, from 1.")
                continue
            # Keep details the form does not show (rotor, g basis) from the stored step.
            extra = old_steps[number - 1] if number <= len(old_steps) else {}
            step = {k: extra[k] for k in ("rotor", "g_basis") if k in extra}
            step.update(values, brake=_BRAKE_VALUES[brake])
            steps.append(step)
        if cleaned.get("not_centrifuged"):
            if any(steps):
                self.add_error(
                    "not_centrifuged", "Either tick “not centrifuged” or record spins, not both."
                )
            return []
        return [step for step in steps if step] or None

    def _update_errors(self, errors: ValidationError) -> None:
        """Put model errors on the form fields that show them, and drop duplicates for
        fields the form already rejected (the model then saw no value for them)."""
        if not hasattr(errors, "error_dict"):
            super()._update_errors(errors)
            return
        remapped: dict[str, list] = {}
        for field, messages in errors.error_dict.items():
            target = _ERROR_TARGETS.get(field, field)
            if target != NON_FIELD_ERRORS and target not in self.fields:
                target = NON_FIELD_ERRORS
            if target in self._errors:
                continue
            remapped.setdefault(target, []).extend(messages)
        if remapped:
            super()._update_errors(ValidationError(remapped))

    def save(self, commit: bool = True) -> Sample:
        if not self.instance.pk and self.instance.created_by_id is None:
            self.instance.created_by = self.user
        return super().save(commit=commit)
