"""API fixtures: records in a study the role-holding users do not belong to."""

from __future__ import annotations

import pytest

from samples.models import Donor


@pytest.fixture
def foreign_donor(other_study) -> Donor:
    return Donor.objects.create(study=other_study, code="F-001")


@pytest.fixture
def foreign_sample(other_study, foreign_donor, make_sample):
    return make_sample(study=other_study, donor=foreign_donor)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # The shared fixtures create five users; PBKDF2 would make every test take a second.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
