"""State-changing operations on tubes and storage.

Every public function here runs in one transaction, records who acted in the audit trail
(pghistory context) and appends the custody events that describe what happened. Row locks
are always taken in the same order so two operations can never wait on each other:

    source (sample, then tube) → tube → box

A box is locked before any of its wells is examined, so two people placing tubes into the
same box are serialised and the second one is told which tube got there first. The unique
(box, row, column) constraint and the non-negative volume check constraints remain as a
last line of defence.

Pages and the API call these functions; nothing else writes tube state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pgtrigger
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from exolims.services import service as _service

from .choices import (
    AliquotKind,
    AliquotStatus,
    ContainerType,
    CustodyKind,
    SampleStatus,
    StorageKind,
)
from .models import Aliquot, CustodyEvent, Sample, StorageUnit, Study, next_accessions
from .models.storage import position_label
from .models.tubes import freeze_state

__all__ = [
    "FROZEN_AT_OR_BELOW_C",
    "DerivedTube",
    "Occupancy",
    "TubeInUse",
    "Well",
    "check_in",
    "check_out",
    "consume",
    "create_derived_tubes",
    "delete_aliquot",
    "deletion_blocker",
    "discard",
    "free_positions",
    "move_aliquot",
    "occupancy",
    "place_aliquot",
    "receive",
    "recompute_freeze_thaw",
    "record_freeze",
    "record_thaw",
    "remove_from_storage",
    "retire_aliquot",
    "ship",
    "split_into_aliquots",
    "withdraw_volume",
]

FROZEN_AT_OR_BELOW_C = -18.0
MAX_ALIQUOTS_PER_SPLIT = 1000
# Lab PC clocks drift; a time a few minutes "in the future" is not a typo worth refusing.
FUTURE_TOLERANCE = timedelta(minutes=5)
_VOLUME_QUANTUM = Decimal("0.0001")
_MAX_VOLUME_ML = Decimal("99999999")
_GONE = frozenset({AliquotStatus.CONSUMED, AliquotStatus.DISCARDED, AliquotStatus.SHIPPED})
_SAMPLE_GONE = frozenset({SampleStatus.CONSUMED, SampleStatus.DISCARDED, SampleStatus.SHIPPED})
# Events a split writes for a new tube; a tube with nothing else may still be deleted.
_CREATION_KINDS = frozenset({CustodyKind.CREATED, CustodyKind.PLACED, CustodyKind.FROZEN})


class TubeInUse(ValidationError):
    """The tube already has a history (or children); it can be discarded, not deleted."""


@dataclass(frozen=True)
class Well:
    row: int
    column: int

    @property
    def label(self) -> str:
        return position_label(self.row, self.column)


@dataclass(frozen=True)
class Occupancy:
    """Wells in all boxes at or below a storage unit, and how many hold a tube."""

    unit_id: int
    boxes: int
    capacity: int
    occupied: int

    @property
    def free(self) -> int:
        return self.capacity - self.occupied

    @property
    def percent(self) -> float:
        return round(100 * self.occupied / self.capacity, 1) if self.capacity else 0.0


# --- Plumbing --------------------------------------------------------------------------


def _when(at: datetime | None) -> datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ValidationError({"at": "Give the time with its time zone."})
    if at > timezone.now() + FUTURE_TOLERANCE:
        raise ValidationError({"at": "The time cannot be in the future."})
    return at


def _as_volume(value: Any, field: str) -> Decimal:
    try:
        volume = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"{value!r} is not a number."}) from None
    if not volume.is_finite():
        raise ValidationError({field: f"{value!r} is not a finite number."})
    # Checked before quantize(), which cannot represent huge numbers at 4 decimal places.
    if volume > _MAX_VOLUME_ML:
        raise ValidationError({field: "Volume is too large."})
    volume = volume.quantize(_VOLUME_QUANTUM)
    if volume <= 0:
        raise ValidationError({field: "Volume must be greater than zero (at least 0.0001 mL)."})
    return volume


def _ml(volume: Decimal) -> str:
    return f"{volume.normalize():f} mL"


def _event(
    aliquot: Aliquot, kind: str, *, user, at: datetime | None = None, **fields: Any
) -> CustodyEvent:
    actor = user if user is not None and getattr(user, "pk", None) is not None else None
    return CustodyEvent(aliquot=aliquot, kind=kind, actor=actor, at=at or timezone.now(), **fields)


def _lock_sample(pk: int) -> Sample:
    return Sample.objects.select_for_update().get(pk=pk)


def _lock_tube(pk: int) -> Aliquot:
    # of=("self",): lock only the tube, not the box row joined in (which is also nullable).
    return Aliquot.objects.select_for_update(of=("self",)).select_related("box").get(pk=pk)


def _lock_box(box: StorageUnit | int) -> StorageUnit:
    pk = box.pk if isinstance(box, StorageUnit) else box
    try:
        locked = StorageUnit.objects.select_for_update().get(pk=pk)
    except StorageUnit.DoesNotExist:
        raise ValidationError({"box": "No such storage unit."}) from None
    if locked.kind != StorageKind.BOX:
        raise ValidationError(
            {
                "box": f"{locked.name} is a {locked.get_kind_display().lower()}, not a box; "
                "tubes go into boxes."
            }
        )
    if not locked.is_active:
        raise ValidationError({"box": f"Box {locked.name} is retired; choose another box."})
    return locked


def _refuse_if_gone(tube: Aliquot) -> None:
    if tube.status in _GONE:
        raise ValidationError(
            {
                "status": f"{tube.accession} is {tube.get_status_display().lower()}; "
                "nothing more can happen to it."
            }
        )


def _label(row: int, column: int) -> str:
    if 1 <= row <= 26 and column >= 1:
        return position_label(row, column)
    return f"row {row}, column {column}"


def _occupied(box: StorageUnit) -> set[tuple[int, int]]:
    return set(Aliquot.objects.filter(box=box).values_list("row", "column"))


def _check_well(box: StorageUnit, row: int, column: int) -> None:
    if not (1 <= row <= box.rows and 1 <= column <= box.columns):
        raise ValidationError(
            {
                "position": f"{_label(row, column)} is outside box {box.name}, which has rows "
                f"A–{position_label(box.rows, 1)[0]} and columns 1–{box.columns}."
            }
        )


def _occupied_message(box: StorageUnit, row: int, column: int, *, user) -> str | None:
    """Who sits in a well, in words the user may read (no accession from a foreign study)."""
    occupant = (
        Aliquot.objects.filter(box=box, row=row, column=column)
        .values("accession", "study_id", "status")
        .first()
    )
    if occupant is None:
        return None
    visible = (
        user is None or Study.objects.visible_to(user).filter(pk=occupant["study_id"]).exists()
    )
    who = occupant["accession"] if visible else "a tube of another study"
    reserved = (
        " (checked out; the well is kept for its return)"
        if occupant["status"] == AliquotStatus.CHECKED_OUT
        else ""
    )
    return f"{position_label(row, column)} in {box.name} is occupied by {who}{reserved}."


def _effective_temperature(box: StorageUnit | None) -> float | None:
    return box.effective_temperature_c() if box is not None else None


def _is_freezing(temperature_c: float | None) -> bool:
    return temperature_c is not None and temperature_c <= FROZEN_AT_OR_BELOW_C


def _end_time_out(tube: Aliquot, at: datetime) -> None:
    """Close an open check-out: add the time spent outside storage."""
    if tube.out_of_storage_since is not None:
        outside = max(0, int((at - tube.out_of_storage_since).total_seconds()))
        tube.time_out_of_storage_s += outside
        tube.out_of_storage_since = None


def _store_freeze_state(tube: Aliquot) -> None:
    kinds = list(tube.custody_events.order_by("at", "id").values_list("kind", flat=True))
    cycles, frozen = freeze_state(kinds)
    tube.freeze_thaw_count = tube.freeze_thaw_inherited + cycles
    tube.is_frozen = frozen


# --- Storage queries -------------------------------------------------------------------


def free_positions(box: StorageUnit, *, limit: int | None = None) -> list[Well]:
    """Empty wells in reading order (A1, A2, …, B1, …). A checked-out tube's well is not
    free: it is kept for the tube's return."""
    if box.kind != StorageKind.BOX:
        return []
    taken = _occupied(box)
    wells: list[Well] = []
    for r in range(1, (box.rows or 0) + 1):
        for c in range(1, (box.columns or 0) + 1):
            if (r, c) not in taken:
                wells.append(Well(r, c))
                if limit is not None and len(wells) >= limit:
                    return wells
    return wells


_OCCUPANCY_SQL = """
WITH RECURSIVE tree(root_id, id, depth) AS (
    SELECT id, id, 0 FROM samples_storageunit WHERE id = ANY(%s)
    UNION ALL
    SELECT tree.root_id, s.id, tree.depth + 1
    FROM samples_storageunit s JOIN tree ON s.parent_id = tree.id
    WHERE tree.depth < 32
)
SELECT tree.root_id,
       COUNT(*) FILTER (WHERE u.kind = 'box'),
       COALESCE(SUM(u.rows * u.columns) FILTER (WHERE u.kind = 'box'), 0),
       COALESCE(SUM(t.n), 0)
FROM tree
JOIN samples_storageunit u ON u.id = tree.id
LEFT JOIN LATERAL (
    SELECT COUNT(*) AS n FROM samples_aliquot a WHERE a.box_id = u.id
) t ON u.kind = 'box'
GROUP BY tree.root_id
"""


def occupancy(*, units: Iterable[StorageUnit | int]) -> dict[int, Occupancy]:
    """Capacity and occupied wells of each unit, counting every box below it (a box counts
    itself). One aggregate query for any number of units."""
    ids = sorted({u.pk if isinstance(u, StorageUnit) else int(u) for u in units})
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_OCCUPANCY_SQL, [ids])
        rows = cursor.fetchall()
    return {
        root: Occupancy(unit_id=root, boxes=boxes, capacity=int(capacity), occupied=int(occupied))
        for root, boxes, capacity, occupied in rows
    }


# --- Volumes and aliquoting -------------------------------------------------------------


def _take_volume(locked: Sample | Aliquot, volume_ml: Decimal, *, field: str) -> Decimal:
    """Check and subtract; the caller holds the row lock. Returns what is left."""
    if isinstance(locked, Aliquot):
        _refuse_if_gone(locked)
    elif locked.status in _SAMPLE_GONE:
        raise ValidationError(
            {"source": f"{locked.accession} is {locked.get_status_display().lower()}."}
        )
    remaining = locked.remaining_volume_ml
    if remaining is None:
        raise ValidationError(
            {"source": f"{locked.accession} has no recorded volume; record its volume first."}
        )
    if volume_ml > remaining:
        raise ValidationError(
            {
                field: f"Only {_ml(remaining)} left in {locked.accession}; "
                f"{_ml(volume_ml)} requested."
            }
        )
    locked.remaining_volume_ml = remaining - volume_ml
    locked.save(update_fields=["remaining_volume_ml", "updated_at"])
    return locked.remaining_volume_ml


def _lock_source(source: Sample | Aliquot) -> Sample | Aliquot:
    if isinstance(source, Sample):
        return _lock_sample(source.pk)
    if isinstance(source, Aliquot):
        return _lock_tube(source.pk)
    raise ValidationError({"source": "Split a sample or a tube."})


@_service
def withdraw_volume(
    source: Sample | Aliquot,
    volume_ml: Decimal,
    *,
    user=None,
    note: str = "",
    at: datetime | None = None,
) -> Sample | Aliquot:
    """Take ``volume_ml`` from a sample or tube; refuse if not enough is left.

    Two people withdrawing at once are serialised by the row lock: the second sees what the
    first left, so the volume never goes below zero.
    """
    volume = _as_volume(volume_ml, "volume_ml")
    at = _when(at)
    locked = _lock_source(source)
    _take_volume(locked, volume, field="volume_ml")
    if isinstance(locked, Aliquot):
        _event(locked, CustodyKind.WITHDRAWN, user=user, at=at, volume_ml=volume, note=note).save()
    return locked


def _positions_from(positions: Sequence[Any]) -> list[tuple[int, int]]:
    from .models.storage import parse_position

    wells = []
    for position in positions:
        if isinstance(position, str):
            try:
                wells.append(parse_position(position))
            except ValueError as exc:
                raise ValidationError({"positions": str(exc)}) from None
        else:
            try:
                row, column = position
                wells.append((int(row), int(column)))
            except (TypeError, ValueError):
                raise ValidationError(
                    {"positions": f"{position!r} is not a position like A1 or (1, 1)."}
                ) from None
    return wells


@_service
def split_into_aliquots(
    *,
    source: Sample | Aliquot,
    volumes_ml: Sequence[Decimal],
    user,
    container_type: str = ContainerType.CRYOVIAL_2ML,
    kind: str = AliquotKind.ALIQUOT,
    box: StorageUnit | None = None,
    positions: Sequence[tuple[int, int] | str] | None = None,
    notes: str = "",
    at: datetime | None = None,
) -> list[Aliquot]:
    """Turn part of a sample or tube into ``len(volumes_ml)`` new tubes.

    With a box, tubes go into ``positions`` ((row, column) pairs or labels like "B7") or, if
    none are given, the first free wells in reading order. All or nothing: a short volume, a
    full box or an occupied well leaves the source and the box untouched.
    """
    if not volumes_ml:
        raise ValidationError({"volumes_ml": "Give at least one aliquot volume."})
    if len(volumes_ml) > MAX_ALIQUOTS_PER_SPLIT:
        raise ValidationError(
            {"volumes_ml": f"At most {MAX_ALIQUOTS_PER_SPLIT:,} aliquots at once."}
        )
    volumes = [_as_volume(v, "volumes_ml") for v in volumes_ml]
    if container_type not in ContainerType.values:
        raise ValidationError({"container_type": f"Unknown container type {container_type!r}."})
    if kind not in AliquotKind.values:
        raise ValidationError({"kind": f"Unknown aliquot kind {kind!r}."})
    wanted = _positions_from(positions) if positions else []
    if wanted and box is None:
        raise ValidationError({"box": "Choose the box the positions are in."})
    if wanted and len(wanted) != len(volumes):
        raise ValidationError(
            {"positions": f"Give one position per aliquot ({len(volumes)}), or none."}
        )
    duplicates = sorted({_label(*w) for w in wanted if wanted.count(w) > 1})
    if duplicates:
        raise ValidationError({"positions": f"{', '.join(duplicates)} given more than once."})
    at = _when(at)

    locked = _lock_source(source)
    total = sum(volumes, Decimal(0))
    _take_volume(locked, total, field="volumes_ml")
    sample = locked if isinstance(locked, Sample) else locked.sample
    parent = locked if isinstance(locked, Aliquot) else None

    wells: list[Well] = []
    temperature = None
    if box is not None:
        box = _lock_box(box)
        if wanted:
            taken = _occupied(box)
            for row, column in wanted:
                _check_well(box, row, column)
                if (row, column) in taken:
                    raise ValidationError(
                        {"positions": _occupied_message(box, row, column, user=user)}
                    )
            wells = [Well(r, c) for r, c in wanted]
        else:
            wells = free_positions(box, limit=len(volumes))
            if len(wells) < len(volumes):
                raise ValidationError(
                    {
                        "box": f"Box {box.name} has {len(wells)} free "
                        f"position{'s' if len(wells) != 1 else ''}; {len(volumes)} needed."
                    }
                )
        temperature = _effective_temperature(box)
    frozen = _is_freezing(temperature)
    inherited = parent.freeze_thaw_count if parent is not None else 0

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
            freeze_thaw_count=inherited,
            freeze_thaw_inherited=inherited,
            notes=notes,
            created_by=user if getattr(user, "pk", None) is not None else None,
        )
        for i, (accession, volume) in enumerate(
            zip(next_accessions(len(volumes)), volumes, strict=True)
        )
    ]
    try:
        with transaction.atomic():
            Aliquot.objects.bulk_create(tubes)
    except IntegrityError as exc:  # pragma: no cover - the box lock makes this unreachable
        raise ValidationError(
            {"positions": "A chosen position was taken by someone else just now; try again."}
        ) from exc

    events = []
    for tube in tubes:
        events.append(
            _event(
                tube,
                CustodyKind.CREATED,
                user=user,
                at=at,
                volume_ml=tube.volume_ml,
                note=f"Split from {locked.accession}",
            )
        )
        if box is not None:
            events.append(
                _event(
                    tube,
                    CustodyKind.PLACED,
                    user=user,
                    at=at,
                    to_box=box,
                    to_position=tube.position,
                )
            )
            if frozen:
                events.append(
                    _event(tube, CustodyKind.FROZEN, user=user, at=at, temperature_c=temperature)
                )
    if parent is not None:
        names = ", ".join(t.accession for t in tubes[:20]) + (" …" if len(tubes) > 20 else "")
        events.append(
            _event(
                parent,
                CustodyKind.WITHDRAWN,
                user=user,
                at=at,
                volume_ml=total,
                note=f"Split into {len(tubes)} tube{'s' if len(tubes) != 1 else ''}: {names}",
            )
        )
    CustodyEvent.objects.bulk_create(events)
    return tubes


@dataclass(frozen=True)
class DerivedTube:
    """One new tube made from a parent's material, e.g. an EV preparation resuspended in a
    fresh volume. ``position``: a label like "B7" or (row, column); None with a box means the
    first free well."""

    volume_ml: Decimal
    container_type: str = ContainerType.CRYOVIAL_2ML
    box: StorageUnit | int | None = None
    position: tuple[int, int] | str | None = None
    notes: str = ""


@_service
def create_derived_tubes(
    *,
    parent: Aliquot,
    outputs: Sequence[DerivedTube],
    user,
    kind: str = AliquotKind.EV_PREPARATION,
    at: datetime | None = None,
) -> list[Aliquot]:
    """Make child tubes of ``parent`` whose volume is new (a resuspension, an eluate), so
    nothing is withdrawn from the parent: the caller withdraws what it used separately.

    Tubes go into their boxes at the given wells or the first free ones; all or nothing, as
    in split_into_aliquots. The study and root sample come from the parent.
    """
    if not outputs:
        raise ValidationError({"outputs": "Give at least one tube."})
    if len(outputs) > MAX_ALIQUOTS_PER_SPLIT:
        raise ValidationError({"outputs": f"At most {MAX_ALIQUOTS_PER_SPLIT:,} tubes at once."})
    if kind not in AliquotKind.values:
        raise ValidationError({"kind": f"Unknown aliquot kind {kind!r}."})
    volumes = [_as_volume(o.volume_ml, "volume_ml") for o in outputs]
    for output in outputs:
        if output.container_type not in ContainerType.values:
            raise ValidationError(
                {"container_type": f"Unknown container type {output.container_type!r}."}
            )
        if output.position is not None and output.box is None:
            raise ValidationError({"box": "Choose the box the position is in."})
    wanted = [_positions_from([o.position])[0] if o.position is not None else None for o in outputs]
    at = _when(at)

    # Lock order as everywhere: the tube, then its boxes (by id, so two callers agree).
    locked = _lock_tube(parent.pk)
    _refuse_if_gone(locked)
    box_ids = sorted(
        {
            o.box.pk if isinstance(o.box, StorageUnit) else int(o.box)
            for o in outputs
            if o.box is not None
        }
    )
    boxes = {pk: _lock_box(pk) for pk in box_ids}

    wells: list[tuple[StorageUnit | None, int | None, int | None]] = []
    by_box: dict[int, list[int]] = {}
    for i, output in enumerate(outputs):
        if output.box is None:
            wells.append((None, None, None))
            continue
        pk = output.box.pk if isinstance(output.box, StorageUnit) else int(output.box)
        by_box.setdefault(pk, []).append(i)
        wells.append((boxes[pk], None, None))
    for pk, indexes in by_box.items():
        box = boxes[pk]
        taken = _occupied(box)
        chosen = [wanted[i] for i in indexes if wanted[i] is not None]
        duplicates = sorted({_label(*w) for w in chosen if chosen.count(w) > 1})
        if duplicates:
            raise ValidationError(
                {"position": f"{', '.join(duplicates)} in {box.name} given more than once."}
            )
        for row, column in chosen:
            _check_well(box, row, column)
            if (row, column) in taken:
                raise ValidationError({"position": _occupied_message(box, row, column, user=user)})
        chosen_set = set(chosen)
        free = [w for w in free_positions(box) if (w.row, w.column) not in chosen_set]
        unplaced = sum(1 for i in indexes if wanted[i] is None)
        if len(free) < unplaced:
            raise ValidationError(
                {
                    "box": f"Box {box.name} has {len(free)} free "
                    f"position{'s' if len(free) != 1 else ''}; {unplaced} needed."
                }
            )
        free_wells = iter(free)
        for i in indexes:
            if wanted[i] is None:
                well = next(free_wells)
                wells[i] = (box, well.row, well.column)
            else:
                wells[i] = (box, *wanted[i])

    inherited = locked.freeze_thaw_count
    temperatures = {pk: _effective_temperature(box) for pk, box in boxes.items()}
    tubes = [
        Aliquot(
            accession=accession,
            study_id=locked.study_id,
            sample_id=locked.sample_id,
            parent=locked,
            kind=kind,
            container_type=output.container_type,
            volume_ml=volume,
            remaining_volume_ml=volume,
            box=box,
            row=row,
            column=column,
            is_frozen=box is not None and _is_freezing(temperatures[box.pk]),
            freeze_thaw_count=inherited,
            freeze_thaw_inherited=inherited,
            notes=output.notes,
            created_by=user if getattr(user, "pk", None) is not None else None,
        )
        for accession, output, volume, (box, row, column) in zip(
            next_accessions(len(outputs)), outputs, volumes, wells, strict=True
        )
    ]
    try:
        with transaction.atomic():
            Aliquot.objects.bulk_create(tubes)
    except IntegrityError as exc:  # pragma: no cover - the box locks make this unreachable
        raise ValidationError(
            {"position": "A chosen position was taken by someone else just now; try again."}
        ) from exc

    events = []
    for tube in tubes:
        note = f"Derived from {locked.accession}"
        if tube.notes:
            note = f"{note}: {tube.notes}"
        events.append(
            _event(tube, CustodyKind.CREATED, user=user, at=at, volume_ml=tube.volume_ml, note=note)
        )
        if tube.box is not None:
            temperature = temperatures[tube.box.pk]
            events.append(
                _event(
                    tube,
                    CustodyKind.PLACED,
                    user=user,
                    at=at,
                    to_box=tube.box,
                    to_position=tube.position,
                    temperature_c=temperature,
                )
            )
            if tube.is_frozen:
                events.append(
                    _event(tube, CustodyKind.FROZEN, user=user, at=at, temperature_c=temperature)
                )
    CustodyEvent.objects.bulk_create(events)
    return tubes


def deletion_blocker(aliquot: Aliquot) -> str | None:
    """Why a tube may not be deleted, or None. Only a tube created by mistake (no children,
    nothing recorded since it was made) can be deleted; anything else is discarded."""
    if Aliquot.objects.filter(parent_id=aliquot.pk).exists():
        return f"{aliquot.accession} has tubes split from it; discard it instead of deleting."
    events = list(CustodyEvent.objects.filter(aliquot_id=aliquot.pk).values_list("kind", "at"))
    created = [at for kind, at in events if kind == CustodyKind.CREATED]
    if any(kind not in _CREATION_KINDS or (created and at != created[0]) for kind, at in events):
        return (
            f"{aliquot.accession} has a custody history beyond its creation; "
            "discard it instead of deleting."
        )
    return None


@_service
def delete_aliquot(*, aliquot: Aliquot, user) -> None:
    """Undo a tube made by mistake: its volume goes back to where it came from."""
    # Lock order: the source first, as split_into_aliquots does.
    source: Sample | Aliquot = (
        _lock_tube(aliquot.parent_id) if aliquot.parent_id else _lock_sample(aliquot.sample_id)
    )
    tube = _lock_tube(aliquot.pk)
    blocker = deletion_blocker(tube)
    if blocker:
        raise TubeInUse(blocker)
    gone = source.status in (_GONE if isinstance(source, Aliquot) else _SAMPLE_GONE)
    if gone or source.remaining_volume_ml is None:
        raise TubeInUse(
            f"{source.accession} cannot take the volume back; discard {tube.accession} instead."
        )
    source.remaining_volume_ml = min(source.remaining_volume_ml + tube.volume_ml, source.volume_ml)
    source.save(update_fields=["remaining_volume_ml", "updated_at"])
    if isinstance(source, Aliquot):
        _event(
            source,
            CustodyKind.RETURNED,
            user=user,
            volume_ml=tube.volume_ml,
            note=f"{tube.accession} deleted (made by mistake)",
        ).save()
    # The creation events go with the tube; the deletion itself stays in the audit trail.
    with pgtrigger.ignore("samples.CustodyEvent:custody_append_only"):
        CustodyEvent.objects.filter(aliquot_id=tube.pk).delete()
    tube.delete()


# --- Placing and moving ----------------------------------------------------------------


@_service
def place_aliquot(
    *,
    aliquot: Aliquot,
    box: StorageUnit | int,
    row: int | None = None,
    column: int | None = None,
    user,
    note: str = "",
    at: datetime | None = None,
) -> Aliquot:
    """Put a tube into a well, or move it there from wherever it is. Without a row and
    column the tube goes into the box's first free well (scanning tubes into a box).

    Placing into a freezer box (set temperature at or below −18 °C, inherited from the
    units above it) records the tube as frozen if it was not.
    """
    if (row is None) != (column is None):
        raise ValidationError({"position": "Give both the row and the column."})
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    _refuse_if_gone(tube)
    if tube.status == AliquotStatus.CHECKED_OUT:
        raise ValidationError(
            {"status": f"{tube.accession} is checked out; check it in before moving it."}
        )
    box = _lock_box(box)
    if row is None:
        wells = free_positions(box, limit=1)
        if not wells:
            raise ValidationError({"box": f"Box {box.name} is full."})
        row, column = wells[0].row, wells[0].column
    _check_well(box, row, column)
    if tube.box_id == box.pk and (tube.row, tube.column) == (row, column):
        return tube
    refusal = _occupied_message(box, row, column, user=user)
    if refusal:
        raise ValidationError({"position": refusal})
    from_box, from_position = tube.box, tube.position
    tube.box, tube.row, tube.column = box, row, column
    temperature = _effective_temperature(box)
    events = [
        _event(
            tube,
            CustodyKind.MOVED if from_box is not None else CustodyKind.PLACED,
            user=user,
            at=at,
            from_box=from_box,
            from_position=from_position,
            to_box=box,
            to_position=tube.position,
            temperature_c=temperature,
            note=note,
        )
    ]
    fields = ["box", "row", "column", "updated_at"]
    if not tube.is_frozen and _is_freezing(temperature):
        tube.is_frozen = True
        fields.append("is_frozen")
        events.append(_event(tube, CustodyKind.FROZEN, user=user, at=at, temperature_c=temperature))
    try:
        with transaction.atomic():
            tube.save(update_fields=fields)
    except IntegrityError as exc:  # pragma: no cover - the box lock makes this unreachable
        raise ValidationError(
            {"position": f"{tube.position} in {box.name} was just taken by someone else."}
        ) from exc
    CustodyEvent.objects.bulk_create(events)
    return tube


move_aliquot = place_aliquot


@_service
def remove_from_storage(
    *, aliquot: Aliquot, user, note: str = "", at: datetime | None = None
) -> Aliquot:
    """Take a tube out of its box for good; frees the well (also a checked-out tube's)."""
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    if tube.box_id is None:
        return tube
    event = _event(
        tube,
        CustodyKind.MOVED,
        user=user,
        at=at,
        from_box=tube.box,
        from_position=tube.position,
        note=note or "Removed from storage",
    )
    tube.box, tube.row, tube.column = None, None, None
    tube.save(update_fields=["box", "row", "column", "updated_at"])
    event.save()
    return tube


# --- Check-out and check-in --------------------------------------------------------------


@_service
def check_out(
    *,
    aliquot: Aliquot,
    user,
    note: str = "",
    at: datetime | None = None,
    to_location: str = "",
) -> Aliquot:
    """Take a tube out for work. Its well stays reserved for its return."""
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    _refuse_if_gone(tube)
    if tube.status == AliquotStatus.CHECKED_OUT:
        raise ValidationError({"status": f"{tube.accession} is already checked out."})
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
        to_location=to_location,
        note=note,
    ).save()
    return tube


@_service
def check_in(
    *,
    aliquot: Aliquot,
    user,
    note: str = "",
    at: datetime | None = None,
    temperature_c: float | None = None,
) -> Aliquot:
    """Return a checked-out tube to its reserved well and add the time it spent outside.
    Back in a freezer box it is frozen again (a FROZEN event if it had been thawed)."""
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    if tube.status != AliquotStatus.CHECKED_OUT:
        raise ValidationError({"status": f"{tube.accession} is not checked out."})
    if tube.out_of_storage_since and at < tube.out_of_storage_since:
        raise ValidationError({"at": "Check-in cannot be before the check-out."})
    _end_time_out(tube, at)
    tube.status = AliquotStatus.AVAILABLE
    box_temperature = _effective_temperature(tube.box)
    events = [
        _event(
            tube,
            CustodyKind.CHECKED_IN,
            user=user,
            at=at,
            to_box=tube.box,
            to_position=tube.position,
            temperature_c=temperature_c if temperature_c is not None else box_temperature,
            note=note,
        )
    ]
    fields = ["status", "time_out_of_storage_s", "out_of_storage_since", "updated_at"]
    if not tube.is_frozen and _is_freezing(box_temperature):
        tube.is_frozen = True
        fields.append("is_frozen")
        events.append(
            _event(tube, CustodyKind.FROZEN, user=user, at=at, temperature_c=box_temperature)
        )
    tube.save(update_fields=fields)
    CustodyEvent.objects.bulk_create(events)
    return tube


# --- Freeze–thaw ------------------------------------------------------------------------


def _record_temperature_change(
    aliquot: Aliquot,
    kind: str,
    *,
    user,
    temperature_c: float | None,
    note: str,
    at: datetime | None,
) -> Aliquot:
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    _refuse_if_gone(tube)
    _event(tube, kind, user=user, at=at, temperature_c=temperature_c, note=note).save()
    # Derived from the whole sequence, so a back-dated event lands in its right place.
    _store_freeze_state(tube)
    tube.save(update_fields=["freeze_thaw_count", "is_frozen", "updated_at"])
    return tube


@_service
def record_thaw(
    *,
    aliquot: Aliquot,
    user,
    temperature_c: float | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Aliquot:
    """A thaw after a freeze adds one freeze–thaw cycle; a thaw without one adds none."""
    return _record_temperature_change(
        aliquot, CustodyKind.THAWED, user=user, temperature_c=temperature_c, note=note, at=at
    )


@_service
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


@_service
def recompute_freeze_thaw(*, aliquot: Aliquot, user=None) -> Aliquot:
    """Derive the count and frozen state again from the custody events (repairs a stale
    stored value; the events are the truth)."""
    tube = _lock_tube(aliquot.pk)
    before = (tube.freeze_thaw_count, tube.is_frozen)
    _store_freeze_state(tube)
    if (tube.freeze_thaw_count, tube.is_frozen) != before:
        tube.save(update_fields=["freeze_thaw_count", "is_frozen", "updated_at"])
    return tube


# --- Leaving and coming back --------------------------------------------------------------


def _leave_storage(
    tube: Aliquot, kind: str, status: str, *, user, at: datetime, **event_fields: Any
) -> Aliquot:
    """End of a tube's time in our storage: the well is freed and an open check-out closed."""
    _refuse_if_gone(tube)
    event = _event(
        tube, kind, user=user, at=at, from_box=tube.box, from_position=tube.position, **event_fields
    )
    _end_time_out(tube, at)
    tube.status = status
    tube.box, tube.row, tube.column = None, None, None
    fields = [
        "status",
        "box",
        "row",
        "column",
        "time_out_of_storage_s",
        "out_of_storage_since",
        "updated_at",
    ]
    if status == AliquotStatus.CONSUMED:
        tube.remaining_volume_ml = Decimal(0)
        fields.append("remaining_volume_ml")
    tube.save(update_fields=fields)
    event.save()
    return tube


@_service
def ship(
    *,
    aliquot: Aliquot,
    user,
    to_location: str,
    temperature_c: float | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Aliquot:
    """Send a tube to another lab or site; its well is freed."""
    if not (to_location or "").strip():
        raise ValidationError({"to_location": "Say where the tube is shipped to."})
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    return _leave_storage(
        tube,
        CustodyKind.SHIPPED,
        AliquotStatus.SHIPPED,
        user=user,
        at=at,
        to_location=to_location.strip(),
        temperature_c=temperature_c,
        note=note,
    )


@_service
def receive(
    *,
    aliquot: Aliquot,
    user,
    from_location: str = "",
    temperature_c: float | None = None,
    note: str = "",
    at: datetime | None = None,
    box: StorageUnit | int | None = None,
    row: int | None = None,
    column: int | None = None,
) -> Aliquot:
    """A shipped tube arrives back; with a box it is placed there straight away."""
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    if tube.status != AliquotStatus.SHIPPED:
        raise ValidationError({"status": f"{tube.accession} was not shipped; nothing to receive."})
    tube.status = AliquotStatus.AVAILABLE
    tube.save(update_fields=["status", "updated_at"])
    _event(
        tube,
        CustodyKind.RECEIVED,
        user=user,
        at=at,
        from_location=(from_location or "").strip(),
        temperature_c=temperature_c,
        note=note,
    ).save()
    if box is not None:
        tube = place_aliquot(aliquot=tube, box=box, row=row, column=column, user=user, at=at)
    return tube


@_service
def consume(*, aliquot: Aliquot, user, note: str = "", at: datetime | None = None) -> Aliquot:
    """The tube was used up; its well is freed and nothing is left in it."""
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    return _leave_storage(
        tube,
        CustodyKind.CONSUMED,
        AliquotStatus.CONSUMED,
        user=user,
        at=at,
        volume_ml=tube.remaining_volume_ml,
        note=note,
    )


@_service
def discard(*, aliquot: Aliquot, user, note: str = "", at: datetime | None = None) -> Aliquot:
    """The tube was thrown away (or lost); its well is freed."""
    at = _when(at)
    tube = _lock_tube(aliquot.pk)
    return _leave_storage(
        tube, CustodyKind.DISCARDED, AliquotStatus.DISCARDED, user=user, at=at, note=note
    )


def retire_aliquot(*, aliquot: Aliquot, user, status: str, note: str = "") -> Aliquot:
    """Mark a tube consumed, discarded or shipped (kept for callers of the first draft;
    prefer consume / discard / ship)."""
    if status == AliquotStatus.CONSUMED:
        return consume(aliquot=aliquot, user=user, note=note)
    if status == AliquotStatus.DISCARDED:
        return discard(aliquot=aliquot, user=user, note=note)
    if status == AliquotStatus.SHIPPED:
        return ship(aliquot=aliquot, user=user, to_location=note or "unspecified", note=note)
    raise ValidationError({"status": "Use consumed, discarded or shipped."})
