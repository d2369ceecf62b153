"""Single-vesicle imaging (TEM, cryo-EM, SEM, AFM, super-resolution): a record per imaging
session of a tube, with its images (each wide-field or close-up, with its scale) and the size
statistics of the vesicles measured on them."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import Q
from django.urls import reverse

from ..choices import ImageView, ImagingMethod
from .records import AssayRecord, AssayRecordQuerySet


@pghistory.track(model_name="ImagingRecordHistory")
class ImagingRecord(AssayRecord):
    method = models.CharField(max_length=20, choices=ImagingMethod.choices)
    stain = models.CharField(max_length=120, blank=True, help_text="e.g. 2% uranyl acetate")
    grid = models.CharField(max_length=120, blank=True, help_text="e.g. Formvar/carbon Cu 300")
    grid_positions_predefined = models.BooleanField(
        null=True, blank=True, help_text="Images taken at predefined grid positions."
    )
    bilayer_observed = models.BooleanField(null=True, blank=True)
    n_vesicles_measured = models.PositiveIntegerField(null=True, blank=True)
    size_mean_nm = models.FloatField(null=True, blank=True)
    size_median_nm = models.FloatField(null=True, blank=True)
    size_sd_nm = models.FloatField(null=True, blank=True)
    size_min_nm = models.FloatField(null=True, blank=True)
    size_max_nm = models.FloatField(null=True, blank=True)

    objects = AssayRecordQuerySet.as_manager()

    class Meta(AssayRecord.Meta):
        indexes = [
            models.Index(fields=["study", "measured_at"], name="assays_imaging_study"),
            models.Index(fields=["aliquot"], name="assays_imaging_aliquot"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(size_min_nm__isnull=True)
                | Q(size_max_nm__isnull=True)
                | Q(size_min_nm__lte=models.F("size_max_nm")),
                name="assays_imaging_min_le_max",
                violation_error_message="The smallest size cannot exceed the largest.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} of {self.aliquot}"

    def get_absolute_url(self) -> str:
        return reverse("assays:imaging-detail", args=[self.pk])


class ImagingImage(models.Model):
    record = models.ForeignKey(ImagingRecord, on_delete=models.CASCADE, related_name="images")
    image = models.FileField(upload_to="imaging/%Y/%m/", max_length=300)
    thumbnail = models.FileField(upload_to="imaging/thumbs/%Y/%m/", max_length=300, blank=True)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    view = models.CharField(max_length=12, choices=ImageView.choices)
    scale_nm_per_px = models.FloatField("scale (nm/pixel)", null=True, blank=True)
    scale_bar_nm = models.FloatField("scale bar (nm)", null=True, blank=True)
    magnification = models.CharField(max_length=40, blank=True)
    width_px = models.PositiveIntegerField(null=True, blank=True)
    height_px = models.PositiveIntegerField(null=True, blank=True)
    caption = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["record", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scale_nm_per_px__isnull=False) | Q(scale_bar_nm__isnull=False),
                name="assays_image_has_scale",
                violation_error_message="Give the image scale (nm per pixel or scale bar in nm).",
            )
        ]

    def __str__(self) -> str:
        return self.original_name
