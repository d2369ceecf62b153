"""``/api/v1/labels/``: label files (PDF or ZPL) for accessions or a whole box, and the
catalogue of label stocks. Printing changes nothing, so any member of a study may print."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exolims.renderers import FastJSONRenderer

from ..label_views import MAX_SELECTION, box_labels, find_labels, label_response, split_accessions
from ..labels import (
    DEFAULT_STOCK,
    DPI_CHOICES,
    FORMATS,
    MAX_COPIES,
    STOCKS,
    LabelError,
    render_labels,
)
from ..models import StorageUnit


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Here ``format`` is the label format (pdf|zpl), not DRF's renderer override, and
    errors are always JSON; the label file itself bypasses renderers."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class LabelRequestError(exceptions.APIException):
    status_code = 400
    default_code = "invalid"


class LabelOptionsSerializer(serializers.Serializer):
    stock = serializers.ChoiceField(
        choices=[(stock.key, stock.name) for stock in STOCKS.values()],
        default=DEFAULT_STOCK,
        help_text="Label stock key (see GET /api/v1/labels/stocks/).",
    )
    format = serializers.ChoiceField(
        choices=FORMATS, default="pdf", help_text="pdf, or zpl for Zebra printers."
    )
    dpi = serializers.ChoiceField(
        choices=DPI_CHOICES, default=300, help_text="ZPL only: the printer's resolution."
    )
    offset = serializers.IntegerField(
        min_value=0,
        default=0,
        help_text="Sheets only: labels already used on the first sheet (they stay blank).",
    )
    copies = serializers.IntegerField(min_value=1, max_value=MAX_COPIES, default=1)


class AccessionLabelsSerializer(LabelOptionsSerializer):
    accessions = serializers.CharField(
        help_text=f"Comma-separated accessions of samples or aliquots, at most {MAX_SELECTION}."
    )

    def validate_accessions(self, value: str) -> list[str]:
        accessions = split_accessions(value)
        if not accessions:
            raise serializers.ValidationError("Give at least one accession.")
        if len(accessions) > MAX_SELECTION:
            raise serializers.ValidationError(f"At most {MAX_SELECTION} accessions at once.")
        return accessions


class LabelStockSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    width_mm = serializers.FloatField()
    height_mm = serializers.FloatField()
    is_roll = serializers.BooleanField(help_text="A roll for a label printer: one label per page.")
    per_page = serializers.IntegerField()


LABEL_RESPONSES = {
    (200, "application/pdf"): OpenApiResponse(
        OpenApiTypes.BINARY, description="The label file: PDF, or ZPL text for Zebra printers."
    ),
    (200, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR, description="ZPL: one ^XA…^XZ block per label."
    ),
    400: OpenApiResponse(description="Unknown accession or stock, or options that do not fit."),
}


class _LabelFileView(APIView):
    content_negotiation_class = JSONOnlyNegotiation
    renderer_classes = [FastJSONRenderer]

    def respond(self, rows, options: dict, *, name: str):
        try:
            file = render_labels(
                [row.label for row in rows],
                stock_key=options["stock"],
                fmt=options["format"],
                dpi=int(options["dpi"]),
                offset=options["offset"],
                copies=options["copies"],
            )
        except LabelError as exc:
            raise LabelRequestError(str(exc)) from exc
        return label_response(file, name=name)


class AccessionLabelsView(_LabelFileView):
    @extend_schema(
        operation_id="labels_retrieve",
        parameters=[AccessionLabelsSerializer],
        responses=LABEL_RESPONSES,
        tags=["labels"],
    )
    def get(self, request: Request):
        """Labels for samples and aliquots, in the order given. An accession of a study you
        cannot see is reported as unknown."""
        params = AccessionLabelsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        options = params.validated_data
        rows, missing = find_labels(request.user, accessions=options["accessions"])
        if missing:
            raise exceptions.ValidationError(
                {"accessions": [f"Unknown accession(s): {', '.join(missing[:50])}."]}
            )
        name = f"label-{rows[0].label.accession}" if len(rows) == 1 else f"labels-{len(rows)}"
        return self.respond(rows, options, name=name)


class BoxLabelsView(_LabelFileView):
    @extend_schema(
        operation_id="labels_box_retrieve",
        parameters=[LabelOptionsSerializer],
        responses={**LABEL_RESPONSES, 404: OpenApiResponse(description="No such box.")},
        tags=["labels"],
    )
    def get(self, request: Request, pk: int):
        """Labels for every tube in a box that you may see, in position order (A1, A2, …).
        The ``X-Labels-Skipped`` header counts tubes of other studies left out."""
        box = get_object_or_404(StorageUnit.objects.boxes(), pk=pk)
        params = LabelOptionsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows, skipped = box_labels(request.user, box)
        if not rows:
            raise LabelRequestError("This box holds no tubes you can see.")
        response = self.respond(rows, params.validated_data, name=f"labels-box-{box.pk}")
        response["X-Labels-Skipped"] = str(skipped)
        return response


class LabelStocksView(APIView):
    @extend_schema(responses=LabelStockSerializer(many=True), tags=["labels"])
    def get(self, request: Request) -> Response:
        """The label stocks a label file can be laid out for."""
        return Response(LabelStockSerializer(STOCKS.values(), many=True).data)
