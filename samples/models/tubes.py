"""Physical tubes (aliquots, incl. EV preparations) and their append-only custody history."""

from __future__ import annotations

from decimal import Decimal

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.urls import reverse

from ..choices import AliquotKind, AliquotStatus, ContainerType, CustodyKind
from .storage import StorageUnit, position_label
from .studies import Sample, Study, StudyScopedQuerySet


class AliquotQuerySet(StudyScopedQuerySet):
    def with_location(self) -> AliquotQuerySet:
        return self.select_related("box", "study", "sample")


@pghistory.track(model_name="AliquotHistory")
class Aliquot(models.Model):
    """Any physical tube derived from a sample: an aliquot, an aliquot of an aliquot, or an
    EV preparation. ``study`` copies the root sample's study so scoping is one indexed filter.

    Volumes are in mL. ``remaining_volume_ml`` only changes inside services that hold a row
    lock, and the database refuses a negative value even if they did not.
    """

    accession = models.CharField(max_length=20, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="aliquots")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="aliquots")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    kind = models.CharField(max_length=24, choices=AliquotKind.choices, default=AliquotKind.ALIQUOT)
    container_type = models.CharField(
        max_length=24, choices=ContainerType.choices, default=ContainerType.CRYOVIAL_2ML
    )
    volume_ml = models.DecimalField("volume (mL)", max_digits=12, decimal_places=4)
    remaining_volume_ml = models.DecimalField(
        "remaining volume (mL)", max_digits=12, decimal_places=4
    )
    status = models.CharField(
        max_length=16, choices=AliquotStatus.choices, default=AliquotStatus.AVAILABLE
    )
    box = models.ForeignKey(
        StorageUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="tubes"
    )
    row = models.PositiveSmallIntegerField(null=True, blank=True)
    column = models.PositiveSmallIntegerField(null=True, blank=True)
    # Derived from custody events by the services that append them; recomputable at any time
    # (services.recompute_freeze_thaw). It includes the cycles the material had already been
    # through in the parent tube when this tube was split from it (freeze_thaw_inherited).
    freeze_thaw_count = models.PositiveSmallIntegerField(default=0)
    freeze_thaw_inherited = models.PositiveSmallIntegerField(
        default=0, help_text="Freeze–thaw cycles of the parent tube when this one was split off."
    )
    is_frozen = models.BooleanField(default=False)
    out_of_storage_since = models.DateTimeField(null=True, blank=True)
    time_out_of_storage_s = models.PositiveBigIntegerField(default=0)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AliquotQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["study", "status", "id"], name="samples_aliquot_study_status"),
            models.Index(fields=["sample", "id"], name="samples_aliquot_sample"),
            models.Index(fields=["parent"], name="samples_aliquot_parent"),
            GinIndex(
                fields=["accession"], name="samples_aliquot_acc_trgm", opclasses=["gin_trgm_ops"]
            ),
            GinIndex(
                fields=["notes"], name="samples_aliquot_notes_trgm", opclasses=["gin_trgm_ops"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["box", "row", "column"],
                name="samples_aliquot_unique_position",
                violation_error_message="That position is already occupied.",
            ),
            models.CheckConstraint(
                condition=models.Q(remaining_volume_ml__gte=0)
                & models.Q(remaining_volume_ml__lte=models.F("volume_ml")),
                name="samples_aliquot_remaining_within_volume",
                violation_error_message="Remaining volume must be between 0 and the tube volume.",
            ),
            models.CheckConstraint(
                condition=models.Q(volume_ml__gt=0),
                name="samples_aliquot_volume_positive",
                violation_error_message="Volume must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=models.Q(box__isnull=True, row__isnull=True, column__isnull=True)
                | models.Q(box__isnull=False, row__gte=1, column__gte=1),
                name="samples_aliquot_position_complete",
                violation_error_message="A position needs a box, a row and a column.",
            ),
        ]

    def __str__(self) -> str:
        return self.accession

    def get_absolute_url(self) -> str:
        return reverse("samples:aliquot-detail", args=[self.pk])

    @property
    def position(self) -> str:
        if self.box_id is None:
            return ""
        return position_label(self.row, self.column)

    @property
    def is_empty(self) -> bool:
        return self.remaining_volume_ml <= Decimal(0)

    @property
    def is_over_freeze_thaw_limit(self) -> bool:
        """Thawed more often than the study allows (``Study.max_freeze_thaw_cycles``)."""
        limit = self.study.max_freeze_thaw_cycles
        return limit is not None and self.freeze_thaw_count > limit

    def freeze_thaw_limit_exceeded(self) -> bool:
        return self.is_over_freeze_thaw_limit


class CustodyEvent(models.Model):
    """One thing that happened to a tube. Append-only: a database trigger refuses updates and
    deletes, so the chain of custody cannot be rewritten through any interface."""

    aliquot = models.ForeignKey(Aliquot, on_delete=models.PROTECT, related_name="custody_events")
    kind = models.CharField(max_length=16, choices=CustodyKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_box = models.ForeignKey(
        StorageUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_position = models.CharField(max_length=8, blank=True)
    to_box = models.ForeignKey(
        StorageUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_position = models.CharField(max_length=8, blank=True)
    # Places outside our storage tree: the sender or recipient of a shipment, a bench, a lab.
    from_location = models.CharField(max_length=200, blank=True)
    to_location = models.CharField(max_length=200, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    volume_ml = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["aliquot", "at", "id"], name="samples_custody_aliquot_at")]
        triggers = [
            pgtrigger.Protect(
                name="custody_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.aliquot} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


def freeze_state(kinds: list[str]) -> tuple[int, bool]:
    """(cycles, frozen now) after a sequence of custody event kinds in time order.

    A thaw counts only when it follows a freeze: thawing a tube that was never recorded as
    frozen, or thawing twice, adds nothing.
    """
    count = 0
    frozen = False
    for kind in kinds:
        if kind == CustodyKind.FROZEN:
            frozen = True
        elif kind == CustodyKind.THAWED and frozen:
            count += 1
            frozen = False
    return count, frozen


def freeze_thaw_count(kinds: list[str]) -> int:
    """Count thaws that follow a freeze; a thaw of a tube never frozen does not count."""
    return freeze_state(kinds)[0]
