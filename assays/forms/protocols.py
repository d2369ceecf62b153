"""Protocol and version forms: what a protocol is called, what changed in a version, its SOP
document, and cloning. The steps are ``assays.forms.steps``; ``assays.services`` writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import FileExtensionValidator

from ..choices import RecoverySpecificity
from ..models import ProtocolVersion

SOP_EXTENSIONS = ["pdf", "docx", "doc", "odt", "txt", "md", "html"]
MAX_SOP_BYTES = 20 * 1024 * 1024


class ServiceErrorsMixin:
    """Show a service's ValidationError on the fields it names (else on the form)."""

    def add_service_error(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, messages in error.message_dict.items():
            target = key if key in self.fields else NON_FIELD_ERRORS
            self.add_error(target, messages)


def _sop_field() -> forms.FileField:
    return forms.FileField(
        required=False,
        label="SOP document",
        help_text="PDF, Word, ODT or text; at most 20 MB.",
        validators=[FileExtensionValidator(SOP_EXTENSIONS)],
    )


class VersionForm(ServiceErrorsMixin, forms.Form):
    """What a version says about itself besides its steps."""

    changes = forms.CharField(
        required=False,
        label="What changed and why",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    recovery_specificity = forms.ChoiceField(
        required=False,
        choices=RecoverySpecificity.choices,
        label="Recovery / specificity (MISEV2018)",
        help_text="The lab's own assessment of the method; not derived.",
    )
    sop_document = _sop_field()

    def clean_sop_document(self):
        document = self.cleaned_data.get("sop_document")
        if document and document.size > MAX_SOP_BYTES:
            raise ValidationError("The SOP document is larger than 20 MB.")
        return document


class ProtocolForm(VersionForm):
    """A new protocol: its name and description, and version 1's notes."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    field_order = ["name", "description", "recovery_specificity", "sop_document", "changes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["changes"].label = "Notes on version 1"


class CloneForm(ServiceErrorsMixin, forms.Form):
    new_name = forms.CharField(max_length=120, label="Name of the new protocol")
    description = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Empty: the description of the protocol cloned.",
    )

    def add_service_error(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict") and "name" in error.error_dict:
            error = ValidationError({"new_name": error.error_dict["name"]})
        super().add_service_error(error)


class DiffForm(forms.Form):
    """Two versions to compare, from all versions of all protocols."""

    a = forms.ModelChoiceField(queryset=ProtocolVersion.objects.none(), label="From version")
    b = forms.ModelChoiceField(queryset=ProtocolVersion.objects.none(), label="To version")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = ProtocolVersion.objects.select_related("protocol").order_by(
            "protocol__name", "number"
        )
        for name in ("a", "b"):
            self.fields[name].queryset = versions
            self.fields[name].label_from_instance = lambda v: (
                f"{v.protocol.name} v{v.number} ({v.get_status_display().lower()})"
            )
            self.fields[name].error_messages["invalid_choice"] = "Unknown protocol version."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("a") and cleaned.get("a") == cleaned.get("b"):
            self.add_error("b", "Choose two different versions.")
        return cleaned
