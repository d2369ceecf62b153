"""A freezer box holding tubes of two studies, at known positions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from samples.choices import StorageKind
from samples.models import Aliquot, Donor, Sample, StorageUnit, next_accessions


@pytest.fixture
def box(db) -> StorageUnit:
    freezer = StorageUnit.objects.create(kind=StorageKind.FREEZER, name="F-80 #1")
    return StorageUnit.objects.create(
        kind=StorageKind.BOX, name="Box 7/A", parent=freezer, rows=9, columns=9
    )


@pytest.fixture
def make_aliquot(db):
    def make(sample: Sample, *, volume: str = "0.5", box=None, at: str | None = None) -> Aliquot:
        row, column = (ord(at[0]) - 64, int(at[1:])) if at else (None, None)
        return Aliquot.objects.create(
            study=sample.study,
            sample=sample,
            accession=next_accessions(1)[0],
            volume_ml=Decimal(volume),
            remaining_volume_ml=Decimal(volume),
            box=box if at else None,
            row=row,
            column=column,
        )

    return make


@pytest.fixture
def foreign_sample(other_study, make_sample) -> Sample:
    return make_sample(study=other_study, donor=Donor.objects.create(study=other_study, code="U-9"))


@pytest.fixture
def filled_box(box, make_sample, make_aliquot, foreign_sample) -> dict:
    """Tubes of ``study`` at B1, A2 and I9 (stored out of order) and one of another study at A1."""
    sample = make_sample()
    tubes = {
        "B1": make_aliquot(sample, box=box, at="B1"),
        "A2": make_aliquot(sample, box=box, at="A2", volume="1.25"),
        "I9": make_aliquot(sample, box=box, at="I9"),
        "A1": make_aliquot(foreign_sample, box=box, at="A1"),
    }
    return {"box": box, "sample": sample, "tubes": tubes}
