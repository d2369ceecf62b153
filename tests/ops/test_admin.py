"""The admin: every model is registered, scoped to the user's studies, tokens are read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from exolims.models import ApiToken, LoginFailure
from tests.conftest import PASSWORD

MODELS = [
    "samples/study",
    "samples/studymembership",
    "samples/donor",
    "samples/sample",
    "exolims/apitoken",
    "exolims/loginfailure",
]


@pytest.fixture
def admin_client(client, members):
    client.force_login(members["superuser"])
    return client


@pytest.mark.parametrize("model", MODELS)
def test_superuser_sees_every_changelist(admin_client, make_sample, members, model):
    make_sample(notes="centrifuged twice")
    ApiToken.issue(user=members["viewer"], name="script")
    LoginFailure.objects.create(username="vera_viewer", ip_address="192.0.2.1")
    app, name = model.split("/")
    response = admin_client.get(reverse(f"admin:{app}_{name}_changelist"))
    assert response.status_code == 200
    search = admin_client.get(reverse(f"admin:{app}_{name}_changelist"), {"q": "vera"})
    assert search.status_code == 200


def test_sample_changelist_query_count_does_not_grow(
    admin_client, make_sample, django_assert_max_num_queries
):
    for _ in range(15):
        make_sample()
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:samples_sample_changelist"))
    assert response.content.count(b"EXO-") >= 15


def test_token_admin_shows_digest_never_key_and_can_revoke(admin_client, members):
    token, key = ApiToken.issue(user=members["viewer"], name="script")
    page = admin_client.get(reverse("admin:exolims_apitoken_change", args=[token.pk]))
    assert page.status_code == 200
    assert token.digest.encode() in page.content
    assert key.encode() not in page.content
    assert b'name="digest"' not in page.content  # shown, not editable
    assert admin_client.get(reverse("admin:exolims_apitoken_add")).status_code == 403
    admin_client.post(
        reverse("admin:exolims_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_staff_member_sees_only_their_studies(client, members, study, other_study, make_sample):
    editor = members["editor"]
    editor.is_staff = True
    editor.save()
    editor.user_permissions.set(
        Permission.objects.filter(content_type__app_label="samples", codename__contains="sample")
    )
    mine = make_sample()
    theirs = make_sample(
        study=other_study,
        fluid_type="conditioned_medium",
        cell_line="HEK293T",
        tube_type="pp_sterile",
        centrifugation_steps=[],
    )
    assert client.login(username=editor.username, password=PASSWORD)
    listing = client.get(reverse("admin:samples_sample_changelist"))
    assert mine.accession.encode() in listing.content
    assert theirs.accession.encode() not in listing.content
    # Another study's sample does not exist for this user: the admin redirects to its index.
    other = client.get(reverse("admin:samples_sample_change", args=[theirs.pk]))
    assert other.status_code == 302
    assert other.url == reverse("admin:index")
