"""samples.services.create_derived_tubes: children without withdrawal, placed like splits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from samples.choices import AliquotKind, CustodyKind
from samples.models import Aliquot
from samples.services import DerivedTube, create_derived_tubes, discard


def test_derived_tubes_do_not_touch_the_parent_volume(input_tube, members, box):
    tubes = create_derived_tubes(
        parent=input_tube,
        outputs=[
            DerivedTube(volume_ml=Decimal("0.2"), box=box, position="A2"),
            DerivedTube(volume_ml=Decimal("0.1"), box=box, notes="SEC F8"),
            DerivedTube(volume_ml=Decimal("0.3")),
        ],
        user=members["editor"],
    )
    input_tube.refresh_from_db()
    assert input_tube.remaining_volume_ml == Decimal("4.0")
    assert [t.position for t in tubes] == ["A2", "A1", ""]
    assert all(t.parent_id == input_tube.pk and t.kind == AliquotKind.EV_PREPARATION for t in tubes)
    assert all(t.accession.startswith("EXO-") for t in tubes)
    assert tubes[1].custody_events.get(kind=CustodyKind.CREATED).note == (
        f"Derived from {input_tube.accession}: SEC F8"
    )
    assert not tubes[2].custody_events.exclude(kind=CustodyKind.CREATED).exists()


def test_occupied_or_duplicate_wells_refuse_everything(input_tube, members, box):
    create_derived_tubes(
        parent=input_tube,
        outputs=[DerivedTube(volume_ml=1, box=box, position="A1")],
        user=members["editor"],
    )
    before = Aliquot.objects.count()
    with pytest.raises(ValidationError, match="A1 in EV box is occupied"):
        create_derived_tubes(
            parent=input_tube,
            outputs=[
                DerivedTube(volume_ml=1, box=box, position="B1"),
                DerivedTube(volume_ml=1, box=box, position="A1"),
            ],
            user=members["editor"],
        )
    with pytest.raises(ValidationError, match="given more than once"):
        create_derived_tubes(
            parent=input_tube,
            outputs=[
                DerivedTube(volume_ml=1, box=box, position="B1"),
                DerivedTube(volume_ml=1, box=box, position="b1"),
            ],
            user=members["editor"],
        )
    assert Aliquot.objects.count() == before


def test_gone_parent_and_bad_values_refused(input_tube, members):
    with pytest.raises(ValidationError):
        create_derived_tubes(parent=input_tube, outputs=[], user=members["editor"])
    with pytest.raises(ValidationError):
        create_derived_tubes(
            parent=input_tube, outputs=[DerivedTube(volume_ml=0)], user=members["editor"]
        )
    with pytest.raises(ValidationError):
        create_derived_tubes(
            parent=input_tube,
            outputs=[DerivedTube(volume_ml=1, container_type="bucket")],
            user=members["editor"],
        )
    discard(aliquot=input_tube, user=members["editor"])
    with pytest.raises(ValidationError, match="discarded"):
        create_derived_tubes(
            parent=input_tube, outputs=[DerivedTube(volume_ml=1)], user=members["editor"]
        )
