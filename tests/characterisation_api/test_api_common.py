"""What every characterisation endpoint shares: signing in, instrument accounts kept out,
the schema, and list pages whose query count does not grow with their rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from assays import characterisation_services as services
from assays import protein_services
from assays.models import FlowMeasurement, Instrument
from exolims.models import ApiToken
from tests.api.helpers import streamed

from .conftest import API, png_bytes, upload
from .plates import bca_plate

LISTS = (
    "protein-measurements",
    "protein-assays",
    "markers",
    "marker-results",
    "imaging-records",
    "flow-measurements",
    "dls-measurements",
    "qpcr-runs",
    "qpcr-results",
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def instrument_client(make_user) -> APIClient:
    """Signed in with an instrument PC's token (an upload-only account)."""
    account = make_user("instrument-reader-1")
    account.set_unusable_password()
    account.save()
    Instrument.objects.create(name="Reader-1", kind="plate_reader", account=account)
    _token, key = ApiToken.issue(user=account, name="reader")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.parametrize("name", LISTS)
def test_signing_in_is_required(api_client, name):
    assert api_client.get(f"{API}/{name}/").status_code == 401


@pytest.mark.parametrize("name", LISTS)
def test_instrument_accounts_may_not_use_these_endpoints(instrument_client, tube, name):
    assert instrument_client.get(f"{API}/{name}/").status_code == 403
    response = instrument_client.post(f"{API}/{name}/", {"aliquot": tube.accession}, format="json")
    assert response.status_code == 403


def test_the_schema_documents_every_endpoint(api_client):
    paths = api_client.get(f"{API}/schema/?format=json").json()["paths"]
    expected = {
        "/api/v1/protein-measurements/": {"get", "post"},
        "/api/v1/protein-measurements/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/protein-assays/": {"get", "post"},
        "/api/v1/protein-assays/{id}/plate-map/": {"post"},
        "/api/v1/protein-assays/{id}/curve.svg/": {"get"},
        "/api/v1/markers/": {"get", "post"},
        "/api/v1/markers/lookup/": {"get"},
        "/api/v1/markers/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/marker-results/": {"get", "post"},
        "/api/v1/marker-results/{id}/blot-image/": {"get"},
        "/api/v1/imaging-records/": {"get", "post"},
        "/api/v1/imaging-records/{id}/images/": {"post"},
        "/api/v1/flow-measurements/{id}/": {"get", "patch"},
        "/api/v1/dls-measurements/": {"get", "post"},
        "/api/v1/dls-measurements/{id}/": {"get", "delete"},
        "/api/v1/qpcr-runs/{id}/sample-map/": {"post"},
        "/api/v1/qpcr-results/": {"get", "post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    listing = {p["name"] for p in paths["/api/v1/marker-results/"]["get"]["parameters"]}
    assert {
        "aliquot",
        "aliquot_accession",
        "sample",
        "study",
        "study_code",
        "measured_after",
        "measured_before",
        "marker",
        "category",
        "detection",
        "method",
    } <= listing


def _records(members, tubes, qpcr_run, count: int) -> None:
    editor = members["editor"]
    for index in range(count):
        tube = tubes[index % len(tubes)]
        services.record_protein_measurement(
            user=editor, aliquot=tube, data={"method": "qubit", "concentration_ug_per_ml": 10}
        )
        services.record_marker_result(
            user=editor,
            aliquot=tube,
            data={"marker": "CD63", "method": "elisa", "detection": "detected"},
        )
        services.record_imaging(
            user=editor,
            aliquot=tube,
            data={"method": "tem"},
            images=[
                (upload("i.png", png_bytes((64, 64))), {"view": "close_up", "scale_bar_nm": 1})
            ],
        )
        services.record_dls_measurement(
            user=editor, aliquot=tube, data={"kind": "size", "z_average_nm": 100}
        )
        services.record_qpcr_results(user=editor, aliquot=tube, rows=[{"target": "x", "cq": 20}])
        FlowMeasurement.objects.create(
            aliquot=tube,
            study_id=tube.study_id,
            event_count=1000,
            file_volume_ul=10,
            operator=editor,
            created_by=editor,
        )
        values, plate_map = bca_plate({tube.pk: (500.0, 1.0)})
        assay = services.create_plate(user=editor, method="bca", name="p", values=values)
        protein_services.save_plate_map(assay, user=editor, plate_map=plate_map)


@pytest.mark.parametrize("name", LISTS)
def test_list_queries_do_not_grow_with_rows(client_for, members, tubes, qpcr_run, name):
    client = client_for("viewer")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{API}/{name}/?page_size=50")
        assert response.status_code == 200, response.content
        return len(captured)

    _records(members, tubes, qpcr_run, 1)
    few = queries()
    _records(members, tubes, qpcr_run, 4)
    assert queries() == few


@pytest.mark.parametrize("name", LISTS)
def test_the_browsable_api_renders(client_for, tube, name):
    response = client_for("editor").get(f"{API}/{name}/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200


@pytest.mark.parametrize("name", [n for n in LISTS if n not in ("protein-assays", "qpcr-runs")])
def test_lists_stream_as_csv(client_for, members, tubes, qpcr_run, name):
    _records(members, tubes, qpcr_run, 1)
    response = client_for("viewer").get(f"{API}/{name}/?format=csv")
    assert response.status_code == 200
    text = streamed(response)
    assert "id" in text.splitlines()[0].split(",")
    assert len(text.splitlines()) >= 2
