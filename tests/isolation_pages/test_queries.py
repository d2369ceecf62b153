"""List and comparison pages cost the same number of queries for 1 row as for many."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays import services

pytestmark = pytest.mark.django_db


def count_queries(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(queries)


def add_protocols(librarian, uc_steps, start: int, count: int):
    versions = []
    for n in range(start, start + count):
        version = services.create_protocol(name=f"Protocol {n}", steps=uc_steps, user=librarian)
        versions.append(services.publish_version(version=version, user=librarian))
    return versions


def add_runs(version, tubes, user, started):
    for tube in tubes:
        services.record_isolation_run(
            version=version,
            inputs=[(tube, Decimal("0.5"))],
            outputs=[{"nomenclature_term": "EV", "volume_ml": "0.1"}],
            user=user,
            started_at=started,
        )


@pytest.fixture
def tubes(sample, members):
    from samples import services as tube_services

    return tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("1")] * 6, user=members["editor"]
    )


def test_protocol_list_queries_do_not_grow(
    page_client, librarian, uc_steps, tubes, members, started
):
    client = page_client("viewer")
    url = reverse("assays:protocol-list")
    first = add_protocols(librarian, uc_steps, 1, 1)
    add_runs(first[0], tubes[:1], members["editor"], started)
    few = count_queries(client, url)
    more = add_protocols(librarian, uc_steps, 2, 5)
    add_runs(more[0], tubes[1:4], members["editor"], started)
    assert count_queries(client, url) == few
    assert (
        count_queries(client, url, {"kind": "ultracentrifugation", "status": "published"})
        <= few + 1
    )


def test_run_list_and_compare_queries_do_not_grow(
    page_client, librarian, uc_steps, tubes, members, started
):
    (version,) = add_protocols(librarian, uc_steps, 1, 1)
    client = page_client("viewer")
    add_runs(version, tubes[:1], members["editor"], started)
    runs_url = reverse("assays:run-list")
    compare_url = reverse("assays:compare")
    params = {"protocols": version.protocol_id, "versions": version.pk}
    few_runs = count_queries(client, runs_url)
    few_compare = count_queries(client, compare_url, params)
    add_runs(version, tubes[1:6], members["editor"], started - timedelta(days=1))
    assert count_queries(client, runs_url) == few_runs
    assert count_queries(client, compare_url, params) == few_compare
