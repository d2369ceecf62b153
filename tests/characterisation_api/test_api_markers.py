"""/api/v1/markers/ (the vocabulary and its lookup) and /api/v1/marker-results/ (results with
blot images and ImageJ densitometry tables, as multipart)."""

from __future__ import annotations

import pytest

from assays import characterisation_services as services
from assays.models import Marker, MarkerResult

from .conftest import API, IMAGEJ_ONE_BAND, png_bytes, upload

MARKERS = f"{API}/markers/"
RESULTS = f"{API}/marker-results/"

pytestmark = pytest.mark.django_db


# --- Vocabulary -----------------------------------------------------------------------------


def test_anyone_signed_in_reads_and_filters_the_vocabulary(client_for, api_client):
    client = client_for("outsider")
    rows = client.get(f"{MARKERS}?category=2a&page_size=500").json()["results"]
    symbols = {row["symbol"] for row in rows}
    assert {"TSG101", "PDCD6IP", "CHMP*"} <= symbols and "CD63" not in symbols
    assert client.get(f"{MARKERS}?q=alix").json()["results"][0]["symbol"] == "PDCD6IP"
    assert client.get(f"{MARKERS}?q=tetraspanin 8").json()["results"][0]["symbol"] == "TSPAN8"
    families = client.get(f"{MARKERS}?is_family=true&category=1a").json()["results"]
    assert {row["symbol"] for row in families} >= {"ITGA*", "ITGB*"}
    assert api_client.get(MARKERS).status_code == 401


@pytest.mark.parametrize(
    ("query", "symbol", "matched_by", "category"),
    [
        ("ALIX", "PDCD6IP", "alias", "2a"),
        ("cd63", "CD63", "symbol", "1a"),
        ("ITGB1", "ITGB*", "family", "1a"),
    ],
)
def test_lookup_classifies_symbols_aliases_and_family_members(
    client_for, query, symbol, matched_by, category
):
    response = client_for("viewer").get(f"{MARKERS}lookup/?symbol={query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["marker"]["symbol"], body["matched_by"], body["category"]) == (
        symbol,
        matched_by,
        category,
    )
    assert body["query"] == query and body["category_display"].startswith(category)
    assert not Marker.objects.filter(symbol="ITGB1").exists()  # a GET creates nothing


def test_lookup_of_an_unknown_symbol_is_404_with_the_fix(client_for):
    client = client_for("viewer")
    response = client.get(f"{MARKERS}lookup/?symbol=NOPE1")
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "Unknown marker 'NOPE1'. Add it to the marker vocabulary with its MISEV category first."
    )
    assert client.get(f"{MARKERS}lookup/").status_code == 400


def test_managers_and_staff_change_the_vocabulary_editors_do_not(client_for, members):
    body = {"symbol": "cd47", "name": "CD47 molecule", "aliases": ["iap"], "category": "1a"}
    assert client_for("editor").post(MARKERS, body, format="json").status_code == 403
    created = client_for("manager").post(MARKERS, body, format="json")
    assert created.status_code == 201, created.content
    row = created.json()
    assert (row["symbol"], row["aliases"], row["is_builtin"]) == ("CD47", ["IAP"], False)

    members["editor"].is_staff = True
    members["editor"].save()
    changed = client_for("editor").patch(
        f"{MARKERS}{row['id']}/", {"category": "1b"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["category"] == "1b"

    clash = client_for("manager").post(
        MARKERS, {"symbol": "CD46", "aliases": ["ALIX"], "category": "1a"}, format="json"
    )
    assert clash.status_code == 400 and "ALIX" in clash.json()["aliases"][0]
    bad = client_for("manager").post(MARKERS, {"symbol": "cd 46", "category": "1a"}, format="json")
    assert bad.status_code == 400 and "HGNC symbol" in bad.json()["symbol"][0]
    bad = client_for("manager").post(MARKERS, {"symbol": "CD46", "category": "9"}, format="json")
    assert bad.status_code == 400 and "category" in bad.json()
    duplicate = client_for("manager").post(
        MARKERS, {"symbol": "CD63", "category": "1a"}, format="json"
    )
    assert duplicate.status_code == 400 and "symbol" in duplicate.json()


def test_a_marker_in_use_or_built_in_is_not_deleted(client_for, members, tube):
    manager = client_for("manager")
    custom = manager.post(MARKERS, {"symbol": "CD47", "category": "1a"}, format="json").json()
    services.record_marker_result(
        user=members["editor"],
        aliquot=tube,
        data={"marker": "CD47", "method": "elisa", "detection": "detected"},
    )
    refused = manager.delete(f"{MARKERS}{custom['id']}/")
    assert refused.status_code == 409 and "used by 1" in refused.json()["detail"]
    builtin = Marker.objects.get(symbol="CD9")
    assert manager.delete(f"{MARKERS}{builtin.pk}/").status_code == 409
    unused = manager.post(MARKERS, {"symbol": "CD46", "category": "1a"}, format="json").json()
    assert client_for("viewer").delete(f"{MARKERS}{unused['id']}/").status_code == 403
    assert manager.delete(f"{MARKERS}{unused['id']}/").status_code == 204


# --- Results --------------------------------------------------------------------------------


def record(client, tube, **fields):
    body = {
        "aliquot": tube.accession,
        "marker": "CD63",
        "method": "western_blot",
        "detection": "detected",
        **fields,
    }
    return client.post(RESULTS, body, format="multipart")


def test_a_result_with_blot_and_densitometry_as_multipart(client_for, tube):
    client = client_for("editor")
    response = record(
        client,
        tube,
        marker="alix",
        antibody_rrid="AB_2138153",
        reducing="true",
        loading_amount="10",
        loading_unit="ug_protein",
        controls='[{"kind": "positive", "description": "HEK293 lysate"}]',
        blot_image=upload("blot.png", png_bytes(), "image/png"),
        densitometry_file=upload("Results.csv", IMAGEJ_ONE_BAND, "text/csv"),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["marker"], body["misev_category"]) == ("PDCD6IP", "2a")
    assert body["misev_category_display"].startswith("2a")
    assert body["reducing"] is True and body["controls"][0]["kind"] == "positive"
    assert body["band_intensity"] == 180600.0 and body["has_densitometry"] is True
    assert body["densitometry"]["value_column"] == "IntDen"
    assert body["blot_image_url"].endswith(f"{RESULTS}{body['id']}/blot-image/")

    image = client.get(body["blot_image_url"], HTTP_ACCEPT="image/*")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == png_bytes()
    assert client_for("outsider").get(body["blot_image_url"]).status_code == 404


def test_a_family_member_becomes_a_vocabulary_row(client_for, tube):
    response = record(client_for("editor"), tube, marker="ITGB1")
    assert response.status_code == 201, response.content
    assert (response.json()["marker"], response.json()["misev_category"]) == ("ITGB1", "1a")
    assert Marker.objects.get(symbol="ITGB1").source == "family ITGB*"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"marker": "NOPE1"}, "marker"),
        ({"detection": "maybe"}, "detection"),
        ({"antibody_rrid": "12"}, "antibody_rrid"),
        ({"loading_amount": "5"}, "loading_unit"),
        ({"controls": "[{"}, "controls"),
        ({"blot_image": upload("blot.png", b"text, not a picture")}, "blot_image"),
        ({"densitometry_file": upload("Results.csv", b"x,y\n1,2\n")}, "densitometry_file"),
    ],
)
def test_bad_results_are_400_on_their_field(client_for, tube, media, fields, field):
    response = record(client_for("editor"), tube, **fields)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not MarkerResult.objects.exists()


def test_unknown_marker_message(client_for, tube):
    response = record(client_for("editor"), tube, marker="NOPE1")
    assert response.json() == {
        "marker": [
            "Unknown marker 'NOPE1'. Add it to the marker vocabulary with its MISEV category first."
        ]
    }


def test_results_filter_by_marker_category_and_detection(client_for, tubes, members, foreign_tube):
    editor = members["editor"]
    for tube, marker, detection in (
        (tubes[0], "CD63", "detected"),
        (tubes[0], "APOA1", "not_detected"),
        (tubes[1], "TSG101", "detected"),
    ):
        services.record_marker_result(
            user=editor,
            aliquot=tube,
            data={"marker": marker, "method": "western_blot", "detection": detection},
        )
    hidden = services.record_marker_result(
        user=members["superuser"],
        aliquot=foreign_tube,
        data={"marker": "CD63", "method": "elisa", "detection": "detected"},
    )
    client = client_for("viewer")

    def markers(query: str = "") -> list[str]:
        response = client.get(f"{RESULTS}?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["marker"] for row in response.json()["results"])

    assert markers() == ["APOA1", "CD63", "TSG101"]
    assert markers("marker=cd63") == ["CD63"]
    assert markers("marker=LAMP3") == ["CD63"]  # an alias
    assert markers("category=3") == ["APOA1"]
    assert markers("category=1a&category=2a") == ["CD63", "TSG101"]
    assert markers("detection=detected") == ["CD63", "TSG101"]
    assert markers(f"aliquot={tubes[1].accession}") == ["TSG101"]
    assert markers("method=elisa") == []
    assert client.get(f"{RESULTS}{hidden.pk}/").status_code == 404
    assert client.get(f"{RESULTS}?category=9").status_code == 400


def test_results_are_corrected_by_editors_only(client_for, tube):
    created = record(client_for("editor"), tube).json()
    url = f"{RESULTS}{created['id']}/"
    assert (
        client_for("viewer").patch(url, {"detection": "ambiguous"}, format="json").status_code
        == 403
    )
    response = client_for("editor").patch(
        url, {"detection": "ambiguous", "marker": "CD81"}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["detection"], response.json()["marker"]) == ("ambiguous", "CD81")
    moved = client_for("editor").patch(url, {"aliquot": "EXO-999999"}, format="json")
    assert moved.status_code == 400 and "aliquot" in moved.json()
    assert client_for("editor").delete(url).status_code == 204


def test_only_staff_recategorise_a_built_in_marker(client_for, members):
    from assays.models import Marker

    cd63 = Marker.objects.get(symbol="CD63")
    url = f"{MARKERS}{cd63.pk}/"
    response = client_for("manager").patch(url, {"category": "2b"}, format="json")
    assert response.status_code == 403
    assert Marker.objects.get(pk=cd63.pk).category == "1a"
    renamed = client_for("manager").patch(url, {"name": "tetraspanin CD63"}, format="json")
    assert renamed.status_code == 200
    assert client_for("superuser").patch(url, {"category": "2b"}, format="json").status_code == 200
