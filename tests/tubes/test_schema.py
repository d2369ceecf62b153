"""The new endpoints are documented, and documenting them raises no warnings."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

MY_VIEWS = ("AliquotViewSet", "StorageUnitViewSet", "CustodyEventViewSet", "SampleLineageView")


def test_schema_lists_tube_endpoints(api_client):
    paths = api_client.get("/api/v1/schema/?format=json").json()["paths"]
    expected = {
        "/api/v1/aliquots/": {"get", "post"},
        "/api/v1/aliquots/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/aliquots/{id}/place/": {"post"},
        "/api/v1/aliquots/{id}/check-out/": {"post"},
        "/api/v1/aliquots/{id}/lineage/": {"get"},
        "/api/v1/aliquots/{id}/history/": {"get"},
        "/api/v1/samples/{id}/lineage/": {"get"},
        "/api/v1/storage-units/": {"get", "post"},
        "/api/v1/storage-units/{id}/positions/": {"get"},
        "/api/v1/storage-units/occupancy/": {"get"},
        "/api/v1/custody-events/": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert "post" not in paths["/api/v1/custody-events/"]


def test_schema_has_no_warnings_for_tube_views(tmp_path: Path):
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        call_command("spectacular", "--validate", "--file", str(tmp_path / "schema.yaml"))
    problems = [line for line in stderr.getvalue().splitlines() if any(v in line for v in MY_VIEWS)]
    assert problems == []


def test_api_root_still_lists_the_main_resources(client_for):
    response = client_for("viewer").get("/api/v1/")
    assert response.status_code == 200
    assert "samples" in response.json()
