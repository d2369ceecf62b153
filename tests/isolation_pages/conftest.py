"""Isolation page fixtures: a library editor (model permissions, no rotor deletion) and a tube
in a study none of ``members`` belongs to; rotors, the published protocol, input tubes and the
box are shared with tests/isolation (tests/isolation/fixtures.py)."""

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
    started,
    sw41,
    type70,
    uc_steps,
)

LIBRARY_PERMISSIONS = [
    "add_isolationprotocol",
    "change_isolationprotocol",
    "add_rotor",
    "change_rotor",
]


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
def foreign_tube(other_study, make_sample, make_user) -> Aliquot:
    """A tube of a study none of ``members`` belongs to."""
    owner = make_user("olga_other")
    StudyMembership.objects.create(study=other_study, user=owner, role=Role.EDITOR)
    donor = Donor.objects.create(study=other_study, code="D-900", sex="male", birth_year=1970)
    foreign = make_sample(study=other_study, donor=donor, volume_ml=Decimal("5.0"))
    return tube_services.split_into_aliquots(
        source=foreign, volumes_ml=[Decimal("2.0")], user=owner
    )[0]
