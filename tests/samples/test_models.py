"""Model rules for studies, donors and samples: validation, accessions, scoping."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from samples.choices import Role
from samples.models import Donor, Sample, Study, StudyMembership, next_accessions
from samples.units import parse_decimal, volume_to_ml
from tests.conftest import sample_kwargs

pytestmark = pytest.mark.django_db


def errors_of(sample: Sample) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        sample.full_clean()
    return excinfo.value.message_dict


def test_accessions_are_sequential_unique_and_never_reused(make_sample):
    first = make_sample()
    with pytest.raises(RuntimeError), transaction.atomic():
        next_accessions(3)
        raise RuntimeError("roll back")
    second = make_sample()
    number = lambda acc: int(acc.split("-")[1])  # noqa: E731
    # The three accessions drawn in the rolled-back transaction are gone for good.
    assert number(second.accession) == number(first.accession) + 4


def test_accession_cannot_be_changed_by_save(make_sample):
    sample = make_sample()
    original = sample.accession
    sample.notes = "re-labelled"
    sample.save()
    sample.refresh_from_db()
    assert sample.accession == original


def test_sprec_follows_field_changes(make_sample):
    sample = make_sample()
    assert sample.sprec_code.startswith("PL2-PED")
    sample.tube_type = "citrate"
    sample.save(update_fields=["tube_type"])
    sample.refresh_from_db()
    assert sample.sprec_code.startswith("PL2-SCI")


def test_collection_in_future_rejected(study, donor):
    sample = Sample(**sample_kwargs(study, donor, collected_at=timezone.now() + timedelta(hours=2)))
    assert "future" in errors_of(sample)["collected_at"][0]


def test_volume_must_be_positive_in_model_and_database(study, donor):
    sample = Sample(**sample_kwargs(study, donor, volume_ml=Decimal("0")))
    assert "volume_ml" in errors_of(sample)
    sample.accession = ""
    with pytest.raises(IntegrityError), transaction.atomic():
        sample.save()  # the CHECK constraint holds even when validation is bypassed


def test_plasma_needs_anticoagulant_tube(study, donor):
    sample = Sample(**sample_kwargs(study, donor, tube_type="serum_clot_activator"))
    assert "anticoagulant" in errors_of(sample)["tube_type"][0]
    sample = Sample(**sample_kwargs(study, donor, tube_type=""))
    assert "tube_type" in errors_of(sample)


def test_urine_needs_void_type_and_rejects_blood_fields(study, donor):
    sample = Sample(
        **sample_kwargs(
            study, donor, fluid_type="urine", tube_type="pp_sterile", haemolysis_a414=0.1
        )
    )
    errors = errors_of(sample)
    assert "urine_void_type" in errors
    assert "blood" in errors["haemolysis_a414"][0]


def test_conditioned_medium_needs_cell_line_not_donor(study):
    sample = Sample(
        **sample_kwargs(study, None, fluid_type="conditioned_medium", tube_type="pp_sterile")
    )
    errors = errors_of(sample)
    assert "cell_line" in errors and "donor" not in errors
    sample.cell_line = "HEK293T (CVCL_0063)"
    sample.culture_serum = "fbs"
    assert "serum_ev_depletion" in errors_of(sample)
    sample.serum_ev_depletion = "uc_18h"
    sample.full_clean()


def test_donor_required_for_body_fluids(study):
    assert "donor" in errors_of(Sample(**sample_kwargs(study, None)))


def test_donor_from_other_study_rejected(study, other_study):
    foreign = Donor.objects.create(study=other_study, code="X-1")
    assert "another study" in errors_of(Sample(**sample_kwargs(study, foreign)))["donor"][0]


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ("2500g", "list"),
        ([{"g": 2500, "minutes": 15}], "temp_c is required"),
        ([{"g": -1, "minutes": 15, "temp_c": 20}], "between 0"),
        ([{"g": 2500, "minutes": 15, "temp_c": 20, "brake": "yes"}], "brake"),
        ([{"g": 2500, "minutes": 15, "temp_c": 20, "speed": 3}], "unknown field"),
    ],
)
def test_centrifugation_steps_validated(study, donor, steps, fragment):
    sample = Sample(**sample_kwargs(study, donor, centrifugation_steps=steps))
    assert fragment in errors_of(sample)["centrifugation_steps"][0]


def test_donor_validation(study):
    donor = Donor(study=study, code="has space", consent_status="given")
    with pytest.raises(ValidationError) as excinfo:
        donor.full_clean()
    assert {"code", "consent_date"} <= set(excinfo.value.message_dict)
    donor = Donor(
        study=study,
        code="D-9",
        consent_status="given",
        consent_date=date.today() + timedelta(days=3),
    )
    with pytest.raises(ValidationError) as excinfo:
        donor.full_clean()
    assert "future" in excinfo.value.message_dict["consent_date"][0]


def test_donor_code_unique_within_study_only(study, other_study):
    Donor.objects.create(study=study, code="D-1")
    Donor.objects.create(study=other_study, code="D-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Donor.objects.create(study=study, code="D-1")


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (250, "µL", "0.2500"),
        ("1,5", "mL", "1.5000"),
        (2, "L", "2000.0000"),
        ("0.5", "uL", "0.0005"),
    ],
)
def test_volume_units_convert_to_ml(value, unit, expected):
    assert volume_to_ml(value, unit) == Decimal(expected)


def test_unknown_volume_unit_and_ambiguous_numbers_rejected():
    with pytest.raises(ValidationError, match="Unknown volume unit"):
        volume_to_ml(1, "dL")
    with pytest.raises(ValidationError, match="ambiguous"):
        parse_decimal("1,000")
    with pytest.raises(ValidationError, match="not a number"):
        parse_decimal("lots")


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-inf"])
def test_special_decimal_values_are_not_numbers(text):
    with pytest.raises(ValidationError, match="not a finite number"):
        parse_decimal(text)


def test_visible_to_follows_membership(members, study, other_study, make_sample):
    mine = make_sample()
    Donor.objects.create(study=other_study, code="O-1")
    for role in ("viewer", "editor", "manager", "superuser"):
        assert list(Sample.objects.visible_to(members[role])) == [mine]
    assert not Sample.objects.visible_to(members["outsider"]).exists()
    assert Study.objects.visible_to(members["superuser"]).count() == 2
    assert list(Study.objects.editable_by(members["viewer"])) == []
    assert list(Study.objects.editable_by(members["editor"])) == [study]
    assert list(Study.objects.managed_by(members["editor"])) == []
    assert study.role_of(members["manager"]) == Role.MANAGER
    assert study.role_of(members["outsider"]) is None


def test_membership_unique_per_user_and_study(members, study):
    with pytest.raises(IntegrityError), transaction.atomic():
        StudyMembership.objects.create(study=study, user=members["viewer"], role=Role.EDITOR)


@pytest.mark.parametrize("value", ["1e30", "-1e9", "123456789"])
def test_absurd_volumes_are_a_validation_error_not_a_crash(value):
    with pytest.raises(ValidationError, match="too large"):
        volume_to_ml(value, "mL")


def test_remaining_volume_starts_full_on_every_insert_path(study, donor):
    """bulk_create and COPY bypass save(); a database trigger fills the remaining volume."""
    [sample] = Sample.objects.bulk_create(
        [Sample(**sample_kwargs(study, donor, accession=next_accessions(1)[0]))]
    )
    sample.refresh_from_db()
    assert sample.remaining_volume_ml == sample.volume_ml == Decimal("4.0000")
