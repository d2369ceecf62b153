"""Regression (R3 walk-through): lowering a sample's volume below what was already split off
through the edit page gave a 500; it must re-show the form with the message on the volume."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from samples import services
from samples.models import Aliquot

pytestmark = pytest.mark.django_db


def edit_data(form) -> dict:
    data = {
        name: form[name].value() if form[name].value() is not None else ""
        for name in form.fields
        if name != "study"
    }
    return {k: ("on" if v is True else v) for k, v in data.items() if v is not False}


def test_volume_below_withdrawn_is_a_field_error_not_a_500(page_client, make_sample, members):
    sample = make_sample(volume_ml=Decimal("2.5"))
    services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("0.8"), Decimal("0.8")], user=members["editor"]
    )
    client = page_client("editor")
    url = reverse("samples:sample-edit", args=[sample.pk])
    data = edit_data(client.get(url).context["form"])
    data.update({"volume": "500", "volume_unit": "µL", "notes": "changed"})

    response = client.post(url, data)

    assert response.status_code == 200
    assert "1.6 mL has already been withdrawn" in " ".join(
        response.context["form"].errors["volume"]
    )
    sample.refresh_from_db()
    assert (sample.volume_ml, sample.remaining_volume_ml) == (Decimal("2.5"), Decimal("0.9"))
    assert sample.notes != "changed"
    assert Aliquot.objects.filter(sample=sample).count() == 2
