"""Page-test fixtures: a logged-in browser-like client per role."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def page_client(members):
    """``page_client("editor")`` → a django.test.Client logged in as that member."""

    def login(role: str) -> Client:
        client = Client()
        client.force_login(members[role])
        return client

    return login


@pytest.fixture
def other_donor(other_study):
    from samples.models import Donor

    return Donor.objects.create(study=other_study, code="U-001")


@pytest.fixture
def other_sample(other_study, other_donor, make_sample):
    return make_sample(
        study=other_study,
        donor=other_donor,
        fluid_type="urine",
        tube_type="pp_sterile",
        urine_void_type="first_morning",
    )
