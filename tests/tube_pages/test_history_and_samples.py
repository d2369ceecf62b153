"""History tabs on every record, and the sample page's aliquots panel, split form and lineage."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from samples.models import Aliquot, Donor

pytestmark = pytest.mark.django_db


def history(name: str, obj) -> str:
    return reverse(f"samples:{name}-history", args=[obj.pk])


def test_every_record_has_a_history_tab(page_client, study, donor, sample, tube, box):
    client = page_client("viewer")
    for name, obj in (
        ("study", study),
        ("donor", donor),
        ("sample", sample),
        ("aliquot", tube),
        ("storage", box),
    ):
        detail = client.get(obj.get_absolute_url()).content.decode()
        assert f'href="{history(name, obj)}"' in detail
        page = client.get(history(name, obj))
        assert page.status_code == 200
        html = page.content.decode()
        assert "created" in html and "read-only" in html


def test_history_is_scoped_like_the_record(page_client, other_study, other_tube):
    foreign_donor = Donor.objects.get(study=other_study)
    client = page_client("editor")
    assert client.get(history("study", other_study)).status_code == 404
    assert client.get(history("donor", foreign_donor)).status_code == 404
    assert client.get(history("sample", other_tube.sample)).status_code == 404
    assert client.get(history("aliquot", other_tube)).status_code == 404


def test_history_is_read_only(page_client, study):
    client = page_client("manager")
    assert client.post(history("study", study), {}).status_code == 405


def test_form_change_shows_user_old_new_and_reason(page_client, members, donor):
    client = page_client("editor")
    response = client.post(
        reverse("samples:donor-edit", args=[donor.pk]),
        {
            "study": donor.study_id,
            "code": donor.code,
            "species": donor.species,
            "sex": "male",
            "birth_year": 1980,
            "consent_status": donor.consent_status,
            "conditions": "",
            "change_reason": "Typo in the intake sheet",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    html = client.get(history("donor", donor)).content.decode()
    row = html.split("<tbody>")[1].split("</tr>")[0]
    assert members["editor"].username in row
    assert 'class="old">Female</span> → <span class="new">Male</span>' in row
    assert "Typo in the intake sheet" in row


def test_edit_forms_offer_a_reason_field(page_client, study, donor, sample, box):
    client = page_client("manager")
    for url in (
        reverse("samples:study-edit", args=[study.pk]),
        reverse("samples:donor-edit", args=[donor.pk]),
        reverse("samples:sample-edit", args=[sample.pk]),
    ):
        assert 'name="change_reason"' in client.get(url).content.decode()
    assert (
        'name="change_reason"'
        in page_client("superuser")
        .get(reverse("samples:storage-edit", args=[box.pk]))
        .content.decode()
    )


def test_tube_history_names_boxes_and_labels_choices(page_client, tube, other_box, members):
    client = page_client("editor")
    client.post(
        reverse("samples:aliquot-action", args=[tube.pk, "place"]),
        {"box": other_box.pk, "position": "B2", "change_reason": "Box 1 defrost"},
    )
    client.post(reverse("samples:aliquot-action", args=[tube.pk, "check-out"]), {})
    html = client.get(history("aliquot", tube)).content.decode()
    assert 'class="old">Box 1</span> → <span class="new">Box 2</span>' in html
    assert 'class="old">Available</span> → <span class="new">Checked out</span>' in html
    assert "Box 1 defrost" in html


def test_sample_page_lists_tubes_and_lineage(page_client, sample, tube, make_tubes):
    child = make_tubes(tube, 1, volume="0.1")[0]
    html = page_client("viewer").get(sample.get_absolute_url()).content.decode()
    assert 'Aliquots <span class="muted">(2)</span>' in html
    assert f">{tube.accession}<" in html and f">{child.accession}<" in html
    assert 'Box 1</a> <span class="mono">A1</span>' in html
    assert 'class="lineage"' in html and 'class="current" aria-current="true"' in html
    assert "Split into aliquots" not in html  # viewers cannot split


def test_split_a_sample_into_a_box_from_a_start_well(page_client, sample, box, make_tubes):
    make_tubes(sample, 1, box=box, positions=["B3"])  # in the way: skipped
    response = page_client("editor").post(
        reverse("samples:sample-split", args=[sample.pk]),
        {
            "count": "3",
            "volume": "250",
            "volume_unit": "µL",
            "container_type": "cryovial_1ml",
            "kind": "aliquot",
            "box": box.pk,
            "start_position": "B2",
            "change_reason": "Biobank intake",
        },
    )
    assert response.status_code == 302
    made = list(Aliquot.objects.filter(sample=sample, volume_ml=Decimal("0.25")).order_by("id"))
    assert [t.position for t in made] == ["B2", "B4", "B5"]
    sample.refresh_from_db()
    assert sample.remaining_volume_ml == Decimal("4") - Decimal("0.5") - Decimal("0.75")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"count": "9", "volume": "0.5"}, "Only 4 mL left"),
        (
            {"count": "2", "volume": "0.1", "box": "BOX", "start_position": "I9"},
            "has 1 free wells from I9 on; 2 needed",
        ),
        (
            {"count": "2", "volume": "0.1", "box": "BOX", "start_position": "Z"},
            "not a position like A1",
        ),
        (
            {"count": "2", "volume": "0.1", "box": "BOX", "start_position": "A10"},
            "outside box Box 1",
        ),
        ({"count": "2", "volume": "0.1", "box": "RACK"}, "Rack 1 is a rack, not a box"),
        ({"count": "0", "volume": "0.1"}, "greater than or equal to 1"),
    ],
)
def test_sample_split_rejects_bad_input_and_saves_nothing(
    page_client, sample, box, rack, data, message
):
    ids = {"BOX": box.pk, "RACK": rack.pk}
    payload = {"volume_unit": "mL", "container_type": "cryovial_2ml", "kind": "aliquot"}
    payload.update({k: ids.get(v, v) for k, v in data.items()})
    response = page_client("editor").post(
        reverse("samples:sample-split", args=[sample.pk]), payload
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Aliquot.objects.filter(sample=sample).exists()
    sample.refresh_from_db()
    assert sample.remaining_volume_ml == Decimal("4")


def test_sample_split_is_for_editors_of_the_study(page_client, sample, other_tube):
    other_sample = other_tube.sample
    data = {
        "count": "1",
        "volume": "0.1",
        "volume_unit": "mL",
        "container_type": "cryovial_2ml",
        "kind": "aliquot",
    }
    assert (
        page_client("viewer")
        .post(reverse("samples:sample-split", args=[sample.pk]), data)
        .status_code
        == 403
    )
    assert (
        page_client("editor")
        .post(reverse("samples:sample-split", args=[other_sample.pk]), data)
        .status_code
        == 404
    )
    assert (
        page_client("editor").get(reverse("samples:sample-split", args=[sample.pk])).status_code
        == 405
    )
    assert list(Aliquot.objects.values_list("pk", flat=True)) == [other_tube.pk]
