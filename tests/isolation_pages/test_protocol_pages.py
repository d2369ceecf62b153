"""Protocol library pages: who may read and change them, the editor's per-kind step forms
(with and without the page script), frozen versions, publish/retire/new version/clone, the
diff and the SOP document."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assays import services
from assays.models import IsolationProtocol, ProtocolStep, ProtocolVersion

pytestmark = pytest.mark.django_db


def step_post(prefix: str = "steps", rows: list[dict] | None = None, **extra) -> dict:
    """A steps formset POST: ``rows`` of field → value (ORDER is the row's position)."""
    rows = rows or []
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data[f"{prefix}-{index}-ORDER"] = str(index + 1)
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    data.update(extra)
    return data


GOOD_ROWS = [
    {
        "kind": "differential_centrifugation",
        "title": "Debris",
        "p_g_force": "2000",
        "p_g_basis": "average",
        "p_duration_min": "20",
        "p_duration_min_unit": "min",
    },
    {
        "kind": "sec",
        "p_column": "qEV original",
        "p_load_volume_ml": "500",
        "p_load_volume_ml_unit": "µL",
        "p_fractions_pooled": "7, 8, 9",
    },
]


@pytest.mark.parametrize("role", ["viewer", "outsider", "editor"])
def test_the_library_is_lab_wide_for_reading(page_client, published, role):
    client = page_client(role)
    for url in (
        reverse("assays:protocol-list"),
        reverse("assays:protocol-detail", args=[published.protocol_id]),
        reverse("assays:version-detail", args=[published.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "dUC 100k" in response.content.decode()


def test_detail_shows_steps_with_units_and_computed_speed(page_client, published):
    # A study manager: may record runs, may not change the library.
    html = page_client("manager").get(published.protocol.get_absolute_url()).content.decode()
    assert "Ultracentrifugation" in html
    assert "38,000" in html and "rpm" in html
    assert "70</td>" not in html  # values are shown with their unit
    assert '70 <span class="unit">min</span>' in html
    # SW 41 Ti at 38,000 rpm: ≈ 178,000 ×g average (RCF = 1.118e-5 · 11.025 cm · rpm²)
    assert "177,987 ×g average" in html
    assert "Record a run" in html
    # Without library permissions: no editing buttons.
    assert "Edit as new version" not in html and ">Publish</button>" not in html


def test_list_filters_by_step_kind_and_status(page_client, published, librarian):
    services.create_protocol(
        name="PEG",
        steps=[{"kind": "precipitation", "parameters": {"reagent": "PEG 6000"}}],
        user=librarian,
    )
    client = page_client("viewer")
    url = reverse("assays:protocol-list")
    html = client.get(url, {"kind": "precipitation"}).content.decode()
    assert "PEG" in html and "dUC 100k" not in html
    html = client.get(url, {"status": "published"}).content.decode()
    assert "dUC 100k" in html and ">PEG<" not in html
    html = client.get(url, {"kind": "ultracentrifugation", "status": "draft"}).content.decode()
    assert "No protocols match" in html


@pytest.mark.parametrize(
    "url_name", ["assays:protocol-create", "assays:version-edit", "assays:version-clone"]
)
def test_changing_the_library_needs_the_permission(page_client, published, url_name):
    args = [] if url_name == "assays:protocol-create" else [published.pk]
    client = page_client("manager")  # a study manager, but no library permission
    assert client.get(reverse(url_name, args=args)).status_code == 403


@pytest.mark.parametrize("action", ["version-publish", "version-retire", "version-new"])
def test_version_actions_need_the_permission_and_post(page_client, librarian, published, action):
    url = reverse(f"assays:{action}", args=[published.pk])
    assert page_client("manager").post(url).status_code == 403
    assert page_client("editor").get(url).status_code == 405


def test_create_a_protocol_with_typed_steps(page_client, librarian):
    response = page_client("editor").post(
        reverse("assays:protocol-create"),
        step_post(rows=GOOD_ROWS, name="SEC after spin", description="", changes="v1"),
    )
    assert response.status_code == 302
    version = ProtocolVersion.objects.get(protocol__name="SEC after spin")
    assert response["Location"] == version.get_absolute_url()
    steps = list(version.steps.order_by("order"))
    assert [s.kind for s in steps] == ["differential_centrifugation", "sec"]
    assert steps[0].parameters == {"g_force": 2000, "g_basis": "average", "duration_min": 20}
    # 500 µL arrives in mL; the list of fractions as numbers.
    assert steps[1].parameters["load_volume_ml"] == 0.5
    assert steps[1].parameters["fractions_pooled"] == [7, 8, 9]
    assert version.status == "draft" and version.created_by == librarian


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        (
            {
                "kind": "differential_centrifugation",
                "p_g_force": "2000",
                "p_g_basis": "average",
                "p_duration_min": "-5",
            },
            "p_duration_min",
            ["duration_min", "min"],
        ),
        (
            {"kind": "filtration", "p_pore_size_um": "500"},
            "p_pore_size_um",
            ["pore_size_um", "µm"],
        ),
        (
            {"kind": "ultrafiltration", "p_mwco_kda": "abc"},
            "p_mwco_kda",
            ["mwco_kda", "not a number"],
        ),
        (
            {"kind": "sec", "p_column": "qEV"},
            "p_load_volume_ml",
            ["load_volume_ml", "required", "mL"],
        ),
    ],
)
def test_bad_step_parameters_are_refused_on_their_field(page_client, librarian, row, field, words):
    response = page_client("editor").post(
        reverse("assays:protocol-create"), step_post(rows=[row], name="Bad one")
    )
    assert response.status_code == 400
    form = response.context["formset"].forms[0]
    messages = " ".join(form.errors[field])
    for word in words:
        assert word in messages
    assert "Nothing was saved" in response.content.decode()
    assert not IsolationProtocol.objects.filter(name="Bad one").exists()
    assert not ProtocolStep.objects.exists()


def test_rpm_above_the_rotor_maximum_is_refused(page_client, librarian, sw41):
    row = {
        "kind": "ultracentrifugation",
        "rotor": str(sw41.pk),
        "p_rpm": "50000",
        "p_duration_min": "70",
    }
    response = page_client("editor").post(
        reverse("assays:protocol-create"), step_post(rows=[row], name="Too fast")
    )
    assert response.status_code == 400
    assert "41,000 rpm" in " ".join(response.context["formset"].forms[0].errors["p_rpm"])
    assert not IsolationProtocol.objects.filter(name="Too fast").exists()


def test_duplicate_name_is_a_field_error(page_client, published):
    response = page_client("editor").post(
        reverse("assays:protocol-create"), step_post(rows=GOOD_ROWS[:1], name="dUC 100k")
    )
    assert response.status_code == 400
    assert "already exists" in " ".join(response.context["form"].errors["name"])


def test_without_script_show_fields_re_renders_the_chosen_kind(page_client, librarian):
    client = page_client("editor")
    response = client.post(
        reverse("assays:protocol-create"),
        step_post(rows=[{"kind": "immunoaffinity", "title": "CD63"}], name="IA", _refresh="1"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="steps-0-p_target_antigen"' in html  # the chosen kind's fields
    assert "errorlist" not in html  # a re-render, not a validation
    assert not IsolationProtocol.objects.exists()
    # "Add a step" without the script: one more empty row.
    response = client.post(
        reverse("assays:protocol-create"),
        step_post(rows=[{"kind": "sec", "p_column": "qEV"}], name="IA", _add_step="1"),
    )
    assert response.context["formset"].total_form_count() == 2
    assert 'value="qEV"' in response.content.decode()


def test_removed_and_reordered_steps(page_client, librarian):
    rows = [dict(GOOD_ROWS[0]), dict(GOOD_ROWS[1]), {"kind": "other", "p_name": "Drop me"}]
    data = step_post(rows=rows, name="Ordered")
    data["steps-0-ORDER"], data["steps-1-ORDER"] = "2", "1"
    data["steps-2-DELETE"] = "on"
    assert page_client("editor").post(reverse("assays:protocol-create"), data).status_code == 302
    version = ProtocolVersion.objects.get(protocol__name="Ordered")
    assert list(version.steps.order_by("order").values_list("kind", flat=True)) == [
        "sec",
        "differential_centrifugation",
    ]


def test_edit_a_draft_in_place(page_client, draft):
    client = page_client("editor")
    page = client.get(reverse("assays:version-edit", args=[draft.pk]))
    assert page.status_code == 200
    assert "Save draft" in page.content.decode()
    response = client.post(
        reverse("assays:version-edit", args=[draft.pk]),
        step_post(rows=GOOD_ROWS[:1], changes="Only the spin"),
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.steps.count() == 1 and draft.changes == "Only the spin"
    assert draft.protocol.versions.count() == 1


def test_editing_a_published_version_saves_a_new_version(page_client, published):
    client = page_client("editor")
    page = client.get(reverse("assays:version-edit", args=[published.pk])).content.decode()
    assert "Save as new version" in page and "frozen" in page
    response = client.post(
        reverse("assays:version-edit", args=[published.pk]),
        step_post(rows=GOOD_ROWS, changes="SEC instead of UC"),
    )
    assert response.status_code == 302
    new = published.protocol.versions.get(number=2)
    assert response["Location"] == new.get_absolute_url()
    assert new.status == "draft" and new.changes == "SEC instead of UC"
    assert [s.kind for s in published.steps.order_by("order")] == [
        "differential_centrifugation",
        "ultracentrifugation",
    ]


def test_publish_retire_new_version_and_clone(page_client, draft):
    client = page_client("editor")
    response = client.post(reverse("assays:version-publish", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"
    # Publishing twice is refused with a message, nothing changes.
    response = client.post(reverse("assays:version-publish", args=[draft.pk]), follow=True)
    assert "already published" in response.content.decode()

    response = client.post(reverse("assays:version-new", args=[draft.pk]))
    second = draft.protocol.versions.get(number=2)
    assert response["Location"] == reverse("assays:version-edit", args=[second.pk])
    assert second.steps.count() == 2

    assert client.post(reverse("assays:version-retire", args=[draft.pk])).status_code == 302
    draft.refresh_from_db()
    assert draft.status == "retired"

    response = client.post(
        reverse("assays:version-clone", args=[draft.pk]), {"new_name": "dUC copy"}
    )
    clone = ProtocolVersion.objects.get(protocol__name="dUC copy")
    assert response["Location"] == reverse("assays:version-edit", args=[clone.pk])
    assert clone.protocol.cloned_from == draft
    response = client.post(
        reverse("assays:version-clone", args=[draft.pk]), {"new_name": "dUC copy"}
    )
    assert response.status_code == 400
    assert "already exists" in " ".join(response.context["form"].errors["new_name"])


def test_diff_shows_changed_added_and_removed(page_client, published, librarian):
    steps = [
        {
            "kind": "differential_centrifugation",
            "title": "Cell debris",
            "parameters": {"g_force": 3000, "g_basis": "average", "duration_min": 10},
        },
    ]
    second = services.save_version_steps(
        version=published, steps=steps, user=librarian, new_version=True
    )
    response = page_client("viewer").get(
        reverse("assays:version-diff"), {"a": published.pk, "b": second.pk}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "the steps differ" in html
    assert 'class="old">2,000<' in html and 'class="new">3,000<' in html
    assert "diff-step diff-removed" in html  # the UC step is gone in v2
    same = page_client("viewer").get(
        reverse("assays:version-diff"), {"a": published.pk, "b": published.pk}
    )
    assert "Choose two different versions" in same.content.decode()


def test_sop_document_upload_and_download(page_client, draft, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = page_client("editor")
    data = step_post(rows=GOOD_ROWS[:1])
    data["sop_document"] = SimpleUploadedFile("sop.txt", b"Spin it.", content_type="text/plain")
    assert client.post(reverse("assays:version-edit", args=[draft.pk]), data).status_code == 302
    draft.refresh_from_db()
    assert draft.sop_document
    url = reverse("assays:version-sop", args=[draft.pk])
    assert b"".join(page_client("viewer").get(url).streaming_content) == b"Spin it."
    client.logout()
    assert client.get(url).status_code == 302  # to the login page

    data["sop_document"] = SimpleUploadedFile("sop.exe", b"MZ", content_type="application/x")
    response = page_client("editor").post(reverse("assays:version-edit", args=[draft.pk]), data)
    assert response.status_code == 400
    assert "sop_document" in response.context["form"].errors


def test_pages_need_a_login(client, published):
    for url in (
        reverse("assays:protocol-list"),
        reverse("assays:protocol-detail", args=[published.protocol_id]),
        reverse("assays:run-list"),
        reverse("assays:rotor-list"),
        reverse("assays:compare"),
        reverse("assays:run-create", args=[published.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_record_button_only_for_study_editors(page_client, published):
    url = published.get_absolute_url()
    assert "Record a run" in page_client("editor").get(url).content.decode()
    assert "Record a run" not in page_client("viewer").get(url).content.decode()
