"""/api/v1/protein-measurements/ and /api/v1/protein-assays/: entered results, hand-typed
plates, the plate-map action end to end, and who may do what."""

from __future__ import annotations

import pytest

from assays import characterisation_services as services
from assays.models import ProteinAssay, ProteinMeasurement

from .conftest import API
from .plates import bca_plate, flat_plate

MEASUREMENTS = f"{API}/protein-measurements/"
ASSAYS = f"{API}/protein-assays/"

pytestmark = pytest.mark.django_db


def enter(client, tube, **fields):
    body = {"aliquot": tube.accession, "method": "qubit", "concentration_ug_per_ml": 120.0}
    return client.post(MEASUREMENTS, {**body, **fields}, format="json")


def test_an_editor_enters_a_protein_result_by_accession(client_for, tube, members):
    response = enter(
        client_for("editor"),
        tube,
        aliquot=tube.accession.lower(),
        measured_at="2026-03-01T09:30:00+01:00",
        controls=[{"kind": "blank", "description": "PBS"}],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["aliquot"], body["aliquot_accession"], body["study"]) == (
        tube.pk,
        tube.accession,
        tube.study_id,
    )
    assert body["sample"] == tube.sample_id and body["study_code"] == "PLASMA-01"
    assert body["source"] == "entered" and body["total_ug"] == pytest.approx(120.0)
    assert body["operator_username"] == "eddie_editor"
    assert body["url"].endswith(f"{MEASUREMENTS}{body['id']}/")


def test_a_naive_time_is_refused(client_for, tube):
    response = enter(client_for("editor"), tube, measured_at="2026-03-01T09:30:00")
    assert response.status_code == 400 and "measured_at" in response.json()


def test_viewers_may_read_but_not_enter(client_for, tube):
    response = enter(client_for("viewer"), tube)
    assert response.status_code == 403
    assert "editor role" in response.json()["detail"]
    assert not ProteinMeasurement.objects.exists()


def test_a_tube_of_another_study_is_unknown(client_for, foreign_tube):
    response = enter(client_for("editor"), foreign_tube)
    assert response.status_code == 400
    assert response.json() == {"aliquot": [f"No tube {foreign_tube.accession} in your studies."]}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dilution_factor": 0.5}, "dilution_factor"),
        ({"concentration_ug_per_ml": -1}, "concentration_ug_per_ml"),
        ({"concentration_ug_per_ml": None}, "concentration_ug_per_ml"),
        ({"method": "guesswork"}, "method"),
        ({"operator": 999999}, "operator"),
        ({"controls": [{"kind": "magic"}]}, "controls"),
        ({"volume_ml": "0.123456"}, "volume_ml"),
    ],
)
def test_bad_input_is_400_on_its_field(client_for, tube, fields, field):
    response = enter(client_for("editor"), tube, **fields)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not ProteinMeasurement.objects.exists()


def test_entered_results_are_corrected_and_deleted(client_for, tube, members):
    client = client_for("editor")
    created = enter(client, tube).json()
    url = f"{MEASUREMENTS}{created['id']}/"
    response = client.patch(url, {"concentration_ug_per_ml": 80, "volume_ml": 0.5}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["total_ug"] == pytest.approx(40.0)
    assert client_for("viewer").patch(url, {"notes": "x"}, format="json").status_code == 403
    other_tube = enter(client, tube).json()  # a second result to point at another tube
    assert other_tube["id"] != created["id"]
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_lists_filter_and_hide_other_studies(client_for, tubes, foreign_tube, members):
    editor = members["editor"]
    for tube, method in ((tubes[0], "qubit"), (tubes[1], "bca")):
        services.record_protein_measurement(
            user=editor, aliquot=tube, data={"method": method, "concentration_ug_per_ml": 5}
        )
    hidden = services.record_protein_measurement(
        user=members["superuser"],
        aliquot=foreign_tube,
        data={"method": "qubit", "concentration_ug_per_ml": 5},
    )
    client = client_for("viewer")

    def ids(query: str = "") -> set[int]:
        response = client.get(f"{MEASUREMENTS}?{query}")
        assert response.status_code == 200, response.content
        return {row["aliquot"] for row in response.json()["results"]}

    assert ids() == {tubes[0].pk, tubes[1].pk}
    assert ids("method=bca") == {tubes[1].pk}
    assert ids(f"aliquot={tubes[0].pk}") == {tubes[0].pk}
    assert ids(f"aliquot_accession={tubes[1].accession.lower()}") == {tubes[1].pk}
    assert ids(f"sample={tubes[0].sample.accession}") == {tubes[0].pk, tubes[1].pk}
    assert ids("study_code=plasma-01") == {tubes[0].pk, tubes[1].pk}
    assert ids(f"study={foreign_tube.study_id}") == set()
    assert ids("entered=true") == {tubes[0].pk, tubes[1].pk}
    assert client.get(f"{MEASUREMENTS}{hidden.pk}/").status_code == 404
    assert client.get(f"{MEASUREMENTS}?method=nope").status_code == 400


def test_measured_after_and_before_take_dates(client_for, tube, members):
    for day in (1, 15):
        services.record_protein_measurement(
            user=members["editor"],
            aliquot=tube,
            data={
                "method": "qubit",
                "concentration_ug_per_ml": day,
                "measured_at": f"2026-03-{day:02d}T10:00:00+00:00",
            },
        )
    client = client_for("viewer")
    after = client.get(f"{MEASUREMENTS}?measured_after=2026-03-10").json()["results"]
    before = client.get(f"{MEASUREMENTS}?measured_before=2026-03-10").json()["results"]
    assert [row["concentration_ug_per_ml"] for row in after] == [15]
    assert [row["concentration_ug_per_ml"] for row in before] == [1]
    assert client.get(f"{MEASUREMENTS}?measured_after=soon").status_code == 400


# --- Plates ---------------------------------------------------------------------------------


def test_a_typed_plate_is_mapped_and_quantified_end_to_end(client_for, tubes):
    client = client_for("editor")
    values, plate_map = bca_plate({tubes[0].pk: (600.0, 1.0), tubes[1].pk: (1300.0, 10.0)})
    created = client.post(
        ASSAYS,
        {"name": "BCA 2026-03-01", "method": "bca", "values": values, "wavelength_nm": 562},
        format="json",
    )
    assert created.status_code == 201, created.content
    assay = created.json()
    assert assay["status"] == "awaiting_map" and assay["measurements"] == []
    assert assay["reads"][0]["values"]["A1"] == pytest.approx(0.05)

    mapped = client.post(
        f"{ASSAYS}{assay['id']}/plate-map/",
        {"plate_map": plate_map, "curve_model": "linear", "subtract_blank": True},
        format="json",
    )
    assert mapped.status_code == 200, mapped.content
    body = mapped.json()
    assert body["status"] == "computed" and body["fit_error"] == ""
    assert body["r_squared"] == pytest.approx(1.0)
    assert body["curve"]["blank_source"] == "blank wells"
    assert body["curve"]["params"]["slope"] == pytest.approx(0.001)
    results = {row["aliquot"]: row for row in body["measurements"]}
    assert results[tubes[0].pk]["concentration_ug_per_ml"] == pytest.approx(600.0)
    assert results[tubes[1].pk]["concentration_ug_per_ml"] == pytest.approx(1300.0)
    assert results[tubes[1].pk]["dilution_factor"] == 10.0
    assert results[tubes[0].pk]["total_ug"] == pytest.approx(600.0)  # 1 mL tube
    assert body["study"] == tubes[0].study_id

    listed = client.get(f"{MEASUREMENTS}?assay={assay['id']}").json()["results"]
    assert {row["source"] for row in listed} == {"plate"} and len(listed) == 2
    derived = listed[0]["id"]
    refused = client.patch(f"{MEASUREMENTS}{derived}/", {"notes": "x"}, format="json")
    assert refused.status_code == 409 and "plate map" in refused.json()["detail"]
    assert client.delete(f"{MEASUREMENTS}{derived}/").status_code == 409

    svg = client.get(f"{ASSAYS}{assay['id']}/curve.svg/", HTTP_ACCEPT="image/svg+xml")
    assert svg.status_code == 200 and svg["Content-Type"].startswith("image/svg+xml")
    assert svg.content.lstrip().startswith(b"<svg")
    assert body["curve_svg_url"].endswith(f"{ASSAYS}{assay['id']}/curve.svg/")


def test_a_plate_can_be_created_with_its_map(client_for, tube):
    values, plate_map = bca_plate({tube.pk: (250.0, 2.0)})
    response = client_for("editor").post(
        ASSAYS, {"method": "micro_bca", "values": values, "plate_map": plate_map}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "computed"
    assert response.json()["measurements"][0]["concentration_ug_per_ml"] == pytest.approx(250.0)


def test_a_flat_curve_is_reported_as_fit_failed(client_for, tube):
    client = client_for("editor")
    values, plate_map = flat_plate(tube.pk)
    assay = client.post(ASSAYS, {"method": "bca", "values": values}, format="json").json()
    response = client.post(
        f"{ASSAYS}{assay['id']}/plate-map/", {"plate_map": plate_map}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fit_failed"
    assert "same response, so no curve can be fitted" in body["fit_error"]
    assert body["measurements"] == [] and body["curve"] is None
    assert client.get(f"{ASSAYS}{assay['id']}/curve.svg/").status_code == 404


def test_plate_map_mistakes_are_400_naming_the_wells(client_for, tube, foreign_tube):
    client = client_for("editor")
    values, _plate_map = bca_plate({tube.pk: (600.0, 1.0)})
    assay = client.post(ASSAYS, {"method": "bca", "values": values}, format="json").json()
    response = client.post(
        f"{ASSAYS}{assay['id']}/plate-map/",
        {
            "plate_map": {
                "A1": {"role": "standard"},
                "Q1": {"role": "blank"},
                "B4": {"role": "sample", "sample": str(foreign_tube.pk)},
            }
        },
        format="json",
    )
    assert response.status_code == 400
    problems = response.json()["plate_map"]
    assert any(line.startswith("A1:") for line in problems)
    assert any(line.startswith("Q1:") for line in problems)
    assert f"B4: no tube you can record results on has id {foreign_tube.pk}" in problems


def test_bad_plates_are_400(client_for):
    response = client_for("editor").post(
        ASSAYS, {"method": "bca", "values": {"A1": 0.1, "M1": 0.2}}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"values": ["M1: not a well of a 8×12 plate"]}
    assert not ProteinAssay.objects.exists()


def test_plates_are_scoped_and_viewers_cannot_map_them(client_for, tubes, members, foreign_tube):
    values, plate_map = bca_plate({tubes[0].pk: (600.0, 1.0)})
    client = client_for("editor")
    assay = client.post(
        ASSAYS, {"method": "bca", "values": values, "plate_map": plate_map}, format="json"
    ).json()
    viewer = client_for("viewer")
    assert viewer.get(f"{ASSAYS}{assay['id']}/").status_code == 200
    refused = viewer.post(
        f"{ASSAYS}{assay['id']}/plate-map/", {"plate_map": plate_map}, format="json"
    )
    assert refused.status_code == 403
    assert (
        viewer.post(ASSAYS, {"method": "bca", "values": values}, format="json").status_code == 403
    )

    foreign_values, foreign_map = bca_plate({foreign_tube.pk: (600.0, 1.0)})
    hidden = services.create_plate(
        user=members["superuser"], method="bca", name="theirs", values=foreign_values
    )
    from assays import protein_services

    protein_services.save_plate_map(hidden, user=members["superuser"], plate_map=foreign_map)
    assert client.get(f"{ASSAYS}{hidden.pk}/").status_code == 404
    assert (
        client.post(f"{ASSAYS}{hidden.pk}/plate-map/", {"plate_map": {}}, format="json").status_code
        == 404
    )
    listed = client.get(ASSAYS).json()["results"]
    assert [row["id"] for row in listed] == [assay["id"]]
    assert listed[0]["measurement_count"] == 1
    assert (
        client.get(f"{ASSAYS}?aliquot={tubes[0].accession}").json()["results"][0]["id"]
        == assay["id"]
    )
    assert client.get(f"{ASSAYS}?aliquot={tubes[2].accession}").json()["results"] == []
    assert client.get(f"{ASSAYS}?status=computed&method=bca").json()["results"] != []
    assert client.delete(f"{ASSAYS}{assay['id']}/").status_code == 204
    assert not ProteinMeasurement.objects.filter(assay_id=assay["id"]).exists()


def test_the_history_of_a_result_names_who_changed_it(client_for, tube):
    client = client_for("editor")
    created = enter(client, tube).json()
    client.patch(
        f"{MEASUREMENTS}{created['id']}/",
        {"concentration_ug_per_ml": 99},
        format="json",
        HTTP_X_CHANGE_REASON="re-read the Qubit",
    )
    history = client.get(f"{MEASUREMENTS}{created['id']}/history/").json()
    assert [entry["action"] for entry in history] == ["update", "insert"]
    assert history[0]["username"] == "eddie_editor"
    assert history[0]["reason"] == "re-read the Qubit"
    assert history[0]["changes"]["concentration_ug_per_ml"] == {"old": 120.0, "new": 99.0}


def test_a_full_update_keeps_the_tube(client_for, tube, tubes):
    client = client_for("editor")
    created = enter(client, tube).json()
    url = f"{MEASUREMENTS}{created['id']}/"
    body = {"aliquot": tube.accession, "method": "bca", "concentration_ug_per_ml": 33}
    assert client.put(url, body, format="json").status_code == 200
    moved = client.put(url, {**body, "aliquot": tubes[1].accession}, format="json")
    assert moved.status_code == 400
    assert moved.json() == {
        "aliquot": ["A result stays on its tube; delete it and record it again."]
    }
