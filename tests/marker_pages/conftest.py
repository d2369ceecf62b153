"""Fixtures for the marker and imaging pages: a private media folder, tubes in the members'
study and in a study they do not belong to, and small images and ImageJ tables made here."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from assays import characterisation_services as services
from assays.models import ImagingRecord, Marker, MarkerResult
from assays.vocabulary import load_builtin_markers
from samples import services as tube_services
from samples.models import Aliquot, Donor

IMAGEJ_ONE_BAND = b" ,Label,Area,Mean,IntDen,RawIntDen\n1,blot.tif:CD63,1200,150.5,180600,180600\n"
IMAGEJ_TWO_BANDS = (
    b" \tLabel\tArea\tMean\tIntDen\n1\tlane1\t1000\t100\t100000\n2\tlane2\t1000\t120\t120000\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def builtin_markers(db) -> None:
    """The vocabulary a data migration loads; a transactional test elsewhere (the browser
    tests) empties the table for the tests after it."""
    load_builtin_markers(Marker)


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def tubes(make_sample, members) -> list[Aliquot]:
    source = make_sample(volume_ml=Decimal("4.0"))
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")] * 2, user=members["editor"]
    )


@pytest.fixture
def tube(tubes) -> Aliquot:
    return tubes[0]


@pytest.fixture
def other_tube(make_sample, members, other_study) -> Aliquot:
    donor = Donor.objects.create(study=other_study, code="U-001")
    source = make_sample(volume_ml=Decimal("2.0"), study=other_study, donor=donor)
    return tube_services.split_into_aliquots(
        source=source, volumes_ml=[Decimal("1.0")], user=members["superuser"]
    )[0]


def png_bytes(size: tuple[int, int] = (64, 48), colour=(30, 60, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def tiff16_bytes(size: tuple[int, int] = (400, 300)) -> bytes:
    """A 16-bit greyscale TIFF using a narrow band of values, as EM cameras write."""
    width, height = size
    ramp = np.linspace(1000, 5000, width * height).reshape(height, width).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, format="TIFF")
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def make_result(members):
    """A marker result recorded through the service, as the pages would."""

    def make(aliquot: Aliquot, marker: str = "CD63", **data: Any) -> MarkerResult:
        files = {key: data.pop(key) for key in ("blot_image", "densitometry_file") if key in data}
        values = {"method": "western_blot", "detection": "detected", **data, "marker": marker}
        return services.record_marker_result(
            user=members["superuser"], aliquot=aliquot, data=values, **files
        )

    return make


@pytest.fixture
def make_imaging(members):
    def make(aliquot: Aliquot, images=None, **data: Any) -> ImagingRecord:
        if images is None:
            images = [
                (upload("wide.png", png_bytes()), {"view": "wide_field", "scale_bar_nm": 500})
            ]
        return services.record_imaging(
            user=members["superuser"],
            aliquot=aliquot,
            data={"method": "tem", **data},
            images=images,
        )

    return make
