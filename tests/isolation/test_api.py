"""/api/v1/ rotors, step kinds, isolation protocols and versions, runs and EV preparations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from assays import services
from assays.models import EVPreparation, IsolationProtocol, IsolationRun, ProtocolVersion
from samples.models import Aliquot

from .conftest import grant_library

ROTORS = "/api/v1/rotors/"
PROTOCOLS = "/api/v1/isolation-protocols/"
VERSIONS = "/api/v1/protocol-versions/"
RUNS = "/api/v1/isolation-runs/"
PREPS = "/api/v1/ev-preparations/"


@pytest.fixture
def lib_client(librarian) -> APIClient:
    client = APIClient()
    client.force_authenticate(librarian)
    return client


def _run_body(version, tube, **overrides):
    started = timezone.now() - timedelta(hours=3)
    body = {
        "protocol_version": version.pk,
        "inputs": [{"aliquot": tube.accession, "volume": "500", "volume_unit": "µL"}],
        "outputs": [
            {
                "nomenclature_term": "small_EV",
                "author_term": "exosomes",
                "resuspension_buffer": "PBS",
                "volume": "100",
                "volume_unit": "µL",
            }
        ],
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(hours=2)).isoformat(),
        "step_actuals": {"2": {"rpm": 35000}},
        "deviations": "none",
    }
    body.update(overrides)
    return body


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


# --- Step kinds and rotors -----------------------------------------------------------------


def test_step_kinds_list_and_detail(client_for):
    client = client_for("viewer")
    kinds = client.get("/api/v1/step-kinds/").json()
    assert {k["kind"] for k in kinds} >= {"ultracentrifugation", "sec", "other"}
    uc = client.get("/api/v1/step-kinds/ultracentrifugation/").json()
    assert any(p["name"] == "g_force" and p["unit"] == "×g" for p in uc["parameters"])
    assert client.get("/api/v1/step-kinds/centrifuge/").status_code == 404


def test_rotors_readable_by_all_writable_with_permission(client_for, lib_client, sw41):
    viewer = client_for("viewer")
    body = viewer.get(f"{ROTORS}{sw41.pk}/").json()
    assert body["k_factor_max"] == 124 and body["k_factor_computed"] == pytest.approx(123.5)
    assert body["r_avg_mm"] == pytest.approx(110.25)
    new = {
        "name": "TLA-100",
        "rotor_type": "fixed_angle",
        "r_min_mm": 13,
        "r_max_mm": 39,
        "max_rpm": 100000,
    }
    assert viewer.post(ROTORS, new, format="json").status_code == 403
    response = lib_client.post(ROTORS, new, format="json")
    assert response.status_code == 201, response.content
    bad = {**new, "name": "Bad", "r_min_mm": 50}
    response = lib_client.post(ROTORS, bad, format="json")
    assert response.status_code == 400 and "r max must be larger" in str(response.json())


def test_rotor_convert(client_for, sw41):
    client = client_for("viewer")
    body = client.get(f"{ROTORS}{sw41.pk}/convert/?rpm=41000").json()
    assert body["rcf_max"] == pytest.approx(287_730, abs=1)
    assert body["k_factor"] == 124 and not body["above_max_rpm"]
    body = client.get(f"{ROTORS}{sw41.pk}/convert/?rcf=100000&basis=average").json()
    assert body["rpm"] == pytest.approx(28_484, abs=1)
    assert body["k_factor"] == pytest.approx(124 * (41000 / 28484) ** 2, abs=0.2)
    for query in ("", "?rpm=1&rcf=2", "?rpm=abc", "?rpm=-5", "?rcf=1&basis=median"):
        assert client.get(f"{ROTORS}{sw41.pk}/convert/{query}").status_code == 400, query


def test_rotor_in_use_cannot_be_deleted(lib_client, draft, sw41, librarian):
    grant_library(librarian)
    response = lib_client.delete(f"{ROTORS}{sw41.pk}/")
    assert response.status_code == 409


# --- Protocols and versions ----------------------------------------------------------------


def test_create_protocol_with_steps(lib_client, uc_steps):
    response = lib_client.post(
        PROTOCOLS,
        {"name": "dUC", "description": "classic", "steps": uc_steps, "changes": "first"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    (version,) = body["versions"]
    assert version["number"] == 1 and version["status"] == "draft" and not version["is_frozen"]
    assert [s["kind"] for s in version["steps"]] == [
        "differential_centrifugation",
        "ultracentrifugation",
    ]
    assert version["steps"][1]["rotor_name"] == "SW 41 Ti"
    assert version["steps"][1]["parameters"]["resuspension_volume_ml"] == 0.1


def test_bad_steps_are_400_per_step_and_nothing_saved(lib_client, uc_steps):
    steps = [
        uc_steps[0],
        {"kind": "ultracentrifugation", "parameters": {"g_force": 0, "spin": 1}},
        {"kind": "teleport"},
    ]
    response = lib_client.post(PROTOCOLS, {"name": "Bad", "steps": steps}, format="json")
    assert response.status_code == 400
    errors = response.json()["steps"]
    assert errors[0] == {}
    assert "g_force: must be between 1 and 1,500,000 ×g" in errors[1]["parameters"]["g_force"][0]
    assert "not a parameter" in errors[1]["parameters"]["spin"][0]
    assert "not a step kind" in errors[2]["kind"][0]
    assert not IsolationProtocol.objects.exists()


def test_protocol_writes_need_the_library_permission(client_for, uc_steps, draft):
    editor = client_for("manager")
    assert editor.post(PROTOCOLS, {"name": "X", "steps": []}, format="json").status_code == 403
    assert editor.post(f"{VERSIONS}{draft.pk}/publish/").status_code == 403
    assert editor.get(f"{PROTOCOLS}{draft.protocol_id}/").status_code == 200


def test_version_lifecycle_through_the_api(lib_client, draft, uc_steps):
    url = f"{VERSIONS}{draft.pk}/"
    sec = {"kind": "sec", "parameters": {"column": "qEV", "load_volume_ml": 0.5}}
    response = lib_client.put(f"{url}steps/", {"steps": [*uc_steps, sec]}, format="json")
    assert response.status_code == 200 and len(response.json()["steps"]) == 3

    assert lib_client.post(f"{url}publish/").json()["status"] == "published"
    response = lib_client.put(f"{url}steps/", {"steps": uc_steps}, format="json")
    assert response.status_code == 409
    assert "is published; its steps cannot change" in response.json()["detail"]
    assert ProtocolVersion.objects.get(pk=draft.pk).steps.count() == 3

    response = lib_client.put(
        f"{url}steps/", {"steps": uc_steps, "new_version": True, "changes": "no SEC"}, format="json"
    )
    assert response.status_code == 201
    v2 = response.json()
    assert v2["number"] == 2 and v2["status"] == "draft" and len(v2["steps"]) == 2

    diff = lib_client.get(f"{VERSIONS}{v2['id']}/diff/?against={draft.pk}").json()
    assert diff["has_changes"] and diff["steps"][2]["status"] == "removed"
    assert lib_client.get(f"{VERSIONS}{v2['id']}/diff/").status_code == 400
    assert lib_client.get(f"{VERSIONS}{v2['id']}/diff/?against=999999").status_code == 400

    assert lib_client.post(f"{url}retire/").json()["status"] == "retired"
    assert lib_client.post(f"{url}retire/").status_code == 400
    response = lib_client.patch(url, {"changes": "late"}, format="json")
    assert response.status_code == 409


def test_new_version_and_clone_actions(lib_client, published):
    pid = published.protocol_id
    response = lib_client.post(f"{PROTOCOLS}{pid}/versions/", {"changes": "v2"}, format="json")
    assert response.status_code == 201 and response.json()["number"] == 2
    response = lib_client.post(f"{PROTOCOLS}{pid}/versions/", {}, format="json")
    assert response.status_code == 409 and "already a draft" in response.json()["detail"]

    response = lib_client.post(f"{PROTOCOLS}{pid}/clone/", {"new_name": "Copy"}, format="json")
    assert response.status_code == 201
    clone = response.json()
    assert clone["cloned_from"] == published.pk  # the published one, not the newer draft
    assert clone["versions"][0]["number"] == 1
    response = lib_client.post(f"{PROTOCOLS}{pid}/clone/", {"new_name": "copy"}, format="json")
    assert response.status_code == 400 and "already exists" in str(response.json())

    response = lib_client.patch(f"{PROTOCOLS}{pid}/", {"description": "new words"}, format="json")
    assert response.status_code == 200 and response.json()["description"] == "new words"


def test_protocol_list_query_count_is_constant(lib_client, librarian, uc_steps):
    services.create_protocol(name="P1", steps=uc_steps, user=librarian)
    protocols, versions = (
        _count_queries(lib_client, PROTOCOLS),
        _count_queries(lib_client, VERSIONS),
    )
    for n in range(2, 6):
        version = services.create_protocol(name=f"P{n}", steps=uc_steps, user=librarian)
        services.publish_version(version=version, user=librarian)
        services.create_next_version(version=version, user=librarian)
    assert ProtocolVersion.objects.count() == 9
    assert _count_queries(lib_client, PROTOCOLS) == protocols
    assert _count_queries(lib_client, VERSIONS) == versions


def test_sop_document_upload_on_a_draft(lib_client, draft, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    sop = SimpleUploadedFile("sop.pdf", b"%PDF-1.4 sop", content_type="application/pdf")
    response = lib_client.patch(
        f"{VERSIONS}{draft.pk}/",
        {"sop_document": sop, "recovery_specificity": "intermediate"},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["sop_document"].endswith(".pdf") and body["recovery_specificity"] == "intermediate"
    response = lib_client.patch(
        f"{VERSIONS}{draft.pk}/", {"recovery_specificity": "best"}, format="json"
    )
    assert response.status_code == 400


# --- Runs and preparations ---------------------------------------------------------------


def test_run_round_trip(lib_client, client_for, librarian, uc_steps, input_tube, box, members):
    # Protocol → publish → run, all through the API.
    created = lib_client.post(PROTOCOLS, {"name": "dUC", "steps": uc_steps}, format="json").json()
    version_id = created["versions"][0]["id"]
    assert lib_client.post(f"{VERSIONS}{version_id}/publish/").status_code == 200
    version = ProtocolVersion.objects.get(pk=version_id)

    body = _run_body(version, input_tube)
    body["outputs"].append(
        {
            "nomenclature_term": "EV",
            "fraction": "P2",
            "volume": "0.05",
            "box": box.pk,
            "position": "A3",
        }
    )
    response = lib_client.post(RUNS, body, format="json")
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["study"] == input_tube.study_id and run["preparation_count"] == 2
    assert run["input_volume_ml"] == 0.5
    # The actual speed on the step's rotor also records the force it amounted to.
    assert run["step_actuals"] == {"2": {"rpm": 35000, "g_force": 150993.0, "g_basis": "average"}}
    (run_input,) = run["inputs"]
    assert run_input["accession"] == input_tube.accession
    assert run_input["remaining_volume_ml"] == 3.5
    assert [p["nomenclature_term"] for p in run_input["preparations"]] == ["small_EV", "EV"]
    assert run_input["preparations"][1]["position"] == "A3"
    (figures,) = run["rotor_figures"]
    assert figures["rpm"] == 35000 and figures["rotor_name"] == "SW 41 Ti"
    assert run["steps"][1]["actual"]["rpm"] == 35000

    # The preparations are ordinary tubes in the lineage.
    prep_id = run_input["preparations"][0]["aliquot"]
    viewer = client_for("viewer")
    tube = viewer.get(f"/api/v1/aliquots/{prep_id}/").json()
    assert tube["kind"] == "ev_preparation" and tube["parent"] == input_tube.pk
    assert tube["volume_ml"] == 0.1
    lineage = viewer.get(f"/api/v1/aliquots/{input_tube.pk}/lineage/").json()
    assert prep_id in {n["id"] for n in lineage["descendants"]}

    preps = viewer.get(f"{PREPS}?run={run['id']}&nomenclature_term=small_EV").json()["results"]
    assert [p["aliquot"] for p in preps] == [prep_id]
    assert preps[0]["protocol_name"] == "dUC" and preps[0]["author_term"] == "exosomes"
    assert preps[0]["source_accession"] == input_tube.accession

    listed = viewer.get(f"{RUNS}?protocol={created['id']}").json()["results"]
    assert [r["id"] for r in listed] == [run["id"]]
    assert viewer.get(f"{RUNS}?version=999999").json()["results"] == []
    history = viewer.get(f"{RUNS}{run['id']}/history/").json()
    assert history[0]["action"] == "insert" and history[0]["username"] == librarian.username


def test_run_filters_by_time_and_study(client_for, run_for, started, study):
    run = run_for()
    client = client_for("viewer")
    after = (started - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert [r["id"] for r in client.get(RUNS, {"started_after": after}).json()["results"]] == [
        run.pk
    ]
    assert client.get(RUNS, {"started_before": after}).json()["results"] == []
    assert [r["id"] for r in client.get(RUNS, {"study": study.pk}).json()["results"]] == [run.pk]
    assert client.get(RUNS, {"study": "abc"}).status_code == 400


def test_viewer_cannot_record_a_run(client_for, published, input_tube):
    response = client_for("viewer").post(RUNS, _run_body(published, input_tube), format="json")
    assert response.status_code == 403
    assert not IsolationRun.objects.exists()


def test_editor_elsewhere_gets_403_for_this_study(
    client_for, published, input_tube, members, other_study
):
    from samples.choices import Role
    from samples.models import StudyMembership

    StudyMembership.objects.create(study=other_study, user=members["viewer"], role=Role.EDITOR)
    response = client_for("viewer").post(RUNS, _run_body(published, input_tube), format="json")
    assert response.status_code == 403 and "editor role in study PLASMA-01" in str(response.json())


def test_outsider_sees_nothing(client_for, run_for):
    run = run_for()
    outsider = client_for("outsider")
    assert outsider.get(f"{RUNS}{run.pk}/").status_code == 404
    assert outsider.get(f"{RUNS}{run.pk}/history/").status_code == 404
    prep = run.preparations.get()
    assert outsider.get(f"{PREPS}{prep.pk}/").status_code == 404
    assert outsider.get(RUNS).json()["results"] == []
    assert outsider.get(PREPS).json()["results"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"inputs": []}, "inputs"),
        ({"outputs": []}, "outputs"),
        ({"started_at": "2026-01-01T10:00:00"}, "started_at"),
        ({"inputs": [{"aliquot": "EXO-999999", "volume": "1"}]}, "inputs"),
        ({"inputs": [{"aliquot": "1", "volume": "1", "volume_unit": "cups"}]}, "inputs"),
        ({"outputs": [{"nomenclature_term": "exosome", "volume": "1"}]}, "outputs"),
        ({"outputs": [{"nomenclature_term": "EV", "volume": "1", "position": "A1"}]}, "outputs"),
        ({"outputs": [{"nomenclature_term": "EV", "volume": "1", "box": 999999}]}, "outputs"),
        ({"step_actuals": {"2": {"rpm": "fast"}}}, "step_actuals"),
        ({"step_actuals": ["rpm"]}, "step_actuals"),
        ({"protocol_version": 999999}, "protocol_version"),
        ({"operator": 999999}, "operator"),
    ],
)
def test_bad_run_input_is_400_and_nothing_saved(lib_client, published, input_tube, change, field):
    body = {**_run_body(published, input_tube), **change}
    response = lib_client.post(RUNS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not IsolationRun.objects.exists()
    assert not Aliquot.objects.filter(kind="ev_preparation").exists()
    input_tube.refresh_from_db()
    assert input_tube.remaining_volume_ml == Decimal("4.0")


def test_run_volume_too_large_is_400(lib_client, published, input_tube):
    body = _run_body(published, input_tube)
    body["inputs"][0].update(volume="4.5", volume_unit="mL")
    response = lib_client.post(RUNS, body, format="json")
    assert response.status_code == 400 and "only 4 mL left" in str(response.json()["inputs"])


def test_runs_csv(client_for, run_for):
    run = run_for()
    response = client_for("viewer").get(RUNS, {"format": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    header, row = text.strip().splitlines()
    assert header.startswith("id,url,study") and row.startswith(f"{run.pk},")


def test_runs_are_not_edited_or_deleted(lib_client, run_for):
    run = run_for()
    assert lib_client.delete(f"{RUNS}{run.pk}/").status_code == 405
    assert lib_client.patch(f"{RUNS}{run.pk}/", {"notes": "x"}, format="json").status_code == 405


def test_run_and_preparation_lists_have_constant_query_counts(
    client_for, run_for, input_tube, second_tube
):
    client = client_for("viewer")
    run_for()
    runs, preps = _count_queries(client, RUNS), _count_queries(client, PREPS)
    detail = _count_queries(client, f"{RUNS}{IsolationRun.objects.get().pk}/")
    for _ in range(3):
        run = run_for(
            inputs=[(input_tube, "0.5"), (second_tube, "0.5")],
            outputs=[
                {"nomenclature_term": "EV", "volume_ml": "0.1", "input": 0},
                {"nomenclature_term": "EV", "volume_ml": "0.1", "input": 1},
                {"nomenclature_term": "EV", "volume_ml": "0.1", "input": 1},
            ],
        )
    assert EVPreparation.objects.count() == 10
    assert _count_queries(client, RUNS) == runs
    assert _count_queries(client, PREPS) == preps
    assert _count_queries(client, f"{RUNS}{run.pk}/") == detail
