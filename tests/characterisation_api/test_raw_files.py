"""A typed-in record links to the instrument files that hold its raw data: only files the
user may see; another id is refused and nothing is saved."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile

from assays.models import InstrumentFile, ProteinMeasurement


def _file(uploader, name: str) -> InstrumentFile:
    content = f"raw data of {name}".encode()
    row = InstrumentFile(
        original_name=name,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=uploader,
        status="parsed",
    )
    row.file.save(name, ContentFile(content), save=False)
    row.save()
    return row


def test_a_protein_result_links_its_raw_files(client_for, members, tube):
    raw = _file(members["editor"], "qubit_export.csv")
    response = client_for("editor").post(
        "/api/v1/protein-measurements/",
        {
            "aliquot": tube.pk,
            "method": "qubit",
            "concentration_ug_per_ml": 212,
            "raw_files": [raw.pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["raw_files"] == [raw.pk]
    measurement = ProteinMeasurement.objects.get(pk=response.json()["id"])
    assert list(measurement.raw_files.values_list("pk", flat=True)) == [raw.pk]
    listed = client_for("viewer").get("/api/v1/protein-measurements/").json()["results"]
    assert listed[0]["raw_files"] == [raw.pk]


@pytest.mark.parametrize("bad", [["x"], [True], "12"])
def test_a_file_the_user_cannot_see_or_a_bad_id_saves_nothing(client_for, members, tube, bad):
    hidden = _file(members["outsider"], "someone_elses.csv")
    for raw_files in ([hidden.pk], bad):
        response = client_for("editor").post(
            "/api/v1/protein-measurements/",
            {
                "aliquot": tube.pk,
                "method": "qubit",
                "concentration_ug_per_ml": 212,
                "raw_files": raw_files,
            },
            format="json",
        )
        assert response.status_code == 400
        assert "raw_files" in response.json()
    assert not ProteinMeasurement.objects.exists()


def test_the_result_page_links_the_raw_files(client_for, page_client, members, tube):
    raw = _file(members["editor"], "qubit_export.csv")
    created = client_for("editor").post(
        "/api/v1/protein-measurements/",
        {
            "aliquot": tube.pk,
            "method": "qubit",
            "concentration_ug_per_ml": 5,
            "raw_files": [raw.pk],
        },
        format="json",
    )
    page = page_client("viewer").get(f"/assays/protein/{created.json()['id']}/")
    assert page.status_code == 200
    assert raw.get_absolute_url() in page.content.decode()
