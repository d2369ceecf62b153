"""Storage tree, unit forms and the box map: rendering, scoping and query counts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from samples import services
from samples.models import StorageUnit

pytestmark = pytest.mark.django_db


def box_map(box) -> str:
    return reverse("samples:storage-detail", args=[box.pk])


@pytest.mark.parametrize("role", ["viewer", "editor", "outsider", "superuser"])
def test_storage_pages_render_for_every_signed_in_user(page_client, role, box, freezer, tube):
    client = page_client(role)
    tree = client.get(reverse("samples:storage-list"))
    assert tree.status_code == 200
    html = tree.content.decode()
    assert "Freezer -80 A" in html and "Box 1" in html and "1/81" in html
    assert client.get(box_map(freezer)).status_code == 200
    assert client.get(box_map(box)).status_code == 200
    assert client.get(reverse("samples:storage-history", args=[box.pk])).status_code == 200


def test_anonymous_cannot_see_storage(client, box):
    assert client.get(reverse("samples:storage-list")).status_code == 302
    assert client.get(box_map(box)).status_code == 302


def test_unknown_unit_is_404(page_client):
    assert (
        page_client("editor").get(reverse("samples:storage-detail", args=[999999])).status_code
        == 404
    )


def test_unit_page_shows_occupancy_and_boxes_with_room(page_client, freezer, box, other_box, tube):
    html = page_client("viewer").get(box_map(freezer)).content.decode()
    assert "1 of 162" in html  # two 9 × 9 boxes, one tube
    assert "161 free" in html
    assert "Box 2" in html and "81 free of 81" in html


def test_box_map_shows_own_tubes_and_hides_other_studies(page_client, box, tube, other_tube):
    services.place_aliquot(aliquot=other_tube, box=box, row=2, column=2, user=None)
    html = page_client("editor").get(box_map(box)).content.decode()
    assert reverse("samples:aliquot-detail", args=[tube.pk]) in html
    assert tube.accession.split("-")[-1] in html
    assert other_tube.accession.split("-")[-1] not in html
    assert reverse("samples:aliquot-detail", args=[other_tube.pk]) not in html
    assert 'data-well="B2" title="B2: occupied"' in html
    assert "2</strong> of 81 wells used" in html


def test_empty_wells_are_buttons_only_for_people_who_can_place(page_client, box, tube):
    editor = page_client("editor").get(box_map(box)).content.decode()
    assert 'name="well" value="A2"' in editor and 'id="place"' in editor
    outsider = page_client("outsider").get(box_map(box)).content.decode()
    assert 'name="well" value="A2"' not in outsider and 'id="place"' not in outsider


def test_choosing_a_well_without_script_prefills_the_place_form(page_client, box):
    html = page_client("editor").get(box_map(box) + "?well=c7").content.decode()
    assert 'value="C7"' in html and "autofocus" in html


def test_box_of_144_positions_renders_with_a_constant_number_of_queries(
    page_client, rack, sample, make_tubes, django_assert_max_num_queries
):
    big = StorageUnit.objects.create(kind="box", name="Big", parent=rack, rows=12, columns=12)
    client = page_client("editor")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(box_map(big)).status_code == 200
        return len(queries)

    empty = count()
    make_tubes(sample, 5, volume="0.1", box=big)
    few = count()
    make_tubes(sample, 139, volume="0.01", box=big)  # now full: 144 tubes
    with django_assert_max_num_queries(10):
        full = client.get(box_map(big))
    assert full.content.decode().count('class="well occupied') == 144
    assert empty == few == count()


def test_storage_forms_need_the_storage_permission(page_client, members, freezer):
    editor = page_client("editor")
    assert editor.get(reverse("samples:storage-create")).status_code == 403
    assert (
        editor.post(reverse("samples:storage-create"), {"kind": "site", "name": "X"}).status_code
        == 403
    )
    assert editor.get(reverse("samples:storage-edit", args=[freezer.pk])).status_code == 403
    html = editor.get(reverse("samples:storage-list")).content.decode()
    assert "New storage unit" not in html
    members["editor"].user_permissions.add(
        Permission.objects.get(codename="add_storageunit", content_type__app_label="samples")
    )
    editor = page_client("editor")
    response = editor.post(
        reverse("samples:storage-create"),
        {"parent": freezer.pk, "kind": "box", "name": "Box 9", "rows": 8, "columns": 12},
    )
    assert response.status_code == 302
    created = StorageUnit.objects.get(name="Box 9")
    assert (created.rows, created.columns, created.parent_id) == (8, 12, freezer.pk)
    assert editor.get(reverse("samples:storage-edit", args=[freezer.pk])).status_code == 403


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "box", "name": "No grid"}, "A box needs its rows and columns"),
        ({"kind": "rack", "name": "Floating"}, "must be inside another unit"),
        ({"kind": "freezer", "name": "Hot", "set_temperature_c": "90"}, "between -200 and 40"),
    ],
)
def test_storage_form_rejects_bad_units(page_client, data, message):
    response = page_client("superuser").post(reverse("samples:storage-create"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not StorageUnit.objects.filter(name=data["name"]).exists()


def test_superuser_edits_a_unit_with_a_reason_in_history(page_client, freezer, members):
    response = page_client("superuser").post(
        reverse("samples:storage-edit", args=[freezer.pk]),
        {
            "parent": freezer.parent_id,
            "kind": "freezer",
            "name": "Freezer -80 A",
            "set_temperature_c": "-70",
            "is_active": "on",
            "change_reason": "Thermostat recalibrated",
        },
    )
    assert response.status_code == 302
    html = (
        page_client("viewer")
        .get(reverse("samples:storage-history", args=[freezer.pk]))
        .content.decode()
    )
    assert "Thermostat recalibrated" in html and members["superuser"].username in html
    assert 'class="old">-80</span> → <span class="new">-70<' in html


def test_box_grid_cannot_shrink_under_its_tubes(page_client, box, sample, make_tubes):
    make_tubes(sample, 1, volume="0.1", box=box, positions=["I9"])
    response = page_client("superuser").post(
        reverse("samples:storage-edit", args=[box.pk]),
        {"parent": box.parent_id, "name": "Box 1", "rows": 8, "columns": 8, "is_active": "on"},
    )
    assert response.status_code == 200
    assert "outside a 8 × 8 grid" in response.content.decode()
    box.refresh_from_db()
    assert (box.rows, box.columns) == (9, 9)


def test_occupancy_counts_checked_out_tubes(page_client, box, tube, members):
    services.check_out(aliquot=tube, user=members["editor"])
    html = page_client("viewer").get(box_map(box)).content.decode()
    assert "well occupied checked-out" in html
    assert "1</strong> of 81 wells used" in html
    assert Decimal(tube.volume_ml) == Decimal("0.5")
