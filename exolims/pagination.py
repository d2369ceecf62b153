"""Keyset pagination for API lists."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    """Cursor (keyset) pages: constant cost at any depth and no COUNT(*) over big tables."""

    ordering = "-id"
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                size = int(raw)
            except ValueError:
                raise exceptions.ValidationError({"page_size": "Must be a whole number."}) from None
            if size < 1:
                raise exceptions.ValidationError({"page_size": "Must be at least 1."})
        return super().get_page_size(request)
