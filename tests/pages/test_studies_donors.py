"""Study, membership and donor pages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from samples.models import Donor, Study, StudyMembership


def study_data(**overrides):
    data = {"code": "CSF-03", "title": "CSF EV study", "description": "", "is_active": "on"}
    data.update(overrides)
    return data


def test_superuser_creates_a_study_and_becomes_its_manager(page_client, members):
    response = page_client("superuser").post(reverse("samples:study-create"), study_data())
    study = Study.objects.get(code="CSF-03")
    assert response.status_code == 302
    assert response["Location"] == study.get_absolute_url()
    assert study.memberships.get().user == members["superuser"]
    assert study.memberships.get().role == "manager"


def test_user_with_add_study_permission_may_create(page_client, members):
    outsider = members["outsider"]
    outsider.user_permissions.add(Permission.objects.get(codename="add_study"))
    response = page_client("outsider").post(reverse("samples:study-create"), study_data())
    assert response.status_code == 302
    assert StudyMembership.objects.get(study__code="CSF-03").user == outsider


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"code": "PLASMA-01"}, "code"), ({"code": "bad code!"}, "code"), ({"title": ""}, "title")],
)
def test_bad_study_input_saves_nothing(page_client, study, overrides, field):
    response = page_client("superuser").post(
        reverse("samples:study-create"), study_data(**overrides)
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert Study.objects.count() == 1
    assert not StudyMembership.objects.filter(role="manager", user__username="root_admin").exists()


def test_manager_edits_the_study(page_client, study):
    url = reverse("samples:study-edit", args=[study.pk])
    response = page_client("manager").post(url, study_data(code=study.code, title="Renamed"))
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.title == "Renamed"
    assert page_client("editor").post(url, study_data(title="Nope")).status_code == 403


# --- Membership ------------------------------------------------------------------------


def members_url(study):
    return reverse("samples:study-members", args=[study.pk])


def test_manager_adds_changes_and_removes_members(page_client, study, members, make_user):
    newcomer = make_user("nina_new")
    client = page_client("manager")
    response = client.post(members_url(study), {"username": "nina_new", "role": "editor"})
    assert response.status_code == 302
    membership = StudyMembership.objects.get(study=study, user=newcomer)
    assert membership.role == "editor"

    url = reverse("samples:membership-role", args=[study.pk, membership.pk])
    client.post(url, {"role": "viewer"})
    membership.refresh_from_db()
    assert membership.role == "viewer"

    url = reverse("samples:membership-remove", args=[study.pk, membership.pk])
    assert "nina_new" in client.get(url).content.decode()
    client.post(url)
    assert not StudyMembership.objects.filter(pk=membership.pk).exists()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"username": "nobody", "role": "viewer"}, "No active user"),
        ({"username": "vera_viewer", "role": "viewer"}, "already a member"),
        ({"username": "otto_outsider", "role": "overlord"}, "valid choice"),
    ],
)
def test_adding_a_member_rejects_bad_input(page_client, study, members, data, fragment):
    before = StudyMembership.objects.count()
    response = page_client("manager").post(members_url(study), data)
    assert response.status_code == 200
    assert fragment in response.content.decode()
    assert StudyMembership.objects.count() == before


def test_the_last_manager_cannot_be_demoted_or_removed(page_client, study, members):
    manager = StudyMembership.objects.get(study=study, role="manager")
    client = page_client("manager")
    role_url = reverse("samples:membership-role", args=[study.pk, manager.pk])
    response = client.post(role_url, {"role": "editor"}, follow=True)
    assert "at least one manager" in response.content.decode()
    remove_url = reverse("samples:membership-remove", args=[study.pk, manager.pk])
    response = client.post(remove_url, follow=True)
    assert "last manager" in response.content.decode()
    manager.refresh_from_db()
    assert manager.role == "manager"

    # With a second manager, the first may step down (and then loses the members page).
    editor = StudyMembership.objects.get(study=study, role="editor")
    client.post(reverse("samples:membership-role", args=[study.pk, editor.pk]), {"role": "manager"})
    response = client.post(role_url, {"role": "editor"})
    manager.refresh_from_db()
    assert manager.role == "editor"
    assert response["Location"] == study.get_absolute_url()


def test_membership_of_another_study_is_not_found(page_client, study, other_study, make_user):
    stranger = StudyMembership.objects.create(
        study=other_study, user=make_user("sam_stranger"), role="manager"
    )
    url = reverse("samples:membership-role", args=[study.pk, stranger.pk])
    assert page_client("manager").post(url, {"role": "viewer"}).status_code == 404
    url = reverse("samples:membership-remove", args=[other_study.pk, stranger.pk])
    assert page_client("manager").post(url).status_code == 404
    stranger.refresh_from_db()
    assert stranger.role == "manager"


# --- Donors ----------------------------------------------------------------------------


def donor_data(study, **overrides):
    data = {
        "study": study.pk,
        "code": "D-002",
        "species": "NCBITaxon:9606",
        "sex": "male",
        "birth_year": "1970",
        "conditions": "healthy control\n\n  type 2 diabetes mellitus (MONDO:0005148)  \n",
        "consent_status": "given",
        "consent_date": "2024-05-01",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_editor_creates_a_donor(page_client, study):
    response = page_client("editor").post(reverse("samples:donor-create"), donor_data(study))
    donor = Donor.objects.get(code="D-002")
    assert response["Location"] == donor.get_absolute_url()
    assert donor.conditions == ["healthy control", "type 2 diabetes mellitus (MONDO:0005148)"]


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"code": "D-001"}, "__all__", "already exists"),
        ({"code": "Jane Doe"}, "code", "pseudonymous"),
        ({"consent_date": ""}, "consent_date", "Record the date"),
        ({"birth_year": "2999"}, "birth_year", "future"),
        ({"birth_year": "abc"}, "birth_year", "whole number"),
        ({"sex": "sometimes"}, "sex", "valid choice"),
    ],
)
def test_bad_donor_input_saves_nothing(page_client, study, donor, overrides, field, fragment):
    response = page_client("editor").post(
        reverse("samples:donor-create"), donor_data(study, **overrides)
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(fragment in message for message in errors.get(field, [])), errors
    assert Donor.objects.count() == 1


def test_donor_cannot_be_created_in_a_foreign_study(page_client, study, other_study):
    response = page_client("editor").post(reverse("samples:donor-create"), donor_data(other_study))
    assert "study" in response.context["form"].errors
    assert not Donor.objects.filter(study=other_study).exists()


def test_editing_a_donor_keeps_its_study_and_checks_the_code(page_client, study, donor):
    Donor.objects.create(study=study, code="D-009")
    url = reverse("samples:donor-edit", args=[donor.pk])
    client = page_client("editor")
    page = client.get(url).content.decode()
    assert "D-001" in page
    response = client.post(url, donor_data(study, code="D-009"))
    assert "already exists" in response.content.decode()
    response = client.post(url, donor_data(study, code="D-001B", notes="moved?"))
    donor.refresh_from_db()
    assert response.status_code == 302
    assert (donor.code, donor.notes, donor.study_id) == ("D-001B", "moved?", study.pk)


def test_deleting_a_donor_with_samples_explains_instead_of_failing(page_client, donor, make_sample):
    make_sample()
    url = reverse("samples:donor-delete", args=[donor.pk])
    response = page_client("editor").post(url, follow=True)
    assert response.status_code == 200
    assert "Cannot delete donor D-001" in response.content.decode()
    assert Donor.objects.filter(pk=donor.pk).exists()


def test_deleting_an_unused_donor(page_client, donor):
    response = page_client("editor").post(reverse("samples:donor-delete", args=[donor.pk]))
    assert response["Location"] == reverse("samples:donor-list")
    assert not Donor.objects.filter(pk=donor.pk).exists()


def test_deleting_a_study_with_donors_is_refused(page_client, study, donor):
    response = page_client("manager").post(
        reverse("samples:study-delete", args=[study.pk]), follow=True
    )
    assert "Cannot delete study PLASMA-01" in response.content.decode()
    assert Study.objects.filter(pk=study.pk).exists()


def test_donor_detail_lists_its_samples(page_client, donor, make_sample):
    sample = make_sample()
    page = page_client("viewer").get(donor.get_absolute_url()).content.decode()
    assert sample.accession in page
    assert reverse("samples:donor-edit", args=[donor.pk]) not in page
