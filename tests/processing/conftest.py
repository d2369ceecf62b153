"""Fixtures for the instrument-file processing tests: a fake format, stored files, tubes."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from assays import processing
from assays.choices import FileStatus
from assays.models import Instrument, InstrumentFile
from assays.parsers import registry
from samples import services as tube_services
from samples.models import Aliquot, Donor
from tests.isolation.conftest import librarian  # noqa: F401 (fixture for small-EV preparations)
from tests.isolation.fixtures import (  # noqa: F401 (fixtures for small-EV preparations)
    draft,
    input_tube,
    published,
    run_for,
    sample,
    started,
    sw41,
    uc_steps,
)
from tests.processing.fake_parser import FAKE_PARSERS


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "faults: starts its own redis-server and Celery workers and breaks them on purpose",
    )


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def fake_parsers(monkeypatch):
    """Only the fake format is registered while the test runs."""
    monkeypatch.setattr(registry, "PARSERS", dict(FAKE_PARSERS))


@pytest.fixture
def tube(make_sample, members) -> Aliquot:
    source = make_sample(volume_ml=Decimal("4.0"))
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")], user=members["editor"]
    )[0]


@pytest.fixture
def make_tubes(make_sample, members):
    def make(count: int, *, study=None) -> list[Aliquot]:
        extra = {}
        if study is not None:
            donor = Donor.objects.create(study=study, code=f"D-{Donor.objects.count() + 100}")
            extra = {"study": study, "donor": donor}
        source = make_sample(volume_ml=Decimal("4.0"), **extra)
        return tube_services.split_into_aliquots(
            source=source, volumes_ml=[Decimal("0.5")] * count, user=members["superuser"]
        )

    return make


@pytest.fixture
def instrument_account(make_user):
    account = make_user("nta_pc")
    account.set_unusable_password()  # instrument accounts sign in with tokens only
    account.save()
    Instrument.objects.create(name="NS300 #1", kind="nta", account=account)
    return type(account).objects.get(pk=account.pk)


def store_file(
    content: bytes,
    *,
    uploader,
    name: str = "run-ExperimentSummary.csv",
    aliquot: Aliquot | None = None,
    status: str = FileStatus.RECEIVED,
) -> InstrumentFile:
    """An InstrumentFile row with its bytes in storage, as the upload service leaves it."""
    instrument_file = InstrumentFile(
        original_name=name,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        aliquot=aliquot,
        study=aliquot.study if aliquot else None,
        uploaded_by=uploader,
        status=status,
    )
    instrument_file.file.save(name, ContentFile(content), save=False)
    instrument_file.save()
    return instrument_file


@pytest.fixture
def make_file(members):
    def make(content: bytes, **kwargs) -> InstrumentFile:
        kwargs.setdefault("uploader", members["editor"])
        return store_file(content, **kwargs)

    return make


@pytest.fixture
def other_connection():
    """A second database session, like another worker's."""
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.autocommit = True
    yield raw
    raw.close()


def hold_lock(raw, file_id: int) -> None:
    with raw.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_lock(%s, %s)",
            [processing._LOCK_NAMESPACE, processing._int4(file_id)],
        )
