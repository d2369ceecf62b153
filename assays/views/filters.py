"""Filters of the isolation list pages, in the query language of ``samples.filters``: plain
ids filtered inside what the user may see, repeatable choice filters."""

from __future__ import annotations

import django_filters as filters
from django.db.models import Exists, OuterRef, QuerySet

from samples.filters import ChoicesFilter, FilterSet, IdFilter

from ..choices import StepKind, VersionStatus
from ..models import EVPreparation, IsolationProtocol, IsolationRun, RunInput
from ..models.protocols import ProtocolStep


class RunFilterSet(FilterSet):
    study = IdFilter(field_name="study_id")
    protocol = IdFilter(field_name="protocol_version__protocol_id")
    version = IdFilter(field_name="protocol_version_id")
    operator = IdFilter(field_name="operator_id")
    started_from = filters.DateFilter(field_name="started_at__date", lookup_expr="gte")
    started_to = filters.DateFilter(field_name="started_at__date", lookup_expr="lte")
    tube = filters.CharFilter(method="by_tube", label="Input or output tube accession")

    class Meta:
        model = IsolationRun
        fields = ["study", "protocol", "version", "operator"]

    def by_tube(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        accession = value.strip()
        if not accession:
            return queryset
        used = RunInput.objects.filter(run=OuterRef("pk"), aliquot__accession__iexact=accession)
        made = EVPreparation.objects.filter(
            run=OuterRef("pk"), aliquot__accession__iexact=accession
        )
        return queryset.filter(Exists(used) | Exists(made))


class ProtocolFilterSet(FilterSet):
    """``kind`` and ``status`` look at each protocol's latest version (``latest_id``, set by
    the list page's annotation)."""

    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search name")
    kind = ChoicesFilter(choices=StepKind.choices, method="by_kind")
    status = ChoicesFilter(choices=VersionStatus.choices, field_name="latest_status")

    class Meta:
        model = IsolationProtocol
        fields = ["q"]

    def by_kind(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset
        steps = ProtocolStep.objects.filter(version_id=OuterRef("latest_id"), kind__in=value)
        return queryset.filter(Exists(steps))
