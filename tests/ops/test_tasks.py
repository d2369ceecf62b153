"""Celery: tasks run in-process without a broker, and through Redis when CI provides one."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from exolims.celery import app as celery_app
from exolims.models import LoginFailure
from exolims.tasks import purge_old_login_failures


def make_failures() -> tuple[LoginFailure, LoginFailure]:
    old = LoginFailure.objects.create(username="mallory", ip_address="203.0.113.9")
    LoginFailure.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=8))
    recent = LoginFailure.objects.create(username="mallory", ip_address="203.0.113.9")
    return old, recent


@pytest.fixture
def eager():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def test_purge_deletes_only_old_login_failures(db, eager):
    _old, recent = make_failures()
    result = purge_old_login_failures.delay()
    assert result.get() == 1
    assert list(LoginFailure.objects.values_list("pk", flat=True)) == [recent.pk]
    # Idempotent: a retry or a second beat tick finds nothing more to do.
    assert purge_old_login_failures.delay().get() == 0


def test_purge_honours_explicit_age(db, eager):
    make_failures()
    assert purge_old_login_failures.delay(older_than_days=30).get() == 0
    assert LoginFailure.objects.count() == 2


def test_tasks_are_eager_without_a_broker_and_scheduled_in_beat():
    if not settings.CELERY_BROKER_URL:
        assert settings.CELERY_TASK_ALWAYS_EAGER is True
    task_names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "exolims.tasks.purge_old_login_failures" in task_names
    assert "exolims.tasks.purge_old_login_failures" in celery_app.tasks
    assert settings.CELERY_TASK_ACKS_LATE is True


def forget_queue(queue: str) -> None:
    import redis

    if not os.environ["CELERY_BROKER_URL"].startswith(("redis://", "rediss://")):
        return
    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    keys = list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)


@pytest.mark.broker
@pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL"),
    reason="needs CELERY_BROKER_URL (a real broker, e.g. Redis in .ci/run)",
)
def test_round_trip_through_the_broker(transactional_db):
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    old, recent = make_failures()
    queue = f"exolims-test-{uuid.uuid4().hex[:8]}"

    def close_worker_connections(**kwargs):
        # The worker thread opens its own database connection; close it so the test
        # database can be dropped at the end of the session.
        connections.close_all()

    task_postrun.connect(close_worker_connections, weak=False)
    previous_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(
            celery_app, pool="solo", concurrency=1, perform_ping_check=False, queues=[queue]
        ):
            purge_old_login_failures.apply_async(queue=queue)
            deadline = time.monotonic() + 60
            while LoginFailure.objects.filter(pk=old.pk).exists():
                assert time.monotonic() < deadline, "the worker never ran the task"
                time.sleep(0.1)
    finally:
        celery_app.conf.task_always_eager = previous_eager
        task_postrun.disconnect(close_worker_connections)
        forget_queue(queue)
    assert LoginFailure.objects.filter(pk=recent.pk).exists()
