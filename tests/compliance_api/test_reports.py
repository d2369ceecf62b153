"""GET /api/v1/ev-preparations/{id}/compliance/ and /api/v1/studies/{id}/compliance/: the
engine's report as JSON with the numbers worked out in tests/compliance_pages/fixtures.py,
profile override, keyset pages, scoping (another study's records are 404), and the
EV-TRACK record as JSON and CSV."""

from __future__ import annotations

import csv
import io

import pytest

from assays import evtrack

pytestmark = pytest.mark.django_db

API = "/api/v1"


def report_url(preparation) -> str:
    return f"{API}/ev-preparations/{preparation.pk}/compliance/"


def test_preparation_report(client_for, seeded):
    response = client_for("viewer").get(report_url(seeded))
    assert response.status_code == 200
    report = response.json()
    assert report["preparation_id"] == seeded.pk
    assert report["accession"] == seeded.aliquot.accession
    assert report["profile"] == "MISEV2018"
    misev = report["scores"]["MISEV2018"]
    assert (misev["passed"], misev["applicable"], misev["pct"]) == (2, 4, 50.0)
    assert [m["code"] for m in misev["missing"]] == ["T-03", "T-04"]
    evm = report["evmetric"]
    assert (evm["passed"], evm["applicable"]) == (1, 3)
    statuses = {r["code"]: r["status"] for r in report["results"]}
    assert statuses == {
        "T-01": "pass",
        "T-02": "pass",
        "T-03": "fail",
        "T-04": "fail",
        "T-05": "na",
    }
    assert [(r["code"], r["severity"], r["fix_kind"]) for r in report["next_steps"]] == [
        ("T-03", "error", "marker"),
        ("T-04", "warning", "imaging"),
    ]
    assert report["purity"]["particles_per_ug"] == pytest.approx(1e10)
    assert report["purity"]["band"] == "low purity"
    assert report["recovery_particles_per_ml_input"] == pytest.approx(1e10)
    particle = next(r for r in report["results"] if r["code"] == "T-01")
    assert particle["evidence"][0]["url_name"] == "assays:particle-detail"


def test_preparation_report_for_another_profile(client_for, seeded):
    report = client_for("viewer").get(report_url(seeded), {"profile": "MISEV2023"}).json()
    assert report["profile"] == "MISEV2023"
    assert report["scores"]["MISEV2023"]["pct"] == 100.0
    assert "T-02" not in {r["code"] for r in report["results"]}


def test_unknown_profile_is_a_400(client_for, seeded):
    response = client_for("viewer").get(report_url(seeded), {"profile": "MISEV1999"})
    assert response.status_code == 400
    assert "profile" in response.json()


def test_another_studys_preparation_is_a_404(client_for, seeded):
    assert client_for("outsider").get(report_url(seeded)).status_code == 404
    assert client_for("viewer").get(f"{API}/ev-preparations/999999/compliance/").status_code == 404


def test_signed_out_is_refused(api_client, seeded):
    assert api_client.get(report_url(seeded)).status_code in (401, 403)


def test_study_reports_in_keyset_pages(client_for, study, seeded, complete, bare):
    client = client_for("viewer")
    url = f"{API}/studies/{study.pk}/compliance/"
    first = client.get(url, {"page_size": 2})
    assert first.status_code == 200
    body = first.json()
    assert [r["preparation_id"] for r in body["results"]] == [seeded.pk, complete.pk]
    assert body["next"]
    second = client.get(body["next"]).json()
    assert [r["preparation_id"] for r in second["results"]] == [bare.pk]
    assert second["next"] is None
    by_id = {r["preparation_id"]: r for r in body["results"] + second["results"]}
    assert by_id[complete.pk]["scores"]["MISEV2018"]["pct"] == 100.0
    assert by_id[bare.pk]["purity"] is None


def test_study_reports_profile_override(client_for, study, seeded):
    body = client_for("viewer").get(
        f"{API}/studies/{study.pk}/compliance/", {"profile": "MISEV2023"}
    )
    assert body.json()["results"][0]["profile"] == "MISEV2023"
    bad = client_for("viewer").get(f"{API}/studies/{study.pk}/compliance/", {"profile": "x"})
    assert bad.status_code == 400


def test_study_reports_are_scoped(client_for, study, other_study, seeded):
    assert client_for("outsider").get(f"{API}/studies/{study.pk}/compliance/").status_code == 404
    client = client_for("viewer")
    assert client.get(f"{API}/studies/{other_study.pk}/compliance/").status_code == 404


def test_evtrack_record_as_json_and_csv(client_for, seeded):
    client = client_for("viewer")
    url = f"{API}/ev-preparations/{seeded.pk}/evtrack/"
    response = client.get(url)
    assert response.status_code == 200
    expected = evtrack.evtrack_records([seeded.pk])[seeded.pk]
    assert response.json() == expected
    assert response.json()["experiment"]["accession"] == seeded.aliquot.accession

    response = client.get(url, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    fields = {r["field"]: r["value"] for r in rows}
    assert fields["experiment.accession"] == seeded.aliquot.accession
    assert len(rows) == len(evtrack.record_rows(expected))


def test_evtrack_is_scoped(client_for, seeded):
    url = f"{API}/ev-preparations/{seeded.pk}/evtrack/"
    assert client_for("outsider").get(url).status_code == 404
    assert client_for("outsider").get(url, {"format": "csv"}).status_code == 404


def test_schema_documents_the_compliance_routes(api_client):
    schema = api_client.get(f"{API}/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/ev-preparations/{id}/compliance/",
        "/api/v1/ev-preparations/{id}/evtrack/",
        "/api/v1/studies/{id}/compliance/",
        "/api/v1/rules/",
        "/api/v1/rules/{id}/",
        "/api/v1/rules/{id}/versions/",
    ):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/v1/rules/"])
    assert {"get", "patch"} <= set(paths["/api/v1/rules/{id}/"])
    assert "put" not in paths["/api/v1/rules/{id}/"]
