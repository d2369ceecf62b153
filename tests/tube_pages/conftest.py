"""Tube and storage page fixtures: a freezer with a box, tubes split from a sample through
the services (never written directly); ``page_client`` comes from tests/conftest.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from samples import services
from samples.models import StorageUnit


@pytest.fixture
def freezer(db) -> StorageUnit:
    site = StorageUnit.objects.create(kind="site", name="Main lab")
    return StorageUnit.objects.create(
        kind="freezer", name="Freezer -80 A", parent=site, set_temperature_c=-80
    )


@pytest.fixture
def rack(freezer) -> StorageUnit:
    return StorageUnit.objects.create(kind="rack", name="Rack 1", parent=freezer)


@pytest.fixture
def box(rack) -> StorageUnit:
    return StorageUnit.objects.create(
        kind="box", name="Box 1", parent=rack, rows=9, columns=9, barcode="BOX-0001"
    )


@pytest.fixture
def other_box(rack) -> StorageUnit:
    return StorageUnit.objects.create(kind="box", name="Box 2", parent=rack, rows=9, columns=9)


@pytest.fixture
def sample(make_sample):
    return make_sample(volume_ml=Decimal("4.0000"))


@pytest.fixture
def make_tubes(members):
    """Split ``source`` into ``n`` tubes of ``volume`` mL, optionally into a box."""

    def make(source, n=1, volume="0.5", **kwargs):
        return services.split_into_aliquots(
            source=source,
            volumes_ml=[Decimal(volume)] * n,
            user=members["editor"],
            **kwargs,
        )

    return make


@pytest.fixture
def tube(sample, make_tubes, box):
    return make_tubes(sample, 1, box=box)[0]


@pytest.fixture
def loose_tube(sample, make_tubes):
    """A tube not in any box."""
    return make_tubes(sample, 1)[0]


@pytest.fixture
def other_tube(other_study, make_sample, make_tubes):
    from samples.models import Donor

    foreign_donor = Donor.objects.create(study=other_study, code="U-009")
    foreign_sample = make_sample(study=other_study, donor=foreign_donor)
    return make_tubes(foreign_sample, 1)[0]
