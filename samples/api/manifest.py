"""``POST /api/v1/sample-imports/``: bulk registration from a CSV/XLSX manifest.

A dry run (the default) reports every row's errors and saves nothing; a commit imports all
rows or none. The work happens in ``samples.manifest``, shared with the import pages.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from exolims.renderers import FastJSONRenderer

from .. import manifest
from ..models import Study
from .serializers import VisibleRelatedField


class ManifestImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (comma or semicolon, UTF-8 or Windows-1252) or XLSX manifest with the "
        "columns of the template (GET /import/template.csv)."
    )
    study = VisibleRelatedField(model=Study, help_text="Target study (editor role needed).")
    create_missing_donors = serializers.BooleanField(
        default=False, help_text="Create donors whose code is not registered in the study yet."
    )
    dry_run = serializers.BooleanField(
        default=True, help_text="Only check (default). Send false to import."
    )

    def validate_file(self, upload):
        if upload.size > settings.MANIFEST_MAX_BYTES:
            raise serializers.ValidationError(
                f"The file is larger than {settings.MANIFEST_MAX_BYTES // (1024 * 1024)} MB."
            )
        return upload


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Row number as the spreadsheet shows it (header = 1).")
    column = serializers.CharField()
    message = serializers.CharField()


class DryRunResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    valid = serializers.BooleanField()
    row_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    new_donor_codes = serializers.ListField(child=serializers.CharField())
    errors = RowErrorSerializer(many=True)


class ImportResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    accessions = serializers.ListField(child=serializers.CharField())
    created_donors = serializers.ListField(child=serializers.CharField())


class ImportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    row_count = serializers.IntegerField(required=False)
    error_count = serializers.IntegerField(required=False)
    errors = RowErrorSerializer(many=True, required=False)
    file = serializers.ListField(child=serializers.CharField(), required=False)


def _errors(result: manifest.ValidatedManifest) -> list[dict]:
    return [error.as_dict() for error in result.errors]


class SampleImportView(APIView):
    """Check or import a sample manifest (multipart upload)."""

    parser_classes = [MultiPartParser, FormParser]
    # Results are nested (rows → errors); the list-oriented CSV renderer does not apply.
    renderer_classes = [FastJSONRenderer, BrowsableAPIRenderer]

    @extend_schema(
        operation_id="sample_imports_create",
        request={"multipart/form-data": ManifestImportSerializer},
        responses={
            200: OpenApiResponse(DryRunResultSerializer, description="Dry run: nothing saved."),
            201: OpenApiResponse(ImportResultSerializer, description="All rows imported."),
            400: OpenApiResponse(
                ImportErrorSerializer, description="Bad file or row errors: nothing saved."
            ),
            403: OpenApiResponse(description="You are not an editor in the study."),
        },
        examples=[
            OpenApiExample(
                "Row error",
                response_only=True,
                status_codes=["400"],
                value={
                    "detail": "The manifest has errors; nothing was imported.",
                    "row_count": 2,
                    "error_count": 1,
                    "errors": [{"row": 3, "column": "volume", "message": "'abc' is not a number."}],
                },
            )
        ],
        tags=["sample-imports"],
    )
    def post(self, request, *args, **kwargs) -> Response:
        serializer = ManifestImportSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        study: Study = data["study"]
        if not Study.objects.editable_by(request.user).filter(pk=study.pk).exists():
            raise exceptions.PermissionDenied(
                f"You need the editor role in study {study.code} to import samples."
            )
        upload = data["file"]
        content = upload.read()
        try:
            if data["dry_run"]:
                result = manifest.check_manifest(
                    content=content,
                    file_name=upload.name,
                    study=study,
                    create_missing_donors=data["create_missing_donors"],
                )
                body = {
                    "dry_run": True,
                    "valid": result.is_valid,
                    "row_count": result.row_count,
                    "error_count": result.error_count,
                    "new_donor_codes": result.new_donor_codes,
                    "errors": _errors(result),
                }
                return Response(body, status=status.HTTP_200_OK)
            imported = manifest.import_manifest(
                content=content,
                file_name=upload.name,
                study=study,
                user=request.user,
                create_missing_donors=data["create_missing_donors"],
            )
        except manifest.ManifestError as exc:
            return Response(
                {"detail": "The file cannot be imported.", "file": exc.messages},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except manifest.ManifestInvalid as exc:
            return Response(
                {
                    "detail": "The manifest has errors; nothing was imported.",
                    "row_count": exc.result.row_count,
                    "error_count": exc.result.error_count,
                    "errors": _errors(exc.result),
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            {
                "count": imported.count,
                "accessions": imported.accessions,
                "created_donors": imported.created_donors,
            },
            status=status.HTTP_201_CREATED,
        )
