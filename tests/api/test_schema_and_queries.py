"""OpenAPI schema and docs (no CDN), and constant query counts on list endpoints."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from django.core.management import call_command

from exolims.models import ApiToken
from samples.models import Donor, Study, StudyMembership

from .helpers import API, streamed

ENDPOINTS = {
    "/api/v1/studies/": {"get", "post"},
    "/api/v1/studies/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/memberships/": {"get", "post"},
    "/api/v1/memberships/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/donors/": {"get", "post"},
    "/api/v1/donors/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/samples/": {"get", "post"},
    "/api/v1/samples/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/tokens/": {"get", "post"},
    "/api/v1/tokens/{id}/": {"get", "delete"},
    "/api/v1/me/": {"get"},
}
MY_VIEWS = (
    "StudyViewSet",
    "MembershipViewSet",
    "DonorViewSet",
    "SampleViewSet",
    "ApiTokenViewSet",
    "MeView",
)


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get(f"{API}/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_lists_every_endpoint_and_method(schema):
    paths = schema["paths"]
    for path, methods in ENDPOINTS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("responses"), (path, method)


def test_schema_documents_volume_units_csv_and_filters(schema):
    request = schema["components"]["schemas"]["SampleRequest"]["properties"]
    assert {"volume_ml", "volume", "volume_unit"} <= set(request)
    unit_ref = request["volume_unit"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][unit_ref]["enum"]) == {"mL", "µL", "uL", "L"}
    assert "accession" not in request and "sprec_code" not in request
    read = schema["components"]["schemas"]["Sample"]["properties"]
    assert read["volume_ml"]["type"] == "number"
    assert "volume" not in read and "volume_unit" not in read
    listing = schema["paths"]["/api/v1/samples/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {
        "study",
        "fluid_type",
        "status",
        "donor",
        "collected_after",
        "collected_before",
        "q",
        "ordering",
        "cursor",
        "page_size",
        "format",
    } <= names
    assert "text/csv" in listing["responses"]["200"]["content"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_schema_generation_validates_without_warnings_for_these_endpoints(tmp_path: Path):
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        call_command("spectacular", "--validate", "--file", str(tmp_path / "schema.yaml"))
    problems = [line for line in stderr.getvalue().splitlines() if any(v in line for v in MY_VIEWS)]
    assert problems == []
    assert "paths:" in (tmp_path / "schema.yaml").read_text()


def test_docs_page_uses_no_cdn(api_client):
    response = api_client.get(f"{API}/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    for cdn in ("cdn", "jsdelivr", "unpkg"):
        assert cdn not in html.lower()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any("swagger-ui-bundle" in a for a in assets), assets
    for asset in assets:
        served = api_client.get(asset)
        assert served.status_code == 200, asset
        if asset.endswith((".js", ".css")):
            body = streamed(served)
            assert "cdn.jsdelivr" not in body and "unpkg.com" not in body


# --- Query counts ----------------------------------------------------------------------


def _grow_samples(n, ctx):
    for _ in range(n):
        ctx["make_sample"]()


def _grow_donors(n, ctx):
    start = Donor.objects.count()
    Donor.objects.bulk_create(Donor(study=ctx["study"], code=f"G-{start + i}") for i in range(n))


def _grow_memberships(n, ctx):
    start = StudyMembership.objects.count()
    for i in range(n):
        user = ctx["make_user"](f"grown_{start + i}")
        StudyMembership.objects.create(study=ctx["study"], user=user, role="viewer")


def _grow_studies(n, ctx):
    start = Study.objects.count()
    for i in range(n):
        grown = Study.objects.create(code=f"GROWN-{start + i}", title="grown")
        StudyMembership.objects.create(study=grown, user=ctx["members"]["editor"], role="editor")


def _grow_tokens(n, ctx):
    for i in range(n):
        ApiToken.issue(user=ctx["members"]["editor"], name=f"t{i}")


GROW = {
    "samples": _grow_samples,
    "donors": _grow_donors,
    "memberships": _grow_memberships,
    "studies": _grow_studies,
    "tokens": _grow_tokens,
}


@pytest.fixture
def ctx(study, members, make_sample, make_user):
    return {"study": study, "members": members, "make_sample": make_sample, "make_user": make_user}


LIST_CASES = [
    *((resource, "") for resource in GROW),
    *((resource, "?format=csv") for resource in GROW if resource != "tokens"),
    ("samples", "?fluid_type=plasma&status=available&ordering=collected_at"),
    ("samples", "?q=EXO&page_size=5"),
]


@pytest.mark.parametrize(("resource", "query"), LIST_CASES)
def test_list_queries_stay_constant_as_rows_grow(
    client_for, ctx, django_assert_num_queries, resource, query
):
    client = client_for("editor")
    GROW[resource](2, ctx)
    # One query: the page (scoping is a subquery inside it, and there is no COUNT(*)).
    with django_assert_num_queries(1):
        small = client.get(f"{API}/{resource}/{query}")
        body_small = streamed(small)
    GROW[resource](25, ctx)
    with django_assert_num_queries(1):
        large = client.get(f"{API}/{resource}/{query}")
        body_large = streamed(large)
    assert small.status_code == large.status_code == 200
    assert len(body_large) > len(body_small)


def test_sample_detail_is_one_query(client_for, make_sample, django_assert_num_queries):
    sample = make_sample()
    client = client_for("viewer")
    with django_assert_num_queries(1):
        assert client.get(f"{API}/samples/{sample.pk}/").status_code == 200


def test_token_authentication_adds_at_most_one_query(
    members, make_sample, django_assert_num_queries, monkeypatch
):
    from rest_framework.test import APIClient

    from exolims import authentication

    monkeypatch.setattr(authentication, "_clock", lambda: 1000.0)  # the cache window stays open
    make_sample()
    _token, key = ApiToken.issue(user=members["viewer"], name="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.get(f"{API}/samples/")  # first use records last_used_at and drops the cached row
    with django_assert_num_queries(2):  # the token lookup, then the page
        assert client.get(f"{API}/samples/").status_code == 200
    with django_assert_num_queries(1):  # the lookup is reused for API_TOKEN_CACHE_SECONDS
        assert client.get(f"{API}/samples/").status_code == 200
