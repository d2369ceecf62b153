"""Regression (R3 walk-through): an EV preparation's tube page, and the page of a tube used
as a run input, must link to the isolation run; before, the run was only named in the notes."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_preparation_and_input_tube_pages_link_to_the_run(page_client, run_for, input_tube):
    run = run_for()
    preparation = run.preparations.get()
    run_url = run.get_absolute_url()

    html = (
        page_client("viewer")
        .get(reverse("samples:aliquot-detail", args=[preparation.aliquot_id]))
        .content.decode()
    )
    assert f'href="{run_url}"' in html
    assert "Small EVs" in html
    assert "exosomes" in html

    html = (
        page_client("viewer")
        .get(reverse("samples:aliquot-detail", args=[input_tube.pk]))
        .content.decode()
    )
    assert "Input of:" in html
    assert f'href="{run_url}"' in html


def test_tube_never_in_a_run_has_no_isolation_panel(page_client, input_tube):
    html = (
        page_client("viewer")
        .get(reverse("samples:aliquot-detail", args=[input_tube.pk]))
        .content.decode()
    )
    assert 'id="isolation"' not in html
