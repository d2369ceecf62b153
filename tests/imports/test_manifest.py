"""Manifest reading, validation and the all-or-nothing import (service level)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.utils import timezone
from openpyxl import load_workbook

from samples import manifest
from samples.choices import ConsentStatus, Sex, Species
from samples.manifest import (
    COLUMN_NAMES,
    ManifestError,
    ManifestInvalid,
    build_template_csv,
    build_template_xlsx,
    check_manifest,
    import_manifest,
)
from samples.models import Donor, Sample

from .conftest import good_row, manifest_csv, manifest_xlsx, naive

pytestmark = pytest.mark.django_db


def run_import(content: bytes, study, user, *, create: bool = False, name: str = "m.csv"):
    return import_manifest(
        content=content, file_name=name, study=study, user=user, create_missing_donors=create
    )


def check(content: bytes, study, *, create: bool = False):
    return check_manifest(
        content=content, file_name="m.csv", study=study, create_missing_donors=create
    )


def as_tuples(result) -> list[tuple[int, str]]:
    return [(error.row, error.column) for error in result.errors]


# --- Good manifests --------------------------------------------------------------------


def test_good_csv_imports_every_row_with_sprec_and_audit_fields(study, donor, members):
    editor = members["editor"]
    content = manifest_csv(
        [good_row(notes="first"), good_row(notes="second", volume="500", volume_unit="µL")]
    )

    result = run_import(content, study, editor)

    assert result.count == 2
    samples = list(Sample.objects.filter(accession__in=result.accessions).order_by("id"))
    assert [s.accession for s in samples] == result.accessions
    first, second = samples
    assert first.study == study and first.donor == donor
    assert first.fluid_type == "plasma" and first.tube_type == "k2_edta"
    assert first.volume_ml == Decimal("4.5000")
    assert second.volume_ml == Decimal("0.5000")
    assert first.collected_at == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert first.centrifugation_steps == [
        {"g": 2500.0, "minutes": 15.0, "temp_c": 20.0, "brake": False},
        {"g": 2500.0, "minutes": 15.0, "temp_c": 20.0, "brake": False},
    ]
    # The same code the model derives on save().
    assert first.sprec_code == first.compute_sprec() == "PL2-PED-A-A-A-B-D"
    assert first.created_by == editor
    assert first.created_at is not None and first.updated_at == first.created_at
    assert first.notes == "first"
    assert first.status == "available" and first.fasting_state == "unknown"


def test_good_xlsx_with_native_cells(study, donor, members, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    row = good_row(
        collected_at=naive("2024-05-01 09:30"),  # an Excel date cell: no offset
        volume=4.5,
        time_to_processing_min=45,
        processing_temp_c=21.0,
        spin1_brake=False,
        spin2_brake=True,
        storage_temp_c=-80,
    )
    result = run_import(manifest_xlsx([row]), study, members["editor"], name="m.xlsx")

    sample = Sample.objects.get(accession=result.accessions[0])
    assert sample.collected_at == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)  # CEST = UTC+2
    assert sample.volume_ml == Decimal("4.5")
    assert sample.centrifugation_steps[1]["brake"] is True
    assert sample.storage_temp_c == -80


def test_labels_case_and_booleans_are_accepted(study, donor, members):
    row = good_row(
        fluid_type="Blood PLASMA",
        tube_type="K2-EDTA",
        storage_container="cryotube 1–2 ml",
        status="Reserved",
        fasting_state="non fasting",
        spin1_brake="YES",
        spin2_brake="0",
    )
    result = run_import(manifest_csv([row]), study, members["editor"])
    sample = Sample.objects.get(accession=result.accessions[0])
    assert (sample.fluid_type, sample.tube_type, sample.status) == ("plasma", "k2_edta", "reserved")
    assert sample.fasting_state == "non_fasting"
    assert sample.storage_container == "cryotube"
    assert [step["brake"] for step in sample.centrifugation_steps] == [True, False]


def test_naive_time_is_read_in_settings_time_zone(study, donor, members, settings):
    settings.TIME_ZONE = "America/New_York"
    result = run_import(
        manifest_csv([good_row(collected_at="2024-01-15 08:00")]), study, members["editor"]
    )
    sample = Sample.objects.get(accession=result.accessions[0])
    assert sample.collected_at == datetime(2024, 1, 15, 13, 0, tzinfo=UTC)


def test_only_required_columns_and_conditioned_medium_without_donor(study, members):
    content = manifest_csv(
        [
            {
                "fluid_type": "conditioned_medium",
                "collected_at": "2024-05-01T10:00:00Z",
                "cell_line": "HEK293T (CVCL_0063)",
                "culture_serum": "serum_free",
            }
        ],
        columns=["fluid_type", "collected_at", "cell_line", "culture_serum"],
    )
    result = run_import(content, study, members["editor"])
    sample = Sample.objects.get(accession=result.accessions[0])
    assert sample.donor is None and sample.cell_line == "HEK293T (CVCL_0063)"
    assert sample.centrifugation_steps is None  # not recorded, not "not centrifuged"


def test_not_centrifuged_stores_an_empty_spin_list(study, donor, members):
    row = good_row(not_centrifuged="yes", fluid_type="saliva", tube_type="pp_sterile")
    for part in ("g", "minutes", "temp_c", "brake"):
        row[f"spin1_{part}"] = row[f"spin2_{part}"] = ""
    result = run_import(manifest_csv([row]), study, members["editor"])
    assert Sample.objects.get(accession=result.accessions[0]).centrifugation_steps == []


def test_header_names_are_matched_liberally(study, donor, members):
    columns = ["Donor Code", "FLUID_TYPE", "collected-at", "Tube type", "Volume (mL)"]
    content = (",".join(columns) + "\nD-001,plasma,2024-05-01T09:30:00Z,k2_edta,2\n").encode()
    result = run_import(content, study, members["editor"])
    assert Sample.objects.get(accession=result.accessions[0]).volume_ml == Decimal(2)


def test_blank_lines_are_skipped_and_row_numbers_match_the_spreadsheet(study, donor):
    lines = manifest_csv([good_row()]).decode().splitlines()
    bad = manifest_csv([good_row(volume="abc")]).decode().splitlines()[1]
    content = "\r\n".join([lines[0], lines[1], "", ",,,", bad]).encode()
    result = check(content, study)
    assert result.row_count == 2
    assert as_tuples(result) == [(5, "volume")]


# --- Encodings and delimiters -----------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "delimiter", "volume"),
    [
        ("utf-8-sig", ",", "4.5"),
        ("utf-8", ";", "4,5"),
        ("cp1252", ";", "4,5"),
        ("latin-1", ",", "4,5"),  # quoted by the csv writer
        ("utf-16", "\t", "4.5"),
    ],
)
def test_encodings_delimiters_and_decimal_comma(study, donor, members, encoding, delimiter, volume):
    row = good_row(volume=volume, volume_unit="µL", notes="Hämolyse leicht, 4 °C")
    content = manifest_csv([row], delimiter=delimiter, encoding=encoding)
    result = run_import(content, study, members["editor"])
    sample = Sample.objects.get(accession=result.accessions[0])
    assert sample.volume_ml == Decimal("0.0045")
    assert sample.notes == "Hämolyse leicht, 4 °C"


def test_unquoted_decimal_comma_in_comma_file_is_a_row_error(study, donor):
    header = "donor_code,fluid_type,collected_at,tube_type,volume\n"
    content = (header + "D-001,plasma,2024-05-01T09:30:00Z,k2_edta,4,5\n").encode()
    result = check(content, study)
    assert as_tuples(result) == [(2, "")]
    assert "decimal comma" in result.errors[0].message


def test_values_under_a_column_without_a_name_are_row_errors(study, donor):
    header = "donor_code,fluid_type,collected_at,tube_type,,volume\n"
    content = (
        header
        + "D-001,plasma,2024-05-01T09:30:00Z,k2_edta,,4\n"
        + "D-001,plasma,2024-05-01T09:30:00Z,k2_edta,oops,4\n"
    ).encode()
    result = check(content, study)
    assert as_tuples(result) == [(3, "")]
    assert "column 5" in result.errors[0].message


# --- File-level errors ------------------------------------------------------------------


def test_unknown_columns_are_named(study):
    content = manifest_csv([good_row()], columns=[*COLUMN_NAMES, "patient_name", "colour"])
    with pytest.raises(ManifestError) as excinfo:
        check(content, study)
    assert "patient_name" in str(excinfo.value) and "colour" in str(excinfo.value)


def test_missing_required_columns_are_named(study):
    content = manifest_csv([good_row()], columns=["donor_code", "tube_type"])
    with pytest.raises(ManifestError) as excinfo:
        check(content, study)
    assert "Missing required column(s): fluid_type, collected_at" in str(excinfo.value)


def test_duplicate_columns_are_refused(study):
    content = b"fluid_type,collected_at,fluid_type\nplasma,2024-05-01T09:30:00Z,serum\n"
    with pytest.raises(ManifestError, match="more than once: fluid_type"):
        check(content, study)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"fluid_type,collected_at\n", "no data rows"),
        (b"\xd0\xcf\x11\xe0rest-of-an-old-xls", r"\.xls"),
        (b"PK\x03\x04not-really-a-zip", "not a valid XLSX"),
    ],
)
def test_unreadable_files(study, content, message):
    with pytest.raises(ManifestError, match=message):
        check(content, study)


def test_row_and_size_limits(study, donor, settings):
    settings.MANIFEST_MAX_ROWS = 3
    with pytest.raises(ManifestError, match="more than 3 rows"):
        check(manifest_csv([good_row()] * 4), study)
    assert check(manifest_csv([good_row()] * 3), study).is_valid
    settings.MANIFEST_MAX_BYTES = 1024
    with pytest.raises(ManifestError, match="larger than"):
        check(manifest_csv([good_row()] * 3) + b" " * 1024, study)


# --- Bad rows ---------------------------------------------------------------------------

future = (timezone.now() + timedelta(days=2)).isoformat()
BAD_ROWS = [
    ({"fluid_type": "lymph"}, "fluid_type", "Unknown fluid_type 'lymph'"),
    ({"fluid_type": ""}, "fluid_type", "required"),
    ({"collected_at": ""}, "collected_at", "required"),
    ({"collected_at": "01/05/2024"}, "collected_at", "date and time"),
    ({"collected_at": "2024-05-01"}, "collected_at", "date and time"),
    ({"collected_at": future}, "collected_at", "future"),
    ({"tube_type": "purple top"}, "tube_type", "Unknown tube_type"),
    ({"tube_type": "serum_plain"}, "tube_type", "anticoagulant"),
    ({"volume": "abc"}, "volume", "not a number"),
    ({"volume": "1,000"}, "volume", "ambiguous"),
    ({"volume": "-1"}, "volume", "greater than zero"),
    ({"volume": "0"}, "volume", "greater than zero"),
    ({"volume": "nan"}, "volume", "finite"),
    ({"volume_unit": "gallons"}, "volume_unit", "Unknown volume unit"),
    ({"time_to_processing_min": "4.5"}, "time_to_processing_min", "whole number"),
    ({"time_to_processing_min": "-3"}, "time_to_processing_min", "at least 0"),
    ({"processing_temp_c": "60"}, "processing_temp_c", "between -30 and 45"),
    ({"spin1_brake": "maybe"}, "spin1_brake", "yes/no"),
    ({"spin1_minutes": ""}, "spin1_minutes", "Needed when spin 1"),
    ({"spin1_g": "0"}, "spin1_g", "g must be between"),
    ({"not_centrifuged": "yes"}, "not_centrifuged", "Leave the spin columns empty"),
    ({"urine_void_type": "random"}, "urine_void_type", "Only recorded for urine"),
    ({"creatinine_mmol_l": "5"}, "creatinine_mmol_l", "Only recorded for urine"),
    ({"cell_line": "HeLa"}, "cell_line", "conditioned cell-culture medium"),
    ({"haemolysis_a414": "9"}, "haemolysis_a414", "between 0 and 5"),
    ({"storage_temp_c": "-300"}, "storage_temp_c", "between -200 and 40"),
    ({"status": "lost"}, "status", "Unknown status"),
    ({"donor_code": "NOPE-9"}, "donor_code", "No donor 'NOPE-9' in study PLASMA-01"),
    ({"donor_code": ""}, "donor_code", "A donor is required"),
    ({"notes": manifest.EXAMPLE_NOTE}, "notes", "example row"),
]


@pytest.mark.parametrize(("overrides", "column", "message"), BAD_ROWS)
def test_every_kind_of_bad_row_is_reported_with_row_and_column(
    study, donor, members, overrides, column, message
):
    content = manifest_csv([good_row(), good_row(), good_row(**overrides)])
    result = check(content, study)
    assert not result.is_valid
    assert (4, column) in as_tuples(result), result.errors
    assert message in next(e.message for e in result.errors if e.column == column)
    assert {e.row for e in result.errors} == {4}

    with pytest.raises(ManifestInvalid) as excinfo:
        run_import(content, study, members["editor"])
    assert (4, column) in as_tuples(excinfo.value.result)
    assert not Sample.objects.exists()


def test_spin_two_without_spin_one(study, donor):
    row = good_row(spin1_g="", spin1_minutes="", spin1_temp_c="", spin1_brake="")
    result = check(manifest_csv([row]), study)
    assert as_tuples(result) == [(2, "spin2_g")]
    assert result.errors[0].message == "Fill spin 1 before spin 2."


def test_several_errors_in_one_row_are_all_reported(study, donor):
    row = good_row(volume="x", tube_type="", storage_temp_c="cold")
    result = check(manifest_csv([row]), study)
    assert as_tuples(result) == [(2, "tube_type"), (2, "volume"), (2, "storage_temp_c")]


def test_donor_of_another_study_is_unknown(study, other_study, members):
    Donor.objects.create(study=other_study, code="U-1")
    result = check(manifest_csv([good_row(donor_code="U-1")]), study)
    assert as_tuples(result) == [(2, "donor_code")]


# --- Donors -----------------------------------------------------------------------------


def test_missing_donors_are_created_once_with_safe_defaults(study, donor, members):
    rows = [good_row(donor_code="NEW-1"), good_row(donor_code="NEW-1"), good_row()]
    preview = check(manifest_csv(rows), study, create=True)
    assert preview.is_valid and preview.new_donor_codes == ["NEW-1"]
    assert not Donor.objects.filter(code="NEW-1").exists()  # the dry run saves nothing

    result = run_import(manifest_csv(rows), study, members["editor"], create=True)

    assert result.created_donors == ["NEW-1"]
    new = Donor.objects.get(study=study, code="NEW-1")
    assert (new.species, new.sex, new.consent_status) == (
        Species.HUMAN,
        Sex.UNKNOWN,
        ConsentStatus.PENDING,
    )
    assert new.conditions == [] and new.notes == "" and new.created_at is not None
    assert Sample.objects.filter(donor=new).count() == 2
    assert Sample.objects.filter(donor=donor).count() == 1


def test_invalid_new_donor_code_is_a_row_error(study, members):
    result = check(manifest_csv([good_row(donor_code="Jane Doe")]), study, create=True)
    assert as_tuples(result) == [(2, "donor_code")]
    assert "not a valid donor code" in result.errors[0].message
    with pytest.raises(ManifestInvalid):
        run_import(
            manifest_csv([good_row(donor_code="Jane Doe")]), study, members["editor"], create=True
        )
    assert not Donor.objects.exists()


# --- All or nothing ---------------------------------------------------------------------


def test_one_bad_row_among_many_saves_nothing_not_even_donors(study, members):
    rows = [good_row(donor_code=f"N-{i}") for i in range(50)] + [good_row(volume="-2")]
    with pytest.raises(ManifestInvalid) as excinfo:
        run_import(manifest_csv(rows), study, members["editor"], create=True)
    assert as_tuples(excinfo.value.result) == [(52, "volume")]
    assert not Sample.objects.exists()
    assert not Donor.objects.exists()


def test_database_failure_during_copy_rolls_everything_back(
    study, donor, members, monkeypatch, make_sample
):
    existing = make_sample()
    real_next = manifest.importing.next_accessions

    def colliding(count: int) -> list[str]:
        drawn = real_next(count)
        return [*drawn[:-1], existing.accession]  # the last row hits the unique index

    monkeypatch.setattr(manifest.importing, "next_accessions", colliding)
    rows = [good_row(donor_code=f"N-{i}") for i in range(20)]
    with pytest.raises(IntegrityError):
        run_import(manifest_csv(rows), study, members["editor"], create=True)
    assert list(Sample.objects.all()) == [existing]
    assert list(Donor.objects.all()) == [donor]


def test_import_needs_the_editor_role(study, donor, members):
    for role in ("viewer", "outsider"):
        with pytest.raises(PermissionDenied):
            run_import(manifest_csv([good_row()]), study, members[role])
    assert not Sample.objects.exists()


# --- Speed guards (query counts, not timings) ---------------------------------------------


def test_validation_uses_one_query_whatever_the_row_count(study, donor, django_assert_num_queries):
    rows = [good_row(donor_code="D-001" if i % 2 else f"X-{i}") for i in range(300)]
    content = manifest_csv(rows)
    with django_assert_num_queries(1):
        result = check(content, study, create=True)
    assert result.is_valid and len(result.new_donor_codes) == 150


def test_import_uses_a_constant_number_of_queries(study, donor, members, django_assert_num_queries):
    content = manifest_csv([good_row(donor_code=f"Q-{i}") for i in range(300)])
    # editor check, donor lookup, donor insert, donor re-lookup, accessions (+ savepoint pair);
    # COPY itself bypasses Django's query log.
    with django_assert_num_queries(7):
        result = run_import(content, study, members["editor"], create=True)
    assert Sample.objects.filter(study=study).count() == result.count == 300


def test_ten_thousand_rows_import_in_one_go(study, donor, members):
    rows = [
        good_row(
            donor_code=f"BULK-{i % 700:04d}",
            collected_at=f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:15:00+00:00",
            volume=f"{1 + i % 9},5",
            notes=f"row {i}",
        )
        for i in range(10_000)
    ]
    result = run_import(manifest_csv(rows, delimiter=";"), study, members["editor"], create=True)
    assert result.count == 10_000 and len(set(result.accessions)) == 10_000
    assert Sample.objects.filter(study=study).count() == 10_000
    assert Donor.objects.filter(study=study).count() == 701
    last = Sample.objects.get(accession=result.accessions[-1])
    assert last.notes == "row 9999" and last.volume_ml == Decimal("1.5")


# --- Templates --------------------------------------------------------------------------


def test_csv_template_has_every_column_and_an_example_row(study, donor):
    text = build_template_csv().decode("utf-8-sig").splitlines()
    assert text[0].split(",") == list(COLUMN_NAMES)
    assert len(text) == 2
    # Uploaded unchanged, only the example row is flagged...
    result = check(build_template_csv(), study, create=True)
    assert as_tuples(result) == [(2, "notes")]
    # ...and once the example note is replaced, the example row is valid.
    fixed = build_template_csv().replace(manifest.EXAMPLE_NOTE.encode(), b"my note")
    assert check(fixed, study, create=True).is_valid


def test_xlsx_template_explains_every_column(study):
    workbook = load_workbook(io.BytesIO(build_template_xlsx()))
    samples_sheet, help_sheet = workbook.worksheets
    header = [cell.value for cell in samples_sheet[1]]
    assert header == list(COLUMN_NAMES)
    assert [cell.value for cell in samples_sheet[2]][:3] == [
        "D-0001",
        "plasma",
        "2025-03-14T09:30:00+01:00",
    ]
    documented = {
        row[0]: row for row in help_sheet.iter_rows(min_row=2, values_only=True) if row[0]
    }
    for name in COLUMN_NAMES:
        assert name in documented, name
    assert "k2_edta (K2-EDTA)" in documented["tube_type"][4]
    assert documented["processing_temp_c"][3] == "°C"
    assert documented["fluid_type"][1] == "yes"
    result = check_manifest(
        content=build_template_xlsx(), file_name="t.xlsx", study=study, create_missing_donors=True
    )
    assert as_tuples(result) == [(2, "notes")]
