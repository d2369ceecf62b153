"""manage.py create_token and load_demo_data."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from exolims.models import ApiToken, token_digest
from samples.choices import Role
from samples.management.commands.load_demo_data import DEMO_PASSWORD, DEMO_USERNAME
from samples.models import Donor, Sample, Study, StudyMembership, sample_errors


def run(command: str, *args: str, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


# --- create_token ----------------------------------------------------------------------


def test_create_token_prints_a_key_and_stores_only_its_digest(members, api_client):
    out, err = run("create_token", "vera_viewer", "--name", "NTA export", "--days", "30")
    key = out.strip()
    assert key.startswith("exo_") and len(key) > 40
    token = ApiToken.objects.get(user=members["viewer"])
    assert token.name == "NTA export"
    assert token.digest == token_digest(key)
    assert key not in {token.digest, token.prefix}
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert "Copy it now" in err
    response = api_client.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_create_token_days_zero_never_expires(members):
    run("create_token", "eddie_editor", "--days", "0")
    assert ApiToken.objects.get(user=members["editor"]).expires_at is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No user named 'nobody'"),
        (["vera_viewer", "--days", "-1"], "--days must be 0"),
        (["vera_viewer", "--name", "  "], "--name must not be empty"),
    ],
)
def test_create_token_refuses_bad_input(members, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_token", *args)
    assert not ApiToken.objects.exists()


def test_create_token_for_inactive_user_is_refused(members):
    members["viewer"].is_active = False
    members["viewer"].save()
    with pytest.raises(CommandError, match="inactive"):
        run("create_token", "vera_viewer")


def test_create_token_unknown_user_exits_non_zero(db):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "create_token", "ghost"]).execute()
    assert exit_info.value.code != 0


# --- load_demo_data --------------------------------------------------------------------


@override_settings(DEBUG=True)
def test_demo_data_is_complete_valid_and_idempotent(db, client):
    out, _ = run("load_demo_data")
    assert f"username {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r}" in out
    assert Study.objects.filter(code__startswith="DEMO-").count() == 2
    donors = Donor.objects.count()
    samples = list(Sample.objects.select_related("donor"))
    assert len(samples) == 50
    assert len({s.fluid_type for s in samples}) >= 6
    assert all(sample_errors(s) == {} for s in samples)
    assert all(s.accession.startswith("EXO-") and "-" in s.sprec_code for s in samples)
    assert {m.role for m in StudyMembership.objects.filter(user__username=DEMO_USERNAME)} == {
        Role.MANAGER
    }

    run("load_demo_data")
    assert Sample.objects.count() == 50
    assert Donor.objects.count() == donors
    assert Study.objects.count() == 2
    assert StudyMembership.objects.count() == 2
    assert client.login(username=DEMO_USERNAME, password=DEMO_PASSWORD)


@override_settings(DEBUG=True)
def test_demo_data_fills_gaps_and_keeps_a_changed_password(db, django_user_model):
    run("load_demo_data")
    user = django_user_model.objects.get(username=DEMO_USERNAME)
    user.set_password("my-own-password")
    user.save()
    Sample.objects.filter(notes__startswith="Demo sample 07").delete()
    run("load_demo_data")
    assert Sample.objects.count() == 50
    user.refresh_from_db()
    assert user.check_password("my-own-password")


@override_settings(DEBUG=False)
def test_demo_data_refused_when_debug_is_off_unless_forced(db, django_user_model):
    with pytest.raises(CommandError, match="DEBUG is off"):
        run("load_demo_data")
    out, _ = run("load_demo_data", if_debug=True)  # what `make run` does
    assert "no demo data" in out
    assert not django_user_model.objects.exists()
    run("load_demo_data", force=True)
    assert django_user_model.objects.filter(username=DEMO_USERNAME).exists()
