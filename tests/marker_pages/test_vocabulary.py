"""The marker vocabulary: the list by MISEV category, the lookup behind the marker inputs,
and adding or changing a row (staff and study managers), with the confirmation a new
category needs."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from assays.models import Marker, MarkerResult
from tests.conftest import PASSWORD

LOOKUP = reverse("assays:marker-lookup")
LIST = reverse("assays:marker-list")
CREATE = reverse("assays:marker-create")


# --- Lookup -------------------------------------------------------------------------------------


def test_lookup_gives_the_symbol_and_category_of_an_alias(page_client):
    response = page_client("viewer").get(LOOKUP, {"q": "alix"})
    assert response.status_code == 200
    body = response.json()
    assert body["symbol"] == "PDCD6IP"
    assert body["category"] == "2a"
    assert body["category_label"] == "2a · Cytosolic, membrane-binding"
    assert body["alias"] == "ALIX" and body["family"] == ""
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_lookup_of_a_family_member_creates_nothing(page_client):
    body = page_client("viewer").get(LOOKUP, {"q": "ITGB1"}).json()
    assert (body["symbol"], body["category"], body["family"]) == ("ITGB1", "1a", "ITGB*")
    assert not Marker.objects.filter(symbol="ITGB1").exists()


def test_lookup_of_an_unknown_marker_says_so(page_client):
    response = page_client("viewer").get(LOOKUP, {"q": "FOO1"})
    assert response.status_code == 404
    assert response.json()["category"] is None
    assert "Unknown marker 'FOO1'" in response.json()["message"]
    assert page_client("viewer").get(LOOKUP).status_code == 400


def test_lookup_answers_json_401_when_signed_out(db):
    response = Client().get(LOOKUP, {"q": "CD63"})
    assert response.status_code == 401
    assert "signed out" in response.json()["message"]


# --- The list -----------------------------------------------------------------------------------


def test_the_list_groups_markers_by_category_with_aliases(page_client):
    response = page_client("viewer").get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    for code in ("1a", "1b", "2a", "2b", "3", "4", "5"):
        assert f'id="category-{code}"' in html
    section_2a = html[html.index('id="category-2a"') : html.index('id="category-2b"')]
    assert "PDCD6IP" in section_2a and "ALIX" in section_2a and "TSG101" in section_2a
    assert "CD63" not in section_2a
    # Viewers cannot change the vocabulary.
    assert CREATE not in html


def test_the_list_searches_symbols_names_and_aliases(page_client):
    html = page_client("viewer").get(LIST, {"q": "alix"}).content.decode()
    assert "PDCD6IP" in html and "TSG101" not in html
    assert "1 marker match" in html
    html = page_client("viewer").get(LIST, {"q": "apolipoprotein"}).content.decode()
    assert "APOA1" in html and "PDCD6IP" not in html


def test_the_list_counts_the_results_the_user_can_see(page_client, tube, other_tube, make_result):
    make_result(tube, "TSG101")
    make_result(other_tube, "TSG101")
    html = page_client("viewer").get(LIST, {"q": "TSG101"}).content.decode()
    assert f'{reverse("assays:marker-result-list")}?marker=TSG101">1</a>' in html


# --- Adding and changing rows --------------------------------------------------------------------


def marker_data(**overrides: str) -> dict[str, str]:
    data = {
        "symbol": "cd47",
        "name": "CD47 molecule",
        "aliases": "IAP, mer6",
        "category": "1a",
        "source": "lab decision 2026-03",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("role", ["viewer", "editor", "outsider"])
def test_only_staff_and_managers_change_the_vocabulary(page_client, role):
    assert page_client(role).get(CREATE).status_code == 403
    assert page_client(role).post(CREATE, marker_data()).status_code == 403
    assert not Marker.objects.filter(symbol="CD47").exists()


def test_a_manager_adds_a_marker(page_client, members):
    response = page_client("manager").post(CREATE, marker_data())
    marker = Marker.objects.get(symbol="CD47")
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}#marker-{marker.pk}"
    assert marker.aliases == ["IAP", "MER6"]
    assert marker.category == "1a" and not marker.is_builtin
    assert marker.created_by == members["manager"]


def test_staff_may_change_the_vocabulary(db, make_user):
    staff = make_user("sam_staff", is_staff=True)
    client = Client()
    assert client.login(username="sam_staff", password=PASSWORD)
    assert client.post(CREATE, marker_data()).status_code == 302
    assert Marker.objects.filter(symbol="CD47", created_by=staff).exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"symbol": "CD 47"}, "Use the HGNC symbol in capitals"),
        ({"aliases": "ALIX"}, "Already the symbol or alias of another marker: ALIX."),
        ({"symbol": "CD63"}, "already exists"),
        ({"category": ""}, "This field is required."),
    ],
)
def test_a_bad_row_is_refused(page_client, overrides, message):
    count = Marker.objects.count()
    response = page_client("manager").post(CREATE, marker_data(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Marker.objects.count() == count


def test_a_new_category_is_confirmed_first_with_what_it_changes(
    page_client, tube, other_tube, make_result
):
    make_result(tube, "TSG101")
    make_result(other_tube, "TSG101")
    marker = Marker.objects.get(symbol="TSG101")
    url = reverse("assays:marker-edit", args=[marker.pk])
    data = {
        "symbol": "TSG101",
        "name": marker.name,
        "aliases": "",
        "category": "2b",
        "source": "re-read MISEV2023",
    }
    client = page_client("superuser")  # built-in categories are staff's to change

    first = client.post(url, data)
    assert first.status_code == 200
    html = first.content.decode()
    assert "This changes how existing results count" in html
    assert "2 marker results" in html and "2 studies" in html
    assert "2a · Cytosolic, membrane-binding" in html and "2b · Cytosolic, promiscuous" in html
    assert 'name="confirm_category" value="2b"' in html
    marker.refresh_from_db()
    assert marker.category == "2a"

    # Confirming another category than the one shown asks again.
    again = client.post(url, {**data, "category": "3", "confirm_category": "2b"})
    assert (
        again.status_code == 200
        and "This changes how existing results count" in again.content.decode()
    )
    marker.refresh_from_db()
    assert marker.category == "2a"

    done = client.post(url, {**data, "confirm_category": "2b", "change_reason": "MISEV2023"})
    assert done.status_code == 302
    marker.refresh_from_db()
    assert marker.category == "2b" and marker.source == "re-read MISEV2023"
    assert MarkerResult.objects.filter(marker__category="2b").count() == 2

    history = client.get(reverse("assays:marker-history", args=[marker.pk]))
    assert history.status_code == 200
    text = history.content.decode()
    assert "MISEV2023" in text and "2b" in text


def test_changing_a_family_names_the_members_that_keep_their_category(
    page_client, tube, make_result
):
    make_result(tube, "ITGB1")
    family = Marker.objects.get(symbol="ITGB*")
    response = page_client("manager").post(
        reverse("assays:marker-edit", args=[family.pk]),
        {"symbol": "ITGB*", "name": family.name, "aliases": "", "category": "1b", "source": ""},
    )
    html = response.content.decode()
    assert "keep their own category" in html and "ITGB1" in html
    assert "no result uses ITGB* yet" in html


def test_other_fields_change_without_confirmation_and_builtin_symbols_stay(page_client):
    marker = Marker.objects.get(symbol="CD9")
    response = page_client("manager").post(
        reverse("assays:marker-edit", args=[marker.pk]),
        {"symbol": "CD9X", "name": "Tetraspanin-29", "aliases": "TSPAN29", "category": "1a"},
    )
    assert response.status_code == 302
    marker.refresh_from_db()
    assert marker.symbol == "CD9"  # a disabled field: the posted value is ignored
    assert marker.aliases == ["TSPAN29"] and marker.name == "Tetraspanin-29"
