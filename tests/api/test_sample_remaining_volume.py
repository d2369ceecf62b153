"""Regression (R3 walk-through): a script that splits a sample must be able to read what is
left of it; the sample API showed only volume_ml, so the remaining volume was invisible."""

from __future__ import annotations

from decimal import Decimal

import pytest

from samples import services

pytestmark = pytest.mark.django_db


def test_sample_api_and_csv_show_remaining_volume(client_for, make_sample, members):
    sample = make_sample(volume_ml=Decimal("2.5"))
    services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("0.4"), Decimal("0.4")], user=members["editor"]
    )
    client = client_for("viewer")

    detail = client.get(f"/api/v1/samples/{sample.pk}/").json()
    assert (detail["volume_ml"], detail["remaining_volume_ml"]) == (2.5, 1.7)

    row = client.get("/api/v1/samples/", {"study": sample.study_id}).json()["results"][0]
    assert row["remaining_volume_ml"] == 1.7

    csv_text = b"".join(client.get("/api/v1/samples/?format=csv").streaming_content).decode()
    header, first = csv_text.splitlines()[:2]
    column = header.split(",").index("remaining_volume_ml")
    assert first.split(",")[column] in {"1.7", "1.7000"}


def test_remaining_volume_is_read_only(client_for, make_sample):
    sample = make_sample(volume_ml=Decimal("2.0"))
    response = client_for("editor").patch(
        f"/api/v1/samples/{sample.pk}/", {"remaining_volume_ml": 99}, format="json"
    )
    assert response.status_code == 200
    sample.refresh_from_db()
    assert sample.remaining_volume_ml == Decimal("2.0")
