"""Lists and the tube page's panel cost the same number of queries at any size."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays.choices import FileStatus


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_file_list_queries_do_not_grow_with_rows(page_client, make_tubes, make_file, instrument):
    tubes = make_tubes(12)
    client = page_client("viewer")
    url = reverse("assays:file-list")
    make_file(aliquot=tubes[0], instrument=instrument)
    make_file(aliquot=tubes[1], status=FileStatus.FAILED)
    few = count_queries(client, url)
    for tube in tubes[2:]:
        make_file(aliquot=tube, instrument=instrument)
    assert count_queries(client, url) == few


def test_particle_list_queries_do_not_grow_with_rows(page_client, make_tubes, make_measurement):
    tubes = make_tubes(12)
    client = page_client("viewer")
    url = reverse("assays:particle-list")
    for tube in tubes[:2]:
        make_measurement(tube)
    few = count_queries(client, url)
    for tube in tubes[2:]:
        make_measurement(tube, flags=[{"code": "few_videos", "message": "Only 2 videos."}])
    assert count_queries(client, url) == few


def test_tube_page_queries_do_not_grow_with_measurements(
    page_client, tube, make_measurement, make_file
):
    client = page_client("editor")
    make_measurement(tube)
    make_file(aliquot=tube, status=FileStatus.FAILED)
    few = count_queries(client, tube.get_absolute_url())
    for _ in range(6):
        make_measurement(tube)
        make_file(aliquot=tube, status=FileStatus.NEEDS_REVIEW)
    assert count_queries(client, tube.get_absolute_url()) == few


def test_status_batch_queries_do_not_grow_with_ids(page_client, make_tubes, make_file):
    tubes = make_tubes(10)
    files = [make_file(aliquot=tube) for tube in tubes]
    client = page_client("viewer")
    url = reverse("assays:file-statuses")
    few = count_queries(client, f"{url}?id={files[0].pk}")
    many = count_queries(client, url + "?" + "&".join(f"id={f.pk}" for f in files))
    assert many == few
