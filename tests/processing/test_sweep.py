"""The periodic sweep: nothing uploaded stays stuck, and nothing loops forever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from assays import processing
from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement
from assays.tasks import sweep_stuck_files
from exolims.celery import app as celery_app

from .conftest import hold_lock
from .fake_parser import fake_file

pytestmark = pytest.mark.usefixtures("fake_parsers")


def age(instrument_file, *, seconds: float, claimed: bool = False) -> None:
    """Pretend the file was last touched (and, if claimed, claimed) ``seconds`` ago."""
    when = timezone.now() - timedelta(seconds=seconds)
    fields = {"updated_at": when}
    if claimed:
        fields["processing_started_at"] = when
    InstrumentFile.objects.filter(pk=instrument_file.pk).update(**fields)


def status(instrument_file) -> tuple[str, int]:
    row = InstrumentFile.objects.get(pk=instrument_file.pk)
    return row.status, row.attempts


@pytest.fixture
def quiet() -> int:
    return settings.INSTRUMENT_FILE_REQUEUE_SECONDS


@pytest.fixture
def stale() -> int:
    return settings.CELERY_TASK_TIME_LIMIT + settings.INSTRUMENT_FILE_REQUEUE_SECONDS


def test_files_left_received_are_queued_again_and_parsed(
    make_file, tube, quiet, django_capture_on_commit_callbacks
):
    lost = make_file(fake_file(sample="a"), aliquot=tube)
    age(lost, seconds=quiet + 1)
    fresh = make_file(fake_file(sample="b"), aliquot=tube)  # its message may still be queued

    with django_capture_on_commit_callbacks(execute=True):
        counts = sweep_stuck_files.delay().get()

    assert counts == {"requeued": 1, "failed": 0}
    assert status(lost) == (FileStatus.PARSED, 1)
    assert status(fresh) == (FileStatus.RECEIVED, 0)


def test_a_file_queued_again_is_not_queued_again_until_the_delay_passes(
    make_file, tube, quiet, monkeypatch
):
    sent = []
    monkeypatch.setattr(processing, "send_to_queue", lambda ids: sent.extend(ids) or len(ids))
    upload = make_file(fake_file(), aliquot=tube)
    age(upload, seconds=quiet + 1)
    assert processing.requeue_stuck_files() == {"requeued": 1, "failed": 0}
    assert processing.requeue_stuck_files() == {"requeued": 0, "failed": 0}


def test_a_claim_older_than_the_time_limit_is_taken_over(
    make_file, tube, quiet, stale, django_capture_on_commit_callbacks
):
    dead = make_file(fake_file(sample="a"), aliquot=tube, status=FileStatus.PROCESSING)
    InstrumentFile.objects.filter(pk=dead.pk).update(attempts=1)
    age(dead, seconds=stale + 1, claimed=True)
    slow = make_file(fake_file(sample="b"), aliquot=tube, status=FileStatus.PROCESSING)
    age(slow, seconds=stale - 30, claimed=True)  # may still be running within its time limit

    with django_capture_on_commit_callbacks(execute=True):
        assert processing.requeue_stuck_files() == {"requeued": 1, "failed": 0}

    assert status(dead) == (FileStatus.PARSED, 2)
    assert status(slow) == (FileStatus.PROCESSING, 0)


def test_a_file_a_live_worker_holds_is_left_alone(
    make_file, tube, stale, other_connection, monkeypatch
):
    monkeypatch.setattr(processing, "send_to_queue", lambda ids: len(ids))
    busy = make_file(fake_file(), aliquot=tube, status=FileStatus.PROCESSING)
    age(busy, seconds=stale + 1, claimed=True)
    hold_lock(other_connection, busy.pk)
    assert processing.requeue_stuck_files() == {"requeued": 0, "failed": 0}


def test_after_too_many_attempts_the_sweep_gives_up_with_a_clear_message(
    make_file, tube, stale, settings, monkeypatch
):
    monkeypatch.setattr(processing, "send_to_queue", lambda ids: len(ids))
    settings.INSTRUMENT_FILE_MAX_ATTEMPTS = 4
    poison = make_file(fake_file(), aliquot=tube, status=FileStatus.PROCESSING)
    InstrumentFile.objects.filter(pk=poison.pk).update(attempts=4, error="WorkerLostError: killed")
    age(poison, seconds=stale + 1, claimed=True)

    assert processing.requeue_stuck_files() == {"requeued": 0, "failed": 1}

    row = InstrumentFile.objects.get(pk=poison.pk)
    assert row.status == FileStatus.FAILED and row.processed_at is not None
    assert row.error == (
        "processing stopped after 4 attempts: the worker was lost, timed out or could not "
        "reach the database or file storage each time (last error: WorkerLostError: killed)"
    )
    assert not ParticleMeasurement.objects.filter(instrument_file=poison).exists()


def test_the_sweep_is_scheduled_and_the_task_is_configured_for_at_least_once_delivery():
    entries = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    sweep = entries["assays.tasks.sweep_stuck_files"]
    assert sweep["schedule"] == settings.INSTRUMENT_FILE_SWEEP_SECONDS
    task = celery_app.tasks["assays.tasks.process_instrument_file"]
    assert task.acks_late is True and task.reject_on_worker_lost is True
    assert 0 < task.max_retries <= 10
    # Redelivery by Redis must come after the sweep could have re-queued the file.
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > settings.CELERY_TASK_TIME_LIMIT
