"""Fixtures for tubes and storage: a freezer tree, a fridge box, samples with volume."""

from __future__ import annotations

from decimal import Decimal

import pytest

from samples import services
from samples.choices import StorageKind
from samples.models import Aliquot, StorageUnit


def make_unit(kind: str, name: str, parent: StorageUnit | None = None, **extra) -> StorageUnit:
    unit = StorageUnit(kind=kind, name=name, parent=parent, **extra)
    unit.full_clean()
    unit.save()
    return unit


@pytest.fixture
def site(db) -> StorageUnit:
    return make_unit(StorageKind.SITE, "Main lab")


@pytest.fixture
def freezer(site) -> StorageUnit:
    return make_unit(StorageKind.FREEZER, "Freezer -80 A", site, set_temperature_c=-80)


@pytest.fixture
def rack(freezer) -> StorageUnit:
    return make_unit(StorageKind.RACK, "Rack 1", freezer)


@pytest.fixture
def box(rack) -> StorageUnit:
    """9 × 9 box in a −80 °C freezer (the temperature is inherited through the rack)."""
    return make_unit(StorageKind.BOX, "Box 1", rack, rows=9, columns=9)


@pytest.fixture
def small_box(rack) -> StorageUnit:
    return make_unit(StorageKind.BOX, "Box 2x2", rack, rows=2, columns=2)


@pytest.fixture
def fridge_box(site) -> StorageUnit:
    fridge = make_unit(StorageKind.FREEZER, "Fridge", site, set_temperature_c=4)
    return make_unit(StorageKind.BOX, "Fridge box", fridge, rows=8, columns=12)


@pytest.fixture
def sample(make_sample):
    return make_sample(volume_ml=Decimal("4.0"))


@pytest.fixture
def make_tubes(members):
    """Split ``sample`` into tubes, acting as the study's editor."""

    def make(source, volumes=("0.5",), **kwargs) -> list[Aliquot]:
        return services.split_into_aliquots(
            source=source,
            volumes_ml=[Decimal(v) for v in volumes],
            user=kwargs.pop("user", members["editor"]),
            **kwargs,
        )

    return make


@pytest.fixture
def tube(sample, make_tubes) -> Aliquot:
    return make_tubes(sample, ["1.0"])[0]


@pytest.fixture
def foreign_sample(other_study, make_sample):
    from samples.models import Donor

    donor = Donor.objects.create(study=other_study, code="F-001")
    return make_sample(study=other_study, donor=donor, volume_ml=Decimal("4.0"))


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
