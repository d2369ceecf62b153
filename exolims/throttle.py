"""Slow down password guessing: recent failed logins per username or client address make
further attempts wait, twice as long after every failure (capped).

Nothing sleeps inside a request: an attempt made too early is refused with the remaining
wait, so a guessing script gains nothing and no worker thread is tied up.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.http import HttpRequest
from django.utils import timezone

from .models import LoginFailure


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from.

    X-Forwarded-For is deliberately ignored: any client can set it, so trusting it would let
    an attacker pick a fresh "address" per guess. Behind a proxy, have the proxy set
    REMOTE_ADDR (gunicorn --forwarded-allow-ips) instead.
    """
    return request.META.get("REMOTE_ADDR") or None


def _normalise(username: str) -> str:
    # "Alice" and "alice " must share one counter, or changing case would reset it.
    return (username or "").strip().lower()[:150]


def record_login_failure(*, username: str, ip_address: str | None) -> None:
    LoginFailure.objects.create(username=_normalise(username), ip_address=ip_address)


def clear_login_failures(*, username: str) -> None:
    LoginFailure.objects.filter(username=_normalise(username)).delete()


def delay_for(failures: int) -> int:
    """Seconds to wait after ``failures`` recent failures: 0 below the threshold, then
    2, 4, 8, … seconds, never more than LOGIN_MAX_DELAY_SECONDS."""
    extra = failures - settings.LOGIN_FAILURES_BEFORE_DELAY
    if extra < 0:
        return 0
    # min() before the power keeps a flood of failures from building a huge integer.
    return min(2 ** min(extra + 1, 62), settings.LOGIN_MAX_DELAY_SECONDS)


def login_wait_seconds(
    *, username: str, ip_address: str | None, now: datetime | None = None
) -> int:
    """Whole seconds until the next attempt for this username or address is allowed (0: now).

    One aggregate query counts the recent failures of the username and of the address; the
    stricter of the two decides, and the wait runs from that one's latest failure.
    """
    now = now or timezone.now()
    scopes = {"name": Q(username=_normalise(username))}
    if ip_address:
        scopes["ip"] = Q(ip_address=ip_address)
    condition = Q()
    aggregates = {}
    for key, scope in scopes.items():
        condition |= scope
        aggregates[f"{key}_count"] = Count("id", filter=scope)
        aggregates[f"{key}_last"] = Max("at", filter=scope)
    window_start = now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    recent = LoginFailure.objects.filter(condition, at__gte=window_start).aggregate(**aggregates)
    wait = 0.0
    for key in scopes:
        last = recent[f"{key}_last"]
        if last is not None:
            allowed_at = last + timedelta(seconds=delay_for(recent[f"{key}_count"]))
            wait = max(wait, (allowed_at - now).total_seconds())
    return math.ceil(wait) if wait > 0 else 0
