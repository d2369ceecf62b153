"""Compliance over the API: a preparation's report, a study's reports, the rule catalogue
(every change a new version) and a preparation's EV-TRACK record.

The reports hang under the existing ``ev-preparations`` and ``studies`` routes, but their
viewsets belong to others, so these are plain ``path()`` entries (``urlpatterns`` below,
appended to assays/api/urls.py) rather than actions on those viewsets. Scoping is the
study's: another study's preparation or study is a 404. Rules are lab-wide: any signed-in
user reads them, staff change them (403 otherwise).
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, include, path, reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from exolims.pagination import KeysetPagination
from exolims.renderers import rows_to_csv
from samples.models import Study

from .. import evtrack
from ..choices import ComplianceSeverity, RuleStatus
from ..compliance.checks import CHECKS, PROFILES
from ..compliance.engine import PreparationReport, evaluate_preparations
from ..compliance.rules import FIX_KINDS, create_rule, new_rule_version, set_rule_active
from ..models import ComplianceRule, EVPreparation

_REFUSED = OpenApiResponse(description="Refused, with field-level reasons; nothing saved.")
_PROFILE_PARAMETER = OpenApiParameter(
    "profile",
    OpenApiTypes.STR,
    enum=list(PROFILES),
    description="Judge against this profile instead of each study's own.",
)


def _profile(request: Request) -> str | None:
    profile = request.query_params.get("profile") or None
    if profile is not None and profile not in PROFILES:
        raise exceptions.ValidationError(
            {"profile": [f"Unknown profile {profile!r}; use one of {', '.join(PROFILES)}."]}
        )
    return profile


# --- Report shapes (documentation of ``PreparationReport.as_dict()``) -------------------------


class ComplianceEvidenceSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="tube, run, sample, particles, protein, marker, …")
    id = serializers.IntegerField()
    label = serializers.CharField()
    url_name = serializers.CharField(help_text="The record's page (URL name), if it has one.")
    url = serializers.CharField(
        allow_null=True, help_text="The record's page (a path), null when it has none."
    )


class ComplianceRuleResultSerializer(serializers.Serializer):
    code = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.CharField()
    severity = serializers.ChoiceField(choices=ComplianceSeverity.choices)
    status = serializers.ChoiceField(choices=RuleStatus.choices)
    message = serializers.CharField()
    evidence = ComplianceEvidenceSerializer(many=True)
    fix_hint = serializers.CharField(help_text="What to add to pass.")
    fix_kind = serializers.CharField(help_text="Which form adds it (particles, protein, …).")
    profiles = serializers.ListField(child=serializers.CharField())
    explanation = serializers.CharField()
    source = serializers.CharField()
    check_name = serializers.CharField()
    scored = serializers.BooleanField(help_text="False for plausibility checks.")
    is_flag = serializers.BooleanField(help_text="A plausibility warning.")


class ComplianceMissingItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()


class ComplianceScoreSerializer(serializers.Serializer):
    passed = serializers.IntegerField()
    applicable = serializers.IntegerField()
    pct = serializers.FloatField(allow_null=True, help_text="null when no rule applies.")
    missing = ComplianceMissingItemSerializer(many=True)


class CompliancePuritySerializer(serializers.Serializer):
    particles_per_ug = serializers.FloatField()
    band = serializers.CharField()
    particle_measurement_id = serializers.IntegerField()
    protein_measurement_id = serializers.IntegerField()


class ComplianceReportSerializer(serializers.Serializer):
    preparation_id = serializers.IntegerField()
    accession = serializers.CharField()
    study_id = serializers.IntegerField(allow_null=True)
    nomenclature_term = serializers.CharField()
    profile = serializers.CharField()
    results = ComplianceRuleResultSerializer(many=True)
    scores = serializers.DictField(
        child=ComplianceScoreSerializer(), help_text="Per profile in scope."
    )
    evmetric = ComplianceScoreSerializer()
    purity = CompliancePuritySerializer(allow_null=True)
    recovery_particles_per_ml_input = serializers.FloatField(allow_null=True)
    flags = ComplianceRuleResultSerializer(many=True)
    next_steps = ComplianceRuleResultSerializer(
        many=True, help_text="Failed rules, errors before warnings, with what to add."
    )


# --- Reports ----------------------------------------------------------------------------------


def _evidence_url(url_name: str, pk: int) -> str | None:
    if not url_name:
        return None
    try:
        return reverse(url_name, args=[pk])
    except NoReverseMatch:
        return None  # a kind of record without a page (yet)


def report_data(
    report: PreparationReport, urls: dict[tuple[str, int], str | None] | None = None
) -> dict[str, Any]:
    """``report.as_dict()`` with each evidence record's page as a ``url`` beside its
    ``url_name``, so clients need not know the site's URL names. ``urls`` caches the
    reversals across the reports of a page (the same run and sample recur)."""
    urls = {} if urls is None else urls
    data = report.as_dict()
    for key in ("results", "flags", "next_steps"):
        for result in data[key]:
            for evidence in result["evidence"]:
                where = (evidence["url_name"], evidence["id"])
                if where not in urls:
                    urls[where] = _evidence_url(*where)
                evidence["url"] = urls[where]
    return data


class PreparationComplianceView(APIView):
    """How completely one EV preparation is reported: every rule of its study's profile
    and the companion profiles (EV-METRIC, source-specific), scores, purity and recovery,
    and the failed rules in the order to fix them."""

    @extend_schema(
        tags=["compliance"],
        operation_id="ev_preparations_compliance",
        parameters=[_PROFILE_PARAMETER],
        responses={200: ComplianceReportSerializer, 400: _REFUSED},
        summary="A preparation's compliance report",
    )
    def get(self, request: Request, pk: int) -> Response:
        profile = _profile(request)
        if not EVPreparation.objects.visible_to(request.user).filter(pk=pk).exists():
            raise Http404
        report = evaluate_preparations([pk], profile=profile).get(pk)
        if report is None:  # deleted between the two reads
            raise Http404
        return Response(report_data(report))


class PreparationPagination(KeysetPagination):
    ordering = "id"


@extend_schema_view(
    get=extend_schema(
        tags=["compliance"],
        operation_id="studies_compliance",
        parameters=[_PROFILE_PARAMETER],
        summary="Compliance reports of a study's preparations (oldest first, keyset pages)",
    )
)
class StudyComplianceView(generics.ListAPIView):
    """One report per EV preparation of the study, as for a single preparation. Pages are
    evaluated together (a fixed number of queries per page)."""

    serializer_class = ComplianceReportSerializer
    pagination_class = PreparationPagination
    filter_backends: list = []
    queryset = EVPreparation.objects.none()

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return EVPreparation.objects.none()
        study = get_object_or_404(Study.objects.visible_to(self.request.user), pk=self.kwargs["pk"])
        return EVPreparation.objects.filter(run__study=study).only("id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        profile = _profile(request)
        page = self.paginate_queryset(self.get_queryset())
        reports = evaluate_preparations([p.pk for p in page], profile=profile)
        urls: dict[tuple[str, int], str | None] = {}
        return self.get_paginated_response(
            [report_data(reports[p.pk], urls) for p in page if p.pk in reports]
        )


# --- EV-TRACK record --------------------------------------------------------------------------


class PreparationEVTrackView(APIView):
    """The preparation's record in EV-TRACK's terms (experiment, sample, separation,
    characterisation, EV-METRIC), as JSON or ``?format=csv`` (one field, value line each)."""

    @extend_schema(
        tags=["compliance"],
        operation_id="ev_preparations_evtrack",
        parameters=[
            _PROFILE_PARAMETER,
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "csv"], description="Default json."
            ),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="A field,value header, then one line per field."
            ),
            400: _REFUSED,
        },
        summary="A preparation's EV-TRACK record",
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        profile = _profile(request)
        if not EVPreparation.objects.visible_to(request.user).filter(pk=pk).exists():
            raise Http404
        record = evtrack.evtrack_records([pk], profile=profile).get(pk)
        if record is None:  # deleted between the two reads
            raise Http404
        if request.query_params.get("format") == "csv":
            response = HttpResponse(
                "".join(rows_to_csv(evtrack.record_rows(record), ["field", "value"])),
                content_type="text/csv; charset=utf-8",
            )
            response["Content-Disposition"] = f'attachment; filename="evtrack-{pk}.csv"'
            return response
        return Response(record)


# --- Rules ------------------------------------------------------------------------------------


class ComplianceCheckParameterSerializer(serializers.Serializer):
    type = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)
    choices = serializers.ListField(child=serializers.JSONField())
    help = serializers.CharField()


class ComplianceCheckSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="A rule's check_name.")
    label = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField(help_text="reporting (scored) or plausibility (a flag).")
    params = serializers.DictField(child=ComplianceCheckParameterSerializer())


class RulePermission(BasePermission):
    """Reading: any signed-in user. Changing: staff."""

    message = "Only staff change the compliance rules; ask an administrator."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return bool(user.is_staff or user.is_superuser)


class ComplianceRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    profiles = serializers.ListField(child=serializers.ChoiceField(choices=PROFILES))

    class Meta:
        model = ComplianceRule
        fields = [
            "id",
            "code",
            "version",
            "profiles",
            "title",
            "severity",
            "check_name",
            "params",
            "applies_when",
            "explanation",
            "source",
            "fix_hint",
            "fix_kind",
            "is_active",
            "is_current",
            "is_builtin",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ComplianceRuleChangeSerializer(serializers.Serializer):
    """What a new version may change; fields left out stay as they are. The check's own
    rules decide which ``params`` and ``applies_when`` are valid."""

    profiles = serializers.ListField(child=serializers.CharField(), required=False)
    title = serializers.CharField(required=False, max_length=200)
    severity = serializers.ChoiceField(choices=ComplianceSeverity.choices, required=False)
    check_name = serializers.CharField(required=False, max_length=40)
    params = serializers.JSONField(required=False)
    applies_when = serializers.JSONField(required=False)
    explanation = serializers.CharField(required=False)
    source = serializers.CharField(required=False, allow_blank=True, max_length=300)
    fix_hint = serializers.CharField(required=False, allow_blank=True, max_length=200)
    fix_kind = serializers.ChoiceField(
        choices=[k for k in FIX_KINDS if k], required=False, allow_blank=True
    )
    is_active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["Not a field that can be changed."] for name in unknown}
            )
        return attrs


class ComplianceRuleCreateSerializer(ComplianceRuleChangeSerializer):
    code = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=24,
        help_text="Your lab's code for the rule, e.g. LAB-01.",
    )
    profiles = serializers.ListField(child=serializers.CharField())
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=ComplianceSeverity.choices)
    check_name = serializers.CharField(max_length=40)
    explanation = serializers.CharField()


class RuleFilterSet(filters.FilterSet):
    profile = filters.ChoiceFilter(
        choices=[(p, p) for p in PROFILES], method="filter_profile", label="Profile"
    )
    active = filters.BooleanFilter(field_name="is_active")
    current = filters.BooleanFilter(
        field_name="is_current", help_text="Default true: the current versions only."
    )
    code = filters.CharFilter(field_name="code", lookup_expr="iexact")
    check_name = filters.CharFilter(field_name="check_name")
    severity = filters.ChoiceFilter(choices=ComplianceSeverity.choices)

    class Meta:
        model = ComplianceRule
        fields: list[str] = []

    def filter_profile(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(profiles__contains=[value])


@extend_schema_view(
    list=extend_schema(summary="Compliance rules (current versions unless ?current=false)"),
    retrieve=extend_schema(summary="One version of a rule"),
    create=extend_schema(
        request=ComplianceRuleCreateSerializer,
        responses={201: ComplianceRuleSerializer, 400: _REFUSED, 403: OpenApiResponse()},
        summary="Add a lab rule built on an existing check (staff)",
    ),
    partial_update=extend_schema(
        request=ComplianceRuleChangeSerializer,
        responses={200: ComplianceRuleSerializer, 400: _REFUSED, 403: OpenApiResponse()},
        summary="Change a rule: makes and returns a new current version (staff)",
    ),
)
@extend_schema(tags=["compliance"])
class ComplianceRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The rules the reports are judged by. A change never edits a rule in place: PATCH
    makes a new version (a new id, returned) and the old one stays for the record, so a
    report can always be explained. Switching a rule off is ``{"is_active": false}``. A
    study's profile, purity cut-off and freeze–thaw limit are set on the study."""

    queryset = ComplianceRule.objects.select_related("created_by")
    serializer_class = ComplianceRuleSerializer
    permission_classes = [RulePermission]
    filterset_class = RuleFilterSet
    filter_backends = [DjangoFilterBackend]
    pagination_class = None  # a catalogue of about a hundred rules
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet:
        queryset = ComplianceRule.objects.select_related("created_by").order_by("code", "-version")
        if self.action == "list" and "current" not in self.request.query_params:
            queryset = queryset.filter(is_current=True)
        return queryset

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ComplianceRuleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        rule = create_rule(user=request.user, code=fields.pop("code"), **fields)
        return Response(self._shown(rule), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        data = ComplianceRuleChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if not changes:
            raise exceptions.ValidationError({"non_field_errors": ["Nothing to change."]})
        if set(changes) == {"is_active"}:
            saved = set_rule_active(rule, user=request.user, active=changes["is_active"])
        else:
            saved = new_rule_version(rule, user=request.user, **changes)
        return Response(self._shown(saved))

    def _shown(self, rule: ComplianceRule) -> dict[str, Any]:
        rule = ComplianceRule.objects.select_related("created_by").get(pk=rule.pk)
        return ComplianceRuleSerializer(rule, context=self.get_serializer_context()).data

    @extend_schema(
        responses=ComplianceRuleSerializer(many=True),
        summary="Every version of this rule, newest first",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        versions = ComplianceRule.objects.select_related("created_by").filter(code=rule.code)
        return Response(
            ComplianceRuleSerializer(
                versions.order_by("-version"), many=True, context=self.get_serializer_context()
            ).data
        )

    @extend_schema(
        responses=ComplianceCheckSerializer(many=True),
        summary="The checks a rule can use, with their parameters",
    )
    @action(detail=False, methods=["get"], filter_backends=[])
    def checks(self, request: Request) -> Response:
        return Response([check.as_dict() for check in CHECKS.values()])


router = SimpleRouter()
router.register("rules", ComplianceRuleViewSet, basename="api-rule")

urlpatterns = [
    path(
        "ev-preparations/<int:pk>/compliance/",
        PreparationComplianceView.as_view(),
        name="api-ev-preparation-compliance",
    ),
    path(
        "ev-preparations/<int:pk>/evtrack/",
        PreparationEVTrackView.as_view(),
        name="api-ev-preparation-evtrack",
    ),
    path(
        "studies/<int:pk>/compliance/",
        StudyComplianceView.as_view(),
        name="api-study-compliance",
    ),
    path("", include(router.urls)),
]
