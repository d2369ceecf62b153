"""Review R2: an instrument account cannot reach pages (no session login, tokens are not
read by page views) nor API views that bring their own permission classes."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from .conftest import API


@pytest.fixture
def instrument_key(db) -> str:
    out = StringIO()
    call_command("create_instrument_account", "NTA-R2", "--kind", "nta", stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_instrument_account_cannot_sign_in_to_pages(instrument_key):
    client = Client()
    assert not client.login(username="instrument-nta-r2", password="")
    response = client.post(
        reverse("login"), {"username": "instrument-nta-r2", "password": instrument_key}
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "name", ["assays:file-list", "assays:file-upload", "samples:dashboard", "api-tokens"]
)
def test_a_token_does_not_open_pages(instrument_key, name):
    response = Client().get(reverse(name), HTTP_AUTHORIZATION=f"Token {instrument_key}")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_token_on_upload_json_is_not_a_login(instrument_key):
    response = Client().get(
        reverse("assays:file-statuses"), HTTP_AUTHORIZATION=f"Token {instrument_key}"
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path", ["rotors/", "isolation-protocols/", "protocol-versions/", "storage-units/"]
)
def test_views_with_own_permission_classes_refuse_instrument_tokens(instrument_key, path):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {instrument_key}")
    assert client.get(f"{API}/{path}").status_code == 403
