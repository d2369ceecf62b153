"""Fixtures for the intake tests: a private media folder, recorded queueing, tubes, an
instrument with its upload-only account and token."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from assays import processing
from assays.models import Instrument
from exolims.models import ApiToken
from samples import services as tube_services
from samples.models import Aliquot, Donor

API = "/api/v1"
NTA_BYTES = b"Sample Name,EXO-000001\nConcentration,1.2e9\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Ids handed to processing (instead of processing them)."""
    calls: list[int] = []
    monkeypatch.setattr(processing, "enqueue_processing", calls.append)
    return calls


@pytest.fixture
def tube(make_sample, members) -> Aliquot:
    source = make_sample(volume_ml=Decimal("4.0"))
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")], user=members["editor"]
    )[0]


@pytest.fixture
def foreign_tube(make_sample, members, other_study) -> Aliquot:
    donor = Donor.objects.create(study=other_study, code="D-900")
    source = make_sample(volume_ml=Decimal("4.0"), study=other_study, donor=donor)
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")], user=members["superuser"]
    )[0]


@pytest.fixture
def instrument(db) -> Instrument:
    return Instrument.objects.create(name="NTA-1", kind="nta", model="NanoSight NS300")


@pytest.fixture
def instrument_account(instrument, make_user):
    account = make_user("instrument-nta-1")
    account.set_unusable_password()  # what create_instrument_account does
    account.save()
    instrument.account = account
    instrument.save()
    return type(account).objects.get(pk=account.pk)


@pytest.fixture
def instrument_client(instrument_account) -> APIClient:
    """Signed in with the instrument's token, as an instrument PC is."""
    _token, key = ApiToken.issue(user=instrument_account, name="instrument NTA-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
