"""Fixtures for the characterisation pages: tubes in the members' study and in a study none
of them belongs to, and records made directly as the pipeline or the services leave them
(the pages are tested on their own)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from assays.choices import DLSKind, QPCRTask
from assays.models import DLSMeasurement, FlowMeasurement, ProteinAssay, QPCRResult, QPCRRun
from samples import services as tube_services
from samples.choices import Role
from samples.models import Aliquot, Donor, StudyMembership

STANDARDS = (0, 125, 250, 500, 750, 1000, 1500, 2000)  # µg/mL down rows A–H
BLANK = 0.05
SLOPE = 0.001  # absorbance per µg/mL


def absorbance(ug_per_ml: float) -> float:
    return round(BLANK + SLOPE * ug_per_ml, 6)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture
def tubes(make_sample, members) -> list[Aliquot]:
    source = make_sample(volume_ml=Decimal("4.0"))
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("0.5")] * 4, user=members["editor"]
    )


@pytest.fixture
def tube(tubes) -> Aliquot:
    return tubes[0]


@pytest.fixture
def foreign_editor(make_user, other_study):
    user = make_user("olga_other")
    StudyMembership.objects.create(study=other_study, user=user, role=Role.EDITOR)
    return user


@pytest.fixture
def foreign_tube(other_study, make_sample, foreign_editor) -> Aliquot:
    """A tube of a study none of ``members`` belongs to."""
    donor = Donor.objects.create(study=other_study, code="D-900", sex="male", birth_year=1970)
    source = make_sample(study=other_study, donor=donor, volume_ml=Decimal("2.0"))
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")], user=foreign_editor
    )[0]


def plate_values(samples: dict[str, float] | None = None) -> dict[str, float | None]:
    """A BCA plate read: standards in columns 1–2 (A–H), blanks in A3/B3, and each sample
    well's µg/mL (in the well) at the given wells."""
    values: dict[str, float | None] = {}
    for row, level in zip("ABCDEFGH", STANDARDS, strict=True):
        for column in (1, 2):
            values[f"{row}{column}"] = absorbance(level)
    values["A3"] = values["B3"] = BLANK
    for well, ug in (samples or {}).items():
        values[well] = absorbance(ug)
    return values


def standards_map() -> dict[str, dict]:
    plate_map: dict[str, dict] = {}
    for row, level in zip("ABCDEFGH", STANDARDS, strict=True):
        for column in (1, 2):
            plate_map[f"{row}{column}"] = {"role": "standard", "concentration": level}
    plate_map["A3"] = plate_map["B3"] = {"role": "blank"}
    return plate_map


@pytest.fixture
def make_plate(members):
    def make(*, samples: dict[str, float] | None = None, **fields: Any) -> ProteinAssay:
        fields.setdefault("created_by", members["editor"])
        return ProteinAssay.objects.create(
            name=fields.pop("name", "BCA test plate"),
            method="bca",
            reads=[
                {"plate_name": "Plate 1", "wavelength_nm": 562.0, "values": plate_values(samples)}
            ],
            measured_at=timezone.now(),
            **fields,
        )

    return make


@pytest.fixture
def make_flow(members):
    def make(aliquot: Aliquot, **fields: Any) -> FlowMeasurement:
        values: dict[str, Any] = {
            "fcs_version": "3.1",
            "sample_name": aliquot.accession,
            "cytometer": "CytoFLEX S",
            "cytometer_serial": "BA-1234",
            "software_version": "CytExpert 2.4",
            "event_count": 20000,
            "file_volume_ul": 40.0,
            "trigger": "VSSC-H",
            "measured_at": timezone.now(),
            "channels": [
                {
                    "index": 1,
                    "name": "FSC-H",
                    "label": "Forward scatter",
                    "range": 1048576.0,
                    "amplification": "0,0",
                    "minimum": 10.0,
                    "maximum": 9000.0,
                    "mean": 812.5,
                    "median": 640.0,
                    "p1": 20.0,
                    "p99": 5000.0,
                    "detector_voltage": 300.0,
                },
                {"index": 2, "name": "FITC-A", "label": "CD63-FITC", "median": 120.0},
            ],
            "keywords": {"$CYT": "CytoFLEX S", "$VOL": "40", "$P1N": "FSC-H", "GAIN": "2"},
            "created_by": members["editor"],
        }
        values.update(fields)
        m = FlowMeasurement(aliquot=aliquot, study_id=aliquot.study_id, **values)
        m.event_concentration_per_ml = m.compute_concentration()
        m.save()
        return m

    return make


def size_distribution() -> dict[str, list[float]]:
    sizes = [round(0.4 * 1.2**i, 4) for i in range(70)]  # 0.4 nm … ~130 µm, log-spaced
    peak = [max(0.0, 20 - abs(i - 38) * 3) for i in range(70)]
    return {
        "sizes_nm": sizes,
        "intensity_pct": peak,
        "number_pct": [max(0.0, 25 - abs(i - 35) * 4) for i in range(70)],
        "volume_pct": [max(0.0, 22 - abs(i - 36) * 3.5) for i in range(70)],
    }


@pytest.fixture
def make_dls(members):
    def make(aliquot: Aliquot, **fields: Any) -> DLSMeasurement:
        values: dict[str, Any] = {
            "kind": DLSKind.SIZE,
            "record_number": 1,
            "sample_name": aliquot.accession,
            "measured_at": timezone.now(),
            "temperature_c": 25.0,
            "dispersant": "PBS",
            "z_average_nm": 142.3,
            "pdi": 0.213,
            "peaks": [{"mean_nm": 160.2, "area_pct": 98.1, "width": 55.0}],
            "distribution": size_distribution(),
            "created_by": members["editor"],
        }
        values.update(fields)
        return DLSMeasurement.objects.create(aliquot=aliquot, study_id=aliquot.study_id, **values)

    return make


@pytest.fixture
def make_run(members):
    def make(rows: list[tuple], **fields: Any) -> QPCRRun:
        """rows: (well, sample name, target, Cq or None, task, tube or None)."""
        fields.setdefault("created_by", members["editor"])
        fields.setdefault("run_name", "miR panel 1")
        run = QPCRRun.objects.create(**fields)
        QPCRResult.objects.bulk_create(
            QPCRResult(
                run=run,
                well=well,
                sample_name=name,
                target=target,
                cq=cq,
                undetermined=cq is None,
                task=task,
                aliquot=tube,
                study_id=tube.study_id if tube else None,
            )
            for well, name, target, cq, task, tube in rows
        )
        studies = {tube.study_id for *_, tube in rows if tube}
        if len(studies) == 1:
            run.study_id = studies.pop()
            run.save(update_fields=["study"])
        return run

    return make


UNKNOWN = QPCRTask.UNKNOWN
