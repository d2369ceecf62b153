"""/api/v1/particle-measurements/ (read-only, scoped, filtered) and /api/v1/instruments/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from assays import intake
from assays.models import Instrument, ParticleMeasurement

from .conftest import API

RESULTS = f"{API}/particle-measurements/"
INSTRUMENTS = f"{API}/instruments/"
pytestmark = pytest.mark.django_db

DISTRIBUTION = {
    "bin_centres_nm": [50.5, 51.5, 52.5],
    "mean": [1.0e6, 2.0e6, 1.0e6],
    "replicates": [[1.0e6, 2.0e6, 1.0e6], [1.1e6, 1.9e6, None]],
}


def result(user, tube, *, data: bytes, **values) -> ParticleMeasurement:
    record, _ = intake.register_instrument_file(
        upload=ContentFile(data, name="ExperimentSummary.csv"), user=user, aliquot=tube
    )
    defaults = {
        "method": "NTA",
        "measured_at": timezone.now(),
        "concentration_per_ml": 1.2e10,
        "mode_nm": 95.0,
        "settings": {"temperature_c": 22.1, "camera_level": 14},
        "distribution": DISTRIBUTION,
    }
    defaults.update(values)
    return ParticleMeasurement.objects.create(
        instrument_file=record, aliquot=tube, study=tube.study, **defaults
    )


@pytest.fixture
def results(members, tube, foreign_tube, enqueued):
    now = timezone.now()
    return {
        "nta": result(members["editor"], tube, data=b"a", measured_at=now - timedelta(days=3)),
        "zeta": result(
            members["editor"],
            tube,
            data=b"b",
            method="ZetaView",
            measured_at=now,
            flags=[{"code": "high_cv", "message": "Replicate CV 31 % (> 25 %)."}],
        ),
        "foreign": result(members["superuser"], foreign_tube, data=b"c"),
    }


def ids(client, query: str = "") -> set[int]:
    response = client.get(f"{RESULTS}?{query}")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_results_are_scoped_to_my_studies(client_for, results):
    mine = {results["nta"].pk, results["zeta"].pk}
    assert ids(client_for("viewer")) == mine
    assert ids(client_for("outsider")) == set()
    assert ids(client_for("superuser")) == mine | {results["foreign"].pk}
    assert client_for("viewer").get(f"{RESULTS}{results['foreign'].pk}/").status_code == 404


def test_the_distribution_only_in_the_detail(client_for, results, tube):
    client = client_for("viewer")
    listed = client.get(RESULTS).json()["results"][0]
    assert "distribution" not in listed and "settings" not in listed
    assert listed["aliquot_accession"] == tube.accession
    assert listed["sample_accession"] == tube.sample.accession
    detail = client.get(f"{RESULTS}{results['nta'].pk}/").json()
    assert detail["distribution"] == DISTRIBUTION
    assert detail["settings"] == {"temperature_c": 22.1, "camera_level": 14}
    assert detail["concentration_per_ml"] == 1.2e10
    assert detail["url"] == f"http://testserver{RESULTS}{results['nta'].pk}/"


def test_result_filters(client_for, results, tube):
    client = client_for("viewer")
    both = {results["nta"].pk, results["zeta"].pk}
    short = "exo-" + tube.accession.split("-")[1].lstrip("0")
    assert ids(client, f"aliquot={tube.accession}") == both
    assert ids(client, f"aliquot={short}") == both
    assert ids(client, f"aliquot={tube.pk}") == both
    assert ids(client, "aliquot=EXO-999999") == set()
    assert ids(client, f"sample={tube.sample.accession}") == both
    assert ids(client, f"sample={tube.sample_id}") == both
    assert ids(client, f"study={tube.study_id}") == both
    assert ids(client, f"study={results['foreign'].study_id}") == set()
    assert ids(client, "method=ZetaView") == {results["zeta"].pk}
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+", "%2B")
    assert ids(client, f"measured_after={since}") == {results["zeta"].pk}
    assert ids(client, f"measured_before={since}") == {results["nta"].pk}
    assert ids(client, "flagged=true") == {results["zeta"].pk}
    assert ids(client, "flagged=false") == {results["nta"].pk}
    assert ids(client, f"instrument_file={results['nta'].instrument_file_id}") == {
        results["nta"].pk
    }
    assert client.get(f"{RESULTS}?method=SEM").status_code == 400
    assert client.get(f"{RESULTS}?study=x").status_code == 400


def test_results_are_read_only(client_for, results):
    client = client_for("superuser")
    assert client.post(RESULTS, {}, format="json").status_code == 405
    assert client.delete(f"{RESULTS}{results['nta'].pk}/").status_code == 405


def test_instruments_are_readable_by_people_and_changed_with_the_permission(
    client_for, members, instrument, instrument_account
):
    listed = client_for("viewer").get(INSTRUMENTS)
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert (row["name"], row["account_username"]) == ("NTA-1", "instrument-nta-1")
    assert client_for("editor").post(INSTRUMENTS, {"name": "X", "kind": "nta"}).status_code == 403

    editor = members["editor"]
    editor.user_permissions.add(Permission.objects.get(codename="add_instrument"))
    fresh = APIClient()
    fresh.force_authenticate(type(editor).objects.get(pk=editor.pk))  # no cached permissions
    created = fresh.post(
        INSTRUMENTS, {"name": "Flow-1", "kind": "flow", "model": "NanoFCM"}, format="json"
    )
    assert created.status_code == 201, created.content
    duplicate = client_for("superuser").post(
        INSTRUMENTS, {"name": "Flow-1", "kind": "flow"}, format="json"
    )
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    bad_kind = client_for("superuser").post(
        INSTRUMENTS, {"name": "Y", "kind": "teleporter"}, format="json"
    )
    assert bad_kind.status_code == 400
    # The account is given by create_instrument_account, never through the API.
    changed = client_for("superuser").patch(
        f"{INSTRUMENTS}{created.json()['id']}/", {"account": members["editor"].pk}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["account"] is None
    history = client_for("viewer").get(f"{INSTRUMENTS}{instrument.pk}/history/")
    assert history.status_code == 200


def test_an_instrument_with_files_cannot_be_deleted(client_for, instrument_account, enqueued):
    intake.register_instrument_file(
        upload=ContentFile(b"data", name="a.csv"), user=instrument_account
    )
    instrument = Instrument.objects.get(name="NTA-1")
    response = client_for("superuser").delete(f"{INSTRUMENTS}{instrument.pk}/")
    assert response.status_code == 409
    assert Instrument.objects.filter(pk=instrument.pk).exists()
