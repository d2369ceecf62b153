"""Isolation runs: a published protocol version applied to input tubes, producing EV
preparations that are ordinary tubes (samples.Aliquot, kind=ev_preparation) in the lineage."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.urls import reverse

from samples.models import Aliquot, Study, StudyScopedQuerySet

from ..choices import NomenclatureTerm
from .protocols import ProtocolVersion


class IsolationRunQuerySet(StudyScopedQuerySet):
    pass


@pghistory.track(model_name="IsolationRunHistory")
class IsolationRun(models.Model):
    """One application of a protocol version. Created atomically with its input withdrawals
    and its output preparations (assays.services.record_isolation_run)."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="isolation_runs")
    protocol_version = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, related_name="runs"
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # {"<step order>": {"<parameter>": value, …}} — only where the run differed from the protocol.
    step_actuals = models.JSONField(default=dict, blank=True)
    deviations = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = IsolationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["study", "started_at"], name="assays_run_study_started"),
            models.Index(
                fields=["protocol_version", "started_at"], name="assays_run_version_started"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="assays_run_end_after_start",
                violation_error_message="The run cannot end before it started.",
            )
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} · {self.protocol_version}"

    def get_absolute_url(self) -> str:
        return reverse("assays:run-detail", args=[self.pk])


class RunInputQuerySet(StudyScopedQuerySet):
    study_path = "run__study"


class RunInput(models.Model):
    """A tube that went into a run and the volume taken from it."""

    run = models.ForeignKey(IsolationRun, on_delete=models.CASCADE, related_name="inputs")
    aliquot = models.ForeignKey(Aliquot, on_delete=models.PROTECT, related_name="isolation_inputs")
    volume_used_ml = models.DecimalField("volume used (mL)", max_digits=12, decimal_places=4)

    objects = RunInputQuerySet.as_manager()

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "aliquot"],
                name="assays_runinput_unique_tube",
                violation_error_message="A tube is listed twice as input of the run.",
            ),
            models.CheckConstraint(
                condition=models.Q(volume_used_ml__gt=0),
                name="assays_runinput_volume_positive",
                violation_error_message="Volume used must be greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aliquot} → run {self.run_id}"


class EVPreparationQuerySet(StudyScopedQuerySet):
    study_path = "run__study"


@pghistory.track(model_name="EVPreparationHistory")
class EVPreparation(models.Model):
    """What a run produced, described in MISEV2023 terms. The physical tube is ``aliquot``."""

    aliquot = models.OneToOneField(Aliquot, on_delete=models.PROTECT, related_name="ev_preparation")
    run = models.ForeignKey(IsolationRun, on_delete=models.PROTECT, related_name="preparations")
    source = models.ForeignKey(RunInput, on_delete=models.PROTECT, related_name="preparations")
    nomenclature_term = models.CharField(max_length=16, choices=NomenclatureTerm.choices)
    author_term = models.CharField(
        max_length=80, blank=True, help_text='The authors\' own word, e.g. "exosomes".'
    )
    fraction = models.CharField(max_length=40, blank=True, help_text="e.g. SEC fractions 7–9.")
    resuspension_buffer = models.CharField(max_length=120, blank=True)
    resuspension_volume_ml = models.DecimalField(max_digits=12, decimal_places=4)

    objects = EVPreparationQuerySet.as_manager()

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.aliquot} ({self.get_nomenclature_term_display()})"
