"""Shared REST API machinery: error mapping, serializers that run model validation, and the
study-scoped base viewset. Pagination and renderers live in their own modules because DRF
imports them from settings while this module is still loading."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, StreamingHttpResponse
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .renderers import rows_to_csv

# --- Errors ----------------------------------------------------------------------------


def exception_handler(exc, context):
    """Map model validation and integrity errors onto 400/409 so bad input never gives a 500."""
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        blockers = sorted(
            {obj._meta.verbose_name_plural for obj in exc.protected_objects}
            if isinstance(exc, ProtectedError)
            else {obj._meta.verbose_name_plural for obj in exc.restricted_objects}
        )
        return Response(
            {
                "detail": "Cannot delete: other records depend on it ("
                + ", ".join(str(b) for b in blockers)
                + "). Delete or move those first.",
                "code": "protected",
            },
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, IntegrityError):
        return Response(
            {
                "detail": "The change conflicts with existing records (duplicate or dependent data).",
                "code": "conflict",
            },
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


# --- Serializers -----------------------------------------------------------------------


class ValidatedModelSerializer(serializers.ModelSerializer):
    """Runs ``Model.clean()`` (DRF does not), so forms, API and import share one set of rules."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        model = self.Meta.model
        if self.instance is not None:
            instance = model(
                **{
                    f.attname: getattr(self.instance, f.attname)
                    for f in model._meta.concrete_fields
                }
            )
            instance._state.adding = False
        else:
            instance = model()
        m2m = {}
        for name, value in attrs.items():
            field = (
                model._meta.get_field(name)
                if name in {f.name for f in model._meta.get_fields()}
                else None
            )
            if field is not None and field.many_to_many:
                m2m[name] = value
                continue
            setattr(instance, name, value)
        try:
            instance.full_clean(exclude=self._clean_exclusions(), validate_unique=True)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
        # clean() may normalise values (e.g. centrifugation steps); keep what it produced.
        for name in list(attrs):
            if name not in m2m and hasattr(instance, name):
                attrs[name] = getattr(instance, name)
        return attrs

    def _clean_exclusions(self) -> list[str]:
        return []


# --- Viewsets --------------------------------------------------------------------------


class StudyScopedViewSet(viewsets.ModelViewSet):
    """CRUD over records that belong to a study.

    Reads are limited to the user's studies; writes need the editor role in the record's
    study (``write_role``). An object from another study is a 404, never a 403, so IDs
    do not leak what exists.
    """

    write_role = "editor"
    csv_fields: list[str] | None = None

    def get_queryset(self):
        return self.queryset.model.objects.visible_to(self.request.user)

    def writable_queryset(self):
        manager = self.queryset.model.objects
        return (
            manager.managed_by(self.request.user)
            if self.write_role == "manager"
            else manager.editable_by(self.request.user)
        )

    def check_write(self, study) -> None:
        from samples.models import Study  # exolims wires apps together only at call time

        allowed = Study.objects.filter(pk=study.pk)
        allowed = (
            allowed.managed_by(self.request.user)
            if self.write_role == "manager"
            else allowed.editable_by(self.request.user)
        )
        if not allowed.exists():
            if not Study.objects.visible_to(self.request.user).filter(pk=study.pk).exists():
                raise Http404
            raise exceptions.PermissionDenied(
                f"You need the {self.write_role} role in study {study.code} for this."
            )

    def study_of(self, instance_or_data) -> Any:
        return instance_or_data.study

    def perform_create(self, serializer) -> None:
        self.check_write(serializer.validated_data["study"])
        serializer.save()

    def perform_update(self, serializer) -> None:
        self.check_write(self.study_of(serializer.instance))
        if "study" in serializer.validated_data:
            self.check_write(serializer.validated_data["study"])
        serializer.save()

    def perform_destroy(self, instance) -> None:
        self.check_write(self.study_of(instance))
        instance.delete()

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return self.stream_csv()
        return super().list(request, *args, **kwargs)

    def stream_csv(self) -> StreamingHttpResponse:
        queryset = self.filter_queryset(self.get_queryset())
        serializer_class = self.get_serializer_class()
        fields = self.csv_fields or list(serializer_class().fields)
        serializer = serializer_class(context=self.get_serializer_context())

        def rows() -> Iterator[dict[str, Any]]:
            for obj in queryset.iterator(chunk_size=2000):
                yield serializer.to_representation(obj)

        response = StreamingHttpResponse(
            rows_to_csv(rows(), fields), content_type="text/csv; charset=utf-8"
        )
        name = self.queryset.model._meta.verbose_name_plural.replace(" ", "_")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
