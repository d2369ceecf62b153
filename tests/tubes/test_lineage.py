"""Lineage: ancestors and descendants with one recursive query each, scoped to the user."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from samples.lineage import ancestors_of, descendants_of, lineage_of

pytestmark = pytest.mark.django_db


def chain(sample, make_tubes, depth: int):
    """sample → t1 → t2 → … → t<depth>, each with a sibling that has no children."""
    tubes, source, volume = [], sample, sample.remaining_volume_ml
    for _ in range(depth):
        volume = (volume / 2).quantize(Decimal("0.0001"))
        main, _sibling = make_tubes(source, [str(volume), "0.0001"])
        tubes.append(main)
        source = main
    return tubes


def queries(call) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, len(captured)


def test_ancestors_in_order_with_one_query(make_sample, make_tubes, members):
    sample = make_sample(volume_ml=Decimal("10"))
    tubes = chain(sample, make_tubes, 6)
    found, count = queries(lambda: ancestors_of(tubes[-1], user=members["viewer"]))
    assert count == 1
    assert [n.accession for n in found] == [sample.accession] + [t.accession for t in tubes[:-1]]
    assert found[0].type == "sample" and found[0].kind == "plasma"
    assert ancestors_of(sample, user=members["viewer"]) == []


def test_query_count_does_not_grow_with_depth(make_sample, make_tubes, members):
    shallow_sample = make_sample(volume_ml=Decimal("10"))
    deep_sample = make_sample(volume_ml=Decimal("10"))
    shallow = chain(shallow_sample, make_tubes, 2)
    deep = chain(deep_sample, make_tubes, 12)
    user = members["viewer"]
    for obj_shallow, obj_deep in ((shallow[-1], deep[-1]), (shallow[0], deep[0])):
        _, few = queries(lambda o=obj_shallow: lineage_of(o, user=user))
        _, many = queries(lambda o=obj_deep: lineage_of(o, user=user))
        assert few == many == 2
    _, count = queries(lambda: descendants_of(deep_sample, user=user))
    assert count == 1


def test_descendants_form_a_tree(make_sample, make_tubes, members):
    sample = make_sample(volume_ml=Decimal("10"))
    tubes = chain(sample, make_tubes, 4)
    forest = descendants_of(tubes[0], user=members["viewer"])
    # tubes[0] has one child in the chain and one sibling-of-chain child.
    assert len(forest) == 2
    main = next(n for n in forest if n.id == tubes[1].pk)
    assert [c.id for c in main.children if c.id == tubes[2].pk] == [tubes[2].pk]
    depth, node = 1, main
    while node.children:
        node = next((c for c in node.children if c.children), node.children[0])
        depth += 1
    assert depth == 3
    from_sample = descendants_of(sample, user=members["viewer"])
    assert len(from_sample) == 2  # the first split made two tubes straight from the sample
    total = 0
    stack = list(from_sample)
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node.children)
    assert total == 8


def test_lineage_positions_and_tree(sample, box, make_tubes, members):
    parent = make_tubes(sample, ["1.0"], box=box, positions=["C3"])[0]
    child = make_tubes(parent, ["0.5"])[0]
    lineage = lineage_of(parent, user=members["viewer"])
    assert (lineage.node.box_name, lineage.node.position) == ("Box 1", "C3")
    assert [d.id for d in lineage.descendants] == [child.pk]
    tree = lineage.tree()
    assert tree.type == "sample" and tree.children[0].id == parent.pk
    assert tree.children[0].children[0].id == child.pk
    data = lineage.as_dict()
    assert data["node"]["children"] == [] and data["tree"]["accession"] == sample.accession


def test_lineage_is_scoped_to_the_user(sample, make_tubes, members):
    parent = make_tubes(sample, ["1.0"])[0]
    make_tubes(parent, ["0.5"])
    for user in (members["outsider"], AnonymousUser()):
        assert ancestors_of(parent, user=user) == []
        assert descendants_of(parent, user=user) == []
        assert descendants_of(sample, user=user) == []
    assert len(descendants_of(parent, user=members["superuser"])) == 1
    assert len(ancestors_of(parent, user=members["superuser"])) == 1
