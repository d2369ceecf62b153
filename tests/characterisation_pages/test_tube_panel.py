"""The tube page's Characterisation panel: every kind of result with its key numbers and
links, "Add …" buttons for editors only, and a number of queries that does not grow with
the rows. Also the instrument file's page linking to what was parsed from it."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assays import protein_services
from assays.choices import DLSKind, FileStatus
from assays.models import (
    ImagingImage,
    ImagingRecord,
    InstrumentFile,
    Marker,
    MarkerResult,
    ProteinMeasurement,
)

from .conftest import UNKNOWN, standards_map

pytestmark = pytest.mark.django_db


CATEGORIES = {"CD63": "1a", "CANX": "4"}


def add_marker(tube, symbol: str = "CD63", detection: str = "detected") -> MarkerResult:
    # The built-in vocabulary is migration data, which a browser test's flush removes.
    marker, _created = Marker.objects.get_or_create(
        symbol=symbol, defaults={"category": CATEGORIES[symbol]}
    )
    return MarkerResult.objects.create(
        aliquot=tube,
        study=tube.study,
        marker=marker,
        method="western_blot",
        detection=detection,
        measured_at=timezone.now(),
    )


def add_imaging(tube, images: int = 2) -> ImagingRecord:
    record = ImagingRecord.objects.create(
        aliquot=tube, study=tube.study, method="tem", size_mean_nm=98.5, measured_at=timezone.now()
    )
    for index in range(images):
        image = ImagingImage(
            record=record,
            original_name=f"grid{index}.tif",
            sha256="0" * 64,
            view="wide_field" if index == 0 else "close_up",
            scale_nm_per_px=0.5,
        )
        image.image.save(f"grid{index}.tif", ContentFile(b"not really a tiff"), save=False)
        image.thumbnail.save(f"grid{index}.jpg", ContentFile(b"jpeg"), save=False)
        image.save()
    return record


@pytest.fixture
def everything(tube, members, make_plate, make_flow, make_dls, make_run):
    """One result of every kind on ``tube``."""
    ProteinMeasurement.objects.create(
        aliquot=tube,
        study=tube.study,
        method="qubit",
        concentration_ug_per_ml=412.5,
        total_ug=206.25,
        measured_at=timezone.now(),
    )
    assay = make_plate(samples={"C4": 3000, "D4": 3100}, name="BCA panel plate")
    plate_map = standards_map()
    plate_map["C4"] = plate_map["D4"] = {"role": "sample", "sample": str(tube.pk)}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    add_marker(tube, "CD63")
    add_marker(tube, "CANX", detection="not_detected")
    imaging = add_imaging(tube)
    flow = make_flow(tube)
    dls = make_dls(tube)
    make_dls(tube, kind=DLSKind.ZETA, z_average_nm=None, pdi=None, zeta_potential_mv=-21.7)
    run = make_run(
        [
            ("A1", tube.accession, "miR-21", 24.1, UNKNOWN, tube),
            ("A2", tube.accession, "miR-21", 24.3, UNKNOWN, tube),
        ]
    )
    return {"assay": assay, "imaging": imaging, "flow": flow, "dls": dls, "run": run}


def test_the_panel_shows_every_kind(page_client, tube, everything):
    html = page_client("viewer").get(tube.get_absolute_url()).content.decode()
    assert 'id="characterisation"' in html
    # Protein: typed in and from the plate, with the plate's flag in words.
    assert "412.5" in html and "206.2" in html and "above the standards" in html
    assert everything["assay"].get_absolute_url() in html
    # Markers with their MISEV category and detection.
    assert "CD63" in html and "1a · Transmembrane" in html and "Not detected" in html
    # Imaging with its thumbnails.
    images = list(everything["imaging"].images.order_by("id"))
    assert "1 wide-field · 1 close-up" in html
    assert reverse("assays:imaging-thumbnail", args=[images[0].pk]) in html
    assert everything["imaging"].get_absolute_url() in html
    # Flow, DLS, qPCR.
    assert everything["flow"].get_absolute_url() in html and "5.00 × 10⁵" in html
    assert everything["dls"].get_absolute_url() in html and "142.3" in html and "-21.7" in html
    assert "miR-21" in html and "24.10 · 24.30" in html and "mean 24.20" in html
    assert everything["run"].get_absolute_url() in html


def test_editors_get_add_buttons_viewers_do_not(page_client, tube):
    query = f"?aliquot={tube.pk}"
    wanted = [
        reverse("assays:protein-create") + query,
        reverse("assays:protein-assay-create"),
        reverse("assays:marker-result-create") + query,
        reverse("assays:imaging-create") + query,
        reverse("assays:dls-create") + query,
        reverse("assays:qpcr-create") + query,
    ]
    editor = page_client("editor").get(tube.get_absolute_url()).content.decode()
    assert all(url in editor for url in wanted)
    assert "No protein, marker, imaging, flow, DLS or qPCR results for this tube yet." in editor
    viewer = page_client("viewer").get(tube.get_absolute_url()).content.decode()
    assert not any(url in viewer for url in wanted)
    assert "No particle measurements of this tube yet." in viewer


def test_the_panel_hides_what_the_user_may_not_see(page_client, tube, foreign_tube, make_flow):
    make_flow(foreign_tube, cytometer="Secret cytometer")
    html = page_client("superuser").get(foreign_tube.get_absolute_url()).content.decode()
    assert "Secret cytometer" in html
    assert page_client("viewer").get(foreign_tube.get_absolute_url()).status_code == 404


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_panel_costs_the_same_queries_at_any_size(
    page_client, tube, members, make_flow, make_dls, make_run
):
    client = page_client("editor")

    def one_of_each() -> None:
        ProteinMeasurement.objects.create(
            aliquot=tube, study=tube.study, method="bca", concentration_ug_per_ml=10
        )
        add_marker(tube)
        add_imaging(tube, images=3)
        make_flow(tube)
        make_dls(tube)
        make_run([("A1", tube.accession, "miR-16", 30.0, UNKNOWN, tube)])

    one_of_each()
    few = count_queries(client, tube.get_absolute_url())
    for _ in range(5):
        one_of_each()
    assert count_queries(client, tube.get_absolute_url()) == few


def test_the_file_page_links_to_what_was_parsed(page_client, tube, members, make_flow, make_dls):
    content = b"FCS3.1 fake"
    instrument_file = InstrumentFile(
        original_name="EV-sample.fcs",
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        aliquot=tube,
        study=tube.study,
        uploaded_by=members["editor"],
        status=FileStatus.PARSED,
        format="fcs",
    )
    instrument_file.file.save("EV-sample.fcs", ContentFile(content), save=False)
    instrument_file.save()
    flow = make_flow(tube, instrument_file=instrument_file)
    dls = make_dls(tube, instrument_file=instrument_file)
    html = page_client("viewer").get(instrument_file.get_absolute_url()).content.decode()
    assert flow.get_absolute_url() in html and "20,000 events" in html
    assert dls.get_absolute_url() in html and "Z-average 142.3 nm" in html
    assert "No results from this file" not in html


def test_the_file_page_links_to_its_plate_and_qpcr_run(
    page_client, tube, members, make_plate, make_run
):
    files = []
    for name in ("bca.xlsx", "run.eds"):
        content = name.encode()
        instrument_file = InstrumentFile(
            original_name=name,
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_by=members["editor"],
            status=FileStatus.PARSED,
        )
        instrument_file.file.save(name, ContentFile(content), save=False)
        instrument_file.save()
        files.append(instrument_file)
    plate = make_plate(name="Reader plate", instrument_file=files[0])
    run = make_run(
        [("A1", tube.accession, "miR-21", 24.0, UNKNOWN, tube)],
        instrument_file=files[1],
        run_name="Reader run",
    )
    client = page_client("editor")
    html = client.get(files[0].get_absolute_url()).content.decode()
    assert plate.get_absolute_url() in html and "Awaiting plate map" in html
    html = client.get(files[1].get_absolute_url()).content.decode()
    assert run.get_absolute_url() in html and "Reader run" in html
