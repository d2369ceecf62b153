"""Fixtures shared by the compliance pages (tests/compliance_pages) and API
(tests/compliance_api): a small rule set of our own instead of the built-in catalogue, so
every score below can be worked out by hand, and preparations with known measurements.

The rule set (profiles in brackets):

    T-01 particle number   error    particles  [MISEV2018, EV-METRIC]
    T-02 protein           error    protein    [MISEV2018]
    T-03 1a marker         error    marker     [MISEV2018, EV-METRIC]
    T-04 EM images         warning  imaging    [MISEV2018, EV-METRIC]
    T-05 urine creatinine  error    sample     [MISEV2018], urine only (n/a for plasma)
    T-06 particle number   error    particles  [MISEV2023]

``seeded`` has a particle count (1e11/mL) and protein (10 µg/mL): T-01, T-02 pass, T-03
fails (error), T-04 fails (warning), T-05 is n/a: MISEV2018 2/4 = 50 %, EV-METRIC 1/3,
purity 1e10 particles/µg ("low purity"), recovery 1e11 × 0.1 mL / 1.0 mL = 1e10 per mL.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from assays import services
from assays.models import (
    ComplianceRule,
    EVPreparation,
    ImagingImage,
    ImagingRecord,
    InstrumentFile,
    Marker,
    MarkerResult,
    ParticleMeasurement,
    ProteinMeasurement,
)
from samples import services as tube_services
from samples.models import Aliquot

_serial = count(1)

RULES: list[dict[str, Any]] = [
    {
        "code": "T-01",
        "title": "Particle number measured",
        "severity": "error",
        "check_name": "quantification_methods",
        "params": {"min": 1, "methods": ["particles"]},
        "profiles": ["MISEV2018", "EV-METRIC"],
        "fix_kind": "particles",
        "fix_hint": "Upload an NTA or TRPS file of the preparation.",
        "explanation": "Particle number is one of the global quantifications.",
        "source": "MISEV2018 §3",
    },
    {
        "code": "T-02",
        "title": "Protein measured",
        "severity": "error",
        "check_name": "quantification_methods",
        "params": {"min": 1, "methods": ["protein"]},
        "profiles": ["MISEV2018"],
        "fix_kind": "protein",
        "fix_hint": "Add a protein result (BCA, micro-BCA).",
        "explanation": "Protein amount is needed for the particle:protein ratio.",
        "source": "MISEV2018 §3",
    },
    {
        "code": "T-03",
        "title": "Transmembrane marker detected",
        "severity": "error",
        "check_name": "marker_detected",
        "params": {"categories": ["1a"], "min": 1},
        "profiles": ["MISEV2018", "EV-METRIC"],
        "fix_kind": "marker",
        "fix_hint": "Add a western blot of CD63, CD81 or CD9.",
        "explanation": "A category 1a protein shows the particles have a lipid bilayer.",
        "source": "MISEV2018 Table 3",
    },
    {
        "code": "T-04",
        "title": "Electron microscopy images",
        "severity": "warning",
        "check_name": "images",
        "params": {},
        "profiles": ["MISEV2018", "EV-METRIC"],
        "fix_kind": "imaging",
        "fix_hint": "Add a wide-field and a close-up image.",
        "explanation": "Single vesicles should be shown.",
        "source": "MISEV2018 §4",
    },
    {
        "code": "T-05",
        "title": "Urine creatinine recorded",
        "severity": "error",
        "check_name": "field_present",
        "params": {"paths": ["sample.creatinine_mmol_l"]},
        "applies_when": {"fluid_types": ["urine"]},
        "profiles": ["MISEV2018"],
        "fix_kind": "sample",
        "fix_hint": "Record the urine creatinine.",
        "explanation": "Urine EV amounts are normalised to creatinine.",
        "source": "Urine task force",
    },
    {
        "code": "T-06",
        "title": "Particle number (2023)",
        "severity": "error",
        "check_name": "quantification_methods",
        "params": {"min": 1, "methods": ["particles"]},
        "profiles": ["MISEV2023"],
        "fix_kind": "particles",
        "explanation": "As T-01, in MISEV2023.",
    },
]


@pytest.fixture
def librarian(members):
    """The study editor, also allowed to change the protocol library."""
    user = members["editor"]
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="assays",
            codename__in=["add_isolationprotocol", "change_isolationprotocol"],
        )
    )
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def staff(make_user):
    """Staff change rules; they belong to no study."""
    return make_user("stella_staff", is_staff=True)


@pytest.fixture
def rules(db) -> dict[str, ComplianceRule]:
    """Only our rules: the built-in catalogue's are removed (inside the test's transaction)."""
    ComplianceRule.objects.all().delete()
    made = {}
    for values in RULES:
        rule = ComplianceRule(**values)
        rule.full_clean()
        rule.save()
        made[rule.code] = rule
    return made


def _file(tube: Aliquot, user) -> InstrumentFile:
    digest = hashlib.sha256(f"compliance-pages-{next(_serial)}".encode()).hexdigest()
    return InstrumentFile.objects.create(
        file=f"instrument-files/{digest[:8]}.txt",
        original_name=f"{digest[:8]}.txt",
        size_bytes=1,
        sha256=digest,
        uploaded_by=user,
        aliquot=tube,
        study=tube.study,
        status="parsed",
    )


@pytest.fixture
def measure(members):
    """``measure(tube, "particles" | "protein" | "marker" | "imaging", **fields)``."""
    user = members["editor"]

    def make(tube: Aliquot, kind: str, **values: Any):
        common = {"aliquot": tube, "study_id": tube.study_id, "measured_at": timezone.now()}
        if kind == "particles":
            fields = {"method": "NTA", "concentration_per_ml": 1e11, "mode_nm": 110.0, **values}
            return ParticleMeasurement.objects.create(
                instrument_file=_file(tube, user), **common, **fields
            )
        if kind == "protein":
            fields = {"method": "micro_bca", "concentration_ug_per_ml": 10.0, **values}
            return ProteinMeasurement.objects.create(**common, **fields)
        if kind == "marker":
            marker = Marker.objects.get(symbol=values.pop("symbol", "CD63"))
            fields = {"method": "western_blot", "detection": "detected", **values}
            return MarkerResult.objects.create(marker=marker, **common, **fields)
        if kind == "imaging":
            record = ImagingRecord.objects.create(method="tem", **common, **values)
            for view in ("wide_field", "close_up"):
                ImagingImage.objects.create(
                    record=record,
                    image=f"imaging/{view}.png",
                    original_name=f"{view}.png",
                    sha256="0" * 64,
                    view=view,
                    scale_bar_nm=200,
                )
            return record
        raise AssertionError(kind)

    return make


@pytest.fixture
def record_run(members, started, sample):
    """``record_run(version, outputs=n)``: a run on a fresh 1 mL tube of ``sample`` (1 mL
    used, each output 0.1 mL); returns its preparations, oldest first."""

    def record(version, *, outputs: int = 1, started_at=None) -> list[EVPreparation]:
        tube = tube_services.split_into_aliquots(
            source=sample, volumes_ml=[Decimal("1.0")], user=members["editor"]
        )[0]
        when = started_at or started
        run = services.record_isolation_run(
            version=version,
            inputs=[(tube, Decimal("1.0"))],
            outputs=[
                {"nomenclature_term": "small_EV", "author_term": "exosomes", "volume_ml": "0.1"}
                for _ in range(outputs)
            ],
            user=members["editor"],
            started_at=when,
            ended_at=when + timedelta(hours=2),
        )
        return list(run.preparations.select_related("aliquot", "run").order_by("id"))

    return record


@pytest.fixture
def sec(librarian):
    draft = services.create_protocol(
        name="SEC qEV",
        steps=[
            {
                "kind": "sec",
                "parameters": {
                    "column": "qEV original 70 nm",
                    "load_volume_ml": 0.5,
                    "fraction_volume_ml": 0.5,
                    "fractions_pooled": [7, 8, 9],
                },
            }
        ],
        user=librarian,
    )
    return services.publish_version(version=draft, user=librarian)


@pytest.fixture
def seeded(rules, published, record_run, measure) -> EVPreparation:
    """dUC preparation with particles and protein: 50 % MISEV2018, EV-METRIC 1/3."""
    (preparation,) = record_run(published)
    measure(preparation.aliquot, "particles")
    measure(preparation.aliquot, "protein")
    return preparation


@pytest.fixture
def complete(rules, published, record_run, measure) -> EVPreparation:
    """dUC preparation with every record: 100 %, purity 2e10 (low purity)."""
    (preparation,) = record_run(published, started_at=timezone.now() - timedelta(days=2))
    measure(preparation.aliquot, "particles", concentration_per_ml=4e11)
    measure(preparation.aliquot, "protein", concentration_ug_per_ml=20.0)
    measure(preparation.aliquot, "marker")
    measure(preparation.aliquot, "imaging")
    return preparation


@pytest.fixture
def bare(rules, sec, record_run) -> EVPreparation:
    """SEC preparation with nothing measured: 0 %, no purity."""
    (preparation,) = record_run(sec, started_at=timezone.now() - timedelta(days=1))
    return preparation
