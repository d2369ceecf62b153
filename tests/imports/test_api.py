"""POST /api/v1/sample-imports/: dry run, commit, errors and access."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from samples.models import Donor, Sample

from .conftest import good_row, manifest_csv, manifest_xlsx

pytestmark = pytest.mark.django_db
URL = "/api/v1/sample-imports/"


def post(client, study_id, content: bytes, *, name: str = "m.csv", **extra):
    data = {"study": study_id, "file": SimpleUploadedFile(name, content), **extra}
    return client.post(URL, data, format="multipart")


def test_dry_run_is_the_default_and_saves_nothing(client_for, study, donor):
    response = post(client_for("editor"), study.pk, manifest_csv([good_row(), good_row()]))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "dry_run": True,
        "valid": True,
        "row_count": 2,
        "error_count": 0,
        "new_donor_codes": [],
        "errors": [],
    }
    assert not Sample.objects.exists()


def test_dry_run_reports_row_errors(client_for, study, donor):
    content = manifest_csv([good_row(), good_row(volume="0", donor_code="ZZ")])
    response = post(client_for("editor"), study.pk, content, dry_run="true")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and body["error_count"] == 2
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (3, "donor_code"),
        (3, "volume"),
    ]
    assert not Sample.objects.exists()


def test_commit_with_errors_is_400_and_saves_nothing(client_for, study, donor):
    content = manifest_csv([good_row(donor_code="NEW-1"), good_row(tube_type="")])
    response = post(
        client_for("editor"), study.pk, content, dry_run="false", create_missing_donors="true"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].endswith("nothing was imported.")
    assert body["errors"] == [
        {
            "row": 3,
            "column": "tube_type",
            "message": "Plasma needs the anticoagulant tube it was drawn into (e.g. K2-EDTA, citrate).",
        }
    ]
    assert not Sample.objects.exists()
    assert not Donor.objects.filter(code="NEW-1").exists()


def test_commit_success_is_201_with_accessions(client_for, study, donor, members):
    content = manifest_xlsx([good_row(), good_row(donor_code="NEW-2")])
    response = post(
        client_for("editor"),
        study.pk,
        content,
        name="m.xlsx",
        dry_run="false",
        create_missing_donors="true",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["count"] == 2 and body["created_donors"] == ["NEW-2"]
    samples = Sample.objects.filter(accession__in=body["accessions"])
    assert samples.count() == 2
    assert {s.created_by for s in samples} == {members["editor"]}


def test_unknown_column_is_a_400_naming_it(client_for, study):
    content = b"fluid_type,collected_at,name\nplasma,2024-05-01T09:30:00Z,x\n"
    response = post(client_for("editor"), study.pk, content)
    assert response.status_code == 400
    assert "Unknown column(s): name" in response.json()["file"][0]


def test_foreign_study_is_object_does_not_exist(client_for, other_study, donor):
    response = post(client_for("editor"), other_study.pk, manifest_csv([good_row()]))
    assert response.status_code == 400
    assert "object does not exist" in response.json()["study"][0]


def test_viewer_is_forbidden(client_for, study, donor):
    response = post(client_for("viewer"), study.pk, manifest_csv([good_row()]), dry_run="false")
    assert response.status_code == 403
    assert not Sample.objects.exists()


def test_anonymous_is_refused(api_client, study, donor):
    response = post(api_client, study.pk, manifest_csv([good_row()]))
    assert response.status_code in (401, 403)


def test_missing_file_is_a_field_error(client_for, study):
    response = client_for("editor").post(URL, {"study": study.pk}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()


def test_endpoint_is_in_the_openapi_schema(client_for):
    schema = client_for("viewer").get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/sample-imports/" in schema.json()["paths"]
