"""Fixtures shared by the isolation tests (tests/isolation) and the isolation pages
(tests/isolation_pages): rotors, a published dUC protocol, input tubes with volume, a freezer
box for the preparations and a run recorded through ``assays.services``.

Each conftest imports them by name and adds its own ``librarian`` (the permissions differ).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from assays import services
from assays.choices import RotorType
from assays.models import Rotor
from samples import services as tube_services
from samples.choices import StorageKind
from samples.models import Aliquot, StorageUnit


def make_unit(kind: str, name: str, parent: StorageUnit | None = None, **extra) -> StorageUnit:
    unit = StorageUnit(kind=kind, name=name, parent=parent, **extra)
    unit.full_clean()
    unit.save()
    return unit


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sw41(db) -> Rotor:
    return Rotor.objects.create(
        name="SW 41 Ti",
        manufacturer="Beckman Coulter",
        rotor_type=RotorType.SWINGING_BUCKET,
        r_min_mm=67.4,
        r_max_mm=153.1,
        max_rpm=41000,
        k_factor=124,
    )


@pytest.fixture
def type70(db) -> Rotor:
    return Rotor.objects.create(
        name="Type 70 Ti",
        manufacturer="Beckman Coulter",
        rotor_type=RotorType.FIXED_ANGLE,
        r_min_mm=39.5,
        r_max_mm=91.9,
        max_rpm=70000,
        k_factor=44,
    )


@pytest.fixture
def uc_steps(sw41) -> list[dict]:
    return [
        {
            "kind": "differential_centrifugation",
            "title": "Cell debris",
            "parameters": {"g_force": 2000, "g_basis": "average", "duration_min": 10},
        },
        {
            "kind": "ultracentrifugation",
            "title": "Pellet EVs",
            "parameters": {
                "rpm": 38000,
                "duration_min": 70,
                "temperature_c": 4,
                "resuspension_buffer": "PBS",
                "resuspension_volume_ml": {"value": 100, "unit": "µL"},
            },
            "rotor": sw41.pk,
        },
    ]


@pytest.fixture
def draft(librarian, uc_steps):
    return services.create_protocol(
        name="dUC 100k", description="Differential UC", steps=uc_steps, user=librarian
    )


@pytest.fixture
def published(draft, librarian):
    return services.publish_version(version=draft, user=librarian)


@pytest.fixture
def sample(make_sample):
    return make_sample(volume_ml=Decimal("10.0"))


@pytest.fixture
def input_tube(sample, members) -> Aliquot:
    return tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("4.0")], user=members["editor"]
    )[0]


@pytest.fixture
def second_tube(sample, members) -> Aliquot:
    return tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("3.0")], user=members["editor"]
    )[0]


@pytest.fixture
def box(db) -> StorageUnit:
    site = make_unit(StorageKind.SITE, "Main lab")
    freezer = make_unit(StorageKind.FREEZER, "Freezer -80", site, set_temperature_c=-80)
    return make_unit(StorageKind.BOX, "EV box", freezer, rows=9, columns=9)


@pytest.fixture
def started():
    return timezone.now() - timedelta(hours=3)


@pytest.fixture
def run_for(published, input_tube, members, started):
    """Record a run of ``published`` on ``input_tube`` (1 mL → one small-EV preparation)."""

    def record(**overrides):
        values = {
            "version": published,
            "inputs": [(input_tube, Decimal("1.0"))],
            "outputs": [
                {"nomenclature_term": "small_EV", "author_term": "exosomes", "volume_ml": "0.1"}
            ],
            "user": members["editor"],
            "started_at": started,
            "ended_at": started + timedelta(hours=2),
        }
        values.update(overrides)
        return services.record_isolation_run(**values)

    return record
