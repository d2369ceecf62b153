"""Token authentication and the caller's own token and ``me`` endpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from exolims.models import ApiToken, token_digest

from .helpers import API


@pytest.fixture
def issued(members):
    token, key = ApiToken.issue(user=members["viewer"], name="export script")
    return token, key


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- Authentication --------------------------------------------------------------------


def test_a_valid_token_authenticates_and_records_use(issued, study):
    token, key = issued
    response = token_client(key).get(f"{API}/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "vera_viewer"
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token_client(key).get(f"{API}/studies/").json()["results"][0]["code"] == "PLASMA-01"


def test_token_auth_skips_csrf_for_writes(issued, study):
    _token, key = issued
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post(f"{API}/tokens/", {"name": "second"}, format="json")
    assert response.status_code == 201


def test_session_writes_still_need_csrf(members):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(members["viewer"])
    assert client.get(f"{API}/me/").status_code == 200
    response = client.post(f"{API}/tokens/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"revoked_at": timezone.now()}, "revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
    ],
)
def test_revoked_or_expired_tokens_are_a_401(issued, change, message):
    token, key = issued
    ApiToken.objects.filter(pk=token.pk).update(**change)
    response = token_client(key).get(f"{API}/me/")
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_unknown_token_is_a_401(issued):
    response = token_client("exo_not-a-real-key").get(f"{API}/me/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_token_of_an_inactive_user_is_a_401(issued, members):
    _token, key = issued
    members["viewer"].is_active = False
    members["viewer"].save()
    response = token_client(key).get(f"{API}/me/")
    assert response.status_code == 401
    assert "inactive" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token ",
        "Token two parts",
        "Token " + "x" * 5000,
        "Token exo_\x00nul",
        "Token \u00ff\u00fe",
        "token lowercase-keyword-unknown-key",
    ],
)
def test_malformed_authorization_headers_are_a_401_never_a_500(issued, header):
    client = APIClient()
    response = client.get(f"{API}/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_non_utf8_header_is_a_401(issued):
    client = APIClient()
    response = client.get(f"{API}/me/", HTTP_AUTHORIZATION=b"Token \xff\xfe".decode("latin-1"))
    assert response.status_code == 401


def test_other_schemes_are_not_logged_in(issued):
    _token, key = issued
    response = APIClient().get(f"{API}/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 401


# --- The tokens endpoint ---------------------------------------------------------------


def test_create_returns_the_key_once_and_stores_only_its_digest(client_for, members):
    client = client_for("editor")
    response = client.post(f"{API}/tokens/", {"name": "NTA export"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    key = body["key"]
    assert key.startswith("exo_") and len(key) > 40
    token = ApiToken.objects.get(pk=body["id"])
    assert token.digest == token_digest(key)
    assert key not in {token.digest, token.prefix, token.name}
    assert body["prefix"] == key[:10]
    # the key is never shown again
    listed = client.get(f"{API}/tokens/").json()["results"]
    assert [t["id"] for t in listed] == [token.pk]
    assert "key" not in listed[0]
    assert "key" not in client.get(f"{API}/tokens/{token.pk}/").json()
    # and it works
    assert token_client(key).get(f"{API}/me/").json()["username"] == "eddie_editor"


def test_default_expiry_and_explicit_expiry(client_for, settings):
    settings.API_TOKEN_DEFAULT_DAYS = 30
    client = client_for("editor")
    default = client.post(f"{API}/tokens/", {"name": "a"}, format="json").json()
    week = client.post(f"{API}/tokens/", {"name": "b", "expires_in_days": 7}, format="json").json()
    never = client.post(f"{API}/tokens/", {"name": "c", "expires_in_days": 0}, format="json").json()

    now = timezone.now()
    assert abs(
        ApiToken.objects.get(pk=default["id"]).expires_at - (now + timedelta(days=30))
    ) < timedelta(minutes=1)
    assert abs(
        ApiToken.objects.get(pk=week["id"]).expires_at - (now + timedelta(days=7))
    ) < timedelta(minutes=1)
    assert never["expires_at"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "expires_in_days": -1}, "expires_in_days"),
        ({"name": "x", "expires_in_days": "soon"}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 100000}, "expires_in_days"),
    ],
)
def test_bad_token_requests(client_for, payload, field):
    response = client_for("editor").post(f"{API}/tokens/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert ApiToken.objects.count() == 0


def test_revoke_keeps_the_token_listed_and_stops_it_working(client_for, members):
    client = client_for("editor")
    body = client.post(f"{API}/tokens/", {"name": "temp"}, format="json").json()

    assert client.delete(f"{API}/tokens/{body['id']}/").status_code == 204

    token = ApiToken.objects.get(pk=body["id"])
    assert token.revoked_at is not None
    listed = client.get(f"{API}/tokens/").json()["results"][0]
    assert listed["is_active"] is False and listed["revoked_at"]
    assert token_client(body["key"]).get(f"{API}/me/").status_code == 401


def test_other_users_tokens_are_invisible(client_for, issued):
    token, _key = issued
    client = client_for("editor")
    assert client.get(f"{API}/tokens/").json()["results"] == []
    assert client.get(f"{API}/tokens/{token.pk}/").status_code == 404
    assert client.delete(f"{API}/tokens/{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


# --- me --------------------------------------------------------------------------------


def test_me_lists_roles(client_for, study):
    body = client_for("manager").get(f"{API}/me/").json()
    assert body["username"] == "mona_manager"
    assert body["is_superuser"] is False
    assert body["can_create_studies"] is False
    assert body["memberships"] == [
        {"study": study.pk, "study_code": "PLASMA-01", "role": "manager"}
    ]


def test_me_for_a_superuser(client_for):
    body = client_for("superuser").get(f"{API}/me/").json()
    assert body["is_superuser"] is True and body["can_create_studies"] is True


# --- The short-lived lookup cache (exolims.authentication) -----------------------------


@pytest.fixture
def fake_clock(monkeypatch):
    """A controllable monotonic clock for the token lookup cache."""
    from exolims import authentication

    now = [1000.0]
    monkeypatch.setattr(authentication, "_clock", lambda: now[0])
    return now


def used_once(key: str) -> APIClient:
    """A token client whose lookup is now cached (and last_used_at already recorded)."""
    client = token_client(key)
    assert client.get(f"{API}/me/").status_code == 200
    assert client.get(f"{API}/me/").status_code == 200
    return client


def test_revoking_through_the_api_stops_a_cached_token_at_once(client_for, members, fake_clock):
    editor = client_for("editor")
    body = editor.post(f"{API}/tokens/", {"name": "cached"}, format="json").json()
    client = used_once(body["key"])

    assert editor.delete(f"{API}/tokens/{body['id']}/").status_code == 204

    response = client.get(f"{API}/me/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_deactivating_the_user_stops_a_cached_token_at_once(issued, members, fake_clock):
    _token, key = issued
    client = used_once(key)
    members["viewer"].is_active = False
    members["viewer"].save()
    assert client.get(f"{API}/me/").status_code == 401


def test_deleting_the_token_stops_it_at_once(issued, fake_clock):
    token, key = issued
    client = used_once(key)
    token.delete()
    assert client.get(f"{API}/me/").json()["detail"] == "Invalid token."


def test_a_change_without_signals_is_seen_once_the_cache_window_passes(
    issued, settings, fake_clock
):
    """The documented bound: a change made elsewhere (another process, or a bulk
    ``update()``) is seen within API_TOKEN_CACHE_SECONDS."""
    settings.API_TOKEN_CACHE_SECONDS = 2
    token, key = issued
    client = used_once(key)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

    fake_clock[0] += 1.9
    assert client.get(f"{API}/me/").status_code == 200
    fake_clock[0] += 0.2
    assert client.get(f"{API}/me/").status_code == 401


def test_with_the_cache_off_every_request_reads_the_token(issued, settings, fake_clock):
    settings.API_TOKEN_CACHE_SECONDS = 0
    token, key = issued
    client = used_once(key)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client.get(f"{API}/me/").status_code == 401


def test_expiry_is_checked_on_every_request_even_when_cached(issued, fake_clock, monkeypatch):
    token, key = issued
    client = used_once(key)
    later = token.expires_at + timedelta(seconds=1)
    monkeypatch.setattr("exolims.authentication.timezone.now", lambda: later)
    response = client.get(f"{API}/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_each_request_gets_its_own_user_object(issued, fake_clock):
    """Cached lookups keep rows, not model instances: nothing set on request.user (such as
    Django's permission caches) can leak into another request."""
    from exolims.authentication import find_token

    _token, key = issued
    first, second = find_token(key), find_token(key)
    assert first.user == second.user
    assert first.user is not second.user and first is not second


def test_last_use_is_still_recorded_about_once_a_minute(issued, fake_clock, monkeypatch):
    token, key = issued
    used_once(key)
    token.refresh_from_db()
    first_use = token.last_used_at
    later = first_use + timedelta(minutes=2)
    monkeypatch.setattr("exolims.authentication.timezone.now", lambda: later)
    assert token_client(key).get(f"{API}/me/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == later
