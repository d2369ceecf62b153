"""REST endpoints for characterisation beyond particle counts: protein results and plates,
marker results and the marker vocabulary, imaging records and their images, flow and DLS
measurements, qPCR runs and Cq values.

Views stay thin: every change goes through ``assays.characterisation_services`` (or
``assays.protein_services`` for plate maps), which checks the user's role on the tube's
study, validates with the models' rules and stores all or nothing. These classes parse
input, resolve tube references among the tubes the user can see (a foreign tube is "no tube
… in your studies", a 400, never a hint that it exists), check the role early (viewer:
403) and shape the output. Lists and details are scoped with ``visible_to``; another
study's record is a 404. Instrument accounts get 403 everywhere here.

Files (blot images, micrographs, densitometry tables) come as multipart; the stored files
are served by the download actions of the record they belong to, with the same scoping.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import PurePath
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from exolims.api import AwareDateTimeField, Conflict, StudyScopedViewSet
from exolims.history import HistoryActionMixin
from exolims.renderers import FastJSONRenderer
from exolims.upload_handlers import PayloadTooLarge, too_large_message, upload_limit_exceeded
from samples.models import Aliquot
from samples.views.common import accession_candidates

from .. import characterisation_services as services
from .. import protein_services
from ..choices import CurveModel, ImageView, ProteinMethod
from ..curves import CurveError
from ..models import (
    DLSMeasurement,
    FlowMeasurement,
    ImagingImage,
    ImagingRecord,
    Instrument,
    Marker,
    MarkerResult,
    ProteinAssay,
    ProteinMeasurement,
    QPCRResult,
    QPCRRun,
)
from ..permissions import InstrumentAccountPermission
from ..protein import PlateMapError
from .characterisation_filters import (
    DLSMeasurementFilterSet,
    FlowMeasurementFilterSet,
    ImagingRecordFilterSet,
    MarkerFilterSet,
    MarkerResultFilterSet,
    ProteinAssayFilterSet,
    ProteinMeasurementFilterSet,
    QPCRResultFilterSet,
    QPCRRunFilterSet,
)

_REFUSED = OpenApiResponse(description="Refused, with field-level reasons.")
_FORBIDDEN = OpenApiResponse(description="Your role in the study is too low.")
_CONFLICT = OpenApiResponse(description="The record's state refuses the change.")
_SAFE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/tiff"})


# --- Small fields and helpers ---------------------------------------------------------------


class TubeReference(serializers.CharField):
    """A tube by accession (as people type it: "exo-12") or id; resolved by the view among
    the tubes the caller can see."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", "Accession (or id) of the measured tube.")
        super().__init__(**kwargs)


class JSONValue(serializers.JSONField):
    """JSON in a JSON body, or JSON text in a multipart form field."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and data.strip()[:1] in ("[", "{"):
            try:
                return json.loads(data)
            except ValueError:
                self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "kind": {"type": "string"},
                "description": {"type": "string"},
                "result": {"type": "string"},
            },
            "required": ["kind"],
        },
    }
)
class ControlsField(JSONValue):
    """Controls run with the measurement: [{kind, description, result}]."""


def _active_users() -> QuerySet:
    return get_user_model().objects.filter(is_active=True)


def _file_response(field_file, *, attachment: bool) -> FileResponse:
    if not field_file:
        raise exceptions.NotFound("No file is stored for this.")
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except (FileNotFoundError, ValueError):
        raise exceptions.NotFound("The stored file is missing.") from None
    name = PurePath(field_file.name).name
    guessed = mimetypes.guess_type(name)[0]
    content_type = guessed if guessed in _SAFE_IMAGE_TYPES else "application/octet-stream"
    return FileResponse(handle, as_attachment=attachment, filename=name, content_type=content_type)


class ImageRenderer(BaseRenderer):
    """Lets a client that accepts only images (an <img> tag) reach the image and plot
    actions; their bodies are files or SVG text, and an error is still JSON text."""

    media_type = "image/*"
    format = "image"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return b"" if data is None else json.dumps(data).encode()


_FILE_ACTION = {
    "pagination_class": None,
    "filter_backends": [],
    "renderer_classes": [FastJSONRenderer, ImageRenderer],
}
_FILE_RESPONSE = {
    (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The stored image."),
    404: OpenApiResponse(description="No such record, or no file stored."),
}


# --- Read serializers -----------------------------------------------------------------------

RECORD_FIELDS = [
    "id",
    "url",
    "aliquot",
    "aliquot_accession",
    "sample",
    "sample_accession",
    "study",
    "study_code",
    "measured_at",
    "operator",
    "operator_username",
    "instrument",
    "instrument_name",
    "sop",
    "instrument_file",
    "raw_files",
    "controls",
    "notes",
    "created_by",
    "created_by_username",
    "created_at",
    "updated_at",
]
# select_related for RecordSerializer's fields: one query per page.
RECORD_RELATED = ("aliquot__sample", "study", "operator", "instrument", "created_by")


class RecordSerializer(serializers.ModelSerializer):
    """What every characterisation record shows: the tube, its sample and study, who
    measured it when, on which instrument, by which SOP, with which controls."""

    aliquot_accession = serializers.CharField(source="aliquot.accession", read_only=True)
    sample = serializers.IntegerField(source="aliquot.sample_id", read_only=True)
    sample_accession = serializers.CharField(source="aliquot.sample.accession", read_only=True)
    study_code = serializers.CharField(source="study.code", read_only=True)
    operator_username = serializers.CharField(
        source="operator.username", read_only=True, allow_null=True, default=None
    )
    instrument_name = serializers.CharField(
        source="instrument.name", read_only=True, allow_null=True, default=None
    )
    created_by_username = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )
    controls = ControlsField(read_only=True)
    raw_files = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Instrument files holding the raw data."
    )


class ProteinMeasurementSerializer(RecordSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-protein-measurement-detail")
    source = serializers.SerializerMethodField(help_text="plate (from a plate map) or entered.")

    class Meta:
        model = ProteinMeasurement
        fields = [
            *RECORD_FIELDS,
            "source",
            "assay",
            *services.PROTEIN_OWN_FIELDS,
            "total_ug",
            "replicate_cv_pct",
            "wells",
            "flags",
        ]
        read_only_fields = fields

    def get_source(self, obj: ProteinMeasurement) -> str:
        return "plate" if obj.assay_id else "entered"


class MarkerResultSerializer(RecordSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-marker-result-detail")
    marker = serializers.CharField(source="marker.symbol", read_only=True)
    marker_id = serializers.IntegerField(read_only=True)
    marker_name = serializers.CharField(source="marker.name", read_only=True)
    misev_category = serializers.CharField(
        source="marker.category", read_only=True, help_text="MISEV2018 category (1a … 5)."
    )
    misev_category_display = serializers.CharField(
        source="marker.get_category_display", read_only=True
    )
    blot_image_url = serializers.SerializerMethodField()
    has_densitometry = serializers.SerializerMethodField()

    class Meta:
        model = MarkerResult
        fields = [
            *RECORD_FIELDS,
            "marker",
            "marker_id",
            "marker_name",
            "misev_category",
            "misev_category_display",
            # The marker is shown above, by its symbol.
            *(name for name in services.MARKER_OWN_FIELDS if name != "marker"),
            "blot_image_url",
            "has_densitometry",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_blot_image_url(self, obj: MarkerResult) -> str | None:
        if not obj.blot_image:
            return None
        return _absolute(self, "api-marker-result-blot-image", obj.pk)

    def get_has_densitometry(self, obj: MarkerResult) -> bool:
        # Lists defer the table and annotate this instead (see MarkerResultViewSet).
        annotated = getattr(obj, "densitometry_stored", None)
        return annotated if annotated is not None else obj.densitometry is not None


class MarkerResultDetailSerializer(MarkerResultSerializer):
    densitometry = serializers.JSONField(
        read_only=True,
        help_text='The ImageJ/Fiji Results table: {"value_column", "columns", "rows"}.',
    )

    class Meta(MarkerResultSerializer.Meta):
        fields = [*MarkerResultSerializer.Meta.fields, "densitometry"]
        read_only_fields = fields


def _absolute(serializer: serializers.Serializer, name: str, *args: Any) -> str:
    return reverse(name, args=args, request=serializer.context.get("request"))


class ImagingImageSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = ImagingImage
        fields = [
            "id",
            "original_name",
            "sha256",
            "view",
            "scale_nm_per_px",
            "scale_bar_nm",
            "magnification",
            "width_px",
            "height_px",
            "caption",
            "file_url",
            "thumbnail_url",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, obj: ImagingImage) -> str:
        return _absolute(self, "api-imaging-record-image-file", obj.record_id, obj.pk)

    @extend_schema_field(OpenApiTypes.URI)
    def get_thumbnail_url(self, obj: ImagingImage) -> str | None:
        if not obj.thumbnail:
            return None
        return _absolute(self, "api-imaging-record-image-thumbnail", obj.record_id, obj.pk)


class ImagingRecordSerializer(RecordSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-imaging-record-detail")
    images = ImagingImageSerializer(many=True, read_only=True)

    class Meta:
        model = ImagingRecord
        fields = [*RECORD_FIELDS, *services.IMAGING_OWN_FIELDS, "images"]
        read_only_fields = fields


_FLOW_PARSED = [
    "fcs_version",
    "sample_name",
    "cytometer",
    "cytometer_serial",
    "software_version",
    "event_count",
    "channels",
    "trigger",
    "file_volume_ul",
    "warnings",
]


class FlowMeasurementSerializer(RecordSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-flow-measurement-detail")
    instrument_file_name = serializers.CharField(
        source="instrument_file.original_name", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = FlowMeasurement
        fields = [
            *RECORD_FIELDS,
            "instrument_file_name",
            *_FLOW_PARSED,
            "analysed_volume_ul",
            "dilution_factor",
            "event_concentration_per_ml",
            "calibration_beads",
            "refractive_index_assumed",
            "scatter_unit",
            "fluorescence_unit",
            "lod_scatter",
            "lod_fluorescence",
            "gating",
        ]
        read_only_fields = fields


class FlowMeasurementDetailSerializer(FlowMeasurementSerializer):
    keywords = serializers.JSONField(read_only=True, help_text="Every FCS keyword of the file.")

    class Meta(FlowMeasurementSerializer.Meta):
        fields = [*FlowMeasurementSerializer.Meta.fields, "keywords"]
        read_only_fields = fields


class DLSMeasurementSerializer(RecordSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-dls-measurement-detail")

    class Meta:
        model = DLSMeasurement
        fields = [*RECORD_FIELDS, *services.DLS_OWN_FIELDS]
        read_only_fields = fields


class DLSMeasurementDetailSerializer(DLSMeasurementSerializer):
    class Meta(DLSMeasurementSerializer.Meta):
        fields = [*DLSMeasurementSerializer.Meta.fields, "distribution", "zeta_distribution"]
        read_only_fields = fields


class QPCRResultSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-qpcr-result-detail")
    run_name = serializers.CharField(source="run.run_name", read_only=True)
    measured_at = serializers.DateTimeField(source="run.measured_at", read_only=True)
    aliquot_accession = serializers.CharField(
        source="aliquot.accession", read_only=True, allow_null=True, default=None
    )
    sample = serializers.IntegerField(
        source="aliquot.sample_id", read_only=True, allow_null=True, default=None
    )
    sample_accession = serializers.CharField(
        source="aliquot.sample.accession", read_only=True, allow_null=True, default=None
    )
    study_code = serializers.CharField(
        source="study.code", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = QPCRResult
        fields = [
            "id",
            "url",
            "run",
            "run_name",
            "measured_at",
            "aliquot",
            "aliquot_accession",
            "sample",
            "sample_accession",
            "study",
            "study_code",
            "well",
            "sample_name",
            "target",
            "cq",
            "undetermined",
            "task",
            "reporter",
            "quantity",
            "flags",
        ]
        read_only_fields = fields


class QPCRRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-qpcr-run-detail")
    study_code = serializers.CharField(
        source="study.code", read_only=True, allow_null=True, default=None
    )
    instrument_file_name = serializers.CharField(
        source="instrument_file.original_name", read_only=True, allow_null=True, default=None
    )
    operator_username = serializers.CharField(
        source="operator.username", read_only=True, allow_null=True, default=None
    )
    result_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = QPCRRun
        fields = [
            "id",
            "url",
            "run_name",
            "study",
            "study_code",
            "instrument_file",
            "instrument_file_name",
            "instrument",
            "instrument_name",
            "software_version",
            "measured_at",
            "operator",
            "operator_username",
            "sop",
            "sample_map",
            "warnings",
            "result_count",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class QPCRSampleSerializer(serializers.Serializer):
    sample_name = serializers.CharField()
    aliquot = serializers.IntegerField(allow_null=True)
    aliquot_accession = serializers.CharField(allow_null=True)
    mapped = serializers.BooleanField(help_text="Put on its tube by the sample map.")
    wells = serializers.IntegerField()


class QPCRRunDetailSerializer(QPCRRunSerializer):
    results = QPCRResultSerializer(many=True, read_only=True, source="visible_results")
    samples = serializers.SerializerMethodField(
        help_text="Each sample name of the run with the tube its wells are on."
    )

    class Meta(QPCRRunSerializer.Meta):
        fields = [*QPCRRunSerializer.Meta.fields, "samples", "results"]
        read_only_fields = fields

    @extend_schema_field(QPCRSampleSerializer(many=True))
    def get_samples(self, run: QPCRRun) -> list[dict[str, Any]]:
        by_name: dict[str, dict[str, Any]] = {}
        for row in run.visible_results:
            entry = by_name.setdefault(
                row.sample_name,
                {
                    "sample_name": row.sample_name,
                    "aliquot": row.aliquot_id,
                    "aliquot_accession": row.aliquot.accession if row.aliquot_id else None,
                    "mapped": row.sample_name in run.sample_map,
                    "wells": 0,
                },
            )
            entry["wells"] += 1
        return sorted(by_name.values(), key=lambda entry: entry["sample_name"])


class PlateMeasurementSerializer(serializers.ModelSerializer):
    aliquot_accession = serializers.CharField(source="aliquot.accession", read_only=True)

    class Meta:
        model = ProteinMeasurement
        fields = [
            "id",
            "aliquot",
            "aliquot_accession",
            "study",
            "concentration_ug_per_ml",
            "dilution_factor",
            "volume_ml",
            "total_ug",
            "replicate_cv_pct",
            "wells",
            "flags",
        ]
        read_only_fields = fields


class ProteinAssaySerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-protein-assay-detail")
    study_code = serializers.CharField(
        source="study.code", read_only=True, allow_null=True, default=None
    )
    instrument_file_name = serializers.CharField(
        source="instrument_file.original_name", read_only=True, allow_null=True, default=None
    )
    instrument_name = serializers.CharField(
        source="instrument.name", read_only=True, allow_null=True, default=None
    )
    measurement_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ProteinAssay
        fields = [
            "id",
            "url",
            "name",
            "method",
            "study",
            "study_code",
            "instrument_file",
            "instrument_file_name",
            "instrument",
            "instrument_name",
            "rows",
            "columns",
            "read_index",
            "curve_model",
            "subtract_blank",
            "r_squared",
            "status",
            "fit_error",
            "measured_at",
            "operator",
            "sop",
            "notes",
            "measurement_count",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProteinAssayDetailSerializer(ProteinAssaySerializer):
    measurements = PlateMeasurementSerializer(many=True, read_only=True)
    curve_svg_url = serializers.SerializerMethodField()

    class Meta(ProteinAssaySerializer.Meta):
        fields = [
            *ProteinAssaySerializer.Meta.fields,
            "reads",
            "plate_map",
            "curve",
            "curve_svg_url",
            "measurements",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_curve_svg_url(self, obj: ProteinAssay) -> str | None:
        if obj.curve is None:
            return None
        return _absolute(self, "api-protein-assay-curve-svg", obj.pk)


class MarkerSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-marker-detail")
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    is_family = serializers.BooleanField(read_only=True)
    aliases = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, help_text='e.g. ["ALIX"]'
    )
    result_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Marker
        fields = [
            "id",
            "url",
            "symbol",
            "name",
            "aliases",
            "category",
            "category_display",
            "is_builtin",
            "is_family",
            "source",
            "result_count",
            "updated_at",
        ]
        read_only_fields = ["is_builtin", "updated_at"]
        # The service checks the symbol (with its own messages), after upper-casing it.
        extra_kwargs = {"symbol": {"validators": []}}


class MarkerLookupSerializer(serializers.Serializer):
    query = serializers.CharField()
    matched_by = serializers.ChoiceField(choices=["symbol", "alias", "family"])
    category = serializers.CharField()
    category_display = serializers.CharField()
    marker = MarkerSerializer()


# --- Write serializers ----------------------------------------------------------------------


class RecordWriteSerializer(serializers.ModelSerializer):
    """Input shared by entered records; the service applies the rules."""

    aliquot = TubeReference()
    measured_at = AwareDateTimeField(required=False, allow_null=True)
    operator = serializers.PrimaryKeyRelatedField(
        queryset=_active_users(),
        required=False,
        allow_null=True,
        help_text="User id; defaults to you.",
    )
    instrument = serializers.PrimaryKeyRelatedField(
        queryset=Instrument.objects.all(), required=False, allow_null=True
    )
    controls = ControlsField(required=False)
    raw_files = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=services.MAX_RAW_FILES,
        help_text="Ids of instrument files (uploaded raw data) to link to the record.",
    )

    COMMON = ["aliquot", *services.COMMON_FIELDS]


class ProteinMeasurementWriteSerializer(RecordWriteSerializer):
    class Meta:
        model = ProteinMeasurement
        fields = [
            *RecordWriteSerializer.COMMON,
            *services.PROTEIN_OWN_FIELDS,
        ]
        extra_kwargs = {
            "concentration_ug_per_ml": {
                "help_text": "In the tube (any dilution already applied), µg/mL."
            },
            "volume_ml": {
                "help_text": "Volume the total refers to; default the preparation's volume."
            },
        }


class MarkerResultWriteSerializer(RecordWriteSerializer):
    marker = serializers.CharField(
        max_length=40, help_text="HGNC symbol or alias, e.g. CD63 or ALIX."
    )
    blot_image = serializers.FileField(
        required=False, write_only=True, help_text="PNG, JPEG or TIFF, at most 50 MB."
    )
    densitometry_file = serializers.FileField(
        required=False, write_only=True, help_text="ImageJ/Fiji Results table (CSV or text)."
    )

    class Meta:
        model = MarkerResult
        fields = [
            *RecordWriteSerializer.COMMON,
            *services.MARKER_OWN_FIELDS,
            "blot_image",
            "densitometry_file",
        ]


class ImageDetailsSerializer(serializers.Serializer):
    view = serializers.ChoiceField(choices=ImageView.choices)
    scale_nm_per_px = serializers.FloatField(required=False, allow_null=True, min_value=0)
    scale_bar_nm = serializers.FloatField(required=False, allow_null=True, min_value=0)
    magnification = serializers.CharField(required=False, allow_blank=True, max_length=40)
    caption = serializers.CharField(required=False, allow_blank=True, max_length=300)


class ImageUploadSerializer(ImageDetailsSerializer):
    image = serializers.FileField(help_text="PNG, JPEG or TIFF (16-bit TIFF is fine).")


@extend_schema_field(ImageDetailsSerializer(many=True))
class ImageDetailsField(JSONValue):
    """Per-image details, in the order of the uploaded ``images``."""


class ImagingRecordWriteSerializer(RecordWriteSerializer):
    images = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        write_only=True,
        help_text="Images to attach (multipart; repeat the field). More via images/.",
    )
    image_details = ImageDetailsField(
        required=False,
        write_only=True,
        help_text='JSON list, one per image: [{"view": "wide_field", "scale_nm_per_px": 1.2}].',
    )

    class Meta:
        model = ImagingRecord
        fields = [
            *RecordWriteSerializer.COMMON,
            *services.IMAGING_OWN_FIELDS,
            "images",
            "image_details",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        images = attrs.get("images") or []
        details = attrs.get("image_details")
        if details is None:
            details = []
        if not isinstance(details, list) or len(details) != len(images):
            raise serializers.ValidationError(
                {"image_details": ["Give one details object per uploaded image, in order."]}
            )
        checked = []
        for number, item in enumerate(details, start=1):
            serializer = ImageDetailsSerializer(data=item)
            if not serializer.is_valid():
                raise serializers.ValidationError(
                    {"image_details": [f"Image {number}: {serializer.errors}"]}
                )
            checked.append(dict(serializer.validated_data))
        attrs["image_details"] = checked
        return attrs


class FlowReportingSerializer(serializers.ModelSerializer):
    controls = ControlsField(required=False)

    class Meta:
        model = FlowMeasurement
        fields = list(services.FLOW_REPORTING_FIELDS)


class DLSMeasurementWriteSerializer(RecordWriteSerializer):
    peaks = JSONValue(required=False, help_text="[{size_nm, intensity_pct, width_nm}, …]")

    class Meta:
        model = DLSMeasurement
        fields = [*RecordWriteSerializer.COMMON, *services.DLS_OWN_FIELDS]


class QPCRRowSerializer(serializers.ModelSerializer):
    cq = serializers.FloatField(
        required=False, allow_null=True, help_text="null or left out: undetermined."
    )

    class Meta:
        model = QPCRResult
        fields = list(services.QPCR_ROW_FIELDS)


class QPCREntrySerializer(serializers.Serializer):
    aliquot = TubeReference()
    run_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    measured_at = AwareDateTimeField(required=False, allow_null=True)
    instrument = serializers.PrimaryKeyRelatedField(
        queryset=Instrument.objects.all(), required=False, allow_null=True
    )
    sop = serializers.CharField(required=False, allow_blank=True, max_length=200)
    results = QPCRRowSerializer(many=True, allow_empty=False)


class QPCREntryResultSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    count = serializers.IntegerField()
    results = QPCRResultSerializer(many=True)


class SampleMapSerializer(serializers.Serializer):
    sample_map = serializers.DictField(
        child=serializers.IntegerField(allow_null=True, min_value=1),
        help_text='Sample name → tube id (null: no tube), e.g. {"Plasma A": 42}.',
    )


class PlateCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, allow_blank=True, required=False, default="")
    method = serializers.ChoiceField(choices=ProteinMethod.choices)
    rows = serializers.IntegerField(required=False, default=8, min_value=1, max_value=16)
    columns = serializers.IntegerField(required=False, default=12, min_value=1, max_value=48)
    values = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text='Well → reading, e.g. {"A1": 0.123}; null for an empty well.',
    )
    wavelength_nm = serializers.FloatField(required=False, allow_null=True)
    measured_at = AwareDateTimeField(required=False, allow_null=True)
    instrument = serializers.PrimaryKeyRelatedField(
        queryset=Instrument.objects.all(), required=False, allow_null=True
    )
    sop = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    plate_map = serializers.DictField(
        child=serializers.DictField(),
        required=False,
        help_text="Optional: the map at once (see plate-map/).",
    )
    curve_model = serializers.ChoiceField(choices=CurveModel.choices, required=False)
    subtract_blank = serializers.BooleanField(required=False)


class PlateMapSerializer(serializers.Serializer):
    plate_map = serializers.DictField(
        child=serializers.DictField(),
        help_text='Well → {"role": standard|blank|sample|control|empty, "concentration" '
        '(µg/mL, standards), "sample" (tube id), "dilution" (factor ≥ 1), "name"}.',
    )
    method = serializers.ChoiceField(choices=ProteinMethod.choices, required=False)
    curve_model = serializers.ChoiceField(choices=CurveModel.choices, required=False)
    subtract_blank = serializers.BooleanField(required=False)
    read_index = serializers.IntegerField(required=False, min_value=0)


# --- Permissions ----------------------------------------------------------------------------


class MarkerVocabularyPermission(BasePermission):
    """Reading: any signed-in person. Changing: staff or the manager of any study."""

    message = "Changing the marker vocabulary needs staff rights or a study's manager role."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return services.can_edit_markers(user)


# --- Base viewset ---------------------------------------------------------------------------


class ConflictAsHttp409:
    """A service's StateConflict is about the record, not the input: 409, not 400."""

    def handle_exception(self, exc):
        if isinstance(exc, services.StateConflict):
            exc = Conflict(" ".join(exc.messages))
        return super().handle_exception(exc)


def _refuse_oversized(request: Request) -> None:
    limit = upload_limit_exceeded(request)
    if limit is not None:
        raise PayloadTooLarge(too_large_message(limit))


def _tube(reference: str, user) -> Aliquot:
    """A tube the user can see, by accession or id; a 400 on ``aliquot`` otherwise."""
    text = (reference or "").strip()
    visible = Aliquot.objects.visible_to(user)
    if text.isdecimal():
        tube = visible.filter(pk=int(text)).select_related("study").first()
    else:
        tube = (
            visible.filter(accession__in=accession_candidates(text)).select_related("study").first()
        )
    if tube is None:
        raise exceptions.ValidationError({"aliquot": [f"No tube {text} in your studies."]})
    return tube


class RecordViewSet(ConflictAsHttp409, StudyScopedViewSet):
    """Entered records on one tube: create through ``record``, change through ``change``,
    delete through ``services.delete_record``. ``detail_serializer_class`` shows the big
    fields a list leaves out."""

    write_serializer_class: type[serializers.Serializer] | None = None
    detail_serializer_class: type[serializers.Serializer] | None = None
    related: tuple[str, ...] = RECORD_RELATED
    list_defer: tuple[str, ...] = ()

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset().select_related(*self.related)
        if "raw_files" in getattr(self.serializer_class.Meta, "fields", ()):
            queryset = queryset.prefetch_related("raw_files")
        if self.action == "list" and self.list_defer:
            queryset = queryset.defer(*self.list_defer)
        return queryset

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update") and self.write_serializer_class:
            return self.write_serializer_class
        if self.action != "list" and self.detail_serializer_class is not None:
            return self.detail_serializer_class
        return self.serializer_class

    def read(self, pk: int) -> dict[str, Any]:
        model = self.queryset.model
        obj = model.objects.select_related(*self.related).prefetch_related("raw_files").get(pk=pk)
        serializer_class = self.detail_serializer_class or self.serializer_class
        return serializer_class(obj, context=self.get_serializer_context()).data

    def body(self, *, partial: bool = False) -> dict[str, Any]:
        data = self.request.data
        _refuse_oversized(self.request)
        serializer = self.write_serializer_class(
            data=data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def record(self, tube: Aliquot, data: dict[str, Any]):  # pragma: no cover - per view
        raise NotImplementedError

    def change(self, obj, data: dict[str, Any]):  # pragma: no cover - per view
        raise NotImplementedError

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.check_can_create()
        data = self.body()
        tube = _tube(data.pop("aliquot"), request.user)
        self.check_write(tube.study)
        obj = self.record(tube, data)
        return Response(self.read(obj.pk), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        data = self.body(partial=kwargs.get("partial", False))
        reference = data.pop("aliquot", None)
        if reference is not None and _tube(reference, request.user).pk != obj.aliquot_id:
            raise exceptions.ValidationError(
                {"aliquot": ["A result stays on its tube; delete it and record it again."]}
            )
        obj = self.change(obj, data)
        return Response(self.read(obj.pk))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        services.delete_record(user=request.user, record=obj)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Protein --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Protein concentrations in your studies (plates and entered)"),
    create=extend_schema(
        request=ProteinMeasurementWriteSerializer,
        responses={201: ProteinMeasurementSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Enter a protein concentration for a tube (e.g. Qubit)",
    ),
    update=extend_schema(
        request=ProteinMeasurementWriteSerializer,
        responses={200: ProteinMeasurementSerializer, 400: _REFUSED, 409: _CONFLICT},
    ),
    partial_update=extend_schema(
        request=ProteinMeasurementWriteSerializer,
        responses={200: ProteinMeasurementSerializer, 400: _REFUSED, 409: _CONFLICT},
        summary="Correct an entered result (a plate's results follow its plate map: 409)",
    ),
    destroy=extend_schema(responses={204: None, 409: _CONFLICT}),
)
class ProteinMeasurementViewSet(HistoryActionMixin, RecordViewSet):
    """Protein concentration of tubes: µg/mL in the tube (dilution applied) and total µg in
    the preparation's volume, from a plate (``assay``) or entered."""

    queryset = ProteinMeasurement.objects.all()
    serializer_class = ProteinMeasurementSerializer
    write_serializer_class = ProteinMeasurementWriteSerializer
    filterset_class = ProteinMeasurementFilterSet

    def record(self, tube: Aliquot, data: dict[str, Any]) -> ProteinMeasurement:
        return services.record_protein_measurement(user=self.request.user, aliquot=tube, data=data)

    def change(self, obj: ProteinMeasurement, data: dict[str, Any]) -> ProteinMeasurement:
        return services.update_protein_measurement(
            user=self.request.user, measurement=obj, data=data
        )


@extend_schema_view(
    list=extend_schema(summary="Protein plates you entered, uploaded or that hold your tubes"),
    retrieve=extend_schema(
        responses=ProteinAssayDetailSerializer,
        summary="A plate: its reads, plate map, fitted curve and per-tube results",
    ),
    destroy=extend_schema(responses={204: None, 403: _FORBIDDEN}),
)
class ProteinAssayViewSet(
    ConflictAsHttp409,
    HistoryActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Protein plates (BCA, micro-BCA, Bradford, …): from a plate-reader file or typed in.
    ``plate-map/`` says what each well holds and recomputes the curve and the results."""

    queryset = ProteinAssay.objects.all()
    serializer_class = ProteinAssaySerializer
    filterset_class = ProteinAssayFilterSet
    filter_backends = StudyScopedViewSet.filter_backends
    ordering_fields = ("id",)
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet:
        user = self.request.user
        queryset = ProteinAssay.objects.visible_to(user).select_related(
            "study", "instrument", "instrument_file"
        )
        if self.action == "list":
            return queryset.defer("reads", "plate_map", "curve").annotate(
                measurement_count=Count("measurements")
            )
        return queryset

    def get_serializer_class(self):
        return ProteinAssaySerializer if self.action == "list" else ProteinAssayDetailSerializer

    def _detail(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        user = self.request.user
        measurements = ProteinMeasurement.objects.visible_to(user).select_related("aliquot")
        assay = (
            ProteinAssay.objects.select_related("study", "instrument", "instrument_file")
            .annotate(measurement_count=Count("measurements"))
            .prefetch_related(Prefetch("measurements", queryset=measurements.order_by("id")))
            .get(pk=pk)
        )
        return Response(
            ProteinAssayDetailSerializer(assay, context=self.get_serializer_context()).data,
            status=code,
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._detail(self.get_object().pk)

    def _editable(self) -> ProteinAssay:
        assay = self.get_object()
        if not services.can_edit_plate(self.request.user, assay):
            raise exceptions.PermissionDenied(
                "You need the editor role in the studies whose tubes this plate holds."
            )
        return assay

    def _save_map(self, assay: ProteinAssay, data: dict[str, Any]) -> None:
        protein_services.save_plate_map(
            assay,
            user=self.request.user,
            plate_map=data["plate_map"],
            method=data.get("method"),
            curve_model=data.get("curve_model"),
            subtract_blank=data.get("subtract_blank"),
            read_index=data.get("read_index"),
        )

    @extend_schema(
        request=PlateCreateSerializer,
        responses={201: ProteinAssayDetailSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Enter a plate by hand (well readings), optionally with its plate map",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = PlateCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        plate_map = data.pop("plate_map", None)
        settings = {key: data.pop(key) for key in ("curve_model", "subtract_blank") if key in data}
        with transaction.atomic():
            assay = services.create_plate(user=request.user, **data)
            if plate_map is not None:
                self._save_map(assay, {"plate_map": plate_map, **settings})
        return self._detail(assay.pk, status.HTTP_201_CREATED)

    @extend_schema(
        request=PlateMapSerializer,
        responses={200: ProteinAssayDetailSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Save the plate map and settings; the curve and results are recomputed",
    )
    @action(detail=True, methods=["post"], url_path="plate-map", filter_backends=[])
    def plate_map(self, request: Request, pk: str | None = None) -> Response:
        assay = self._editable()
        serializer = PlateMapSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._save_map(assay, dict(serializer.validated_data))
        return self._detail(assay.pk)

    @extend_schema(
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.STR, description="SVG plot."),
            404: OpenApiResponse(description="No such plate, or no fitted curve."),
        },
        summary="The standard curve with the standards and samples, as SVG",
    )
    @action(detail=True, methods=["get"], url_path="curve.svg", **_FILE_ACTION)
    def curve_svg(self, request: Request, pk: str | None = None) -> HttpResponse:
        from ..curve_plot import standard_curve_svg

        assay = self.get_object()
        try:
            quantification = protein_services.quantify_assay(assay)
        except (CurveError, PlateMapError):
            raise exceptions.NotFound("This plate has no fitted curve yet.") from None
        svg = standard_curve_svg(quantification, title=str(assay))
        return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        assay = self._editable()
        services.delete_record(user=request.user, record=assay)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Markers --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="The marker vocabulary (HGNC symbol → MISEV category)"),
    create=extend_schema(responses={201: MarkerSerializer, 400: _REFUSED, 403: _FORBIDDEN}),
    destroy=extend_schema(responses={204: None, 409: _CONFLICT}),
)
class MarkerViewSet(ConflictAsHttp409, HistoryActionMixin, viewsets.ModelViewSet):
    """The lab's marker vocabulary: symbol, aliases and MISEV2018 category. Anyone signed
    in reads it; staff and study managers change it. A family pattern (ITGA*) classifies
    members not listed one by one. A marker used by a result cannot be deleted (409)."""

    queryset = Marker.objects.all()
    serializer_class = MarkerSerializer
    permission_classes = [InstrumentAccountPermission, MarkerVocabularyPermission]
    filterset_class = MarkerFilterSet
    filter_backends = StudyScopedViewSet.filter_backends
    ordering_fields = ("id", "symbol")
    ordering = ("symbol",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        return Marker.objects.annotate(result_count=Count("results"))

    def _respond(self, marker: Marker, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=marker.pk)
        return Response(
            MarkerSerializer(fresh, context=self.get_serializer_context()).data, status=code
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        marker = services.save_marker(user=request.user, data=serializer.validated_data)
        return self._respond(marker, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        marker = self.get_object()
        serializer = self.get_serializer(
            marker, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        marker = services.save_marker(
            user=request.user, data=serializer.validated_data, marker=marker
        )
        return self._respond(marker)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.delete_marker(user=request.user, marker=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "symbol", OpenApiTypes.STR, required=True, description="Symbol or alias."
            )
        ],
        responses={
            200: MarkerLookupSerializer,
            400: _REFUSED,
            404: OpenApiResponse(description="Not in the vocabulary."),
        },
        summary="Classify a symbol or alias: the vocabulary row and its MISEV category",
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def lookup(self, request: Request) -> Response:
        text = (request.query_params.get("symbol") or "").strip()
        if not text:
            raise exceptions.ValidationError({"symbol": ["Give a symbol, e.g. ?symbol=CD63."]})
        marker = Marker.objects.lookup(text)
        if marker is None:
            raise exceptions.NotFound(
                f"Unknown marker '{text}'. Add it to the marker vocabulary with its MISEV "
                "category first."
            )
        key = text.upper()
        matched_by = "symbol" if marker.symbol == key else "family" if marker.is_family else "alias"
        marker = self.get_queryset().get(pk=marker.pk)
        return Response(
            {
                "query": text,
                "matched_by": matched_by,
                "category": marker.category,
                "category_display": marker.get_category_display(),
                "marker": MarkerSerializer(marker, context=self.get_serializer_context()).data,
            }
        )


@extend_schema_view(
    list=extend_schema(summary="Marker results (western blot, ELISA, …) in your studies"),
    retrieve=extend_schema(responses=MarkerResultDetailSerializer),
    create=extend_schema(
        request={
            "multipart/form-data": MarkerResultWriteSerializer,
            "application/json": MarkerResultWriteSerializer,
        },
        responses={201: MarkerResultDetailSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Record whether a marker was found in a tube (blot image and densitometry "
        "table as multipart)",
    ),
    update=extend_schema(
        request=MarkerResultWriteSerializer, responses={200: MarkerResultDetailSerializer}
    ),
    partial_update=extend_schema(
        request=MarkerResultWriteSerializer, responses={200: MarkerResultDetailSerializer}
    ),
)
class MarkerResultViewSet(HistoryActionMixin, RecordViewSet):
    """Whether a marker (by HGNC symbol or alias) was detected in a tube, by which method and
    antibody, with the blot image and the ImageJ/Fiji densitometry table."""

    queryset = MarkerResult.objects.all()
    serializer_class = MarkerResultSerializer
    detail_serializer_class = MarkerResultDetailSerializer
    write_serializer_class = MarkerResultWriteSerializer
    filterset_class = MarkerResultFilterSet
    related = (*RECORD_RELATED, "marker")
    list_defer = ("densitometry",)

    def get_queryset(self) -> QuerySet:
        stored = ExpressionWrapper(Q(densitometry__isnull=False), output_field=BooleanField())
        return super().get_queryset().annotate(densitometry_stored=stored)

    def _files(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "blot_image": data.pop("blot_image", None),
            "densitometry_file": data.pop("densitometry_file", None),
        }

    def record(self, tube: Aliquot, data: dict[str, Any]) -> MarkerResult:
        files = self._files(data)
        return services.record_marker_result(
            user=self.request.user, aliquot=tube, data=data, **files
        )

    def change(self, obj: MarkerResult, data: dict[str, Any]) -> MarkerResult:
        files = self._files(data)
        return services.update_marker_result(user=self.request.user, result=obj, data=data, **files)

    @extend_schema(responses=_FILE_RESPONSE, summary="The blot image as uploaded")
    @action(detail=True, methods=["get"], url_path="blot-image", **_FILE_ACTION)
    def blot_image(self, request: Request, pk: str | None = None) -> FileResponse:
        return _file_response(self.get_object().blot_image, attachment=True)


# --- Imaging --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Imaging records (TEM, cryo-EM, AFM, …) in your studies"),
    create=extend_schema(
        request={
            "multipart/form-data": ImagingRecordWriteSerializer,
            "application/json": ImagingRecordWriteSerializer,
        },
        responses={201: ImagingRecordSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Record an imaging session of a tube, with images (multipart)",
    ),
    update=extend_schema(
        request=ImagingRecordWriteSerializer, responses={200: ImagingRecordSerializer}
    ),
    partial_update=extend_schema(
        request=ImagingRecordWriteSerializer, responses={200: ImagingRecordSerializer}
    ),
)
class ImagingRecordViewSet(HistoryActionMixin, RecordViewSet):
    """Imaging of a tube's vesicles: method, stain, grid, what was seen, sizes measured, and
    the images with their scale (a wide-field and a close-up view, as MISEV asks)."""

    queryset = ImagingRecord.objects.all()
    serializer_class = ImagingRecordSerializer
    write_serializer_class = ImagingRecordWriteSerializer
    filterset_class = ImagingRecordFilterSet

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().prefetch_related("images")

    def read(self, pk: int) -> dict[str, Any]:
        obj = (
            ImagingRecord.objects.select_related(*self.related)
            .prefetch_related("images")
            .get(pk=pk)
        )
        return ImagingRecordSerializer(obj, context=self.get_serializer_context()).data

    def record(self, tube: Aliquot, data: dict[str, Any]) -> ImagingRecord:
        uploads = data.pop("images", None) or []
        details = data.pop("image_details", None) or []
        return services.record_imaging(
            user=self.request.user,
            aliquot=tube,
            data=data,
            images=list(zip(uploads, details, strict=True)),
        )

    def change(self, obj: ImagingRecord, data: dict[str, Any]) -> ImagingRecord:
        if data.pop("images", None) or data.pop("image_details", None):
            raise exceptions.ValidationError(
                {"images": ["Add images with POST images/; delete one with DELETE images/{id}/."]}
            )
        return services.update_imaging_record(user=self.request.user, record=obj, data=data)

    def _image(self, record: ImagingRecord, image_id: str) -> ImagingImage:
        image = record.images.filter(pk=int(image_id)).first()
        if image is None:
            raise Http404
        return image

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer},
        responses={201: ImagingImageSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Add an image (PNG, JPEG or TIFF) with its view and scale",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def images(self, request: Request, pk: str | None = None) -> Response:
        record = self.get_object()
        _refuse_oversized(request)
        serializer = ImageUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        upload = fields.pop("image")
        image = services.add_image(user=request.user, record=record, upload=upload, **fields)
        return Response(
            ImagingImageSerializer(image, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={204: None, 403: _FORBIDDEN}, summary="Delete one image")
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"images/(?P<image_id>[0-9]+)",
        filter_backends=[],
    )
    def delete_image(self, request: Request, pk: str | None = None, image_id: str = "") -> Response:
        image = self._image(self.get_object(), image_id)
        services.delete_record(user=request.user, record=image)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=_FILE_RESPONSE, summary="An image as uploaded")
    @action(
        detail=True, methods=["get"], url_path=r"images/(?P<image_id>[0-9]+)/file", **_FILE_ACTION
    )
    def image_file(self, request: Request, pk: str | None = None, image_id: str = ""):
        return _file_response(self._image(self.get_object(), image_id).image, attachment=True)

    @extend_schema(responses=_FILE_RESPONSE, summary="An image's PNG preview (≤ 320 px)")
    @action(
        detail=True,
        methods=["get"],
        url_path=r"images/(?P<image_id>[0-9]+)/thumbnail",
        **_FILE_ACTION,
    )
    def image_thumbnail(self, request: Request, pk: str | None = None, image_id: str = ""):
        image = self._image(self.get_object(), image_id)
        return _file_response(image.thumbnail, attachment=False)


# --- Flow and DLS ---------------------------------------------------------------------------


_FLOW_READ_ONLY = frozenset(FlowMeasurementDetailSerializer.Meta.fields) - frozenset(
    services.FLOW_REPORTING_FIELDS
)


@extend_schema_view(
    list=extend_schema(summary="Flow cytometry acquisitions (FCS) in your studies"),
    retrieve=extend_schema(responses=FlowMeasurementDetailSerializer),
    partial_update=extend_schema(
        request=FlowReportingSerializer,
        responses={200: FlowMeasurementDetailSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Add the MIFlowCyt-EV reporting fields (what the FCS file does not say)",
    ),
)
class FlowMeasurementViewSet(HistoryActionMixin, RecordViewSet):
    """One FCS acquisition of a tube. The file's keywords, channels and event count are
    read-only; PATCH adds calibration, refractive index, units, limits of detection,
    gating, analysed volume and dilution (events per mL follow)."""

    queryset = FlowMeasurement.objects.all()
    serializer_class = FlowMeasurementSerializer
    detail_serializer_class = FlowMeasurementDetailSerializer
    write_serializer_class = FlowReportingSerializer
    filterset_class = FlowMeasurementFilterSet
    related = (*RECORD_RELATED, "instrument_file")
    list_defer = ("keywords",)
    http_method_names = ["get", "patch", "head", "options"]

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        given = request.data.keys() if hasattr(request.data, "keys") else ()
        parsed = sorted(name for name in given if name in _FLOW_READ_ONLY)
        if parsed:
            raise exceptions.ValidationError(
                {
                    name: ["Read from the FCS file; re-process the file to change it."]
                    for name in parsed
                }
            )
        return super().update(request, *args, partial=True, **kwargs)

    def change(self, obj: FlowMeasurement, data: dict[str, Any]) -> FlowMeasurement:
        return services.update_flow_reporting(user=self.request.user, measurement=obj, data=data)


@extend_schema_view(
    list=extend_schema(summary="DLS size and zeta-potential results in your studies"),
    retrieve=extend_schema(responses=DLSMeasurementDetailSerializer),
    create=extend_schema(
        request=DLSMeasurementWriteSerializer,
        responses={201: DLSMeasurementDetailSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Enter a DLS size or zeta result for a tube",
    ),
)
class DLSMeasurementViewSet(RecordViewSet):
    """Dynamic light scattering (Z-average, PDI) and zeta potential of tubes, from Zetasizer
    files or entered. Distributions only in the detail."""

    queryset = DLSMeasurement.objects.all()
    serializer_class = DLSMeasurementSerializer
    detail_serializer_class = DLSMeasurementDetailSerializer
    write_serializer_class = DLSMeasurementWriteSerializer
    filterset_class = DLSMeasurementFilterSet
    list_defer = ("distribution", "zeta_distribution", "extra")
    http_method_names = ["get", "post", "delete", "head", "options"]

    def record(self, tube: Aliquot, data: dict[str, Any]) -> DLSMeasurement:
        return services.record_dls_measurement(user=self.request.user, aliquot=tube, data=data)


# --- qPCR -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="qPCR runs (files and entered Cq values) you can see"),
    retrieve=extend_schema(
        responses=QPCRRunDetailSerializer,
        summary="A run: its sample names with their tubes, and the Cq values you may see",
    ),
)
class QPCRRunViewSet(
    ConflictAsHttp409, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """qPCR runs. ``sample-map/`` says which tube each sample name of the run is, where the
    names carry no accession; the rows are then put on their tubes."""

    queryset = QPCRRun.objects.all()
    serializer_class = QPCRRunSerializer
    filterset_class = QPCRRunFilterSet
    filter_backends = StudyScopedViewSet.filter_backends
    ordering_fields = ("id",)
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        queryset = QPCRRun.objects.visible_to(self.request.user).select_related(
            "study", "instrument_file", "operator"
        )
        if self.action == "list":
            # The run scope is DISTINCT; counting in a subquery keeps it a plain list.
            counts = (
                QPCRResult.objects.filter(run=OuterRef("pk"))
                .order_by()
                .values("run")
                .annotate(n=Count("id"))
                .values("n")
            )
            queryset = queryset.annotate(
                result_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0)
            )
        return queryset

    def get_serializer_class(self):
        return QPCRRunSerializer if self.action == "list" else QPCRRunDetailSerializer

    def _detail(self, pk: int) -> Response:
        rows = (
            QPCRResult.objects.visible_to(self.request.user)
            .select_related("aliquot__sample", "study", "run")
            .order_by("well", "target", "id")
        )
        run = (
            QPCRRun.objects.select_related("study", "instrument_file", "operator")
            .annotate(result_count=Count("results"))
            .prefetch_related(Prefetch("results", queryset=rows, to_attr="visible_results"))
            .get(pk=pk)
        )
        return Response(QPCRRunDetailSerializer(run, context=self.get_serializer_context()).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._detail(self.get_object().pk)

    @extend_schema(
        request=SampleMapSerializer,
        responses={200: QPCRRunDetailSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Map the run's sample names to tubes; results move to their tubes",
    )
    @action(detail=True, methods=["post"], url_path="sample-map", filter_backends=[])
    def sample_map(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        serializer = SampleMapSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.map_qpcr_samples(
            user=request.user, run=run, sample_map=serializer.validated_data["sample_map"]
        )
        return self._detail(run.pk)


@extend_schema_view(
    list=extend_schema(summary="Cq values on tubes of your studies (and of runs you can see)"),
    create=extend_schema(
        request=QPCREntrySerializer,
        responses={201: QPCREntryResultSerializer, 400: _REFUSED, 403: _FORBIDDEN},
        summary="Enter Cq values for a tube (a run without a file)",
    ),
)
class QPCRResultViewSet(RecordViewSet):
    """Cq values, one per well and target (null Cq: undetermined). Entered values make a
    run without a file; values from files come with their run."""

    queryset = QPCRResult.objects.all()
    serializer_class = QPCRResultSerializer
    filterset_class = QPCRResultFilterSet
    related = ("aliquot__sample", "study", "run")
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_class(self):
        return QPCREntrySerializer if self.action == "create" else QPCRResultSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.check_can_create()
        serializer = QPCREntrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tube = _tube(data.pop("aliquot"), request.user)
        self.check_write(tube.study)
        rows = [dict(row) for row in data.pop("results")]
        try:
            run = services.record_qpcr_results(user=request.user, aliquot=tube, rows=rows, **data)
        except DjangoValidationError as exc:
            if "rows" in getattr(exc, "error_dict", {}):
                exc.error_dict["results"] = exc.error_dict.pop("rows")
            raise
        results = QPCRResult.objects.filter(run=run).select_related(*self.related).order_by("id")
        body = {
            "run": run.pk,
            "count": len(results),
            "results": QPCRResultSerializer(
                results, many=True, context=self.get_serializer_context()
            ).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)
