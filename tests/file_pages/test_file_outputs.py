"""What a parsed file produced, wherever a file is shown (drop-zone rows, recent uploads, the
file list): a plate (and "map the plate" while it waits for its map), a qPCR run with how many
wells are on tubes, flow/DLS/particle records. Multi-sample files are never "on" the tube
preset by the page they were uploaded from. Who may upload at all."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assays.choices import FileStatus, ProteinAssayStatus
from assays.matching import match_aliquot
from assays.models import InstrumentFile, ProteinAssay, QPCRRun

from .test_upload import nta_upload, poll, post

DATA = Path(__file__).resolve().parents[1] / "data" / "instruments"


def gen5_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("bca.txt", (DATA / "gen5" / "bca_results.txt").read_bytes())


def cfx_upload(accession: str) -> SimpleUploadedFile:
    content = (DATA / "qpcr" / "cfx_maestro_cq.csv").read_bytes()
    return SimpleUploadedFile("cq.csv", content.replace(b"EXO-000123", accession.encode()))


def upload(client, capture, **data) -> dict:
    with capture(execute=True):
        response = post(client, **data)
    assert response.status_code == 201, response.content
    return poll(client, response.json()["file"]["id"])


def test_a_plate_from_a_tube_page_links_to_its_plate_and_is_not_on_the_tube(
    page_client, tube, django_capture_on_commit_callbacks
):
    client = page_client("editor")
    row = upload(
        client, django_capture_on_commit_callbacks, file=gen5_upload(), aliquot=tube.accession
    )

    plate = ProteinAssay.objects.get()
    assert plate.status == ProteinAssayStatus.AWAITING_MAP
    assert row["status"] == FileStatus.PARSED
    assert row["outputs"] == [
        {
            "url": plate.get_absolute_url(),
            "text": "Plate waiting for its map",
            "action_url": reverse("assays:protein-assay-map", args=[plate.pk]),
            "action_text": "map the plate",
        }
    ]
    # Nothing was put on the tube: the file does not claim it (the drop zone would say
    # "Filed on EXO-…" and the file's page "Tube EXO-…").
    assert row["aliquot"] is None
    stored = InstrumentFile.objects.get()
    assert stored.aliquot_id is None and stored.study_id == tube.study_id
    assert tube.accession not in client.get(stored.get_absolute_url()).content.decode()

    # Recent uploads and the file list link the plate, not the (empty) particle list.
    for url in (reverse("assays:file-upload"), reverse("assays:file-list")):
        html = client.get(url).content.decode()
        assert plate.get_absolute_url() in html and "map the plate" in html, url
        assert f"?file={stored.pk}" not in html, url


def test_a_qpcr_run_says_how_many_wells_are_on_tubes(
    page_client, tube, django_capture_on_commit_callbacks
):
    client = page_client("editor")
    row = upload(
        client,
        django_capture_on_commit_callbacks,
        file=cfx_upload(tube.accession),
        aliquot=tube.accession,
    )

    run = QPCRRun.objects.get()
    on_tubes = run.results.filter(aliquot__isnull=False).count()
    wells = run.results.count()
    assert 0 < on_tubes < wells
    assert row["outputs"] == [
        {"url": run.get_absolute_url(), "text": f"qPCR run: {on_tubes} of {wells} wells on tubes"}
    ]
    assert row["aliquot"] is None and InstrumentFile.objects.get().aliquot_id is None
    html = client.get(reverse("assays:file-list")).content.decode()
    assert run.get_absolute_url() in html and "wells on tubes" in html


def test_a_particle_file_still_links_its_result_and_stays_on_its_tube(
    page_client, tube, django_capture_on_commit_callbacks
):
    client = page_client("editor")
    row = upload(
        client, django_capture_on_commit_callbacks, file=nta_upload(), aliquot=tube.accession
    )
    assert row["aliquot"] == tube.accession
    assert [o["url"] for o in row["outputs"]] == [row["result_url"]]
    html = client.get(reverse("assays:file-list")).content.decode()
    assert row["result_url"] in html


def test_the_list_costs_the_same_queries_with_plates_and_runs(
    page_client, make_tubes, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tubes = make_tubes(2)
    client = page_client("editor")
    upload(client, django_capture_on_commit_callbacks, file=gen5_upload())
    url = reverse("assays:file-list")
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    upload(client, django_capture_on_commit_callbacks, file=cfx_upload(tubes[0].accession))
    upload(client, django_capture_on_commit_callbacks, file=nta_upload(tubes[1].accession))
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more.captured_queries) == len(few.captured_queries)


# --- Who may upload ----------------------------------------------------------------------


def test_users_who_are_editor_in_no_study_may_not_upload(page_client, tube):
    for role in ("viewer", "outsider"):
        client = page_client(role)
        page = client.get(reverse("assays:file-upload"))
        assert page.status_code == 403
        assert "editor role" in page.content.decode()
        response = post(client, file=nta_upload())
        assert response.status_code == 403 and "editor role" in response.json()["message"]
        listing = client.get(reverse("assays:file-list")).content.decode()
        assert f'href="{reverse("assays:file-upload")}"' not in listing
    assert not InstrumentFile.objects.exists()
    listing = page_client("editor").get(reverse("assays:file-list")).content.decode()
    assert f'href="{reverse("assays:file-upload")}"' in listing


def test_a_tube_one_can_see_but_not_record_on_is_explained(tube, members):
    match = match_aliquot(texts=[tube.accession], uploader=members["viewer"])
    assert match.aliquot is None
    assert (
        f"you can see {tube.accession} but need the editor role in its study to record results"
        in match.reason
    )
    unseen = match_aliquot(texts=[tube.accession], uploader=members["outsider"])
    assert f"no tube you can record results on has accession {tube.accession}" in unseen.reason


# --- The drop zone's script shows the same links ---------------------------------------------


def test_a_live_row_turning_parsed_links_the_plate_and_says_nothing_of_a_tube(
    page_client, tube, make_file, members
):
    import json

    from .offline_browser import offline_page

    client = page_client("editor")
    waiting = make_file(
        uploader=members["editor"], aliquot=tube, status=FileStatus.PROCESSING, name="bca.txt"
    )
    html = client.get(reverse("assays:file-upload")).content.decode()
    assert f'data-file-id="{waiting.pk}"' in html
    # What the endpoint answers once the worker has filed the plate.
    row = poll(client, waiting.pk)
    row.update(
        status="parsed",
        status_label="Parsed",
        final=True,
        aliquot=None,
        aliquot_url=None,
        outputs=[
            {
                "url": "/plates/7/",
                "text": "Plate waiting for its map",
                "action_url": "/plates/7/map/",
                "action_text": "map the plate",
            }
        ],
    )
    answers = {reverse("assays:file-statuses"): ("application/json", json.dumps({"files": [row]}))}

    with offline_page(html, answers) as page:
        cell = page.locator(f'tr[data-file-id="{waiting.pk}"] .file-detail-cell')
        page.wait_for_function(
            "id => document.querySelector(`tr[data-file-id='${id}']`).dataset.final === 'true'",
            arg=str(waiting.pk),
        )
        text = cell.inner_text()
        links = cell.locator("a").evaluate_all("nodes => nodes.map(a => a.getAttribute('href'))")

    assert text == "Plate waiting for its map – map the plate"
    assert links == ["/plates/7/", "/plates/7/map/"]
