"""GET /api/v1/labels/ and /api/v1/labels/box/{id}/: files, 400s, scoping and the schema."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from exolims.models import ApiToken

from .helpers import pdf_pages

API = "/api/v1/labels/"


def test_token_client_gets_pdf_labels_in_the_order_asked(members, make_sample, make_aliquot):
    first, second = make_sample(), make_sample()
    tube = make_aliquot(first)
    _token, key = ApiToken.issue(user=members["viewer"], name="printer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    wanted = [tube.accession, second.accession, first.accession]
    response = client.get(API, {"accessions": ",".join(wanted), "stock": "roll-32x13"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert 'filename="labels-3.pdf"' in response["Content-Disposition"]
    pages = pdf_pages(response.content)
    assert [next(a for a in wanted if a in text) for text in pages] == wanted


def test_zpl_through_the_api(client_for, make_sample):
    sample = make_sample()
    response = client_for("viewer").get(
        API, {"accessions": sample.accession, "format": "zpl", "dpi": 300, "copies": 2}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert f'filename="label-{sample.accession}.zpl"' in response["Content-Disposition"]
    zpl = response.content.decode()
    assert zpl.count("^XA") == 2 and zpl.count(f"^FD{sample.accession}^FS") == 6


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"stock": "roll-99"}, "stock", "not a valid choice"),
        ({"format": "svg"}, "format", "not a valid choice"),
        ({"offset": "-1"}, "offset", "greater than or equal to 0"),
        ({"accessions": " , "}, "accessions", "at least one accession"),
        ({"offset": "5"}, "detail", "only applies to sheets"),
        ({"format": "zpl", "stock": "a4-38x21"}, "detail", "choose a roll stock"),
    ],
)
def test_bad_parameters_are_400_with_a_message(client_for, make_sample, params, field, message):
    query = {"accessions": make_sample().accession, **params}
    response = client_for("viewer").get(API, query)
    assert response.status_code == 400
    assert message in str(response.json()[field])


def test_unknown_and_foreign_accessions_are_the_same_400(client_for, make_sample, foreign_sample):
    mine = make_sample().accession
    response = client_for("manager").get(
        API, {"accessions": f"{mine},{foreign_sample.accession},EXO-999999"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "accessions": [f"Unknown accession(s): {foreign_sample.accession}, EXO-999999."]
    }
    assert (
        client_for("superuser").get(API, {"accessions": foreign_sample.accession}).status_code
        == 200
    )


def test_anonymous_is_refused(make_sample):
    response = APIClient().get(API, {"accessions": make_sample().accession})
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")


def test_box_labels_in_position_order_with_skipped_count(client_for, filled_box):
    tubes = filled_box["tubes"]
    url = f"{API}box/{filled_box['box'].pk}/"
    response = client_for("viewer").get(url, {"stock": "a4-38x21", "offset": "10"})
    assert response.status_code == 200 and response["X-Labels-Skipped"] == "1"
    (text,) = pdf_pages(response.content)
    order = [text.index(tubes[p].accession) for p in ("A2", "B1", "I9")]
    assert order == sorted(order) and tubes["A1"].accession not in text

    assert client_for("outsider").get(url).json() == {
        "detail": "This box holds no tubes you can see."
    }
    assert client_for("viewer").get(f"{API}box/{filled_box['box'].parent_id}/").status_code == 404
    assert client_for("viewer").get(f"{API}box/999999/").status_code == 404


def test_stock_catalogue(client_for):
    stocks = {s["key"]: s for s in client_for("viewer").get(f"{API}stocks/").json()}
    assert stocks["roll-25x13"]["is_roll"] and stocks["roll-25x13"]["per_page"] == 1
    assert stocks["a4-38x21"]["per_page"] == 65


def test_schema_documents_the_label_endpoints(api_client):
    schema = api_client.get("/api/v1/schema/?format=json").json()
    listing = schema["paths"]["/api/v1/labels/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"accessions", "stock", "format", "dpi", "offset", "copies"} <= names
    assert {"application/pdf", "text/plain"} <= set(listing["responses"]["200"]["content"])
    assert "400" in listing["responses"]
    assert "/api/v1/labels/box/{id}/" in schema["paths"]
    assert "/api/v1/labels/stocks/" in schema["paths"]
