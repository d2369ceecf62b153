"""Placing tubes on the box map: by clicking a well (place form) and by scanning tubes one
after another (JSON endpoint for the page script, plus the form fallback)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from samples import services
from samples.choices import CustodyKind
from samples.models import Aliquot, CustodyEvent

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def place_url(box) -> str:
    return reverse("samples:box-place", args=[box.pk])


def scan_url(box) -> str:
    return reverse("samples:box-scan", args=[box.pk])


def where(tube) -> tuple[int | None, str]:
    tube.refresh_from_db()
    return tube.box_id, tube.position


def test_place_a_tube_into_a_clicked_well(page_client, box, loose_tube):
    client = page_client("editor")
    response = client.post(
        place_url(box), {"accession": loose_tube.accession.lower(), "position": "d5"}
    )
    assert response.status_code == 302 and response["Location"] == box.get_absolute_url()
    assert where(loose_tube) == (box.pk, "D5")
    html = client.get(box.get_absolute_url()).content.decode()
    assert f"Placed {loose_tube.accession} at D5." in html
    assert f'data-well="D5"><a href="{loose_tube.get_absolute_url()}"' in html


def test_place_accepts_the_short_accession_spelling(page_client, box, loose_tube):
    number = int(loose_tube.accession.split("-")[1])
    response = page_client("editor").post(
        place_url(box), {"accession": f"exo{number}", "position": "A9"}
    )
    assert response.status_code == 302
    assert where(loose_tube) == (box.pk, "A9")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"accession": "EXO-999999", "position": "B1"}, "Unknown accession EXO-999999"),
        ({"accession": "", "position": "B1"}, "This field is required."),
        ({"position": "B1"}, "This field is required."),
        ({"accession": "TUBE", "position": "5B"}, "not a position like A1"),
        ({"accession": "TUBE", "position": "K1"}, "outside box Box 1"),
        ({"accession": "TUBE", "position": "A1"}, "is occupied by"),
    ],
)
def test_place_form_rejects_bad_input_and_moves_nothing(
    page_client, box, tube, loose_tube, data, message
):
    data = {k: (loose_tube.accession if v == "TUBE" else v) for k, v in data.items()}
    before = CustodyEvent.objects.count()
    response = page_client("editor").post(place_url(box), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert where(loose_tube) == (None, "")
    assert CustodyEvent.objects.count() == before


def test_other_studies_tubes_are_unknown_on_the_map(page_client, box, other_tube):
    response = page_client("editor").post(
        place_url(box), {"accession": other_tube.accession, "position": "B1"}
    )
    assert response.status_code == 400
    assert f"Unknown accession {other_tube.accession}" in response.content.decode()
    assert where(other_tube) == (None, "")


def test_viewers_cannot_place(page_client, box, loose_tube):
    response = page_client("viewer").post(
        place_url(box), {"accession": loose_tube.accession, "position": "B1"}
    )
    assert response.status_code == 400
    assert "Only editors of PLASMA-01" in response.content.decode()
    assert where(loose_tube) == (None, "")


def test_place_and_scan_only_into_boxes(page_client, rack, loose_tube):
    client = page_client("editor")
    assert (
        client.post(
            place_url(rack), {"accession": loose_tube.accession, "position": "A1"}
        ).status_code
        == 404
    )
    assert (
        client.post(scan_url(rack), {"accession": loose_tube.accession}, **JSON).status_code == 404
    )


def test_place_moves_a_tube_from_another_box(page_client, box, other_box, tube):
    response = page_client("editor").post(
        place_url(other_box),
        {"accession": tube.accession, "position": "C3", "change_reason": "reorganise"},
    )
    assert response.status_code == 302
    assert where(tube) == (other_box.pk, "C3")
    last = CustodyEvent.objects.filter(aliquot=tube).latest("id")
    assert (
        last.kind == CustodyKind.MOVED and last.from_box_id == box.pk and last.to_position == "C3"
    )


def test_scanning_fills_wells_in_reading_order(page_client, box, sample, make_tubes):
    blocker = make_tubes(sample, 1, box=box, positions=["A2"])[0]
    tubes = make_tubes(sample, 3, volume="0.1")
    client = page_client("editor")
    answers = [client.post(scan_url(box), {"accession": t.accession}, **JSON).json() for t in tubes]
    assert [a["position"] for a in answers] == ["A1", "A3", "A4"]
    assert [a["result"] for a in answers] == ["placed"] * 3
    assert answers[0]["message"] == f"Placed {tubes[0].accession} at A1."
    assert answers[0]["url"] == tubes[0].get_absolute_url()
    assert [where(t) for t in tubes] == [(box.pk, "A1"), (box.pk, "A3"), (box.pk, "A4")]
    assert where(blocker) == (box.pk, "A2")


def test_scanning_from_a_start_well_continues_after_the_last(page_client, box, sample, make_tubes):
    tubes = make_tubes(sample, 3, volume="0.1")
    client = page_client("editor")
    start = "B9"
    for tube in tubes:
        answer = client.post(
            scan_url(box), {"accession": tube.accession, "start": start}, **JSON
        ).json()
        start = answer["next"]
    assert [where(t)[1] for t in tubes] == ["B9", "C1", "C2"]
    assert start == "C3"


def test_scan_feedback_for_each_case(
    page_client, box, other_box, tube, sample, make_tubes, other_tube
):
    client = page_client("editor")
    # Already in this box: stays where it is.
    same = client.post(scan_url(box), {"accession": tube.accession}, **JSON)
    assert same.status_code == 200 and same.json()["result"] == "already_here"
    assert same.json()["message"] == f"{tube.accession} is already here at A1."
    # Elsewhere: moved into the next free well.
    moved = client.post(scan_url(other_box), {"accession": tube.accession}, **JSON).json()
    assert moved["result"] == "moved" and moved["position"] == "A1"
    assert moved["message"] == f"Moved {tube.accession} from Box 1 A1 to A1."
    # Unknown, and another study's tube looks the same.
    for accession in ("EXO-424242", other_tube.accession):
        unknown = client.post(scan_url(box), {"accession": accession}, **JSON)
        assert unknown.status_code == 404
        assert unknown.json() == {
            "ok": False,
            "result": "unknown",
            "message": f"Unknown accession {accession}.",
            "accession": accession,
            "position": "",
            "url": "",
            "next": "",
        }
    # A sample's accession: it has to be split into tubes first.
    sample = client.post(scan_url(box), {"accession": tube.sample.accession}, **JSON)
    assert sample.status_code == 404
    assert "is a sample, not a tube" in sample.json()["message"]
    # Empty scan.
    empty = client.post(scan_url(box), {"accession": "  "}, **JSON)
    assert empty.status_code == 400 and empty.json()["result"] == "invalid"


def test_scanning_into_a_full_box_says_so(page_client, rack, sample, make_tubes):
    from samples.models import StorageUnit

    tiny = StorageUnit.objects.create(kind="box", name="Tiny", parent=rack, rows=1, columns=2)
    make_tubes(sample, 2, volume="0.1", box=tiny)
    extra = make_tubes(sample, 1, volume="0.1")[0]
    response = page_client("editor").post(scan_url(tiny), {"accession": extra.accession}, **JSON)
    assert response.status_code == 409
    assert response.json()["result"] == "full"
    assert response.json()["message"] == "Box Tiny has no free well."
    assert where(extra) == (None, "")


def test_viewer_scan_is_refused(page_client, box, loose_tube):
    response = page_client("viewer").post(
        scan_url(box), {"accession": loose_tube.accession}, **JSON
    )
    assert response.status_code == 403 and response.json()["result"] == "forbidden"
    assert where(loose_tube) == (None, "")


def test_checked_out_tube_cannot_be_scanned_elsewhere(page_client, tube, other_box, members):
    services.check_out(aliquot=tube, user=members["editor"])
    response = page_client("editor").post(
        scan_url(other_box), {"accession": tube.accession}, **JSON
    )
    assert response.status_code == 409
    assert "check it in before moving it" in response.json()["message"]


def test_scan_without_script_redirects_back_in_scan_mode(page_client, box, sample, make_tubes):
    tubes = make_tubes(sample, 2, volume="0.1")
    client = page_client("editor")
    response = client.post(scan_url(box), {"accession": tubes[0].accession})
    assert response.status_code == 302
    assert response["Location"] == f"{box.get_absolute_url()}?mode=scan&start=A2#scan"
    page = client.get(response["Location"].split("#")[0]).content.decode()
    assert f"Placed {tubes[0].accession} at A1." in page
    assert 'value="A2"' in page  # the next scan continues from A2
    response = client.post(scan_url(box), {"accession": "nope"})
    assert response["Location"].endswith("start=#scan")
    assert "Unknown accession nope." in client.get(box.get_absolute_url()).content.decode()


def test_scan_is_post_only(page_client, box):
    assert page_client("editor").get(scan_url(box)).status_code == 405
    assert page_client("editor").get(place_url(box)).status_code == 405


def test_no_tube_is_created_by_placing(page_client, box, loose_tube):
    before = Aliquot.objects.count()
    page_client("editor").post(scan_url(box), {"accession": loose_tube.accession}, **JSON)
    assert Aliquot.objects.count() == before
