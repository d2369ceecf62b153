"""Studies, memberships and donors: CRUD, role rules, 409 on delete with dependents."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from samples.models import Donor, Sample, Study, StudyMembership

from .helpers import API

# --- Studies ---------------------------------------------------------------------------


def test_list_shows_only_my_studies_with_my_role(client_for, study, other_study):
    response = client_for("viewer").get(f"{API}/studies/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["code"], r["my_role"]) for r in rows] == [("PLASMA-01", "viewer")]


def test_superuser_sees_every_study_as_manager(client_for, study, other_study):
    rows = client_for("superuser").get(f"{API}/studies/").json()["results"]
    assert {r["code"] for r in rows} == {"PLASMA-01", "URINE-02"}
    assert {r["my_role"] for r in rows} == {"manager"}


def test_user_with_add_study_permission_creates_a_study_and_manages_it(members):
    user = members["editor"]
    user.user_permissions.add(Permission.objects.get(codename="add_study"))
    client = APIClient()
    client.force_authenticate(user)

    response = client.post(
        f"{API}/studies/", {"code": "CSF-03", "title": "CSF EV study"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["my_role"] == "manager"
    new = Study.objects.get(code="CSF-03")
    assert StudyMembership.objects.get(study=new, user=user).role == "manager"
    # and, as its manager, can now change it
    assert (
        client.patch(f"{API}/studies/{new.pk}/", {"title": "CSF"}, format="json").status_code == 200
    )


def test_manager_without_the_permission_cannot_create_studies(client_for):
    response = client_for("manager").post(
        f"{API}/studies/", {"code": "NOPE", "title": "x"}, format="json"
    )
    assert response.status_code == 403
    assert "permission" in response.json()["detail"]
    assert not Study.objects.filter(code="NOPE").exists()


def test_study_creation_is_atomic(client_for, study):
    # A duplicate code fails validation: no study and no membership appear.
    before = StudyMembership.objects.count()
    response = client_for("superuser").post(
        f"{API}/studies/", {"code": "PLASMA-01", "title": "again"}, format="json"
    )
    assert response.status_code == 400
    assert "code" in response.json()
    assert StudyMembership.objects.count() == before


def test_bad_study_code_is_a_field_error(client_for):
    response = client_for("superuser").post(
        f"{API}/studies/", {"code": "has space", "title": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "code" in response.json()


def test_manager_updates_the_study(client_for, study):
    response = client_for("manager").patch(
        f"{API}/studies/{study.pk}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 200
    study.refresh_from_db()
    assert study.is_active is False


def test_editor_cannot_update_the_study(client_for, study):
    response = client_for("editor").patch(
        f"{API}/studies/{study.pk}/", {"title": "hijacked"}, format="json"
    )
    assert response.status_code == 403
    assert "manager" in response.json()["detail"]
    study.refresh_from_db()
    assert study.title == "Plasma EV pilot"


def test_deleting_a_study_with_donors_is_a_409(client_for, study, donor):
    response = client_for("manager").delete(f"{API}/studies/{study.pk}/")
    assert response.status_code == 409
    assert "donors" in response.json()["detail"]
    assert Study.objects.filter(pk=study.pk).exists()
    assert StudyMembership.objects.filter(study=study).count() == 3


def test_deleting_an_empty_study_removes_its_memberships(client_for, study):
    assert client_for("manager").delete(f"{API}/studies/{study.pk}/").status_code == 204
    assert not Study.objects.filter(pk=study.pk).exists()
    assert not StudyMembership.objects.filter(study_id=study.pk).exists()


def test_foreign_study_is_a_404(client_for, other_study):
    client = client_for("manager")
    assert client.get(f"{API}/studies/{other_study.pk}/").status_code == 404
    assert client.delete(f"{API}/studies/{other_study.pk}/").status_code == 404
    assert Study.objects.filter(pk=other_study.pk).exists()


# --- Memberships -----------------------------------------------------------------------


def test_manager_adds_a_member_by_username(client_for, study, make_user):
    make_user("nina_new")
    response = client_for("manager").post(
        f"{API}/memberships/",
        {"study": study.pk, "username": "nina_new", "role": "editor"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["username"], body["role"], body["study_code"]) == (
        "nina_new",
        "editor",
        "PLASMA-01",
    )
    assert StudyMembership.objects.filter(study=study, user__username="nina_new").exists()


def test_manager_adds_a_member_by_user_id(client_for, study, make_user):
    user = make_user("nina_new")
    response = client_for("manager").post(
        f"{API}/memberships/", {"study": study.pk, "user": user.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "viewer"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"role": "editor"}, "user"),
        ({"username": "nobody_here"}, "username"),
        ({"username": "vera_viewer", "role": "owner"}, "role"),
    ],
)
def test_bad_membership_input(client_for, study, payload, field):
    before = StudyMembership.objects.count()
    response = client_for("manager").post(
        f"{API}/memberships/", {"study": study.pk, **payload}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert StudyMembership.objects.count() == before


def test_adding_an_existing_member_twice_is_a_400(client_for, study):
    response = client_for("manager").post(
        f"{API}/memberships/", {"study": study.pk, "username": "vera_viewer"}, format="json"
    )
    assert response.status_code == 400
    assert "already a member" in response.json()["non_field_errors"][0]


def test_membership_in_a_foreign_study_reads_as_not_existing(client_for, other_study):
    response = client_for("manager").post(
        f"{API}/memberships/", {"study": other_study.pk, "username": "vera_viewer"}, format="json"
    )
    assert response.status_code == 400
    assert "object does not exist" in response.json()["study"][0]


def test_manager_changes_a_role_but_not_the_person(client_for, members, study):
    membership = StudyMembership.objects.get(user=members["viewer"])
    response = client_for("manager").patch(
        f"{API}/memberships/{membership.pk}/",
        {"role": "editor", "user": members["outsider"].pk},
        format="json",
    )
    assert response.status_code == 200
    membership.refresh_from_db()
    assert (membership.role, membership.user) == ("editor", members["viewer"])


def test_the_last_manager_cannot_be_demoted_or_removed(client_for, members):
    membership = StudyMembership.objects.get(user=members["manager"])
    client = client_for("manager")

    demoted = client.patch(f"{API}/memberships/{membership.pk}/", {"role": "viewer"}, format="json")
    removed = client.delete(f"{API}/memberships/{membership.pk}/")

    assert demoted.status_code == 409
    assert "only manager" in demoted.json()["detail"]
    assert removed.status_code == 409
    membership.refresh_from_db()
    assert membership.role == "manager"


def test_a_manager_can_step_down_when_another_remains(client_for, members, study):
    StudyMembership.objects.filter(user=members["editor"]).update(role="manager")
    membership = StudyMembership.objects.get(user=members["manager"])
    response = client_for("manager").delete(f"{API}/memberships/{membership.pk}/")
    assert response.status_code == 204


# --- Donors ----------------------------------------------------------------------------


def test_editor_creates_updates_and_deletes_a_donor(client_for, study):
    client = client_for("editor")
    created = client.post(
        f"{API}/donors/",
        {
            "study": study.pk,
            "code": "D-100",
            "sex": "male",
            "birth_year": 1975,
            "conditions": ["healthy", " MONDO:0005148 "],
            "consent_status": "given",
            "consent_date": "2025-02-01",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["conditions"] == ["healthy", "MONDO:0005148"]
    assert body["study_code"] == "PLASMA-01"
    assert isinstance(body["birth_year"], int)

    updated = client.patch(f"{API}/donors/{body['id']}/", {"notes": "re-consented"}, format="json")
    assert updated.status_code == 200
    assert Donor.objects.get(pk=body["id"]).notes == "re-consented"

    assert client.delete(f"{API}/donors/{body['id']}/").status_code == 204
    assert not Donor.objects.filter(pk=body["id"]).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"code": "D-001"}, "non_field_errors"),  # duplicate within the study
        ({"code": "has space"}, "code"),
        ({"code": "D-2", "consent_status": "given"}, "consent_date"),
        ({"code": "D-2", "birth_year": 2999}, "birth_year"),
        ({"code": "D-2", "sex": "x"}, "sex"),
        ({"code": "D-2", "conditions": "diabetes"}, "conditions"),
    ],
)
def test_bad_donor_input(client_for, study, donor, payload, field):
    response = client_for("editor").post(
        f"{API}/donors/", {"study": study.pk, **payload}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Donor.objects.count() == 1


def test_same_donor_code_is_fine_in_another_study(client_for, other_study, donor, members):
    StudyMembership.objects.create(study=other_study, user=members["editor"], role="editor")
    response = client_for("editor").post(
        f"{API}/donors/", {"study": other_study.pk, "code": "D-001"}, format="json"
    )
    assert response.status_code == 201


def test_donor_in_a_foreign_study_reads_as_not_existing(client_for, other_study):
    response = client_for("editor").post(
        f"{API}/donors/", {"study": other_study.pk, "code": "D-9"}, format="json"
    )
    assert response.status_code == 400
    assert "object does not exist" in response.json()["study"][0]
    assert not Donor.objects.filter(code="D-9").exists()


def test_deleting_a_donor_with_samples_is_a_409(client_for, donor, make_sample):
    make_sample()
    response = client_for("editor").delete(f"{API}/donors/{donor.pk}/")
    assert response.status_code == 409
    assert "samples" in response.json()["detail"]
    assert Donor.objects.filter(pk=donor.pk).exists()
    assert Sample.objects.count() == 1
    # the request's transaction is still usable after the refusal
    assert client_for("editor").get(f"{API}/donors/{donor.pk}/").status_code == 200
