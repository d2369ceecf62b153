"""The search box: a scanned or typed code opens its record, scoped to the user's studies."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from samples.models import Donor, Study, StudyMembership

SEARCH = reverse("samples:search")
SAMPLE_LIST = reverse("samples:sample-list")


def search(client, query: str):
    return client.get(SEARCH, {"q": query})


@pytest.mark.parametrize(
    "typed", ["{acc}", "  {acc}\t", "{lower}", "{acc}\n", "exo-{number}", "EXO{number}"]
)
def test_exact_accession_opens_the_sample(page_client, make_sample, typed):
    sample = make_sample()
    number = int(sample.accession.removeprefix("EXO-"))
    query = typed.format(acc=sample.accession, lower=sample.accession.lower(), number=number)
    response = search(page_client("viewer"), query)
    assert response.status_code == 302
    assert response["Location"] == sample.get_absolute_url()


def test_accession_from_another_study_is_not_revealed(page_client, members, other_sample):
    response = search(page_client("viewer"), other_sample.accession)
    assert response["Location"] == f"{SAMPLE_LIST}?{urlencode({'q': other_sample.accession})}"
    page = page_client("viewer").get(response["Location"]).content.decode()
    assert f">{other_sample.accession}<" not in page
    assert "No samples match" in page


def test_donor_code_opens_the_donor_when_unique(page_client, donor):
    response = search(page_client("viewer"), "d-001")
    assert response["Location"] == donor.get_absolute_url()


def test_donor_code_in_two_visible_studies_lists_samples_instead(
    page_client, members, donor, other_study
):
    Donor.objects.create(study=other_study, code="D-001")
    # Invisible duplicates do not count: the viewer only sees one D-001.
    assert search(page_client("viewer"), "D-001")["Location"] == donor.get_absolute_url()
    StudyMembership.objects.create(study=other_study, user=members["viewer"], role="viewer")
    assert search(page_client("viewer"), "D-001")["Location"].startswith(SAMPLE_LIST + "?q=")


def test_study_code_opens_the_study(page_client, study):
    assert search(page_client("viewer"), "plasma-01")["Location"] == study.get_absolute_url()


def test_study_code_of_a_foreign_study_is_not_revealed(page_client, members, other_study):
    response = search(page_client("viewer"), other_study.code)
    assert response["Location"].startswith(SAMPLE_LIST)
    assert Study.objects.filter(code=other_study.code).exists()


def test_other_text_lists_matching_samples(page_client, make_sample):
    sample = make_sample(notes="haemolysed, re-draw requested")
    make_sample(notes="clear")
    response = search(page_client("viewer"), "haemolysed")
    assert response["Location"] == f"{SAMPLE_LIST}?q=haemolysed"
    page = page_client("viewer").get(response["Location"])
    assert [s.pk for s in page.context["page"].rows] == [sample.pk]


def test_empty_search_goes_to_the_sample_list(page_client):
    assert search(page_client("viewer"), "   ")["Location"] == SAMPLE_LIST


def test_every_page_has_the_search_box_and_the_dashboard_focuses_it(page_client, donor):
    client = page_client("viewer")
    for url in (
        reverse("samples:study-list"),
        reverse("samples:sample-list"),
        donor.get_absolute_url(),
        reverse("api-tokens"),
    ):
        page = client.get(url).content.decode()
        assert f'action="{SEARCH}"' in page
        assert 'id="global-search"' in page
        assert "autofocus" not in page
    dashboard = client.get(reverse("samples:dashboard")).content.decode()
    assert "autofocus" in dashboard
