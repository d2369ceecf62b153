"""/api/v1/instrument-files/: upload, read, follow, re-process, resolve, download."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from assays import intake
from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement

from .conftest import API, NTA_BYTES

FILES = f"{API}/instrument-files/"


def upload(client, data: bytes = NTA_BYTES, name: str = "ExperimentSummary.csv", **fields):
    return client.post(
        FILES, {"file": SimpleUploadedFile(name, data), **fields}, format="multipart"
    )


def stored(user, data: bytes, *, name: str = "f.csv", aliquot=None, **changes) -> InstrumentFile:
    record, _ = intake.register_instrument_file(
        upload=ContentFile(data, name=name), user=user, aliquot=aliquot
    )
    if changes:
        InstrumentFile.objects.filter(pk=record.pk).update(**changes)
        record.refresh_from_db()
    return record


pytestmark = pytest.mark.django_db


def test_a_viewer_cannot_upload_through_the_api(client_for, enqueued):
    response = upload(client_for("viewer"))
    assert response.status_code == 403
    assert "editor role" in str(response.json())
    assert not InstrumentFile.objects.exists()


def test_signing_in_is_required(api_client, enqueued):
    assert upload(api_client).status_code == 401
    assert api_client.get(FILES).status_code == 401


def test_upload_answers_201_with_the_record_and_a_working_status_url(
    client_for, tube, enqueued, instrument, settings
):
    client = client_for("editor")
    response = upload(client, aliquot=tube.accession.lower(), instrument="nta-1")
    assert response.status_code == 201, response.content
    body = response.json()
    record = InstrumentFile.objects.get()
    assert body["id"] == record.pk
    assert response["Location"] == f"http://testserver{FILES}{record.pk}/"
    assert body["status"] == "received" and body["original_name"] == "ExperimentSummary.csv"
    assert (body["aliquot_accession"], body["study"]) == (tube.accession, tube.study_id)
    assert (body["instrument"], body["instrument_name"]) == (instrument.pk, "NTA-1")
    assert body["uploaded_by_username"] == "eddie_editor"
    assert body["size_bytes"] == len(NTA_BYTES) and len(body["sha256"]) == 64
    assert body["particle_measurements"] == []
    assert body["status_url"] == f"http://testserver{FILES}{record.pk}/status/"

    assert response["X-Upload-Max-Bytes"] == str(settings.INSTRUMENT_FILE_MAX_BYTES)
    status = client.get(body["status_url"])
    assert status.status_code == 200
    assert status.json()["status"] == "received" and status.json()["done"] is False
    assert status.json()["url"] == f"http://testserver{FILES}{record.pk}/"


def test_the_same_bytes_again_answer_200_with_the_existing_record(client_for, enqueued):
    client = client_for("editor")
    first = upload(client, name="a.csv")
    again = upload(client, name="b.csv")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["original_name"] == "a.csv"
    assert InstrumentFile.objects.count() == 1


def test_a_duplicate_of_a_hidden_file_is_a_conflict(client_for, members, foreign_tube, enqueued):
    stored(members["superuser"], NTA_BYTES, aliquot=foreign_tube)
    response = upload(client_for("editor"))
    assert response.status_code == 409
    assert "cannot see" in response.json()["detail"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "file", "No file was submitted."),
        ({"file": SimpleUploadedFile("empty.csv", b"")}, "file", "The file is empty."),
        (
            {"file": SimpleUploadedFile("a.csv", NTA_BYTES), "aliquot": "EXO-999999"},
            "aliquot",
            "No tube EXO-999999 in your studies.",
        ),
        (
            {"file": SimpleUploadedFile("a.csv", NTA_BYTES), "instrument": "Nope"},
            "instrument",
            "No instrument 'Nope'.",
        ),
    ],
)
def test_bad_uploads_are_400_with_a_field_message(client_for, enqueued, fields, field, message):
    response = client_for("editor").post(FILES, fields, format="multipart")
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert not InstrumentFile.objects.exists()


def test_a_tube_of_another_study_reads_as_unknown(client_for, foreign_tube, enqueued):
    response = upload(client_for("editor"), aliquot=foreign_tube.accession)
    assert response.status_code == 400
    assert response.json() == {"aliquot": [f"No tube {foreign_tube.accession} in your studies."]}


def test_a_viewer_may_not_file_results_on_a_tube(client_for, tube, enqueued):
    response = upload(client_for("viewer"), aliquot=tube.accession)
    assert response.status_code == 403
    assert "editor role" in response.json()["detail"]
    assert not InstrumentFile.objects.exists()


def test_an_inactive_instrument_is_refused(client_for, instrument, enqueued):
    instrument.is_active = False
    instrument.save()
    response = upload(client_for("editor"), instrument=str(instrument.pk))
    assert response.status_code == 400
    assert "inactive" in response.json()["instrument"][0]


def test_lists_are_scoped_and_detail_of_a_foreign_file_is_404(
    client_for, members, tube, foreign_tube, enqueued
):
    mine = stored(members["editor"], b"mine")
    in_study = stored(members["manager"], b"study file", aliquot=tube)
    foreign = stored(members["superuser"], b"foreign", aliquot=foreign_tube)
    someone_elses_unfiled = stored(members["manager"], b"unfiled")

    editor = client_for("editor")
    ids = {row["id"] for row in editor.get(FILES).json()["results"]}
    assert ids == {mine.pk, in_study.pk}
    assert editor.get(f"{FILES}{foreign.pk}/").status_code == 404
    assert editor.get(f"{FILES}{someone_elses_unfiled.pk}/status/").status_code == 404
    assert editor.get(f"{FILES}{foreign.pk}/download/").status_code == 404
    outsider_ids = {row["id"] for row in client_for("outsider").get(FILES).json()["results"]}
    assert outsider_ids == set()
    superuser_ids = {row["id"] for row in client_for("superuser").get(FILES).json()["results"]}
    assert superuser_ids == {mine.pk, in_study.pk, foreign.pk, someone_elses_unfiled.pk}


def test_list_filters(client_for, members, tube, instrument, enqueued):
    editor = members["editor"]
    parsed = stored(editor, b"one", aliquot=tube, status=FileStatus.PARSED, format="nta_nanosight")
    failed = stored(editor, b"two", status=FileStatus.FAILED, instrument=instrument)
    old = stored(editor, b"three")
    InstrumentFile.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=10))
    client = client_for("editor")

    def ids(query: str) -> set[int]:
        response = client.get(f"{FILES}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("status=parsed&status=failed") == {parsed.pk, failed.pk}
    assert ids("file_format=nta_nanosight") == {parsed.pk}
    assert ids(f"aliquot={tube.accession}") == {parsed.pk}
    assert ids(f"aliquot={tube.pk}") == {parsed.pk}
    assert ids(f"study={tube.study_id}") == {parsed.pk}
    assert ids("instrument=nta-1") == ids(f"instrument={instrument.pk}") == {failed.pk}
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(f"received_after={since}".replace("+", "%2B")) == {parsed.pk, failed.pk}
    assert ids(f"received_before={since}".replace("+", "%2B")) == {old.pk}
    assert ids(f"ids={parsed.pk},{old.pk}") == {parsed.pk, old.pk}
    assert ids(f"uploaded_by={members['manager'].pk}") == set()
    assert client.get(f"{FILES}?ids=1,x").status_code == 400
    assert client.get(f"{FILES}?status=nonsense").status_code == 400


def test_lists_are_keyset_paginated(client_for, members, enqueued):
    for number in range(5):
        stored(members["editor"], f"file {number}".encode())
    client = client_for("editor")
    first = client.get(f"{FILES}?page_size=2").json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == len(second["results"]) == 2
    assert first["results"][0]["id"] > second["results"][-1]["id"]
    assert "count" not in first


def test_detail_shows_error_format_parser_attempts_and_results(client_for, members, tube, enqueued):
    record = stored(
        members["editor"],
        b"bad",
        aliquot=tube,
        status=FileStatus.FAILED,
        error='line 42, column "Concentration": not a number',
        format="nta_nanosight",
        parser_version="1.0",
        attempts=2,
        processed_at=timezone.now(),
    )
    results = [
        ParticleMeasurement.objects.create(
            instrument_file=record, aliquot=tube, study=tube.study, method="NTA"
        )
        for _ in range(2)
    ]
    body = client_for("viewer").get(f"{FILES}{record.pk}/").json()
    assert body["error"] == 'line 42, column "Concentration": not a number'
    assert (body["format"], body["parser_version"], body["attempts"]) == ("nta_nanosight", "1.0", 2)
    assert body["status_display"] == "Failed" and body["processed_at"]
    assert body["particle_measurements"] == [result.pk for result in results]
    status = client_for("viewer").get(f"{FILES}{record.pk}/status/").json()
    assert status["done"] is True and status["error"] == body["error"]


def test_reprocess_by_the_uploader_or_an_editor_of_the_study(client_for, members, tube, enqueued):
    record = stored(members["manager"], b"file", aliquot=tube, status=FileStatus.FAILED, error="x")
    enqueued.clear()
    assert client_for("viewer").post(f"{FILES}{record.pk}/reprocess/").status_code == 403
    assert client_for("outsider").post(f"{FILES}{record.pk}/reprocess/").status_code == 404
    response = client_for("editor").post(f"{FILES}{record.pk}/reprocess/")
    assert response.status_code == 202
    assert response.json()["status"] == "received" and response.json()["error"] == ""
    assert enqueued == [record.pk]


def test_resolve_files_a_needs_review_upload_on_the_picked_tube(
    client_for, members, tube, enqueued
):
    record = stored(members["editor"], b"no accession inside", status=FileStatus.NEEDS_REVIEW)
    enqueued.clear()
    client = client_for("editor")
    response = client.post(
        f"{FILES}{record.pk}/resolve/", {"aliquot": tube.accession}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["aliquot"], body["study"], body["status"]) == (tube.pk, tube.study_id, "received")
    assert enqueued == [record.pk]
    again = client.post(f"{FILES}{record.pk}/resolve/", {"aliquot": tube.accession}, format="json")
    assert again.status_code == 409


def test_resolve_refusals(client_for, members, tube, foreign_tube, enqueued):
    # A viewer's own file from before viewers were refused uploads (the row is made directly).
    record = stored(members["editor"], b"viewer's file", status=FileStatus.NEEDS_REVIEW)
    InstrumentFile.objects.filter(pk=record.pk).update(uploaded_by=members["viewer"])
    viewer = client_for("viewer")
    url = f"{FILES}{record.pk}/resolve/"
    assert viewer.post(url, {}, format="json").status_code == 400
    unknown = viewer.post(url, {"aliquot": foreign_tube.accession}, format="json")
    assert unknown.status_code == 400 and "No tube" in unknown.json()["aliquot"][0]
    assert viewer.post(url, {"aliquot": tube.accession}, format="json").status_code == 403
    assert client_for("editor").post(url, {"aliquot": tube.accession}).status_code == 404
    record.refresh_from_db()
    assert record.status == FileStatus.NEEDS_REVIEW and record.aliquot is None


def test_download_streams_the_original_bytes(client_for, members, enqueued):
    data = b"\x00\x01binary\xff" * 1000
    record = stored(members["editor"], data, name="Sample 1.txt")
    for accept in ("*/*", "application/octet-stream"):
        response = client_for("editor").get(f"{FILES}{record.pk}/download/", HTTP_ACCEPT=accept)
        assert response.status_code == 200
        assert response.streaming
        assert b"".join(response.streaming_content) == data
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"] == 'attachment; filename="Sample 1.txt"'


def test_download_of_missing_bytes_is_404(client_for, members, enqueued):
    record = stored(members["editor"], b"gone")
    record.file.storage.delete(record.file.name)
    response = client_for("editor").get(f"{FILES}{record.pk}/download/")
    assert response.status_code == 404
    assert "missing" in response.json()["detail"]


def test_history_is_readable(client_for, members, enqueued):
    record = stored(members["editor"], b"tracked", status=FileStatus.PARSED)
    history = client_for("editor").get(f"{FILES}{record.pk}/history/")
    assert history.status_code == 200
    assert [entry["action"] for entry in history.json()] == ["update", "insert"]


def test_no_writes_besides_the_actions(client_for, members, enqueued):
    record = stored(members["editor"], b"file")
    client = client_for("editor")
    assert client.patch(f"{FILES}{record.pk}/", {"status": "parsed"}).status_code == 405
    assert client.delete(f"{FILES}{record.pk}/").status_code == 405


def test_an_upload_runs_through_the_real_pipeline_once_committed(
    client_for, tube, django_capture_on_commit_callbacks, monkeypatch
):
    """No stand-ins for processing: the eager task parses the file after the commit."""
    from assays.parsers import registry
    from tests.processing.fake_parser import FAKE_PARSERS

    monkeypatch.setattr(registry, "PARSERS", dict(FAKE_PARSERS))
    data = (
        f"FAKE-NTA v1\nSample Name,{tube.accession} 1:1000\nDilution,1000\n"
        "Concentrations,1.0e9,1.1e9,0.9e9\nMode,95\nMean,110\n"
    ).encode()
    client = client_for("editor")
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, data, name="ExperimentSummary.csv")
    assert response.status_code == 201
    status = client.get(response.json()["status_url"]).json()
    assert status["status"] == "parsed", status
    assert status["aliquot_accession"] == tube.accession
    [result_id] = status["particle_measurements"]
    result = client.get(f"{API}/particle-measurements/{result_id}/").json()
    assert result["concentration_per_ml"] == pytest.approx(1.0e9)
    assert result["instrument_file"] == response.json()["id"]


def test_the_labs_editors_pick_the_tube_for_an_instruments_unmatched_file(
    client_for, instrument_account, tube, enqueued
):
    """An instrument upload that matched no tube belongs to no study yet: editors see it
    and resolve it; viewers and outsiders do not."""
    record = stored(instrument_account, b"NTA export, no accession", status=FileStatus.NEEDS_REVIEW)
    assert client_for("viewer").get(f"{FILES}{record.pk}/").status_code == 404
    assert client_for("outsider").get(f"{FILES}{record.pk}/").status_code == 404
    editor = client_for("editor")
    assert record.pk in {
        row["id"] for row in editor.get(f"{FILES}?status=needs_review").json()["results"]
    }
    response = editor.post(
        f"{FILES}{record.pk}/resolve/", {"aliquot": tube.accession}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["aliquot"], response.json()["status"]) == (tube.pk, "received")
