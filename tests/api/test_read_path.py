"""The cheap read path behind the sample list: driver-decoded rows, the prebuilt values()
query and the shallow-copied filters must give exactly what the plain ORM gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models.query import ValuesIterable
from django.http import QueryDict

from exolims.api import DriverValuesIterable
from samples.api.serializers import SampleSerializer
from samples.filters import SampleFilterSet
from samples.models import Donor, Sample, StudyMembership

from .helpers import API


def test_driver_rows_equal_django_values_rows(make_sample, donor):
    made = [
        make_sample(collected_at=datetime(2025, 6, 1, 9, 30, 5, 123456, tzinfo=UTC)),
        make_sample(centrifugation_steps=None, notes="not recorded"),
        make_sample(centrifugation_steps=[], donor=donor),
    ]
    # Numbers orjson would read differently from json (so from Django): beyond 64 bits
    # (jsonb writes 1e400 out in full) and beyond a double.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE samples_sample SET centrifugation_steps = %s::jsonb WHERE id = %s",
            ['[{"g": 123456789012345678901234567890, "minutes": 1e400}]', made[1].pk],
        )
    queryset = SampleSerializer.read_values(Sample.objects.order_by("id"))
    assert queryset._iterable_class is DriverValuesIterable
    with_django = queryset.all()
    with_django._iterable_class = ValuesIterable

    fast, slow = list(queryset), list(with_django)

    assert fast == slow
    for fast_row, slow_row in zip(fast, slow, strict=True):
        assert [type(v) for v in fast_row.values()] == [type(v) for v in slow_row.values()]
    assert fast[1]["centrifugation_steps"] == [
        {"g": 123456789012345678901234567890, "minutes": 10**400}
    ]
    assert fast[0]["collected_at"] == datetime(2025, 6, 1, 9, 30, 5, 123456, tzinfo=UTC)


def test_driver_rows_stream_in_chunks_and_handle_empty_results(make_sample):
    for _ in range(5):
        make_sample()
    queryset = SampleSerializer.read_values(Sample.objects.order_by("id"))
    assert [r["id"] for r in queryset.iterator(chunk_size=2)] == [r["id"] for r in queryset]
    assert list(queryset.none()) == []
    assert list(queryset.filter(id__in=[])) == []


def test_the_prebuilt_values_query_is_only_ever_cloned(client_for, make_sample):
    make_sample()
    client = client_for("viewer")
    for _ in range(2):
        assert client.get(f"{API}/samples/?fluid_type=plasma").status_code == 200
    prototype = SampleSerializer.__dict__["_read_values_prototype"]
    assert prototype._result_cache is None
    assert not prototype.query.where  # never narrowed in place by a request
    assert prototype.query.order_by == ()


def _sample_query(text: str) -> QueryDict:
    return QueryDict(text)


def test_each_filterset_gets_its_own_filters_bound_to_itself():
    first = SampleFilterSet(_sample_query("q=a"), queryset=Sample.objects.all())
    second = SampleFilterSet(_sample_query("q=b"), queryset=Sample.objects.all())

    for name, base in SampleFilterSet.base_filters.items():
        assert first.filters[name] is not base
        assert first.filters[name] is not second.filters[name]
        assert first.filters[name].parent is first
        assert not hasattr(base, "parent")
    # a method filter calls the method of its own FilterSet
    assert first.filters["q"].filter.method.__self__ is first
    assert second.filters["q"].filter.method.__self__ is second


def test_search_still_filters_through_the_copied_method_filter(client_for, make_sample):
    wanted = make_sample(notes="needle in the notes")
    make_sample(notes="hay")
    rows = client_for("viewer").get(f"{API}/samples/?q=needle").json()["results"]
    assert [r["accession"] for r in rows] == [wanted.accession]


# --- List plans (page SQL kept per request shape) --------------------------------------


def _walk(client, url: str) -> list[dict]:
    """Every page from ``url`` following ``next``, then back once through ``previous``."""
    bodies = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        bodies.append(response.json())
        url = bodies[-1]["next"]
    if bodies[-1]["previous"]:
        bodies.append(client.get(bodies[-1]["previous"]).json())
    return bodies


@pytest.fixture
def varied(make_sample, donor, study):
    second = Donor.objects.create(study=study, code="D-002")
    same_time = datetime(2025, 3, 7, 9, 0, tzinfo=UTC)
    for index in range(7):
        make_sample(
            collected_at=same_time if index % 2 else datetime(2025, 3, index + 1, tzinfo=UTC),
            donor=second if index % 3 == 0 else donor,
            notes=f"draw {index}",
        )
    make_sample(fluid_type="serum", tube_type="serum_clot_activator", status="reserved")


PLANNED_QUERIES = [
    "page_size=2",
    "ordering=collected_at&page_size=2",  # equal times: offset cursors
    "ordering=-collected_at&page_size=3",
    "ordering=accession&page_size=3&fluid_type=plasma&fluid_type=serum",
    "status=reserved",
    "donor_code=D-002&page_size=2",
    "q=draw&page_size=4",
    "collected_after=2025-03-02T00:00:00Z&collected_before=2025-03-07T09:00:00Z&page_size=2",
]


@pytest.mark.parametrize("query", PLANNED_QUERIES)
@pytest.mark.parametrize("role", ["viewer", "superuser"])
def test_planned_pages_equal_freshly_built_pages(client_for, varied, monkeypatch, query, role):
    from samples.api.views import SampleViewSet

    client = client_for(role)
    url = f"{API}/samples/?{query}"
    first_walk = _walk(client, url)  # builds and keeps the plans
    second_walk = _walk(client, url)  # served from them
    monkeypatch.setattr(SampleViewSet, "plan_list_queries", False)
    unplanned = _walk(client, url)
    assert first_walk == second_walk == unplanned
    assert sum(len(body["results"]) for body in unplanned) > 0


def test_a_planned_page_does_not_build_the_queryset_again(client_for, varied, monkeypatch):
    from samples.api.views import SampleViewSet

    client = client_for("viewer")
    url = f"{API}/samples/?fluid_type=plasma&page_size=2"
    expected = _walk(client, url)

    def fail(self):
        raise AssertionError("the plan should have been used")

    monkeypatch.setattr(SampleViewSet, "get_read_queryset", fail)
    assert _walk(client, url) == expected


def test_scoping_is_evaluated_by_every_planned_query(client_for, varied, members, study):
    client = client_for("viewer")
    url = f"{API}/samples/?page_size=3"
    assert client.get(url).json()["results"]
    StudyMembership.objects.filter(user=members["viewer"], study=study).delete()
    assert client.get(url).json()["results"] == []


def test_bad_filters_are_a_400_every_time(client_for, varied):
    client = client_for("viewer")
    for _ in range(2):
        response = client.get(f"{API}/samples/?fluid_type=blood&page_size=2")
        assert response.status_code == 400
        assert "fluid_type" in response.json()


def test_a_changed_page_size_cap_is_a_new_plan(client_for, varied, settings):
    client = client_for("viewer")
    settings.API_MAX_PAGE_SIZE = 2
    assert len(client.get(f"{API}/samples/?page_size=5").json()["results"]) == 2
    settings.API_MAX_PAGE_SIZE = 10
    assert len(client.get(f"{API}/samples/?page_size=5").json()["results"]) == 5


def test_a_planned_page_is_one_query(client_for, varied, django_assert_num_queries):
    client = client_for("viewer")
    first = client.get(f"{API}/samples/?page_size=2").json()
    client.get(first["next"])
    with django_assert_num_queries(1):
        assert client.get(first["next"]).status_code == 200
