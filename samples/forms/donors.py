"""The donor form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from ..models import Donor, Study
from .widgets import DATE_WIDGET


class DonorForm(forms.ModelForm):
    conditions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line: free text or MONDO/DOID ids.",
    )

    class Meta:
        model = Donor
        fields = [
            "study",
            "code",
            "species",
            "sex",
            "birth_year",
            "age_at_collection",
            "conditions",
            "consent_status",
            "consent_date",
            "notes",
        ]
        widgets = {"consent_date": DATE_WIDGET, "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        study_field = self.fields["study"]
        if self.instance.pk:
            # Moving a donor would leave its samples in the old study; the field stays in the
            # form (disabled) so the study+code uniqueness is still checked.
            study_field.disabled = True
            study_field.queryset = Study.objects.filter(pk=self.instance.study_id)
            self.initial["conditions"] = "\n".join(self.instance.conditions or [])
        else:
            study_field.queryset = Study.objects.editable_by(user)
        study_field.empty_label = None if len(study_field.queryset) == 1 else "Choose a study"

    def clean_conditions(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["conditions"].splitlines()]
        conditions = [line for line in lines if line]
        too_long = [c for c in conditions if len(c) > 200]
        if too_long:
            raise ValidationError(f"Keep each condition under 200 characters: {too_long[0][:40]}…")
        return conditions
