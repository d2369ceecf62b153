"""REST endpoints for tubes (aliquots), storage units and custody events.

Views stay thin: every change of tube state goes through ``samples.services`` (one
transaction, row locks, custody events); these classes only parse input, check the caller's
role and shape the output. Scoping follows ``exolims.api.StudyScopedViewSet``: a tube of a
study you are not in is a 404, a viewer may read but not act (403). Storage is lab-wide:
any signed-in user reads it; changing it needs Django's storage-unit permissions.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exolims.api import (
    AwareDateTimeField,
    Conflict,
    StrictOrderingFilter,
    StudyScopedViewSet,
    ValidatedModelSerializer,
)
from exolims.history import HistoryActionMixin, HistoryEntry, HistoryEntrySerializer

from .. import services
from ..choices import AliquotKind, ContainerType, StorageKind
from ..lineage import lineage_of
from ..models import (
    Aliquot,
    CustodyEvent,
    Sample,
    StorageUnit,
    Study,
    StudyMembership,
    position_label,
)
from ..tube_filters import AliquotFilterSet, CustodyEventFilterSet, StorageUnitFilterSet
from ..units import volume_to_ml
from .fields import PositionField, VolumeUnitField

# Tube fields that only the actions change; a PUT/PATCH naming them is told where to go.
_ACTION_ONLY = {
    "volume_ml": "withdraw/",
    "remaining_volume_ml": "withdraw/",
    "status": "check-out/, check-in/, ship/, receive/, consume/ or discard/",
    "box": "place/",
    "row": "place/",
    "column": "place/",
    "position": "place/",
    "is_frozen": "freeze/ or thaw/",
    "freeze_thaw_count": "freeze/ or thaw/",
}


# --- Small fields ------------------------------------------------------------------------


def _volume(value: Any, unit: str, field: str) -> Decimal:
    try:
        return volume_to_ml(value, unit)
    except DjangoValidationError as exc:
        raise serializers.ValidationError({field: exc.messages}) from None
    except InvalidOperation:  # too large to hold at 4 decimal places
        raise serializers.ValidationError({field: ["Volume is too large."]}) from None


def _request_user(serializer: serializers.Field):
    request = serializer.context.get("request")
    return getattr(request, "user", None)


# --- Tubes -------------------------------------------------------------------------------


class TubeSerializer(ValidatedModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-aliquot-detail")
    study_code = serializers.CharField(source="study.code", read_only=True)
    sample_accession = serializers.CharField(source="sample.accession", read_only=True)
    parent_accession = serializers.CharField(
        source="parent.accession", read_only=True, allow_null=True
    )
    box_name = serializers.CharField(source="box.name", read_only=True, allow_null=True)
    position = serializers.CharField(read_only=True, help_text="Well in the box, e.g. B7.")
    freeze_thaw_limit = serializers.IntegerField(
        source="study.max_freeze_thaw_cycles",
        read_only=True,
        allow_null=True,
        help_text="The study's maximum number of freeze–thaw cycles (null: no limit).",
    )
    freeze_thaw_over_limit = serializers.BooleanField(
        source="is_over_freeze_thaw_limit",
        read_only=True,
        help_text="Thawed more often than the study allows.",
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = Aliquot
        fields = [
            "id",
            "url",
            "accession",
            "study",
            "study_code",
            "sample",
            "sample_accession",
            "parent",
            "parent_accession",
            "kind",
            "container_type",
            "volume_ml",
            "remaining_volume_ml",
            "status",
            "box",
            "box_name",
            "row",
            "column",
            "position",
            "is_frozen",
            "freeze_thaw_count",
            "freeze_thaw_limit",
            "freeze_thaw_over_limit",
            "out_of_storage_since",
            "time_out_of_storage_s",
            "notes",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            f for f in fields if f not in {"container_type", "notes"} and f != "url"
        ]

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {
                name: [f"Change this through the {where} action, not by editing the tube."]
                for name, where in _ACTION_ONLY.items()
                if name in data
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class SplitSerializer(serializers.Serializer):
    """POST /aliquots/: split a sample or tube into new tubes (optionally straight into a box)."""

    source = serializers.CharField(
        max_length=40,
        help_text="Accession (EXO-…) or id of the sample or tube to split.",
    )
    source_kind = serializers.ChoiceField(
        choices=["sample", "aliquot"],
        required=False,
        help_text="Whether a numeric source id is a sample or an aliquot (needed only when "
        "the id exists as both).",
    )
    volumes_ml = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        min_length=1,
        max_length=services.MAX_ALIQUOTS_PER_SPLIT,
        help_text="One volume per new tube, in volume_unit.",
    )
    count = serializers.IntegerField(
        required=False, min_value=1, max_value=services.MAX_ALIQUOTS_PER_SPLIT
    )
    volume_ml = serializers.CharField(
        required=False, max_length=40, help_text="With count: the volume of each new tube."
    )
    volume_unit = VolumeUnitField(required=False, default="mL")
    container_type = serializers.ChoiceField(
        choices=ContainerType.choices, default=ContainerType.CRYOVIAL_2ML
    )
    kind = serializers.ChoiceField(choices=AliquotKind.choices, default=AliquotKind.ALIQUOT)
    box = serializers.PrimaryKeyRelatedField(
        queryset=StorageUnit.objects.all(), required=False, allow_null=True
    )
    positions = serializers.ListField(
        child=PositionField(),
        required=False,
        max_length=services.MAX_ALIQUOTS_PER_SPLIT,
        help_text='Wells for the new tubes in order, e.g. ["A1", "A2"]; empty: first free.',
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unit = attrs.get("volume_unit") or "mL"
        if "volumes_ml" in attrs:
            if "count" in attrs or "volume_ml" in attrs:
                raise serializers.ValidationError(
                    {"volumes_ml": ["Give either volumes_ml or count with volume_ml, not both."]}
                )
            attrs["volumes"] = [_volume(v, unit, "volumes_ml") for v in attrs["volumes_ml"]]
        elif "count" in attrs and "volume_ml" in attrs:
            attrs["volumes"] = [_volume(attrs["volume_ml"], unit, "volume_ml")] * attrs["count"]
        else:
            raise serializers.ValidationError(
                {"volumes_ml": ["Give volumes_ml (one per tube) or count and volume_ml."]}
            )
        if attrs.get("positions") and not attrs.get("box"):
            raise serializers.ValidationError({"box": ["Choose the box the positions are in."]})
        attrs["source"] = self._resolve_source(attrs["source"], attrs.get("source_kind"))
        return attrs

    def _resolve_source(self, text: str, kind: str | None) -> Sample | Aliquot:
        user = _request_user(self)
        text = text.strip()
        samples = Sample.objects.visible_to(user).select_related("study")
        tubes = Aliquot.objects.visible_to(user).select_related("study", "sample")
        if text.isdecimal():
            found = []
            if kind in (None, "sample"):
                found += list(samples.filter(pk=int(text)))
            if kind in (None, "aliquot"):
                found += list(tubes.filter(pk=int(text)))
            if len(found) > 1:
                raise serializers.ValidationError(
                    {
                        "source": [
                            f"Id {text} is both a sample and a tube; give source_kind or "
                            "the accession."
                        ]
                    }
                )
        else:
            found = list(samples.filter(accession__iexact=text)[:1]) or list(
                tubes.filter(accession__iexact=text)[:1]
            )
            if kind == "sample":
                found = [f for f in found if isinstance(f, Sample)]
            elif kind == "aliquot":
                found = [f for f in found if isinstance(f, Aliquot)]
        if not found:
            raise serializers.ValidationError(
                {"source": [f"No sample or tube {text!r} in your studies."]}
            )
        return found[0]


class PlaceSerializer(serializers.Serializer):
    box = serializers.PrimaryKeyRelatedField(queryset=StorageUnit.objects.all())
    position = PositionField(
        required=False,
        allow_null=True,
        help_text="Well, e.g. B7; leave out for the first free one.",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")
    at = AwareDateTimeField(required=False, allow_null=True)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")
    at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When it happened (default: now)."
    )


class CheckOutSerializer(NoteSerializer):
    to_location = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200, help_text="e.g. Bench 3"
    )


class TemperatureSerializer(NoteSerializer):
    temperature_c = serializers.FloatField(
        required=False, allow_null=True, min_value=-273.15, max_value=150
    )


class ShipSerializer(TemperatureSerializer):
    to_location = serializers.CharField(max_length=200, help_text="Recipient lab or site.")


class ReceiveSerializer(TemperatureSerializer):
    from_location = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    box = serializers.PrimaryKeyRelatedField(
        queryset=StorageUnit.objects.all(), required=False, allow_null=True
    )
    position = PositionField(required=False, allow_null=True)


class WithdrawSerializer(NoteSerializer):
    # The service speaks of volume_ml; the client sent volume (+ unit).
    service_error_fields = {"volume_ml": "volume"}

    volume = serializers.CharField(max_length=40, help_text="Volume taken, in volume_unit.")
    volume_unit = VolumeUnitField(required=False, default="mL")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["volume_ml"] = _volume(attrs["volume"], attrs.get("volume_unit") or "mL", "volume")
        return attrs


class CustodyEventSerializer(serializers.ModelSerializer):
    aliquot_accession = serializers.CharField(source="aliquot.accession", read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True)
    from_box_name = serializers.CharField(source="from_box.name", read_only=True, allow_null=True)
    to_box_name = serializers.CharField(source="to_box.name", read_only=True, allow_null=True)

    class Meta:
        model = CustodyEvent
        fields = [
            "id",
            "aliquot",
            "aliquot_accession",
            "kind",
            "at",
            "actor",
            "from_box",
            "from_box_name",
            "from_position",
            "from_location",
            "to_box",
            "to_box_name",
            "to_position",
            "to_location",
            "temperature_c",
            "volume_ml",
            "note",
            "recorded_at",
        ]
        read_only_fields = fields


class LineageNodeSerializer(serializers.Serializer):
    """Documentation of a lineage node (the view returns plain dicts)."""

    type = serializers.CharField(help_text="sample or aliquot")
    id = serializers.IntegerField()
    accession = serializers.CharField()
    kind = serializers.CharField(help_text="Fluid type of a sample, aliquot kind of a tube.")
    status = serializers.CharField()
    volume_ml = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    remaining_volume_ml = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    parent = serializers.IntegerField(allow_null=True)
    box = serializers.IntegerField(allow_null=True)
    box_name = serializers.CharField()
    position = serializers.CharField()
    freeze_thaw_count = serializers.IntegerField(allow_null=True)
    children = serializers.ListField(child=serializers.DictField())


class LineageSerializer(serializers.Serializer):
    node = LineageNodeSerializer()
    ancestors = LineageNodeSerializer(many=True, help_text="Root sample first.")
    descendants = LineageNodeSerializer(many=True, help_text="Nested through children.")
    tree = LineageNodeSerializer(help_text="From the root sample down, nested.")


class SplitResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = TubeSerializer(many=True)


def _tube_action(request_serializer: type[serializers.Serializer] | None, summary: str):
    return extend_schema(
        request=request_serializer,
        responses={200: TubeSerializer, 400: OpenApiResponse(description="Refused, with why.")},
        summary=summary,
    )


class AliquotViewSet(HistoryActionMixin, StudyScopedViewSet):
    """Physical tubes in your studies: aliquots, aliquots of aliquots, EV preparations.

    Creating tubes splits a sample or tube (``POST`` with ``source`` and volumes). Volumes,
    positions and status change only through the actions (``place/``, ``withdraw/``,
    ``check-out/``, …), each of which appends to the tube's chain of custody.
    """

    queryset = Aliquot.objects.all()
    serializer_class = TubeSerializer
    filterset_class = AliquotFilterSet
    ordering_fields = ("id", "accession")

    def get_queryset(self) -> QuerySet:
        return (
            super().get_queryset().select_related("study", "sample", "parent", "box", "created_by")
        )

    def _fresh(self, tube: Aliquot) -> dict[str, Any]:
        tube = self.get_queryset().get(pk=tube.pk)
        return TubeSerializer(tube, context=self.get_serializer_context()).data

    def _act(self, request: Request, serializer_class, call) -> Response:
        tube = self.get_object()
        data = {}
        if serializer_class is not None:
            serializer = serializer_class(data=request.data, context=self.get_serializer_context())
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
        try:
            call(tube, data)
        except DjangoValidationError as exc:
            # Report a refusal on the request field it concerns (as the page forms do).
            renames = getattr(serializer_class, "service_error_fields", {})
            for service_field, request_field in renames.items():
                if service_field in getattr(exc, "error_dict", {}):
                    exc.error_dict[request_field] = exc.error_dict.pop(service_field)
            raise
        return Response(self._fresh(tube))

    # -- CRUD ---------------------------------------------------------------------------

    @extend_schema(request=SplitSerializer, responses={201: SplitResultSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.check_can_create()
        serializer = SplitSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = data["source"]
        self.check_write(source.study)
        tubes = services.split_into_aliquots(
            source=source,
            volumes_ml=data["volumes"],
            user=request.user,
            container_type=data["container_type"],
            kind=data["kind"],
            box=data.get("box"),
            positions=data.get("positions") or None,
            notes=data.get("notes", ""),
        )
        rows = self.get_queryset().filter(pk__in=[t.pk for t in tubes]).order_by("id")
        results = TubeSerializer(rows, many=True, context=self.get_serializer_context()).data
        return Response({"count": len(results), "results": results}, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(description="The tube has a history or children: discard it."),
        }
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tube = self.get_object()
        blocker = services.deletion_blocker(tube)
        if blocker:
            raise Conflict(blocker)
        try:
            services.delete_aliquot(aliquot=tube, user=request.user)
        except services.TubeInUse as exc:
            raise Conflict(exc.messages[0]) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    # -- Reading ------------------------------------------------------------------------

    @extend_schema(responses=LineageSerializer, summary="Ancestors and descendants as a tree")
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def lineage(self, request: Request, pk: str | None = None) -> Response:
        return Response(lineage_of(self.get_object(), user=request.user).as_dict())

    @extend_schema(
        responses=CustodyEventSerializer(many=True), summary="Chain of custody, newest last"
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def custody(self, request: Request, pk: str | None = None) -> Response:
        tube = self.get_object()
        events = tube.custody_events.select_related("aliquot", "actor", "from_box", "to_box")
        return Response(CustodyEventSerializer(events.order_by("at", "id"), many=True).data)

    # -- Actions ------------------------------------------------------------------------

    @_tube_action(PlaceSerializer, "Place the tube into a box well, or move it there")
    @action(detail=True, methods=["post"])
    def place(self, request: Request, pk: str | None = None) -> Response:
        def call(tube: Aliquot, data: dict[str, Any]) -> None:
            row, column = data.get("position") or (None, None)
            services.place_aliquot(
                aliquot=tube,
                box=data["box"],
                row=row,
                column=column,
                user=request.user,
                note=data["note"],
                at=data.get("at"),
            )

        return self._act(request, PlaceSerializer, call)

    @_tube_action(CheckOutSerializer, "Check the tube out (its well stays reserved)")
    @action(detail=True, methods=["post"], url_path="check-out")
    def check_out(self, request: Request, pk: str | None = None) -> Response:
        return self._act(
            request,
            CheckOutSerializer,
            lambda tube, data: services.check_out(aliquot=tube, user=request.user, **data),
        )

    @_tube_action(TemperatureSerializer, "Check the tube back in to its well")
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request: Request, pk: str | None = None) -> Response:
        return self._act(
            request,
            TemperatureSerializer,
            lambda tube, data: services.check_in(aliquot=tube, user=request.user, **data),
        )

    @_tube_action(TemperatureSerializer, "Record a thaw (counts after a freeze)")
    @action(detail=True, methods=["post"])
    def thaw(self, request: Request, pk: str | None = None) -> Response:
        return self._act(
            request,
            TemperatureSerializer,
            lambda tube, data: services.record_thaw(aliquot=tube, user=request.user, **data),
        )

    @_tube_action(TemperatureSerializer, "Record a freeze")
    @action(detail=True, methods=["post"])
    def freeze(self, request: Request, pk: str | None = None) -> Response:
        return self._act(
            request,
            TemperatureSerializer,
            lambda tube, data: services.record_freeze(aliquot=tube, user=request.user, **data),
        )

    @_tube_action(ShipSerializer, "Ship the tube elsewhere (frees its well)")
    @action(detail=True, methods=["post"])
    def ship(self, request: Request, pk: str | None = None) -> Response:
        return self._act(
            request,
            ShipSerializer,
            lambda tube, data: services.ship(aliquot=tube, user=request.user, **data),
        )

    @_tube_action(ReceiveSerializer, "Receive a shipped tube back (optionally into a box)")
    @action(detail=True, methods=["post"])
    def receive(self, request: Request, pk: str | None = None) -> Response:
        def call(tube: Aliquot, data: dict[str, Any]) -> None:
            row, column = data.pop("position", None) or (None, None)
            if row is not None and data.get("box") is None:
                raise serializers.ValidationError({"box": ["Choose the box for the position."]})
            services.receive(aliquot=tube, user=request.user, row=row, column=column, **data)

        return self._act(request, ReceiveSerializer, call)

    @_tube_action(NoteSerializer, "Mark the tube used up (frees its well)")
    @action(detail=True, methods=["post"])
    def consume(self, request: Request, pk: str | None = None) -> Response:
        return self._act(
            request,
            NoteSerializer,
            lambda tube, data: services.consume(aliquot=tube, user=request.user, **data),
        )

    @_tube_action(NoteSerializer, "Discard the tube (frees its well)")
    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        return self._act(
            request,
            NoteSerializer,
            lambda tube, data: services.discard(aliquot=tube, user=request.user, **data),
        )

    @_tube_action(WithdrawSerializer, "Take a volume out of the tube")
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        def call(tube: Aliquot, data: dict[str, Any]) -> None:
            services.withdraw_volume(
                tube, data["volume_ml"], user=request.user, note=data["note"], at=data.get("at")
            )

        return self._act(request, WithdrawSerializer, call)


# --- Storage units ---------------------------------------------------------------------


class StorageUnitSerializer(ValidatedModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-storage-unit-detail")
    parent = serializers.PrimaryKeyRelatedField(
        queryset=StorageUnit.objects.all(), required=False, allow_null=True
    )
    barcode = serializers.CharField(
        max_length=40, required=False, allow_null=True, allow_blank=True
    )
    capacity = serializers.IntegerField(read_only=True, help_text="Wells (boxes only).")

    class Meta:
        model = StorageUnit
        fields = [
            "id",
            "url",
            "parent",
            "kind",
            "name",
            "barcode",
            "set_temperature_c",
            "rows",
            "columns",
            "capacity",
            "description",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        # Uniqueness is checked by the model's constraint (full_clean), with its own message;
        # DRF's generated validator would also make a top-level unit's parent required.
        validators: list = []

    def validate_barcode(self, value: str | None) -> str | None:
        return (value or "").strip() or None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unit = self.instance
        if unit is not None and unit.kind == StorageKind.BOX:
            used = Aliquot.objects.filter(box=unit)
            if attrs.get("kind", unit.kind) != StorageKind.BOX and used.exists():
                raise serializers.ValidationError(
                    {"kind": ["This box holds tubes; move them out before changing its kind."]}
                )
            rows, columns = attrs.get("rows", unit.rows), attrs.get("columns", unit.columns)
            if rows and columns and used.filter(Q(row__gt=rows) | Q(column__gt=columns)).exists():
                raise serializers.ValidationError(
                    {"rows": ["Tubes sit outside the new grid; move them first."]}
                )
        return super().validate(attrs)


class StorageUnitDetailSerializer(StorageUnitSerializer):
    path = serializers.SerializerMethodField()
    effective_temperature_c = serializers.SerializerMethodField(
        help_text="The set temperature of this unit or the nearest unit above it."
    )

    class Meta(StorageUnitSerializer.Meta):
        fields = [*StorageUnitSerializer.Meta.fields, "path", "effective_temperature_c"]

    def _ancestors(self, unit: StorageUnit) -> list[StorageUnit]:
        cache = self.context.setdefault("_ancestors", {})
        if unit.pk not in cache:
            cache[unit.pk] = unit.ancestors(include_self=True)
        return cache[unit.pk]

    def get_path(self, unit: StorageUnit) -> str:
        return " › ".join(u.name for u in self._ancestors(unit))

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_effective_temperature_c(self, unit: StorageUnit) -> float | None:
        for ancestor in reversed(self._ancestors(unit)):
            if ancestor.set_temperature_c is not None:
                return ancestor.set_temperature_c
        return None


class StoragePermissions(DjangoModelPermissions):
    """Reading: any signed-in user. Writing: samples.add/change/delete_storageunit."""

    message = "Changing storage needs the storage-unit permission; ask an administrator."


class WellTubeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    accession = serializers.CharField()
    status = serializers.CharField()
    kind = serializers.CharField()
    study = serializers.IntegerField()
    is_frozen = serializers.BooleanField()
    freeze_thaw_count = serializers.IntegerField()


class WellSerializer(serializers.Serializer):
    position = serializers.CharField()
    row = serializers.IntegerField()
    column = serializers.IntegerField()
    occupied = serializers.BooleanField()
    aliquot = WellTubeSerializer(
        allow_null=True,
        help_text="The tube, or null when empty or when it belongs to a study you cannot see "
        "(then only occupied is true).",
    )


class OccupancySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    boxes = serializers.IntegerField()
    capacity = serializers.IntegerField()
    occupied = serializers.IntegerField()
    free = serializers.IntegerField()
    percent = serializers.FloatField()


class UnitOccupancySerializer(serializers.Serializer):
    unit = OccupancySerializer()
    children = OccupancySerializer(many=True)


class PathStepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()


_LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many wells.")


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({"limit": ["Must be a whole number."]}) from None
    if value < 1:
        raise exceptions.ValidationError({"limit": ["Must be at least 1."]})
    return value


def _occupancy_rows(units: list[StorageUnit]) -> list[dict[str, Any]]:
    counts = services.occupancy(units=units)
    rows = []
    for unit in units:
        found = counts.get(unit.pk) or services.Occupancy(unit.pk, 0, 0, 0)
        rows.append(
            {
                "id": unit.pk,
                "name": unit.name,
                "kind": unit.kind,
                "boxes": found.boxes,
                "capacity": found.capacity,
                "occupied": found.occupied,
                "free": found.free,
                "percent": found.percent,
            }
        )
    return rows


class StorageUnitViewSet(HistoryActionMixin, viewsets.ModelViewSet):
    """The lab's storage tree: site → room → freezer → shelf/rack → box (rows × columns).

    Shared by the whole lab: every signed-in user reads it, and the box grid shows which
    wells are taken, but tubes of studies you are not in show only as occupied.
    """

    queryset = StorageUnit.objects.all()
    serializer_class = StorageUnitSerializer
    permission_classes = [StoragePermissions]
    filterset_class = StorageUnitFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id", "name")
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_serializer_class(self):
        if self.action in {"retrieve", "update", "partial_update", "create"}:
            return StorageUnitDetailSerializer
        return StorageUnitSerializer

    def get_queryset(self) -> QuerySet:
        return StorageUnit.objects.all()

    def perform_destroy(self, instance: StorageUnit) -> None:
        children = instance.children.count()
        if children:
            raise Conflict(
                f"{instance.name} holds {children} storage unit{'s' if children != 1 else ''}; "
                "move or delete them first."
            )
        tubes = Aliquot.objects.filter(box=instance).count()
        if tubes:
            raise Conflict(
                f"{instance.name} holds {tubes} tube{'s' if tubes != 1 else ''}; move them first."
            )
        if CustodyEvent.objects.filter(from_box=instance).exists() or (
            CustodyEvent.objects.filter(to_box=instance).exists()
        ):
            raise Conflict(
                f"{instance.name} appears in tubes' chain of custody; mark it inactive "
                "(is_active=false) instead of deleting it."
            )
        instance.delete()

    def _box(self) -> StorageUnit:
        unit = self.get_object()
        if unit.kind != StorageKind.BOX:
            raise exceptions.ValidationError(
                {"detail": f"{unit.name} is a {unit.get_kind_display().lower()}, not a box."}
            )
        return unit

    @extend_schema(
        parameters=[
            OpenApiParameter("free", OpenApiTypes.BOOL, description="Only empty wells."),
            _LIMIT,
        ],
        responses=WellSerializer(many=True),
        summary="The box grid, well by well in reading order",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def positions(self, request: Request, pk: str | None = None) -> Response:
        box = self._box()
        limit = _limit(request)
        if request.query_params.get("free", "").lower() in {"1", "true", "yes"}:
            return Response(self._free_wells(box, limit))
        visible = StudyMembership.objects.filter(study_id=OuterRef("study_id"), user=request.user)
        tubes = Aliquot.objects.filter(box=box).values(
            "id",
            "accession",
            "status",
            "kind",
            "study_id",
            "is_frozen",
            "freeze_thaw_count",
            "row",
            "column",
        )
        if not request.user.is_superuser:
            tubes = tubes.annotate(visible=Exists(visible))
        by_well = {(t["row"], t["column"]): t for t in tubes}
        wells = []
        for row in range(1, box.rows + 1):
            for column in range(1, box.columns + 1):
                tube = by_well.get((row, column))
                shown = None
                if tube is not None and tube.get("visible", True):
                    shown = {
                        "id": tube["id"],
                        "accession": tube["accession"],
                        "status": tube["status"],
                        "kind": tube["kind"],
                        "study": tube["study_id"],
                        "is_frozen": tube["is_frozen"],
                        "freeze_thaw_count": tube["freeze_thaw_count"],
                    }
                wells.append(
                    {
                        "position": position_label(row, column),
                        "row": row,
                        "column": column,
                        "occupied": tube is not None,
                        "aliquot": shown,
                    }
                )
        return Response(wells[:limit] if limit else wells)

    @staticmethod
    def _free_wells(box: StorageUnit, limit: int | None) -> list[dict[str, Any]]:
        return [
            {
                "position": w.label,
                "row": w.row,
                "column": w.column,
                "occupied": False,
                "aliquot": None,
            }
            for w in services.free_positions(box, limit=limit)
        ]

    @extend_schema(
        parameters=[_LIMIT],
        responses=WellSerializer(many=True),
        summary="Empty wells of a box in reading order",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def free(self, request: Request, pk: str | None = None) -> Response:
        return Response(self._free_wells(self._box(), _limit(request)))

    @extend_schema(
        responses=UnitOccupancySerializer,
        summary="Wells used in this unit and in each unit directly inside it",
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        filter_backends=[],
        url_path="occupancy",
        url_name="occupancy",
    )
    def unit_occupancy(self, request: Request, pk: str | None = None) -> Response:
        unit = self.get_object()
        children = list(unit.children.order_by("name"))
        rows = _occupancy_rows([unit, *children])
        return Response({"unit": rows[0], "children": rows[1:]})

    @extend_schema(
        responses=OccupancySerializer(many=True),
        summary="Occupancy of every unit matching the filters (e.g. ?kind=freezer)",
    )
    @action(detail=False, methods=["get"], pagination_class=None, url_path="occupancy")
    def occupancy(self, request: Request) -> Response:
        units = list(self.filter_queryset(self.get_queryset()).order_by("name")[:1000])
        return Response(_occupancy_rows(units))

    @extend_schema(
        responses=PathStepSerializer(many=True),
        summary="The units above this one, from the top",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def path(self, request: Request, pk: str | None = None) -> Response:
        unit = self.get_object()
        return Response(
            [
                {"id": u.pk, "name": u.name, "kind": u.kind}
                for u in unit.ancestors(include_self=True)
            ]
        )


# --- Custody events ---------------------------------------------------------------------


class CustodyEventViewSet(HistoryActionMixin, viewsets.ReadOnlyModelViewSet):
    """Chain-of-custody events of the tubes in your studies (append-only; read only)."""

    queryset = CustodyEvent.objects.all()
    serializer_class = CustodyEventSerializer
    filterset_class = CustodyEventFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id",)
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        studies = Study.objects.visible_to(self.request.user).values("id")
        return CustodyEvent.objects.filter(aliquot__study_id__in=studies).select_related(
            "aliquot", "actor", "from_box", "to_box"
        )

    @extend_schema(responses=HistoryEntrySerializer(many=True))
    @action(
        detail=True, methods=["get"], url_path="history", pagination_class=None, filter_backends=[]
    )
    def history(self, request: Request, pk: str | None = None) -> Response:
        """An event is never changed (a database trigger refuses it): its history is the
        one insert that recorded it."""
        event = self.get_object()
        data = CustodyEventSerializer(event).data
        entry = HistoryEntry(
            at=event.recorded_at,
            action="insert",
            user_id=event.actor_id,
            username=event.actor.username if event.actor else "system",
            reason="",
            url="",
            changes={k: (None, v) for k, v in data.items() if v not in (None, "")},
        )
        return Response(HistoryEntrySerializer([entry], many=True).data)


# --- Sample lineage -----------------------------------------------------------------------


class SampleLineageView(APIView):
    """Ancestors (none: a sample is a root) and every tube made from the sample, as a tree."""

    @extend_schema(responses=LineageSerializer, tags=["samples"])
    def get(self, request: Request, pk: int) -> Response:
        sample = Sample.objects.visible_to(request.user).filter(pk=pk).first()
        if sample is None:
            raise Http404
        return Response(lineage_of(sample, user=request.user).as_dict())
