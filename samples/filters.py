"""FilterSets shared by the list pages and the REST API, so both speak one query language."""

from __future__ import annotations

import copy

import django_filters as filters
from django import forms
from django.db.models import F, Lookup, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from .choices import ConsentStatus, FluidType, Role, SampleStatus, Sex, Species
from .models import Donor, Sample, Study, StudyMembership


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """A record id: "1.5" or "abc" is a 400, not a silent non-match (django-filter has no
    IntegerFilter)."""

    field_class = forms.IntegerField


class ChoicesFilter(filters.MultipleChoiceFilter):
    """``?status=a&status=b``. No DISTINCT: these are plain columns, and DISTINCT over a
    million-row list would make PostgreSQL sort every match before the first page."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)


class _FiltersCopiedShallowly(dict):
    """django-filter deep-copies every filter, choices and all, for each FilterSet it
    builds (each request). A filter's own state never changes after the class is built,
    except ``parent``/``model``, which the FilterSet sets on its copy, and a ``method``
    that has to be bound to that copy; so a shallow copy of each is enough."""

    def __deepcopy__(self, memo) -> dict[str, filters.Filter]:
        copies = {}
        for name, filter_ in self.items():
            duplicate = copy.copy(filter_)
            if filter_.method is not None:
                duplicate.method = filter_.method  # a FilterMethod bound to the copy
            copies[name] = duplicate
        return copies


class FilterSet(filters.FilterSet):
    """django-filter builds a new form class on every request (about a tenth of a list
    request); these filters do not depend on the request, so build it once per class.
    Filters whose choices depend on the request (a callable ``queryset``) are not supported
    here for that reason."""

    @classmethod
    def get_filters(cls):
        return _FiltersCopiedShallowly(super().get_filters())

    def get_form_class(self):
        cls = type(self)
        form_class = cls.__dict__.get("_cached_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._cached_form_class = form_class
        return form_class


class ContainsIgnoringCase(Lookup):
    """``column ILIKE '%text%'`` on the bare column. Django's ``icontains`` compares
    ``UPPER(column)``, which the trigram (gin_trgm_ops) indexes cannot serve."""

    lookup_name = "ilike_contains"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]

    def get_db_prep_lookup(self, value, connection):
        return "%s", [f"%{connection.ops.prep_for_like_query(value)}%"]


class TextSearchMixin:
    search_fields: tuple[str, ...] = ()

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.search_fields:
            condition |= Q(ContainsIgnoringCase(F(field), value))
        return queryset.filter(condition)


class StudyFilterSet(TextSearchMixin, FilterSet):
    search_fields = ("code", "title", "principal_investigator")
    q = filters.CharFilter(method="search", label="Search code, title or PI")
    is_active = filters.BooleanFilter()

    class Meta:
        model = Study
        fields = ["is_active"]


class MembershipFilterSet(FilterSet):
    study = IdFilter(field_name="study_id")
    user = IdFilter(field_name="user_id")
    username = filters.CharFilter(field_name="user__username")
    role = ChoicesFilter(choices=Role.choices)

    class Meta:
        model = StudyMembership
        fields = ["study", "user", "role"]


class DonorFilterSet(TextSearchMixin, FilterSet):
    search_fields = ("code", "notes")
    # Plain ids, filtered inside the user's visible rows: a foreign id finds nothing, like a 404.
    study = IdFilter(field_name="study_id")
    study_code = filters.CharFilter(field_name="study__code")
    species = ChoicesFilter(choices=Species.choices)
    sex = ChoicesFilter(choices=Sex.choices)
    consent_status = ChoicesFilter(choices=ConsentStatus.choices)
    condition = filters.CharFilter(
        field_name="conditions", lookup_expr="icontains", method="by_condition"
    )
    q = filters.CharFilter(method="search", label="Search code or notes")

    class Meta:
        model = Donor
        fields = ["study", "species", "sex", "consent_status"]

    def by_condition(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(conditions__contains=[value.strip()]) if value.strip() else queryset


class SampleFilterSet(TextSearchMixin, FilterSet):
    search_fields = ("accession", "notes")
    study = IdFilter(field_name="study_id")
    study_code = filters.CharFilter(field_name="study__code")
    donor = IdFilter(field_name="donor_id")
    donor_code = filters.CharFilter(field_name="donor__code")
    fluid_type = ChoicesFilter(choices=FluidType.choices)
    status = ChoicesFilter(choices=SampleStatus.choices)
    collected_after = filters.IsoDateTimeFilter(field_name="collected_at", lookup_expr="gte")
    collected_before = filters.IsoDateTimeFilter(field_name="collected_at", lookup_expr="lte")
    accession = filters.CharFilter(field_name="accession", lookup_expr="iexact")
    sprec_code = filters.CharFilter(field_name="sprec_code", lookup_expr="istartswith")
    q = filters.CharFilter(method="search", label="Search accession or notes")

    class Meta:
        model = Sample
        fields = ["study", "donor", "fluid_type", "status"]
