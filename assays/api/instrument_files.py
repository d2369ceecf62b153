"""REST endpoints for instruments, uploaded instrument files and the particle results parsed
from them.

* ``/instrument-files/``: ``POST`` a file (multipart) → 201 with the record and its
  ``status_url``; the same bytes again → 200 with the existing record; over
  ``INSTRUMENT_FILE_MAX_BYTES`` → 413, cut off while the body streams in. Lists and
  details are scoped by ``InstrumentFile.objects.visible_to`` (own uploads, plus files on
  tubes of the user's studies). ``reprocess/``, ``resolve/`` and ``download/`` act on one.
* ``/particle-measurements/``: read-only, scoped to the user's studies; the size
  distribution only in the detail.
* ``/instruments/``: the lab's instruments; any signed-in person reads them, changing them
  needs the model permission (``assays.add_/change_/delete_instrument``).

Instrument accounts (see ``assays.permissions``) may upload and read their own uploads'
list, detail and status, nothing else. Storing and deduplicating is ``assays.intake``;
parsing, re-processing and review are ``assays.processing``.
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
import orjson
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from exolims.api import Conflict, StrictOrderingFilter, ValidatedModelSerializer
from exolims.history import HistoryActionMixin
from exolims.renderers import FastJSONRenderer
from exolims.upload_handlers import PayloadTooLarge, too_large_message, upload_limit_exceeded
from samples.filters import ChoicesFilter, FilterSet, IdFilter
from samples.models import Aliquot
from samples.views.common import accession_candidates

from .. import intake
from ..choices import FileStatus, ParticleMethod
from ..models import Instrument, InstrumentFile, ParticleMeasurement
from ..permissions import InstrumentAccountPermission, instrument_of

_REFUSED = OpenApiResponse(description="Refused, with field-level reasons.")
_FORBIDDEN = OpenApiResponse(description="Not allowed (role too low, or an instrument account).")
_INSTRUMENT_ACTIONS = frozenset({"create", "list", "retrieve", "processing_status"})


# --- Look-ups shared by the actions ---------------------------------------------------------


def _tube_by_reference(text: str, *, queryset: QuerySet, field: str) -> Aliquot:
    """A tube by accession (as people type it: "exo-12" is EXO-000012) or id, within
    ``queryset``; a 400 on ``field`` otherwise."""
    text = text.strip()
    if text.isdecimal():
        tube = queryset.filter(pk=int(text)).first()
    else:
        tube = queryset.filter(accession__in=accession_candidates(text)).first()
    if tube is None:
        raise exceptions.ValidationError({field: [f"No tube {text} in your studies."]})
    return tube


def _by_accession_or_id(queryset: QuerySet, value: str, *, id_field: str, accession_field: str):
    value = value.strip()
    if not value:
        return queryset
    if value.isdecimal():
        return queryset.filter(**{id_field: int(value)})
    return queryset.filter(**{f"{accession_field}__in": accession_candidates(value)})


# --- Instruments ----------------------------------------------------------------------------


class InstrumentSerializer(ValidatedModelSerializer):
    account = serializers.PrimaryKeyRelatedField(read_only=True)
    account_username = serializers.CharField(
        source="account.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Instrument
        fields = [
            "id",
            "name",
            "kind",
            "model",
            "serial_number",
            "location",
            "is_active",
            "notes",
            "account",
            "account_username",
        ]

    def _clean_exclusions(self) -> list[str]:
        return ["account"]


class InstrumentPermissions(DjangoModelPermissions):
    """Reading: any signed-in user. Writing: assays.add/change/delete_instrument."""

    message = "Changing the instrument list needs the instrument permission; ask an administrator."


class InstrumentFilterSet(FilterSet):
    kind = filters.CharFilter()
    is_active = filters.BooleanFilter()
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search name")

    class Meta:
        model = Instrument
        fields = ["kind", "is_active"]


class InstrumentViewSet(HistoryActionMixin, viewsets.ModelViewSet):
    """The lab's instruments (NTA, flow, plate readers, …). An instrument's ``account`` is
    the login its PC uploads with (``manage.py create_instrument_account``). An instrument
    with uploaded files cannot be deleted (409); mark it inactive instead."""

    queryset = Instrument.objects.all()
    serializer_class = InstrumentSerializer
    # Own permission classes replace the defaults: keep the instrument-account rule.
    permission_classes = [InstrumentAccountPermission, InstrumentPermissions]
    filterset_class = InstrumentFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id", "name")
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        return Instrument.objects.select_related("account")

    def perform_create(self, serializer) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_destroy(self, instance: Instrument) -> None:
        # The savepoint keeps the request usable when the delete is refused (ProtectedError → 409).
        with transaction.atomic():
            instance.delete()


# --- Instrument files -----------------------------------------------------------------------


class InstrumentFileSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    instrument_name = serializers.CharField(
        source="instrument.name", read_only=True, allow_null=True, default=None
    )
    aliquot_accession = serializers.CharField(
        source="aliquot.accession", read_only=True, allow_null=True, default=None
    )
    study_code = serializers.CharField(
        source="study.code", read_only=True, allow_null=True, default=None
    )
    uploaded_by_username = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = InstrumentFile
        fields = [
            "id",
            "url",
            "status_url",
            "download_url",
            "original_name",
            "size_bytes",
            "sha256",
            "format",
            "parser_version",
            "status",
            "status_display",
            "attempts",
            "error",
            "review_reason",
            "instrument",
            "instrument_name",
            "aliquot",
            "aliquot_accession",
            "study",
            "study_code",
            "uploaded_by",
            "uploaded_by_username",
            "received_at",
            "processing_started_at",
            "processed_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _link(self, name: str, obj: InstrumentFile) -> str:
        return reverse(name, args=[obj.pk], request=self.context.get("request"))

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, obj: InstrumentFile) -> str:
        return self._link("api-instrument-file-detail", obj)

    @extend_schema_field(OpenApiTypes.URI)
    def get_status_url(self, obj: InstrumentFile) -> str:
        return self._link("api-instrument-file-status", obj)

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, obj: InstrumentFile) -> str:
        return self._link("api-instrument-file-download", obj)


class InstrumentFileDetailSerializer(InstrumentFileSerializer):
    particle_measurements = serializers.SerializerMethodField(
        help_text="Ids of the particle results parsed from this file."
    )

    class Meta(InstrumentFileSerializer.Meta):
        fields = [*InstrumentFileSerializer.Meta.fields, "particle_measurements"]
        read_only_fields = fields

    def get_particle_measurements(self, obj: InstrumentFile) -> list[int]:
        return [row.pk for row in obj.particle_measurements.all()]


class InstrumentFileStatusSerializer(serializers.ModelSerializer):
    """What a client polls for: where processing stands, and what came out."""

    url = serializers.SerializerMethodField()
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    aliquot_accession = serializers.CharField(
        source="aliquot.accession", read_only=True, allow_null=True, default=None
    )
    done = serializers.SerializerMethodField(
        help_text="True once processing reached parsed, failed or needs_review."
    )
    particle_measurements = serializers.SerializerMethodField()

    class Meta:
        model = InstrumentFile
        fields = [
            "id",
            "url",
            "status",
            "status_display",
            "done",
            "format",
            "parser_version",
            "attempts",
            "error",
            "review_reason",
            "aliquot",
            "aliquot_accession",
            "received_at",
            "processing_started_at",
            "processed_at",
            "particle_measurements",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, obj: InstrumentFile) -> str:
        return reverse("api-instrument-file-detail", args=[obj.pk], request=self.context["request"])

    def get_done(self, obj: InstrumentFile) -> bool:
        return obj.status in (FileStatus.PARSED, FileStatus.FAILED, FileStatus.NEEDS_REVIEW)

    def get_particle_measurements(self, obj: InstrumentFile) -> list[int]:
        return [row.pk for row in obj.particle_measurements.all()]


class InstrumentFileUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # the intake service refuses it, with the same message everywhere
        help_text="The instrument's export, as it was written (any size up to the limit).",
    )
    aliquot = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="Accession (or id) of the measured tube. Leave out to match it from the "
        "sample name inside the file.",
    )
    instrument = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=80,
        help_text="Name or id of the instrument. Instrument accounts always upload as their own.",
    )


class ResolveSerializer(serializers.Serializer):
    aliquot = serializers.CharField(max_length=40, help_text="Accession (or id) of the tube.")


class InstrumentFileFilterSet(FilterSet):
    status = ChoicesFilter(choices=FileStatus.choices)
    # ``?format=`` picks the response's renderer (json, csv) throughout the API.
    file_format = filters.CharFilter(
        field_name="format", label="Detected format key, e.g. nta_nanosight"
    )
    aliquot = filters.CharFilter(method="by_aliquot", label="Tube accession or id")
    study = IdFilter(field_name="study_id")
    instrument = filters.CharFilter(method="by_instrument", label="Instrument name or id")
    uploaded_by = IdFilter(field_name="uploaded_by_id")
    received_after = filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", label="Received at or after"
    )
    received_before = filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="lt", label="Received before"
    )
    ids = filters.CharFilter(
        method="by_ids", label="Comma-separated ids (at most 200), e.g. to poll several files"
    )

    class Meta:
        model = InstrumentFile
        fields = ["status", "study", "uploaded_by"]

    def by_aliquot(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _by_accession_or_id(
            queryset, value, id_field="aliquot_id", accession_field="aliquot__accession"
        )

    def by_instrument(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        if value.isdecimal():
            return queryset.filter(instrument_id=int(value))
        return queryset.filter(instrument__name__iexact=value)

    def by_ids(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isdecimal() for part in parts) or len(parts) > 200:
            raise exceptions.ValidationError(
                {"ids": ["Give up to 200 whole-number ids separated by commas."]}
            )
        return queryset.filter(pk__in=[int(part) for part in parts]) if parts else queryset


class DownloadRenderer(BaseRenderer):
    """Lets a client that accepts only ``application/octet-stream`` reach the download (its
    body is a FileResponse, not rendered); an error body is still JSON text."""

    media_type = "application/octet-stream"
    format = "bin"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return b"" if data is None else orjson.dumps(data)


@extend_schema_view(
    list=extend_schema(summary="Instrument files you uploaded or that are filed in your studies"),
    retrieve=extend_schema(
        responses=InstrumentFileDetailSerializer,
        summary="One file: processing state, error, format, parser version, its results",
    ),
)
class InstrumentFileViewSet(
    HistoryActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Instrument result files: upload, follow their processing (received → processing →
    parsed | failed | needs_review), re-process, pick the tube for one that needs review,
    download the original bytes."""

    queryset = InstrumentFile.objects.all()
    serializer_class = InstrumentFileSerializer
    filterset_class = InstrumentFileFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id",)
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "head", "options"]
    # exolims.upload_handlers cuts a bigger upload off while it streams in.
    upload_limit_setting = "INSTRUMENT_FILE_MAX_BYTES"
    # assays.permissions: all an instrument account may do.
    instrument_account_actions = _INSTRUMENT_ACTIONS

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Lets an uploader (watch folder, browser) refuse an oversized file before sending it.
        response["X-Upload-Max-Bytes"] = str(django_settings.INSTRUMENT_FILE_MAX_BYTES)
        return response

    def get_queryset(self) -> QuerySet:
        user = self.request.user
        queryset = InstrumentFile.objects.visible_to(user)
        if instrument_of(user) is not None:
            queryset = queryset.filter(uploaded_by=user)
        queryset = queryset.select_related("instrument", "aliquot", "study", "uploaded_by")
        if self.action in {"retrieve", "processing_status", "create", "reprocess", "resolve"}:
            results = ParticleMeasurement.objects.order_by("id").only("id", "instrument_file_id")
            queryset = queryset.prefetch_related(Prefetch("particle_measurements", results))
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return InstrumentFileDetailSerializer
        return InstrumentFileSerializer

    def _detail(self, pk: int, code: int = status.HTTP_200_OK, **kwargs: Any) -> Response:
        fresh = self.get_queryset().get(pk=pk)
        data = InstrumentFileDetailSerializer(fresh, context=self.get_serializer_context()).data
        return Response(data, status=code, **kwargs)

    # -- upload -------------------------------------------------------------------------

    @extend_schema(
        request={"multipart/form-data": InstrumentFileUploadSerializer},
        responses={
            201: OpenApiResponse(InstrumentFileDetailSerializer, description="Stored, queued."),
            200: OpenApiResponse(
                InstrumentFileDetailSerializer,
                description="The same bytes were uploaded before: the existing record.",
            ),
            400: _REFUSED,
            403: _FORBIDDEN,
            409: OpenApiResponse(description="The same bytes exist as a file you cannot see."),
            413: OpenApiResponse(description="Larger than INSTRUMENT_FILE_MAX_BYTES."),
        },
        summary="Upload an instrument file (multipart); processing starts on its own",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data  # parses the body (unless middleware already did)
        limit = upload_limit_exceeded(request)
        if limit is not None:
            raise PayloadTooLarge(too_large_message(limit))
        serializer = InstrumentFileUploadSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        user = request.user
        own_instrument = instrument_of(user)

        aliquot = None
        if values.get("aliquot", "").strip():
            # Instrument accounts are trusted lab devices: any existing tube; people: theirs.
            tubes = Aliquot.objects.all() if own_instrument else Aliquot.objects.visible_to(user)
            aliquot = _tube_by_reference(values["aliquot"], queryset=tubes, field="aliquot")
        instrument = self._instrument(values.get("instrument", ""))
        try:
            record, created = intake.register_instrument_file(
                upload=values["file"], user=user, aliquot=aliquot, instrument=instrument
            )
        except intake.FileTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from None
        except intake.DuplicateOfHiddenFile as exc:
            raise Conflict(str(exc)) from None
        if not created:
            return self._detail(record.pk)
        location = reverse("api-instrument-file-detail", args=[record.pk], request=request)
        return self._detail(record.pk, status.HTTP_201_CREATED, headers={"Location": location})

    @staticmethod
    def _instrument(reference: str) -> Instrument | None:
        reference = reference.strip()
        if not reference:
            return None
        instruments = Instrument.objects.all()
        if reference.isdecimal():
            found = instruments.filter(pk=int(reference)).first()
        else:
            found = instruments.filter(name__iexact=reference).first()
        if found is None:
            raise exceptions.ValidationError({"instrument": [f"No instrument {reference!r}."]})
        if not found.is_active:
            raise exceptions.ValidationError(
                {"instrument": [f"{found.name} is marked inactive; ask an administrator."]}
            )
        return found

    # -- following and acting on one file -------------------------------------------------

    @extend_schema(
        responses=InstrumentFileStatusSerializer,
        summary="Where processing of one file stands (cheap to poll)",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="status",
        url_name="status",
        pagination_class=None,
        filter_backends=[],
    )
    def processing_status(self, request: Request, pk: str | None = None) -> Response:
        instrument_file = self.get_object()
        return Response(
            InstrumentFileStatusSerializer(
                instrument_file, context=self.get_serializer_context()
            ).data
        )

    @extend_schema(
        request=None,
        responses={202: InstrumentFileDetailSerializer, 403: _FORBIDDEN},
        summary="Process the file again (e.g. after a parser fix); results are replaced",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reprocess(self, request: Request, pk: str | None = None) -> Response:
        from .. import processing

        instrument_file = self.get_object()
        processing.reprocess_file(instrument_file=instrument_file, user=request.user)
        return self._detail(instrument_file.pk, status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=ResolveSerializer,
        responses={
            200: InstrumentFileDetailSerializer,
            400: _REFUSED,
            403: _FORBIDDEN,
            409: OpenApiResponse(description="The file is not waiting for review."),
        },
        summary="Pick the measured tube for a file that needs review; processing completes",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        from .. import processing

        instrument_file = self.get_object()
        serializer = ResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if instrument_file.status != FileStatus.NEEDS_REVIEW:
            raise Conflict(
                f"This file is {instrument_file.get_status_display().lower()}, not waiting "
                "for review; re-process it instead."
            )
        tube = _tube_by_reference(
            serializer.validated_data["aliquot"],
            queryset=Aliquot.objects.visible_to(request.user),
            field="aliquot",
        )
        try:
            processing.resolve_review(
                instrument_file=instrument_file, aliquot=tube, user=request.user
            )
        except ValidationError as exc:
            # Someone else finished the file between our check and the service's lock.
            raise Conflict(" ".join(exc.messages)) from None
        return self._detail(instrument_file.pk)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The bytes exactly as uploaded."
            ),
            404: OpenApiResponse(description="No such file, or its stored bytes are missing."),
        },
        summary="Download the original file",
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        filter_backends=[],
        renderer_classes=[FastJSONRenderer, DownloadRenderer],
    )
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        instrument_file = self.get_object()
        try:
            handle = instrument_file.file.storage.open(instrument_file.file.name, "rb")
        except (FileNotFoundError, ValueError):
            raise exceptions.NotFound("The stored bytes of this file are missing.") from None
        return FileResponse(
            handle,
            as_attachment=True,
            filename=instrument_file.original_name,
            content_type="application/octet-stream",
        )


# --- Particle measurements ------------------------------------------------------------------


class ParticleMeasurementSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-particle-measurement-detail")
    aliquot_accession = serializers.CharField(source="aliquot.accession", read_only=True)
    sample = serializers.IntegerField(source="aliquot.sample_id", read_only=True)
    sample_accession = serializers.CharField(source="aliquot.sample.accession", read_only=True)
    study_code = serializers.CharField(source="study.code", read_only=True)
    instrument_file_name = serializers.CharField(
        source="instrument_file.original_name", read_only=True
    )

    class Meta:
        model = ParticleMeasurement
        fields = [
            "id",
            "url",
            "instrument_file",
            "instrument_file_name",
            "aliquot",
            "aliquot_accession",
            "sample",
            "sample_accession",
            "study",
            "study_code",
            "method",
            "measured_at",
            "software_version",
            "dilution_factor",
            "concentration_per_ml",
            "concentration_sd_per_ml",
            "replicate_cv_pct",
            "replicates",
            "mean_nm",
            "mode_nm",
            "sd_nm",
            "d10_nm",
            "d50_nm",
            "d90_nm",
            "instrument_warnings",
            "flags",
            "created_at",
        ]
        read_only_fields = fields


class DistributionSerializer(serializers.Serializer):
    bin_centres_nm = serializers.ListField(child=serializers.FloatField())
    mean = serializers.ListField(child=serializers.FloatField(allow_null=True))
    replicates = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True))
    )


class ParticleMeasurementDetailSerializer(ParticleMeasurementSerializer):
    settings = serializers.JSONField(
        read_only=True, help_text="Capture conditions as the instrument reported them."
    )
    distribution = DistributionSerializer(
        read_only=True,
        allow_null=True,
        help_text="Particles/mL of the measured tube per size bin: mean and per replicate.",
    )

    class Meta(ParticleMeasurementSerializer.Meta):
        fields = [*ParticleMeasurementSerializer.Meta.fields, "settings", "distribution"]
        read_only_fields = fields


class ParticleMeasurementFilterSet(FilterSet):
    aliquot = filters.CharFilter(method="by_aliquot", label="Tube accession or id")
    sample = filters.CharFilter(method="by_sample", label="Sample accession or id")
    study = IdFilter(field_name="study_id")
    instrument_file = IdFilter(field_name="instrument_file_id")
    method = ChoicesFilter(choices=ParticleMethod.choices)
    measured_after = filters.IsoDateTimeFilter(
        field_name="measured_at", lookup_expr="gte", label="Measured at or after"
    )
    measured_before = filters.IsoDateTimeFilter(
        field_name="measured_at", lookup_expr="lt", label="Measured before"
    )
    flagged = filters.BooleanFilter(method="by_flagged", label="Has quality flags")

    class Meta:
        model = ParticleMeasurement
        fields = ["study", "instrument_file", "method"]

    def by_aliquot(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _by_accession_or_id(
            queryset, value, id_field="aliquot_id", accession_field="aliquot__accession"
        )

    def by_sample(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _by_accession_or_id(
            queryset,
            value,
            id_field="aliquot__sample_id",
            accession_field="aliquot__sample__accession",
        )

    def by_flagged(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.exclude(flags=[]) if value else queryset.filter(flags=[])


@extend_schema_view(
    list=extend_schema(summary="Particle concentration and size results in your studies"),
    retrieve=extend_schema(
        responses=ParticleMeasurementDetailSerializer,
        summary="One result, with capture settings and the size distribution",
    ),
)
class ParticleMeasurementViewSet(viewsets.ReadOnlyModelViewSet):
    """Particle concentration (particles/mL of the measured tube, dilution applied) and size
    (nm) from NTA / ZetaView files, with quality flags. Results are derived from their file:
    re-processing the file replaces them."""

    queryset = ParticleMeasurement.objects.all()
    serializer_class = ParticleMeasurementSerializer
    filterset_class = ParticleMeasurementFilterSet
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ("id",)
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        queryset = ParticleMeasurement.objects.visible_to(self.request.user).select_related(
            "aliquot__sample", "study", "instrument_file"
        )
        if self.action != "retrieve":
            queryset = queryset.defer("settings", "distribution")
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ParticleMeasurementDetailSerializer
        return ParticleMeasurementSerializer
