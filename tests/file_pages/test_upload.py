"""The upload page and the JSON endpoints behind its drop zone: one file per request,
created / duplicate / too large / empty / bad tube, and the status the rows poll."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement

from .nta import experiment_summary

UPLOAD = "assays:file-upload-json"


def nta_upload(sample: str = "EXO-000001", name: str = "") -> SimpleUploadedFile:
    name = name or f"{sample} 2024-03-05 14-20-00-ExperimentSummary.csv"
    return SimpleUploadedFile(name, experiment_summary(sample=sample), "text/csv")


def post(client, **data):
    return client.post(reverse(UPLOAD), data, HTTP_ACCEPT="application/json")


def poll(client, file_id: int) -> dict:
    response = client.get(reverse("assays:file-statuses"), {"id": file_id})
    assert response.status_code == 200
    [row] = response.json()["files"]
    return row


def test_upload_page_renders_a_drop_zone_with_a_plain_form_fallback(page_client, instrument):
    response = page_client("editor").get(reverse("assays:file-upload"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-uploader" in html and f'data-upload-url="{reverse(UPLOAD)}"' in html
    assert 'type="file" name="file" id="id_upload_file" multiple' in html
    assert 'enctype="multipart/form-data"' in html and "uploads.js" in html
    assert instrument.name in html
    assert "NanoSight NTA ExperimentSummary" in html  # supported formats listed


def test_a_new_file_is_created_and_its_row_turns_parsed(
    page_client, tube, members, django_capture_on_commit_callbacks
):
    client = page_client("editor")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, file=nta_upload(sample="anything"), aliquot=tube.accession.lower())

    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True and body["duplicate"] is False
    record = InstrumentFile.objects.get()
    assert body["file"]["id"] == record.pk
    assert body["file"]["url"] == record.get_absolute_url()
    assert body["file"]["status_url"] == reverse("assays:file-status", args=[record.pk])
    assert record.uploaded_by == members["editor"] and record.aliquot == tube

    # Processing ran once the upload committed: the poll now says parsed, with the result.
    row = poll(client, record.pk)
    measurement = ParticleMeasurement.objects.get()
    assert row["status"] == FileStatus.PARSED and row["final"] is True
    assert row["result_url"] == reverse("assays:particle-detail", args=[measurement.pk])
    assert row["aliquot"] == tube.accession
    assert client.get(row["result_url"]).status_code == 200


def test_the_same_bytes_again_return_the_existing_record(page_client, tube):
    client = page_client("editor")
    first = post(client, file=nta_upload(), aliquot=tube.accession)
    again = post(client, file=nta_upload(name="renamed.csv"))

    assert first.status_code == 201 and again.status_code == 200
    body = again.json()
    assert body["created"] is False and body["duplicate"] is True
    assert body["file"]["id"] == first.json()["file"]["id"]
    assert "Already uploaded" in body["message"]
    assert InstrumentFile.objects.count() == 1


def test_a_duplicate_of_a_file_one_cannot_see_is_a_conflict_without_details(
    page_client, other_tube, members
):
    post(page_client("superuser"), file=nta_upload(), aliquot=other_tube.accession)
    response = post(page_client("editor"), file=nta_upload())

    assert response.status_code == 409
    body = response.json()
    assert body["duplicate"] is True and body["file"] is None
    assert other_tube.accession not in body["message"]


def test_too_large_is_413_and_leaves_nothing(page_client, settings, media):
    settings.INSTRUMENT_FILE_MAX_BYTES = 2048
    response = post(page_client("editor"), file=nta_upload())

    assert response.status_code == 413
    assert "larger than the upload limit" in response.json()["message"]
    assert response.json()["errors"]["file"]
    assert not InstrumentFile.objects.exists()
    assert not any(path.is_file() for path in media.rglob("*")) if media.exists() else True


def test_empty_and_missing_files_are_refused_with_a_field_message(page_client):
    client = page_client("editor")
    empty = post(client, file=SimpleUploadedFile("x-ExperimentSummary.csv", b""))
    missing = post(client)

    assert empty.status_code == 400 and missing.status_code == 400
    assert empty.json()["errors"]["file"] == ["The file is empty."]
    assert missing.json()["errors"]["file"] == ["Choose a file."]
    assert not InstrumentFile.objects.exists()


def test_a_tube_of_another_study_reads_as_not_found(page_client, other_tube):
    response = post(page_client("editor"), file=nta_upload(), aliquot=other_tube.accession)
    assert response.status_code == 400
    assert response.json()["errors"]["aliquot"] == [
        f"No tube {other_tube.accession} in your studies. Check the accession."
    ]
    assert not InstrumentFile.objects.exists()


def test_viewers_may_not_upload_at_all(page_client, tube):
    # A viewer is editor in no study: refused before the tube is even looked at.
    response = post(page_client("viewer"), file=nta_upload(), aliquot=tube.accession)
    assert response.status_code == 403
    assert "editor role" in response.json()["message"]
    assert not InstrumentFile.objects.exists()


def test_an_editor_elsewhere_may_not_file_results_on_a_tube_they_only_view(
    page_client, tube, members, other_study
):
    from samples.choices import Role
    from samples.models import StudyMembership

    StudyMembership.objects.create(study=other_study, user=members["viewer"], role=Role.EDITOR)
    response = post(page_client("viewer"), file=nta_upload(), aliquot=tube.accession)
    assert response.status_code == 400
    assert "editor role" in response.json()["errors"]["aliquot"][0]
    assert not InstrumentFile.objects.exists()


def test_an_unknown_instrument_is_a_field_error(page_client):
    response = post(page_client("editor"), file=nta_upload(), instrument="999999")
    assert response.status_code == 400 and "instrument" in response.json()["errors"]


def test_without_a_tube_an_editor_may_upload_and_the_file_waits_for_review(
    page_client, django_capture_on_commit_callbacks
):
    client = page_client("editor")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, file=nta_upload(sample="no accession here"))
    assert response.status_code == 201
    row = poll(client, response.json()["file"]["id"])
    assert row["status"] == FileStatus.NEEDS_REVIEW and row["final"] is True
    assert row["review_reason"]
    assert client.get(row["url"]).status_code == 200


def test_signed_out_scripts_get_json_401_and_get_is_not_allowed(client, page_client):
    assert client.post(reverse(UPLOAD)).status_code == 401
    assert client.post(reverse(UPLOAD)).json()["message"].startswith("You are signed out")
    assert client.get(reverse("assays:file-statuses")).status_code == 401
    assert page_client("editor").get(reverse(UPLOAD)).status_code == 405


def test_the_plain_form_uploads_several_files_at_once(page_client, tube):
    client = page_client("editor")
    response = client.post(
        reverse("assays:file-upload"),
        {
            "file": [nta_upload("EXO-1"), nta_upload("EXO-2")],
            "aliquot": tube.accession,
            "instrument": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert InstrumentFile.objects.filter(aliquot=tube).count() == 2
    html = response.content.decode()
    assert "EXO-1 2024-03-05 14-20-00-ExperimentSummary.csv uploaded" in html
    assert html.count('data-file-id="') == 2  # the recent-uploads rows, live


def test_the_plain_form_shows_field_errors(page_client, other_tube):
    response = page_client("editor").post(
        reverse("assays:file-upload"), {"file": [nta_upload()], "aliquot": other_tube.accession}
    )
    assert response.status_code == 400
    assert "No tube" in response.content.decode()
    assert not InstrumentFile.objects.exists()


# --- Status endpoints ------------------------------------------------------------------


def test_status_of_one_file(page_client, tube, make_file):
    f = make_file(
        aliquot=tube, status=FileStatus.FAILED, error='Bad number (line 42, column "Mode")'
    )
    response = page_client("viewer").get(reverse("assays:file-status", args=[f.pk]))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed" and body["status_label"] == "Failed"
    assert body["final"] is True and body["error"] == 'Bad number (line 42, column "Mode")'
    assert response["Cache-Control"].startswith("max-age=0")


def test_status_is_not_found_for_another_studys_file(page_client, other_tube, make_file, members):
    f = make_file(aliquot=other_tube, uploader=members["superuser"])
    assert page_client("editor").get(reverse("assays:file-status", args=[f.pk])).status_code == 404


def test_own_uploads_are_visible_before_they_have_a_tube(page_client, make_file, members):
    f = make_file(uploader=members["outsider"], status=FileStatus.RECEIVED)
    response = page_client("outsider").get(reverse("assays:file-status", args=[f.pk]))
    assert response.status_code == 200 and response.json()["final"] is False
    assert page_client("editor").get(reverse("assays:file-status", args=[f.pk])).status_code == 404


def test_batch_status_leaves_out_what_one_cannot_see(
    page_client, tube, other_tube, make_file, members
):
    mine = make_file(aliquot=tube, status=FileStatus.PROCESSING)
    hidden = make_file(aliquot=other_tube, uploader=members["superuser"])
    response = page_client("viewer").get(
        reverse("assays:file-statuses"), {"id": [mine.pk, hidden.pk, 987654]}
    )
    assert [row["id"] for row in response.json()["files"]] == [mine.pk]
    assert response.json()["files"][0]["status"] == "processing"


def test_batch_status_refuses_bad_ids(page_client):
    client = page_client("viewer")
    assert client.get(reverse("assays:file-statuses"), {"id": "x"}).status_code == 400
    too_many = {"id": [str(i) for i in range(1, 102)]}
    assert client.get(reverse("assays:file-statuses"), too_many).status_code == 400
