"""Forms of the instrument-file pages: the upload target (tube and instrument), the files
themselves, and picking the tube for a file that needs review.

A tube is given by its accession, typed or scanned ("exo-12" finds EXO-000012). Results may
only be filed on a tube of a study where the user is an editor or above; a tube the user
cannot see reads as "not found", exactly like an accession that does not exist.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from samples.choices import Role
from samples.models import Aliquot
from samples.views.common import accession_candidates, has_role

from ..models import Instrument


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one ``<input type=file multiple>``; each checked like a FileField
    (a missing or empty file is refused)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            if not data:
                return [single(None, initial)]
            return [single(item, initial) for item in data]
        return [single(data, initial)]


def find_tube_for_results(text: str, *, user) -> Aliquot:
    """The tube with this accession on which ``user`` may file results, or a ValidationError
    that says why not (unknown, or a role too low)."""
    wanted = accession_candidates(text)
    tube = (
        Aliquot.objects.visible_to(user)
        .select_related("study")
        .filter(accession__in=wanted)
        .first()
    )
    if tube is None:
        raise ValidationError(
            "No tube %(accession)s in your studies. Check the accession.",
            code="not_found",
            params={"accession": text.strip()},
        )
    if not has_role(tube.study.role_of(user), Role.EDITOR):
        raise ValidationError(
            "You need the editor role in study %(study)s to file results on %(accession)s.",
            code="permission",
            params={"study": tube.study.code, "accession": tube.accession},
        )
    return tube


class TubeAccessionField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.update(
            {
                "class": "mono",
                "placeholder": "EXO-…",
                "autocomplete": "off",
                "spellcheck": "false",
                "data-scan": "",
            }
        )
        return attrs


class UploadForm(forms.Form):
    """One uploaded file with an optional target tube and instrument (the JSON endpoint
    behind the drop zone)."""

    file = forms.FileField(
        label="File", error_messages={"required": "Choose a file.", "empty": "The file is empty."}
    )
    aliquot = TubeAccessionField(
        label="Tube",
        required=False,
        help_text="Optional. Without it the tube is matched from the sample name in the file.",
    )
    instrument = forms.ModelChoiceField(
        label="Instrument",
        queryset=Instrument.objects.none(),
        required=False,
        empty_label="Not given",
    )

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["instrument"].queryset = Instrument.objects.filter(is_active=True).order_by(
            "name"
        )

    def clean_aliquot(self) -> Aliquot | None:
        text = self.cleaned_data.get("aliquot", "").strip()
        if not text:
            return None
        return find_tube_for_results(text, user=self.user)


class UploadPageForm(UploadForm):
    """The same, for several files at once from the page's plain form (no JavaScript)."""

    file = MultipleFileField(
        label="Files", error_messages={"required": "Choose a file.", "empty": "The file is empty."}
    )


class ResolveReviewForm(forms.Form):
    """Pick the tube a file's results belong to."""

    accession = TubeAccessionField(
        label="Tube accession",
        help_text="Type or scan the accession of the measured tube.",
        error_messages={"required": "Type or scan the tube's accession."},
    )

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_accession(self) -> Aliquot:
        return find_tube_for_results(self.cleaned_data["accession"], user=self.user)
