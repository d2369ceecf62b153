"""Reporting-standard rules kept as data (MISEV2018, MISEV2023, EV-METRIC, MIBlood-EV, urine).

A rule names a *check* (``check_name``) (a small function in ``assays.compliance.checks``) and gives it its
parameters (marker lists, thresholds) and its applicability (fluid types, step kinds,
nomenclature terms). Labs change thresholds, switch rules off or add rules built on the
existing checks without code changes. Rules are versioned: an edit makes a new version and
the old one stays for the record (``is_current``)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from ..choices import ComplianceSeverity


class ComplianceRuleQuerySet(models.QuerySet):
    def current(self) -> ComplianceRuleQuerySet:
        return self.filter(is_current=True)

    def active(self) -> ComplianceRuleQuerySet:
        return self.filter(is_current=True, is_active=True)


class ComplianceRule(models.Model):
    code = models.CharField(max_length=24, help_text="Stable id, e.g. CH-01 or EVM-UC.")
    version = models.PositiveSmallIntegerField(default=1)
    # Profiles the rule belongs to: "MISEV2018", "MISEV2023", "EV-METRIC", "MIBlood-EV", "urine".
    profiles = models.JSONField(default=list)
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=8, choices=ComplianceSeverity.choices)
    check_name = models.CharField(max_length=40, help_text="Name of the check function.")
    params = models.JSONField(default=dict, blank=True)
    # {"fluid_types": [...], "nomenclature_terms": [...], "step_kinds_any": [...],
    #  "marker_methods_any": [...], "flags": [...]} — all given keys must hold.
    applies_when = models.JSONField(default=dict, blank=True)
    explanation = models.TextField(help_text="Why the rule exists, in the lab's words.")
    source = models.CharField(max_length=300, blank=True, help_text="Reference (DOI, section).")
    fix_hint = models.CharField(max_length=200, blank=True, help_text="What to add to pass.")
    # Which form adds what is missing: particles, protein, marker, imaging, flow, sample, run.
    fix_kind = models.CharField(max_length=16, blank=True)
    is_active = models.BooleanField(default=True)
    is_current = models.BooleanField(default=True)
    is_builtin = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ComplianceRuleQuerySet.as_manager()

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="assays_rule_code_version"),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(is_current=True),
                name="assays_rule_one_current",
                violation_error_message="Only one version of a rule can be current.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"

    def clean(self) -> None:
        super().clean()
        from ..compliance.checks import CHECKS, PROFILES, validate_applies_when

        if self.check_name not in CHECKS:
            raise ValidationError(
                {"check_name": f"Unknown check; one of {', '.join(sorted(CHECKS))}."}
            )
        if not isinstance(self.profiles, list) or not self.profiles:
            raise ValidationError({"profiles": "Name at least one profile."})
        unknown = set(self.profiles) - set(PROFILES)
        if unknown:
            raise ValidationError(
                {
                    "profiles": f"Unknown profile(s) {', '.join(sorted(unknown))}; "
                    f"one of {', '.join(PROFILES)}."
                }
            )
        if not isinstance(self.params, dict):
            raise ValidationError({"params": "Parameters must be an object."})
        problems = CHECKS[self.check_name].validate_params(self.params)
        if problems:
            raise ValidationError({"params": problems})
        problems = validate_applies_when(self.applies_when)
        if problems:
            raise ValidationError({"applies_when": problems})
