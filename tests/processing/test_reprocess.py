"""Re-processing a file: who may, and its results are replaced, never duplicated."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from assays import processing
from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement

from .fake_parser import FakeNTAParser, fake_file

pytestmark = pytest.mark.usefixtures("fake_parsers")


@pytest.fixture
def parsed(make_file, tube):
    upload = make_file(fake_file(), aliquot=tube)
    processing.process_file(upload.pk)
    return InstrumentFile.objects.get(pk=upload.pk)


def test_reprocessing_replaces_the_results_with_a_fresh_parse(
    parsed, members, monkeypatch, django_capture_on_commit_callbacks
):
    old = ParticleMeasurement.objects.get(instrument_file=parsed)
    # A parser fix: the new version reads a different mode.
    original = FakeNTAParser.parse

    def fixed(self, data, name=""):
        from dataclasses import replace

        return replace(original(self, data, name), mode_nm=101.0)

    monkeypatch.setattr(FakeNTAParser, "parse", fixed)
    monkeypatch.setattr(FakeNTAParser, "version", "0.2")

    with django_capture_on_commit_callbacks(execute=True):
        returned = processing.reprocess_file(instrument_file=parsed, user=parsed.uploaded_by)
    assert returned.pk == parsed.pk

    upload = InstrumentFile.objects.get(pk=parsed.pk)
    assert (upload.status, upload.parser_version, upload.attempts) == (FileStatus.PARSED, "0.2", 1)
    [new] = ParticleMeasurement.objects.filter(instrument_file=upload)
    assert new.pk != old.pk and new.mode_nm == 101.0


def test_results_stay_until_the_new_run_replaces_them(parsed, members):
    old = ParticleMeasurement.objects.get(instrument_file=parsed)
    processing.reprocess_file(instrument_file=parsed, user=members["editor"])  # not run yet
    assert InstrumentFile.objects.get(pk=parsed.pk).status == FileStatus.RECEIVED
    assert list(ParticleMeasurement.objects.filter(instrument_file=parsed)) == [old]


def test_a_reprocess_that_now_fails_removes_the_stale_results(
    parsed, members, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(self, data, name=""):
        from assays.parsers import ParseError

        raise ParseError("unsupported NTA build", line=2)

    monkeypatch.setattr(FakeNTAParser, "parse", broken)
    with django_capture_on_commit_callbacks(execute=True):
        processing.reprocess_file(instrument_file=parsed, user=members["editor"])
    upload = InstrumentFile.objects.get(pk=parsed.pk)
    assert (upload.status, upload.error) == (FileStatus.FAILED, "unsupported NTA build (line 2)")
    assert not ParticleMeasurement.objects.filter(instrument_file=parsed).exists()


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("editor", True),
        ("manager", True),
        ("superuser", True),
        ("viewer", False),
        ("outsider", False),
    ],
)
def test_who_may_reprocess(parsed, members, role, allowed, make_user):
    user = members[role]
    if allowed:
        assert processing.reprocess_file(instrument_file=parsed, user=user).status == "received"
    else:
        with pytest.raises(PermissionDenied):
            processing.reprocess_file(instrument_file=parsed, user=user)
        assert InstrumentFile.objects.get(pk=parsed.pk).status == FileStatus.PARSED


def test_the_uploader_may_reprocess_a_file_without_a_study(make_file, members):
    upload = make_file(b"junk", uploader=members["viewer"])
    processing.process_file(upload.pk)
    assert processing.reprocess_file(instrument_file=upload, user=members["viewer"]).status == (
        FileStatus.RECEIVED
    )
    with pytest.raises(PermissionDenied):
        processing.reprocess_file(instrument_file=upload, user=members["editor"])
