"""Reporting fixtures: a dUC protocol with a rotor, runs on plasma tubes, and the records a
characterised preparation has (NTA, BCA plate, western blots, TEM, flow), made directly as
the pipeline and the services leave them."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from assays import services
from assays.choices import FileStatus, ParticleMethod, RotorType
from assays.models import (
    EVPreparation,
    FlowMeasurement,
    ImagingImage,
    ImagingRecord,
    Instrument,
    InstrumentFile,
    Marker,
    MarkerResult,
    ParticleMeasurement,
    ProteinAssay,
    ProteinMeasurement,
    Rotor,
)
from samples import services as tube_services
from samples.choices import Role
from samples.models import Aliquot, Donor, StudyMembership
from tests.isolation.fixtures import fast_password_hashing  # noqa: F401 (fixture)

_numbers = itertools.count(1)
RRID = "AB_396297"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def started():
    return timezone.now() - timedelta(hours=3)


@pytest.fixture
def type70(db) -> Rotor:
    return Rotor.objects.create(
        name="Type 70 Ti",
        manufacturer="Beckman Coulter",
        rotor_type=RotorType.FIXED_ANGLE,
        r_min_mm=39.5,
        r_max_mm=91.9,
        max_rpm=70000,
        k_factor=44,
    )


@pytest.fixture
def librarian(members):
    user = members["editor"]
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="assays",
            codename__in=["add_isolationprotocol", "change_isolationprotocol"],
        )
    )
    return type(user).objects.get(pk=user.pk)


def uc_steps(rotor) -> list[dict[str, Any]]:
    return [
        {
            "kind": "differential_centrifugation",
            "title": "Cells and debris",
            "parameters": {
                "g_force": 2000,
                "g_basis": "average",
                "duration_min": 10,
                "temperature_c": 4,
            },
        },
        {
            "kind": "ultracentrifugation",
            "title": "Pellet EVs",
            "parameters": {
                "g_force": 100000,
                "g_basis": "average",
                "duration_min": 70,
                "temperature_c": 4,
                "brake": True,
                "resuspension_buffer": "PBS",
                "resuspension_volume_ml": {"value": 100, "unit": "µL"},
            },
            "rotor": rotor.pk,
        },
    ]


@pytest.fixture
def protocol(librarian, type70):
    version = services.create_protocol(name="dUC 100k", steps=uc_steps(type70), user=librarian)
    return services.publish_version(version=version, user=librarian)


@pytest.fixture
def sec_protocol(librarian):
    steps = [
        {
            "kind": "sec",
            "parameters": {
                "column": "qEV original 70 nm",
                "load_volume_ml": 0.5,
                "void_volume_ml": 3,
                "fraction_volume_ml": 0.5,
                "fractions_pooled": [7, 8, 9],
                "eluent": "PBS",
            },
        }
    ]
    version = services.create_protocol(name="SEC qEV", steps=steps, user=librarian)
    return services.publish_version(version=version, user=librarian)


@pytest.fixture
def tubes(make_sample, members) -> list[Aliquot]:
    sample = make_sample(volume_ml=Decimal("20.0"))
    return tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("2.0")] * 8, user=members["editor"]
    )


@pytest.fixture
def run_on(protocol, members, started):
    """``run_on(tube, volume_ml, **overrides)`` → the run's single preparation."""

    def record(tube: Aliquot, volume_ml: str = "1.0", **overrides: Any) -> EVPreparation:
        values: dict[str, Any] = {
            "version": protocol,
            "inputs": [(tube, Decimal(volume_ml))],
            "outputs": [
                {"nomenclature_term": "small_EV", "author_term": "exosomes", "volume_ml": "0.1"}
            ],
            "user": members["editor"],
            "started_at": started,
        }
        values.update(overrides)
        run = services.record_isolation_run(**values)
        return run.preparations.select_related("aliquot").get()

    return record


@pytest.fixture
def foreign_preparation(other_study, make_sample, make_user, protocol, started) -> EVPreparation:
    """A preparation of a study none of ``members`` belongs to."""
    owner = make_user("olga_other")
    StudyMembership.objects.create(study=other_study, user=owner, role=Role.EDITOR)
    donor = Donor.objects.create(study=other_study, code="D-900", sex="male", birth_year=1970)
    sample = make_sample(study=other_study, donor=donor, volume_ml=Decimal("5.0"))
    tube = tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("2.0")], user=owner
    )[0]
    run = services.record_isolation_run(
        version=protocol,
        inputs=[(tube, Decimal("1.0"))],
        outputs=[{"nomenclature_term": "EV", "volume_ml": "0.1"}],
        user=owner,
        started_at=started,
    )
    return run.preparations.get()


# --- Characterisation records ---------------------------------------------------------------


@pytest.fixture
def nta(db) -> Instrument:
    return Instrument.objects.create(name="NTA-1", kind="nta", model="NanoSight NS300")


def measure_particles(
    tube: Aliquot,
    *,
    uploader,
    concentration: float = 3e10,
    mode: float | None = 110.0,
    instrument: Instrument | None = None,
    camera_level: int = 14,
) -> ParticleMeasurement:
    number = next(_numbers)
    instrument_file = InstrumentFile.objects.create(
        file=f"instrument-files/test/r{number}.csv",
        original_name=f"{number}-ExperimentSummary.csv",
        size_bytes=10,
        sha256=f"{number:064x}",
        format="nta_nanosight",
        aliquot=tube,
        study=tube.study,
        instrument=instrument,
        uploaded_by=uploader,
        status=FileStatus.PARSED,
    )
    return ParticleMeasurement.objects.create(
        instrument_file=instrument_file,
        aliquot=tube,
        study=tube.study,
        method=ParticleMethod.NTA,
        measured_at=timezone.now() - timedelta(hours=1),
        software_version="NTA 3.4.4",
        concentration_per_ml=concentration,
        mode_nm=mode,
        dilution_factor=100,
        replicates=5,
        settings={"camera_level": camera_level, "detection_threshold": 5},
    )


def measure_protein(tube: Aliquot, *, ug_per_ml: float, curve_model: str = "4pl"):
    assay = ProteinAssay.objects.create(
        name=f"BCA plate {next(_numbers)}",
        method="bca",
        study=tube.study,
        curve_model=curve_model,
        status="computed",
    )
    return ProteinMeasurement.objects.create(
        aliquot=tube,
        study=tube.study,
        assay=assay,
        method="bca",
        concentration_ug_per_ml=ug_per_ml,
        measured_at=timezone.now(),
    )


def blot(tube: Aliquot, symbol: str, detection: str = "detected", **fields: Any) -> MarkerResult:
    values: dict[str, Any] = {
        "method": "western_blot",
        "antibody_clone": "H5C6",
        "antibody_vendor": "BD Biosciences",
        "antibody_catalogue": "556019",
        "antibody_rrid": RRID,
        "antibody_dilution": "1:1000",
        "lysis_buffer": "RIPA + protease inhibitors",
        "loading_amount": 10,
        "loading_unit": "ug_protein",
        "reducing": False,
        "measured_at": timezone.now(),
    }
    values.update(fields)
    return MarkerResult.objects.create(
        aliquot=tube,
        study=tube.study,
        marker=Marker.objects.get(symbol=symbol),
        detection=detection,
        **values,
    )


def image(tube: Aliquot) -> ImagingRecord:
    record = ImagingRecord.objects.create(
        aliquot=tube,
        study=tube.study,
        method="tem",
        stain="2% uranyl acetate",
        grid="Formvar/carbon Cu 300",
        n_vesicles_measured=120,
        measured_at=timezone.now(),
    )
    for view, magnification in (("wide_field", "30,000×"), ("close_up", "100,000×")):
        ImagingImage.objects.create(
            record=record,
            image=f"imaging/test/{next(_numbers)}.png",
            original_name=f"{view}.png",
            sha256="0" * 64,
            view=view,
            magnification=magnification,
            scale_bar_nm=200,
        )
    return record


def flow(tube: Aliquot) -> FlowMeasurement:
    return FlowMeasurement.objects.create(
        aliquot=tube,
        study=tube.study,
        cytometer="CytoFLEX S",
        trigger="VSSC-H",
        software_version="CytExpert 2.4",
        calibration_beads="Rosetta Calibration",
        refractive_index_assumed=1.4,
        scatter_unit="nm",
        fluorescence_unit="MESF",
        lod_scatter=80,
        lod_fluorescence=25,
        controls=[{"kind": "buffer_only"}, {"kind": "detergent"}, {"kind": "isotype"}],
        measured_at=timezone.now(),
    )


@pytest.fixture
def characterise(members, nta):
    """Every kind of record on a preparation tube: NTA, BCA, three blots, TEM, flow."""

    def make(preparation: EVPreparation, *, concentration: float = 3e10, ug_per_ml: float = 10.0):
        tube = preparation.aliquot
        measure_particles(
            tube, uploader=members["editor"], concentration=concentration, instrument=nta
        )
        measure_protein(tube, ug_per_ml=ug_per_ml)
        blot(tube, "CD63")
        blot(tube, "TSG101", antibody_clone="4A10", antibody_rrid="AB_2208088")
        blot(tube, "APOA1", "not_detected", antibody_clone="", antibody_rrid="AB_2056468")
        image(tube)
        flow(tube)
        return preparation

    return make
