"""Keyset pagination for API lists."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

_INVALID_CURSOR = "Invalid cursor: use the next/previous links exactly as returned."


class KeysetPagination(CursorPagination):
    """Cursor (keyset) pages: constant cost at any depth and no COUNT(*) over big tables.

    ``page_size`` is capped at ``settings.API_MAX_PAGE_SIZE``; a value that is not a
    positive whole number, or a tampered cursor, is a 400 rather than a silent default.
    """

    ordering = "-id"
    page_size_query_param = "page_size"
    page_size_query_description = "Rows per page (at most API_MAX_PAGE_SIZE, default 100)."

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                size = int(raw)
            except ValueError:
                raise exceptions.ValidationError(
                    {"page_size": ["Must be a whole number."]}
                ) from None
            if size < 1:
                raise exceptions.ValidationError({"page_size": ["Must be at least 1."]})
        return super().get_page_size(request)

    # Set by views whose rows come from .values() with renamed columns (output key -> alias).
    position_columns: dict[str, str] = {}

    def _get_position_from_instance(self, instance, ordering):
        if isinstance(instance, dict):
            # Rows are renamed in place after paginating, so accept either key.
            field = ordering[0].lstrip("-")
            alias = self.position_columns.get(field, field)
            return str(instance[alias] if alias in instance else instance[field])
        return super()._get_position_from_instance(instance, ordering)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({self.cursor_query_param: [_INVALID_CURSOR]}) from None

    def paginate_queryset(self, queryset, request, view=None):
        # The cursor's position is client-supplied text compared against a typed column;
        # a forged one must be a 400, not a conversion error deep in the ORM.
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError):
            raise exceptions.ValidationError({self.cursor_query_param: [_INVALID_CURSOR]}) from None
