"""What every isolation page needs: who may change the lab-wide library (protocols and
rotors need model permissions, or a superuser), and the study role on runs (404 for a run
the user cannot see, 403 for a role too low)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from samples.views.common import PageMixin

__all__ = [
    "LibraryPermissionMixin",
    "PageMixin",
    "can_change",
    "require_change",
]


def can_change(user, model: str, action: str = "change") -> bool:
    """``can_change(user, "rotor", "add")``: the model permission on the shared library."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(f"assays.{action}_{model}")


def require_change(user, model: str, action: str = "change") -> None:
    if not can_change(user, model, action):
        noun = "rotors" if model == "rotor" else "isolation protocols"
        verb = "add" if action == "add" else "change"
        raise PermissionDenied(f"You may not {verb} {noun}; ask an administrator.")


class LibraryPermissionMixin(LoginRequiredMixin):
    """A page that changes the shared library: ``permission = ("rotor", "add")``."""

    permission: tuple[str, str] = ("isolationprotocol", "change")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            require_change(request.user, *self.permission)
        return super().dispatch(request, *args, **kwargs)
