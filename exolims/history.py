"""Reading the audit trail that database triggers keep (django-pghistory).

History is written only by triggers, so it covers forms, the API, services, bulk imports
and raw SQL alike; this module only reads it. A change's reason comes from the
``X-Change-Reason`` header or a ``change_reason`` form field (see ChangeReasonMiddleware).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pghistory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Model
from pghistory.models import Events
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

REASON_HEADER = "HTTP_X_CHANGE_REASON"
REASON_FIELD = "change_reason"
MAX_REASON_LENGTH = 500
# Bookkeeping columns every change touches; listing them would hide the real change.
_HIDDEN = {"updated_at", "sprec_code"}


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str  # insert, update, delete
    user_id: int | None
    username: str
    reason: str
    url: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def history_for(obj: Model, *, limit: int = 500) -> list[HistoryEntry]:
    """Newest first: who changed what, when, from which old to which new value, and why."""
    events = list(Events.objects.tracks(obj).order_by("-pgh_created_at", "-pgh_id")[:limit])
    user_ids = {
        (e.pgh_context or {}).get("user") for e in events if (e.pgh_context or {}).get("user")
    }
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    entries = []
    for event in events:
        context = event.pgh_context or {}
        if event.pgh_label == "insert":
            changes = {
                k: (None, v)
                for k, v in (event.pgh_data or {}).items()
                if k not in _HIDDEN and v not in (None, "", [])
            }
        else:
            changes = {
                k: (pair[0], pair[1])
                for k, pair in (event.pgh_diff or {}).items()
                if k not in _HIDDEN
            }
            if event.pgh_label == "update" and not changes:
                continue
        user_id = context.get("user")
        entries.append(
            HistoryEntry(
                at=event.pgh_created_at,
                action=event.pgh_label,
                user_id=user_id,
                username=names.get(user_id, "system" if user_id is None else f"user #{user_id}"),
                reason=context.get("reason", ""),
                url=context.get("url", ""),
                changes=changes,
            )
        )
    return entries


class ChangeReasonMiddleware:
    """Attach the reason a person gave for a change to every history row it produces."""

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _small_form(request) -> bool:
        """Page forms only: reading request.POST parses the body, which for a file upload
        must wait for authentication and the upload size limit in the view."""
        if request.content_type == "application/x-www-form-urlencoded":
            return True
        if request.content_type != "multipart/form-data" or request.path.startswith("/api/"):
            return False
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False
        return 0 < length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, request):
        reason = request.META.get(REASON_HEADER, "")
        if not reason and request.method == "POST" and self._small_form(request):
            reason = request.POST.get(REASON_FIELD, "")
        reason = reason.strip()[:MAX_REASON_LENGTH]
        if not reason:
            return self.get_response(request)
        with pghistory.context(reason=reason):
            return self.get_response(request)


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.ChoiceField(choices=["insert", "update", "delete"])
    user = serializers.IntegerField(source="user_id", allow_null=True)
    username = serializers.CharField()
    reason = serializers.CharField()
    changes = serializers.SerializerMethodField()

    def get_changes(self, entry: HistoryEntry) -> dict[str, dict[str, Any]]:
        return {name: {"old": old, "new": new} for name, (old, new) in entry.changes.items()}


class HistoryActionMixin:
    """Adds read-only ``GET …/{id}/history/`` to a viewset; the object is looked up through
    the viewset's own scoped queryset, so a foreign id is a 404 here too."""

    @action(
        detail=True, methods=["get"], url_path="history", pagination_class=None, filter_backends=[]
    )
    def history(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        return Response(HistoryEntrySerializer(history_for(obj), many=True).data)
