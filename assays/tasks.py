"""Celery tasks for instrument files. Thin: they take primary keys and call processing.

Delivery is at least once: ``acks_late`` + ``reject_on_worker_lost`` put the message back
when the worker dies mid-task, and the sweep queues again what the broker lost. The work is
idempotent (see assays.processing), so a duplicate costs a lock attempt and one query.
"""

from __future__ import annotations

import random

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import processing

# Worth another try: the database or the file storage was briefly away. Everything wrong
# with the file itself ends as ``failed`` inside processing and is never retried.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError)
MAX_RETRIES = 5
# Backoff: 2, 4, 8, 16, 32 s (± jitter), capped; far below Redis's visibility timeout.
RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 120


def retry_delay(retries: int) -> float:
    delay = min(RETRY_BASE_SECONDS * 2**retries, RETRY_MAX_SECONDS)
    return delay * random.uniform(0.75, 1.25)  # jitter: retries after an outage spread out


@shared_task(
    name="assays.tasks.process_instrument_file",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def process_instrument_file(self, file_id: int) -> None:
    """Claim, parse and file one uploaded instrument file (see processing.process_file)."""
    try:
        processing.process_file(file_id)
    except TRANSIENT_ERRORS as exc:
        processing.record_transient_error(file_id, exc)
        if self.request.retries >= self.max_retries:
            processing.give_up(file_id, exc)
            return
        if self.request.is_eager:
            # In-process (no broker: make run, tests) there is nothing to schedule a retry
            # on, and an eager retry would surface as an error; try again right away.
            self.apply(args=(file_id,), retries=self.request.retries + 1, throw=True)
            return
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc


@shared_task(name="assays.tasks.sweep_stuck_files", ignore_result=True)
def sweep_stuck_files() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): queue again files stuck in received/processing and
    fail those that used up their attempts. Idempotent; overlapping runs skip locked rows."""
    return processing.requeue_stuck_files()
