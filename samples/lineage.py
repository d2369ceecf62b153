"""Where a tube came from and what was made from it.

A sample is the root of its lineage; aliquots point at their parent tube (or at nothing,
when split straight from the sample) and all carry the root sample. Ancestors and
descendants are each read with one recursive query, however deep the tree, and only tubes
of studies the user can see are returned (a tube's study is copied from its root sample, so
in practice the whole tree is visible or none of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection

from .models import Aliquot, Sample, Study, position_label

# A parent is fixed when a tube is made, so cycles cannot arise; the bound only keeps a
# corrupted row from turning the query into an endless loop.
_MAX_DEPTH = 10_000

_COLUMNS = """
    a.id, a.accession, a.kind, a.status, a.volume_ml, a.remaining_volume_ml, a.parent_id,
    a.box_id, b.name, a."row", a."column", a.freeze_thaw_count
"""


@dataclass
class LineageNode:
    type: str  # "sample" or "aliquot"
    id: int
    accession: str
    kind: str  # the fluid type of a sample, the aliquot kind of a tube
    status: str
    volume_ml: Decimal | None
    remaining_volume_ml: Decimal | None
    parent_id: int | None = None  # parent tube; None when made from the sample itself
    box_id: int | None = None
    box_name: str = ""
    position: str = ""
    freeze_thaw_count: int | None = None
    children: list[LineageNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "accession": self.accession,
            "kind": self.kind,
            "status": self.status,
            "volume_ml": self.volume_ml,
            "remaining_volume_ml": self.remaining_volume_ml,
            "parent": self.parent_id,
            "box": self.box_id,
            "box_name": self.box_name,
            "position": self.position,
            "freeze_thaw_count": self.freeze_thaw_count,
            "children": [child.as_dict() for child in self.children],
        }


@dataclass
class Lineage:
    node: LineageNode
    ancestors: list[LineageNode]  # root sample first, the direct parent last
    descendants: list[LineageNode]  # the node's children, each with its own children

    def tree(self) -> LineageNode:
        """One nested tree from the root sample: the ancestor chain down to the node, and
        everything made from the node below it."""
        chain = [*(_leaf(a) for a in self.ancestors), _leaf(self.node)]
        chain[-1].children = self.descendants
        for upper, lower in pairwise(chain):
            upper.children = [lower]
        return chain[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": _leaf(self.node).as_dict(),
            "ancestors": [_leaf(a).as_dict() for a in self.ancestors],
            "descendants": [d.as_dict() for d in self.descendants],
            "tree": self.tree().as_dict(),
        }


def _leaf(node: LineageNode) -> LineageNode:
    return LineageNode(**{**node.__dict__, "children": []})


def _visible_studies(user) -> tuple[str, list[Any]] | None:
    """SQL for the ids of the studies ``user`` sees (``""`` for all); None for none."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return "", []
    try:
        sql, params = Study.objects.visible_to(user).values("id").query.sql_with_params()
    except EmptyResultSet:
        return None
    return f"AND a.study_id IN ({sql})", list(params)


def _tube(row: tuple) -> LineageNode:
    (pk, accession, kind, status, volume, remaining, parent_id, box_id, box_name, r, c, ft) = row
    return LineageNode(
        type="aliquot",
        id=pk,
        accession=accession,
        kind=kind,
        status=status,
        volume_ml=volume,
        remaining_volume_ml=remaining,
        parent_id=parent_id,
        box_id=box_id,
        box_name=box_name or "",
        position=position_label(r, c) if box_id is not None else "",
        freeze_thaw_count=ft,
    )


def _sample_node(sample: Sample) -> LineageNode:
    return LineageNode(
        type="sample",
        id=sample.pk,
        accession=sample.accession,
        kind=sample.fluid_type,
        status=sample.status,
        volume_ml=sample.volume_ml,
        remaining_volume_ml=sample.remaining_volume_ml,
    )


def ancestors_of(obj: Sample | Aliquot, *, user) -> list[LineageNode]:
    """Root sample first, then each tube down to the direct parent. One query."""
    return _ancestors_with_self(obj, user=user)[0]


def _ancestors_with_self(
    obj: Sample | Aliquot, *, user
) -> tuple[list[LineageNode], LineageNode | None]:
    if isinstance(obj, Sample):
        return [], _sample_node(obj)
    scope = _visible_studies(user)
    if scope is None:
        return [], None
    clause, params = scope
    sample_clause = clause.replace("a.study_id", "s.study_id")
    sql = f"""
        WITH RECURSIVE up(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM samples_aliquot WHERE id = %s
            UNION ALL
            SELECT p.id, p.parent_id, up.depth + 1
            FROM samples_aliquot p JOIN up ON p.id = up.parent_id
            WHERE up.depth < {_MAX_DEPTH}
        )
        SELECT * FROM (
            SELECT 'aliquot' AS type, up.depth, {_COLUMNS}
            FROM up
            JOIN samples_aliquot a ON a.id = up.id
            LEFT JOIN samples_storageunit b ON b.id = a.box_id
            WHERE TRUE {clause}
            UNION ALL
            SELECT 'sample', {_MAX_DEPTH + 1}, s.id, s.accession, s.fluid_type, s.status,
                   s.volume_ml, s.remaining_volume_ml, NULL, NULL, NULL, NULL, NULL, NULL
            FROM samples_sample s
            WHERE s.id = (SELECT sample_id FROM samples_aliquot WHERE id = %s) {sample_clause}
        ) lineage
        ORDER BY depth DESC
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [obj.pk, *params, obj.pk, *params])
        rows = cursor.fetchall()
    chain: list[LineageNode] = []
    node = None
    for row in rows:
        kind, depth, *values = row
        if kind == "sample":
            pk, accession, fluid, status, volume, remaining = values[:6]
            chain.append(
                LineageNode(
                    type="sample",
                    id=pk,
                    accession=accession,
                    kind=fluid,
                    status=status,
                    volume_ml=volume,
                    remaining_volume_ml=remaining,
                )
            )
        elif depth == 0:
            node = _tube(tuple(values))
        else:
            chain.append(_tube(tuple(values)))
    return chain, node


def descendants_of(obj: Sample | Aliquot, *, user) -> list[LineageNode]:
    """The tubes made from ``obj`` as a forest (each node's ``children`` filled). One query."""
    scope = _visible_studies(user)
    if scope is None:
        return []
    clause, params = scope
    if isinstance(obj, Sample):
        # Every tube carries its root sample: no recursion needed.
        sql = f"""
            SELECT {_COLUMNS}
            FROM samples_aliquot a LEFT JOIN samples_storageunit b ON b.id = a.box_id
            WHERE a.sample_id = %s {clause}
            ORDER BY a.id
        """
    else:
        sql = f"""
            WITH RECURSIVE down(id, depth) AS (
                SELECT id, 1 FROM samples_aliquot WHERE parent_id = %s
                UNION ALL
                SELECT c.id, down.depth + 1
                FROM samples_aliquot c JOIN down ON c.parent_id = down.id
                WHERE down.depth < {_MAX_DEPTH}
            )
            SELECT {_COLUMNS}
            FROM down
            JOIN samples_aliquot a ON a.id = down.id
            LEFT JOIN samples_storageunit b ON b.id = a.box_id
            WHERE TRUE {clause}
            ORDER BY a.id
        """
    with connection.cursor() as cursor:
        cursor.execute(sql, [obj.pk, *params])
        nodes = [_tube(row) for row in cursor.fetchall()]
    by_id = {node.id: node for node in nodes}
    top_parent = obj.pk if isinstance(obj, Aliquot) else None
    roots: list[LineageNode] = []
    for node in nodes:
        parent = by_id.get(node.parent_id) if node.parent_id != top_parent else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def lineage_of(obj: Sample | Aliquot, *, user) -> Lineage:
    """Ancestors and descendants of a sample or tube: two queries in all."""
    ancestors, node = _ancestors_with_self(obj, user=user)
    if node is None:  # the caller could not see the tube itself
        return Lineage(node=_fallback_node(obj), ancestors=[], descendants=[])
    return Lineage(node=node, ancestors=ancestors, descendants=descendants_of(obj, user=user))


def _fallback_node(obj: Sample | Aliquot) -> LineageNode:
    if isinstance(obj, Sample):
        return _sample_node(obj)
    return LineageNode(
        type="aliquot",
        id=obj.pk,
        accession=obj.accession,
        kind=obj.kind,
        status=obj.status,
        volume_ml=obj.volume_ml,
        remaining_volume_ml=obj.remaining_volume_ml,
        parent_id=obj.parent_id,
    )
