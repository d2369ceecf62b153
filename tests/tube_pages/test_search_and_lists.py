"""Scanning into the search box opens tubes and boxes; the tube list filters, sorts, pages."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import NoReverseMatch, reverse

from samples import services

pytestmark = pytest.mark.django_db
SEARCH = reverse("samples:search")
TUBES = reverse("samples:aliquot-list")


@pytest.mark.parametrize("typed", ["{acc}", "{lower}", " {acc}\n", "exo{number}", "EXO-{number}"])
def test_scanned_tube_accession_opens_the_tube(page_client, tube, typed):
    number = int(tube.accession.removeprefix("EXO-"))
    query = typed.format(acc=tube.accession, lower=tube.accession.lower(), number=number)
    response = page_client("viewer").get(SEARCH, {"q": query})
    assert response.status_code == 302
    assert response["Location"] == tube.get_absolute_url()


def test_sample_accession_still_opens_the_sample(page_client, tube):
    response = page_client("viewer").get(SEARCH, {"q": tube.sample.accession})
    assert response["Location"] == tube.sample.get_absolute_url()


def test_box_barcode_opens_the_box_map(page_client, box):
    for query in ("BOX-0001", "box-0001"):
        response = page_client("outsider").get(SEARCH, {"q": query})
        assert response["Location"] == box.get_absolute_url()


def test_other_studies_tube_is_not_revealed(page_client, other_tube):
    response = page_client("editor").get(SEARCH, {"q": other_tube.accession})
    assert response["Location"] == (
        f"{reverse('samples:sample-list')}?{urlencode({'q': other_tube.accession})}"
    )


def test_nav_links_to_tubes_and_storage(page_client):
    html = page_client("viewer").get(reverse("samples:dashboard")).content.decode()
    assert f'href="{TUBES}"' in html and f'href="{reverse("samples:storage-list")}"' in html


def test_tube_list_shows_only_visible_tubes(page_client, tube, other_tube):
    html = page_client("editor").get(TUBES).content.decode()
    assert tube.accession in html and other_tube.accession not in html
    assert page_client("outsider").get(TUBES).content.decode().count('name="aliquot"') == 0


def test_tube_list_filters(page_client, study, sample, make_tubes, box, members):
    in_box = make_tubes(sample, 2, box=box)
    loose = make_tubes(sample, 1, volume="0.2", kind="ev_preparation")[0]
    services.check_out(aliquot=in_box[0], user=members["editor"])
    client = page_client("viewer")

    def listed(**params) -> set[str]:
        html = client.get(TUBES, params).content.decode()
        return {t.accession for t in [*in_box, loose] if f">{t.accession}<" in html}

    assert listed() == {in_box[0].accession, in_box[1].accession, loose.accession}
    assert listed(box=box.pk) == {in_box[0].accession, in_box[1].accession}
    assert listed(status="checked_out") == {in_box[0].accession}
    assert listed(kind="ev_preparation") == {loose.accession}
    assert listed(study=study.pk, q=loose.accession) == {loose.accession}
    assert listed(sample=sample.pk) == {in_box[0].accession, in_box[1].accession, loose.accession}


def test_tube_list_bad_filter_shows_a_message_not_a_500(page_client, tube):
    response = page_client("viewer").get(TUBES, {"box": "abc", "status": "melted"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter a whole number." in html
    assert tube.accession not in html


def test_tube_list_sorts_and_pages(page_client, sample, make_tubes):
    tubes = make_tubes(sample, 55, volume="0.05")
    client = page_client("viewer")
    first = client.get(TUBES, {"sort": "accession"}).content.decode()
    assert f">{tubes[0].accession}<" in first and f">{tubes[-1].accession}<" not in first
    assert "1–50 of 55" in first
    second = client.get(TUBES, {"sort": "accession", "page": 2}).content.decode()
    assert f">{tubes[-1].accession}<" in second and f">{tubes[0].accession}<" not in second
    newest = client.get(TUBES).content.decode()  # default: newest first
    assert newest.index(tubes[-1].accession) < newest.index(tubes[-2].accession)


def test_tube_list_offers_label_printing_for_a_selection(page_client, tube):
    html = page_client("viewer").get(TUBES).content.decode()
    try:
        selection = reverse("labels:selection")
    except NoReverseMatch:  # label pages not routed in this build
        pytest.skip("label pages not routed")
    assert f'action="{selection}"' in html
    assert f'name="aliquot" value="{tube.pk}"' in html


def test_unit_page_links_to_the_tubes_inside(page_client, freezer, tube, loose_tube):
    client = page_client("viewer")
    html = client.get(freezer.get_absolute_url()).content.decode()
    link = f"{TUBES}?in_unit={freezer.pk}"
    assert f'href="{link}"' in html
    listed = client.get(link).content.decode()
    assert f">{tube.accession}<" in listed and f">{loose_tube.accession}<" not in listed
