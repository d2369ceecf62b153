"""Protein markers: the lab's vocabulary (HGNC symbol → MISEV category) and the results of
looking for a marker in a preparation (western blot, ELISA, flow, mass spec, bead assay)."""

from __future__ import annotations

import re

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Upper
from django.urls import reverse

from ..choices import Detection, LoadingUnit, MarkerCategory, MarkerMethod
from .records import AssayRecord, AssayRecordQuerySet

# HGNC symbols are upper-case letters, digits, '-' (and '@' for some clusters); a trailing '*'
# makes a family pattern (ITGA*, ANXA*, CHMP*) that classifies members not listed one by one.
SYMBOL = RegexValidator(
    r"^[A-Z0-9][A-Z0-9@.-]*\*?$",
    "Use the HGNC symbol in capitals (e.g. CD63, PDCD6IP); end with * for a family (ANXA*).",
)
_RRID = re.compile(r"^(RRID:)?AB_\d+$")


class MarkerQuerySet(models.QuerySet):
    def lookup(self, text: str) -> Marker | None:
        """The vocabulary row for a symbol or alias (case-insensitive): an exact symbol, then
        an alias, then the longest family pattern the symbol starts with. None if unknown."""
        key = (text or "").strip().upper()
        if not key or "*" in key:
            return None
        rows = list(self.filter(symbol__in=[key]))
        if rows:
            return rows[0]
        aliased = self.filter(aliases__contains=[key]).order_by("symbol").first()
        if aliased is not None:
            return aliased
        families = [
            marker
            for marker in self.filter(symbol__endswith="*")
            if key.startswith(marker.symbol[:-1])
        ]
        return max(families, key=lambda marker: len(marker.symbol), default=None)


@pghistory.track(model_name="MarkerHistory")
class Marker(models.Model):
    """One entry of the marker vocabulary. Built-in rows come from MISEV2018 Table 3 (as
    summarised in the team's domain notes); labs add or re-categorise rows as they need."""

    symbol = models.CharField(max_length=40, unique=True, validators=[SYMBOL])
    name = models.CharField(max_length=200, blank=True)
    aliases = models.JSONField(
        default=list, blank=True, help_text='Other names in capitals, e.g. ["ALIX"].'
    )
    category = models.CharField(max_length=2, choices=MarkerCategory.choices)
    is_builtin = models.BooleanField(default=False, editable=False)
    source = models.CharField(max_length=200, blank=True, help_text="Where the category is from.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = MarkerQuerySet.as_manager()

    class Meta:
        ordering = ["symbol"]
        indexes = [models.Index(Upper("symbol"), name="assays_marker_symbol_upper")]

    def __str__(self) -> str:
        return self.symbol

    @property
    def is_family(self) -> bool:
        return self.symbol.endswith("*")

    def clean(self) -> None:
        super().clean()
        self.symbol = (self.symbol or "").strip().upper()
        if not isinstance(self.aliases, list) or not all(
            isinstance(alias, str) and alias.strip() for alias in self.aliases
        ):
            raise ValidationError({"aliases": "Aliases must be a list of names."})
        self.aliases = sorted({alias.strip().upper() for alias in self.aliases})
        if self.symbol in self.aliases:
            raise ValidationError({"aliases": "An alias repeats the symbol."})


class MarkerResultQuerySet(AssayRecordQuerySet):
    pass


@pghistory.track(model_name="MarkerResultHistory")
class MarkerResult(AssayRecord):
    """Whether a marker was found in the tube, by which method and antibody."""

    marker = models.ForeignKey(Marker, on_delete=models.PROTECT, related_name="results")
    method = models.CharField(max_length=24, choices=MarkerMethod.choices)
    detection = models.CharField(max_length=16, choices=Detection.choices)
    antibody_clone = models.CharField(max_length=80, blank=True)
    antibody_vendor = models.CharField(max_length=120, blank=True)
    antibody_catalogue = models.CharField("antibody catalogue no.", max_length=80, blank=True)
    antibody_rrid = models.CharField("antibody RRID", max_length=40, blank=True)
    antibody_lot = models.CharField(max_length=80, blank=True)
    antibody_dilution = models.CharField(
        max_length=40, blank=True, help_text="e.g. 1:1000 or 0.5 µg/mL"
    )
    lysis_buffer = models.CharField(max_length=200, blank=True, help_text="e.g. RIPA + PIC")
    reducing = models.BooleanField(null=True, blank=True, help_text="Reducing conditions (WB).")
    loading_amount = models.FloatField(null=True, blank=True)
    loading_unit = models.CharField(max_length=16, choices=LoadingUnit.choices, blank=True)
    semi_quantitative = models.CharField(max_length=80, blank=True, help_text="e.g. ++, weak")
    blot_image = models.FileField(upload_to="blots/%Y/%m/", max_length=300, blank=True)
    # ImageJ/Fiji Results table: {"value_column", "columns", "rows": [{…}]}
    densitometry = models.JSONField(null=True, blank=True)
    band_intensity = models.FloatField(null=True, blank=True)

    objects = MarkerResultQuerySet.as_manager()

    class Meta(AssayRecord.Meta):
        indexes = [
            models.Index(fields=["study", "measured_at"], name="assays_marker_study"),
            models.Index(fields=["aliquot"], name="assays_marker_aliquot"),
            models.Index(fields=["marker"], name="assays_marker_marker"),
        ]

    def __str__(self) -> str:
        return f"{self.marker} {self.get_detection_display().lower()} in {self.aliquot}"

    def get_absolute_url(self) -> str:
        return reverse("assays:marker-result-detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        if self.antibody_rrid and not _RRID.match(self.antibody_rrid.strip()):
            raise ValidationError({"antibody_rrid": "An antibody RRID looks like AB_2138153."})
        if self.marker_id and self.marker.is_family:
            raise ValidationError(
                {"marker": "Record the specific marker (e.g. ITGB1), not a family pattern."}
            )
        if (self.loading_amount is None) != (not self.loading_unit):
            raise ValidationError({"loading_unit": "Give the loading amount with its unit."})
        if self.loading_amount is not None and self.loading_amount <= 0:
            raise ValidationError({"loading_amount": "Loading must be greater than zero."})
