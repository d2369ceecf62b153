"""FilterSets shared by the list pages and the REST API, so both speak one query language."""

from __future__ import annotations

import django_filters as filters
from django.db.models import Q, QuerySet

from .choices import ConsentStatus, FluidType, Role, SampleStatus, Sex, Species
from .models import Donor, Sample, Study, StudyMembership


class TextSearchMixin:
    search_fields: tuple[str, ...] = ()

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)


class StudyFilterSet(TextSearchMixin, filters.FilterSet):
    search_fields = ("code", "title", "principal_investigator")
    q = filters.CharFilter(method="search", label="Search code, title or PI")
    is_active = filters.BooleanFilter()

    class Meta:
        model = Study
        fields = ["is_active"]


class MembershipFilterSet(filters.FilterSet):
    study = filters.NumberFilter(field_name="study_id")
    user = filters.NumberFilter(field_name="user_id")
    username = filters.CharFilter(field_name="user__username")
    role = filters.MultipleChoiceFilter(choices=Role.choices)

    class Meta:
        model = StudyMembership
        fields = ["study", "user", "role"]


class DonorFilterSet(TextSearchMixin, filters.FilterSet):
    search_fields = ("code", "notes")
    # Plain ids, filtered inside the user's visible rows: a foreign id finds nothing, like a 404.
    study = filters.NumberFilter(field_name="study_id")
    study_code = filters.CharFilter(field_name="study__code")
    species = filters.MultipleChoiceFilter(choices=Species.choices)
    sex = filters.MultipleChoiceFilter(choices=Sex.choices)
    consent_status = filters.MultipleChoiceFilter(choices=ConsentStatus.choices)
    condition = filters.CharFilter(
        field_name="conditions", lookup_expr="icontains", method="by_condition"
    )
    q = filters.CharFilter(method="search", label="Search code or notes")

    class Meta:
        model = Donor
        fields = ["study", "species", "sex", "consent_status"]

    def by_condition(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(conditions__contains=[value.strip()]) if value.strip() else queryset


class SampleFilterSet(TextSearchMixin, filters.FilterSet):
    search_fields = ("accession", "notes")
    study = filters.NumberFilter(field_name="study_id")
    study_code = filters.CharFilter(field_name="study__code")
    donor = filters.NumberFilter(field_name="donor_id")
    donor_code = filters.CharFilter(field_name="donor__code")
    fluid_type = filters.MultipleChoiceFilter(choices=FluidType.choices)
    status = filters.MultipleChoiceFilter(choices=SampleStatus.choices)
    collected_after = filters.IsoDateTimeFilter(field_name="collected_at", lookup_expr="gte")
    collected_before = filters.IsoDateTimeFilter(field_name="collected_at", lookup_expr="lte")
    accession = filters.CharFilter(field_name="accession", lookup_expr="iexact")
    sprec_code = filters.CharFilter(field_name="sprec_code", lookup_expr="istartswith")
    q = filters.CharFilter(method="search", label="Search accession or notes")

    class Meta:
        model = Sample
        fields = ["study", "donor", "fluid_type", "status"]
