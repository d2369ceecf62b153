"""FilterSets of the characterisation API, in the query language of ``samples.filters``.

Every measurement list filters by tube (id or accession), sample (id or accession), study (id
or code) and measurement time; each kind adds its own (method, marker, category, detection,
DLS kind, qPCR target). Filters run inside what the user may see: a foreign id finds
nothing, like a 404.
"""

from __future__ import annotations

import django_filters as filters
from django.db.models import Q, QuerySet

from samples.filters import ChoicesFilter, FilterSet, IdFilter, TextSearchMixin
from samples.views.common import accession_candidates

from ..choices import (
    Detection,
    DLSKind,
    ImagingMethod,
    MarkerCategory,
    MarkerMethod,
    ProteinAssayStatus,
    ProteinMethod,
    QPCRTask,
)
from ..models import (
    DLSMeasurement,
    FlowMeasurement,
    ImagingRecord,
    Marker,
    MarkerResult,
    ProteinAssay,
    ProteinMeasurement,
    QPCRResult,
    QPCRRun,
)


def by_accession_or_id(queryset: QuerySet, value: str, *, path: str) -> QuerySet:
    """``path`` leads to a sample or tube: "12" is its id, "exo-12" its accession."""
    value = value.strip()
    if not value:
        return queryset
    if value.isdecimal():
        return queryset.filter(**{f"{path}_id": int(value)})
    return queryset.filter(**{f"{path}__accession__in": accession_candidates(value)})


class MeasurementFilterSet(FilterSet):
    """Filters shared by every record on a tube (``tube_path`` leads to the tube)."""

    tube_path = "aliquot"

    aliquot = filters.CharFilter(method="by_aliquot", label="Tube accession or id")
    aliquot_accession = filters.CharFilter(method="by_aliquot", label="Tube accession")
    sample = filters.CharFilter(method="by_sample", label="Sample accession or id")
    study = IdFilter(field_name="study_id")
    study_code = filters.CharFilter(field_name="study__code", lookup_expr="iexact")
    measured_after = filters.IsoDateTimeFilter(
        field_name="measured_at", lookup_expr="gte", label="Measured at or after (date or time)"
    )
    measured_before = filters.IsoDateTimeFilter(
        field_name="measured_at", lookup_expr="lt", label="Measured before (date or time)"
    )

    def by_aliquot(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return by_accession_or_id(queryset, value, path=self.tube_path)

    def by_sample(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return by_accession_or_id(queryset, value, path=f"{self.tube_path}__sample")


class ProteinMeasurementFilterSet(MeasurementFilterSet):
    method = ChoicesFilter(choices=ProteinMethod.choices)
    assay = IdFilter(field_name="assay_id", label="Plate id")
    entered = filters.BooleanFilter(
        field_name="assay", lookup_expr="isnull", label="Typed in (true) or from a plate (false)"
    )

    class Meta:
        model = ProteinMeasurement
        fields = ["study", "method", "assay"]


class MarkerResultFilterSet(MeasurementFilterSet):
    marker = filters.CharFilter(method="by_marker", label="Marker symbol or alias, e.g. CD63")
    category = ChoicesFilter(
        choices=MarkerCategory.choices, field_name="marker__category", label="MISEV category"
    )
    detection = ChoicesFilter(choices=Detection.choices)
    method = ChoicesFilter(choices=MarkerMethod.choices)

    class Meta:
        model = MarkerResult
        fields = ["study", "detection", "method"]

    def by_marker(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        key = value.strip().upper()
        if not key:
            return queryset
        return queryset.filter(Q(marker__symbol=key) | Q(marker__aliases__contains=[key]))


class ImagingRecordFilterSet(MeasurementFilterSet):
    method = ChoicesFilter(choices=ImagingMethod.choices)

    class Meta:
        model = ImagingRecord
        fields = ["study", "method"]


class FlowMeasurementFilterSet(MeasurementFilterSet):
    instrument_file = IdFilter(field_name="instrument_file_id")

    class Meta:
        model = FlowMeasurement
        fields = ["study", "instrument_file"]


class DLSMeasurementFilterSet(MeasurementFilterSet):
    kind = ChoicesFilter(choices=DLSKind.choices, label="size or zeta")
    instrument_file = IdFilter(field_name="instrument_file_id")

    class Meta:
        model = DLSMeasurement
        fields = ["study", "kind", "instrument_file"]


class QPCRResultFilterSet(MeasurementFilterSet):
    run = IdFilter(field_name="run_id")
    target = filters.CharFilter(field_name="target", lookup_expr="iexact")
    task = ChoicesFilter(choices=QPCRTask.choices)
    undetermined = filters.BooleanFilter()
    measured_after = filters.IsoDateTimeFilter(
        field_name="run__measured_at",
        lookup_expr="gte",
        label="Run measured at or after (date or time)",
    )
    measured_before = filters.IsoDateTimeFilter(
        field_name="run__measured_at", lookup_expr="lt", label="Run measured before (date or time)"
    )

    class Meta:
        model = QPCRResult
        fields = ["study", "run", "task"]


class _ByResultsFilterSet(MeasurementFilterSet):
    """Plates and runs, by the tubes and samples of the results they hold."""

    result_model: type = QPCRResult
    result_link = "run_id"

    def _holding(self, queryset: QuerySet, value: str, path: str) -> QuerySet:
        if not value.strip():
            return queryset
        # Only results the user may see, so a foreign tube cannot be probed through a run.
        visible = self.result_model.objects.visible_to(getattr(self.request, "user", None))
        rows = by_accession_or_id(visible, value, path=path)
        return queryset.filter(pk__in=rows.values(self.result_link))

    def by_aliquot(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return self._holding(queryset, value, "aliquot")

    def by_sample(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return self._holding(queryset, value, "aliquot__sample")


class QPCRRunFilterSet(_ByResultsFilterSet):
    target = filters.CharFilter(method="by_target", label="Has a result for this target")

    class Meta:
        model = QPCRRun
        fields = ["study"]

    def by_target(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value.strip():
            return queryset
        rows = QPCRResult.objects.filter(target__iexact=value.strip())
        return queryset.filter(pk__in=rows.values("run_id"))


class ProteinAssayFilterSet(_ByResultsFilterSet):
    result_model = ProteinMeasurement
    result_link = "assay_id"
    method = ChoicesFilter(choices=ProteinMethod.choices)
    status = ChoicesFilter(choices=ProteinAssayStatus.choices)

    class Meta:
        model = ProteinAssay
        fields = ["study", "method", "status"]


class MarkerFilterSet(TextSearchMixin, FilterSet):
    search_fields = ("symbol", "name")
    category = ChoicesFilter(choices=MarkerCategory.choices, label="MISEV category")
    is_builtin = filters.BooleanFilter()
    is_family = filters.BooleanFilter(method="by_family", label="Family patterns (ITGA*)")
    q = filters.CharFilter(method="search_with_aliases", label="Search symbol, name or alias")

    class Meta:
        model = Marker
        fields = ["category", "is_builtin"]

    def search_with_aliases(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        by_text = self.search(queryset, name, value)
        return by_text | queryset.filter(aliases__contains=[value.upper()])

    def by_family(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        family = Q(symbol__endswith="*")
        return queryset.filter(family) if value else queryset.exclude(family)
