"""assays.intake.register_instrument_file: hashing, storage, dedupe, size and target rules."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from assays import intake
from assays.choices import FileStatus
from assays.models import Instrument, InstrumentFile

from .conftest import NTA_BYTES


def stored_files(media: Path) -> list[Path]:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


class CountingFile(io.BytesIO):
    """Records the largest single read, to show the file is never read whole."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


@pytest.mark.django_db
def test_stores_the_bytes_in_chunks_with_their_sha256(members, media, enqueued, tube):
    data = bytes(range(256)) * 20_000  # 5 MB: several chunks
    source = CountingFile(data)
    record, created = intake.register_instrument_file(
        upload=File(source, name="ExperimentSummary.csv"), user=members["editor"], aliquot=tube
    )
    assert created
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.size_bytes == len(data)
    assert record.original_name == "ExperimentSummary.csv"
    assert record.status == FileStatus.RECEIVED
    assert record.uploaded_by == members["editor"]
    assert (record.aliquot, record.study) == (tube, tube.study)
    assert source.largest_read <= intake.CHUNK_BYTES < len(data)
    [stored] = stored_files(media)
    assert stored.read_bytes() == data
    assert stored.name.endswith("_ExperimentSummary.csv")
    assert record.file.name.startswith("instrument-files/")


@pytest.mark.django_db
def test_processing_is_queued_only_when_the_upload_commits(
    members, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record, _ = intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["editor"]
        )
    assert enqueued == []
    for callback in callbacks:
        callback()
    assert enqueued == [record.pk]


@pytest.mark.django_db
def test_a_queueing_failure_never_fails_the_upload(
    members, monkeypatch, django_capture_on_commit_callbacks
):
    from assays import processing

    def broker_down(file_id: int) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(processing, "enqueue_processing", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        record, created = intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["editor"]
        )
    assert created and InstrumentFile.objects.filter(pk=record.pk).exists()


@pytest.mark.django_db
def test_the_same_bytes_again_return_the_first_record_and_store_nothing(
    members, media, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, created = intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["editor"]
        )
        again, created_again = intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="renamed.csv"), user=members["editor"]
        )
    assert created and not created_again
    assert again.pk == first.pk and again.original_name == "a.csv"
    assert InstrumentFile.objects.count() == 1
    assert len(stored_files(media)) == 1
    assert enqueued == [first.pk]


@pytest.mark.django_db
def test_a_duplicate_of_a_file_filed_in_my_study_is_returned(members, enqueued, tube):
    first, _ = intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["editor"], aliquot=tube
    )
    # The manager did not upload it but sees it through the study.
    again, created = intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["manager"]
    )
    assert (again.pk, created) == (first.pk, False)


@pytest.mark.django_db
def test_a_duplicate_of_a_file_i_cannot_see_is_refused_without_describing_it(
    members, media, enqueued, foreign_tube
):
    intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="secret-patient.csv"),
        user=members["superuser"],
        aliquot=foreign_tube,
    )
    with pytest.raises(intake.DuplicateOfHiddenFile) as refused:
        intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="mine.csv"), user=members["editor"]
        )
    assert "cannot see" in str(refused.value)
    assert "secret" not in str(refused.value) and foreign_tube.accession not in str(refused.value)
    assert InstrumentFile.objects.count() == 1 and len(stored_files(media)) == 1


@pytest.mark.django_db
def test_an_oversized_file_is_refused_and_leaves_nothing(members, media, enqueued, settings):
    settings.INSTRUMENT_FILE_MAX_BYTES = 10_000
    with pytest.raises(intake.FileTooLarge) as refused:
        intake.register_instrument_file(
            upload=ContentFile(b"x" * 10_001, name="big.csv"), user=members["editor"]
        )
    assert "10,000 bytes" in str(refused.value)
    assert refused.value.message_dict == {"file": [str(refused.value)]}
    assert not InstrumentFile.objects.exists()
    assert stored_files(media) == []
    assert enqueued == []


@pytest.mark.django_db
def test_a_file_exactly_at_the_limit_is_accepted(members, enqueued, settings):
    settings.INSTRUMENT_FILE_MAX_BYTES = 10_000
    record, created = intake.register_instrument_file(
        upload=ContentFile(b"x" * 10_000, name="edge.csv"), user=members["editor"]
    )
    assert created and record.size_bytes == 10_000


class LyingSize(File):
    """A file whose declared size is smaller than what it holds (e.g. still growing)."""

    @property
    def size(self) -> int:
        return 10


@pytest.mark.django_db
def test_the_limit_holds_while_reading_whatever_size_was_declared(
    members, media, enqueued, settings
):
    settings.INSTRUMENT_FILE_MAX_BYTES = 10_000
    with pytest.raises(intake.FileTooLarge):
        intake.register_instrument_file(
            upload=LyingSize(io.BytesIO(b"x" * 50_000), name="grows.csv"), user=members["editor"]
        )
    assert not InstrumentFile.objects.exists() and stored_files(media) == []


class ChangesAfterHashing(File):
    """Other bytes once it has been hashed, as a file still being written would have."""

    def chunks(self, chunk_size=None):
        yield from super().chunks(chunk_size)
        self.file = io.BytesIO(b"second version of the export")


@pytest.mark.django_db
def test_a_file_that_changes_while_stored_is_refused_and_removed(members, media, enqueued):
    with pytest.raises(intake.FileChanged):
        intake.register_instrument_file(
            upload=ChangesAfterHashing(
                io.BytesIO(b"first version of the export"), name="moving.csv"
            ),
            user=members["editor"],
        )
    assert not InstrumentFile.objects.exists() and stored_files(media) == []


@pytest.mark.django_db
def test_an_empty_file_is_refused(members, media, enqueued):
    with pytest.raises(intake.EmptyFile) as refused:
        intake.register_instrument_file(
            upload=SimpleUploadedFile("empty.csv", b""), user=members["editor"]
        )
    assert refused.value.message_dict == {"file": ["The file is empty."]}
    assert not InstrumentFile.objects.exists() and stored_files(media) == []


@pytest.mark.django_db
def test_people_file_results_only_on_tubes_they_may_edit(
    members, media, enqueued, tube, foreign_tube
):
    with pytest.raises(PermissionDenied, match="editor role"):
        intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["viewer"], aliquot=tube
        )
    with pytest.raises(ValidationError) as unknown:
        intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="a.csv"),
            user=members["editor"],
            aliquot=foreign_tube,
        )
    assert unknown.value.message_dict == {
        "aliquot": [f"No tube {foreign_tube.accession} in your studies."]
    }
    assert not InstrumentFile.objects.exists() and stored_files(media) == []
    record, _ = intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["manager"], aliquot=tube
    )
    assert record.study == tube.study


@pytest.mark.django_db
def test_an_instrument_account_may_name_any_tube_and_uploads_as_its_instrument(
    instrument_account, instrument, foreign_tube, enqueued
):
    record, created = intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="a.csv"), user=instrument_account, aliquot=foreign_tube
    )
    assert created
    assert (record.instrument, record.aliquot, record.study) == (
        instrument,
        foreign_tube,
        foreign_tube.study,
    )
    other = Instrument.objects.create(name="ZetaView", kind="nta")
    with pytest.raises(ValidationError) as wrong:
        intake.register_instrument_file(
            upload=ContentFile(b"other bytes", name="b.txt"),
            user=instrument_account,
            instrument=other,
        )
    assert "NTA-1 only" in wrong.value.message_dict["instrument"][0]


@pytest.mark.django_db
def test_an_instrument_sees_only_its_own_uploads_so_a_persons_duplicate_is_refused(
    members, instrument_account, tube, enqueued
):
    intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["editor"], aliquot=tube
    )
    with pytest.raises(intake.DuplicateOfHiddenFile):
        intake.register_instrument_file(
            upload=ContentFile(NTA_BYTES, name="a.csv"), user=instrument_account
        )


@pytest.mark.django_db
def test_a_concurrent_upload_of_the_same_bytes_returns_the_winner(
    members, media, enqueued, monkeypatch
):
    """Both requests hashed before either inserted: the unique sha256 keeps one row, the
    loser deletes its stored copy and returns the winner's record."""
    real_filter = InstrumentFile.objects.filter
    winner: dict[str, InstrumentFile] = {}

    def filter_after_the_other_request_won(*args, **kwargs):
        if "sha256" in kwargs and "winner" not in winner:
            winner["winner"] = InstrumentFile.objects.create(
                file="instrument-files/other.csv",
                original_name="other.csv",
                size_bytes=len(NTA_BYTES),
                sha256=kwargs["sha256"],
                uploaded_by=members["editor"],
            )
            return InstrumentFile.objects.none()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(InstrumentFile.objects, "filter", filter_after_the_other_request_won)
    record, created = intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="a.csv"), user=members["editor"]
    )
    assert not created and record.pk == winner["winner"].pk
    assert stored_files(media) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("C:\\Users\\nta\\Exports\\ExperimentSummary.csv", "ExperimentSummary.csv"),
        ("../../etc/passwd", "passwd"),
        ("bad\x00name\n.txt", "badname.txt"),
        ("..", "upload"),
        ("", "upload"),
        ("é" * 300 + ".csv", "é" * 251 + ".csv"),
    ],
)
def test_original_names_are_cleaned(given, expected):
    assert intake.clean_original_name(given) == expected


@pytest.mark.django_db
def test_odd_names_are_stored_under_a_safe_name(members, media, enqueued):
    record, _ = intake.register_instrument_file(
        upload=ContentFile(NTA_BYTES, name="x"),
        user=members["editor"],
        original_name="Probe §§ 1:1000 (rep 2).txt",
    )
    assert record.original_name == "Probe §§ 1:1000 (rep 2).txt"
    [stored] = stored_files(media)
    assert " " not in stored.name and ":" not in stored.name and stored.suffix == ".txt"
