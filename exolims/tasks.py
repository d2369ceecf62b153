"""Periodic housekeeping for the access machinery (scheduled in CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import LoginFailure


def purge_login_failures(*, older_than_days: int) -> int:
    """Delete failed-login records older than the given age; return how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = LoginFailure.objects.filter(at__lt=cutoff).delete()
    return deleted


@shared_task(name="exolims.tasks.purge_old_login_failures")
def purge_old_login_failures(older_than_days: int | None = None) -> int:
    # Only records inside LOGIN_FAILURE_WINDOW_SECONDS slow logins down; older ones are kept
    # a while for review, then dropped so the table stays small. Idempotent, safe to retry.
    days = older_than_days or settings.LOGIN_FAILURE_RETENTION_DAYS
    return purge_login_failures(older_than_days=days)
