"""/api/v1/flow-measurements/, /api/v1/dls-measurements/, /api/v1/qpcr-runs/ and
/api/v1/qpcr-results/."""

from __future__ import annotations

import pytest

from assays import characterisation_services as services
from assays.models import DLSMeasurement, QPCRResult, QPCRRun

from .conftest import API

FLOW = f"{API}/flow-measurements/"
DLS = f"{API}/dls-measurements/"
RUNS = f"{API}/qpcr-runs/"
CQ = f"{API}/qpcr-results/"

pytestmark = pytest.mark.django_db


# --- Flow -----------------------------------------------------------------------------------


def test_flow_reporting_fields_are_patched_and_concentration_follows(client_for, flow_measurement):
    url = f"{FLOW}{flow_measurement.pk}/"
    client = client_for("editor")
    detail = client.get(url).json()
    assert detail["keywords"]["$CYT"] == "CytoFLEX" and detail["event_count"] == 20000
    response = client.patch(
        url,
        {
            "analysed_volume_ul": 20,
            "dilution_factor": 2,
            "calibration_beads": "Rosetta Calibration",
            "refractive_index_assumed": 1.4,
            "scatter_unit": "nm",
            "lod_scatter": 90,
            "gating": "SSC > 200 nm eq.",
            "controls": [{"kind": "buffer_only", "result": "15 events"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["event_concentration_per_ml"] == pytest.approx(2e6)
    assert (body["scatter_unit"], body["controls"][0]["kind"]) == ("nm", "buffer_only")


def test_flow_parsed_fields_are_read_only(client_for, flow_measurement):
    url = f"{FLOW}{flow_measurement.pk}/"
    client = client_for("editor")
    response = client.patch(url, {"event_count": 5, "gating": "x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "event_count": ["Read from the FCS file; re-process the file to change it."]
    }
    bad = client.patch(url, {"refractive_index_assumed": 7}, format="json")
    assert bad.status_code == 400 and "refractive_index_assumed" in bad.json()
    assert client.put(url, {}, format="json").status_code == 405
    assert client.post(FLOW, {}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert client_for("viewer").patch(url, {"gating": "x"}, format="json").status_code == 403
    assert client_for("outsider").patch(url, {"gating": "x"}, format="json").status_code == 404


def test_flow_lists_are_scoped_and_filtered(client_for, flow_measurement, tubes):
    client = client_for("viewer")
    assert [r["id"] for r in client.get(FLOW).json()["results"]] == [flow_measurement.pk]
    assert client.get(f"{FLOW}?aliquot={tubes[1].pk}").json()["results"] == []
    assert "keywords" not in client.get(FLOW).json()["results"][0]
    assert client_for("outsider").get(FLOW).json()["results"] == []


# --- DLS ------------------------------------------------------------------------------------


def test_dls_results_are_entered_listed_by_kind_and_deleted(client_for, tube):
    client = client_for("editor")
    size = client.post(
        DLS,
        {"aliquot": tube.accession, "kind": "size", "z_average_nm": 118.2, "pdi": 0.21},
        format="json",
    )
    assert size.status_code == 201, size.content
    zeta = client.post(
        DLS,
        {"aliquot": str(tube.pk), "kind": "zeta", "zeta_potential_mv": -18.4},
        format="json",
    )
    assert zeta.status_code == 201, zeta.content
    kinds = {r["kind"]: r for r in client.get(f"{DLS}?kind=zeta").json()["results"]}
    assert set(kinds) == {"zeta"} and kinds["zeta"]["zeta_potential_mv"] == -18.4
    assert client.get(f"{DLS}{size.json()['id']}/").json()["distribution"] is None
    assert client.patch(f"{DLS}{size.json()['id']}/", {}, format="json").status_code == 405
    assert client_for("viewer").delete(f"{DLS}{size.json()['id']}/").status_code == 403
    assert client.delete(f"{DLS}{size.json()['id']}/").status_code == 204


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "size", "z_average_nm": 100, "pdi": 2}, "pdi"),
        ({"kind": "size"}, "z_average_nm"),
        ({"kind": "zeta"}, "zeta_potential_mv"),
        ({"kind": "size", "z_average_nm": 0}, "z_average_nm"),
    ],
)
def test_bad_dls_input_is_400(client_for, tube, fields, field):
    response = client_for("editor").post(DLS, {"aliquot": tube.accession, **fields}, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not DLSMeasurement.objects.exists()


# --- qPCR -----------------------------------------------------------------------------------


def test_cq_values_are_entered_for_a_tube(client_for, tube):
    response = client_for("editor").post(
        CQ,
        {
            "aliquot": tube.accession,
            "run_name": "typed in",
            "measured_at": "2026-03-02T10:00:00Z",
            "results": [
                {"target": "miR-21", "cq": 24.2, "well": "A1"},
                {"target": "miR-21", "cq": None, "well": "A2"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["count"] == 2 and QPCRRun.objects.get(pk=body["run"]).study_id == tube.study_id
    assert [(r["cq"], r["undetermined"]) for r in body["results"]] == [
        (24.2, False),
        (None, True),
    ]
    assert body["results"][0]["aliquot_accession"] == tube.accession


@pytest.mark.parametrize(
    ("results", "text"),
    [
        ([{"target": "miR-21", "cq": 150}], "Row 1: cq:"),
        ([{"target": "miR-21", "cq": 20, "well": "ZZ99"}], "Row 1: well:"),
    ],
)
def test_bad_cq_values_are_400_under_results(client_for, tube, results, text):
    response = client_for("editor").post(
        CQ, {"aliquot": tube.accession, "results": results}, format="json"
    )
    assert response.status_code == 400, response.content
    assert any(line.startswith(text) for line in response.json()["results"])
    assert not QPCRRun.objects.exists()


def test_cq_entry_needs_results_and_the_editor_role(client_for, tube, foreign_tube):
    empty = client_for("editor").post(CQ, {"aliquot": tube.accession, "results": []}, format="json")
    assert empty.status_code == 400 and "results" in empty.json()
    body = {"aliquot": tube.accession, "results": [{"target": "x", "cq": 20}]}
    assert client_for("viewer").post(CQ, body, format="json").status_code == 403
    foreign = client_for("editor").post(
        CQ, {**body, "aliquot": foreign_tube.accession}, format="json"
    )
    assert foreign.status_code == 400 and "aliquot" in foreign.json()


def test_a_runs_sample_map_puts_its_rows_on_tubes(client_for, qpcr_run, tubes):
    client = client_for("editor")
    detail = client.get(f"{RUNS}{qpcr_run.pk}/").json()
    assert [s["sample_name"] for s in detail["samples"]] == ["NTC", "Plasma A", "Plasma B"]
    assert all(s["aliquot"] is None for s in detail["samples"])
    response = client.post(
        f"{RUNS}{qpcr_run.pk}/sample-map/",
        {"sample_map": {"Plasma A": tubes[0].pk, "Plasma B": tubes[1].pk}},
        format="json",
    )
    assert response.status_code == 200, response.content
    samples = {s["sample_name"]: s for s in response.json()["samples"]}
    assert samples["Plasma A"]["aliquot_accession"] == tubes[0].accession
    assert samples["Plasma A"]["mapped"] is True and samples["Plasma A"]["wells"] == 2
    assert response.json()["study"] == tubes[0].study_id

    viewer = client_for("viewer")
    cq = viewer.get(f"{CQ}?aliquot={tubes[0].accession}&target=MIR-21").json()["results"]
    assert sorted(r["well"] for r in cq) == ["A1", "A2"]
    assert viewer.get(f"{CQ}?target=miR-99").json()["results"] == []
    runs = viewer.get(f"{RUNS}?aliquot={tubes[1].accession}").json()["results"]
    assert [r["id"] for r in runs] == [qpcr_run.pk] and runs[0]["result_count"] == 4
    refused = viewer.post(
        f"{RUNS}{qpcr_run.pk}/sample-map/", {"sample_map": {"Plasma A": None}}, format="json"
    )
    assert refused.status_code == 403


def test_sample_map_mistakes_are_400(client_for, qpcr_run, foreign_tube):
    response = client_for("editor").post(
        f"{RUNS}{qpcr_run.pk}/sample-map/",
        {"sample_map": {"Plasma A": foreign_tube.pk, "Nobody": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["sample_map"] == [
        "'Nobody': no well of this run has that sample name",
        f"'Plasma A': no tube you can record results on has id {foreign_tube.pk}",
    ]
    bad = client_for("editor").post(
        f"{RUNS}{qpcr_run.pk}/sample-map/", {"sample_map": {"Plasma A": "x"}}, format="json"
    )
    assert bad.status_code == 400


def test_runs_and_cq_values_of_other_studies_are_invisible(client_for, members, foreign_tube, tube):
    run = services.record_qpcr_results(
        user=members["superuser"], aliquot=foreign_tube, rows=[{"target": "x", "cq": 30}]
    )
    client = client_for("editor")
    assert client.get(f"{RUNS}{run.pk}/").status_code == 404
    assert client.get(RUNS).json()["results"] == []
    row = QPCRResult.objects.get(run=run)
    assert client.get(f"{CQ}{row.pk}/").status_code == 404
    assert (
        client.post(f"{RUNS}{run.pk}/sample-map/", {"sample_map": {}}, format="json").status_code
        == 404
    )


def test_a_flow_patch_that_is_not_an_object_is_400(client_for, flow_measurement):
    response = client_for("editor").patch(
        f"{FLOW}{flow_measurement.pk}/", [{"gating": "x"}], format="json"
    )
    assert response.status_code == 400


def test_dls_results_of_other_studies_are_invisible(client_for, members, foreign_tube):
    hidden = services.record_dls_measurement(
        user=members["superuser"],
        aliquot=foreign_tube,
        data={"kind": "size", "z_average_nm": 90},
    )
    client = client_for("editor")
    assert client.get(f"{DLS}{hidden.pk}/").status_code == 404
    assert client.delete(f"{DLS}{hidden.pk}/").status_code == 404
    assert client.get(DLS).json()["results"] == []
    assert DLSMeasurement.objects.filter(pk=hidden.pk).exists()
