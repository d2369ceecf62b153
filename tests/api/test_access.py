"""The access matrix: every endpoint and method for anonymous, non-member, viewer, editor,
manager and superuser. Each case also checks what the database holds afterwards, so a
"right status, wrong effect" bug cannot pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from samples.models import Donor, Sample, Study, StudyMembership

from .helpers import API, sample_payload

ROLES = ["anonymous", "outsider", "viewer", "editor", "manager", "superuser"]
ACTIONS = ["list", "retrieve", "create", "update", "partial_update", "destroy"]


@dataclass
class World:
    study: Study
    donor: Donor
    members: dict[str, Any]
    make_sample: Callable[..., Sample]
    make_user: Callable[..., Any]


@dataclass(frozen=True)
class Resource:
    path: str
    model: type
    target: Callable[[World], Any]  # a fresh object the action works on
    create: Callable[[World], dict[str, Any]]
    update: Callable[[World, Any], dict[str, Any]]
    patch: Callable[[World, Any], dict[str, Any]]
    changed: Callable[[Any], bool]  # did the update/patch reach the database?
    write_role: str


def _target_study(world: World) -> Study:
    target = Study.objects.create(code="T-01", title="Target")
    for role in ("viewer", "editor", "manager"):
        StudyMembership.objects.create(study=target, user=world.members[role], role=role)
    return target


def _target_membership(world: World) -> StudyMembership:
    return StudyMembership.objects.create(
        study=world.study, user=world.make_user("tina_target"), role="viewer"
    )


def _new_member(world: World) -> dict[str, Any]:
    world.make_user("nina_new")
    return {"study": world.study.pk, "username": "nina_new", "role": "viewer"}


RESOURCES = {
    "studies": Resource(
        path="studies",
        model=Study,
        target=_target_study,
        create=lambda w: {"code": "NEW-01", "title": "New"},
        update=lambda w, t: {"code": "T-01", "title": "Changed"},
        patch=lambda w, t: {"title": "Changed"},
        changed=lambda t: Study.objects.get(pk=t.pk).title == "Changed",
        write_role="manager",
    ),
    "memberships": Resource(
        path="memberships",
        model=StudyMembership,
        target=_target_membership,
        create=_new_member,
        update=lambda w, t: {"role": "editor"},
        patch=lambda w, t: {"role": "editor"},
        changed=lambda t: StudyMembership.objects.get(pk=t.pk).role == "editor",
        write_role="manager",
    ),
    "donors": Resource(
        path="donors",
        model=Donor,
        target=lambda w: Donor.objects.create(study=w.study, code="D-T"),
        create=lambda w: {"study": w.study.pk, "code": "D-NEW"},
        update=lambda w, t: {"study": w.study.pk, "code": "D-T", "notes": "Changed"},
        patch=lambda w, t: {"notes": "Changed"},
        changed=lambda t: Donor.objects.get(pk=t.pk).notes == "Changed",
        write_role="editor",
    ),
    "samples": Resource(
        path="samples",
        model=Sample,
        target=lambda w: w.make_sample(),
        create=lambda w: sample_payload(w.study, w.donor),
        update=lambda w, t: sample_payload(w.study, w.donor, notes="Changed"),
        patch=lambda w, t: {"notes": "Changed"},
        changed=lambda t: Sample.objects.get(pk=t.pk).notes == "Changed",
        write_role="editor",
    ),
}

RANK = {"outsider": 0, "viewer": 1, "editor": 2, "manager": 3, "superuser": 4}
NEEDED = {"editor": 2, "manager": 3}


def expected_status(resource: str, action: str, role: str) -> int:
    if role == "anonymous":
        return 401
    spec = RESOURCES[resource]
    if action == "list":
        return 200
    if action == "retrieve":
        return 404 if role == "outsider" else 200
    if action == "create":
        if resource == "studies":  # needs samples.add_study, which only the superuser has here
            return 201 if role == "superuser" else 403
        return 201 if RANK[role] >= NEEDED[spec.write_role] else 403
    # update, partial_update, destroy on an object in a study the role belongs to
    if role == "outsider":
        return 404
    allowed = RANK[role] >= NEEDED[spec.write_role]
    if not allowed:
        return 403
    return 204 if action == "destroy" else 200


@pytest.fixture
def world(study, donor, members, make_sample, make_user) -> World:
    return World(study, donor, members, make_sample, make_user)


def client_as(world: World, role: str) -> APIClient:
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(world.members[role])
    return client


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("resource", list(RESOURCES))
def test_access_matrix(world, resource, action, role):
    spec = RESOURCES[resource]
    client = client_as(world, role)
    target = spec.target(world)
    before = spec.model.objects.count()
    collection = f"{API}/{spec.path}/"
    item = f"{collection}{target.pk}/"

    if action == "list":
        response = client.get(collection)
    elif action == "retrieve":
        response = client.get(item)
    elif action == "create":
        response = client.post(collection, spec.create(world), format="json")
    elif action == "update":
        response = client.put(item, spec.update(world, target), format="json")
    elif action == "partial_update":
        response = client.patch(item, spec.patch(world, target), format="json")
    else:
        response = client.delete(item)

    expected = expected_status(resource, action, role)
    assert response.status_code == expected, (response.status_code, response.content)

    # The database agrees with the status code.
    after = spec.model.objects.count()
    if action == "create":
        assert after == before + (1 if expected == 201 else 0)
    elif action == "destroy":
        assert after == before - (1 if expected == 204 else 0)
        assert spec.model.objects.filter(pk=target.pk).exists() == (expected != 204)
    elif action in {"update", "partial_update"}:
        assert spec.changed(target) == (expected == 200)
    if action == "list" and role == "outsider":
        assert response.json()["results"] == []
    if expected == 401:
        assert response["WWW-Authenticate"] == "Token"
    if expected == 404:
        # Not found must look exactly like an id that never existed.
        missing = client.get(f"{collection}987654321/")
        assert missing.status_code == 404
        assert response.json() == missing.json()


ACCOUNT_ENDPOINTS = [
    ("get", "me/"),
    ("get", "tokens/"),
    ("post", "tokens/"),
    ("get", ""),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), ACCOUNT_ENDPOINTS)
def test_account_endpoints_need_authentication_only(world, role, method, path):
    client = client_as(world, role)
    data = {"name": "script"} if method == "post" else None
    response = getattr(client, method)(f"{API}/{path}", data, format="json")
    if role == "anonymous":
        assert response.status_code == 401
    else:
        assert response.status_code == (201 if method == "post" else 200), response.content


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["schema/", "docs/"])
def test_schema_and_docs_are_public(world, role, path):
    assert client_as(world, role).get(f"{API}/{path}").status_code == 200
