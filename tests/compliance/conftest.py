"""Database fixtures for the compliance tests that need one (load_facts, rule versions):
published SEC and UC protocols, a run helper and a helper that files one of every kind of
measurement on a tube. The pure tests build facts by hand (factories.py)."""

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
from assays.compliance.catalogue import load_builtin_rules
from assays.models import (
    ComplianceRule,
    DLSMeasurement,
    EVPreparation,
    FlowMeasurement,
    ImagingImage,
    ImagingRecord,
    InstrumentFile,
    Marker,
    MarkerResult,
    ParticleMeasurement,
    ProteinMeasurement,
    QPCRResult,
    QPCRRun,
)
from assays.vocabulary import load_builtin_markers
from samples.models import Aliquot
from tests.isolation.fixtures import (  # noqa: F401 (fixtures)
    box,
    fast_password_hashing,
    input_tube,
    sample,
    started,
    sw41,
)

_serial = count(1)


@pytest.fixture
def builtin_rules(db) -> None:
    """The catalogue and the marker vocabulary, as the data migrations load them. Loaded
    again here (only what is missing) because a transactional test elsewhere in the suite
    may have flushed the tables before this one runs."""
    load_builtin_rules(ComplianceRule)
    load_builtin_markers(Marker)


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


@pytest.fixture
def sec_protocol(librarian):
    draft = services.create_protocol(
        name="SEC qEV",
        steps=[
            {
                "kind": "differential_centrifugation",
                "parameters": {"g_force": 2500, "g_basis": "average", "duration_min": 15},
            },
            {
                "kind": "sec",
                "parameters": {
                    "column": "qEV original 70 nm",
                    "load_volume_ml": 0.5,
                    "fraction_volume_ml": 0.5,
                    "fractions_pooled": [7, 8, 9],
                },
            },
        ],
        user=librarian,
    )
    return services.publish_version(version=draft, user=librarian)


@pytest.fixture
def uc_protocol(librarian, sw41):  # noqa: F811 (the imported fixture)
    draft = services.create_protocol(
        name="dUC 100k",
        steps=[
            {
                "kind": "differential_centrifugation",
                "parameters": {"g_force": 2000, "g_basis": "average", "duration_min": 10},
            },
            {
                "kind": "ultracentrifugation",
                "parameters": {"rpm": 38000, "duration_min": 70, "temperature_c": 4},
                "rotor": sw41.pk,
            },
        ],
        user=librarian,
    )
    return services.publish_version(version=draft, user=librarian)


@pytest.fixture
def run_on(members, started):  # noqa: F811 (the imported fixture)
    """Record a run of ``version`` on ``tube``; returns its preparations, oldest first."""

    def record(
        version, tube: Aliquot, *, outputs: int = 1, volume: str = "0.5", **extra: Any
    ) -> list[EVPreparation]:
        run = services.record_isolation_run(
            version=version,
            inputs=[(tube, Decimal(volume))],
            outputs=[
                {
                    "nomenclature_term": "small_EV",
                    "volume_ml": "0.1",
                    **extra.pop("output", {}),
                }
                for _ in range(outputs)
            ],
            user=members["editor"],
            started_at=started,
            ended_at=started + timedelta(hours=1),
            **extra,
        )
        return list(run.preparations.select_related("aliquot").order_by("id"))

    return record


def _file(tube: Aliquot, user) -> InstrumentFile:
    digest = hashlib.sha256(f"file-{next(_serial)}".encode()).hexdigest()
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
def measure(members, builtin_rules):
    """``measure(tube, "particles", concentration_per_ml=…)`` files one record of a kind."""
    user = members["editor"]

    def make(tube: Aliquot, kind: str, **values: Any):
        common = {"aliquot": tube, "study_id": tube.study_id}
        now = timezone.now()
        if kind == "particles":
            fields = {
                "method": "NTA",
                "concentration_per_ml": 3e10,
                "mode_nm": 110.0,
                "dilution_factor": 100.0,
                "replicate_cv_pct": 8.0,
                "replicates": 5,
                "settings": {"camera_level": 14, "detection_threshold": 5},
                "measured_at": now,
                **values,
            }
            return ParticleMeasurement.objects.create(
                instrument_file=_file(tube, user), **common, **fields
            )
        if kind == "protein":
            fields = {"method": "micro_bca", "concentration_ug_per_ml": 0.5, **values}
            return ProteinMeasurement.objects.create(measured_at=now, **common, **fields)
        if kind == "marker":
            symbol = values.pop("symbol", "CD63")
            fields = {
                "method": "western_blot",
                "detection": "detected",
                "antibody_rrid": "AB_123456",
                "antibody_dilution": "1:1000",
                "lysis_buffer": "RIPA",
                **values,
            }
            return MarkerResult.objects.create(
                marker=Marker.objects.get(symbol=symbol), measured_at=now, **common, **fields
            )
        if kind == "imaging":
            views = values.pop("views", ("wide_field", "close_up"))
            record = ImagingRecord.objects.create(method="tem", measured_at=now, **common, **values)
            for view in views:
                ImagingImage.objects.create(
                    record=record,
                    image=f"imaging/{view}.png",
                    original_name=f"{view}.png",
                    sha256="0" * 64,
                    view=view,
                    scale_bar_nm=200,
                )
            return record
        if kind == "flow":
            fields = {
                "event_count": 20000,
                "file_volume_ul": 40.0,
                "event_concentration_per_ml": 5e8,
                "scatter_unit": "nm",
                "lod_scatter": 80.0,
                "controls": [{"kind": "buffer_only"}, {"kind": "isotype"}, {"kind": "detergent"}],
                **values,
            }
            return FlowMeasurement.objects.create(**common, **fields)
        if kind == "dls":
            fields = {"kind": "size", "z_average_nm": 140.0, "pdi": 0.2, **values}
            return DLSMeasurement.objects.create(**common, **fields)
        if kind == "qpcr":
            run = QPCRRun.objects.create(run_name="miR panel", study=tube.study)
            return QPCRResult.objects.create(
                run=run,
                aliquot=tube,
                study_id=tube.study_id,
                target=values.get("target", "miR-21"),
                cq=values.get("cq", 24.1),
            )
        raise AssertionError(kind)

    return make
