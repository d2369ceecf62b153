"""Isolation page fixtures: two rotors, a library editor (model permissions), a published
protocol made through ``assays.services``, input tubes, a box, and logged-in page clients."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from assays import services
from assays.choices import RotorType
from assays.models import Rotor
from samples import services as tube_services
from samples.choices import Role, StorageKind
from samples.models import Aliquot, Donor, StorageUnit, StudyMembership

LIBRARY_PERMISSIONS = [
    "add_isolationprotocol",
    "change_isolationprotocol",
    "add_rotor",
    "change_rotor",
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def page_client(members):
    """``page_client("editor")`` → a django.test.Client logged in as that member."""

    def login(role: str) -> Client:
        client = Client()
        client.force_login(members[role])
        return client

    return login


@pytest.fixture
def librarian(members):
    """The study editor, also allowed to change the protocol library and rotors."""
    user = members["editor"]
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="assays", codename__in=LIBRARY_PERMISSIONS
        )
    )
    return type(user).objects.get(pk=user.pk)


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
            "rotor": sw41.pk,
            "parameters": {
                "rpm": 38000,
                "duration_min": 70,
                "temperature_c": 4,
                "resuspension_buffer": "PBS",
                "resuspension_volume_ml": {"value": 100, "unit": "µL"},
            },
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
def foreign_tube(other_study, make_sample, make_user) -> Aliquot:
    """A tube of a study none of ``members`` belongs to."""
    owner = make_user("olga_other")
    StudyMembership.objects.create(study=other_study, user=owner, role=Role.EDITOR)
    donor = Donor.objects.create(study=other_study, code="D-900", sex="male", birth_year=1970)
    foreign = make_sample(study=other_study, donor=donor, volume_ml=Decimal("5.0"))
    return tube_services.split_into_aliquots(
        source=foreign, volumes_ml=[Decimal("2.0")], user=owner
    )[0]


@pytest.fixture
def box(db) -> StorageUnit:
    site = StorageUnit.objects.create(kind=StorageKind.SITE, name="Main lab")
    freezer = StorageUnit.objects.create(
        kind=StorageKind.FREEZER, name="Freezer -80", parent=site, set_temperature_c=-80
    )
    return StorageUnit.objects.create(
        kind=StorageKind.BOX, name="EV box", parent=freezer, rows=9, columns=9
    )


@pytest.fixture
def started():
    return timezone.now() - timedelta(hours=3)


@pytest.fixture
def run_for(published, input_tube, members, started):
    """Record a run of ``published`` on ``input_tube`` through the service."""

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
