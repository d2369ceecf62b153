"""REST endpoints for rotors, isolation protocols and their versions, step kinds, isolation
runs and EV preparations.

Views stay thin: every change goes through ``assays.services`` (one transaction, row locks,
the rules of freezing and publishing); these classes parse input, check the caller's rights
early and shape the output.

The protocol library and the rotor catalogue are lab-wide, like storage: any signed-in user
reads them; changing them needs Django's model permissions (``assays.add_/change_…``).
Runs and preparations belong to a study and follow ``StudyScopedViewSet``: another study's
run is a 404, a viewer may read but not record (403).
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, DecimalField, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response

from exolims.api import Conflict, StrictOrderingFilter, StudyScopedViewSet
from exolims.history import HistoryActionMixin

from .. import services
from ..choices import VersionStatus
from ..models import (
    EVPreparation,
    IsolationProtocol,
    IsolationRun,
    ProtocolStep,
    ProtocolVersion,
    Rotor,
    RunInput,
)
from ..steps import all_schemas, schema_for
from .filters import (
    PreparationFilterSet,
    ProtocolFilterSet,
    RotorFilterSet,
    RunFilterSet,
    VersionFilterSet,
)
from .serializers import (
    CloneSerializer,
    NewVersionSerializer,
    PreparationSerializer,
    ProtocolCreateSerializer,
    ProtocolSerializer,
    ProtocolUpdateSerializer,
    RotorConversionSerializer,
    RotorSerializer,
    RunCreateSerializer,
    RunDetailSerializer,
    RunSerializer,
    StepKindSchemaSerializer,
    StepsReplaceSerializer,
    VersionDiffSerializer,
    VersionSerializer,
    VersionUpdateSerializer,
    resolve_tubes,
)

_REFUSED = OpenApiResponse(description="Refused, with field-level reasons.")
_FROZEN = OpenApiResponse(description="The version is frozen (published, retired or used).")
_STEP_FIELDS = ("kind", "title", "rotor", "notes")


# --- Helpers ------------------------------------------------------------------------------


def _raise_steps_error(exc: services.StepsInvalid, count: int) -> None:
    """Step errors in DRF's shape for a list of nested objects: one entry per step, with
    parameter problems under ``parameters``."""
    if not exc.by_step:
        raise serializers.ValidationError({"steps": exc.message_dict.get("steps", exc.messages)})
    items: list[dict[str, Any]] = []
    for index in range(max(count, max(exc.by_step) + 1)):
        errors = exc.by_step.get(index, {})
        item: dict[str, Any] = {k: errors[k] for k in _STEP_FIELDS if k in errors}
        parameters = {k: v for k, v in errors.items() if k not in _STEP_FIELDS}
        if "parameters" in parameters:
            parameters["non_field_errors"] = parameters.pop("parameters")
        if parameters:
            item["parameters"] = parameters
        items.append(item)
    raise serializers.ValidationError({"steps": items})


def _step_dicts(steps: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if steps is None:
        return None
    return [dict(step) for step in steps]


def _versions() -> QuerySet:
    steps = ProtocolStep.objects.select_related("rotor").order_by("order")
    return (
        ProtocolVersion.objects.select_related("protocol", "created_by")
        .annotate(run_count=Count("runs"))
        .prefetch_related(Prefetch("steps", queryset=steps))
    )


class LibraryPermission(BasePermission):
    """Reading: any signed-in user. Writing: the protocol-library permission the action
    needs (``library_permissions`` on the view; default change)."""

    message = "Changing the protocol library needs its permission; ask an administrator."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        needed = getattr(view, "library_permissions", {}).get(
            view.action, "assays.change_isolationprotocol"
        )
        return user.has_perm(needed)


def _positive_number(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise exceptions.ValidationError({name: [f"{raw!r} is not a number."]}) from None
    if not math.isfinite(value) or value <= 0 or value > 10_000_000:
        raise exceptions.ValidationError({name: ["Must be a positive number."]})
    return value


# --- Rotors -------------------------------------------------------------------------------


class RotorPermissions(DjangoModelPermissions):
    """Reading: any signed-in user. Writing: assays.add/change/delete_rotor."""

    message = "Changing the rotor catalogue needs the rotor permission; ask an administrator."


class RotorViewSet(HistoryActionMixin, viewsets.ModelViewSet):
    """The lab's centrifuge rotors: radii, maximum speed and k-factor drive RCF ↔ rpm and
    the k-factor of each run. A rotor used by a protocol step cannot be deleted (409);
    mark it inactive instead."""

    queryset = Rotor.objects.all()
    serializer_class = RotorSerializer
    permission_classes = [RotorPermissions]
    filterset_class = RotorFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id", "name")
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    @extend_schema(
        parameters=[
            OpenApiParameter("rpm", OpenApiTypes.NUMBER, description="Speed to convert."),
            OpenApiParameter("rcf", OpenApiTypes.NUMBER, description="Force (×g) to convert."),
            OpenApiParameter(
                "basis",
                OpenApiTypes.STR,
                enum=["average", "max"],
                description="Radius the ×g refers to (default average).",
            ),
        ],
        responses={200: RotorConversionSerializer, 400: _REFUSED},
        summary="Convert rpm ↔ ×g on this rotor, with the k-factor at that speed",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def convert(self, request: Request, pk: str | None = None) -> Response:
        rotor = self.get_object()
        basis = request.query_params.get("basis") or "average"
        if basis not in ("average", "max"):
            raise exceptions.ValidationError({"basis": ["Use average or max."]})
        rpm, rcf = _positive_number(request, "rpm"), _positive_number(request, "rcf")
        if (rpm is None) == (rcf is None):
            raise exceptions.ValidationError(
                {"detail": ["Give either rpm or rcf (×g), e.g. ?rpm=38000."]}
            )
        try:
            speed = rpm if rpm is not None else rotor.rpm_for(rcf, basis)
            data = {
                "rotor": rotor.pk,
                "rotor_name": rotor.name,
                "basis": basis,
                "rpm": round(speed),
                "rcf_average": round(rotor.rcf_at(speed, "average")),
                "rcf_max": round(rotor.rcf_at(speed, "max")),
                "k_factor": round(rotor.k_at(speed), 1),
                "k_factor_max": round(rotor.k_factor_max, 1),
                "above_max_rpm": speed > rotor.max_rpm,
            }
        except (ValueError, ZeroDivisionError) as exc:
            raise exceptions.ValidationError({"detail": [str(exc)]}) from None
        return Response(data)


# --- Protocols ---------------------------------------------------------------------------


@extend_schema_view(
    update=extend_schema(request=ProtocolUpdateSerializer, responses=ProtocolSerializer),
    partial_update=extend_schema(request=ProtocolUpdateSerializer, responses=ProtocolSerializer),
)
class IsolationProtocolViewSet(
    HistoryActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The protocol library: each protocol with its versions (newest first) and their
    ordered, typed steps. What a protocol does lives in its versions; see
    /api/v1/protocol-versions/ to edit, publish or compare them."""

    queryset = IsolationProtocol.objects.all()
    serializer_class = ProtocolSerializer
    permission_classes = [LibraryPermission]
    library_permissions = {
        "create": "assays.add_isolationprotocol",
        "clone": "assays.add_isolationprotocol",
    }
    filterset_class = ProtocolFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id", "name")
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        return IsolationProtocol.objects.select_related(
            "created_by", "cloned_from__protocol"
        ).prefetch_related(Prefetch("versions", queryset=_versions().order_by("-number")))

    def _protocol_response(self, protocol_id: int, code: int = status.HTTP_200_OK) -> Response:
        protocol = self.get_queryset().get(pk=protocol_id)
        return Response(
            ProtocolSerializer(protocol, context=self.get_serializer_context()).data, status=code
        )

    @extend_schema(
        request=ProtocolCreateSerializer,
        responses={201: ProtocolSerializer, 400: _REFUSED},
        summary="Create a protocol; its version 1 is a draft holding the steps",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ProtocolCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        steps = _step_dicts(data["steps"])
        try:
            version = services.create_protocol(
                name=data["name"],
                description=data["description"],
                steps=steps,
                user=request.user,
                changes=data["changes"],
                recovery_specificity=data["recovery_specificity"],
            )
        except services.StepsInvalid as exc:
            _raise_steps_error(exc, len(steps))
        return self._protocol_response(version.protocol_id, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        protocol = self.get_object()
        serializer = ProtocolUpdateSerializer(data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        services.update_protocol(protocol=protocol, user=request.user, **serializer.validated_data)
        return self._protocol_response(protocol.pk)

    @extend_schema(
        request=NewVersionSerializer,
        responses={201: VersionSerializer, 400: _REFUSED, 409: _FROZEN},
        summary="Start the next version (a draft) from a version's steps or new ones",
    )
    @action(detail=True, methods=["post"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        protocol = self.get_object()
        serializer = NewVersionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = protocol.versions.order_by("-number")
        source = (
            source.filter(pk=data["from_version"]).first()
            if data.get("from_version")
            else source.first()
        )
        if source is None:
            raise exceptions.ValidationError(
                {"from_version": [f"No such version of {protocol.name}."]}
            )
        steps = _step_dicts(data.get("steps"))
        try:
            version = services.create_next_version(
                version=source, user=request.user, steps=steps, changes=data["changes"]
            )
        except services.StepsInvalid as exc:
            _raise_steps_error(exc, len(steps or []))
        except services.VersionFrozen as exc:
            raise Conflict(exc.messages[0]) from None
        fresh = _versions().get(pk=version.pk)
        return Response(
            VersionSerializer(fresh, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=CloneSerializer,
        responses={201: ProtocolSerializer, 400: _REFUSED},
        summary="Copy a version's steps into a new protocol (version 1, draft)",
    )
    @action(detail=True, methods=["post"])
    def clone(self, request: Request, pk: str | None = None) -> Response:
        protocol = self.get_object()
        serializer = CloneSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        versions = protocol.versions.order_by("-number")
        if data.get("version"):
            source = versions.filter(pk=data["version"]).first()
        else:
            source = versions.filter(status=VersionStatus.PUBLISHED).first() or versions.first()
        if source is None:
            raise exceptions.ValidationError({"version": [f"No such version of {protocol.name}."]})
        clone = services.clone_protocol(
            version=source,
            new_name=data["new_name"],
            user=request.user,
            description=data.get("description"),
        )
        return self._protocol_response(clone.protocol_id, status.HTTP_201_CREATED)


@extend_schema_view(
    partial_update=extend_schema(
        request=VersionUpdateSerializer,
        responses={200: VersionSerializer, 400: _REFUSED, 409: _FROZEN},
        summary="Change a draft's notes, recovery/specificity class or SOP document",
    ),
)
class ProtocolVersionViewSet(
    HistoryActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Protocol versions with their steps. A draft's steps are replaced with ``PUT steps/``;
    ``publish/`` makes it runnable; a published, retired or used version is frozen."""

    queryset = ProtocolVersion.objects.all()
    serializer_class = VersionSerializer
    permission_classes = [LibraryPermission]
    filterset_class = VersionFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id",)
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        return _versions()

    def _respond(self, version_id: int, code: int = status.HTTP_200_OK) -> Response:
        fresh = _versions().get(pk=version_id)
        return Response(
            VersionSerializer(fresh, context=self.get_serializer_context()).data, status=code
        )

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        version = self.get_object()
        serializer = VersionUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "sop_document" in data and data["sop_document"] is None:
            data["sop_document"] = ""
        try:
            services.update_version_details(version=version, user=request.user, **data)
        except services.VersionFrozen as exc:
            raise Conflict(exc.messages[0]) from None
        return self._respond(version.pk)

    @extend_schema(
        request=None,
        responses={200: VersionSerializer, 400: _REFUSED},
        summary="Publish a draft (needs at least one valid step); only published versions run",
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        try:
            services.publish_version(version=version, user=request.user)
        except services.StepsInvalid as exc:
            _raise_steps_error(exc, version.steps.count())
        return self._respond(version.pk)

    @extend_schema(
        request=None,
        responses={200: VersionSerializer, 400: _REFUSED},
        summary="Retire a version: no more runs with it",
    )
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        services.retire_version(version=version, user=request.user)
        return self._respond(version.pk)

    @extend_schema(
        request=StepsReplaceSerializer,
        responses={
            200: VersionSerializer,
            201: OpenApiResponse(VersionSerializer, description="new_version: the next version"),
            400: _REFUSED,
            409: _FROZEN,
        },
        summary="Replace the steps of a draft (or, with new_version, of the next version)",
    )
    @action(detail=True, methods=["put"])
    def steps(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        serializer = StepsReplaceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        steps = _step_dicts(data["steps"]) or []
        try:
            saved = services.save_version_steps(
                version=version,
                steps=steps,
                user=request.user,
                new_version=data["new_version"],
                changes=data.get("changes"),
            )
        except services.StepsInvalid as exc:
            _raise_steps_error(exc, len(steps))
        except services.VersionFrozen as exc:
            raise Conflict(exc.messages[0]) from None
        code = status.HTTP_201_CREATED if saved.pk != version.pk else status.HTTP_200_OK
        return self._respond(saved.pk, code)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "against",
                OpenApiTypes.INT,
                required=True,
                description="The version to compare this one against (any protocol).",
            )
        ],
        responses={200: VersionDiffSerializer, 400: _REFUSED},
        summary="Step-by-step differences from ?against= to this version",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def diff(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        raw = request.query_params.get("against", "")
        if not raw.isdigit():
            raise exceptions.ValidationError({"against": ["Give the id of a version."]})
        other = ProtocolVersion.objects.select_related("protocol").filter(pk=int(raw)).first()
        if other is None:
            raise exceptions.ValidationError({"against": [f"No protocol version {raw}."]})
        return Response(services.diff_versions(other, version).as_dict())


class StepKindViewSet(viewsets.ViewSet):
    """The parameters each kind of step takes: type, canonical unit, range, choices."""

    lookup_field = "kind"
    lookup_value_regex = r"[a-z0-9_]+"

    @extend_schema(responses=StepKindSchemaSerializer(many=True), summary="Every step kind")
    def list(self, request: Request) -> Response:
        return Response(all_schemas())

    @extend_schema(
        responses={200: StepKindSchemaSerializer, 404: OpenApiResponse(description="No kind.")},
        parameters=[OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH)],
    )
    def retrieve(self, request: Request, kind: str | None = None) -> Response:
        from django.core.exceptions import ValidationError

        try:
            return Response(schema_for(kind or ""))
        except ValidationError:
            raise Http404 from None


# --- Runs and preparations ---------------------------------------------------------------


def _runs(queryset: QuerySet) -> QuerySet:
    per_run = RunInput.objects.filter(run=OuterRef("pk")).order_by().values("run")
    preps = EVPreparation.objects.filter(run=OuterRef("pk")).order_by().values("run")
    return queryset.select_related("study", "protocol_version__protocol", "operator").annotate(
        input_count=Coalesce(Subquery(per_run.annotate(n=Count("id")).values("n")), 0),
        input_volume_ml=Subquery(
            per_run.annotate(v=Sum("volume_used_ml")).values("v"),
            output_field=DecimalField(max_digits=14, decimal_places=4),
        ),
        preparation_count=Coalesce(Subquery(preps.annotate(n=Count("id")).values("n")), 0),
    )


def _with_inputs(queryset: QuerySet) -> QuerySet:
    preps = EVPreparation.objects.select_related("aliquot__box").order_by("id")
    inputs = RunInput.objects.select_related("aliquot").prefetch_related(
        Prefetch("preparations", queryset=preps)
    )
    return queryset.prefetch_related(Prefetch("inputs", queryset=inputs))


@extend_schema_view(
    list=extend_schema(summary="Isolation runs in your studies"),
    retrieve=extend_schema(
        responses=RunDetailSerializer,
        summary="A run: steps as planned and as run, inputs → preparations, rotor figures",
    ),
)
class IsolationRunViewSet(HistoryActionMixin, StudyScopedViewSet):
    """Isolation runs: a published protocol version applied to input tubes. Recording a run
    (``POST``) withdraws the volumes used and creates its EV preparations as tubes
    (kind ev_preparation, parent = the input), all or nothing. Runs are append-only here."""

    queryset = IsolationRun.objects.all()
    serializer_class = RunSerializer
    filterset_class = RunFilterSet
    ordering_fields = ("id", "started_at")
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet:
        queryset = _runs(super().get_queryset())
        return _with_inputs(queryset) if self.action == "retrieve" else queryset

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if self.action in {"retrieve", "create"}:
            context["compare_rotors"] = list(Rotor.objects.filter(is_active=True))
        return context

    @extend_schema(
        request=RunCreateSerializer,
        responses={201: RunDetailSerializer, 400: _REFUSED, 403: OpenApiResponse()},
        summary="Record a run: withdraw the inputs, create the preparations (atomic)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.check_can_create()
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        version = ProtocolVersion.objects.filter(pk=data["protocol_version"]).first()
        if version is None:
            raise exceptions.ValidationError(
                {"protocol_version": [f"No protocol version {data['protocol_version']}."]}
            )
        refs = [i["aliquot"] for i in data["inputs"]] + [
            o["source_aliquot"] for o in data["outputs"] if o.get("source_aliquot")
        ]
        tubes = resolve_tubes(refs, user=request.user)
        missing = [
            f"Input {n}: no tube {i['aliquot']!r} in your studies."
            for n, i in enumerate(data["inputs"], start=1)
            if i["aliquot"].strip().upper() not in tubes
        ]
        if missing:
            raise exceptions.ValidationError({"inputs": missing})
        operator = request.user
        if data.get("operator") is not None:
            operator = get_user_model().objects.filter(pk=data["operator"], is_active=True).first()
            if operator is None:
                raise exceptions.ValidationError({"operator": ["No such active user."]})

        outputs = []
        for number, out in enumerate(data["outputs"], start=1):
            source = None
            if out.get("source_aliquot"):
                source = tubes.get(out["source_aliquot"].strip().upper())
                if source is None:
                    raise exceptions.ValidationError(
                        {"outputs": [f"Output {number}: no tube {out['source_aliquot']!r}."]}
                    )
            outputs.append(
                services.RunOutput(
                    nomenclature_term=out["nomenclature_term"],
                    volume_ml=out["volume_ml"],
                    source=source,
                    source_index=out.get("input"),
                    author_term=out["author_term"],
                    fraction=out["fraction"],
                    resuspension_buffer=out["resuspension_buffer"],
                    container_type=out["container_type"],
                    box=out.get("box"),
                    position=out.get("position"),
                    notes=out["notes"],
                )
            )
        run = services.record_isolation_run(
            version=version,
            inputs=[(tubes[i["aliquot"].strip().upper()], i["volume_ml"]) for i in data["inputs"]],
            outputs=outputs,
            user=request.user,
            operator=operator,
            started_at=data["started_at"],
            ended_at=data.get("ended_at"),
            step_actuals=data["step_actuals"],
            deviations=data["deviations"],
            notes=data["notes"],
        )
        fresh = _with_inputs(_runs(IsolationRun.objects.all())).get(pk=run.pk)
        return Response(
            RunDetailSerializer(fresh, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )


class EVPreparationViewSet(HistoryActionMixin, viewsets.ReadOnlyModelViewSet):
    """EV preparations in your studies: the tube (an aliquot of kind ev_preparation) with
    its MISEV2023 term, the run and protocol that made it and the input it came from.
    The tube itself is handled at /api/v1/aliquots/{aliquot}/."""

    queryset = EVPreparation.objects.all()
    serializer_class = PreparationSerializer
    filterset_class = PreparationFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id",)
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        return EVPreparation.objects.visible_to(self.request.user).select_related(
            "aliquot__box",
            "run__study",
            "run__protocol_version__protocol",
            "source__aliquot",
        )
