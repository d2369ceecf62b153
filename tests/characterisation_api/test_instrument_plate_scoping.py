"""Plates and qPCR runs uploaded by a lab instrument belong to no study until their wells
are on tubes. Until then the lab's editors see them (to map them); afterwards only the
studies of those tubes do — an editor of another study neither sees nor changes them."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile

from assays.characterisation_services import can_edit_plate, can_edit_qpcr_run
from assays.models import Instrument, InstrumentFile, ProteinAssay, QPCRResult, QPCRRun
from assays.protein_services import save_plate_map
from samples.models import StudyMembership

from .plates import bca_plate


@pytest.fixture
def instrument_account(make_user):
    account = make_user("plate_reader_pc")
    account.set_unusable_password()
    account.save()
    Instrument.objects.create(name="Synergy H1", kind="plate_reader", account=account)
    return account


@pytest.fixture
def rival_editor(make_user, other_study):
    """An editor of another study only."""
    user = make_user("rita_rival")
    StudyMembership.objects.create(study=other_study, user=user, role="editor")
    return user


def _file(uploader, name: str, status: str = "parsed") -> InstrumentFile:
    content = name.encode() * 3
    instrument_file = InstrumentFile(
        original_name=name,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=uploader,
        status=status,
    )
    instrument_file.file.save(name, ContentFile(content), save=False)
    instrument_file.save()
    return instrument_file


@pytest.fixture
def instrument_plate(instrument_account, tube):
    values, _plate_map = bca_plate({tube.pk: (600.0, 1.0)})
    return ProteinAssay.objects.create(
        method="bca",
        instrument_file=_file(instrument_account, "plate.txt"),
        reads=[{"values": values}],
        created_by=instrument_account,
    )


def test_an_unmapped_instrument_plate_is_the_lab_editors(instrument_plate, rival_editor, members):
    for user in (rival_editor, members["editor"]):
        assert ProteinAssay.objects.visible_to(user).filter(pk=instrument_plate.pk).exists()
        assert can_edit_plate(user, instrument_plate)
    assert not ProteinAssay.objects.visible_to(members["outsider"]).exists()
    assert not can_edit_plate(members["viewer"], instrument_plate)


def test_a_mapped_instrument_plate_goes_with_its_tubes_study(
    instrument_plate, rival_editor, members, tube, client_for, api_client
):
    _values, plate_map = bca_plate({tube.pk: (600.0, 1.0)})
    save_plate_map(instrument_plate, user=members["editor"], plate_map=plate_map)
    instrument_plate.refresh_from_db()
    assert instrument_plate.measurements.get().study_id == tube.study_id

    assert not ProteinAssay.objects.visible_to(rival_editor).filter(pk=instrument_plate.pk)
    assert not InstrumentFile.objects.visible_to(rival_editor).filter(
        pk=instrument_plate.instrument_file_id
    )
    assert not can_edit_plate(rival_editor, instrument_plate)
    api_client.force_authenticate(rival_editor)
    url = f"/api/v1/protein-assays/{instrument_plate.pk}/"
    assert api_client.get(url).status_code == 404
    assert api_client.delete(url).status_code == 404
    assert client_for("viewer").get(url).status_code == 200  # the tube's study sees it


def test_a_half_mapped_plate_is_its_mappers_study(instrument_plate, rival_editor, tube):
    _values, plate_map = bca_plate({tube.pk: (600.0, 1.0)})
    ProteinAssay.objects.filter(pk=instrument_plate.pk).update(plate_map=plate_map)
    instrument_plate.refresh_from_db()
    assert not can_edit_plate(rival_editor, instrument_plate)


def test_a_qpcr_run_with_rows_on_tubes_goes_with_their_study(
    instrument_account, rival_editor, members, tube
):
    run = QPCRRun.objects.create(
        instrument_file=_file(instrument_account, "cq.csv"), created_by=instrument_account
    )
    row = QPCRResult.objects.create(run=run, target="CD63", cq=24.0, sample_name="x")
    assert QPCRRun.objects.visible_to(rival_editor).filter(pk=run.pk).exists()
    assert can_edit_qpcr_run(rival_editor, run)

    QPCRResult.objects.filter(pk=row.pk).update(aliquot=tube, study=tube.study)
    assert not QPCRRun.objects.visible_to(rival_editor).filter(pk=run.pk).exists()
    assert not can_edit_qpcr_run(rival_editor, run)
    assert QPCRRun.objects.visible_to(members["viewer"]).filter(pk=run.pk).exists()
