"""The report JSON gives each evidence record's page as a ``url`` (the reversed
``url_name``), for one preparation and for a study's page of reports."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

API = "/api/v1"


def evidence_of(report: dict) -> list[dict]:
    return [
        e for key in ("results", "flags", "next_steps") for r in report[key] for e in r["evidence"]
    ]


def test_preparation_report_evidence_has_urls(client_for, seeded):
    report = client_for("viewer").get(f"{API}/ev-preparations/{seeded.pk}/compliance/").json()
    particle = next(r for r in report["results"] if r["code"] == "T-01")["evidence"][0]
    assert particle["url_name"] == "assays:particle-detail"
    assert particle["url"] == reverse("assays:particle-detail", args=[particle["id"]])
    for evidence in evidence_of(report):
        assert "url" in evidence
        if evidence["url"] is not None:
            assert evidence["url"] == reverse(evidence["url_name"], args=[evidence["id"]])


def test_study_reports_evidence_has_urls(client_for, study, seeded):
    page = client_for("viewer").get(f"{API}/studies/{study.pk}/compliance/").json()
    (report,) = page["results"]
    urls = [e["url"] for e in evidence_of(report)]
    assert (
        urls
        and reverse(
            "assays:particle-detail",
            args=[next(r for r in report["results"] if r["code"] == "T-01")["evidence"][0]["id"]],
        )
        in urls
    )
