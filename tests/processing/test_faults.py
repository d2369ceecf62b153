"""Fault tests: real redis-server and Celery worker processes, broken on purpose.

Each test starts a private ``redis-server`` (no persistence: a restart loses every queued
message) on a free port and ``celery -A tests.processing.worker_app worker`` processes that
use this run's test database. Uploads commit for real (transactional_db), so the workers see
them. The time the sweep waits is simulated by back-dating rows, never by sleeping.

Slow parsing for "killed mid-parse" comes from the fake test format only
(tests/processing/fake_parser.py: ``EXOLIMS_TEST_SLOW_PARSE_MARKER``); ExoLIMS's code has no
test hooks.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from assays import processing
from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement

from .conftest import store_file
from .fake_parser import fake_file
from .harness import REDIS_SERVER, RedisServer, Worker, celery_through, database_url
from .nta import nta_summary

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        REDIS_SERVER is None,
        reason="redis-server is not installed (e.g. apt install redis-server); the fault "
        "tests run a private Redis and real Celery workers",
    ),
]

DONE = (FileStatus.PARSED, FileStatus.FAILED, FileStatus.NEEDS_REVIEW)
# Liveness guard only: how long a test waits for processes before it fails with their logs.
PATIENCE = 90


@pytest.fixture
def rig(transactional_db, tmp_path, media):
    """A private Redis, a factory for workers, and this process publishing to that Redis."""
    redis = RedisServer(tmp_path)
    redis.start()
    workers: list[Worker] = []

    def worker(name: str, **env: str) -> Worker:
        started = Worker(
            name=name,
            broker_url=redis.url,
            database_url=database_url(connection.settings_dict),
            media_root=media,
            log_dir=tmp_path,
            env=env,
        )
        started.start()
        workers.append(started)
        return started

    def logs() -> str:
        return "\n\n".join(f"--- {w.name} ---\n{w.tail()}" for w in workers)

    def wait(predicate, what: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"never happened: {what}\n{logs()}")
            time.sleep(0.1)

    with celery_through(redis.url):
        yield SimpleNamespace(redis=redis, worker=worker, wait=wait, logs=logs)
    for started in workers:
        started.kill()
    redis.stop()


def finished(*files: InstrumentFile) -> bool:
    ids = [f.pk for f in files]
    return InstrumentFile.objects.filter(pk__in=ids, status__in=DONE).count() == len(ids)


def row(instrument_file: InstrumentFile) -> InstrumentFile:
    return InstrumentFile.objects.get(pk=instrument_file.pk)


def as_if_waited(*, seconds: float, claimed: bool = False) -> None:
    """Let ``seconds`` pass for the sweep: back-date every unfinished file."""
    when = timezone.now() - timedelta(seconds=seconds)
    fields = {"updated_at": when, **({"processing_started_at": when} if claimed else {})}
    InstrumentFile.objects.exclude(status__in=DONE).update(**fields)


def test_a_pool_process_killed_mid_parse_is_redelivered_and_the_file_still_parses(
    rig, tube, members, tmp_path
):
    marker = tmp_path / "slow-parse-started"
    rig.worker("a", EXOLIMS_TEST_SLOW_PARSE_MARKER=str(marker))
    upload = store_file(fake_file(sample="killed"), uploader=members["editor"], aliquot=tube)
    processing.enqueue_processing(upload.pk)

    rig.wait(marker.exists, "the worker started parsing")
    assert row(upload).status == FileStatus.PROCESSING
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the pool process doing the parse

    # reject_on_worker_lost puts the message back; the claim lock died with the process.
    rig.wait(lambda: finished(upload), "the file finished after the kill")
    upload = row(upload)
    assert (upload.status, upload.attempts) == (FileStatus.PARSED, 2), rig.logs()
    assert ParticleMeasurement.objects.filter(instrument_file=upload).count() == 1


def test_a_whole_worker_killed_mid_parse_is_recovered_by_the_sweep(rig, tube, members, tmp_path):
    from django.conf import settings

    marker = tmp_path / "slow-parse-started"
    first = rig.worker("doomed", EXOLIMS_TEST_SLOW_PARSE_MARKER=str(marker))
    upload = store_file(fake_file(sample="power cut"), uploader=members["editor"], aliquot=tube)
    processing.enqueue_processing(upload.pk)
    rig.wait(marker.exists, "the worker started parsing")

    first.kill()  # main process and pool at once: the message stays unacknowledged in Redis
    rig.worker("replacement")
    assert row(upload).status == FileStatus.PROCESSING
    assert processing.requeue_stuck_files() == {"requeued": 0, "failed": 0}  # too early

    as_if_waited(
        seconds=settings.CELERY_TASK_TIME_LIMIT + settings.INSTRUMENT_FILE_REQUEUE_SECONDS + 1,
        claimed=True,
    )
    assert processing.requeue_stuck_files() == {"requeued": 1, "failed": 0}

    rig.wait(lambda: finished(upload), "the swept file finished")
    upload = row(upload)
    assert (upload.status, upload.attempts) == (FileStatus.PARSED, 2), rig.logs()
    assert ParticleMeasurement.objects.filter(instrument_file=upload).count() == 1


def test_uploads_while_redis_is_down_are_accepted_and_parsed_after_it_returns(rig, tube, members):
    from django.conf import settings

    rig.worker("b")
    client = APIClient()
    client.force_authenticate(members["editor"])

    def upload(number: int) -> InstrumentFile:
        content = nta_summary(sample=f"{tube.accession} upload {number}")
        response = client.post(
            "/api/v1/instrument-files/",
            {
                "file": SimpleUploadedFile(f"run{number}-ExperimentSummary.csv", content),
                "aliquot": tube.accession,
            },
            format="multipart",
        )
        assert response.status_code == 201, response.content
        return InstrumentFile.objects.get(pk=response.json()["id"])

    before = [upload(n) for n in range(2)]
    rig.wait(lambda: finished(*before), "uploads before the outage parsed")

    rig.redis.stop()
    during = [upload(n) for n in range(2, 7)]
    assert {row(f).status for f in during} == {FileStatus.RECEIVED}

    rig.redis.start()  # same port, empty: whatever was queued is gone
    as_if_waited(seconds=settings.INSTRUMENT_FILE_REQUEUE_SECONDS + 1)
    assert processing.requeue_stuck_files() == {"requeued": 5, "failed": 0}

    rig.wait(lambda: finished(*during), "uploads made during the outage parsed")
    for instrument_file in before + during:
        instrument_file = row(instrument_file)
        assert (instrument_file.status, instrument_file.attempts) == (FileStatus.PARSED, 1)
        assert ParticleMeasurement.objects.filter(instrument_file=instrument_file).count() == 1


def test_bad_files_fail_with_a_clear_message_and_are_not_retried(rig, tube, members):
    rig.worker("c")
    valid_nta = nta_summary(sample="truncated")
    cases = {
        "empty": (b"", "the file is empty; format not recognised; supported: "),
        "binary": (bytes(range(256)) * 64, "format not recognised; supported: "),
        "wrong format": (
            b"Sample\tAbsorbance\tComment\nbeads\t102.3\tnone\n",
            "format not recognised; supported: ",
        ),
        "broken fcs file": (b"FCS3.1    " + b"\x00" * 500, "the FCS HEADER offsets"),
        "truncated (fake)": (
            b"FAKE-NTA v1\nSample Name,x\n",
            'missing row (column "Concentrations")',
        ),
        "mis-encoded (fake)": (
            b"FAKE-NTA v1\nSample Name,caf\xe9\n",
            "the text is not valid UTF-8",
        ),
        "truncated NTA": (valid_nta[: len(valid_nta) * 2 // 3], ""),
        "NTA cut in the header": (valid_nta[:300], ""),
        "NTA as broken UTF-16": (valid_nta.decode().encode("utf-16")[:-1], ""),
        "NTA as EBCDIC": (valid_nta.decode().encode("cp500"), "format not recognised"),
    }
    files = {
        label: store_file(content, uploader=members["editor"], aliquot=tube, name=f"{label}.csv")
        for label, (content, _expected) in cases.items()
    }
    for instrument_file in files.values():
        processing.enqueue_processing(instrument_file.pk)

    rig.wait(lambda: finished(*files.values()), "every bad file finished")
    for label, instrument_file in files.items():
        instrument_file = row(instrument_file)
        expected = cases[label][1]
        assert instrument_file.status == FileStatus.FAILED, label
        assert instrument_file.attempts == 1, label  # no retry storm
        assert instrument_file.error.startswith(expected) and len(instrument_file.error) > 10, (
            label,
            instrument_file.error,
        )
        assert not ParticleMeasurement.objects.filter(instrument_file=instrument_file).exists()
