"""Celery tasks for samples."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from .manifest import purge_stale_uploads

STAGED_MANIFEST_LIFETIME = timedelta(hours=24)


@shared_task(name="samples.tasks.purge_stale_manifests")
def purge_stale_manifests() -> int:
    """Delete manifests uploaded more than 24 h ago and never imported (scheduled hourly)."""
    return purge_stale_uploads(older_than=STAGED_MANIFEST_LIFETIME)
