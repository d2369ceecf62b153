"""Samples API: CRUD, volume units, the read representation and bad input."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from samples.api.serializers import SampleSerializer
from samples.models import Donor, Sample, StudyMembership

from .helpers import API, sample_payload


@pytest.fixture
def editor(client_for):
    return client_for("editor")


def read_fields() -> set[str]:
    return {name for name, field in SampleSerializer().fields.items() if not field.write_only}


# --- CRUD ------------------------------------------------------------------------------


def test_editor_creates_a_sample_with_accession_sprec_and_creator(editor, study, donor, members):
    response = editor.post(f"{API}/samples/", sample_payload(study, donor), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    sample = Sample.objects.get(pk=body["id"])
    assert body["accession"] == sample.accession and sample.accession.startswith("EXO-")
    assert body["sprec_code"] == sample.sprec_code == "PL2-PED-A-A-A-X-D"
    assert body["study_code"] == "PLASMA-01"
    assert body["donor_code"] == "D-001"
    assert body["uberon_id"] == "UBERON:0001969"
    assert body["created_by"] == "eddie_editor"
    assert sample.created_by == members["editor"]
    assert body["url"].endswith(f"/api/v1/samples/{sample.pk}/")


def test_volume_ml_is_a_json_number(editor, study, donor):
    response = editor.post(f"{API}/samples/", sample_payload(study, donor), format="json")
    raw = json.loads(response.content)
    assert raw["volume_ml"] == 4.5
    assert isinstance(raw["volume_ml"], float)
    assert isinstance(raw["storage_temp_c"], float)
    assert isinstance(raw["time_to_processing_min"], int)


@pytest.mark.parametrize(
    ("volume", "unit", "expected_ml"),
    [
        (250, "µL", Decimal("0.25")),
        (250, "μL", Decimal("0.25")),  # Greek mu, as some keyboards type it
        ("250", "uL", Decimal("0.25")),
        (1.5, "mL", Decimal("1.5")),
        (0.002, "L", Decimal("2")),
    ],
)
def test_volume_with_unit_is_stored_in_ml(editor, study, donor, volume, unit, expected_ml):
    payload = sample_payload(study, donor, volume=volume, volume_unit=unit)
    del payload["volume_ml"]

    response = editor.post(f"{API}/samples/", payload, format="json")

    assert response.status_code == 201, response.content
    assert Sample.objects.get(pk=response.json()["id"]).volume_ml == expected_ml
    assert response.json()["volume_ml"] == float(expected_ml)
    assert "volume" not in response.json() and "volume_unit" not in response.json()


def test_list_and_detail_give_the_same_representation(editor, make_sample):
    sample = make_sample(notes="same everywhere")

    listed = editor.get(f"{API}/samples/").json()["results"][0]
    detail = editor.get(f"{API}/samples/{sample.pk}/").json()

    assert listed == detail
    assert set(detail) == read_fields()


def test_write_response_matches_detail(editor, study, donor):
    created = editor.post(f"{API}/samples/", sample_payload(study, donor), format="json").json()
    detail = editor.get(f"{API}/samples/{created['id']}/").json()
    assert created == detail


def test_editor_updates_a_sample_and_sprec_follows(editor, make_sample, study, donor):
    sample = make_sample()
    before = sample.sprec_code
    payload = sample_payload(study, donor, storage_temp_c=-20, notes="moved to -20")

    response = editor.put(f"{API}/samples/{sample.pk}/", payload, format="json")

    assert response.status_code == 200, response.content
    sample.refresh_from_db()
    assert sample.notes == "moved to -20"
    assert sample.sprec_code != before  # storage temperature is SPREC position 7
    assert sample.sprec_code == sample.compute_sprec()
    assert response.json()["sprec_code"] == sample.sprec_code


def test_patch_changes_only_the_given_fields(editor, make_sample):
    sample = make_sample()
    response = editor.patch(f"{API}/samples/{sample.pk}/", {"status": "reserved"}, format="json")
    assert response.status_code == 200, response.content
    sample.refresh_from_db()
    assert sample.status == "reserved"
    assert sample.volume_ml == Decimal("4.0000")


def test_patch_volume_with_unit(editor, make_sample):
    sample = make_sample()
    response = editor.patch(
        f"{API}/samples/{sample.pk}/", {"volume": 500, "volume_unit": "uL"}, format="json"
    )
    assert response.status_code == 200, response.content
    sample.refresh_from_db()
    assert sample.volume_ml == Decimal("0.5")


def test_editor_deletes_a_sample(editor, make_sample):
    sample = make_sample()
    assert editor.delete(f"{API}/samples/{sample.pk}/").status_code == 204
    assert not Sample.objects.filter(pk=sample.pk).exists()


def test_conditioned_medium_needs_no_donor(editor, study):
    payload = sample_payload(
        study,
        None,
        fluid_type="conditioned_medium",
        tube_type="pp_sterile",
        cell_line="HEK293T (CVCL_0063)",
        culture_serum="serum_free",
    )
    response = editor.post(f"{API}/samples/", payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["donor"] is None
    assert response.json()["uberon_id"] is None


def test_centrifugation_steps_are_normalised_by_the_model(editor, study, donor):
    payload = sample_payload(
        study, donor, centrifugation_steps=[{"g": "2500", "minutes": 15, "temp_c": 4}]
    )
    response = editor.post(f"{API}/samples/", payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["centrifugation_steps"] == [
        {"g": 2500.0, "minutes": 15.0, "temp_c": 4.0, "brake": None}
    ]


def test_a_sample_cannot_move_to_another_study(editor, make_sample, other_study, members):
    StudyMembership.objects.create(study=other_study, user=members["editor"], role="editor")
    sample = make_sample()
    response = editor.patch(
        f"{API}/samples/{sample.pk}/", {"study": other_study.pk, "donor": None}, format="json"
    )
    assert response.status_code == 400
    assert "study" in response.json()
    sample.refresh_from_db()
    assert sample.study_id != other_study.pk


# --- Bad input: 400 with field messages, nothing saved -----------------------------------


def _bad(the_study, the_donor, **overrides):
    return sample_payload(the_study, the_donor, **overrides)


BAD_INPUT = {
    "future collected_at": (
        lambda s, d: _bad(s, d, collected_at=(timezone.now() + timedelta(days=2)).isoformat()),
        "collected_at",
        "future",
    ),
    "naive collected_at": (
        lambda s, d: _bad(s, d, collected_at="2024-05-01T09:30:00"),
        "collected_at",
        "time zone",
    ),
    "not a date": (lambda s, d: _bad(s, d, collected_at="yesterday"), "collected_at", ""),
    "unknown unit": (
        lambda s, d: _bad(s, d, volume_ml=None, volume=3, volume_unit="gallon"),
        "volume_unit",
        "mL, µL, L",
    ),
    "unit without volume": (
        lambda s, d: {k: v for k, v in _bad(s, d, volume_unit="mL").items() if k != "volume_ml"},
        "volume",
        "",
    ),
    "volume without unit": (
        lambda s, d: {k: v for k, v in _bad(s, d, volume=3).items() if k != "volume_ml"},
        "volume_unit",
        "unit",
    ),
    "both volume forms": (lambda s, d: _bad(s, d, volume=3, volume_unit="mL"), "volume", ""),
    "zero volume_ml": (lambda s, d: _bad(s, d, volume_ml=0), "volume_ml", "greater than zero"),
    "negative volume_ml": (lambda s, d: _bad(s, d, volume_ml=-2), "volume_ml", "greater"),
    "negative volume in µL": (
        lambda s, d: {
            k: v for k, v in _bad(s, d, volume=-5, volume_unit="µL").items() if k != "volume_ml"
        },
        "volume",
        "greater than zero",
    ),
    "too many decimals": (lambda s, d: _bad(s, d, volume_ml="1.00001"), "volume_ml", ""),
    "not a number": (lambda s, d: _bad(s, d, volume_ml="lots"), "volume_ml", ""),
    "NaN volume": (
        lambda s, d: {
            k: v for k, v in _bad(s, d, volume="NaN", volume_unit="mL").items() if k != "volume_ml"
        },
        "volume",
        "",
    ),
    "plasma without anticoagulant": (
        lambda s, d: _bad(s, d, tube_type=""),
        "tube_type",
        "anticoagulant",
    ),
    "plasma in a serum tube": (
        lambda s, d: _bad(s, d, tube_type="serum_clot_activator"),
        "tube_type",
        "anticoagulant",
    ),
    "urine without void type": (
        lambda s, d: _bad(s, d, fluid_type="urine", tube_type="pp_sterile"),
        "urine_void_type",
        "void type",
    ),
    "unknown fluid type": (lambda s, d: _bad(s, d, fluid_type="blood"), "fluid_type", "valid"),
    "no donor for plasma": (lambda s, d: _bad(s, None), "donor", "required"),
    "wrong type integer": (
        lambda s, d: _bad(s, d, time_to_processing_min="soon"),
        "time_to_processing_min",
        "integer",
    ),
    "wrong type study": (lambda s, d: _bad(s, d, study="PLASMA-01"), "study", "Incorrect type"),
    "steps not a list": (
        lambda s, d: _bad(s, d, centrifugation_steps="fast"),
        "centrifugation_steps",
        "list",
    ),
    "step g out of range": (
        lambda s, d: _bad(s, d, centrifugation_steps=[{"g": -1, "minutes": 10, "temp_c": 4}]),
        "centrifugation_steps",
        "Spin 1",
    ),
    "haemolysis out of range": (
        lambda s, d: _bad(s, d, haemolysis_a414=9),
        "haemolysis_a414",
        "between",
    ),
    "NUL in notes": (lambda s, d: _bad(s, d, notes="a\x00b"), "notes", ""),
    "culture fields on plasma": (
        lambda s, d: _bad(s, d, cell_line="HeLa"),
        "cell_line",
        "conditioned",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_sample_input_is_a_400_with_a_field_message(editor, study, donor, case):
    build, field, fragment = BAD_INPUT[case]

    response = editor.post(f"{API}/samples/", build(study, donor), format="json")

    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert fragment in " ".join(errors[field]), errors
    assert Sample.objects.count() == 0


def test_donor_from_a_foreign_study_reads_as_not_existing(editor, study, foreign_donor):
    response = editor.post(f"{API}/samples/", sample_payload(study, foreign_donor), format="json")
    assert response.status_code == 400
    assert "object does not exist" in response.json()["donor"][0]
    assert Sample.objects.count() == 0


def test_foreign_study_in_payload_reads_as_not_existing(editor, other_study, foreign_donor):
    response = editor.post(
        f"{API}/samples/", sample_payload(other_study, foreign_donor), format="json"
    )
    assert response.status_code == 400
    errors = response.json()
    assert "object does not exist" in errors["study"][0]
    assert "object does not exist" in errors["donor"][0]
    assert Sample.objects.count() == 0


def test_donor_of_another_visible_study_is_refused(editor, study, other_study, members):
    StudyMembership.objects.create(study=other_study, user=members["editor"], role="editor")
    elsewhere = Donor.objects.create(study=other_study, code="X-9")
    response = editor.post(f"{API}/samples/", sample_payload(study, elsewhere), format="json")
    assert response.status_code == 400
    assert "another study" in response.json()["donor"][0]
    assert Sample.objects.count() == 0


def test_patch_with_a_foreign_donor_is_refused_and_nothing_changes(
    editor, make_sample, foreign_donor
):
    sample = make_sample()
    response = editor.patch(
        f"{API}/samples/{sample.pk}/", {"donor": foreign_donor.pk}, format="json"
    )
    assert response.status_code == 400
    sample.refresh_from_db()
    assert sample.donor.code == "D-001"


def test_malformed_json_body_is_a_400(editor):
    response = editor.post(
        f"{API}/samples/", data='{"study": 1, "fluid_type": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert Sample.objects.count() == 0


def test_a_list_body_is_a_400(editor, study, donor):
    response = editor.post(f"{API}/samples/", [sample_payload(study, donor)], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert Sample.objects.count() == 0


def test_nul_inside_centrifugation_json_is_a_400_not_a_500(editor, study, donor):
    steps = [{"g": 2500, "minutes": 15, "temp_c": 20, "rotor": "A\x00"}]
    response = editor.post(
        f"{API}/samples/", sample_payload(study, donor, centrifugation_steps=steps), format="json"
    )
    assert response.status_code == 400
    assert Sample.objects.count() == 0


def test_unknown_sample_id_is_a_404(editor):
    assert editor.get(f"{API}/samples/999999/").status_code == 404
    assert editor.get(f"{API}/samples/99999999999999999999999/").status_code == 404
    assert editor.get(f"{API}/samples/abc/").status_code == 404
