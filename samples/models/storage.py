"""Where tubes are: a tree of storage units (site → room → freezer → shelf/rack → box)."""

from __future__ import annotations

import string

import pghistory
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.urls import reverse

from ..choices import StorageKind

# Which kinds may sit directly inside which: keeps the tree physically meaningful.
ALLOWED_CHILDREN: dict[str, set[str]] = {
    StorageKind.SITE: {StorageKind.ROOM, StorageKind.FREEZER},
    StorageKind.ROOM: {StorageKind.FREEZER, StorageKind.SHELF, StorageKind.RACK, StorageKind.BOX},
    StorageKind.FREEZER: {StorageKind.SHELF, StorageKind.RACK, StorageKind.BOX},
    StorageKind.SHELF: {StorageKind.RACK, StorageKind.BOX},
    StorageKind.RACK: {StorageKind.BOX},
    StorageKind.BOX: set(),
}
MAX_ROWS = 26
MAX_COLUMNS = 30


def row_label(row: int) -> str:
    """1 → 'A', 2 → 'B', … (boxes have at most 26 rows)."""
    return string.ascii_uppercase[row - 1]


def position_label(row: int, column: int) -> str:
    return f"{row_label(row)}{column}"


def parse_position(text: str) -> tuple[int, int]:
    """'B7' / 'b07' → (2, 7). Raises ValueError with a readable message."""
    cleaned = text.strip().upper()
    if len(cleaned) < 2 or cleaned[0] not in string.ascii_uppercase or not cleaned[1:].isdecimal():
        raise ValueError(f"{text!r} is not a position like A1 or H12.")
    return string.ascii_uppercase.index(cleaned[0]) + 1, int(cleaned[1:])


class StorageUnitQuerySet(models.QuerySet):
    def boxes(self) -> StorageUnitQuerySet:
        return self.filter(kind=StorageKind.BOX)


@pghistory.track(model_name="StorageUnitHistory")
class StorageUnit(models.Model):
    """A node in the storage tree. Only boxes hold tubes, at (row, column) positions.

    Storage is shared by the whole lab; what a user may see of the tubes inside is still
    limited to their studies.
    """

    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    kind = models.CharField(max_length=16, choices=StorageKind.choices)
    name = models.CharField(max_length=100)
    barcode = models.CharField(max_length=40, unique=True, null=True, blank=True)
    set_temperature_c = models.FloatField("set temperature (°C)", null=True, blank=True)
    rows = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_ROWS)]
    )
    columns = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_COLUMNS)]
    )
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StorageUnitQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"],
                name="samples_storageunit_unique_parent_name",
                violation_error_message="Another unit here already has this name.",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="box", rows__isnull=False, columns__isnull=False)
                    | (~models.Q(kind="box") & models.Q(rows__isnull=True, columns__isnull=True))
                ),
                name="samples_storageunit_grid_only_on_boxes",
                violation_error_message="Boxes need rows and columns; other units have none.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("samples:storage-detail", args=[self.pk])

    @property
    def is_box(self) -> bool:
        return self.kind == StorageKind.BOX

    @property
    def capacity(self) -> int:
        return (self.rows or 0) * (self.columns or 0)

    def clean(self) -> None:
        errors = {}
        if self.parent_id is not None:
            parent = self.parent
            if self.kind not in ALLOWED_CHILDREN.get(parent.kind, set()):
                errors["kind"] = (
                    f"A {self.get_kind_display().lower()} cannot be placed inside a {parent.get_kind_display().lower()}."
                )
            if self.pk and self.pk in {u.pk for u in parent.ancestors(include_self=True)}:
                errors["parent"] = "A unit cannot be moved inside itself."
        elif self.kind not in {StorageKind.SITE, StorageKind.ROOM, StorageKind.FREEZER}:
            errors["parent"] = "Shelves, racks and boxes must be inside another unit."
        if self.kind == StorageKind.BOX:
            if not self.rows or not self.columns:
                errors["rows"] = "A box needs its rows and columns (e.g. 9 × 9, 10 × 10, 8 × 12)."
        elif self.rows or self.columns:
            errors["rows"] = "Only boxes have rows and columns."
        if self.set_temperature_c is not None and not -200 <= self.set_temperature_c <= 40:
            errors["set_temperature_c"] = "Set temperature must be between -200 and 40 °C."
        if errors:
            raise ValidationError(errors)

    def ancestors(self, *, include_self: bool = False) -> list[StorageUnit]:
        """Root first. One recursive query, not one per level."""
        if self.pk is None:
            return [self] if include_self else []
        chain = list(
            StorageUnit.objects.raw(
                """
                WITH RECURSIVE up(id, parent_id, depth) AS (
                    SELECT id, parent_id, 0 FROM samples_storageunit WHERE id = %s
                    UNION ALL
                    SELECT s.id, s.parent_id, up.depth + 1
                    FROM samples_storageunit s JOIN up ON s.id = up.parent_id
                )
                SELECT s.* FROM samples_storageunit s JOIN up ON up.id = s.id
                ORDER BY up.depth DESC
                """,
                [self.pk],
            )
        )
        return chain if include_self else chain[:-1]

    def path(self) -> str:
        return " › ".join(u.name for u in self.ancestors(include_self=True))

    def effective_temperature_c(self) -> float | None:
        for unit in reversed(self.ancestors(include_self=True)):
            if unit.set_temperature_c is not None:
                return unit.set_temperature_c
        return None

    def descendant_ids(self) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH RECURSIVE down(id) AS (
                    SELECT id FROM samples_storageunit WHERE id = %s
                    UNION ALL
                    SELECT s.id FROM samples_storageunit s JOIN down ON s.parent_id = down.id
                )
                SELECT id FROM down
                """,
                [self.pk],
            )
            return [row[0] for row in cursor.fetchall()]
