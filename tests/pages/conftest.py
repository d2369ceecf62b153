"""Page-test fixtures: a donor and a sample in the other study (``page_client`` comes from
tests/conftest.py)."""

from __future__ import annotations

import pytest


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
