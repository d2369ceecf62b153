"""List pages: shared filters, whitelisted sorting, capped pagination, no N+1 queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import exolims.views
from samples.models import Donor

SAMPLES = reverse("samples:sample-list")
DONORS = reverse("samples:donor-list")


@pytest.fixture
def many_samples(study, make_sample):
    batches = iter(range(100))

    def make(count: int):
        prefix = "N" if (batch := next(batches)) == 0 else f"N{batch}"
        donors = [
            Donor.objects.create(study=study, code=f"{prefix}-{n:03d}")
            for n in range(count // 3 + 1)
        ]
        return [
            make_sample(
                donor=donors[n % len(donors)],
                collected_at=timezone.now() - timedelta(hours=n + 1),
                notes=f"row {n}",
            )
            for n in range(count)
        ]

    return make


def accessions(response) -> list[str]:
    return [sample.accession for sample in response.context["page"].rows]


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url",
    [SAMPLES, DONORS, reverse("samples:study-list"), reverse("samples:dashboard")],
)
def test_list_pages_use_a_fixed_number_of_queries(page_client, many_samples, url):
    client = page_client("viewer")
    many_samples(3)
    few = count_queries(client, url)
    many_samples(30)
    assert count_queries(client, url) == few
    assert few <= 8


def test_sample_list_query_budget(page_client, many_samples, django_assert_max_num_queries):
    many_samples(20)
    client = page_client("editor")
    with django_assert_max_num_queries(8):
        client.get(SAMPLES + "?fluid_type=plasma&sort=accession")


def test_filters_match_the_api_filterset(page_client, make_sample, other_sample):
    plasma = make_sample(notes="first draw")
    serum = make_sample(fluid_type="serum", tube_type="serum_clot_activator")
    consumed = make_sample(status="consumed")
    client = page_client("superuser")
    assert accessions(client.get(SAMPLES, {"fluid_type": "serum"})) == [serum.accession]
    got = accessions(client.get(SAMPLES, {"fluid_type": ["serum", "urine"], "sort": "accession"}))
    assert got == sorted([serum.accession, other_sample.accession])
    assert accessions(client.get(SAMPLES, {"status": "consumed"})) == [consumed.accession]
    assert accessions(client.get(SAMPLES, {"q": "first"})) == [plasma.accession]
    by_study = client.get(SAMPLES, {"study": other_sample.study_id})
    assert accessions(by_study) == [other_sample.accession]
    assert accessions(client.get(SAMPLES, {"donor": plasma.donor_id, "fluid_type": "serum"})) == [
        serum.accession
    ]


def test_collected_range_filter(page_client, make_sample):
    old = make_sample(collected_at=timezone.now() - timedelta(days=40))
    make_sample(collected_at=timezone.now() - timedelta(days=2))
    cutoff = (timezone.now() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    response = page_client("viewer").get(SAMPLES, {"collected_before": cutoff})
    assert accessions(response) == [old.accession]


def test_invalid_filter_shows_its_error_and_no_rows(page_client, make_sample):
    make_sample()
    response = page_client("viewer").get(SAMPLES, {"collected_after": "last tuesday"})
    assert response.status_code == 200
    assert accessions(response) == []
    assert "collected_after" in response.context["page"].filterset.form.errors


def test_sorting_is_whitelisted(page_client, many_samples):
    created = many_samples(4)
    client = page_client("viewer")
    ordered = sorted(s.accession for s in created)
    assert accessions(client.get(SAMPLES, {"sort": "accession"})) == ordered
    assert accessions(client.get(SAMPLES, {"sort": "-accession"})) == ordered[::-1]
    # Default: newest collection first; an unknown column falls back to it.
    newest_first = [s.accession for s in created]
    assert accessions(client.get(SAMPLES)) == newest_first
    assert accessions(client.get(SAMPLES, {"sort": "notes; DROP TABLE"})) == newest_first
    assert accessions(client.get(SAMPLES, {"sort": "-donor__code"})) == newest_first


def test_pagination_without_a_full_count(page_client, many_samples, monkeypatch):
    monkeypatch.setattr(exolims.views, "LIST_PAGE_SIZE", 5)
    monkeypatch.setattr(exolims.views, "LIST_COUNT_CAP", 10)
    created = many_samples(12)
    client = page_client("viewer")
    first = client.get(SAMPLES, {"sort": "accession"})
    page = first.context["page"]
    assert len(page.rows) == 5
    assert (page.total, page.total_capped, page.pages) == (10, True, 2)
    assert "of 10+" in first.content.decode()
    with CaptureQueriesContext(connection) as queries:
        second = client.get(SAMPLES + page.next_url)
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 11" in sql for sql in counts)
    page2 = second.context["page"]
    assert accessions(second) == sorted(s.accession for s in created)[5:10]
    assert not page2.has_next  # the cap ends paging; filters reach the rest
    assert "narrow the filters" in second.content.decode()
    beyond = client.get(SAMPLES, {"sort": "accession", "page": "99"})
    assert beyond.context["page"].number == 2
    assert client.get(SAMPLES, {"page": "x"}).context["page"].number == 1


def test_donor_list_shows_sample_counts(page_client, many_samples):
    many_samples(7)
    response = page_client("viewer").get(DONORS, {"sort": "code", "q": "N-"})
    counts = {d.code: d.sample_count for d in response.context["page"].rows}
    assert counts == {"N-000": 3, "N-001": 2, "N-002": 2}


def test_dashboard_counts_per_study_and_fluid(page_client, make_sample, other_sample, members):
    make_sample()
    make_sample()
    make_sample(fluid_type="serum", tube_type="serum_clot_activator")
    context = page_client("viewer").get(reverse("samples:dashboard")).context
    assert [row["code"] for row in context["studies"]] == ["PLASMA-01"]
    assert [label for _, label in context["fluids"]] == ["Blood plasma", "Blood serum"]
    assert context["studies"][0]["counts"] == [2, 1]
    assert context["grand_total"] == 3
    assert len(context["recent"]) == 3
    everything = page_client("superuser").get(reverse("samples:dashboard")).context
    assert everything["grand_total"] == 4
