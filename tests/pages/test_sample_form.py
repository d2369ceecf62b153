"""Registering and editing samples through the page form."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from samples.models import Sample

CREATE = reverse("samples:sample-create")


def form_data(study, donor_obj, /, **overrides: Any) -> dict[str, Any]:
    data = {
        "study": study.pk,
        "donor": donor_obj.pk if donor_obj else "",
        "fluid_type": "plasma",
        "collected_at": "2025-01-10T09:30",
        "status": "available",
        "volume": "500",
        "volume_unit": "µL",
        "tube_type": "k2_edta",
        "fasting_state": "fasting",
        "time_to_processing_min": "45",
        "processing_temp_c": "21",
        "spin1_g": "2500",
        "spin1_minutes": "15",
        "spin1_temp_c": "20",
        "spin1_brake": "off",
        "spin2_g": "2500",
        "spin2_minutes": "15",
        "spin2_temp_c": "20",
        "spin2_brake": "off",
        "post_centrifugation_delay_min": "30",
        "post_centrifugation_temp_c": "20",
        "storage_container": "cryotube",
        "storage_temp_c": "-80",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_editor_registers_a_plasma_sample(page_client, members, study, donor):
    response = page_client("editor").post(CREATE, form_data(study, donor))
    sample = Sample.objects.get()
    assert response.status_code == 302
    assert response["Location"] == sample.get_absolute_url()
    assert sample.accession.startswith("EXO-")
    assert sample.volume_ml == Decimal("0.5")
    assert sample.centrifugation_steps == [
        {"g": 2500.0, "minutes": 15.0, "temp_c": 20.0, "brake": False},
        {"g": 2500.0, "minutes": 15.0, "temp_c": 20.0, "brake": False},
    ]
    assert sample.sprec_code == "PL2-PED-A-A-A-B-D"
    assert sample.created_by == members["editor"]
    assert timezone.is_aware(sample.collected_at)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {
                "not_centrifuged": "on",
                **{f"spin{n}_{p}": "" for n in (1, 2) for p in ("g", "minutes", "temp_c", "brake")},
            },
            [],
        ),
        ({f"spin{n}_{p}": "" for n in (1, 2) for p in ("g", "minutes", "temp_c", "brake")}, None),
        (
            {
                "spin2_g": "",
                "spin2_minutes": "",
                "spin2_temp_c": "",
                "spin2_brake": "",
                "spin1_brake": "",
            },
            [{"g": 2500.0, "minutes": 15.0, "temp_c": 20.0, "brake": None}],
        ),
    ],
    ids=["not-centrifuged", "not-recorded", "one-spin-brake-unknown"],
)
def test_centrifugation_rows_map_to_steps(page_client, study, donor, overrides, expected):
    response = page_client("editor").post(CREATE, form_data(study, donor, **overrides))
    assert response.status_code == 302, response.context["form"].errors
    assert Sample.objects.get().centrifugation_steps == expected


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        (
            {"collected_at": (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")},
            "collected_at",
            "future",
        ),
        ({"collected_at": "yesterday"}, "collected_at", "valid date"),
        ({"volume": "abc"}, "volume", "not a number"),
        ({"volume": "0"}, "volume", "greater than zero"),
        ({"volume": "-3"}, "volume", "greater than zero"),
        ({"volume": "1,000"}, "volume", "ambiguous"),
        ({"volume": "1e12", "volume_unit": "L"}, "volume", "digits"),
        ({"volume_unit": "gal"}, "volume_unit", "Unknown volume unit"),
        ({"tube_type": ""}, "tube_type", "anticoagulant"),
        ({"fluid_type": "blood-ish"}, "fluid_type", "valid choice"),
        ({"donor": ""}, "donor", "donor is required"),
        ({"urine_void_type": "random"}, "urine_void_type", "Only recorded for urine"),
        ({"cell_line": "HEK293T"}, "cell_line", "conditioned"),
        ({"fluid_type": "urine", "tube_type": "pp_sterile"}, "urine_void_type", "void type"),
        ({"spin2_minutes": ""}, "spin2_minutes", "give minutes"),
        (
            {"spin1_g": "", "spin1_minutes": "", "spin1_temp_c": "", "spin1_brake": ""},
            "spin2_g",
            "in order",
        ),
        ({"spin1_g": "-5"}, "spin1_g", "greater than or equal to 1"),
        ({"spin1_temp_c": "90"}, "spin1_temp_c", "less than or equal to 45"),
        ({"not_centrifuged": "on"}, "not_centrifuged", "not both"),
        ({"processing_temp_c": "80"}, "processing_temp_c", "between -30 and 45"),
        ({"storage_temp_c": "warm"}, "storage_temp_c", "number"),
    ],
)
def test_bad_input_is_rejected_on_the_field_and_nothing_is_saved(
    page_client, study, donor, overrides, field, fragment
):
    response = page_client("editor").post(CREATE, form_data(study, donor, **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(fragment.lower() in message.lower() for message in errors[field]), errors[field]
    assert Sample.objects.count() == 0
    assert "nothing was saved" in response.content.decode() or errors.get("__all__")


def test_study_and_donor_choices_are_limited(page_client, study, donor, other_study, other_donor):
    client = page_client("editor")
    # A study the editor is not in, and a donor of another study, are not valid choices.
    response = client.post(CREATE, form_data(other_study, other_donor))
    assert "study" in response.context["form"].errors
    response = client.post(CREATE, form_data(study, other_donor))
    assert "donor" in response.context["form"].errors
    assert Sample.objects.count() == 0
    page = client.get(CREATE).content.decode()
    assert "D-001" in page
    assert "U-001" not in page and "URINE-02" not in page


def test_viewer_cannot_register_in_a_study_they_only_view(
    page_client, members, study, donor, other_study
):
    from samples.models import StudyMembership

    viewer = page_client("viewer")
    assert viewer.post(CREATE, form_data(study, donor)).status_code == 403
    # Once an editor elsewhere, the form opens but still refuses the study they only view.
    StudyMembership.objects.create(study=other_study, user=members["viewer"], role="editor")
    response = viewer.post(CREATE, form_data(study, donor))
    assert "study" in response.context["form"].errors
    assert Sample.objects.count() == 0


def test_conditioned_medium_needs_no_donor(page_client, study):
    data = form_data(
        study,
        None,
        fluid_type="conditioned_medium",
        tube_type="pp_sterile",
        cell_line="HEK293T (CVCL_0063)",
        culture_serum="serum_free",
    )
    response = page_client("editor").post(CREATE, data)
    assert response.status_code == 302, response.context["form"].errors
    assert Sample.objects.get().donor is None


def test_edit_form_shows_stored_values_and_keeps_unshown_spin_details(page_client, make_sample):
    sample = make_sample(
        centrifugation_steps=[
            {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False, "rotor": "A-4-62"},
            {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
            {"g": 10000, "minutes": 30, "temp_c": 4, "brake": True},
            {"g": 100000, "minutes": 70, "temp_c": 4, "brake": True},
        ]
    )
    client = page_client("editor")
    url = reverse("samples:sample-edit", args=[sample.pk])
    form = client.get(url).context["form"]
    assert form["volume"].value() == "4"
    assert form["spin4_g"].value() == 100000
    assert form["spin1_brake"].value() == "off"
    data = {
        name: form[name].value() if form[name].value() is not None else ""
        for name in form.fields
        if name != "study"
    }
    data.update({"volume": "0.002", "volume_unit": "L", "collected_at": "2025-02-01T08:00"})
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not False}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    sample.refresh_from_db()
    assert sample.volume_ml == Decimal("2")
    assert len(sample.centrifugation_steps) == 4
    assert sample.centrifugation_steps[0]["rotor"] == "A-4-62"
    assert sample.study_id == form.instance.study_id


def test_edit_cannot_move_a_sample_to_another_study(page_client, make_sample, other_study, members):
    from samples.models import StudyMembership

    StudyMembership.objects.create(study=other_study, user=members["editor"], role="editor")
    sample = make_sample()
    url = reverse("samples:sample-edit", args=[sample.pk])
    client = page_client("editor")
    data = form_data(sample.study, sample.donor, study=other_study.pk)
    client.post(url, data)
    sample.refresh_from_db()
    assert sample.study_id != other_study.pk


def test_delete_sample_with_confirmation(page_client, make_sample):
    sample = make_sample()
    url = reverse("samples:sample-delete", args=[sample.pk])
    client = page_client("editor")
    assert sample.accession in client.get(url).content.decode()
    assert Sample.objects.filter(pk=sample.pk).exists()
    response = client.post(url)
    assert response.status_code == 302
    assert not Sample.objects.filter(pk=sample.pk).exists()
