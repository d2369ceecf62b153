"""Shared fixtures: a study with one member per role, an unrelated study, donors and samples."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from samples.choices import FluidType, Role, TubeType
from samples.models import Donor, Sample, Study, StudyMembership

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _builtin_vocabularies(request, django_db_blocker):
    """Put the migrations' seed data back after a transactional test. Such tests end with a
    flush that empties every table, including the marker vocabulary and the compliance
    rules the data migrations load; tests after them expect those rows. This fixture is
    set up first, so its teardown runs after the flush."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not transactional:
        return
    from assays.compliance.catalogue import load_builtin_rules
    from assays.models import ComplianceRule, Marker
    from assays.vocabulary import load_builtin_markers

    with django_db_blocker.unblock():
        load_builtin_markers(Marker)
        load_builtin_rules(ComplianceRule)


@pytest.fixture
def make_user(db):
    def make(username: str, **extra: Any):
        return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)

    return make


@pytest.fixture
def study(db) -> Study:
    return Study.objects.create(
        code="PLASMA-01", title="Plasma EV pilot", principal_investigator="Dr. PI"
    )


@pytest.fixture
def other_study(db) -> Study:
    return Study.objects.create(code="URINE-02", title="Urine EV cohort")


@pytest.fixture
def members(study, make_user) -> dict[str, Any]:
    """One user per role in ``study``, plus a non-member and a superuser."""
    users = {
        "viewer": make_user("vera_viewer"),
        "editor": make_user("eddie_editor"),
        "manager": make_user("mona_manager"),
        "outsider": make_user("otto_outsider"),
        "superuser": get_user_model().objects.create_superuser("root_admin", password=PASSWORD),
    }
    for role in (Role.VIEWER, Role.EDITOR, Role.MANAGER):
        StudyMembership.objects.create(study=study, user=users[role], role=role)
    return users


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(members):
    def login(role: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(members[role])
        return client

    return login


@pytest.fixture
def page_client(members):
    """``page_client("editor")`` → a django.test.Client logged in as that member."""

    def login(role: str) -> Client:
        client = Client()
        client.force_login(members[role])
        return client

    return login


@pytest.fixture
def donor(study) -> Donor:
    return Donor.objects.create(study=study, code="D-001", sex="female", birth_year=1980)


def sample_kwargs(study: Study, donor: Donor | None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "study": study,
        "donor": donor,
        "fluid_type": FluidType.PLASMA,
        "collected_at": timezone.now() - timedelta(days=1),
        "tube_type": TubeType.K2_EDTA,
        "volume_ml": Decimal("4.0000"),
        "time_to_processing_min": 45,
        "processing_temp_c": 21,
        "centrifugation_steps": [
            {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
            {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
        ],
        "post_centrifugation_delay_min": 30,
        "post_centrifugation_temp_c": 20,
        "storage_container": "cryotube",
        "storage_temp_c": -80,
    }
    values.update(overrides)
    return values


@pytest.fixture
def make_sample(study, donor):
    def make(**overrides: Any) -> Sample:
        target_study = overrides.pop("study", study)
        target_donor = overrides.pop("donor", donor if target_study == study else None)
        sample = Sample(**sample_kwargs(target_study, target_donor, **overrides))
        sample.full_clean()
        sample.save()
        return sample

    return make
