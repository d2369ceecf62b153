"""Fixtures for isolation protocols and runs: rotors, a library editor, published protocols,
input tubes with volume and a freezer box for the preparations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from assays import services
from assays.choices import RotorType
from assays.models import Rotor
from samples import services as tube_services
from samples.choices import StorageKind
from samples.models import Aliquot, StorageUnit

UC_STEPS = [
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
        "rotor": "SW41",  # replaced by the rotor id in the fixture
    },
]


def make_unit(kind: str, name: str, parent: StorageUnit | None = None, **extra) -> StorageUnit:
    unit = StorageUnit(kind=kind, name=name, parent=parent, **extra)
    unit.full_clean()
    unit.save()
    return unit


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


def grant_library(user) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="assays",
            codename__in=[
                "add_isolationprotocol",
                "change_isolationprotocol",
                "add_rotor",
                "change_rotor",
                "delete_rotor",
            ],
        )
    )


@pytest.fixture
def librarian(members):
    """The study editor, also allowed to edit the protocol library."""
    user = members["editor"]
    grant_library(user)
    # Permissions are cached per user object; refetch.
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def uc_steps(sw41) -> list[dict]:
    steps = [dict(s) for s in UC_STEPS]
    steps[1] = {**steps[1], "rotor": sw41.pk}
    return steps


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
def foreign_tube(other_study, make_sample, members) -> Aliquot:
    from samples.choices import Role
    from samples.models import Donor, StudyMembership

    StudyMembership.objects.create(study=other_study, user=members["editor"], role=Role.EDITOR)
    donor = Donor.objects.create(study=other_study, code="D-900", sex="male", birth_year=1970)
    foreign = make_sample(study=other_study, donor=donor, volume_ml=Decimal("5.0"))
    return tube_services.split_into_aliquots(
        source=foreign, volumes_ml=[Decimal("2.0")], user=members["editor"]
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


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
