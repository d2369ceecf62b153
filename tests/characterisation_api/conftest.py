"""Fixtures for the characterisation services and API: a private media folder, tubes in the
members' study and in a study they do not belong to, small images and ImageJ tables made
here, and a flow measurement and a qPCR run as the pipeline files them."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from assays.models import FlowMeasurement, Marker, QPCRResult, QPCRRun
from assays.vocabulary import load_builtin_markers
from samples import services as tube_services
from samples.models import Aliquot, Donor

API = "/api/v1"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def marker_vocabulary(db) -> None:
    # A data migration loads it; a transactional test elsewhere may have flushed it.
    load_builtin_markers(Marker)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tubes(make_sample, members) -> list[Aliquot]:
    """Three 1 mL tubes of one plasma sample in the members' study."""
    source = make_sample(volume_ml=Decimal("4.0"))
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")] * 3, user=members["editor"]
    )


@pytest.fixture
def tube(tubes) -> Aliquot:
    return tubes[0]


@pytest.fixture
def foreign_tube(make_sample, members, other_study) -> Aliquot:
    donor = Donor.objects.create(study=other_study, code="D-900")
    source = make_sample(volume_ml=Decimal("4.0"), study=other_study, donor=donor)
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")], user=members["superuser"]
    )[0]


def png_bytes(size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (30, 60, 90))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tiff16_bytes(size: tuple[int, int] = (800, 600)) -> bytes:
    """A 16-bit greyscale TIFF using a narrow band of values, as EM cameras write."""
    width, height = size
    ramp = np.linspace(1000, 5000, width * height).reshape(height, width).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, format="TIFF")
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


IMAGEJ_ONE_BAND = b" ,Label,Area,Mean,IntDen,RawIntDen\n1,blot.tif:CD63,1200,150.5,180600,180600\n"
IMAGEJ_THREE_BANDS = (
    b" \tLabel\tArea\tMean\tIntDen\n"
    b"1\tlane1\t1000\t100\t100000\n"
    b"2\tlane2\t1000\t120\t120000\n"
    b"3\tlane3\t1000\t80\t80000\n"
)


@pytest.fixture
def flow_measurement(tube, members) -> FlowMeasurement:
    """As the FCS filer stores it: parsed fields, no reporting fields yet."""
    measurement = FlowMeasurement(
        aliquot=tube,
        study_id=tube.study_id,
        fcs_version="3.1",
        sample_name=tube.accession,
        cytometer="CytoFLEX",
        event_count=20000,
        file_volume_ul=40.0,
        channels=[{"name": "FSC-H"}, {"name": "SSC-H"}],
        keywords={"$CYT": "CytoFLEX", "$VOL": "40"},
        created_by=members["editor"],
    )
    measurement.event_concentration_per_ml = measurement.compute_concentration()
    measurement.save()
    return measurement


@pytest.fixture
def qpcr_run(members, tubes) -> QPCRRun:
    """A run as a file gives it: sample names without accessions, so nothing is on a tube."""
    run = QPCRRun.objects.create(run_name="miR panel", created_by=members["editor"])
    rows = [
        ("A1", "Plasma A", "miR-21", 24.1, "unknown"),
        ("A2", "Plasma A", "miR-21", 24.3, "unknown"),
        ("B1", "Plasma B", "miR-21", 26.0, "unknown"),
        ("C1", "NTC", "miR-21", None, "ntc"),
    ]
    QPCRResult.objects.bulk_create(
        QPCRResult(
            run=run,
            well=well,
            sample_name=name,
            target=target,
            cq=cq,
            undetermined=cq is None,
            task=task,
        )
        for well, name, target, cq, task in rows
    )
    return run
