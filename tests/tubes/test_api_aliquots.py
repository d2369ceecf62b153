"""/api/v1/aliquots/: split, read, edit, delete, actions, access and history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from samples import services
from samples.models import Aliquot, CustodyEvent, Sample

pytestmark = pytest.mark.django_db

API = "/api/v1/aliquots/"


def url(tube: Aliquot, suffix: str = "") -> str:
    return f"{API}{tube.pk}/{suffix}"


# --- Create = split ---------------------------------------------------------------------------


def test_split_by_accession_into_explicit_positions(client_for, sample, box):
    response = client_for("editor").post(
        API,
        {
            "source": sample.accession,
            "volumes_ml": ["500", 250],
            "volume_unit": "µL",
            "container_type": "cryovial_1ml",
            "box": box.pk,
            "positions": ["B1", "b2"],
            "notes": "for NTA",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert (first["volume_ml"], second["volume_ml"]) == (0.5, 0.25)
    assert (first["position"], second["position"]) == ("B1", "B2")
    assert first["box_name"] == "Box 1" and first["is_frozen"] is True
    assert first["sample_accession"] == sample.accession and first["parent"] is None
    assert first["container_type"] == "cryovial_1ml" and first["notes"] == "for NTA"
    assert first["created_by"] == "eddie_editor"
    assert Sample.objects.get(pk=sample.pk).remaining_volume_ml == Decimal("3.25")


def test_split_by_id_with_count_and_volume(client_for, sample):
    response = client_for("editor").post(
        API,
        {"source": str(sample.pk), "source_kind": "sample", "count": 3, "volume_ml": "0.5"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert [t["volume_ml"] for t in response.json()["results"]] == [0.5] * 3


def test_split_an_aliquot_by_accession(client_for, tube):
    response = client_for("editor").post(
        API, {"source": tube.accession, "volumes_ml": [0.2]}, format="json"
    )
    assert response.status_code == 201, response.content
    child = response.json()["results"][0]
    assert child["parent"] == tube.pk and child["parent_accession"] == tube.accession


def test_ambiguous_numeric_source_is_refused(client_for, sample, make_sample, make_tubes):
    tube = make_tubes(sample, ["0.1"])[0]
    if not Sample.objects.filter(pk=tube.pk).exists():
        make_sample(id=tube.pk)  # a sample and a tube with the same id
    response = client_for("editor").post(
        API, {"source": str(tube.pk), "volumes_ml": [0.1]}, format="json"
    )
    assert response.status_code == 400
    assert "source_kind" in response.json()["source"][0]
    response = client_for("editor").post(
        API, {"source": str(tube.pk), "source_kind": "aliquot", "volumes_ml": [0.01]}, format="json"
    )
    assert response.status_code == 201 and response.json()["results"][0]["parent"] == tube.pk


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({}, "source", "required"),
        ({"source": "SRC"}, "volumes_ml", "Give volumes_ml"),
        ({"source": "SRC", "volumes_ml": []}, "volumes_ml", "at least 1"),
        ({"source": "SRC", "volumes_ml": ["x"]}, "volumes_ml", "not a number"),
        (
            {"source": "SRC", "volumes_ml": [1], "volume_unit": "cup"},
            "volumes_ml",
            "Unknown volume unit",
        ),
        (
            {"source": "SRC", "volumes_ml": [1], "count": 2, "volume_ml": 1},
            "volumes_ml",
            "not both",
        ),
        ({"source": "SRC", "count": 2}, "volumes_ml", "count and volume_ml"),
        ({"source": "SRC", "count": 0, "volume_ml": 1}, "count", "greater than or equal to 1"),
        ({"source": "SRC", "volumes_ml": [0]}, "volumes_ml", "greater than zero"),
        ({"source": "SRC", "volumes_ml": ["1e30"]}, "volumes_ml", "too large"),
        ({"source": "SRC", "count": 1, "volume_ml": "1e400"}, "volume_ml", "too large"),
        ({"source": "SRC", "volumes_ml": [{"a": 1}]}, "volumes_ml", "valid string"),
        ({"source": "SRC", "volumes_ml": "1"}, "volumes_ml", "list"),
        ({"source": "SRC", "volumes_ml": [9]}, "volumes_ml", "Only 4 mL left"),
        ({"source": "SRC", "volumes_ml": [1], "positions": ["A1"]}, "box", "Choose the box"),
        ({"source": "SRC", "volumes_ml": [1], "box": 999999}, "box", "Invalid pk"),
        (
            {"source": "SRC", "volumes_ml": [1], "box": "BOX", "positions": ["Z99x"]},
            "positions",
            "not a position",
        ),
        (
            {"source": "SRC", "volumes_ml": [1, 1], "box": "BOX", "positions": ["A1", "A1"]},
            "positions",
            "more than once",
        ),
        ({"source": "SRC", "volumes_ml": [1], "box": "RACK"}, "box", "not a box"),
        (
            {"source": "SRC", "volumes_ml": [1], "container_type": "bucket"},
            "container_type",
            "valid choice",
        ),
        ({"source": "EXO-999999", "volumes_ml": [1]}, "source", "No sample or tube"),
    ],
)
def test_bad_split_input_is_400_and_saves_nothing(
    client_for, sample, box, rack, payload, field, message
):
    replace = {"SRC": sample.accession, "BOX": box.pk, "RACK": rack.pk}
    payload = {k: replace.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    response = client_for("editor").post(API, payload, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert message in str(errors[field]), errors
    assert not Aliquot.objects.exists()
    assert Sample.objects.get(pk=sample.pk).remaining_volume_ml == Decimal("4.0")


def test_split_access(client_for, sample, foreign_sample):
    payload = {"source": sample.accession, "volumes_ml": [0.1]}
    assert client_for("viewer").post(API, payload, format="json").status_code == 403
    assert client_for("outsider").post(API, payload, format="json").status_code == 403
    foreign = {"source": foreign_sample.accession, "volumes_ml": [0.1]}
    response = client_for("editor").post(API, foreign, format="json")
    assert response.status_code == 400 and "No sample or tube" in response.json()["source"][0]
    assert client_for("superuser").post(API, foreign, format="json").status_code == 201


# --- Read, filter ---------------------------------------------------------------------------------


def test_list_filters(client_for, study, sample, box, make_tubes, foreign_sample, members):
    loose = make_tubes(sample, ["0.5"])[0]
    boxed = make_tubes(sample, ["0.5"], box=box, notes="haemolysed")[0]
    child = make_tubes(loose, ["0.1"], kind="derivative", container_type="pcr_tube")[0]
    make_tubes(foreign_sample, ["0.1"], user=None)
    services.discard(aliquot=boxed, user=members["editor"])
    client = client_for("viewer")

    def ids(**params) -> set[int]:
        response = client.get(API, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {loose.pk, boxed.pk, child.pk}
    assert ids(study=study.pk) == {loose.pk, boxed.pk, child.pk}
    assert ids(sample=sample.pk, parent=loose.pk) == {child.pk}
    assert ids(status="discarded") == {boxed.pk}
    assert ids(status=["available", "discarded"]) == {loose.pk, boxed.pk, child.pk}
    assert ids(kind="derivative") == {child.pk}
    assert ids(container_type="pcr_tube") == {child.pk}
    assert ids(q="haemo") == {boxed.pk}
    assert ids(q=child.accession.lower()) == {child.pk}
    assert ids(accession=loose.accession) == {loose.pk}
    services.place_aliquot(aliquot=loose, box=box, row=5, column=5, user=members["editor"])
    assert ids(box=box.pk) == {loose.pk}
    assert ids(placed="false") == {boxed.pk, child.pk}
    assert ids(in_unit=box.parent.parent_id) == {loose.pk}
    assert client.get(API, {"status": "melted"}).status_code == 400
    assert client.get(API, {"box": "abc"}).status_code == 400


def test_freeze_thaw_flag_and_filter(client_for, study, sample, make_tubes, members):
    study.max_freeze_thaw_cycles = 1
    study.save()
    worn, fresh = make_tubes(sample, ["0.1", "0.1"])
    for _ in range(2):
        services.record_freeze(aliquot=worn, user=members["editor"])
        services.record_thaw(aliquot=worn, user=members["editor"])
    client = client_for("viewer")
    detail = client.get(url(worn)).json()
    assert (detail["freeze_thaw_count"], detail["freeze_thaw_limit"]) == (2, 1)
    assert detail["freeze_thaw_over_limit"] is True
    assert client.get(url(fresh)).json()["freeze_thaw_over_limit"] is False
    over = client.get(API, {"freeze_thaw_over_limit": "true"}).json()["results"]
    assert [row["id"] for row in over] == [worn.pk]
    under = client.get(API, {"freeze_thaw_over_limit": "false"}).json()["results"]
    assert [row["id"] for row in under] == [fresh.pk]


def test_list_queries_stay_constant(client_for, sample, box, make_tubes):
    client = client_for("viewer")
    make_tubes(sample, ["0.1"] * 2, box=box)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(API).status_code == 200
    parent = make_tubes(sample, ["0.5"])[0]
    make_tubes(parent, ["0.01"] * 20, box=box)
    with CaptureQueriesContext(connection) as many:
        response = client.get(API)
    assert len(response.json()["results"]) == 23
    assert len(many) == len(few)


def test_csv_export(client_for, tube):
    response = client_for("viewer").get(API, {"format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert tube.accession in body and body.splitlines()[0].startswith("id,")


# --- Update and delete -------------------------------------------------------------------------------


def test_update_only_notes_and_container_type(client_for, tube):
    client = client_for("editor")
    response = client.patch(
        url(tube), {"notes": "label smudged", "container_type": "lobind_1_5ml"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["notes"] == "label smudged"
    response = client.patch(
        url(tube), {"remaining_volume_ml": 5, "box": 1, "status": "available"}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()
    assert "withdraw/" in errors["remaining_volume_ml"][0] and "place/" in errors["box"][0]
    assert "status" in errors
    assert client.patch(url(tube), {"container_type": "bucket"}, format="json").status_code == 400
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == Decimal("1.0") and tube.container_type == "lobind_1_5ml"


def test_delete_fresh_tube_returns_volume_else_409(client_for, sample, make_tubes, members):
    fresh, used = make_tubes(sample, ["1.0", "1.0"])
    client = client_for("editor")
    assert client.delete(url(fresh)).status_code == 204
    assert Sample.objects.get(pk=sample.pk).remaining_volume_ml == Decimal("3.0")
    services.check_out(aliquot=used, user=members["editor"])
    response = client.delete(url(used))
    assert response.status_code == 409
    assert "discard it instead" in response.json()["detail"]
    make_tubes(Aliquot.objects.get(pk=used.pk), ["0.1"])
    assert "split from it" in client.delete(url(used)).json()["detail"]


# --- Actions ---------------------------------------------------------------------------------------------


def test_place_move_and_refusals(client_for, sample, box, rack, make_tubes):
    first, second = make_tubes(sample, ["0.1", "0.1"])
    client = client_for("editor")
    response = client.post(url(first, "place/"), {"box": box.pk, "position": "C4"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["position"], response.json()["box"]) == ("C4", box.pk)
    response = client.post(url(second, "place/"), {"box": box.pk, "position": "C4"}, format="json")
    assert response.status_code == 400
    assert response.json()["position"] == [f"C4 in Box 1 is occupied by {first.accession}."]
    response = client.post(url(second, "place/"), {"box": rack.pk, "position": "A1"}, format="json")
    assert response.status_code == 400 and "not a box" in response.json()["box"][0]
    response = client.post(url(second, "place/"), {"box": box.pk}, format="json")
    assert response.json()["position"] == "A1"  # first free well
    for bad in (
        {},
        {"box": box.pk, "position": "A0x"},
        {"box": box.pk, "position": "K1"},
        {"box": box.pk, "position": "A1", "at": "2020-01-01T10:00"},
    ):
        assert client.post(url(first, "place/"), bad, format="json").status_code == 400, bad
    response = client.post(url(first, "place/"), {"box": box.pk, "position": "I9"}, format="json")
    assert response.json()["position"] == "I9"
    custody = client.get(url(first, "custody/")).json()
    assert [e["kind"] for e in custody] == ["created", "placed", "frozen", "moved"]
    assert (custody[-1]["from_position"], custody[-1]["to_position"]) == ("C4", "I9")
    assert custody[-1]["actor"] == "eddie_editor"


def test_check_out_in_thaw_freeze(client_for, sample, box, make_tubes):
    tube = make_tubes(sample, ["0.5"], box=box)[0]
    client = client_for("editor")
    out_at = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client.post(
        url(tube, "check-out/"), {"at": out_at, "to_location": "Bench 2"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "checked_out"
    assert response.json()["position"] == "A1"
    assert client.post(url(tube, "check-out/"), {}, format="json").status_code == 400
    assert (
        client.post(url(tube, "thaw/"), {"temperature_c": 21}, format="json").json()[
            "freeze_thaw_count"
        ]
        == 1
    )
    response = client.post(
        url(tube, "check-in/"), {"at": timezone.now().isoformat()}, format="json"
    )
    body = response.json()
    assert body["status"] == "available" and body["is_frozen"] is True
    assert body["time_out_of_storage_s"] >= 3600
    assert client.post(url(tube, "check-in/"), {}, format="json").status_code == 400
    assert (
        client.post(url(tube, "freeze/"), {"temperature_c": "cold"}, format="json").status_code
        == 400
    )


def test_withdraw_ship_receive_consume_discard(client_for, sample, box, fridge_box, make_tubes):
    a, b = make_tubes(sample, ["1.0", "1.0"], box=box)
    client = client_for("editor")
    response = client.post(url(a, "withdraw/"), {"volume": 250, "volume_unit": "µL"}, format="json")
    assert response.status_code == 200 and response.json()["remaining_volume_ml"] == 0.75
    response = client.post(url(a, "withdraw/"), {"volume": 1}, format="json")
    assert response.status_code == 400 and "Only 0.75 mL left" in response.json()["volume"][0]
    assert (
        client.post(
            url(a, "withdraw/"), {"volume": "1", "volume_unit": "gallon"}, format="json"
        ).status_code
        == 400
    )
    assert client.post(url(a, "ship/"), {}, format="json").json()["to_location"] == [
        "This field is required."
    ]
    response = client.post(
        url(a, "ship/"), {"to_location": "Core facility", "temperature_c": -78}, format="json"
    )
    assert (response.json()["status"], response.json()["box"]) == ("shipped", None)
    response = client.post(
        url(a, "receive/"),
        {"from_location": "Core facility", "box": fridge_box.pk, "position": "H12"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["position"]) == ("available", "H12")
    assert client.post(url(b, "receive/"), {}, format="json").status_code == 400
    assert (
        client.post(url(a, "consume/"), {"note": "used"}, format="json").json()[
            "remaining_volume_ml"
        ]
        == 0
    )
    response = client.post(url(b, "discard/"), {}, format="json")
    assert (response.json()["status"], response.json()["box"]) == ("discarded", None)
    assert client.post(url(b, "discard/"), {}, format="json").status_code == 400
    kinds = [e["kind"] for e in client.get(url(a, "custody/")).json()]
    assert kinds[-4:] == ["shipped", "received", "placed", "consumed"]


def test_lineage_endpoints(client_for, sample, make_tubes):
    parent = make_tubes(sample, ["1.0"])[0]
    child = make_tubes(parent, ["0.5"])[0]
    grandchild = make_tubes(child, ["0.1"])[0]
    client = client_for("viewer")
    body = client.get(url(child, "lineage/")).json()
    assert body["node"]["accession"] == child.accession
    assert [a["accession"] for a in body["ancestors"]] == [sample.accession, parent.accession]
    assert body["ancestors"][0]["type"] == "sample"
    assert [d["accession"] for d in body["descendants"]] == [grandchild.accession]
    tree = body["tree"]
    assert tree["accession"] == sample.accession
    assert tree["children"][0]["children"][0]["children"][0]["accession"] == grandchild.accession
    body = client.get(f"/api/v1/samples/{sample.pk}/lineage/").json()
    assert body["ancestors"] == [] and body["descendants"][0]["accession"] == parent.accession
    assert body["descendants"][0]["children"][0]["children"][0]["id"] == grandchild.pk


# --- Access matrix ----------------------------------------------------------------------------------------

ACTIONS = {
    "place/": lambda ctx: {"box": ctx["box"].pk, "position": "A1"},
    "check-out/": lambda ctx: {},
    "thaw/": lambda ctx: {},
    "freeze/": lambda ctx: {},
    "withdraw/": lambda ctx: {"volume": "0.1"},
    "ship/": lambda ctx: {"to_location": "Elsewhere"},
    "consume/": lambda ctx: {},
    "discard/": lambda ctx: {},
}


@pytest.mark.parametrize("action", [*ACTIONS, "check-in/", "receive/"])
def test_outsider_404_viewer_403_on_actions(client_for, tube, box, action):
    body = ACTIONS.get(action, lambda ctx: {})({"box": box})
    before = list(CustodyEvent.objects.values_list("id", flat=True))
    assert client_for("outsider").post(url(tube, action), body, format="json").status_code == 404
    assert client_for("viewer").post(url(tube, action), body, format="json").status_code == 403
    assert list(CustodyEvent.objects.values_list("id", flat=True)) == before


@pytest.mark.parametrize("action", list(ACTIONS))
def test_editor_may_act(client_for, tube, box, action):
    response = client_for("editor").post(
        url(tube, action), ACTIONS[action]({"box": box}), format="json"
    )
    assert response.status_code == 200, response.content


def test_read_access(client_for, tube, foreign_sample, make_tubes):
    foreign = make_tubes(foreign_sample, ["0.1"], user=None)[0]
    for role in ("viewer", "editor", "manager"):
        client = client_for(role)
        assert client.get(url(tube)).status_code == 200
        assert client.get(url(foreign)).status_code == 404
        for suffix in ("lineage/", "custody/", "history/"):
            assert client.get(url(foreign, suffix)).status_code == 404
    outsider = client_for("outsider")
    assert outsider.get(API).json()["results"] == []
    for suffix in ("", "lineage/", "custody/", "history/"):
        assert outsider.get(url(tube, suffix)).status_code == 404
    assert outsider.get(f"/api/v1/samples/{tube.sample_id}/lineage/").status_code == 404
    assert client_for("viewer").patch(url(tube), {"notes": "x"}, format="json").status_code == 403
    assert client_for("viewer").delete(url(tube)).status_code == 403
    assert client_for("outsider").delete(url(tube)).status_code == 404
    assert client_for("superuser").get(url(foreign)).status_code == 200


def test_anonymous_is_refused(api_client, tube):
    assert api_client.get(API).status_code in (401, 403)
    assert api_client.post(url(tube, "discard/"), {}).status_code in (401, 403)


# --- History ------------------------------------------------------------------------------------------------


def test_history_records_user_and_reason_for_actions(client_for, tube, box, members):
    response = client_for("editor").post(
        url(tube, "place/"),
        {"box": box.pk, "position": "D4"},
        format="json",
        HTTP_X_CHANGE_REASON="Moved to long-term storage",
    )
    assert response.status_code == 200
    history = client_for("viewer").get(url(tube, "history/")).json()
    latest = history[0]
    assert latest["action"] == "update"
    assert latest["username"] == members["editor"].username
    assert latest["reason"] == "Moved to long-term storage"
    assert latest["changes"]["row"] == {"old": None, "new": 4}
    assert history[-1]["action"] == "insert"
    patched = client_for("manager").patch(
        url(tube), {"notes": "checked"}, format="json", HTTP_X_CHANGE_REASON="QC"
    )
    assert patched.status_code == 200
    latest = client_for("viewer").get(url(tube, "history/")).json()[0]
    assert (latest["username"], latest["reason"]) == (members["manager"].username, "QC")
    assert latest["changes"]["notes"] == {"old": "", "new": "checked"}
