"""Sample list API latency on the seeded database vs a raw psycopg query for the same page.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/exolims_bench python bench/api_bench.py

Needs the seed (bench/seed.py). Requests go through Django's test Client in-process with a
token (``Authorization: Token …``) for a plain member of the studies, so authentication,
study scoping, filtering, cursor pagination and JSON rendering are all included; only the
HTTP server is not. The raw side runs one SQL query with the same filters, scoping and
columns on its own psycopg connection and serialises the page with orjson.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import BENCH_USER, SEED_STUDIES, percentile, setup_django, vacuum

PAGE_SIZE = 100
DEEP_PAGES = 500  # the deep page starts 50,000 rows into the list
WARMUP = 20
SAMPLES = 200
FLUID = "plasma"


def _time(fn, count: int) -> list[float]:
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50), 2),
        "p95_ms": round(percentile(values, 95), 2),
    }


def run(samples: int = SAMPLES) -> dict[str, Any]:
    import orjson
    import psycopg
    from django.contrib.auth import get_user_model
    from django.test import Client
    from psycopg.rows import dict_row

    from exolims.models import ApiToken
    from samples.choices import UBERON_IDS
    from samples.models import Sample, Study

    vacuum(Sample._meta.db_table)
    user = get_user_model().objects.get(username=BENCH_USER)
    study = Study.objects.get(code=SEED_STUDIES[0])
    matching = Sample.objects.filter(study=study, fluid_type=FLUID).count()
    _, key = ApiToken.issue(user=user, name="benchmark", days=1)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}", HTTP_HOST="127.0.0.1")
    first_url = f"/api/v1/samples/?study={study.pk}&fluid_type={FLUID}&page_size={PAGE_SIZE}"

    def get(url: str) -> dict[str, Any]:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} -> {response.status_code}: {response.content[:300]}")
        return orjson.loads(response.content)

    first_page = get(first_url)
    # Walk the cursor to a page deep in the list.
    url, last_id_before = first_url, None
    for _ in range(DEEP_PAGES):
        page = get(url)
        last_id_before = page["results"][-1]["id"]
        parts = urlsplit(page["next"])
        url = f"{parts.path}?{parts.query}"
    deep_url = url
    deep_page = get(deep_url)

    columns = list(first_page["results"][0].keys())
    sql_columns = {
        "study": "s.study_id AS study",
        "donor": "s.donor_id AS donor",
        "study_code": "st.code AS study_code",
        "donor_code": "d.code AS donor_code",
        "created_by": "u.username AS created_by",
    }
    selected = [
        sql_columns.get(name, f"s.{name}") for name in columns if name not in {"url", "uberon_id"}
    ]
    base_sql = (
        f"SELECT {', '.join(selected)} FROM samples_sample s "
        "JOIN samples_study st ON st.id = s.study_id "
        "LEFT JOIN samples_donor d ON d.id = s.donor_id "
        "LEFT JOIN auth_user u ON u.id = s.created_by_id "
        "WHERE s.study_id = %(study)s AND s.fluid_type = %(fluid)s "
        "AND s.study_id IN (SELECT study_id FROM samples_studymembership WHERE user_id = %(user)s) "
        "{keyset} ORDER BY s.id DESC LIMIT %(limit)s"
    )
    url_prefix = "http://127.0.0.1/api/v1/samples/"
    connection = psycopg.connect(os.environ["DATABASE_URL"], row_factory=dict_row)

    def default(value: Any) -> Any:
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return float(value)

    def raw_page(before_id: int | None) -> bytes:
        keyset = "AND s.id < %(before)s" if before_id is not None else ""
        params = {
            "study": study.pk,
            "fluid": FLUID,
            "user": user.pk,
            "limit": PAGE_SIZE + 1,
            "before": before_id,
        }
        rows = connection.execute(base_sql.replace("{keyset}", keyset), params).fetchall()
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        for row in rows:
            row["url"] = f"{url_prefix}{row['id']}/"
            row["uberon_id"] = UBERON_IDS.get(row["fluid_type"])
        body = {"next": "…" if has_next else None, "previous": None, "results": rows}
        return orjson.dumps(body, default=default)

    # Same rows, same columns on both sides.
    for api_page, before in ((first_page, None), (deep_page, last_id_before)):
        raw = orjson.loads(raw_page(before))["results"]
        assert [r["id"] for r in raw] == [r["id"] for r in api_page["results"]]
        assert set(raw[0]) == set(api_page["results"][0])

    results = {
        "first_page": {
            "api": _summary(_time(lambda: client.get(first_url), samples)),
            "raw": _summary(_time(lambda: raw_page(None), samples)),
        },
        "deep_page": {
            "api": _summary(_time(lambda: client.get(deep_url), samples)),
            "raw": _summary(_time(lambda: raw_page(last_id_before), samples)),
        },
    }
    connection.close()
    for item in results.values():
        item["ratio_p50"] = round(item["api"]["p50_ms"] / item["raw"]["p50_ms"], 2)
        item["ratio_p95"] = round(item["api"]["p95_ms"] / item["raw"]["p95_ms"], 2)
    return {
        "study": study.code,
        "fluid_type": FLUID,
        "matching_rows": matching,
        "total_rows": Sample.objects.count(),
        "page_size": PAGE_SIZE,
        "deep_offset_rows": DEEP_PAGES * PAGE_SIZE,
        "columns": len(columns),
        "samples_per_case": samples,
        "first_url": first_url,
        **results,
    }


def api_available() -> bool:
    """True when the sample list API is wired (it is written alongside this benchmark)."""
    from django.urls import NoReverseMatch, reverse

    if not (Path(__file__).resolve().parent.parent / "samples" / "api" / "views.py").exists():
        return False
    try:
        reverse("api-sample-list")
    except NoReverseMatch:
        return False
    return True


if __name__ == "__main__":
    setup_django()
    if not api_available():
        sys.exit("The sample list API (/api/v1/samples/) is not there yet.")
    print(json.dumps(run(), indent=2))
