"""State-changing operations on tubes and storage. Each runs in one transaction and takes
row locks in a fixed order (source tube, then box) so concurrent users cannot overdraw a
volume or put two tubes in one well."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .choices import AliquotKind, AliquotStatus, ContainerType, CustodyKind, StorageKind
from .models import Aliquot, CustodyEvent, Sample, StorageUnit, next_accessions
from .models.storage import position_label
from .models.tubes import freeze_thaw_count

FROZEN_AT_OR_BELOW_C = -18.0
_GONE = {AliquotStatus.CONSUMED, AliquotStatus.DISCARDED, AliquotStatus.SHIPPED}


@dataclass(frozen=True)
class Well:
    row: int
    column: int

    @property
    def label(self) -> str:
        return position_label(self.row, self.column)


def _lock_source(source: Sample | Aliquot) -> Sample | Aliquot:
    return type(source).objects.select_for_update().get(pk=source.pk)


def _lock_box(box: StorageUnit) -> StorageUnit:
    locked = StorageUnit.objects.select_for_update().get(pk=box.pk)
    if locked.kind != StorageKind.BOX:
        raise ValidationError(
            {
                "box": f"{locked.name} is a {locked.get_kind_display().lower()}, not a box; tubes go into boxes."
            }
        )
    if not locked.is_active:
        raise ValidationError({"box": f"Box {locked.name} is retired."})
    return locked


def _occupied(box: StorageUnit) -> set[tuple[int, int]]:
    return set(Aliquot.objects.filter(box=box).values_list("row", "column"))


def free_positions(box: StorageUnit, *, limit: int | None = None) -> list[Well]:
    """Empty wells in reading order (A1, A2, …, B1, …)."""
    taken = _occupied(box)
    wells = [
        Well(r, c)
        for r in range(1, (box.rows or 0) + 1)
        for c in range(1, (box.columns or 0) + 1)
        if (r, c) not in taken
    ]
    return wells[:limit] if limit is not None else wells


def _check_well(box: StorageUnit, row: int, column: int) -> None:
    if not (1 <= row <= box.rows and 1 <= column <= box.columns):
        raise ValidationError(
            {
                "position": f"{position_label(row, column) if 1 <= row <= 26 else f'row {row}'} is outside box {box.name} ({box.rows} × {box.columns})."
            }
        )


def _event(
    aliquot: Aliquot, kind: str, *, user, at: datetime | None = None, **fields
) -> CustodyEvent:
    return CustodyEvent(aliquot=aliquot, kind=kind, actor=user, at=at or timezone.now(), **fields)


def _box_is_frozen(box: StorageUnit) -> bool:
    temp = box.effective_temperature_c()
    return temp is not None and temp <= FROZEN_AT_OR_BELOW_C


@transaction.atomic
def withdraw_volume(source: Sample | Aliquot, volume_ml: Decimal) -> Sample | Aliquot:
    """Take ``volume_ml`` from a sample or tube; refuse if not enough is left."""
    if volume_ml <= 0:
        raise ValidationError({"volume_ml": "Volume to withdraw must be greater than zero."})
    locked = _lock_source(source)
    if isinstance(locked, Aliquot) and locked.status in _GONE:
        raise ValidationError(
            {"source": f"{locked.accession} is {locked.get_status_display().lower()}."}
        )
    remaining = locked.remaining_volume_ml
    if remaining is None:
        raise ValidationError(
            {"source": f"{locked.accession} has no recorded volume; record it first."}
        )
    if volume_ml > remaining:
        raise ValidationError(
            {
                "volume_ml": f"Only {remaining.normalize():f} mL left in {locked.accession}; {volume_ml.normalize():f} mL requested."
            }
        )
    locked.remaining_volume_ml = remaining - volume_ml
    locked.save(update_fields=["remaining_volume_ml", "updated_at"])
    return locked


@transaction.atomic
def split_into_aliquots(
    *,
    source: Sample | Aliquot,
    volumes_ml: Sequence[Decimal],
    user,
    container_type: str = ContainerType.CRYOVIAL_2ML,
    kind: str = AliquotKind.ALIQUOT,
    box: StorageUnit | None = None,
    positions: Sequence[tuple[int, int]] | None = None,
    notes: str = "",
) -> list[Aliquot]:
    """Turn part of a sample or tube into ``len(volumes_ml)`` new tubes.

    With a box, tubes go into ``positions`` or, if none are given, the first free wells.
    All or nothing: a full box or a short volume leaves the source untouched.
    """
    if not volumes_ml:
        raise ValidationError({"volumes_ml": "Give at least one aliquot volume."})
    if any(v <= 0 for v in volumes_ml):
        raise ValidationError({"volumes_ml": "Every aliquot volume must be greater than zero."})
    if len(volumes_ml) > 1000:
        raise ValidationError({"volumes_ml": "At most 1,000 aliquots at once."})
    locked = withdraw_volume(source, sum(volumes_ml, Decimal(0)))
    sample = locked if isinstance(locked, Sample) else locked.sample
    parent = locked if isinstance(locked, Aliquot) else None

    wells: list[Well] = []
    if box is not None:
        box = _lock_box(box)
        if positions:
            if len(positions) != len(volumes_ml):
                raise ValidationError({"positions": "Give one position per aliquot."})
            taken = _occupied(box)
            for row, column in positions:
                _check_well(box, row, column)
                if (row, column) in taken:
                    raise ValidationError(
                        {"positions": f"{position_label(row, column)} in {box.name} is occupied."}
                    )
            if len(set(positions)) != len(positions):
                raise ValidationError({"positions": "The same position is given twice."})
            wells = [Well(r, c) for r, c in positions]
        else:
            wells = free_positions(box, limit=len(volumes_ml))
            if len(wells) < len(volumes_ml):
                raise ValidationError(
                    {
                        "box": f"Box {box.name} has {len(wells)} free positions; {len(volumes_ml)} needed."
                    }
                )
    frozen = box is not None and _box_is_frozen(box)

    now = timezone.now()
    tubes = [
        Aliquot(
            accession=accession,
            study_id=sample.study_id,
            sample=sample,
            parent=parent,
            kind=kind,
            container_type=container_type,
            volume_ml=volume,
            remaining_volume_ml=volume,
            box=box,
            row=wells[i].row if wells else None,
            column=wells[i].column if wells else None,
            is_frozen=frozen,
            notes=notes,
            created_by=user,
        )
        for i, (accession, volume) in enumerate(
            zip(next_accessions(len(volumes_ml)), volumes_ml, strict=True)
        )
    ]
    try:
        Aliquot.objects.bulk_create(tubes)
    except IntegrityError as exc:
        # Another user filled one of these wells between our check and the insert.
        raise ValidationError(
            {"box": "A chosen position was taken by someone else just now; try again."}
        ) from exc
    events = []
    for tube in tubes:
        events.append(
            _event(
                tube,
                CustodyKind.CREATED,
                user=user,
                at=now,
                volume_ml=tube.volume_ml,
                note=f"from {locked.accession}",
            )
        )
        if box is not None:
            events.append(
                _event(
                    tube,
                    CustodyKind.PLACED,
                    user=user,
                    at=now,
                    to_box=box,
                    to_position=position_label(tube.row, tube.column),
                )
            )
            if frozen:
                events.append(
                    _event(
                        tube,
                        CustodyKind.FROZEN,
                        user=user,
                        at=now,
                        temperature_c=box.effective_temperature_c(),
                    )
                )
    CustodyEvent.objects.bulk_create(events)
    return tubes


def _lock_tube(aliquot: Aliquot) -> Aliquot:
    return Aliquot.objects.select_for_update().select_related("box").get(pk=aliquot.pk)


def _refuse_if_gone(tube: Aliquot) -> None:
    if tube.status in _GONE:
        raise ValidationError(
            {
                "status": f"{tube.accession} is {tube.get_status_display().lower()}; nothing more can happen to it."
            }
        )


@transaction.atomic
def place_aliquot(
    *, aliquot: Aliquot, box: StorageUnit, row: int, column: int, user, note: str = ""
) -> Aliquot:
    """Put a tube into a well, or move it there from wherever it is."""
    tube = _lock_tube(aliquot)
    _refuse_if_gone(tube)
    if tube.status == AliquotStatus.CHECKED_OUT:
        raise ValidationError({"status": f"{tube.accession} is checked out; check it in first."})
    box = _lock_box(box)
    _check_well(box, row, column)
    if tube.box_id == box.pk and (tube.row, tube.column) == (row, column):
        return tube
    occupant = (
        Aliquot.objects.filter(box=box, row=row, column=column)
        .values_list("accession", flat=True)
        .first()
    )
    if occupant:
        raise ValidationError(
            {"position": f"{position_label(row, column)} in {box.name} is occupied by {occupant}."}
        )
    from_box, from_position = tube.box, tube.position
    tube.box, tube.row, tube.column = box, row, column
    try:
        with transaction.atomic():
            tube.save(update_fields=["box", "row", "column", "updated_at"])
    except IntegrityError as exc:
        raise ValidationError(
            {
                "position": f"{position_label(row, column)} in {box.name} was just taken by someone else."
            }
        ) from exc
    kind = CustodyKind.MOVED if from_box is not None else CustodyKind.PLACED
    events = [
        _event(
            tube,
            kind,
            user=user,
            from_box=from_box,
            from_position=from_position,
            to_box=box,
            to_position=tube.position,
            note=note,
        )
    ]
    if not tube.is_frozen and _box_is_frozen(box):
        tube.is_frozen = True
        tube.save(update_fields=["is_frozen"])
        events.append(
            _event(tube, CustodyKind.FROZEN, user=user, temperature_c=box.effective_temperature_c())
        )
    CustodyEvent.objects.bulk_create(events)
    return tube


@transaction.atomic
def remove_from_storage(*, aliquot: Aliquot, user, note: str = "") -> Aliquot:
    """Take a tube out of its box for good (e.g. before shipping); frees the well."""
    tube = _lock_tube(aliquot)
    if tube.box_id is None:
        return tube
    event = _event(
        tube,
        CustodyKind.MOVED,
        user=user,
        from_box=tube.box,
        from_position=tube.position,
        note=note or "removed from storage",
    )
    tube.box, tube.row, tube.column = None, None, None
    tube.save(update_fields=["box", "row", "column", "updated_at"])
    event.save()
    return tube


@transaction.atomic
def check_out(*, aliquot: Aliquot, user, note: str = "", at: datetime | None = None) -> Aliquot:
    """Take a tube out for work. Its well stays reserved for its return."""
    tube = _lock_tube(aliquot)
    _refuse_if_gone(tube)
    if tube.status == AliquotStatus.CHECKED_OUT:
        raise ValidationError({"status": f"{tube.accession} is already checked out."})
    at = at or timezone.now()
    tube.status = AliquotStatus.CHECKED_OUT
    tube.out_of_storage_since = at
    tube.save(update_fields=["status", "out_of_storage_since", "updated_at"])
    _event(
        tube,
        CustodyKind.CHECKED_OUT,
        user=user,
        at=at,
        from_box=tube.box,
        from_position=tube.position,
        note=note,
    ).save()
    return tube


@transaction.atomic
def check_in(*, aliquot: Aliquot, user, note: str = "", at: datetime | None = None) -> Aliquot:
    """Return a checked-out tube to its reserved well and add the time it spent outside."""
    tube = _lock_tube(aliquot)
    if tube.status != AliquotStatus.CHECKED_OUT:
        raise ValidationError({"status": f"{tube.accession} is not checked out."})
    at = at or timezone.now()
    if tube.out_of_storage_since and at < tube.out_of_storage_since:
        raise ValidationError({"at": "Check-in cannot be before the check-out."})
    outside = (
        int((at - tube.out_of_storage_since).total_seconds()) if tube.out_of_storage_since else 0
    )
    tube.status = AliquotStatus.AVAILABLE
    tube.time_out_of_storage_s += outside
    tube.out_of_storage_since = None
    tube.save(
        update_fields=["status", "time_out_of_storage_s", "out_of_storage_since", "updated_at"]
    )
    _event(
        tube,
        CustodyKind.CHECKED_IN,
        user=user,
        at=at,
        to_box=tube.box,
        to_position=tube.position,
        note=note,
    ).save()
    return tube


def _record_temperature_change(
    aliquot: Aliquot,
    kind: str,
    *,
    user,
    temperature_c: float | None,
    note: str,
    at: datetime | None,
) -> Aliquot:
    tube = _lock_tube(aliquot)
    _refuse_if_gone(tube)
    _event(tube, kind, user=user, at=at, temperature_c=temperature_c, note=note).save()
    kinds = list(tube.custody_events.order_by("at", "id").values_list("kind", flat=True))
    tube.freeze_thaw_count = freeze_thaw_count(kinds)
    tube.is_frozen = kind == CustodyKind.FROZEN
    tube.save(update_fields=["freeze_thaw_count", "is_frozen", "updated_at"])
    return tube


@transaction.atomic
def record_thaw(
    *,
    aliquot: Aliquot,
    user,
    temperature_c: float | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Aliquot:
    """A thaw after a freeze adds one freeze–thaw cycle."""
    return _record_temperature_change(
        aliquot, CustodyKind.THAWED, user=user, temperature_c=temperature_c, note=note, at=at
    )


@transaction.atomic
def record_freeze(
    *,
    aliquot: Aliquot,
    user,
    temperature_c: float | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Aliquot:
    return _record_temperature_change(
        aliquot, CustodyKind.FROZEN, user=user, temperature_c=temperature_c, note=note, at=at
    )


@transaction.atomic
def retire_aliquot(*, aliquot: Aliquot, user, status: str, note: str = "") -> Aliquot:
    """Mark a tube consumed, discarded or shipped; its well is freed."""
    kinds = {
        AliquotStatus.CONSUMED: CustodyKind.CONSUMED,
        AliquotStatus.DISCARDED: CustodyKind.DISCARDED,
        AliquotStatus.SHIPPED: CustodyKind.SHIPPED,
    }
    if status not in kinds:
        raise ValidationError({"status": "Use consumed, discarded or shipped."})
    tube = _lock_tube(aliquot)
    _refuse_if_gone(tube)
    event = _event(
        tube, kinds[status], user=user, from_box=tube.box, from_position=tube.position, note=note
    )
    tube.status = status
    tube.box, tube.row, tube.column = None, None, None
    if status == AliquotStatus.CONSUMED:
        tube.remaining_volume_ml = Decimal(0)
    tube.save(update_fields=["status", "box", "row", "column", "remaining_volume_ml", "updated_at"])
    event.save()
    return tube
