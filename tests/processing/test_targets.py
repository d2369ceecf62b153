"""Which tube a file's results go to: the upload's tube, an accession in the file, or a person."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assays import processing
from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement
from samples.choices import Role
from samples.models import StudyMembership

from .fake_parser import fake_file

pytestmark = pytest.mark.usefixtures("fake_parsers")


def processed(instrument_file: InstrumentFile) -> InstrumentFile:
    processing.process_file(instrument_file.pk)
    return InstrumentFile.objects.get(pk=instrument_file.pk)


def test_an_accession_anywhere_in_the_sample_name_picks_the_tube(make_file, make_tubes):
    first, second = make_tubes(2)
    name = f"{second.accession.lower()}_1to1000 rep2"
    upload = processed(make_file(fake_file(sample=name)))
    assert upload.status == FileStatus.PARSED
    assert (upload.aliquot_id, upload.study_id) == (second.pk, second.study_id)
    assert ParticleMeasurement.objects.get(instrument_file=upload).aliquot_id == second.pk
    assert first.pk != second.pk


def test_the_description_and_then_the_file_name_are_searched_too(make_file, make_tubes):
    from_description, from_name = make_tubes(2)
    upload = processed(
        make_file(fake_file(sample="SEC F3", description=from_description.accession))
    )
    assert upload.aliquot_id == from_description.pk
    named = processed(
        make_file(
            fake_file(sample="plate A1"), name=f"{from_name.accession} run-ExperimentSummary.csv"
        )
    )
    assert named.aliquot_id == from_name.pk


def test_a_longer_number_is_not_a_match(make_file, make_tubes):
    [tube] = make_tubes(1)
    upload = processed(make_file(fake_file(sample=f"{tube.accession}7")))
    assert upload.status == FileStatus.NEEDS_REVIEW


def test_no_accession_needs_review_with_what_was_read(make_file):
    upload = processed(make_file(fake_file(sample="beads 100 nm", description="PBS")))
    assert upload.status == FileStatus.NEEDS_REVIEW
    assert upload.review_reason == (
        'No tube accession (EXO-…) found in the sample name or description ("beads 100 nm"; '
        '"PBS") or in the file name. Pick the measured tube.'
    )
    assert (upload.format, upload.aliquot_id, upload.study_id) == ("test_nta", None, None)
    assert not ParticleMeasurement.objects.filter(instrument_file=upload).exists()


def test_two_tubes_named_need_review_listing_both(make_file, make_tubes):
    first, second = make_tubes(2)
    upload = processed(make_file(fake_file(sample=f"{second.accession}+{first.accession} pooled")))
    assert upload.status == FileStatus.NEEDS_REVIEW
    assert upload.review_reason == (
        f"Several tubes match the sample name or description: {first.accession}, "
        f"{second.accession}. Pick the measured tube."
    )


def test_a_sample_accession_or_a_foreign_tube_is_explained(
    make_file, make_tubes, make_sample, other_study
):
    sample = make_sample()
    [foreign] = make_tubes(1, study=other_study)
    upload = processed(make_file(fake_file(sample=f"{sample.accession} / {foreign.accession}")))
    assert upload.status == FileStatus.NEEDS_REVIEW
    assert upload.review_reason == (
        f"In the sample name or description: {sample.accession} is a sample, not a tube; no "
        f"tube you can record results on has accession {foreign.accession}. Pick the measured tube."
    )


def test_a_viewer_upload_does_not_match_tubes_they_cannot_record_on(make_file, make_tubes, members):
    [tube] = make_tubes(1)
    upload = processed(make_file(fake_file(sample=tube.accession), uploader=members["viewer"]))
    assert upload.status == FileStatus.NEEDS_REVIEW


def test_an_instrument_account_matches_tubes_of_any_study(
    make_file, make_tubes, other_study, instrument_account
):
    [foreign] = make_tubes(1, study=other_study)
    upload = processed(make_file(fake_file(sample=foreign.accession), uploader=instrument_account))
    assert (upload.status, upload.aliquot_id, upload.study_id) == (
        FileStatus.PARSED,
        foreign.pk,
        other_study.pk,
    )


def test_the_upload_s_tube_wins_over_the_name_in_the_file(make_file, make_tubes):
    given, named = make_tubes(2)
    upload = processed(make_file(fake_file(sample=named.accession), aliquot=given))
    assert upload.aliquot_id == given.pk


# --- Review ----------------------------------------------------------------------------------


@pytest.fixture
def waiting(make_file):
    upload = processed(make_file(fake_file(sample="unlabelled", concentrations=(2e9, 2e9, 2e9))))
    assert upload.status == FileStatus.NEEDS_REVIEW
    return upload


def test_picking_the_tube_completes_processing_from_the_stored_file(
    waiting, tube, members, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        returned = processing.resolve_review(
            instrument_file=waiting, aliquot=tube, user=members["editor"]
        )
    assert returned.status == FileStatus.RECEIVED  # as returned, before the worker ran
    upload = InstrumentFile.objects.get(pk=waiting.pk)
    assert (upload.status, upload.aliquot_id, upload.study_id) == (
        FileStatus.PARSED,
        tube.pk,
        tube.study_id,
    )
    assert upload.review_reason == "" and upload.attempts == 1
    measurement = ParticleMeasurement.objects.get(instrument_file=upload)
    assert (measurement.aliquot_id, measurement.concentration_per_ml) == (tube.pk, 2e9)


def test_review_needs_a_tube_the_user_can_record_on(
    waiting, tube, members, make_tubes, other_study
):
    with pytest.raises(PermissionDenied):
        processing.resolve_review(instrument_file=waiting, aliquot=tube, user=members["viewer"])
    [foreign] = make_tubes(1, study=other_study)
    with pytest.raises(PermissionDenied):
        processing.resolve_review(instrument_file=waiting, aliquot=foreign, user=members["editor"])
    assert InstrumentFile.objects.get(pk=waiting.pk).status == FileStatus.NEEDS_REVIEW


def test_someone_else_s_upload_cannot_be_filed_by_another_editor(waiting, tube, members, make_user):
    other_editor = make_user("edna")
    StudyMembership.objects.create(study=tube.study, user=other_editor, role=Role.EDITOR)
    with pytest.raises(PermissionDenied):
        processing.resolve_review(instrument_file=waiting, aliquot=tube, user=other_editor)


def test_instrument_uploads_can_be_filed_by_an_editor_of_the_tube(
    make_file, tube, members, instrument_account, django_capture_on_commit_callbacks
):
    upload = processed(make_file(fake_file(sample="no name"), uploader=instrument_account))
    with django_capture_on_commit_callbacks(execute=True):
        processing.resolve_review(instrument_file=upload, aliquot=tube, user=members["editor"])
    assert InstrumentFile.objects.get(pk=upload.pk).status == FileStatus.PARSED


def test_only_files_waiting_for_review_can_be_resolved(make_file, tube, members):
    upload = processed(make_file(fake_file(), aliquot=tube))
    with pytest.raises(ValidationError, match="parsed, not waiting for review"):
        processing.resolve_review(instrument_file=upload, aliquot=tube, user=members["editor"])
