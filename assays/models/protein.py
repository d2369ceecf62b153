"""Protein quantification: a plate (standards, blanks, samples) fitted to a standard curve,
and the per-tube results it gives. A result can also be entered directly (e.g. Qubit)."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from samples.choices import Role
from samples.models import Study, StudyMembership

from ..choices import CurveModel, ProteinAssayStatus, ProteinMethod
from .instruments import Instrument, InstrumentFile
from .records import AssayRecord, AssayRecordQuerySet


class ProteinAssayQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProteinAssayQuerySet:
        """A plate goes with the studies of the tubes it holds results for (and its own
        study). Its creator or uploader always sees it. A plate from a lab instrument that
        has no result on any tube yet is the lab's: its editors must see it to map it."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        memberships = StudyMembership.objects.filter(user=user)
        studies = memberships.values("study_id")
        has_results = Exists(ProteinMeasurement.objects.filter(assay_id=OuterRef("pk")))
        visible = (
            Q(created_by=user)
            | Q(instrument_file__uploaded_by=user)
            | Q(study_id__in=studies)
            | Q(pk__in=ProteinMeasurement.objects.filter(study_id__in=studies).values("assay_id"))
        )
        if memberships.filter(role__in=[Role.EDITOR, Role.MANAGER]).exists():
            visible |= Q(instrument_file__uploaded_by__instrument__isnull=False) & ~has_results
        return self.filter(visible)


@pghistory.track(model_name="ProteinAssayHistory")
class ProteinAssay(models.Model):
    """One plate read for protein. ``reads`` holds every read of the file ({plate_name,
    wavelength_nm, values: {well: value}}); ``read_index`` says which one is used.
    ``plate_map`` says what each well holds: {well: {"role", "concentration", "sample"
    (aliquot id), "dilution"}}. ``curve`` keeps the fitted curve and the standard levels."""

    name = models.CharField(max_length=120, blank=True)
    method = models.CharField(max_length=16, choices=ProteinMethod.choices)
    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, null=True, blank=True, related_name="protein_assays"
    )
    instrument_file = models.OneToOneField(
        InstrumentFile,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="protein_assay",
    )
    instrument = models.ForeignKey(
        Instrument, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rows = models.PositiveSmallIntegerField(default=8)
    columns = models.PositiveSmallIntegerField(default=12)
    reads = models.JSONField(default=list, blank=True)
    read_index = models.PositiveSmallIntegerField(default=0)
    plate_map = models.JSONField(default=dict, blank=True)
    curve_model = models.CharField(
        max_length=8, choices=CurveModel.choices, default=CurveModel.LINEAR
    )
    subtract_blank = models.BooleanField(default=True)
    curve = models.JSONField(null=True, blank=True)
    r_squared = models.FloatField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ProteinAssayStatus.choices, default=ProteinAssayStatus.AWAITING_MAP
    )
    fit_error = models.TextField(blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sop = models.CharField("SOP / kit", max_length=200, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProteinAssayQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["study", "created_at"], name="assays_protassay_study")]

    def __str__(self) -> str:
        return self.name or f"{self.get_method_display()} plate {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("assays:protein-assay-detail", args=[self.pk])

    @property
    def values(self) -> dict:
        if 0 <= self.read_index < len(self.reads):
            return self.reads[self.read_index].get("values", {})
        return {}


@pghistory.track(model_name="ProteinMeasurementHistory")
class ProteinMeasurement(AssayRecord):
    """Protein concentration of one tube. From a plate (``assay``) or entered directly.
    ``concentration_ug_per_ml`` is in the tube (dilution applied); it is null when every
    replicate fell outside the curve (``flags`` say why)."""

    assay = models.ForeignKey(
        ProteinAssay,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="measurements",
    )
    method = models.CharField(max_length=16, choices=ProteinMethod.choices)
    concentration_ug_per_ml = models.FloatField("µg/mL", null=True, blank=True)
    dilution_factor = models.FloatField(default=1.0)
    volume_ml = models.DecimalField(
        "volume for total (mL)",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Volume the total protein refers to (the preparation's volume).",
    )
    total_ug = models.FloatField("total µg", null=True, blank=True)
    replicate_cv_pct = models.FloatField(null=True, blank=True)
    wells = models.JSONField(default=list, blank=True)  # [{"well", "response", "ug_per_ml"}]
    flags = models.JSONField(default=list, blank=True)

    objects = AssayRecordQuerySet.as_manager()

    class Meta(AssayRecord.Meta):
        indexes = [
            models.Index(fields=["study", "measured_at"], name="assays_protein_study"),
            models.Index(fields=["aliquot"], name="assays_protein_aliquot"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(concentration_ug_per_ml__isnull=True)
                | Q(concentration_ug_per_ml__gte=0),
                name="assays_protein_conc_nonneg",
                violation_error_message="Protein concentration cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(dilution_factor__gte=1),
                name="assays_protein_dilution_ge1",
                violation_error_message="Dilution factor must be at least 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} of {self.aliquot}"

    def get_absolute_url(self) -> str:
        return reverse("assays:protein-detail", args=[self.pk])
