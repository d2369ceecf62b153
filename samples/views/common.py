"""Building blocks of every page: login, study scoping (404 for what the user cannot see,
403 for a role too low), the delete confirmation and accession lookup."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, ProtectedError, QuerySet, RestrictedError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.generic import DeleteView

from ..choices import ROLE_RANK, Role
from ..models import ACCESSION_PREFIX, Study

_SHORT_ACCESSION = re.compile(rf"{ACCESSION_PREFIX.rstrip('-')}-?0*(\d{{1,12}})")


def accession_candidates(query: str) -> set[str]:
    """Spellings of an accession as people type it: any case, and "exo-123" or "EXO123"
    for EXO-000123. Samples and tubes share one accession sequence."""
    query = query.strip()
    upper = query.upper()
    candidates = {query, upper}
    short = _SHORT_ACCESSION.fullmatch(upper)
    if short:
        candidates.add(f"{ACCESSION_PREFIX}{int(short.group(1)):06d}")
    return candidates


def has_role(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[needed]


def study_of(obj: Model) -> Study:
    return obj if isinstance(obj, Study) else obj.study


class PageMixin(LoginRequiredMixin):
    section = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(section=self.section, **kwargs)


class ScopedObjectMixin(PageMixin):
    """Fetch one object among those the user can see (else 404); need ``required_role`` in
    its study (else 403)."""

    required_role: str = Role.VIEWER
    related: tuple[str, ...] = ()

    def get_queryset(self) -> QuerySet:
        queryset = self.model.objects.visible_to(self.request.user)
        return queryset.select_related(*self.related) if self.related else queryset

    def get_object(self, queryset: QuerySet | None = None) -> Model:
        obj = super().get_object(queryset)
        self.role = study_of(obj).role_of(self.request.user)
        if not has_role(self.role, self.required_role):
            raise PermissionDenied("Your role in this study does not allow this.")
        return obj

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            role=self.role,
            can_edit=has_role(self.role, Role.EDITOR),
            can_manage=has_role(self.role, Role.MANAGER),
            **kwargs,
        )


class ScopedDeleteView(ScopedObjectMixin, DeleteView):
    """Confirm, then delete; records that others depend on are refused with a message."""

    required_role = Role.EDITOR
    template_name = "samples/confirm_delete.html"
    list_url_name: str = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(kind=self.model._meta.verbose_name, **kwargs)

    def form_valid(self, form) -> HttpResponse:
        label = f"{self.object._meta.verbose_name} {self.object}"
        try:
            self.object.delete()
        except (ProtectedError, RestrictedError) as exc:
            dependants = (
                exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
            )
            blockers = sorted({str(o._meta.verbose_name_plural) for o in dependants})
            messages.error(
                self.request,
                f"Cannot delete {label}: {' and '.join(blockers)} still belong to it. "
                "Delete or move those first.",
            )
            return redirect(self.object.get_absolute_url())
        messages.success(self.request, f"Deleted {label}.")
        return redirect(self.list_url_name)
