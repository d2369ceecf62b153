"""Results parsed from flow (FCS), DLS/zeta (Zetasizer) and qPCR files, or entered."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from samples.choices import Role
from samples.models import Aliquot, Study, StudyMembership

from ..choices import DLSKind, FluorescenceUnit, QPCRTask, ScatterUnit
from .instruments import Instrument, InstrumentFile
from .records import AssayRecord, AssayRecordQuerySet

# The quality flag FlowFiler puts first in ``FlowMeasurement.warnings`` when the file's DATA
# segment is missing or cut off: $TOT is known, but no event was read.
FLOW_DATA_MISSING = "Data segment missing: statistics and concentration not available"


@pghistory.track(
    model_name="FlowMeasurementHistory",
    fields=[
        "aliquot",
        "analysed_volume_ul",
        "dilution_factor",
        "calibration_beads",
        "refractive_index_assumed",
        "scatter_unit",
        "fluorescence_unit",
        "lod_scatter",
        "lod_fluorescence",
        "gating",
        "controls",
        "notes",
    ],
)
class FlowMeasurement(AssayRecord):
    """One FCS acquisition of a tube. The file gives keywords, channels and events; the user
    adds what MIFlowCyt-EV asks and the file does not say (calibration, refractive index,
    units, limits of detection, controls). Re-processing keeps those user fields."""

    fcs_version = models.CharField(max_length=8, blank=True)
    sample_name = models.CharField(max_length=200, blank=True)
    cytometer = models.CharField(max_length=120, blank=True)
    cytometer_serial = models.CharField(max_length=80, blank=True)
    software_version = models.CharField(max_length=120, blank=True)
    event_count = models.PositiveBigIntegerField(null=True, blank=True)
    channels = models.JSONField(default=list, blank=True)
    keywords = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(max_length=120, blank=True)
    file_volume_ul = models.FloatField(null=True, blank=True, help_text="$VOL from the file.")
    analysed_volume_ul = models.FloatField(
        "analysed volume (µL)", null=True, blank=True, help_text="Overrides the file's $VOL."
    )
    dilution_factor = models.FloatField(default=1.0)
    event_concentration_per_ml = models.FloatField(null=True, blank=True)
    # MIFlowCyt-EV reporting fields.
    calibration_beads = models.CharField(max_length=200, blank=True)
    refractive_index_assumed = models.FloatField(null=True, blank=True)
    scatter_unit = models.CharField(
        max_length=4, choices=ScatterUnit.choices, default=ScatterUnit.ARBITRARY
    )
    fluorescence_unit = models.CharField(
        max_length=4, choices=FluorescenceUnit.choices, default=FluorescenceUnit.ARBITRARY
    )
    lod_scatter = models.FloatField("scatter limit of detection", null=True, blank=True)
    lod_fluorescence = models.FloatField("fluorescence limit of detection", null=True, blank=True)
    gating = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)

    objects = AssayRecordQuerySet.as_manager()

    class Meta(AssayRecord.Meta):
        indexes = [
            models.Index(fields=["study", "measured_at"], name="assays_flow_study"),
            models.Index(fields=["aliquot"], name="assays_flow_aliquot"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(dilution_factor__gte=1),
                name="assays_flow_dilution_ge1",
                violation_error_message="Dilution factor must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(refractive_index_assumed__isnull=True)
                | Q(refractive_index_assumed__gte=1, refractive_index_assumed__lte=3),
                name="assays_flow_ri_range",
                violation_error_message="Refractive index must be between 1 and 3.",
            ),
        ]

    def __str__(self) -> str:
        return f"Flow of {self.aliquot}"

    def get_absolute_url(self) -> str:
        return reverse("assays:flow-detail", args=[self.pk])

    @property
    def volume_ul(self) -> float | None:
        return self.analysed_volume_ul if self.analysed_volume_ul else self.file_volume_ul

    @property
    def data_missing(self) -> bool:
        """The file's events were not read (DATA missing or truncated): $TOT alone is no
        measured concentration."""
        return FLOW_DATA_MISSING in (self.warnings or [])

    def compute_concentration(self) -> float | None:
        """Events per mL of the tube: events / analysed volume × dilution."""
        volume = self.volume_ul
        if self.data_missing or not self.event_count or not volume or volume <= 0:
            return None
        return self.event_count / (volume / 1000.0) * (self.dilution_factor or 1.0)


class DLSMeasurement(AssayRecord):
    """One Zetasizer record (size or zeta) of a tube; files give several (replicate runs)."""

    kind = models.CharField(max_length=8, choices=DLSKind.choices)
    record_number = models.PositiveIntegerField(null=True, blank=True)
    sample_name = models.CharField(max_length=200, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    dispersant = models.CharField(max_length=120, blank=True)
    z_average_nm = models.FloatField("Z-average (nm)", null=True, blank=True)
    pdi = models.FloatField("PDI", null=True, blank=True)
    intercept = models.FloatField(null=True, blank=True)
    count_rate_kcps = models.FloatField(null=True, blank=True)
    attenuator = models.PositiveSmallIntegerField(null=True, blank=True)
    quality = models.CharField(max_length=200, blank=True)
    peaks = models.JSONField(default=list, blank=True)
    # {"sizes_nm": [...], "intensity_pct": [...], "number_pct": [...], "volume_pct": [...]}
    distribution = models.JSONField(null=True, blank=True)
    zeta_potential_mv = models.FloatField(null=True, blank=True)
    zeta_deviation_mv = models.FloatField(null=True, blank=True)
    mobility = models.FloatField("mobility (µm·cm/V·s)", null=True, blank=True)
    conductivity_ms_cm = models.FloatField(null=True, blank=True)
    zeta_distribution = models.JSONField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    objects = AssayRecordQuerySet.as_manager()

    class Meta(AssayRecord.Meta):
        indexes = [
            models.Index(fields=["study", "measured_at"], name="assays_dls_study"),
            models.Index(fields=["aliquot"], name="assays_dls_aliquot"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(pdi__isnull=True) | Q(pdi__gte=0, pdi__lte=1),
                name="assays_dls_pdi_range",
                violation_error_message="PDI must be between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(z_average_nm__isnull=True) | Q(z_average_nm__gt=0),
                name="assays_dls_zavg_positive",
                violation_error_message="Z-average must be greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.aliquot}"

    def get_absolute_url(self) -> str:
        return reverse("assays:dls-detail", args=[self.pk])


class QPCRRunQuerySet(models.QuerySet):
    def visible_to(self, user) -> QPCRRunQuerySet:
        """Like plates: a run goes with its tubes' studies; its creator or uploader always
        sees it; a lab instrument's run with no row on a tube yet is the lab editors'."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        memberships = StudyMembership.objects.filter(user=user)
        studies = memberships.values("study_id")
        on_tubes = Exists(QPCRResult.objects.filter(run_id=OuterRef("pk"), aliquot__isnull=False))
        visible = (
            Q(created_by=user)
            | Q(instrument_file__uploaded_by=user)
            | Q(study_id__in=studies)
            | Q(pk__in=QPCRResult.objects.filter(study_id__in=studies).values("run_id"))
        )
        if memberships.filter(role__in=[Role.EDITOR, Role.MANAGER]).exists():
            visible |= Q(instrument_file__uploaded_by__instrument__isnull=False) & ~on_tubes
        return self.filter(visible)


class QPCRRun(models.Model):
    """One qPCR plate run (a file, or a set of entered Cq values). ``sample_map`` maps the
    file's sample names to tube ids where the names carry no accession; it survives
    re-processing."""

    instrument_file = models.OneToOneField(
        InstrumentFile, on_delete=models.CASCADE, null=True, blank=True, related_name="qpcr_run"
    )
    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, null=True, blank=True, related_name="qpcr_runs"
    )
    run_name = models.CharField(max_length=200, blank=True)
    instrument = models.ForeignKey(
        Instrument, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    instrument_name = models.CharField(max_length=200, blank=True)
    software_version = models.CharField(max_length=120, blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sop = models.CharField("SOP / kit", max_length=200, blank=True)
    sample_map = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = QPCRRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.run_name or f"qPCR run {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("assays:qpcr-run-detail", args=[self.pk])


class QPCRResultQuerySet(models.QuerySet):
    def visible_to(self, user) -> QPCRResultQuerySet:
        """Rows on tubes of the user's studies; rows not yet on a tube go with their run."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        studies = StudyMembership.objects.filter(user=user).values("study_id")
        runs = QPCRRun.objects.visible_to(user).values("pk")
        return self.filter(Q(study_id__in=studies) | Q(study__isnull=True, run_id__in=runs))


class QPCRResult(models.Model):
    """One well × target: the Cq (null = undetermined) of a tube's material."""

    run = models.ForeignKey(QPCRRun, on_delete=models.CASCADE, related_name="results")
    aliquot = models.ForeignKey(
        Aliquot, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    well = models.CharField(max_length=8, blank=True)
    sample_name = models.CharField(max_length=200, blank=True)
    target = models.CharField(max_length=120)
    cq = models.FloatField("Cq", null=True, blank=True)
    undetermined = models.BooleanField(default=False)
    task = models.CharField(max_length=12, choices=QPCRTask.choices, default=QPCRTask.UNKNOWN)
    reporter = models.CharField(max_length=40, blank=True)
    quantity = models.FloatField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)

    objects = QPCRResultQuerySet.as_manager()

    class Meta:
        ordering = ["run", "well", "target", "id"]
        indexes = [
            models.Index(fields=["study", "target"], name="assays_qpcr_study_target"),
            models.Index(fields=["aliquot"], name="assays_qpcr_aliquot"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(cq__isnull=True) | Q(cq__gte=0, cq__lte=100),
                name="assays_qpcr_cq_range",
                violation_error_message="Cq must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(aliquot__isnull=True) | Q(study__isnull=False),
                name="assays_qpcr_study_with_tube",
                violation_error_message="A result on a tube carries the tube's study.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.well} Cq {self.cq}"
