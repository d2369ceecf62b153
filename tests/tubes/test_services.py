"""Tube services: splitting, volumes, placement, custody, freeze–thaw."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exolims.history import history_for
from samples import services
from samples.choices import AliquotKind, AliquotStatus, CustodyKind
from samples.models import Aliquot, CustodyEvent, Sample

pytestmark = pytest.mark.django_db


def kinds(tube: Aliquot) -> list[str]:
    return list(tube.custody_events.order_by("at", "id").values_list("kind", flat=True))


def refresh(obj):
    obj.refresh_from_db()
    return obj


# --- Splitting ---------------------------------------------------------------------------


def test_split_sample_into_tubes_in_first_free_wells(sample, box, make_tubes, members):
    tubes = make_tubes(sample, ["0.5", "0.5", "1.0"], box=box)
    assert [t.position for t in tubes] == ["A1", "A2", "A3"]
    assert refresh(sample).remaining_volume_ml == Decimal("2.0")
    first = refresh(tubes[0])
    assert first.study_id == sample.study_id and first.sample_id == sample.pk
    assert first.parent_id is None and first.volume_ml == first.remaining_volume_ml
    assert first.created_by == members["editor"]
    # A −80 °C freezer box: created, placed and frozen, in that order.
    assert kinds(first) == [CustodyKind.CREATED, CustodyKind.PLACED, CustodyKind.FROZEN]
    assert first.is_frozen and first.freeze_thaw_count == 0
    placed = first.custody_events.get(kind=CustodyKind.PLACED)
    assert placed.to_box == box and placed.to_position == "A1"
    assert placed.actor == members["editor"]
    assert first.custody_events.get(kind=CustodyKind.FROZEN).temperature_c == -80
    # Accessions come from the samples' sequence: all distinct from the sample's.
    assert len({sample.accession, *(t.accession for t in tubes)}) == 4


def test_split_without_box_and_in_a_fridge_box_is_not_frozen(sample, fridge_box, make_tubes):
    loose, in_fridge = (
        make_tubes(sample, ["0.5"])[0],
        make_tubes(sample, ["0.5"], box=fridge_box)[0],
    )
    assert kinds(loose) == [CustodyKind.CREATED] and not loose.is_frozen
    assert kinds(in_fridge) == [CustodyKind.CREATED, CustodyKind.PLACED]
    assert not in_fridge.is_frozen


def test_split_more_than_available_changes_nothing(sample, box, make_tubes):
    with pytest.raises(ValidationError) as exc:
        make_tubes(sample, ["2.0", "2.5"], box=box)
    assert "Only 4 mL left" in exc.value.message_dict["volumes_ml"][0]
    assert refresh(sample).remaining_volume_ml == Decimal("4.0")
    assert not Aliquot.objects.exists() and not CustodyEvent.objects.exists()


def test_split_can_use_exactly_everything(sample, make_tubes):
    make_tubes(sample, ["2.0", "2.0"])
    assert refresh(sample).remaining_volume_ml == Decimal("0")
    with pytest.raises(ValidationError):
        make_tubes(sample, ["0.0001"])


@pytest.mark.parametrize(
    "volumes, message",
    [
        ([], "at least one"),
        (["0"], "greater than zero"),
        (["-1"], "greater than zero"),
        (["0.00001"], "greater than zero"),
        (["1e30"], "too large"),
        (["abc"], "not a number"),
        (["NaN"], "finite"),
    ],
)
def test_split_refuses_bad_volumes(sample, members, volumes, message):
    with pytest.raises(ValidationError) as exc:
        services.split_into_aliquots(source=sample, volumes_ml=volumes, user=members["editor"])
    assert message in str(exc.value)
    assert refresh(sample).remaining_volume_ml == Decimal("4.0")


def test_split_into_full_box_is_refused_whole(sample, small_box, make_tubes):
    make_tubes(sample, ["0.1"] * 3, box=small_box)
    with pytest.raises(ValidationError) as exc:
        make_tubes(sample, ["0.1", "0.1"], box=small_box)
    assert exc.value.message_dict["box"] == ["Box Box 2x2 has 1 free position; 2 needed."]
    assert Aliquot.objects.count() == 3
    assert refresh(sample).remaining_volume_ml == Decimal("3.7")


def test_split_into_explicit_positions(sample, box, make_tubes):
    tubes = make_tubes(sample, ["0.1", "0.1"], box=box, positions=["B7", (9, 9)])
    assert [t.position for t in tubes] == ["B7", "I9"]


def test_split_into_occupied_position_names_the_occupant(sample, box, make_tubes):
    first = make_tubes(sample, ["0.1"], box=box, positions=["C3"])[0]
    with pytest.raises(ValidationError) as exc:
        make_tubes(sample, ["0.1", "0.1"], box=box, positions=["C2", "C3"])
    assert exc.value.message_dict["positions"] == [f"C3 in Box 1 is occupied by {first.accession}."]
    assert Aliquot.objects.count() == 1
    assert refresh(sample).remaining_volume_ml == Decimal("3.9")


@pytest.mark.parametrize(
    "positions, field, message",
    [
        (["A1", "A1"], "positions", "A1 given more than once."),
        (["A1"], "positions", "one position per aliquot"),
        (["J1", "A1"], "position", "J1 is outside box Box 1"),
        (["A10", "A1"], "position", "A10 is outside box Box 1"),
        (["11", "A1"], "positions", "not a position like A1"),
    ],
)
def test_split_refuses_bad_positions(sample, box, make_tubes, positions, field, message):
    with pytest.raises(ValidationError) as exc:
        make_tubes(sample, ["0.1", "0.1"], box=box, positions=positions)
    assert message in exc.value.message_dict[field][0]
    assert not Aliquot.objects.exists()
    assert refresh(sample).remaining_volume_ml == Decimal("4.0")


def test_positions_need_a_box(sample, make_tubes):
    with pytest.raises(ValidationError) as exc:
        make_tubes(sample, ["0.1"], positions=["A1"])
    assert "box" in exc.value.message_dict


def test_split_into_a_rack_is_refused(sample, rack, make_tubes):
    with pytest.raises(ValidationError) as exc:
        make_tubes(sample, ["0.1"], box=rack)
    assert "Rack 1 is a rack, not a box" in exc.value.message_dict["box"][0]
    assert refresh(sample).remaining_volume_ml == Decimal("4.0")


def test_split_of_an_aliquot_records_lineage_and_withdrawal(sample, make_tubes):
    parent = make_tubes(sample, ["1.0"])[0]
    children = make_tubes(parent, ["0.25", "0.25"], kind=AliquotKind.DERIVATIVE)
    assert refresh(parent).remaining_volume_ml == Decimal("0.5")
    assert refresh(sample).remaining_volume_ml == Decimal("3.0")
    for child in children:
        child = refresh(child)
        assert child.parent_id == parent.pk and child.sample_id == sample.pk
        assert child.kind == AliquotKind.DERIVATIVE
    withdrawn = parent.custody_events.get(kind=CustodyKind.WITHDRAWN)
    assert withdrawn.volume_ml == Decimal("0.5")
    assert children[0].accession in withdrawn.note


def test_split_of_a_gone_tube_or_sample_is_refused(sample, tube, members, make_tubes):
    services.discard(aliquot=tube, user=members["editor"])
    with pytest.raises(ValidationError, match="discarded"):
        make_tubes(tube, ["0.1"])
    Sample.objects.filter(pk=sample.pk).update(status="consumed")
    with pytest.raises(ValidationError, match="consumed"):
        make_tubes(refresh(sample), ["0.1"])


def test_sample_without_volume_cannot_be_split(make_sample, make_tubes):
    sample = make_sample(volume_ml=None)
    with pytest.raises(ValidationError, match="no recorded volume"):
        make_tubes(sample, ["0.1"])


# --- Withdrawing ---------------------------------------------------------------------------


def test_withdraw_from_a_tube_records_an_event(tube, members):
    services.withdraw_volume(tube, Decimal("0.3"), user=members["editor"], note="NTA")
    tube = refresh(tube)
    assert tube.remaining_volume_ml == Decimal("0.7")
    event = tube.custody_events.get(kind=CustodyKind.WITHDRAWN)
    assert (event.volume_ml, event.note, event.actor) == (Decimal("0.3"), "NTA", members["editor"])
    with pytest.raises(ValidationError) as exc:
        services.withdraw_volume(source=tube, volume_ml=Decimal("0.8"), user=members["editor"])
    assert exc.value.message_dict["volume_ml"] == [
        f"Only 0.7 mL left in {tube.accession}; 0.8 mL requested."
    ]
    assert refresh(tube).remaining_volume_ml == Decimal("0.7")


# --- Placing and moving --------------------------------------------------------------------


def test_place_into_occupied_well_names_the_occupant(sample, box, make_tubes, members):
    first, second = make_tubes(sample, ["0.1", "0.1"])
    services.place_aliquot(aliquot=first, box=box, row=2, column=3, user=members["editor"])
    with pytest.raises(ValidationError) as exc:
        services.place_aliquot(aliquot=second, box=box, row=2, column=3, user=members["editor"])
    assert exc.value.message_dict["position"] == [f"B3 in Box 1 is occupied by {first.accession}."]
    assert refresh(second).box_id is None


def test_occupant_of_another_study_is_not_named(sample, box, make_tubes, members, foreign_sample):
    foreign = make_tubes(foreign_sample, ["0.1"], box=box, user=None)[0]
    mine = make_tubes(sample, ["0.1"])[0]
    with pytest.raises(ValidationError) as exc:
        services.place_aliquot(aliquot=mine, box=box, row=1, column=1, user=members["editor"])
    message = exc.value.message_dict["position"][0]
    assert foreign.accession not in message and "a tube of another study" in message


def test_place_into_a_non_box_unit_is_refused(tube, rack, freezer, members):
    for unit in (rack, freezer):
        with pytest.raises(ValidationError) as exc:
            services.place_aliquot(aliquot=tube, box=unit, row=1, column=1, user=members["editor"])
        assert "not a box; tubes go into boxes" in exc.value.message_dict["box"][0]


def test_place_outside_the_grid_or_into_retired_box(tube, box, members):
    with pytest.raises(ValidationError, match="outside box"):
        services.place_aliquot(aliquot=tube, box=box, row=10, column=1, user=members["editor"])
    box.is_active = False
    box.save()
    with pytest.raises(ValidationError, match="retired"):
        services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=members["editor"])


def test_move_between_boxes_records_from_and_to(tube, box, fridge_box, members):
    services.place_aliquot(aliquot=tube, box=fridge_box, row=1, column=1, user=members["editor"])
    assert not refresh(tube).is_frozen
    services.move_aliquot(aliquot=tube, box=box, row=5, column=5, user=members["editor"])
    tube = refresh(tube)
    assert (tube.box_id, tube.position, tube.is_frozen) == (box.pk, "E5", True)
    moved = tube.custody_events.get(kind=CustodyKind.MOVED)
    assert (moved.from_box, moved.from_position, moved.to_box, moved.to_position) == (
        fridge_box,
        "A1",
        box,
        "E5",
    )
    assert kinds(tube)[-1] == CustodyKind.FROZEN
    # The old well is free again.
    assert services.free_positions(fridge_box, limit=1)[0].label == "A1"


def test_place_without_position_takes_first_free_well(sample, box, make_tubes, members):
    a, b = make_tubes(sample, ["0.1", "0.1"])
    services.place_aliquot(aliquot=a, box=box, row=1, column=1, user=members["editor"])
    services.place_aliquot(aliquot=b, box=box, user=members["editor"])
    assert refresh(b).position == "A2"


def test_placing_again_in_the_same_well_is_a_no_op(tube, box, members):
    services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=members["editor"])
    count = tube.custody_events.count()
    services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=members["editor"])
    assert tube.custody_events.count() == count


def test_remove_from_storage_frees_the_well(tube, box, members):
    services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=members["editor"])
    services.remove_from_storage(aliquot=tube, user=members["editor"])
    assert refresh(tube).box_id is None
    assert services.free_positions(box, limit=1)[0].label == "A1"


# --- Check-out / check-in ----------------------------------------------------------------


def test_check_out_keeps_the_well_reserved(sample, box, make_tubes, members):
    tube, other = make_tubes(sample, ["0.1", "0.1"])
    services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=members["editor"])
    services.check_out(aliquot=tube, user=members["editor"], to_location="Bench 3")
    tube = refresh(tube)
    assert tube.status == AliquotStatus.CHECKED_OUT and tube.position == "A1"
    assert services.free_positions(box, limit=1)[0].label == "A2"
    with pytest.raises(ValidationError) as exc:
        services.place_aliquot(aliquot=other, box=box, row=1, column=1, user=members["manager"])
    assert "checked out; the well is kept for its return" in exc.value.message_dict["position"][0]
    with pytest.raises(ValidationError, match="check it in"):
        services.place_aliquot(aliquot=tube, box=box, row=2, column=2, user=members["editor"])
    with pytest.raises(ValidationError, match="already checked out"):
        services.check_out(aliquot=tube, user=members["editor"])
    event = tube.custody_events.get(kind=CustodyKind.CHECKED_OUT)
    assert (event.from_box, event.from_position, event.to_location) == (box, "A1", "Bench 3")


def test_check_in_accumulates_time_out_of_storage(tube, box, members):
    services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=members["editor"])
    start = timezone.now() - timedelta(hours=3)
    services.check_out(aliquot=tube, user=members["editor"], at=start)
    services.check_in(aliquot=tube, user=members["editor"], at=start + timedelta(minutes=30))
    services.check_out(aliquot=tube, user=members["editor"], at=start + timedelta(hours=1))
    services.check_in(
        aliquot=tube, user=members["editor"], at=start + timedelta(hours=1, minutes=15)
    )
    tube = refresh(tube)
    assert tube.time_out_of_storage_s == 45 * 60
    assert tube.status == AliquotStatus.AVAILABLE and tube.out_of_storage_since is None
    assert tube.position == "A1"
    checked_in = tube.custody_events.filter(kind=CustodyKind.CHECKED_IN).last()
    assert (checked_in.to_box, checked_in.to_position) == (box, "A1")


def test_check_in_refusals(tube, members):
    with pytest.raises(ValidationError, match="not checked out"):
        services.check_in(aliquot=tube, user=members["editor"])
    now = timezone.now()
    services.check_out(aliquot=tube, user=members["editor"], at=now)
    with pytest.raises(ValidationError, match="before the check-out"):
        services.check_in(aliquot=tube, user=members["editor"], at=now - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="future"):
        services.check_in(aliquot=tube, user=members["editor"], at=now + timedelta(days=1))


# --- Freeze–thaw ---------------------------------------------------------------------------


def test_freeze_thaw_count_derived_from_events(tube, members):
    user = members["editor"]
    services.record_thaw(aliquot=tube, user=user)  # never frozen: does not count
    assert refresh(tube).freeze_thaw_count == 0
    services.record_freeze(aliquot=tube, user=user, temperature_c=-80)
    assert refresh(tube).is_frozen
    services.record_thaw(aliquot=tube, user=user, temperature_c=21)
    services.record_thaw(aliquot=tube, user=user)  # a second thaw without a freeze
    tube = refresh(tube)
    assert (tube.freeze_thaw_count, tube.is_frozen) == (1, False)
    services.record_freeze(aliquot=tube, user=user)
    services.record_thaw(aliquot=tube, user=user)
    assert refresh(tube).freeze_thaw_count == 2


def test_back_dated_events_are_derived_in_time_order(tube, members):
    user, now = members["editor"], timezone.now()
    services.record_thaw(aliquot=tube, user=user, at=now - timedelta(hours=1))
    services.record_freeze(aliquot=tube, user=user, at=now - timedelta(hours=2))
    tube = refresh(tube)
    assert (tube.freeze_thaw_count, tube.is_frozen) == (1, False)


def test_checked_in_to_a_freezer_box_is_frozen_again(tube, box, members):
    user = members["editor"]
    services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=user)
    services.check_out(aliquot=tube, user=user)
    services.record_thaw(aliquot=tube, user=user)
    services.check_in(aliquot=tube, user=user)
    tube = refresh(tube)
    assert tube.is_frozen and tube.freeze_thaw_count == 1
    assert kinds(tube)[-1] == CustodyKind.FROZEN


def test_tubes_over_the_study_limit_are_flagged(study, tube, members):
    study.max_freeze_thaw_cycles = 1
    study.save()
    user = members["editor"]
    for _ in range(2):
        services.record_freeze(aliquot=tube, user=user)
        services.record_thaw(aliquot=tube, user=user)
        tube = Aliquot.objects.select_related("study").get(pk=tube.pk)
    assert tube.freeze_thaw_count == 2 and tube.is_over_freeze_thaw_limit
    study.max_freeze_thaw_cycles = None
    study.save()
    assert not Aliquot.objects.select_related("study").get(pk=tube.pk).is_over_freeze_thaw_limit


def test_children_inherit_the_parents_cycles(sample, make_tubes, members):
    parent = make_tubes(sample, ["1.0"])[0]
    services.record_freeze(aliquot=parent, user=members["editor"])
    services.record_thaw(aliquot=parent, user=members["editor"])
    child = make_tubes(refresh(parent), ["0.2"])[0]
    assert refresh(child).freeze_thaw_count == 1
    services.record_freeze(aliquot=child, user=members["editor"])
    services.record_thaw(aliquot=child, user=members["editor"])
    assert refresh(child).freeze_thaw_count == 2


def test_recompute_repairs_a_stale_count(tube, members):
    services.record_freeze(aliquot=tube, user=members["editor"])
    services.record_thaw(aliquot=tube, user=members["editor"])
    Aliquot.objects.filter(pk=tube.pk).update(freeze_thaw_count=7, is_frozen=True)
    tube = services.recompute_freeze_thaw(aliquot=tube)
    assert (refresh(tube).freeze_thaw_count, tube.is_frozen) == (1, False)


# --- Leaving storage -----------------------------------------------------------------------


def test_ship_and_receive(tube, box, fridge_box, members):
    user = members["editor"]
    services.place_aliquot(aliquot=tube, box=box, row=1, column=1, user=user)
    with pytest.raises(ValidationError) as exc:
        services.ship(aliquot=tube, user=user, to_location="  ")
    assert "to_location" in exc.value.message_dict
    services.ship(
        aliquot=tube,
        user=user,
        to_location="Partner lab, Ghent",
        temperature_c=-78.5,
        note="dry ice",
    )
    tube = refresh(tube)
    assert tube.status == AliquotStatus.SHIPPED and tube.box_id is None
    assert services.free_positions(box, limit=1)[0].label == "A1"
    shipped = tube.custody_events.get(kind=CustodyKind.SHIPPED)
    assert (shipped.from_box, shipped.from_position, shipped.to_location) == (
        box,
        "A1",
        "Partner lab, Ghent",
    )
    assert (shipped.temperature_c, shipped.note, shipped.actor) == (-78.5, "dry ice", user)
    with pytest.raises(ValidationError, match="shipped"):
        services.check_out(aliquot=tube, user=user)
    services.receive(
        aliquot=tube,
        user=user,
        from_location="Partner lab, Ghent",
        temperature_c=-70,
        box=fridge_box,
        row=2,
        column=2,
    )
    tube = refresh(tube)
    assert (tube.status, tube.box_id, tube.position) == (
        AliquotStatus.AVAILABLE,
        fridge_box.pk,
        "B2",
    )
    received = tube.custody_events.get(kind=CustodyKind.RECEIVED)
    assert (received.from_location, received.temperature_c) == ("Partner lab, Ghent", -70)
    with pytest.raises(ValidationError, match="was not shipped"):
        services.receive(aliquot=tube, user=user)


def test_consume_and_discard_free_the_well(sample, box, make_tubes, members):
    used, thrown = make_tubes(sample, ["0.5", "0.5"], box=box)
    services.check_out(
        aliquot=used, user=members["editor"], at=timezone.now() - timedelta(minutes=10)
    )
    services.consume(aliquot=used, user=members["editor"], note="all into SEC")
    services.discard(aliquot=thrown, user=members["editor"], note="cracked")
    used, thrown = refresh(used), refresh(thrown)
    assert (used.status, used.box_id, used.remaining_volume_ml) == ("consumed", None, 0)
    assert used.time_out_of_storage_s >= 600 and used.out_of_storage_since is None
    assert (thrown.status, thrown.box_id, thrown.remaining_volume_ml) == (
        "discarded",
        None,
        Decimal("0.5"),
    )
    assert used.custody_events.get(kind=CustodyKind.CONSUMED).from_position == "A1"
    assert thrown.custody_events.get(kind=CustodyKind.DISCARDED).note == "cracked"
    assert services.free_positions(box, limit=2) == [services.Well(1, 1), services.Well(1, 2)]
    for action in (services.consume, services.discard):
        with pytest.raises(ValidationError, match="nothing more can happen"):
            action(aliquot=used, user=members["editor"])
    with pytest.raises(ValidationError):
        services.withdraw_volume(thrown, Decimal("0.1"), user=members["editor"])


def test_retire_aliquot_keeps_working(tube, members):
    services.retire_aliquot(aliquot=tube, user=members["editor"], status="discarded")
    assert refresh(tube).status == "discarded"
    with pytest.raises(ValidationError):
        services.retire_aliquot(aliquot=tube, user=members["editor"], status="available")


# --- Deleting a mistake -----------------------------------------------------------------------


def test_delete_a_fresh_tube_returns_its_volume(sample, box, make_tubes, members):
    parent = make_tubes(sample, ["1.0"], box=box)[0]
    assert services.deletion_blocker(parent) is None
    services.delete_aliquot(aliquot=parent, user=members["editor"])
    assert not Aliquot.objects.filter(pk=parent.pk).exists()
    assert refresh(sample).remaining_volume_ml == Decimal("4.0")
    assert history_for(Aliquot(pk=parent.pk))[0].action == "delete"


def test_delete_of_a_child_returns_volume_to_the_parent(sample, make_tubes, members):
    parent = make_tubes(sample, ["1.0"])[0]
    child = make_tubes(parent, ["0.4"])[0]
    assert services.deletion_blocker(parent) is not None  # it has a child
    services.delete_aliquot(aliquot=child, user=members["editor"])
    parent = refresh(parent)
    assert parent.remaining_volume_ml == Decimal("1.0")
    assert kinds(parent)[-1] == CustodyKind.RETURNED


def test_delete_refused_once_something_happened(tube, members):
    services.check_out(aliquot=tube, user=members["editor"])
    with pytest.raises(services.TubeInUse, match="discard it instead"):
        services.delete_aliquot(aliquot=tube, user=members["editor"])
    assert Aliquot.objects.filter(pk=tube.pk).exists()


# --- Storage queries ---------------------------------------------------------------------------


def test_occupancy_per_box_and_freezer_in_one_query(
    sample, box, small_box, fridge_box, freezer, site, make_tubes
):
    make_tubes(sample, ["0.1"] * 3, box=box)
    make_tubes(sample, ["0.1"] * 4, box=small_box)
    make_tubes(sample, ["0.1"], box=fridge_box)
    with CaptureQueriesContext(connection) as queries:
        result = services.occupancy(units=[box, small_box, freezer, site])
    assert len(queries) == 1
    assert (result[box.pk].capacity, result[box.pk].occupied, result[box.pk].free) == (81, 3, 78)
    assert (result[small_box.pk].occupied, result[small_box.pk].percent) == (4, 100.0)
    assert (result[freezer.pk].boxes, result[freezer.pk].capacity, result[freezer.pk].occupied) == (
        2,
        85,
        7,
    )
    assert (result[site.pk].boxes, result[site.pk].capacity, result[site.pk].occupied) == (
        3,
        181,
        8,
    )
    assert services.occupancy(units=[]) == {}


def test_free_positions_in_reading_order(sample, small_box, rack, make_tubes):
    make_tubes(sample, ["0.1"], box=small_box, positions=["A2"])
    assert [w.label for w in services.free_positions(small_box)] == ["A1", "B1", "B2"]
    assert [w.label for w in services.free_positions(small_box, limit=1)] == ["A1"]
    assert services.free_positions(rack) == []


# --- Audit trail ---------------------------------------------------------------------------------


def test_service_changes_are_in_the_history_with_the_user(tube, box, members):
    services.place_aliquot(aliquot=tube, box=box, row=4, column=4, user=members["manager"])
    latest = history_for(tube)[0]
    assert latest.action == "update" and latest.username == members["manager"].username
    assert latest.changes["row"] == (None, 4)
