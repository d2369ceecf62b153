"""Instruments, the files they (or people, or scripts) upload, and the particle results
parsed from them. Files move received → processing → parsed | failed | needs_review;
the state lives here, never in the Celery result backend."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from samples.choices import Role
from samples.models import Aliquot, Study, StudyMembership

from ..choices import FileStatus, InstrumentKind, ParticleMethod


@pghistory.track(model_name="InstrumentHistory")
class Instrument(models.Model):
    """A lab instrument. ``account`` is the user its PC signs in as (with an API token);
    that account may upload files and read its own uploads, nothing else."""

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=16, choices=InstrumentKind.choices)
    model = models.CharField(max_length=120, blank=True, help_text="e.g. NanoSight NS300")
    serial_number = models.CharField(max_length=80, blank=True)
    location = models.CharField(max_length=120, blank=True)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="instrument",
    )
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # A login with a password counts as a person, with a person's rights.
        if self.account_id and self.account.has_usable_password():
            raise ValidationError(
                {"account": "An instrument's account must not have a password; use an API token."}
            )


class InstrumentFileQuerySet(models.QuerySet):
    def visible_to(self, user) -> InstrumentFileQuerySet:
        """Own uploads, plus files filed on tubes of the user's studies (superusers: all)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        # Imported here: those modules import this one.
        from .measurements import QPCRRun
        from .protein import ProteinAssay

        memberships = StudyMembership.objects.filter(user=user)
        studies = memberships.values("study_id")
        visible = Q(uploaded_by=user) | Q(study_id__in=studies)
        if memberships.filter(role__in=[Role.EDITOR, Role.MANAGER]).exists():
            # An instrument's file whose tube is not known yet belongs to no study; the lab's
            # editors must see it to pick the tube (needs review) — until it is filed.
            visible |= Q(study__isnull=True, uploaded_by__instrument__isnull=False) & ~Q(
                status=FileStatus.PARSED
            )
        # A plate or qPCR file goes with its plate or run (which follow their tubes' studies).
        visible |= Q(pk__in=ProteinAssay.objects.visible_to(user).values("instrument_file_id"))
        visible |= Q(pk__in=QPCRRun.objects.visible_to(user).values("instrument_file_id"))
        return self.filter(visible)


@pghistory.track(model_name="InstrumentFileHistory", exclude=["attempts"])
class InstrumentFile(models.Model):
    """One uploaded result file. The bytes are stored once (unique sha256)."""

    file = models.FileField(upload_to="instrument-files/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, unique=True)
    format = models.CharField(
        max_length=40, blank=True, help_text="Registry key of the detected format."
    )
    parser_version = models.CharField(max_length=40, blank=True)
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="files"
    )
    aliquot = models.ForeignKey(
        Aliquot, on_delete=models.PROTECT, null=True, blank=True, related_name="instrument_files"
    )
    # The target tube's study, copied for scoping (null until a tube is known).
    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, null=True, blank=True, related_name="instrument_files"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="instrument_uploads"
    )
    status = models.CharField(
        max_length=16, choices=FileStatus.choices, default=FileStatus.RECEIVED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, help_text="What went wrong and where (line, column).")
    review_reason = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = InstrumentFileQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="assays_file_status_updated"),
            models.Index(fields=["study", "received_at"], name="assays_file_study_received"),
            models.Index(fields=["uploaded_by", "received_at"], name="assays_file_uploader"),
            models.Index(fields=["aliquot"], name="assays_file_aliquot"),
        ]

    def __str__(self) -> str:
        return self.original_name

    def get_absolute_url(self) -> str:
        return reverse("assays:file-detail", args=[self.pk])


class ParticleMeasurementQuerySet(models.QuerySet):
    def visible_to(self, user) -> ParticleMeasurementQuerySet:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(
            study_id__in=StudyMembership.objects.filter(user=user).values("study_id")
        )


class ParticleMeasurement(models.Model):
    """Particle concentration and size of one tube from one file (NTA, ZetaView, …).

    Concentrations are particles/mL of the measured tube (dilution applied), sizes in nm.
    Derived rows: re-processing a file deletes and recreates them in one transaction.
    """

    instrument_file = models.ForeignKey(
        InstrumentFile, on_delete=models.CASCADE, related_name="particle_measurements"
    )
    aliquot = models.ForeignKey(
        Aliquot, on_delete=models.PROTECT, related_name="particle_measurements"
    )
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="particle_measurements")
    method = models.CharField(max_length=16, choices=ParticleMethod.choices)
    measured_at = models.DateTimeField(null=True, blank=True)
    software_version = models.CharField(max_length=80, blank=True)
    dilution_factor = models.FloatField(null=True, blank=True)
    concentration_per_ml = models.FloatField(null=True, blank=True)
    concentration_sd_per_ml = models.FloatField(null=True, blank=True)
    replicate_cv_pct = models.FloatField(null=True, blank=True)
    replicates = models.PositiveSmallIntegerField(null=True, blank=True)
    mean_nm = models.FloatField(null=True, blank=True)
    mode_nm = models.FloatField(null=True, blank=True)
    sd_nm = models.FloatField(null=True, blank=True)
    d10_nm = models.FloatField(null=True, blank=True)
    d50_nm = models.FloatField(null=True, blank=True)
    d90_nm = models.FloatField(null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    # {"bin_centres_nm": [...], "mean": [...], "replicates": [[...], ...]} in particles/mL
    distribution = models.JSONField(null=True, blank=True)
    instrument_warnings = models.JSONField(default=list, blank=True)
    flags = models.JSONField(
        default=list, blank=True, help_text="Quality flags (codes + messages)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ParticleMeasurementQuerySet.as_manager()

    class Meta:
        ordering = ["-measured_at", "-id"]
        indexes = [
            models.Index(fields=["study", "measured_at"], name="assays_particle_study_measured"),
            models.Index(fields=["aliquot", "measured_at"], name="assays_particle_aliquot"),
            models.Index(fields=["method", "measured_at"], name="assays_particle_method"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} of {self.aliquot}"

    def get_absolute_url(self) -> str:
        return reverse("assays:particle-detail", args=[self.pk])
