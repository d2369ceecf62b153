"""The "Print labels" pages: downloads, scoping and the box/selection variants."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from .helpers import pdf_pages

PDF = {"stock": "roll-25x13", "format": "pdf", "dpi": "300", "offset": "0", "copies": "1"}
ZPL = {**PDF, "format": "zpl", "dpi": "203"}


@pytest.fixture
def browser(members):
    def login(role: str) -> Client:
        client = Client()
        client.force_login(members[role])
        return client

    return login


def _filename(response) -> str:
    return response["Content-Disposition"].split('filename="')[1].rstrip('"')


def test_viewer_downloads_a_sample_label(browser, make_sample):
    sample = make_sample()
    url = reverse("labels:sample", args=[sample.pk])
    page = browser("viewer").get(url)
    assert page.status_code == 200
    assert sample.accession in page.content.decode() and 'name="stock"' in page.content.decode()

    response = browser("viewer").get(url, PDF)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert _filename(response) == f"label-{sample.accession}.pdf"
    (text,) = pdf_pages(response.content)
    assert sample.accession in text and "PLASMA-01" in text and "Plasma" in text


def test_aliquot_label_as_zpl(browser, make_sample, make_aliquot):
    aliquot = make_aliquot(make_sample(), volume="0.5")
    response = browser("viewer").get(reverse("labels:aliquot", args=[aliquot.pk]), ZPL)
    assert response.status_code == 200
    assert _filename(response) == f"label-{aliquot.accession}.zpl"
    zpl = response.content.decode("ascii")
    assert zpl.count("^XA") == 1 and f"^BXN,4,200^FD{aliquot.accession}^FS" in zpl
    assert "PLASMA-01 _C2_B7 Plasma" in zpl and "500 _C2_B5L" in zpl


def test_records_of_other_studies_are_not_found(browser, members, foreign_sample, make_aliquot):
    foreign_tube = make_aliquot(foreign_sample)
    for url in (
        reverse("labels:sample", args=[foreign_sample.pk]),
        reverse("labels:aliquot", args=[foreign_tube.pk]),
        reverse("labels:sample", args=[999_999]),
    ):
        assert browser("manager").get(url, PDF).status_code == 404
    assert (
        browser("superuser").get(reverse("labels:sample", args=[foreign_sample.pk])).status_code
        == 200
    )


def test_pages_need_a_login(make_sample):
    response = Client().get(reverse("labels:sample", args=[make_sample().pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_box_prints_visible_tubes_in_position_order(browser, filled_box):
    tubes, url = filled_box["tubes"], reverse("labels:box", args=[filled_box["box"].pk])
    page = browser("viewer").get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 tube in this box belongs to studies you cannot see" in html
    assert tubes["A1"].accession not in html

    response = browser("viewer").get(url, PDF)
    assert _filename(response) == "labels-box-box-7a.pdf"
    pages = pdf_pages(response.content)
    expected = [tubes[p].accession for p in ("A2", "B1", "I9")]
    assert [next(a for a in expected if a in text) for text in pages] == expected

    everything = pdf_pages(browser("superuser").get(url, PDF).content)
    assert tubes["A1"].accession in everything[0] and len(everything) == 4


def test_box_page_refuses_units_that_are_not_boxes(browser, box):
    assert browser("viewer").get(reverse("labels:box", args=[box.parent_id])).status_code == 404
    assert browser("viewer").get(reverse("labels:box", args=[box.pk])).status_code == 200


def test_box_with_nothing_visible_prints_nothing(browser, filled_box):
    url = reverse("labels:box", args=[filled_box["box"].pk])
    response = browser("outsider").get(url, PDF)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "There is nothing to print." in response.content.decode()


def test_bad_options_show_a_message_instead_of_a_file(browser, make_sample):
    url = reverse("labels:sample", args=[make_sample().pk])
    response = browser("viewer").get(url, {**PDF, "offset": "3"})
    assert response["Content-Type"].startswith("text/html")
    assert "A start offset only applies to sheets." in response.content.decode()
    response = browser("viewer").get(url, {**PDF, "stock": "nope", "copies": "x"})
    assert response["Content-Type"].startswith("text/html")
    assert "Select a valid choice" in response.content.decode()


def test_selection_from_a_list_page_then_download(browser, make_sample, make_aliquot):
    first, second = make_sample(), make_sample()
    tube = make_aliquot(second)
    url = reverse("labels:selection")
    posted = {"sample": [str(second.pk), str(first.pk)], "aliquot": [str(tube.pk)]}
    page = browser("viewer").post(url, posted)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'name="aliquot" value="{tube.pk}"' in html and first.accession in html

    response = browser("viewer").post(url, {**posted, **PDF, "stock": "a4-38x21", "offset": "2"})
    assert _filename(response) == "labels-selection-3.pdf"
    (text,) = pdf_pages(response.content)
    order = [text.index(a) for a in (second.accession, first.accession, tube.accession)]
    assert order == sorted(order)


def test_selection_by_scanned_accessions(browser, make_sample, foreign_sample):
    sample = make_sample()
    url = reverse("labels:selection")
    assert 'name="accessions"' in browser("viewer").get(url).content.decode()
    typed = f"{sample.accession.lower()}\n{sample.accession}, "
    response = browser("viewer").post(url, {"accessions": typed, **PDF})
    assert pdf_pages(response.content) and len(pdf_pages(response.content)) == 1

    # "Look up" only checks; a foreign or unknown accession blocks the download.
    checked = browser("viewer").post(url, {"accessions": typed, "check": "1", **PDF})
    assert checked["Content-Type"].startswith("text/html")
    refused = browser("viewer").post(
        url, {"accessions": f"{sample.accession} {foreign_sample.accession} EXO-999999", **PDF}
    )
    html = refused.content.decode()
    assert refused["Content-Type"].startswith("text/html")
    assert f"Not found or not visible to you: {foreign_sample.accession}, EXO-999999." in html


def test_selection_rejects_malformed_ids(browser):
    response = browser("viewer").post(reverse("labels:selection"), {"sample": ["1x"], **PDF})
    assert response.status_code == 200
    assert "Record ids must be whole numbers." in response.content.decode()
