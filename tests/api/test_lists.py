"""Lists: filters, ordering, cursor pagination and CSV, always inside the caller's studies."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from samples.api.serializers import SampleSerializer
from samples.models import Donor, Sample

from .helpers import API, streamed


def when(day: int) -> datetime:
    return datetime(2025, 3, day, 9, 0, tzinfo=UTC)


@pytest.fixture
def catalogue(study, donor, foreign_sample, make_sample):
    """Five samples in ``study`` with distinct fluid, status, donor, date and notes."""
    second = Donor.objects.create(study=study, code="D-002")
    samples = {
        "plasma": make_sample(collected_at=when(1), notes="baseline draw"),
        "serum": make_sample(
            fluid_type="serum", tube_type="serum_clot_activator", collected_at=when(2)
        ),
        "urine": make_sample(
            fluid_type="urine",
            tube_type="pp_sterile",
            urine_void_type="first_morning",
            collected_at=when(3),
            donor=second,
            status="reserved",
        ),
        "plasma2": make_sample(collected_at=when(4), donor=second, notes="follow-up"),
        "saliva": make_sample(
            fluid_type="saliva", tube_type="pp_sterile", collected_at=when(5), status="consumed"
        ),
    }
    samples["second_donor"] = second
    samples["foreign"] = foreign_sample
    return samples


def accessions(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["accession"] for row in response.json()["results"]]


def acc(*samples: Sample) -> set[str]:
    return {s.accession for s in samples}


# --- Filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fluid_type=plasma", ["plasma", "plasma2"]),
        ("fluid_type=plasma&fluid_type=urine", ["plasma", "plasma2", "urine"]),
        ("status=reserved", ["urine"]),
        ("status=available&fluid_type=serum", ["serum"]),
        (
            "collected_after=2025-03-02T00:00:00Z&collected_before=2025-03-04T12:00:00Z",
            ["serum", "urine", "plasma2"],
        ),
        ("q=follow", ["plasma2"]),
        ("q=BASELINE", ["plasma"]),
        ("study_code=PLASMA-01", ["plasma", "serum", "urine", "plasma2", "saliva"]),
        ("donor_code=D-002", ["urine", "plasma2"]),
    ],
)
def test_sample_filters(client_for, catalogue, query, expected):
    response = client_for("viewer").get(f"{API}/samples/?{query}")
    assert set(accessions(response)) == {catalogue[name].accession for name in expected}


def test_filter_by_study_and_donor_ids(client_for, catalogue, study):
    client = client_for("viewer")
    by_study = accessions(client.get(f"{API}/samples/?study={study.pk}"))
    assert len(by_study) == 5
    by_donor = accessions(client.get(f"{API}/samples/?donor={catalogue['second_donor'].pk}"))
    assert set(by_donor) == acc(catalogue["urine"], catalogue["plasma2"])


def test_q_finds_by_accession(client_for, catalogue):
    target = catalogue["serum"].accession
    assert accessions(client_for("viewer").get(f"{API}/samples/?q={target}")) == [target]


def test_filtering_on_a_foreign_study_finds_nothing(client_for, catalogue, other_study):
    client = client_for("viewer")
    assert accessions(client.get(f"{API}/samples/?study={other_study.pk}")) == []
    assert accessions(client.get(f"{API}/samples/?q={catalogue['foreign'].accession}")) == []


def test_superuser_sees_every_study(client_for, catalogue):
    assert len(accessions(client_for("superuser").get(f"{API}/samples/"))) == 6


@pytest.mark.parametrize(
    "query",
    ["study=abc", "study=1.5", "fluid_type=blood", "status=lost", "collected_after=yesterday"],
)
def test_bad_filter_values_are_a_400(client_for, catalogue, query):
    response = client_for("viewer").get(f"{API}/samples/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_donor_filters(client_for, catalogue, study):
    client = client_for("viewer")
    rows = client.get(f"{API}/donors/?study={study.pk}&q=002").json()["results"]
    assert [r["code"] for r in rows] == ["D-002"]
    assert client.get(f"{API}/donors/?sex=female").json()["results"][0]["code"] == "D-001"


def test_membership_and_study_filters(client_for, study):
    client = client_for("viewer")
    rows = client.get(f"{API}/memberships/?role=manager&study={study.pk}").json()["results"]
    assert [r["username"] for r in rows] == ["mona_manager"]
    assert client.get(f"{API}/studies/?q=plasma").json()["results"][0]["code"] == "PLASMA-01"
    assert client.get(f"{API}/studies/?is_active=false").json()["results"] == []


# --- Ordering --------------------------------------------------------------------------


def test_default_order_is_newest_first(client_for, catalogue):
    rows = accessions(client_for("viewer").get(f"{API}/samples/"))
    assert rows == sorted(rows, reverse=True)


def test_ordering_by_collection_time(client_for, catalogue):
    client = client_for("viewer")
    names = ["plasma", "serum", "urine", "plasma2", "saliva"]
    assert accessions(client.get(f"{API}/samples/?ordering=collected_at")) == [
        catalogue[n].accession for n in names
    ]
    assert accessions(client.get(f"{API}/samples/?ordering=-collected_at")) == [
        catalogue[n].accession for n in reversed(names)
    ]


def test_ordering_outside_the_whitelist_is_a_400(client_for, catalogue):
    response = client_for("viewer").get(f"{API}/samples/?ordering=notes")
    assert response.status_code == 400
    assert "collected_at" in response.json()["ordering"][0]


# --- Cursor pagination -----------------------------------------------------------------


def test_next_cursor_walks_every_row_once(client_for, catalogue):
    client = client_for("viewer")
    seen: list[str] = []
    url = f"{API}/samples/?page_size=2"
    pages = 0
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [row["accession"] for row in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3
    assert sorted(seen, reverse=True) == seen
    assert set(seen) == acc(
        *(catalogue[n] for n in ["plasma", "serum", "urine", "plasma2", "saliva"])
    )
    assert "count" not in body  # no COUNT(*) over a million rows


def test_cursor_keeps_filters_and_ordering(client_for, catalogue):
    client = client_for("viewer")
    first = client.get(f"{API}/samples/?fluid_type=plasma&ordering=collected_at&page_size=1").json()
    second = client.get(first["next"]).json()
    assert [first["results"][0]["accession"], second["results"][0]["accession"]] == [
        catalogue["plasma"].accession,
        catalogue["plasma2"].accession,
    ]
    assert second["next"] is None
    assert client.get(second["previous"]).json()["results"] == first["results"]


def test_page_size_is_capped(client_for, catalogue, settings):
    settings.API_MAX_PAGE_SIZE = 3
    body = client_for("viewer").get(f"{API}/samples/?page_size=1000").json()
    assert len(body["results"]) == 3
    assert body["next"] is not None


@pytest.mark.parametrize("size", ["0", "-1", "abc", "2.5", ""])
def test_bad_page_size_is_a_400(client_for, catalogue, size):
    response = client_for("viewer").get(f"{API}/samples/?page_size={size}")
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_garbage_cursor_is_a_400(client_for, catalogue):
    response = client_for("viewer").get(f"{API}/samples/?cursor=garbage")
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_cursor_with_an_out_of_range_id_is_not_an_error(client_for, catalogue):
    cursor = quote(base64.b64encode(b"p=99999999999999999999999999").decode())
    response = client_for("viewer").get(f"{API}/samples/?cursor={cursor}")
    assert response.status_code == 200


def test_forged_cursor_with_text_position_is_a_400(client_for, catalogue):
    cursor = quote(base64.b64encode(b"p=abc").decode())
    response = client_for("viewer").get(f"{API}/samples/?cursor={cursor}")
    assert response.status_code == 400
    response = client_for("viewer").get(f"{API}/samples/?ordering=collected_at&cursor={cursor}")
    assert response.status_code == 400


@pytest.mark.parametrize("resource", ["studies", "memberships", "donors", "tokens"])
def test_other_lists_are_cursor_paginated(client_for, catalogue, resource):
    body = client_for("superuser").get(f"{API}/{resource}/?page_size=1").json()
    assert set(body) == {"next", "previous", "results"}
    assert len(body["results"]) <= 1


# --- CSV -------------------------------------------------------------------------------


def parse_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(streamed(response))))


def test_csv_has_a_header_and_every_matching_row(client_for, catalogue, settings):
    settings.API_MAX_PAGE_SIZE = 2  # CSV is not paginated
    response = client_for("viewer").get(f"{API}/samples/?format=csv")
    rows = parse_csv(response)
    expected_header = [
        name for name, field in SampleSerializer().fields.items() if not field.write_only
    ]
    assert streamed(client_for("viewer").get(f"{API}/samples/?format=csv")).splitlines()[
        0
    ] == ",".join(expected_header)
    assert len(rows) == 5
    assert catalogue["foreign"].accession not in {r["accession"] for r in rows}
    assert 'attachment; filename="samples.csv"' == response["Content-Disposition"]


def test_csv_values_match_the_json_values(client_for, catalogue):
    client = client_for("viewer")
    sample = catalogue["plasma"]
    row = parse_csv(client.get(f"{API}/samples/?format=csv&accession={sample.accession}"))[0]
    detail = client.get(f"{API}/samples/{sample.pk}/").json()
    assert row["volume_ml"] == "4.0"
    assert row["collected_at"] == detail["collected_at"] == "2025-03-01T09:00:00Z"
    assert row["study_code"] == "PLASMA-01"
    assert row["notes"] == "baseline draw"


def test_csv_is_filtered(client_for, catalogue):
    rows = parse_csv(client_for("viewer").get(f"{API}/samples/?format=csv&fluid_type=plasma"))
    assert {r["accession"] for r in rows} == acc(catalogue["plasma"], catalogue["plasma2"])


def test_csv_by_accept_header_and_by_suffix(client_for, catalogue):
    client = client_for("viewer")
    by_accept = parse_csv(client.get(f"{API}/samples/", HTTP_ACCEPT="text/csv"))
    by_suffix = parse_csv(client.get(f"{API}/samples.csv"))
    assert len(by_accept) == len(by_suffix) == 5


def test_csv_cells_cannot_become_spreadsheet_formulas(client_for, make_sample):
    make_sample(notes='=HYPERLINK("http://evil")')
    rows = parse_csv(client_for("viewer").get(f"{API}/samples/?format=csv"))
    assert rows[0]["notes"].startswith("'=")
    assert rows[0]["storage_temp_c"] == "-80.0"  # negative numbers stay numbers


@pytest.mark.parametrize("resource", ["studies", "memberships", "donors"])
def test_csv_of_the_other_lists_is_scoped(client_for, catalogue, other_study, resource):
    rows = parse_csv(client_for("viewer").get(f"{API}/{resource}/?format=csv"))
    assert rows
    text = repr(rows)
    assert "URINE-02" not in text and "F-001" not in text


def test_csv_needs_authentication(catalogue, api_client):
    assert api_client.get(f"{API}/samples/?format=csv").status_code == 401


def test_cursor_walks_rows_with_equal_collection_times(client_for, make_sample):
    made = {make_sample(collected_at=when(7)).accession for _ in range(5)}
    client = client_for("viewer")
    seen: list[str] = []
    url = f"{API}/samples/?ordering=collected_at&page_size=2"
    while url:
        body = client.get(url).json()
        seen += [row["accession"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(made)


def test_timestamps_are_utc_rfc3339_like_drf_writes_them(client_for, make_sample, study, donor):
    from datetime import timedelta, timezone

    berlin = timezone(timedelta(hours=2))
    with_micro = make_sample(collected_at=datetime(2025, 6, 1, 11, 30, 5, 123456, tzinfo=berlin))
    whole = make_sample(collected_at=datetime(2025, 6, 1, 11, 30, tzinfo=berlin))
    client = client_for("viewer")
    assert client.get(f"{API}/samples/{with_micro.pk}/").json()["collected_at"] == (
        "2025-06-01T09:30:05.123456Z"
    )
    assert client.get(f"{API}/samples/{whole.pk}/").json()["collected_at"] == "2025-06-01T09:30:00Z"
    # and a donor (plain DRF serializer) writes its timestamps the same way
    donor_created = client.get(f"{API}/donors/{donor.pk}/").json()["created_at"]
    assert donor_created.endswith("Z") and "+00:00" not in donor_created


@pytest.mark.parametrize("path", ["samples/", "donors/", "studies/", "memberships/", "tokens/", ""])
def test_browsable_api_pages_render(client_for, catalogue, path):
    response = client_for("editor").get(f"{API}/{path}", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"<html" in response.content


def test_browsable_detail_page_renders(client_for, catalogue):
    sample = catalogue["plasma"]
    response = client_for("editor").get(f"{API}/samples/{sample.pk}/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert sample.accession.encode() in response.content


def test_unknown_format_is_a_404(client_for, catalogue):
    assert client_for("viewer").get(f"{API}/samples/?format=xml").status_code == 404


def test_q_treats_like_wildcards_literally(client_for, make_sample):
    percent = make_sample(notes="50% haemolysed")
    make_sample(notes="clear")
    client = client_for("viewer")
    assert accessions(client.get(f"{API}/samples/?q={quote('%')}")) == [percent.accession]
    assert accessions(client.get(f"{API}/samples/?q=_")) == []
