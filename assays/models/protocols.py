"""The protocol library: rotors, isolation protocols, their versions and ordered typed steps.

Protocols are lab-wide, like storage: every signed-in user reads them; changing them needs
the model permissions (assays.add_/change_isolationprotocol) or a superuser. A version used
by a run is frozen: editing it means creating the next version.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse

from .. import centrifugation
from ..choices import RecoverySpecificity, RotorType, StepKind, VersionStatus


@pghistory.track(model_name="RotorHistory")
class Rotor(models.Model):
    """A centrifuge rotor from the lab's catalogue; its radii drive RCF ↔ rpm and k-factor."""

    name = models.CharField(max_length=80, unique=True, help_text="e.g. Beckman SW 41 Ti")
    manufacturer = models.CharField(max_length=80, blank=True)
    rotor_type = models.CharField(max_length=20, choices=RotorType.choices)
    r_min_mm = models.FloatField("r min (mm)", validators=[MinValueValidator(0.1)])
    r_max_mm = models.FloatField("r max (mm)", validators=[MinValueValidator(0.1)])
    max_rpm = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    k_factor = models.FloatField(
        "k-factor at max rpm (vendor)",
        null=True,
        blank=True,
        help_text="From the rotor manual; computed from the radii when empty.",
    )
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(r_max_mm__gt=models.F("r_min_mm")),
                name="assays_rotor_rmax_above_rmin",
                violation_error_message="r max must be larger than r min.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def k_factor_max(self) -> float:
        """k at the maximum speed: the vendor's figure, else computed from the radii."""
        if self.k_factor:
            return self.k_factor
        return centrifugation.k_factor(self.r_min_mm, self.r_max_mm, self.max_rpm)

    def k_at(self, rpm: float) -> float:
        """k-factor at ``rpm`` (k_adj = k_max · (rpm_max / rpm)²)."""
        return centrifugation.adjusted_k_factor(self.k_factor_max, self.max_rpm, rpm)

    def radius_mm(self, basis: str) -> float:
        return centrifugation.radius_for(basis, self.r_min_mm, self.r_max_mm)

    def rcf_at(self, rpm: float, basis: str = "average") -> float:
        return centrifugation.rcf_from_rpm(rpm, self.radius_mm(basis))

    def rpm_for(self, rcf: float, basis: str = "average") -> float:
        return centrifugation.rpm_from_rcf(rcf, self.radius_mm(basis))


@pghistory.track(model_name="IsolationProtocolHistory")
class IsolationProtocol(models.Model):
    """A named isolation method; what it does lives in its versions."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    cloned_from = models.ForeignKey(
        "ProtocolVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="clones"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("assays:protocol-detail", args=[self.pk])


@pghistory.track(model_name="ProtocolVersionHistory")
class ProtocolVersion(models.Model):
    """One version of a protocol. Draft → published (runnable) → retired."""

    protocol = models.ForeignKey(
        IsolationProtocol, on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    changes = models.TextField(
        blank=True, help_text="What changed from the previous version and why."
    )
    sop_document = models.FileField(upload_to="sops/%Y/", blank=True)
    recovery_specificity = models.CharField(
        "recovery / specificity (MISEV2018)",
        max_length=40,
        choices=RecoverySpecificity.choices,
        blank=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["protocol__name", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "number"],
                name="assays_protocolversion_unique_number",
                violation_error_message="This protocol already has a version with this number.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.protocol.name} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("assays:version-detail", args=[self.pk])

    @property
    def is_frozen(self) -> bool:
        """Used by a run (or no longer a draft): its steps can no longer change."""
        if self.status != VersionStatus.DRAFT:
            return True
        # Lists annotate run_count (one query for all versions); a single version asks.
        runs = getattr(self, "run_count", None)
        return runs > 0 if runs is not None else self.runs.exists()


@pghistory.track(model_name="ProtocolStepHistory")
class ProtocolStep(models.Model):
    """One ordered, typed step. ``parameters`` holds numbers in canonical units, validated
    against the step kind's schema (assays/steps.py) — never free text."""

    version = models.ForeignKey(ProtocolVersion, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=32, choices=StepKind.choices)
    title = models.CharField(max_length=120, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    rotor = models.ForeignKey(
        Rotor, on_delete=models.PROTECT, null=True, blank=True, related_name="steps"
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["version", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "order"],
                name="assays_protocolstep_unique_order",
                violation_error_message="Two steps cannot have the same position.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.title or self.get_kind_display()}"
