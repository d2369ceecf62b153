"""Fixtures for isolation protocols and runs; the ones shared with the isolation pages live in
tests/isolation/fixtures.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from samples import services as tube_services
from samples.choices import Role
from samples.models import Aliquot, Donor, StudyMembership
from tests.isolation.fixtures import (  # noqa: F401 (fixtures)
    box,
    draft,
    fast_password_hashing,
    input_tube,
    published,
    run_for,
    sample,
    second_tube,
    started,
    sw41,
    type70,
    uc_steps,
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
def foreign_tube(other_study, make_sample, members) -> Aliquot:
    StudyMembership.objects.create(study=other_study, user=members["editor"], role=Role.EDITOR)
    donor = Donor.objects.create(study=other_study, code="D-900", sex="male", birth_year=1970)
    foreign = make_sample(study=other_study, donor=donor, volume_ml=Decimal("5.0"))
    return tube_services.split_into_aliquots(
        source=foreign, volumes_ml=[Decimal("2.0")], user=members["editor"]
    )[0]
