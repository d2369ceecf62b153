"""Plumbing shared by the apps' service layers (samples.services, assays.services)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import nullcontext
from typing import ParamSpec, TypeVar

import pghistory
from django.db import transaction

P = ParamSpec("P")
R = TypeVar("R")


def service(func: Callable[P, R]) -> Callable[P, R]:
    """One transaction per call, and the acting user on every audit-trail row it writes
    (the request middleware does the same for web requests; scripts and tasks get it here)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        user = kwargs.get("user")
        acting = (
            pghistory.context(user=user.pk)
            if user is not None and getattr(user, "pk", None) is not None
            else nullcontext()
        )
        with acting, transaction.atomic():
            return func(*args, **kwargs)

    return wrapper
