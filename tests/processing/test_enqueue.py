"""Queueing: only after commit, and an unreachable broker never fails the upload."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from assays import processing
from assays.choices import FileStatus
from assays.models import InstrumentFile

from .fake_parser import fake_file
from .harness import celery_through, free_port

pytestmark = pytest.mark.usefixtures("fake_parsers")


def test_processing_is_queued_only_when_the_upload_commits(
    make_file, tube, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        committed = make_file(fake_file(sample="kept"), aliquot=tube)
        processing.enqueue_processing(committed.pk)
        with pytest.raises(RuntimeError), transaction.atomic():
            rolled_back = make_file(fake_file(sample="dropped"), aliquot=tube)
            processing.enqueue_processing(rolled_back.pk)
            raise RuntimeError("the upload failed after queueing")
    assert len(callbacks) == 1
    assert InstrumentFile.objects.get(pk=committed.pk).status == FileStatus.PARSED
    assert not InstrumentFile.objects.filter(pk=rolled_back.pk).exists()


def test_an_unreachable_broker_is_logged_and_the_file_waits_for_the_sweep(
    make_file, tube, caplog, django_capture_on_commit_callbacks
):
    upload = make_file(fake_file(), aliquot=tube)
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with (
        celery_through(dead),
        caplog.at_level(logging.WARNING, logger="assays.processing"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        processing.enqueue_processing(upload.pk)  # must not raise into the upload

    assert InstrumentFile.objects.get(pk=upload.pk).status == FileStatus.RECEIVED
    assert f"Could not queue processing of instrument file {upload.pk}" in caplog.text


def test_one_broken_file_does_not_stop_in_process_processing_of_the_others(
    make_file, tube, monkeypatch
):
    first = make_file(fake_file(sample="a"), aliquot=tube)
    second = make_file(fake_file(sample="b"), aliquot=tube)
    real = processing.process_file

    def fragile(file_id):
        if file_id == first.pk:
            raise ValueError("unexpected")
        real(file_id)

    monkeypatch.setattr(processing, "process_file", fragile)
    assert processing.send_to_queue([first.pk, second.pk]) == 1
    assert InstrumentFile.objects.get(pk=second.pk).status == FileStatus.PARSED
