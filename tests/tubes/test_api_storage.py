"""/api/v1/storage-units/ and /api/v1/custody-events/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from samples import services
from samples.models import StorageUnit

pytestmark = pytest.mark.django_db

UNITS = "/api/v1/storage-units/"
EVENTS = "/api/v1/custody-events/"


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)


# --- Reading -------------------------------------------------------------------------------


def test_everyone_signed_in_reads_the_tree(client_for, site, freezer, box, api_client):
    for role in ("outsider", "viewer", "editor"):
        response = client_for(role).get(UNITS)
        assert response.status_code == 200
        assert {row["name"] for row in response.json()["results"]} >= {"Main lab", "Box 1"}
    assert api_client.get(UNITS).status_code in (401, 403)
    detail = client_for("outsider").get(f"{UNITS}{box.pk}/").json()
    assert detail["path"] == "Main lab › Freezer -80 A › Rack 1 › Box 1"
    assert detail["effective_temperature_c"] == -80
    assert detail["capacity"] == 81


def test_filters(client_for, site, freezer, rack, box, fridge_box):
    client = client_for("viewer")

    def names(**params) -> set[str]:
        response = client.get(UNITS, params)
        assert response.status_code == 200, response.content
        return {row["name"] for row in response.json()["results"]}

    assert names(parent=rack.pk) == {"Box 1"}
    assert names(kind="box") == {"Box 1", "Fridge box"}
    assert names(kind="freezer") == {"Freezer -80 A", "Fridge"}
    assert names(root="true") == {"Main lab"}
    assert names(q="fridge") == {"Fridge", "Fridge box"}
    assert client.get(UNITS, {"kind": "igloo"}).status_code == 400


def test_positions_grid_hides_foreign_accessions(
    client_for, sample, foreign_sample, small_box, make_tubes, members
):
    mine = make_tubes(sample, ["0.1"], box=small_box, positions=["A1"])[0]
    foreign = make_tubes(foreign_sample, ["0.1"], box=small_box, positions=["B2"], user=None)[0]
    services.check_out(aliquot=mine, user=members["editor"])
    wells = client_for("viewer").get(f"{UNITS}{small_box.pk}/positions/").json()
    assert [w["position"] for w in wells] == ["A1", "A2", "B1", "B2"]
    assert wells[0]["occupied"] and wells[0]["aliquot"]["accession"] == mine.accession
    assert wells[0]["aliquot"]["status"] == "checked_out"  # reserved while out
    assert not wells[1]["occupied"] and wells[1]["aliquot"] is None
    assert wells[3]["occupied"] and wells[3]["aliquot"] is None
    assert foreign.accession not in str(wells)
    everything = client_for("superuser").get(f"{UNITS}{small_box.pk}/positions/").json()
    assert everything[3]["aliquot"]["accession"] == foreign.accession


def test_free_positions(client_for, sample, small_box, rack, make_tubes):
    make_tubes(sample, ["0.1"], box=small_box, positions=["A1"])
    client = client_for("outsider")
    free = client.get(f"{UNITS}{small_box.pk}/positions/", {"free": "true"}).json()
    assert [w["position"] for w in free] == ["A2", "B1", "B2"]
    free = client.get(f"{UNITS}{small_box.pk}/free/", {"limit": 2}).json()
    assert [w["position"] for w in free] == ["A2", "B1"]
    assert client.get(f"{UNITS}{small_box.pk}/free/", {"limit": "x"}).status_code == 400
    assert client.get(f"{UNITS}{small_box.pk}/free/", {"limit": 0}).status_code == 400
    response = client.get(f"{UNITS}{rack.pk}/positions/")
    assert response.status_code == 400 and "not a box" in response.json()["detail"]
    assert client.get(f"{UNITS}999999/positions/").status_code == 404


def test_positions_query_count_does_not_grow_with_tubes(client_for, sample, box, make_tubes):
    client = client_for("viewer")
    make_tubes(sample, ["0.01"], box=box)
    with CaptureQueriesContext(connection) as few:
        client.get(f"{UNITS}{box.pk}/positions/")
    make_tubes(sample, ["0.01"] * 40, box=box)
    with CaptureQueriesContext(connection) as many:
        wells = client.get(f"{UNITS}{box.pk}/positions/").json()
    assert sum(w["occupied"] for w in wells) == 41
    assert len(many) == len(few)


def test_occupancy_and_path(client_for, sample, site, freezer, rack, box, small_box, make_tubes):
    make_tubes(sample, ["0.1"] * 3, box=box)
    make_tubes(sample, ["0.1"] * 2, box=small_box)
    client = client_for("viewer")
    body = client.get(f"{UNITS}{rack.pk}/occupancy/").json()
    assert body["unit"] == {
        "id": rack.pk,
        "name": "Rack 1",
        "kind": "rack",
        "boxes": 2,
        "capacity": 85,
        "occupied": 5,
        "free": 80,
        "percent": 5.9,
    }
    assert [(c["name"], c["occupied"], c["capacity"]) for c in body["children"]] == [
        ("Box 1", 3, 81),
        ("Box 2x2", 2, 4),
    ]
    freezers = client.get(f"{UNITS}occupancy/", {"kind": "freezer"}).json()
    assert [(f["name"], f["occupied"]) for f in freezers] == [("Freezer -80 A", 5)]
    path = client.get(f"{UNITS}{box.pk}/path/").json()
    assert [p["name"] for p in path] == ["Main lab", "Freezer -80 A", "Rack 1", "Box 1"]


# --- Writing --------------------------------------------------------------------------------


def test_writes_need_the_storage_permission(client_for, members, rack):
    payload = {"parent": rack.pk, "kind": "box", "name": "Box N", "rows": 10, "columns": 10}
    for role in ("viewer", "editor", "manager", "outsider"):
        assert client_for(role).post(UNITS, payload, format="json").status_code == 403
    grant(members["editor"], "add_storageunit")
    response = client_for("editor").post(UNITS, payload, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["capacity"] == 100 and created["effective_temperature_c"] == -80
    assert created["barcode"] is None
    unit = f"{UNITS}{created['id']}/"
    assert client_for("editor").patch(unit, {"name": "Box M"}, format="json").status_code == 403
    assert client_for("editor").delete(unit).status_code == 403
    assert client_for("superuser").patch(unit, {"name": "Box M"}, format="json").status_code == 200
    assert client_for("superuser").delete(unit).status_code == 204


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"kind": "box", "name": "Loose box", "rows": 9, "columns": 9}, "parent"),
        ({"kind": "box", "name": "No grid", "parent": "RACK"}, "rows"),
        (
            {"kind": "shelf", "name": "Gridded", "parent": "FREEZER", "rows": 2, "columns": 2},
            "rows",
        ),
        ({"kind": "freezer", "name": "In a box", "parent": "BOX"}, "kind"),
        ({"kind": "box", "name": "Huge", "parent": "RACK", "rows": 27, "columns": 9}, "rows"),
        ({"kind": "freezer", "name": "Sun", "set_temperature_c": 500}, "set_temperature_c"),
        ({"kind": "igloo", "name": "Igloo"}, "kind"),
        (
            {"kind": "box", "name": "Box 1", "parent": "RACK", "rows": 9, "columns": 9},
            "non_field_errors",
        ),
        ({"kind": "site", "name": "X", "parent": 999999}, "parent"),
    ],
)
def test_invalid_units_are_400(client_for, freezer, rack, box, payload, field):
    replace = {"RACK": rack.pk, "FREEZER": freezer.pk, "BOX": box.pk}
    payload = {k: replace.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    before = StorageUnit.objects.count()
    response = client_for("superuser").post(UNITS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert StorageUnit.objects.count() == before


def test_unit_cannot_move_inside_itself(client_for, freezer, rack):
    response = client_for("superuser").patch(
        f"{UNITS}{freezer.pk}/", {"parent": rack.pk}, format="json"
    )
    assert response.status_code == 400


def test_box_with_tubes_keeps_its_grid_and_kind(client_for, sample, small_box, make_tubes):
    make_tubes(sample, ["0.1"], box=small_box, positions=["B2"])
    client = client_for("superuser")
    response = client.patch(f"{UNITS}{small_box.pk}/", {"rows": 1}, format="json")
    assert response.status_code == 400 and "outside the new grid" in response.json()["rows"][0]
    response = client.patch(f"{UNITS}{small_box.pk}/", {"rows": 3, "columns": 3}, format="json")
    assert response.status_code == 200


def test_delete_refused_while_in_use(client_for, sample, rack, small_box, make_tubes, members):
    client = client_for("superuser")
    response = client.delete(f"{UNITS}{rack.pk}/")
    assert response.status_code == 409 and "holds 1 storage unit" in response.json()["detail"]
    tube = make_tubes(sample, ["0.1"], box=small_box)[0]
    response = client.delete(f"{UNITS}{small_box.pk}/")
    assert response.status_code == 409 and "holds 1 tube" in response.json()["detail"]
    services.remove_from_storage(aliquot=tube, user=members["editor"])
    response = client.delete(f"{UNITS}{small_box.pk}/")
    assert response.status_code == 409 and "inactive" in response.json()["detail"]
    assert StorageUnit.objects.filter(pk=small_box.pk).exists()


def test_storage_history(client_for, members, box):
    grant(members["editor"], "change_storageunit")
    response = client_for("editor").patch(
        f"{UNITS}{box.pk}/", {"name": "Box A"}, format="json", HTTP_X_CHANGE_REASON="Relabelled"
    )
    assert response.status_code == 200, response.content
    latest = client_for("outsider").get(f"{UNITS}{box.pk}/history/").json()[0]
    assert (latest["username"], latest["reason"]) == (members["editor"].username, "Relabelled")
    assert latest["changes"]["name"] == {"old": "Box 1", "new": "Box A"}


# --- Custody events -----------------------------------------------------------------------------


def test_custody_events_are_scoped_and_filterable(
    client_for, sample, foreign_sample, box, make_tubes, members
):
    tube = make_tubes(sample, ["0.5"], box=box)[0]
    foreign = make_tubes(foreign_sample, ["0.5"], user=None)[0]
    services.check_out(aliquot=tube, user=members["editor"], at=timezone.now() - timedelta(hours=2))
    client = client_for("viewer")
    rows = client.get(EVENTS).json()["results"]
    assert {r["aliquot"] for r in rows} == {tube.pk}
    assert [r["kind"] for r in rows] == ["checked_out", "frozen", "placed", "created"]
    assert rows[0]["actor"] == "eddie_editor" and rows[0]["from_position"] == "A1"
    only = client.get(EVENTS, {"kind": "checked_out"}).json()["results"]
    assert [r["kind"] for r in only] == ["checked_out"]
    early = client.get(
        EVENTS, {"at_before": (timezone.now() - timedelta(hours=1)).isoformat()}
    ).json()["results"]
    assert [r["kind"] for r in early] == ["checked_out"]
    assert client.get(EVENTS, {"aliquot": foreign.pk}).json()["results"] == []
    assert client.get(EVENTS, {"at_after": "yesterday"}).status_code == 400
    assert client_for("outsider").get(EVENTS).json()["results"] == []
    foreign_event = foreign.custody_events.first()
    assert client.get(f"{EVENTS}{foreign_event.pk}/").status_code == 404
    assert client_for("superuser").get(f"{EVENTS}{foreign_event.pk}/").status_code == 200
    event_id = rows[0]["id"]
    history = client.get(f"{EVENTS}{event_id}/history/").json()
    assert history[0]["action"] == "insert" and history[0]["username"] == "eddie_editor"
    assert client.get(f"{EVENTS}{foreign_event.pk}/history/").status_code == 404


def test_custody_events_are_read_only(client_for, tube):
    event = tube.custody_events.first()
    client = client_for("superuser")
    assert client.post(EVENTS, {"aliquot": tube.pk, "kind": "thawed"}).status_code == 405
    assert client.patch(f"{EVENTS}{event.pk}/", {"note": "x"}).status_code == 405
    assert client.delete(f"{EVENTS}{event.pk}/").status_code == 405


def test_custody_list_queries_stay_constant(client_for, sample, box, make_tubes):
    client = client_for("viewer")
    make_tubes(sample, ["0.1"], box=box)
    with CaptureQueriesContext(connection) as few:
        client.get(EVENTS)
    make_tubes(sample, ["0.1"] * 10, box=box)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(EVENTS).json()["results"]) == 33
    assert len(many) == len(few)
