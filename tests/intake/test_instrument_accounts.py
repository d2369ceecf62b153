"""Instrument accounts: upload and read their own uploads, 403 everywhere else."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from assays import intake
from assays.models import Instrument, InstrumentFile
from assays.permissions import instrument_of, is_instrument_account
from exolims.models import ApiToken

from .conftest import API, NTA_BYTES

FILES = f"{API}/instrument-files/"
pytestmark = pytest.mark.django_db


def upload(client, data: bytes = NTA_BYTES, **fields):
    return client.post(
        FILES,
        {"file": SimpleUploadedFile("ExperimentSummary.csv", data), **fields},
        format="multipart",
    )


def test_an_instrument_uploads_and_its_instrument_is_set(
    instrument_client, instrument, foreign_tube, enqueued
):
    response = upload(instrument_client, aliquot=foreign_tube.accession)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["instrument"] == instrument.pk
    assert body["aliquot"] == foreign_tube.pk  # a trusted device may name any tube
    assert upload(instrument_client).status_code == 200  # same bytes: the same record
    status = instrument_client.get(body["status_url"])
    assert status.status_code == 200 and status.json()["id"] == body["id"]


def test_an_instrument_may_not_upload_as_another_instrument(instrument_client, enqueued):
    Instrument.objects.create(name="ZetaView", kind="nta")
    response = upload(instrument_client, instrument="ZetaView")
    assert response.status_code == 400
    assert response.json() == {"instrument": ["This account uploads for NTA-1 only."]}


def test_an_instrument_reads_only_its_own_uploads(
    instrument_client, instrument_account, members, tube, enqueued
):
    own, _ = intake.register_instrument_file(
        upload=ContentFile(b"own", name="own.csv"), user=instrument_account
    )
    persons, _ = intake.register_instrument_file(
        upload=ContentFile(b"person", name="p.csv"), user=members["editor"], aliquot=tube
    )
    listed = instrument_client.get(FILES)
    assert [row["id"] for row in listed.json()["results"]] == [own.pk]
    assert instrument_client.get(f"{FILES}{own.pk}/").status_code == 200
    assert instrument_client.get(f"{FILES}{persons.pk}/").status_code == 404
    assert instrument_client.get(f"{FILES}{persons.pk}/status/").status_code == 404


def test_an_instrument_may_not_act_on_its_files(instrument_client, instrument_account, enqueued):
    own, _ = intake.register_instrument_file(
        upload=ContentFile(b"own", name="own.csv"), user=instrument_account
    )
    for method, suffix in [
        ("post", "reprocess/"),
        ("post", "resolve/"),
        ("get", "download/"),
        ("get", "history/"),
    ]:
        response = getattr(instrument_client, method)(f"{FILES}{own.pk}/{suffix}")
        assert response.status_code == 403, suffix
        assert "Instrument accounts may only upload" in response.json()["detail"]
    assert instrument_client.options(FILES).status_code == 403


def _schema_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        for method in methods:
            if method in {"get", "post", "put", "patch", "delete"}:
                operations.append((method, path))
    return operations


ALLOWED = {
    ("post", "/api/v1/instrument-files/"),
    ("get", "/api/v1/instrument-files/"),
    ("get", "/api/v1/instrument-files/{id}/"),
    ("get", "/api/v1/instrument-files/{id}/status/"),
}


def test_every_other_api_operation_is_403_for_an_instrument(instrument_client, enqueued):
    """Walks the whole OpenAPI schema, so endpoints added later are covered too (including
    views with their own permission classes, such as storage units and rotors)."""
    operations = _schema_operations()
    assert len(operations) > 50
    assert ALLOWED <= set(operations)
    for method, path in operations:
        if (method, path) in ALLOWED:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = getattr(instrument_client, method)(url, {}, format="json")
        assert response.status_code == 403, (method, path, response.status_code)


def test_people_keep_every_endpoint(client_for, members, tube, enqueued):
    client = client_for("editor")
    for path in (
        "samples/",
        "studies/",
        "aliquots/",
        "storage-units/",
        "rotors/",
        "me/",
        "tokens/",
        "instruments/",
        "particle-measurements/",
        "instrument-files/",
    ):
        assert client.get(f"{API}/{path}").status_code == 200, path


def test_a_person_with_a_token_is_not_an_instrument(members, django_assert_num_queries):
    user = get_user_model().objects.get(pk=members["editor"].pk)
    with django_assert_num_queries(0):  # people are recognised without a query
        assert not is_instrument_account(user)
    _token, key = ApiToken.issue(user=members["editor"], name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{API}/samples/").status_code == 200


def test_a_password_less_person_is_looked_up_once(make_user, instrument_account, instrument):
    person = make_user("sso_person")
    person.set_unusable_password()
    person.save()
    assert instrument_of(person) is None
    account = get_user_model().objects.get(pk=instrument_account.pk)
    assert instrument_of(account) == instrument
    assert instrument_of(None) is None


# --- create_instrument_account ---------------------------------------------------------


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_instrument_account", *args, stdout=out)
    return out.getvalue()


def test_create_instrument_account_makes_an_upload_only_login(enqueued):
    output = run("ZetaView-2", "--kind", "nta", "--model", "ZetaView PMX-120", "--location", "B2")
    key = output.strip().splitlines()[-1]
    assert key.startswith("exo_")
    instrument = Instrument.objects.select_related("account").get(name="ZetaView-2")
    assert (instrument.kind, instrument.model, instrument.location) == (
        "nta",
        "ZetaView PMX-120",
        "B2",
    )
    account = instrument.account
    assert account.username == "instrument-zetaview-2"
    assert not account.has_usable_password() and not account.is_staff
    assert "upload-only account instrument-zetaview-2" in output

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = upload(client)
    assert response.status_code == 201
    assert InstrumentFile.objects.get().instrument == instrument
    assert client.get(f"{API}/samples/").status_code == 403
    assert client.get(f"{API}/studies/").status_code == 403


def test_create_instrument_account_refuses_twice_unless_a_new_token_is_wanted():
    run("NTA-9", "--kind", "nta")
    with pytest.raises(CommandError, match="already has the account"):
        run("nta-9", "--kind", "nta")
    key = run("NTA-9", "--new-token", "--quiet").strip()
    assert key.startswith("exo_") and "\n" not in key
    assert ApiToken.objects.filter(user__instrument__name="NTA-9").count() == 2
    assert Instrument.objects.count() == 1


def test_create_instrument_account_refusals(make_user):
    with pytest.raises(CommandError, match="--kind"):
        run("New one")
    make_user("instrument-taken")
    with pytest.raises(CommandError, match="exists already"):
        run("Taken", "--kind", "nta")
    assert not Instrument.objects.filter(name="Taken").exists()  # all or nothing
    with pytest.raises(CommandError, match="--days"):
        run("Other", "--kind", "nta", "--days", "-1")


def test_an_existing_instrument_without_account_gets_one(instrument):
    key = run("NTA-1", "--quiet", "--days", "0").strip()
    instrument.refresh_from_db()
    token = ApiToken.objects.get(user=instrument.account)
    assert token.expires_at is None and key.startswith(token.prefix)
