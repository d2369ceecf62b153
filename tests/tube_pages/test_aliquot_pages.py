"""The tube page: who sees it, what it shows, and its POST-only action forms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from exolims.history import history_for
from samples import services
from samples.choices import AliquotStatus, CustodyKind
from samples.models import Aliquot, CustodyEvent

pytestmark = pytest.mark.django_db


def detail(tube) -> str:
    return reverse("samples:aliquot-detail", args=[tube.pk])


def act(tube, action: str) -> str:
    return reverse("samples:aliquot-action", args=[tube.pk, action])


def events(tube) -> list[str]:
    return list(
        CustodyEvent.objects.filter(aliquot=tube)
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )


@pytest.mark.parametrize("role", ["viewer", "editor", "manager", "superuser"])
def test_tube_page_renders_for_members(page_client, tube, role):
    response = page_client(role).get(detail(tube))
    assert response.status_code == 200
    html = response.content.decode()
    assert tube.accession in html
    assert "Freezer -80 A" in html and "Rack 1" in html and "Box 1" in html
    assert "A1" in html


def test_tube_of_another_study_is_not_found(page_client, other_tube):
    assert page_client("editor").get(detail(other_tube)).status_code == 404
    assert page_client("outsider").get(detail(other_tube)).status_code == 404


def test_outsider_gets_404_for_page_history_and_actions(page_client, tube):
    client = page_client("outsider")
    assert client.get(detail(tube)).status_code == 404
    assert client.get(reverse("samples:aliquot-history", args=[tube.pk])).status_code == 404
    assert client.post(act(tube, "check-out"), {}).status_code == 404


def test_anonymous_is_sent_to_login(client, tube):
    response = client.get(detail(tube))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_shows_custody_lineage_and_highlights_the_tube(page_client, tube, make_tubes):
    child = make_tubes(tube, 2, volume="0.1")[0]
    html = page_client("viewer").get(detail(child)).content.decode()
    assert 'class="current" aria-current="true"' in html
    # Ancestors: the root sample and the parent tube, with the current one marked.
    assert tube.sample.accession in html and tube.accession in html
    current = html.split('aria-current="true"')[1][:400]
    assert child.accession in current
    assert (
        "Chain of custody" in html and "Created" in html and f"Split from {tube.accession}" in html
    )


def test_freeze_thaw_over_the_study_limit_is_flagged(page_client, tube, study, members):
    study.max_freeze_thaw_cycles = 1
    study.save()
    client = page_client("viewer")
    assert "over the study" not in client.get(detail(tube)).content.decode()
    for _ in range(2):
        services.record_thaw(aliquot=tube, user=members["editor"])
        services.record_freeze(aliquot=tube, user=members["editor"])
    html = client.get(detail(tube)).content.decode()
    assert "over the study&#x27;s limit" in html or "over the study's limit" in html
    assert "Over freeze–thaw limit" in html


def test_viewer_sees_no_actions_and_cannot_post_them(page_client, tube):
    client = page_client("viewer")
    html = client.get(detail(tube)).content.decode()
    assert "Actions" not in html and "change_reason" not in html
    for action in ("check-out", "withdraw", "discard", "split", "place"):
        response = client.post(act(tube, action), {"volume": "0.1", "volume_unit": "mL"})
        assert response.status_code == 403
    tube.refresh_from_db()
    assert tube.status == AliquotStatus.AVAILABLE
    assert tube.remaining_volume_ml == Decimal("0.5")


def test_editor_sees_the_actions_that_apply(page_client, tube):
    html = page_client("editor").get(detail(tube)).content.decode()
    for title in ("Split into aliquots", "Withdraw volume", "Place / move", "Check out", "Discard"):
        assert title in html
    assert "Check in" not in html  # not checked out
    assert 'name="change_reason"' in html


def test_actions_are_post_only_and_unknown_actions_404(page_client, tube):
    client = page_client("editor")
    assert client.get(act(tube, "check-out")).status_code == 405
    assert client.post(act(tube, "teleport"), {}).status_code == 404


def test_withdraw_more_than_left_is_refused_and_saves_nothing(page_client, tube):
    before = events(tube)
    response = page_client("editor").post(
        act(tube, "withdraw"), {"volume": "600", "volume_unit": "µL"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Only 0.5 mL left" in html and "nothing was changed" in html
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == Decimal("0.5")
    assert events(tube) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"volume": "", "volume_unit": "mL"}, "This field is required."),
        ({"volume": "abc", "volume_unit": "mL"}, "is not a number"),
        ({"volume": "-1", "volume_unit": "mL"}, "greater than zero"),
        ({"volume": "1", "volume_unit": "gallon"}, "Unknown volume unit"),
    ],
)
def test_withdraw_rejects_bad_input(page_client, tube, data, message):
    response = page_client("editor").post(act(tube, "withdraw"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == Decimal("0.5")


def test_withdraw_records_volume_event_and_reason(page_client, tube, members):
    response = page_client("editor").post(
        act(tube, "withdraw"),
        {"volume": "200", "volume_unit": "µL", "note": "for NTA", "change_reason": "QC run 12"},
    )
    assert response.status_code == 302 and response["Location"] == detail(tube)
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == Decimal("0.3")
    assert events(tube)[-1] == CustodyKind.WITHDRAWN
    latest = history_for(tube)[0]
    assert latest.reason == "QC run 12"
    assert latest.username == members["editor"].username
    assert latest.changes["remaining_volume_ml"] == (0.5, 0.3)


def test_place_into_occupied_well_is_refused(page_client, tube, loose_tube, box):
    response = page_client("editor").post(
        act(loose_tube, "place"), {"box": box.pk, "position": "A1"}
    )
    assert response.status_code == 400
    assert f"occupied by {tube.accession}" in response.content.decode()
    loose_tube.refresh_from_db()
    assert loose_tube.box_id is None


def test_place_into_a_unit_that_is_not_a_box_is_refused(page_client, loose_tube, rack):
    response = page_client("editor").post(
        act(loose_tube, "place"), {"box": rack.pk, "position": "A1"}
    )
    assert response.status_code == 400
    assert "Rack 1 is a rack, not a box" in response.content.decode()
    loose_tube.refresh_from_db()
    assert loose_tube.box_id is None


@pytest.mark.parametrize(
    ("position", "message"),
    [("11", "not a position like A1"), ("B-", "not a position like A1"), ("J1", "outside box")],
)
def test_place_rejects_bad_position_text(page_client, loose_tube, box, position, message):
    response = page_client("editor").post(
        act(loose_tube, "place"), {"box": box.pk, "position": position}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    loose_tube.refresh_from_db()
    assert loose_tube.box_id is None


def test_place_then_move_records_custody(page_client, loose_tube, box, other_box):
    client = page_client("editor")
    assert (
        client.post(act(loose_tube, "place"), {"box": box.pk, "position": "c4"}).status_code == 302
    )
    loose_tube.refresh_from_db()
    assert (loose_tube.box_id, loose_tube.position) == (box.pk, "C4")
    # No well given: the first free one.
    assert client.post(act(loose_tube, "place"), {"box": other_box.pk}).status_code == 302
    loose_tube.refresh_from_db()
    assert (loose_tube.box_id, loose_tube.position) == (other_box.pk, "A1")
    assert events(loose_tube)[-2:] == [
        CustodyKind.FROZEN,
        CustodyKind.MOVED,
    ] or CustodyKind.MOVED in events(loose_tube)


def test_check_out_keeps_the_well_and_check_in_returns(page_client, tube):
    client = page_client("editor")
    response = client.post(act(tube, "check-out"), {"to_location": "Bench 3", "note": "NTA"})
    assert response.status_code == 302
    tube.refresh_from_db()
    assert tube.status == AliquotStatus.CHECKED_OUT and tube.position == "A1"
    html = client.get(detail(tube)).content.decode()
    assert "Check in" in html and "well kept for its return" in html
    assert client.post(act(tube, "check-out"), {}).status_code == 400  # already out
    assert client.post(act(tube, "check-in"), {"temperature_c": "-80"}).status_code == 302
    tube.refresh_from_db()
    assert tube.status == AliquotStatus.AVAILABLE
    assert events(tube)[-2:] == [CustodyKind.CHECKED_OUT, CustodyKind.CHECKED_IN]


def test_check_in_before_check_out_time_is_refused(page_client, tube, members):
    services.check_out(aliquot=tube, user=members["editor"])
    response = page_client("editor").post(act(tube, "check-in"), {"at": "2000-01-01T10:00"})
    assert response.status_code == 400
    assert "before the check-out" in response.content.decode()
    tube.refresh_from_db()
    assert tube.status == AliquotStatus.CHECKED_OUT


def test_thaw_and_freeze_count_cycles(page_client, tube):
    client = page_client("editor")
    assert tube.is_frozen  # placed in a -80 °C box
    assert client.post(act(tube, "thaw"), {"temperature_c": "4"}).status_code == 302
    tube.refresh_from_db()
    assert tube.freeze_thaw_count == 1 and not tube.is_frozen
    assert client.post(act(tube, "freeze"), {"temperature_c": "-80"}).status_code == 302
    tube.refresh_from_db()
    assert tube.is_frozen


def test_temperature_out_of_range_is_refused(page_client, tube):
    response = page_client("editor").post(act(tube, "thaw"), {"temperature_c": "500"})
    assert response.status_code == 400
    tube.refresh_from_db()
    assert tube.freeze_thaw_count == 0


def test_ship_needs_a_destination_then_receive_places_it_back(page_client, tube, box):
    client = page_client("editor")
    response = client.post(act(tube, "ship"), {"to_location": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert client.post(act(tube, "ship"), {"to_location": "Partner lab, Leiden"}).status_code == 302
    tube.refresh_from_db()
    assert tube.status == AliquotStatus.SHIPPED and tube.box_id is None
    html = client.get(detail(tube)).content.decode()
    assert "Receive" in html and "Partner lab, Leiden" in html
    response = client.post(
        act(tube, "receive"), {"from_location": "Leiden", "box": box.pk, "position": "B2"}
    )
    assert response.status_code == 302
    tube.refresh_from_db()
    assert tube.status == AliquotStatus.AVAILABLE and tube.position == "B2"


def test_consume_and_discard_free_the_well(page_client, tube, make_tubes, sample, box):
    client = page_client("editor")
    assert client.post(act(tube, "consume"), {"note": "all used for RNA"}).status_code == 302
    tube.refresh_from_db()
    assert tube.status == AliquotStatus.CONSUMED and tube.box_id is None
    assert tube.remaining_volume_ml == 0
    # A gone tube cannot be discarded too; the page says so and nothing changes.
    response = client.post(act(tube, "discard"), {})
    assert response.status_code == 400 and "nothing more can happen" in response.content.decode()
    other = make_tubes(sample, 1, box=box)[0]
    assert client.post(act(other, "discard"), {"change_reason": "cracked"}).status_code == 302
    other.refresh_from_db()
    assert other.status == AliquotStatus.DISCARDED
    assert history_for(other)[0].reason == "cracked"


def test_split_a_tube_by_list_of_volumes(page_client, tube):
    response = page_client("editor").post(
        act(tube, "split"),
        {
            "volumes": "100, 150 50",
            "volume_unit": "µL",
            "container_type": "pcr_tube",
            "kind": "aliquot",
        },
    )
    assert response.status_code == 302
    children = list(Aliquot.objects.filter(parent=tube).order_by("id"))
    assert [c.volume_ml for c in children] == [Decimal("0.1"), Decimal("0.15"), Decimal("0.05")]
    assert all(c.container_type == "pcr_tube" for c in children)
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == Decimal("0.2")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"count": "3", "volume": "0.3"}, "Only 0.5 mL left"),
        ({"count": "", "volume": "0.1"}, "How many tubes?"),
        ({"count": "2", "volume": ""}, "Give the volume of each tube"),
        ({"count": "2", "volume": "0.1", "volumes": "0.1, 0.1"}, "not both"),
        ({"volumes": "0.1, x"}, "x: "),
        ({"count": "2", "volume": "0.1", "start_position": "A2"}, "Choose the box as well."),
    ],
)
def test_split_rejects_bad_input_and_saves_nothing(page_client, tube, data, message):
    payload = {"volume_unit": "mL", "container_type": "cryovial_2ml", "kind": "aliquot", **data}
    response = page_client("editor").post(act(tube, "split"), payload)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Aliquot.objects.filter(parent=tube).exists()
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == Decimal("0.5")
