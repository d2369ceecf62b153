"""Fixtures for the instrument-file and particle-result pages: stored files and results made
directly (the pages are tested on their own), tubes in two studies."""

from __future__ import annotations

import hashlib
import itertools
import math
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from assays.choices import FileStatus, ParticleMethod
from assays.models import Instrument, InstrumentFile, ParticleMeasurement
from samples import services as tube_services
from samples.models import Aliquot, Donor

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture
def tube(make_sample, members) -> Aliquot:
    sample = make_sample(volume_ml=Decimal("4.0"))
    return tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("1.0")], user=members["editor"]
    )[0]


@pytest.fixture
def other_tube(make_sample, other_study, members) -> Aliquot:
    donor = Donor.objects.create(study=other_study, code="U-001", sex="male", birth_year=1970)
    sample = make_sample(study=other_study, donor=donor, volume_ml=Decimal("2.0"))
    return tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("1.0")], user=members["superuser"]
    )[0]


@pytest.fixture
def make_tubes(make_sample, members):
    def make(count: int) -> list[Aliquot]:
        sample = make_sample(volume_ml=Decimal("4.0"))
        return tube_services.split_into_aliquots(
            source=sample, volumes_ml=[Decimal("0.1")] * count, user=members["editor"]
        )

    return make


@pytest.fixture
def instrument(db) -> Instrument:
    return Instrument.objects.create(name="NS300 lab 2", kind="nta", model="NanoSight NS300")


def store_file(
    *,
    uploader,
    content: bytes | None = None,
    name: str = "",
    aliquot: Aliquot | None = None,
    status: str = FileStatus.PARSED,
    **fields: Any,
) -> InstrumentFile:
    number = next(_counter)
    content = content if content is not None else f"file {number} {timezone.now()}".encode()
    name = name or f"sample {number}-ExperimentSummary.csv"
    instrument_file = InstrumentFile(
        original_name=name,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        aliquot=aliquot,
        study=aliquot.study if aliquot else None,
        uploaded_by=uploader,
        status=status,
        format=fields.pop("format", "nta_nanosight" if status == FileStatus.PARSED else ""),
        **fields,
    )
    instrument_file.file.save(name, ContentFile(content), save=False)
    instrument_file.save()
    return instrument_file


@pytest.fixture
def make_file(members):
    def make(**kwargs: Any) -> InstrumentFile:
        kwargs.setdefault("uploader", members["editor"])
        return store_file(**kwargs)

    return make


def distribution(replicates: int = 3, bins: int = 400) -> dict[str, list]:
    xs = [i + 0.5 for i in range(bins)]
    series = [
        [1e6 * (1 + 0.1 * r) * math.exp(-0.5 * ((x - 100 - 5 * r) / 25) ** 2) for x in xs]
        for r in range(replicates)
    ]
    mean = [sum(values) / replicates for values in zip(*series, strict=True)]
    return {"bin_centres_nm": xs, "mean": mean, "replicates": series}


@pytest.fixture
def make_measurement(make_file):
    def make(aliquot: Aliquot, **fields: Any) -> ParticleMeasurement:
        instrument_file = fields.pop("instrument_file", None) or make_file(aliquot=aliquot)
        values: dict[str, Any] = {
            "method": ParticleMethod.NTA,
            "measured_at": timezone.now(),
            "software_version": "NTA 3.4 Build 3.4.003",
            "concentration_per_ml": 2.34e9,
            "concentration_sd_per_ml": 1.2e8,
            "replicate_cv_pct": 5.1,
            "replicates": 3,
            "mean_nm": 121.4,
            "mode_nm": 98.6,
            "sd_nm": 35.2,
            "d10_nm": 80.1,
            "d50_nm": 110.3,
            "d90_nm": 170.9,
            "settings": {"temperature_c": 25.0, "camera_level": 14, "videos": ["v1", "v2", "v3"]},
            "distribution": distribution(3),
            "instrument_warnings": [],
            "flags": [],
        }
        values.update(fields)
        return ParticleMeasurement.objects.create(
            instrument_file=instrument_file, aliquot=aliquot, study=aliquot.study, **values
        )

    return make
