"""FilterSets for tubes, storage units and custody events, shared by pages and the API.

Same query language as ``samples.filters``: plain ids filtered inside what the user may see
(a foreign id finds nothing), repeatable choice filters, ``q`` for a text search.
"""

from __future__ import annotations

import django_filters as filters
from django.db.models import F, Q, QuerySet

from .choices import AliquotKind, AliquotStatus, ContainerType, CustodyKind, StorageKind
from .filters import ChoicesFilter, FilterSet, IdFilter, TextSearchMixin
from .models import Aliquot, CustodyEvent, StorageUnit


class AliquotFilterSet(TextSearchMixin, FilterSet):
    search_fields = ("accession", "notes")
    study = IdFilter(field_name="study_id")
    sample = IdFilter(field_name="sample_id")
    parent = IdFilter(field_name="parent_id")
    box = IdFilter(field_name="box_id")
    status = ChoicesFilter(choices=AliquotStatus.choices)
    kind = ChoicesFilter(choices=AliquotKind.choices)
    container_type = ChoicesFilter(choices=ContainerType.choices)
    accession = filters.CharFilter(field_name="accession", lookup_expr="iexact")
    is_frozen = filters.BooleanFilter()
    placed = filters.BooleanFilter(
        method="by_placed", label="In a box (true) or not in storage (false)"
    )
    in_unit = IdFilter(method="by_unit", label="In any box at or below this storage unit")
    freeze_thaw_over_limit = filters.BooleanFilter(
        method="by_over_limit", label="Thawed more often than the study allows"
    )
    q = filters.CharFilter(method="search", label="Search accession or notes")

    class Meta:
        model = Aliquot
        fields = ["study", "sample", "parent", "box", "status", "kind", "container_type"]

    def by_placed(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(box__isnull=not value)

    def by_unit(self, queryset: QuerySet, name: str, value: int | None) -> QuerySet:
        if value is None:
            return queryset
        unit = StorageUnit(pk=value)
        return queryset.filter(box_id__in=unit.descendant_ids())

    def by_over_limit(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        over = Q(
            study__max_freeze_thaw_cycles__isnull=False,
            freeze_thaw_count__gt=F("study__max_freeze_thaw_cycles"),
        )
        return queryset.filter(over if value else ~over)


class StorageUnitFilterSet(TextSearchMixin, FilterSet):
    search_fields = ("name", "barcode")
    parent = IdFilter(field_name="parent_id")
    root = filters.BooleanFilter(
        field_name="parent", lookup_expr="isnull", label="Top-level units only"
    )
    kind = ChoicesFilter(choices=StorageKind.choices)
    is_active = filters.BooleanFilter()
    barcode = filters.CharFilter(field_name="barcode", lookup_expr="iexact")
    q = filters.CharFilter(method="search", label="Search name or barcode")

    class Meta:
        model = StorageUnit
        fields = ["parent", "kind", "is_active"]


class CustodyEventFilterSet(FilterSet):
    aliquot = IdFilter(field_name="aliquot_id")
    study = IdFilter(field_name="aliquot__study_id")
    kind = ChoicesFilter(choices=CustodyKind.choices)
    actor = IdFilter(field_name="actor_id")
    box = IdFilter(method="by_box", label="From or to this box")
    at_after = filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    at_before = filters.IsoDateTimeFilter(field_name="at", lookup_expr="lte")

    class Meta:
        model = CustodyEvent
        fields = ["aliquot", "kind"]

    def by_box(self, queryset: QuerySet, name: str, value: int | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(Q(from_box_id=value) | Q(to_box_id=value))
