"""Correcting and deleting protein and DLS results typed in: edit pages reuse the create
forms, deleting is a POST by an editor with a reason; results from a plate or an
instrument file keep the file's numbers and say why they cannot be changed here."""

from __future__ import annotations

from decimal import Decimal

import pghistory.models
import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from assays import characterisation_services as services
from assays.characterisation_services import StateConflict
from assays.choices import DLSKind
from assays.models import DLSMeasurement, InstrumentFile, ProteinMeasurement

from .test_dls_qpcr_pages import dls_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def protein(tube, members) -> ProteinMeasurement:
    return services.record_protein_measurement(
        user=members["editor"],
        aliquot=tube,
        data={
            "method": "qubit",
            "concentration_ug_per_ml": 412.5,
            "volume_ml": Decimal("0.2"),
            "sop": "Qubit BR",
        },
    )


@pytest.fixture
def dls(tube, members) -> DLSMeasurement:
    return services.record_dls_measurement(
        user=members["editor"],
        aliquot=tube,
        data={"kind": DLSKind.SIZE, "z_average_nm": 131.7, "pdi": 0.18, "dispersant": "PBS"},
    )


@pytest.fixture
def from_file(members):
    def attach(record) -> None:
        upload = InstrumentFile.objects.create(
            original_name="export.txt", size_bytes=1, sha256="0" * 64, uploaded_by=members["editor"]
        )
        type(record).objects.filter(pk=record.pk).update(instrument_file=upload)
        record.refresh_from_db()

    return attach


def protein_post(**changes) -> dict:
    data = {
        "method": "qubit",
        "concentration_ug_per_ml": "400",
        "dilution_factor": "1",
        "volume_ml": "0,5",
        "measured_at": "2026-03-02T10:15",
        "sop": "Qubit BR v2",
        "controls-TOTAL_FORMS": "0",
        "controls-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


# --- Protein -----------------------------------------------------------------------------------


def test_the_protein_edit_page_starts_from_the_stored_values(page_client, protein, tube):
    html = page_client("editor").get(reverse("assays:protein-edit", args=[protein.pk]))
    text = html.content.decode()
    assert html.status_code == 200
    assert 'value="412.5"' in text and 'value="Qubit BR"' in text
    assert 'name="tube"' not in text and tube.accession in text


def test_an_editor_corrects_a_protein_result_and_the_total_follows(page_client, protein):
    url = reverse("assays:protein-edit", args=[protein.pk])
    response = page_client("editor").post(url, protein_post())
    assert response.status_code == 302 and response["Location"] == protein.get_absolute_url()
    protein.refresh_from_db()
    assert protein.concentration_ug_per_ml == 400 and protein.volume_ml == Decimal("0.5")
    assert protein.total_ug == pytest.approx(200) and protein.sop == "Qubit BR v2"


def test_bad_protein_input_saves_nothing(page_client, protein):
    url = reverse("assays:protein-edit", args=[protein.pk])
    response = page_client("editor").post(url, protein_post(concentration_ug_per_ml="-4"))
    assert response.status_code == 400
    protein.refresh_from_db()
    assert protein.concentration_ug_per_ml == 412.5


def test_viewers_cannot_edit_or_delete_protein_and_see_no_buttons(page_client, protein):
    edit = reverse("assays:protein-edit", args=[protein.pk])
    delete = reverse("assays:protein-delete", args=[protein.pk])
    viewer = page_client("viewer")
    assert viewer.get(edit).status_code == 403
    assert viewer.post(delete).status_code == 403
    assert ProteinMeasurement.objects.filter(pk=protein.pk).exists()
    viewer_page = viewer.get(protein.get_absolute_url()).content.decode()
    editor_page = page_client("editor").get(protein.get_absolute_url()).content.decode()
    assert edit not in viewer_page and delete not in viewer_page
    assert edit in editor_page and delete in editor_page


def test_deleting_a_protein_result_needs_a_post_and_keeps_the_reason(page_client, protein, tube):
    delete = reverse("assays:protein-delete", args=[protein.pk])
    client = page_client("editor")
    assert client.get(delete).status_code == 405
    response = client.post(delete, {"change_reason": "typed into the wrong tube"})
    assert response.status_code == 302 and response["Location"] == tube.get_absolute_url()
    assert not ProteinMeasurement.objects.filter(pk=protein.pk).exists()
    assert pghistory.models.Events.objects.filter(
        pgh_context__reason="typed into the wrong tube"
    ).exists()


def test_a_protein_result_from_a_file_is_neither_edited_nor_deleted(
    page_client, protein, from_file
):
    from_file(protein)
    client = page_client("editor")
    edit = reverse("assays:protein-edit", args=[protein.pk])
    assert client.post(edit, protein_post()).status_code == 302
    assert client.post(reverse("assays:protein-delete", args=[protein.pk])).status_code == 302
    protein.refresh_from_db()
    assert protein.concentration_ug_per_ml == 412.5
    page = client.get(protein.get_absolute_url()).content.decode()
    assert edit not in page and "Not editable here" in page


# --- DLS ---------------------------------------------------------------------------------------


def test_the_dls_edit_page_starts_from_the_stored_values(page_client, dls, tube):
    response = page_client("editor").get(reverse("assays:dls-edit", args=[dls.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="131.7"' in html and 'value="0.18"' in html and 'value="PBS"' in html
    assert 'name="tube"' not in html


def test_an_editor_corrects_a_dls_result_and_can_empty_a_field(page_client, dls, tube):
    data = dls_post(tube, z_average_nm="128,2", pdi="", dispersant="HEPES")
    data.pop("tube")
    response = page_client("editor").post(reverse("assays:dls-edit", args=[dls.pk]), data)
    assert response.status_code == 302 and response["Location"] == dls.get_absolute_url()
    dls.refresh_from_db()
    assert (dls.z_average_nm, dls.pdi, dls.dispersant, dls.aliquot) == (
        128.2,
        None,
        "HEPES",
        tube,
    )


def test_a_size_result_without_its_z_average_is_refused(page_client, dls, tube):
    data = dls_post(tube, z_average_nm="")
    response = page_client("editor").post(reverse("assays:dls-edit", args=[dls.pk]), data)
    assert response.status_code == 400
    dls.refresh_from_db()
    assert dls.z_average_nm == 131.7


def test_the_dls_service_checks_like_recording(members, dls, from_file):
    with pytest.raises(PermissionDenied):
        services.update_dls_measurement(
            user=members["viewer"], measurement=dls, data={"z_average_nm": 90.0}
        )
    with pytest.raises(services.ValidationError):
        services.update_dls_measurement(user=members["editor"], measurement=dls, data={"pdi": 3.0})
    from_file(dls)
    with pytest.raises(StateConflict):
        services.update_dls_measurement(
            user=members["editor"], measurement=dls, data={"z_average_nm": 90.0}
        )
    dls.refresh_from_db()
    assert (dls.z_average_nm, dls.pdi) == (131.7, 0.18)


def test_viewers_cannot_edit_or_delete_dls(page_client, dls, tube):
    viewer = page_client("viewer")
    assert viewer.get(reverse("assays:dls-edit", args=[dls.pk])).status_code == 403
    assert viewer.post(reverse("assays:dls-delete", args=[dls.pk])).status_code == 403
    assert DLSMeasurement.objects.filter(pk=dls.pk).exists()
    page = viewer.get(dls.get_absolute_url()).content.decode()
    assert reverse("assays:dls-edit", args=[dls.pk]) not in page


def test_an_editor_deletes_a_dls_result(page_client, dls, tube):
    delete = reverse("assays:dls-delete", args=[dls.pk])
    client = page_client("editor")
    assert delete in client.get(dls.get_absolute_url()).content.decode()
    response = client.post(delete, {"change_reason": "duplicate entry"})
    assert response.status_code == 302 and response["Location"] == tube.get_absolute_url()
    assert not DLSMeasurement.objects.filter(pk=dls.pk).exists()


def test_a_dls_record_from_a_file_says_why_it_cannot_be_changed(page_client, dls, from_file):
    from_file(dls)
    client = page_client("editor")
    assert client.post(reverse("assays:dls-delete", args=[dls.pk])).status_code == 302
    assert DLSMeasurement.objects.filter(pk=dls.pk).exists()
    page = client.get(dls.get_absolute_url()).content.decode()
    assert reverse("assays:dls-edit", args=[dls.pk]) not in page
    assert "Not editable here" in page and "its numbers are the file" in page


def test_a_dls_record_of_another_study_is_not_found(page_client, foreign_tube, foreign_editor):
    other = services.record_dls_measurement(
        user=foreign_editor, aliquot=foreign_tube, data={"kind": "size", "z_average_nm": 100.0}
    )
    assert page_client("editor").get(reverse("assays:dls-edit", args=[other.pk])).status_code == 404
