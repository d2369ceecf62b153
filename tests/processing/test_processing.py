"""Processing an instrument file in-process: claim, parse, file, record; failures and retries."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from assays import filing, processing
from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement
from assays.tasks import MAX_RETRIES, process_instrument_file

from .conftest import hold_lock
from .fake_parser import fake_file

pytestmark = pytest.mark.usefixtures("fake_parsers")


def reload(instrument_file: InstrumentFile) -> InstrumentFile:
    return InstrumentFile.objects.get(pk=instrument_file.pk)


def test_a_file_for_a_tube_is_parsed_into_one_measurement(make_file, tube):
    upload = make_file(
        fake_file(sample="whatever", concentrations=(1.0e9, 1.2e9, 0.8e9), dilution=500.0),
        aliquot=tube,
    )
    processing.process_file(upload.pk)

    upload = reload(upload)
    assert (upload.status, upload.attempts, upload.error) == (FileStatus.PARSED, 1, "")
    assert (upload.format, upload.parser_version) == ("test_nta", "0.1")
    assert upload.processed_at is not None and upload.study_id == tube.study_id
    [measurement] = ParticleMeasurement.objects.filter(instrument_file=upload)
    assert (measurement.aliquot_id, measurement.study_id) == (tube.pk, tube.study_id)
    assert measurement.method == "NTA"
    assert measurement.concentration_per_ml == pytest.approx(1.0e9)
    assert measurement.dilution_factor == 500.0
    assert measurement.replicates == 3
    assert measurement.replicate_cv_pct == pytest.approx(20.0)
    assert measurement.concentration_sd_per_ml == pytest.approx(2.0e8)
    assert (measurement.mode_nm, measurement.mean_nm) == (95.0, 110.0)
    assert measurement.settings == {"videos": 3, "temperature_c": 22.0}
    # Empty bins at both ends are trimmed, one kept on each side for the plot's baseline.
    distribution = measurement.distribution
    assert distribution["bin_centres_nm"] == [44.5 + i for i in range(9)]
    assert distribution["mean"] == [0.0, 1e6, 5e6, 2e7, 3e7, 2e7, 5e6, 1e6, 0.0]
    assert len(distribution["replicates"]) == 3
    assert all(len(series) == 9 for series in distribution["replicates"])
    assert measurement.flags == []


def test_a_second_delivery_after_success_does_nothing(make_file, tube):
    upload = make_file(fake_file(), aliquot=tube)
    processing.process_file(upload.pk)
    first = ParticleMeasurement.objects.get(instrument_file=upload)

    processing.process_file(upload.pk)
    process_instrument_file.delay(upload.pk)

    assert reload(upload).attempts == 1
    assert list(ParticleMeasurement.objects.filter(instrument_file=upload)) == [first]


def test_a_delivery_while_another_worker_holds_the_file_does_nothing(
    make_file, tube, other_connection
):
    upload = make_file(fake_file(), aliquot=tube)
    hold_lock(other_connection, upload.pk)

    processing.process_file(upload.pk)

    upload = reload(upload)
    assert (upload.status, upload.attempts) == (FileStatus.RECEIVED, 0)
    assert not ParticleMeasurement.objects.filter(instrument_file=upload).exists()


def test_a_redelivery_after_a_worker_died_takes_over_at_once(make_file, tube):
    # The dead worker claimed the file a moment ago; its lock went with its connection.
    upload = make_file(fake_file(), aliquot=tube, status=FileStatus.PROCESSING)
    InstrumentFile.objects.filter(pk=upload.pk).update(attempts=1)

    processing.process_file(upload.pk)

    upload = reload(upload)
    assert (upload.status, upload.attempts) == (FileStatus.PARSED, 2)
    assert ParticleMeasurement.objects.filter(instrument_file=upload).count() == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty; format not recognised; supported: Fake NTA (tests)"),
        (b"\x00\x01\x02\xff" * 100, "format not recognised; supported: Fake NTA (tests)"),
        (b"Sample,Concentration\nA,1\n", "format not recognised; supported: Fake NTA (tests)"),
    ],
    ids=["empty", "binary", "other-csv"],
)
def test_unrecognised_files_fail_with_the_supported_formats(make_file, tube, content, expected):
    upload = make_file(content, aliquot=tube)
    process_instrument_file.delay(upload.pk)
    upload = reload(upload)
    assert (upload.status, upload.error, upload.attempts) == (FileStatus.FAILED, expected, 1)
    assert upload.format == ""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            fake_file(extra="Concentrations,1e9,lots"),
            'not a number (line 13, column "Concentrations")',
        ),
        (b"FAKE-NTA v1\nSample Name,x\n", 'missing row (column "Concentrations")'),
        (b"FAKE-NTA v1\nSample Name,caf\xe9\n", "the text is not valid UTF-8 (line 2)"),
    ],
    ids=["bad-number", "truncated", "mis-encoded"],
)
def test_a_parse_error_fails_the_file_with_what_and_where_and_is_not_retried(
    make_file, tube, content, expected
):
    upload = make_file(content, aliquot=tube)
    process_instrument_file.delay(upload.pk)
    upload = reload(upload)
    assert (upload.status, upload.error, upload.attempts) == (FileStatus.FAILED, expected, 1)
    assert (upload.format, upload.parser_version) == ("test_nta", "0.1")
    assert not ParticleMeasurement.objects.filter(instrument_file=upload).exists()


def test_a_crashing_parser_fails_the_file_as_a_bug_without_retrying(make_file, tube):
    upload = make_file(fake_file(extra="Crash,yes"), aliquot=tube)
    process_instrument_file.delay(upload.pk)
    upload = reload(upload)
    assert upload.status == FileStatus.FAILED and upload.attempts == 1
    assert "parser failed unexpectedly (RuntimeError: simulated parser bug)" in upload.error


def test_a_transient_database_error_is_retried_then_succeeds(make_file, tube, monkeypatch):
    upload = make_file(fake_file(), aliquot=tube)
    real = processing._process_claimed
    calls = []

    def flaky(instrument_file):
        calls.append(instrument_file.pk)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(instrument_file)

    monkeypatch.setattr(processing, "_process_claimed", flaky)
    process_instrument_file.delay(upload.pk)

    upload = reload(upload)
    assert (upload.status, upload.attempts, upload.error) == (FileStatus.PARSED, 2, "")
    assert len(calls) == 2
    assert ParticleMeasurement.objects.filter(instrument_file=upload).count() == 1


def test_retries_are_bounded_then_the_file_fails_with_the_last_error(make_file, tube, monkeypatch):
    upload = make_file(fake_file(), aliquot=tube)
    upload.file.storage.delete(upload.file.name)  # storage lost the bytes: OSError every time

    process_instrument_file.delay(upload.pk)

    upload = reload(upload)
    assert upload.status == FileStatus.FAILED
    assert upload.attempts == MAX_RETRIES + 1
    assert upload.error.startswith(f"processing stopped after {MAX_RETRIES + 1} attempts")
    assert "FileNotFoundError" in upload.error


def test_a_file_that_used_up_its_attempts_is_failed_instead_of_parsed(make_file, tube, settings):
    settings.INSTRUMENT_FILE_MAX_ATTEMPTS = 3
    upload = make_file(fake_file(), aliquot=tube, status=FileStatus.PROCESSING)
    InstrumentFile.objects.filter(pk=upload.pk).update(attempts=3, error="WorkerLostError: x")

    processing.process_file(upload.pk)

    upload = reload(upload)
    assert upload.status == FileStatus.FAILED
    assert upload.error == (
        "processing stopped after 3 attempts: the worker was lost, timed out or could not "
        "reach the database or file storage each time (last error: WorkerLostError: x)"
    )


def test_storing_is_all_or_nothing_so_earlier_results_survive_a_failed_store(
    make_file, tube, monkeypatch, members
):
    upload = make_file(fake_file(), aliquot=tube)
    processing.process_file(upload.pk)
    before = ParticleMeasurement.objects.get(instrument_file=upload)
    processing.reprocess_file(instrument_file=upload, user=members["editor"])

    def lost_connection(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    # The old rows are deleted first, then the new one is inserted: the insert fails.
    monkeypatch.setattr(ParticleMeasurement.objects, "create", lost_connection)
    with pytest.raises(OperationalError):
        processing.process_file(upload.pk)

    assert list(ParticleMeasurement.objects.filter(instrument_file=upload)) == [before]
    assert reload(upload).status == FileStatus.PROCESSING  # retried by the task or the sweep


def test_a_result_the_database_refuses_fails_the_file_without_a_retry(make_file, tube, monkeypatch):
    upload = make_file(fake_file(), aliquot=tube)
    real = filing.measurement_values

    def broken(result, **kwargs):
        return {**real(result, **kwargs), "replicates": -1}  # violates a CHECK constraint

    monkeypatch.setattr(filing, "measurement_values", broken)
    process_instrument_file.delay(upload.pk)

    upload = reload(upload)
    assert (upload.status, upload.attempts) == (FileStatus.FAILED, 1)
    assert upload.error.startswith("the results could not be stored (IntegrityError: ")
    assert not ParticleMeasurement.objects.filter(instrument_file=upload).exists()


def test_nul_characters_from_a_mis_encoded_file_are_dropped_not_fatal(make_file, tube):
    upload = make_file(fake_file(warnings=("Hi\x00gh noise",)), aliquot=tube)
    processing.process_file(upload.pk)
    assert reload(upload).status == FileStatus.PARSED
    measurement = ParticleMeasurement.objects.get(instrument_file=upload)
    assert measurement.instrument_warnings == ["High noise"]


def test_a_huge_file_that_looks_like_an_export_is_refused_without_reading_it(
    make_file, tube, monkeypatch
):
    monkeypatch.setattr(processing, "MAX_PARSE_BYTES", 100)
    upload = make_file(fake_file(), aliquot=tube)
    processing.process_file(upload.pk)
    upload = reload(upload)
    assert upload.status == FileStatus.FAILED
    assert upload.error == (
        f"{upload.size_bytes:,} bytes is too large for a Fake NTA (tests) export (at most 100)"
    )
