"""Login, logout, the slow-down of repeated failed logins, and the API-token page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exolims.models import ApiToken, LoginFailure, token_digest
from exolims.throttle import delay_for, login_wait_seconds
from tests.conftest import PASSWORD

LOGIN = reverse("login")


@pytest.fixture
def throttle_settings(settings):
    settings.LOGIN_FAILURES_BEFORE_DELAY = 3
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 600
    settings.LOGIN_MAX_DELAY_SECONDS = 30
    return settings


def login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_login_page_and_successful_login(members):
    client = Client()
    assert client.get(LOGIN).status_code == 200
    response = login(client, "vera_viewer", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("samples:dashboard")
    assert client.get(reverse("samples:dashboard")).status_code == 200


def test_login_follows_next(members, donor):
    client = Client()
    response = client.post(
        LOGIN + f"?next={donor.get_absolute_url()}",
        {"username": "vera_viewer", "password": PASSWORD, "next": donor.get_absolute_url()},
    )
    assert response["Location"] == donor.get_absolute_url()


def test_logout_is_a_post_and_ends_the_session(page_client):
    client = page_client("viewer")
    response = client.post(reverse("logout"))
    assert response["Location"] == LOGIN
    assert client.get(reverse("samples:dashboard")).status_code == 302


def test_failed_login_is_recorded(members):
    response = login(Client(), "Vera_Viewer ", "wrong")
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    failure = LoginFailure.objects.get()
    assert (failure.username, failure.ip_address) == ("vera_viewer", "10.0.0.1")


def test_repeated_failures_refuse_even_the_right_password(members, throttle_settings):
    client = Client()
    for _ in range(2):
        assert "Too many" not in login(client, "vera_viewer", "wrong").content.decode()
    third = login(client, "vera_viewer", "wrong").content.decode()
    assert "Too many failed attempts; try again in 2 seconds" in third
    refused = login(client, "vera_viewer", PASSWORD)
    assert refused.status_code == 200
    assert "Too many failed attempts; try again in" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # A refused attempt is not checked, so it does not count as another failure.
    assert LoginFailure.objects.count() == 3

    # Once the wait is over the right password works and clears the record.
    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=5))
    assert login(client, "vera_viewer", PASSWORD).status_code == 302
    assert not LoginFailure.objects.filter(username="vera_viewer").exists()


def test_one_address_guessing_many_usernames_is_slowed_down(members, throttle_settings):
    client = Client()
    for name in ("a", "b", "c"):
        login(client, name, "wrong", ip="192.0.2.7")
    response = login(client, "vera_viewer", PASSWORD, ip="192.0.2.7")
    assert "Too many failed attempts" in response.content.decode()
    # The same user from another address is not affected.
    assert login(Client(), "vera_viewer", PASSWORD, ip="192.0.2.8").status_code == 302


def test_delay_doubles_per_failure_up_to_the_cap(throttle_settings):
    assert [delay_for(n) for n in range(2, 9)] == [0, 2, 4, 8, 16, 30, 30]
    assert delay_for(10_000) == 30


def test_wait_counts_down_from_the_latest_failure(db, throttle_settings):
    now = timezone.now()
    for seconds_ago in (100, 50, 3):
        LoginFailure.objects.create(
            username="x", ip_address="10.9.9.9", at=now - timedelta(seconds=seconds_ago)
        )
    # 3 failures (the threshold) → wait 2 s after the latest, which was 3 s ago: over.
    assert login_wait_seconds(username="x", ip_address=None, now=now) == 0
    LoginFailure.objects.create(username="x", ip_address=None, at=now - timedelta(seconds=1))
    # 4 failures → 4 s from 1 s ago → 3 s left.
    assert login_wait_seconds(username="X", ip_address=None, now=now) == 3
    # Failures older than the window do not count.
    later = now + timedelta(seconds=601)
    assert login_wait_seconds(username="x", ip_address="10.9.9.9", now=later) == 0


# --- API tokens ------------------------------------------------------------------------

TOKENS = reverse("api-tokens")


def test_create_token_shows_the_key_once(page_client, members):
    client = page_client("editor")
    response = client.post(TOKENS, {"name": "NTA export", "expires_in_days": "30"})
    assert response.status_code == 200
    key = response.context["new_key"]
    token = ApiToken.objects.get()
    assert token.user == members["editor"]
    assert token.digest == token_digest(key)
    assert key in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    later = client.get(TOKENS).content.decode()
    assert key not in later
    assert token.prefix in later and "NTA export" in later


def test_token_without_expiry(page_client):
    page_client("editor").post(TOKENS, {"name": "forever", "expires_in_days": ""})
    assert ApiToken.objects.get().expires_at is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "expires_in_days": "30"}, "name"),
        ({"name": "   ", "expires_in_days": "30"}, "name"),
        ({"name": "x", "expires_in_days": "0"}, "expires_in_days"),
        ({"name": "x", "expires_in_days": "soon"}, "expires_in_days"),
        ({"name": "x" * 101, "expires_in_days": "1"}, "name"),
    ],
)
def test_bad_token_input_creates_nothing(page_client, data, field):
    response = page_client("editor").post(TOKENS, data)
    assert field in response.context["form"].errors
    assert response.context["new_key"] is None
    assert not ApiToken.objects.exists()


def test_revoke_own_token_only(page_client, members):
    mine, _ = ApiToken.issue(user=members["editor"], name="mine")
    theirs, _ = ApiToken.issue(user=members["viewer"], name="theirs")
    client = page_client("editor")
    page = client.get(TOKENS).content.decode()
    assert "mine" in page and "theirs" not in page
    url = reverse("api-token-revoke", args=[mine.pk])
    assert "Revoke token" in client.get(url).content.decode()
    mine.refresh_from_db()
    assert mine.revoked_at is None  # GET only asks
    assert client.post(url)["Location"] == TOKENS
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    assert "revoked" in client.get(TOKENS).content.decode()
    assert client.post(reverse("api-token-revoke", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
