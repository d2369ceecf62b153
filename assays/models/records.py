"""What every characterisation record shares: the tube measured, who measured it, when, on
which instrument, by which SOP, from which raw files, and with which controls.

Records are either entered (forms, API) or written by the instrument-file pipeline; the
latter keep ``instrument_file`` (their source) so re-processing replaces exactly them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from samples.models import Aliquot, Study, StudyScopedQuerySet

from ..choices import ControlKind
from .instruments import Instrument, InstrumentFile


class AssayRecordQuerySet(StudyScopedQuerySet):
    def for_aliquot_page(self) -> AssayRecordQuerySet:
        return self.select_related("instrument", "operator")


def validate_controls(value) -> None:
    """``controls`` is a list of {"kind": ControlKind, "description": str, "result": str}."""
    if not isinstance(value, list):
        raise ValidationError("Controls must be a list.")
    if len(value) > 50:
        raise ValidationError("At most 50 controls per record.")
    allowed = set(ControlKind.values)
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise ValidationError(f"Control {index} must be an object with a kind.")
        unknown = set(item) - {"kind", "description", "result"}
        if unknown:
            raise ValidationError(
                f"Control {index} has unknown fields: {', '.join(sorted(unknown))}."
            )
        if item.get("kind") not in allowed:
            raise ValidationError(
                f"Control {index}: kind must be one of {', '.join(sorted(allowed))}."
            )
        for key in ("description", "result"):
            if not isinstance(item.get(key, ""), str) or len(item.get(key, "")) > 500:
                raise ValidationError(f"Control {index}: {key} must be text (≤ 500 characters).")


class AssayRecord(models.Model):
    aliquot = models.ForeignKey(Aliquot, on_delete=models.PROTECT, related_name="+")
    # The tube's study, copied for scoping and filtering without a join.
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    measured_at = models.DateTimeField(null=True, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    instrument = models.ForeignKey(
        Instrument, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sop = models.CharField(
        "SOP / protocol", max_length=200, blank=True, help_text="SOP id, version or kit name."
    )
    # The file this record was parsed from (re-processing replaces it); null when entered.
    instrument_file = models.ForeignKey(
        InstrumentFile, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    raw_files = models.ManyToManyField(InstrumentFile, blank=True, related_name="+")
    controls = models.JSONField(default=list, blank=True, validators=[validate_controls])
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AssayRecordQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-measured_at", "-id"]

    def clean(self) -> None:
        super().clean()
        if self.aliquot_id and self.study_id and self.aliquot.study_id != self.study_id:
            raise ValidationError({"aliquot": "The tube belongs to another study."})
