"""The rotor catalogue form and the centrifugation calculator's inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from .. import centrifugation
from ..models import Rotor

RADIUS_CHOICES = [("average", "Average radius (r avg)"), ("max", "Maximum radius (r max)")]


class RotorForm(forms.ModelForm):
    """A rotor's constants; the model refuses r max ≤ r min (check constraint)."""

    class Meta:
        model = Rotor
        fields = [
            "name",
            "manufacturer",
            "rotor_type",
            "r_min_mm",
            "r_max_mm",
            "max_rpm",
            "k_factor",
            "notes",
            "is_active",
        ]
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 2}),
            "r_min_mm": forms.NumberInput(attrs={"step": "any"}),
            "r_max_mm": forms.NumberInput(attrs={"step": "any"}),
            "k_factor": forms.NumberInput(attrs={"step": "any"}),
        }
        labels = {"max_rpm": "Maximum speed (rpm)"}
        help_texts = {
            "r_min_mm": "Distance from the axis to the top of the liquid (mm), from the manual.",
            "r_max_mm": "Distance from the axis to the bottom of the tube (mm).",
        }


def _rotor_field(label: str, *, required: bool = True) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Rotor.objects.filter(is_active=True).order_by("name"),
        label=label,
        required=required,
        empty_label="Choose a rotor",
        error_messages={"invalid_choice": "Unknown rotor; choose one from the catalogue."},
    )


class CalculatorForm(forms.Form):
    """RCF ↔ rpm on one rotor, its k-factor at a speed, and the time that gives the same
    pelleting on another rotor. Every part is optional except the rotor."""

    rotor = _rotor_field("Rotor")
    radius = forms.ChoiceField(choices=RADIUS_CHOICES, initial="average", label="×g quoted at")
    rpm = forms.FloatField(
        required=False,
        min_value=1,
        label="Speed (rpm)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    rcf = forms.FloatField(
        required=False,
        min_value=1,
        label="RCF (×g)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    minutes = forms.FloatField(
        required=False,
        min_value=0.01,
        label="Run time (min)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    other_rotor = _rotor_field("Equivalent on rotor", required=False)
    other_rpm = forms.FloatField(
        required=False,
        min_value=1,
        label="Speed on that rotor (rpm)",
        help_text="Empty: its maximum speed.",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        rotor = cleaned.get("rotor")
        if rotor is None:
            return cleaned
        if cleaned.get("rpm") and cleaned.get("rcf"):
            self.add_error("rcf", "Give either the speed or the RCF, not both.")
        if cleaned.get("rcf") and "rcf" not in self.errors:
            rpm = rotor.rpm_for(cleaned["rcf"], cleaned.get("radius") or "average")
            if rpm > rotor.max_rpm:
                self.add_error(
                    "rcf",
                    f"{cleaned['rcf']:,.0f} ×g needs {rpm:,.0f} rpm; {rotor.name} is rated "
                    f"for at most {rotor.max_rpm:,} rpm.",
                )
        if cleaned.get("rpm") and cleaned["rpm"] > rotor.max_rpm:
            self.add_error("rpm", f"{rotor.name} is rated for at most {rotor.max_rpm:,} rpm.")
        other = cleaned.get("other_rotor")
        if other is not None and cleaned.get("other_rpm") and cleaned["other_rpm"] > other.max_rpm:
            self.add_error("other_rpm", f"{other.name} is rated for at most {other.max_rpm:,} rpm.")
        if other is not None and not cleaned.get("minutes") and "minutes" not in self.errors:
            self.add_error("minutes", "Give the run time to convert to the other rotor.")
        return cleaned


@dataclass(frozen=True)
class Speed:
    """One rotor at one speed."""

    rotor: Rotor
    rpm: float
    rcf_average: float
    rcf_max: float
    k_factor: float
    radius_average_mm: float

    @classmethod
    def of(cls, rotor: Rotor, rpm: float) -> Speed:
        return cls(
            rotor=rotor,
            rpm=rpm,
            rcf_average=rotor.rcf_at(rpm, "average"),
            rcf_max=rotor.rcf_at(rpm, "max"),
            k_factor=rotor.k_at(rpm),
            radius_average_mm=rotor.radius_mm("average"),
        )


@dataclass(frozen=True)
class CalculatorResult:
    speed: Speed
    from_rcf: bool
    minutes: float | None = None
    other: Speed | None = None
    other_minutes: float | None = None


def calculate(values: dict[str, Any]) -> CalculatorResult:
    """The calculator's figures from its cleaned values (``assays.centrifugation`` maths):
    the speed from the rpm, from the RCF at the chosen radius, or the rotor's maximum."""
    rotor: Rotor = values["rotor"]
    if values.get("rcf"):
        rpm = rotor.rpm_for(values["rcf"], values["radius"])
    else:
        rpm = values.get("rpm") or rotor.max_rpm
    speed = Speed.of(rotor, rpm)
    other_rotor: Rotor | None = values.get("other_rotor")
    minutes = values.get("minutes")
    other = other_minutes = None
    if other_rotor is not None:
        other = Speed.of(other_rotor, values.get("other_rpm") or other_rotor.max_rpm)
        if minutes:
            other_minutes = centrifugation.equivalent_time(minutes, speed.k_factor, other.k_factor)
    return CalculatorResult(
        speed=speed,
        from_rcf=bool(values.get("rcf")),
        minutes=minutes,
        other=other,
        other_minutes=other_minutes,
    )
