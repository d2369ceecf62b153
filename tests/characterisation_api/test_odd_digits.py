"""Characters Python calls digits but int() refuses ("²") are bad input, never a 500."""

from __future__ import annotations

import pytest

SUPERSCRIPT_TWO = "²"


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/marker-results/?aliquot={SUPERSCRIPT_TWO}",
        f"/api/v1/protein-measurements/?sample={SUPERSCRIPT_TWO}",
        f"/assays/protein/new/?aliquot={SUPERSCRIPT_TWO}",
        f"/assays/dls/new/?aliquot={SUPERSCRIPT_TWO}",
    ],
)
def test_superscript_ids_are_not_a_server_error(url, client_for, page_client):
    client = client_for("editor") if url.startswith("/api/") else page_client("editor")
    assert client.get(url).status_code < 500


def test_a_superscript_tube_in_a_plate_map_is_a_message(client_for, tube):
    from assays.characterisation_services import create_plate

    from .plates import bca_plate

    values, plate_map = bca_plate({tube.pk: (600.0, 1.0)})
    client = client_for("editor")
    plate = create_plate(user=client.handler._force_user, method="bca", name="p", values=values)
    plate_map["A4"] = {"role": "sample", "sample": SUPERSCRIPT_TWO}
    response = client.post(
        f"/api/v1/protein-assays/{plate.pk}/plate-map/", {"plate_map": plate_map}, format="json"
    )
    assert response.status_code == 400
    assert "A4" in str(response.json())
