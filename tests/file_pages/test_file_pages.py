"""The instrument-file list and a file's page: scoping, filters, download, re-process,
resolving "needs review", history."""

from __future__ import annotations

from django.urls import reverse

from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement

from .nta import experiment_summary


def detail(f: InstrumentFile) -> str:
    return reverse("assays:file-detail", args=[f.pk])


# --- List ---------------------------------------------------------------------------------


def test_list_shows_the_users_files_only(page_client, tube, other_tube, make_file, members):
    mine = make_file(aliquot=tube, name="ours.csv")
    own_unfiled = make_file(uploader=members["outsider"], name="outsiders-own.csv")
    theirs = make_file(aliquot=other_tube, uploader=members["superuser"], name="theirs.csv")

    html = page_client("viewer").get(reverse("assays:file-list")).content.decode()
    assert mine.original_name in html
    assert theirs.original_name not in html and own_unfiled.original_name not in html

    html = page_client("outsider").get(reverse("assays:file-list")).content.decode()
    assert own_unfiled.original_name in html and mine.original_name not in html

    html = page_client("superuser").get(reverse("assays:file-list")).content.decode()
    assert all(f.original_name in html for f in (mine, own_unfiled, theirs))


def test_list_filters(page_client, tube, make_tubes, make_file, instrument, members):
    other = make_tubes(1)[0]
    failed = make_file(
        aliquot=tube, status=FileStatus.FAILED, name="broken.csv", instrument=instrument
    )
    parsed = make_file(aliquot=other, name="fine.csv", format="zetaview")
    review = make_file(
        uploader=members["viewer"], status=FileStatus.NEEDS_REVIEW, name="which-tube.csv"
    )
    client = page_client("viewer")
    url = reverse("assays:file-list")

    def names(**query) -> set[str]:
        html = client.get(url, query).content.decode()
        return {f.original_name for f in (failed, parsed, review) if f.original_name in html}

    assert names() == {"broken.csv", "fine.csv", "which-tube.csv"}
    assert names(status="failed") == {"broken.csv"}
    assert names(status=["failed", "needs_review"]) == {"broken.csv", "which-tube.csv"}
    assert names(format="zetaview") == {"fine.csv"}
    assert names(instrument=instrument.pk) == {"broken.csv"}
    assert names(tube=other.accession.lower()) == {"fine.csv"}
    assert names(study=tube.study_id) == {"broken.csv", "fine.csv"}
    assert names(mine="true") == {"which-tube.csv"}
    assert names(q="FINE") == {"fine.csv"}
    assert client.get(url, {"study": "abc"}).status_code == 200  # a bad filter is no 500


def test_list_is_paginated(page_client, tube, make_file, monkeypatch):
    for _ in range(3):
        make_file(aliquot=tube)
    monkeypatch.setattr("exolims.views.LIST_PAGE_SIZE", 2)
    html = page_client("viewer").get(reverse("assays:file-list")).content.decode()
    assert "1–2 of 3" in html and 'rel="next"' in html


# --- Detail ---------------------------------------------------------------------------------


def test_detail_shows_status_format_error_and_timestamps(page_client, tube, make_file, instrument):
    f = make_file(
        aliquot=tube,
        status=FileStatus.FAILED,
        format="nta_nanosight",
        parser_version="1.0",
        attempts=2,
        error='could not read a number (line 42, column "Concentration")',
        instrument=instrument,
    )
    response = page_client("viewer").get(detail(f))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Processing failed" in html
    assert "line 42, column &quot;Concentration&quot;" in html
    assert "NanoSight NTA ExperimentSummary" in html and "parser 1.0" in html
    assert "<dt>Attempts</dt><dd>2</dd>" in html
    assert tube.accession in html and instrument.name in html
    assert reverse("assays:file-download", args=[f.pk]) in html
    assert "Re-process" not in html  # a viewer who did not upload it


def test_detail_of_another_studys_file_is_not_found(page_client, other_tube, make_file, members):
    f = make_file(aliquot=other_tube, uploader=members["superuser"])
    client = page_client("manager")
    for name in ("file-detail", "file-download", "file-history"):
        assert client.get(reverse(f"assays:{name}", args=[f.pk])).status_code == 404
    for name in ("file-reprocess", "file-resolve"):
        assert client.post(reverse(f"assays:{name}", args=[f.pk])).status_code == 404


def test_detail_lists_the_results_of_the_file(page_client, tube, make_file, make_measurement):
    f = make_file(aliquot=tube)
    m = make_measurement(tube, instrument_file=f)
    html = page_client("viewer").get(detail(f)).content.decode()
    assert reverse("assays:particle-detail", args=[m.pk]) in html
    assert "2.34 × 10⁹" in html


def test_download_is_the_original_bytes_as_an_attachment(page_client, tube, make_file):
    f = make_file(aliquot=tube, content=b"<html>not for the browser</html>", name="evil.html")
    response = page_client("viewer").get(reverse("assays:file-download", args=[f.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<html>not for the browser</html>"
    assert response["Content-Disposition"] == 'attachment; filename="evil.html"'
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_history_tab(page_client, tube, make_file):
    f = make_file(aliquot=tube)
    response = page_client("viewer").get(reverse("assays:file-history", args=[f.pk]))
    assert response.status_code == 200
    assert "audit trail" in response.content.decode()
    assert f.original_name in response.content.decode()


# --- Re-process ---------------------------------------------------------------------------


def test_editors_and_the_uploader_may_reprocess_viewers_may_not(
    page_client, tube, make_file, members, django_capture_on_commit_callbacks
):
    f = make_file(
        aliquot=tube,
        uploader=members["manager"],
        status=FileStatus.FAILED,
        error="old error",
        content=experiment_summary(sample="x"),
    )
    url = reverse("assays:file-reprocess", args=[f.pk])

    assert page_client("viewer").post(url).status_code == 403
    f.refresh_from_db()
    assert f.status == FileStatus.FAILED

    assert page_client("editor").get(url).status_code == 405
    html = page_client("editor").get(detail(f)).content.decode()
    assert "Re-process" in html
    with django_capture_on_commit_callbacks(execute=True):
        response = page_client("editor").post(url)
    assert response.status_code == 302 and response["Location"] == detail(f)
    f.refresh_from_db()
    assert f.status == FileStatus.PARSED and f.error == ""
    assert ParticleMeasurement.objects.filter(instrument_file=f, aliquot=tube).count() == 1


def test_the_uploader_may_reprocess_a_file_without_a_study(
    page_client, make_file, members, django_capture_on_commit_callbacks
):
    f = make_file(uploader=members["outsider"], status=FileStatus.FAILED, content=b"junk")
    with django_capture_on_commit_callbacks(execute=True):
        response = page_client("outsider").post(reverse("assays:file-reprocess", args=[f.pk]))
    assert response.status_code == 302
    f.refresh_from_db()
    assert f.status == FileStatus.FAILED and "format not recognised" in f.error
    assert f.attempts == 1


# --- Needs review -----------------------------------------------------------------------------


def needs_review_file(make_file, uploader):
    return make_file(
        uploader=uploader,
        status=FileStatus.NEEDS_REVIEW,
        review_reason="No tube matches the sample name “plate A1”.",
        content=experiment_summary(sample="plate A1"),
        format="nta_nanosight",
    )


def test_the_review_reason_and_a_tube_form_are_shown(page_client, make_file, members):
    f = needs_review_file(make_file, members["editor"])
    html = page_client("editor").get(detail(f)).content.decode()
    assert "Needs review" in html and "plate A1" in html
    assert reverse("assays:file-resolve", args=[f.pk]) in html
    assert 'name="accession"' in html


def test_picking_the_tube_completes_processing(
    page_client, tube, make_file, members, django_capture_on_commit_callbacks
):
    f = needs_review_file(make_file, members["editor"])
    with django_capture_on_commit_callbacks(execute=True):
        response = page_client("editor").post(
            reverse("assays:file-resolve", args=[f.pk]), {"accession": tube.accession.lower()}
        )
    assert response.status_code == 302
    f.refresh_from_db()
    assert (f.status, f.aliquot_id, f.study_id) == (FileStatus.PARSED, tube.pk, tube.study_id)
    assert ParticleMeasurement.objects.get(instrument_file=f).aliquot == tube
    # Now filed on the study's tube, the whole study sees it.
    assert page_client("viewer").get(detail(f)).status_code == 200


def test_a_wrong_tube_is_a_form_error_and_nothing_changes(
    page_client, other_tube, make_file, members
):
    f = needs_review_file(make_file, members["editor"])
    client = page_client("editor")
    url = reverse("assays:file-resolve", args=[f.pk])

    for accession, message in (
        ("", "Type or scan the tube&#x27;s accession."),
        ("EXO-999999", "No tube EXO-999999 in your studies."),
        (other_tube.accession, f"No tube {other_tube.accession} in your studies."),
    ):
        response = client.post(url, {"accession": accession})
        assert response.status_code == 400
        assert message in response.content.decode()
    f.refresh_from_db()
    assert f.status == FileStatus.NEEDS_REVIEW and f.aliquot_id is None


def test_a_viewer_cannot_file_results_on_a_tube(page_client, tube, make_file, members):
    f = needs_review_file(make_file, members["viewer"])  # the viewer's own upload
    response = page_client("viewer").post(
        reverse("assays:file-resolve", args=[f.pk]), {"accession": tube.accession}
    )
    assert response.status_code == 400
    assert "editor role" in response.content.decode()
    f.refresh_from_db()
    assert f.status == FileStatus.NEEDS_REVIEW


def test_resolving_a_file_that_no_longer_needs_review_changes_nothing(page_client, tube, make_file):
    f = make_file(aliquot=tube, status=FileStatus.PARSED)
    response = page_client("editor").post(
        reverse("assays:file-resolve", args=[f.pk]), {"accession": tube.accession}, follow=True
    )
    assert "no longer needs review" in response.content.decode()
