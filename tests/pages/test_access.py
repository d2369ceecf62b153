"""Who may open which page: a record from a study you cannot see is a 404, seeing it
without the needed role is a 403, and anonymous users are sent to the login page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

ROLES = ["outsider", "viewer", "editor", "manager", "superuser"]
OK, FORBIDDEN, MISSING = 200, 403, 404

# url name → (object kind, expected status per role in ROLES order)
MATRIX = {
    "samples:dashboard": (None, [OK, OK, OK, OK, OK]),
    "samples:study-list": (None, [OK, OK, OK, OK, OK]),
    "samples:donor-list": (None, [OK, OK, OK, OK, OK]),
    "samples:sample-list": (None, [OK, OK, OK, OK, OK]),
    "api-tokens": (None, [OK, OK, OK, OK, OK]),
    "samples:study-create": (None, [FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK]),
    "samples:donor-create": (None, [FORBIDDEN, FORBIDDEN, OK, OK, OK]),
    "samples:sample-create": (None, [FORBIDDEN, FORBIDDEN, OK, OK, OK]),
    "samples:study-detail": ("study", [MISSING, OK, OK, OK, OK]),
    "samples:study-edit": ("study", [MISSING, FORBIDDEN, FORBIDDEN, OK, OK]),
    "samples:study-delete": ("study", [MISSING, FORBIDDEN, FORBIDDEN, OK, OK]),
    "samples:study-members": ("study", [MISSING, FORBIDDEN, FORBIDDEN, OK, OK]),
    "samples:donor-detail": ("donor", [MISSING, OK, OK, OK, OK]),
    "samples:donor-edit": ("donor", [MISSING, FORBIDDEN, OK, OK, OK]),
    "samples:donor-delete": ("donor", [MISSING, FORBIDDEN, OK, OK, OK]),
    "samples:sample-detail": ("sample", [MISSING, OK, OK, OK, OK]),
    "samples:sample-edit": ("sample", [MISSING, FORBIDDEN, OK, OK, OK]),
    "samples:sample-delete": ("sample", [MISSING, FORBIDDEN, OK, OK, OK]),
}
CASES = [
    (name, kind, role, expected)
    for name, (kind, statuses) in MATRIX.items()
    for role, expected in zip(ROLES, statuses, strict=True)
]


@pytest.fixture
def objects(study, donor, make_sample):
    return {"study": study, "donor": donor, "sample": make_sample()}


@pytest.mark.parametrize(("name", "kind", "role", "expected"), CASES)
def test_page_access_by_role(page_client, objects, name, kind, role, expected):
    url = reverse(name, args=[objects[kind].pk] if kind else [])
    response = page_client(role).get(url)
    assert response.status_code == expected, (url, role)


@pytest.mark.parametrize("name", list(MATRIX))
def test_anonymous_users_are_sent_to_login(objects, name):
    kind = MATRIX[name][0]
    url = reverse(name, args=[objects[kind].pk] if kind else [])
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "name", ["samples:sample-edit", "samples:sample-delete", "samples:donor-edit"]
)
def test_viewer_cannot_post_to_edit_urls(page_client, objects, name):
    kind = name.removeprefix("samples:").split("-")[0]
    response = page_client("viewer").post(reverse(name, args=[objects[kind].pk]), {})
    assert response.status_code == 403
    assert type(objects[kind]).objects.filter(pk=objects[kind].pk).exists()


def test_viewer_sees_no_edit_buttons_but_editor_does(page_client, objects):
    sample = objects["sample"]
    edit_url = reverse("samples:sample-edit", args=[sample.pk])
    viewer_page = page_client("viewer").get(sample.get_absolute_url()).content.decode()
    editor_page = page_client("editor").get(sample.get_absolute_url()).content.decode()
    assert edit_url not in viewer_page
    assert edit_url in editor_page
    study_page = page_client("viewer").get(objects["study"].get_absolute_url()).content.decode()
    assert reverse("samples:study-edit", args=[objects["study"].pk]) not in study_page
    assert reverse("samples:sample-create") not in study_page


def test_lists_and_dashboard_show_only_visible_studies(page_client, objects, other_sample):
    for name in ("samples:dashboard", "samples:sample-list", "samples:donor-list"):
        content = page_client("viewer").get(reverse(name)).content.decode()
        assert objects["sample"].accession in content or name == "samples:donor-list"
        assert other_sample.accession not in content
        assert "URINE-02" not in content
        assert "U-001" not in content
    everything = page_client("superuser").get(reverse("samples:sample-list")).content.decode()
    assert other_sample.accession in everything


def test_filtering_by_a_foreign_study_id_finds_nothing(page_client, objects, other_sample):
    url = reverse("samples:sample-list") + f"?study={other_sample.study_id}"
    content = page_client("viewer").get(url).content.decode()
    assert other_sample.accession not in content
    assert "No samples match" in content


def test_donor_options_only_for_studies_the_user_edits(page_client, objects, other_donor):
    url = reverse("samples:donor-options")
    editor = page_client("editor")
    response = editor.get(url, {"study": objects["study"].pk})
    assert response.status_code == 200
    assert response.json() == {"donors": [{"id": objects["donor"].pk, "code": "D-001"}]}
    assert editor.get(url, {"study": other_donor.study_id}).status_code == 404
    assert page_client("viewer").get(url, {"study": objects["study"].pk}).status_code == 404
    assert editor.get(url, {"study": "x"}).status_code == 404
