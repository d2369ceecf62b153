"""FilterSets of the isolation API, in the query language of ``samples.filters``: plain ids
filtered inside what the user may see (a foreign id finds nothing), repeatable choices."""

from __future__ import annotations

import django_filters as filters

from samples.filters import ChoicesFilter, FilterSet, IdFilter

from ..choices import NomenclatureTerm, RotorType, StepKind, VersionStatus
from ..models import EVPreparation, IsolationProtocol, IsolationRun, ProtocolVersion, Rotor


class RotorFilterSet(FilterSet):
    rotor_type = ChoicesFilter(choices=RotorType.choices)
    is_active = filters.BooleanFilter()
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search name")

    class Meta:
        model = Rotor
        fields = ["rotor_type", "is_active"]


class ProtocolFilterSet(FilterSet):
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search name")
    status = ChoicesFilter(
        choices=VersionStatus.choices,
        field_name="versions__status",
        distinct=True,
        label="Has a version with this status",
    )
    kind = ChoicesFilter(
        choices=StepKind.choices,
        field_name="versions__steps__kind",
        distinct=True,
        label="Has a step of this kind (any version)",
    )

    class Meta:
        model = IsolationProtocol
        fields = ["q"]


class VersionFilterSet(FilterSet):
    protocol = IdFilter(field_name="protocol_id")
    status = ChoicesFilter(choices=VersionStatus.choices)

    class Meta:
        model = ProtocolVersion
        fields = ["protocol", "status"]


class RunFilterSet(FilterSet):
    study = IdFilter(field_name="study_id")
    protocol = IdFilter(field_name="protocol_version__protocol_id")
    version = IdFilter(field_name="protocol_version_id")
    operator = IdFilter(field_name="operator_id")
    started_after = filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", label="Started at or after"
    )
    started_before = filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="lt", label="Started before"
    )

    class Meta:
        model = IsolationRun
        fields = ["study", "protocol", "version", "operator"]


class PreparationFilterSet(FilterSet):
    study = IdFilter(field_name="run__study_id")
    run = IdFilter(field_name="run_id")
    protocol = IdFilter(field_name="run__protocol_version__protocol_id")
    version = IdFilter(field_name="run__protocol_version_id")
    source_aliquot = IdFilter(field_name="source__aliquot_id")
    nomenclature_term = ChoicesFilter(choices=NomenclatureTerm.choices)

    class Meta:
        model = EVPreparation
        fields = ["study", "run", "protocol", "version", "nomenclature_term"]
