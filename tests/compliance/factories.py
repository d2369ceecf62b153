"""Hand-built facts for the pure engine tests: one complete plasma SEC preparation that
fulfils every built-in rule it is subject to, and small helpers that take one piece away or
add one. No database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from assays.compliance.facts import (
    DLSFact,
    FlowFact,
    ImagingFact,
    MarkerFact,
    ParticleFact,
    PreparationFacts,
    PreparationInfo,
    ProteinFact,
    RunInfo,
    SampleInfo,
    StepFact,
    StorageInfo,
)

PREP_TUBE = 10
WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

PLASMA_FIELDS: dict[str, Any] = {
    "collected_at": WHEN,
    "volume_ml": 4.0,
    "tube_type": "k2_edta",
    "fasting_state": "fasting",
    "fasting_hours": 10.0,
    "time_to_processing_min": 45,
    "processing_temp_c": 21.0,
    "centrifugation_steps": [
        {"g": 2500.0, "minutes": 15.0, "temp_c": 20.0, "brake": False},
        {"g": 2500.0, "minutes": 15.0, "temp_c": 20.0, "brake": False},
    ],
    "post_centrifugation_delay_min": 30,
    "post_centrifugation_temp_c": 20.0,
    "haemolysis_a414": 0.05,
    "free_haemoglobin_g_l": 0.05,
    "residual_platelets_per_ml": 5e5,
    "urine_void_type": "",
    "creatinine_mmol_l": None,
    "cell_line": "",
    "passage_number": None,
    "culture_serum": "",
    "serum_ev_depletion": "",
    "conditioning_hours": None,
    "viability_at_harvest_pct": None,
    "storage_temp_c": -80.0,
    "storage_container": "cryotube",
}


def step(order: int, kind: str, **params: Any) -> StepFact:
    return StepFact(order=order, kind=kind, params=params)


SPIN = step(1, "differential_centrifugation", g_force=2500, g_basis="average", duration_min=15)
SEC = step(
    2,
    "sec",
    column="qEV original 70 nm",
    load_volume_ml=0.5,
    fraction_volume_ml=0.5,
    fractions_pooled=[7, 8, 9],
)


def uc(order: int = 2, **params: Any) -> StepFact:
    values = {
        "g_force": 100000.0,
        "g_basis": "average",
        "duration_min": 70,
        "temperature_c": 4,
        "rotor": "SW 41 Ti",
        "rotor_type": "swinging_bucket",
        "k_factor": 144.0,
    }
    values.update(params)
    return StepFact(
        order=order,
        kind="ultracentrifugation",
        params={k: v for k, v in values.items() if v is not None},
    )


def gradient(order: int = 3, **params: Any) -> StepFact:
    values = {
        "medium": "iodixanol",
        "loading": "bottom",
        "range_from_percent": 5,
        "range_to_percent": 40,
        "g_force": 100000.0,
        "g_basis": "average",
        "duration_min": 1080,
        "fractions_pooled": [8, 9],
        "pooled_densities_g_ml": [1.10, 1.12],
    }
    values.update(params)
    return StepFact(
        order=order,
        kind="density_gradient",
        params={k: v for k, v in values.items() if v is not None},
    )


_marker_ids = iter(range(1000, 100000))


def marker(
    symbol: str,
    category: str,
    detection: str = "detected",
    method: str = "western_blot",
    **extra: Any,
) -> MarkerFact:
    values: dict[str, Any] = {
        "antibody_rrid": "AB_123456",
        "antibody_clone": "H5C6",
        "antibody_catalogue": "556019",
        "antibody_dilution": "1:1000",
        "lysis_buffer": "RIPA + protease inhibitors",
    }
    values.update(extra)
    return MarkerFact(
        id=next(_marker_ids),
        aliquot_id=PREP_TUBE + 2,
        symbol=symbol,
        category=category,
        detection=detection,
        method=method,
        label=f"{symbol} {detection}",
        **values,
    )


GOOD_MARKERS = (
    marker("CD63", "1a"),
    marker("TSG101", "2a"),
    marker("CANX", "4", "not_detected"),
    marker("APOA1", "3"),
    marker("APOB", "3", "not_detected"),
)

NTA = ParticleFact(
    id=1,
    aliquot_id=PREP_TUBE,
    method="NTA",
    concentration_per_ml=3e10,
    mode_nm=110.0,
    mean_nm=125.0,
    d50_nm=118.0,
    dilution_factor=100.0,
    replicate_cv_pct=8.0,
    replicates=5,
    settings={"camera_level": 14, "detection_threshold": 5},
    measured_at=WHEN,
    label="NTA of EXO-000010",
)
BCA = ProteinFact(
    id=2,
    aliquot_id=PREP_TUBE,
    method="micro_bca",
    concentration_ug_per_ml=0.5,
    total_ug=0.05,
    volume_ml=0.1,
    measured_at=WHEN,
    label="Protein of EXO-000010",
)
TEM = ImagingFact(
    id=3,
    aliquot_id=PREP_TUBE,
    method="tem",
    views=frozenset({"wide_field", "close_up"}),
    image_count=2,
    label="TEM of EXO-000010",
)
FLOW = FlowFact(
    id=4,
    aliquot_id=PREP_TUBE,
    event_concentration_per_ml=1e9,
    calibration_beads="Rosetta",
    refractive_index_assumed=1.4,
    scatter_unit="nm",
    fluorescence_unit="MESF",
    lod_scatter=80.0,
    lod_fluorescence=30.0,
    control_kinds=frozenset({"buffer_only", "isotype", "detergent"}),
    label="Flow of EXO-000010",
)
DLS = DLSFact(id=5, aliquot_id=PREP_TUBE, measurement="size", z_average_nm=140.0, pdi=0.2)


def good(**changes: Any) -> PreparationFacts:
    """A small-EV preparation of K2-EDTA plasma by SEC that fulfils every rule in scope."""
    facts = PreparationFacts(
        preparation=PreparationInfo(
            id=1,
            aliquot_id=PREP_TUBE,
            accession="EXO-000010",
            nomenclature_term="small_EV",
            author_term="EVs",
            fraction="SEC 7–9",
            resuspension_volume_ml=0.1,
            tube_freeze_thaw_count=0,
            study_id=1,
            study_code="PLASMA-01",
            compliance_profile="MISEV2018",
        ),
        run=RunInfo(
            id=5,
            protocol_name="SEC qEV",
            version_label="v1",
            version_id=7,
            steps=(SPIN, SEC),
            started_at=WHEN,
            input_volume_ml=0.5,
            input_aliquot_id=PREP_TUBE - 1,
            input_accession="EXO-000009",
            input_freeze_thaw_count=0,
        ),
        sample=SampleInfo(
            id=3,
            accession="EXO-000003",
            fluid_type="plasma",
            sprec_code="PL2-PED-A-D-D-B-D",
            fields=dict(PLASMA_FIELDS),
        ),
        storage=StorageInfo(box_id=1, box_name="EV box", temperature_c=-80.0),
        particles=(NTA,),
        protein=(BCA,),
        markers=GOOD_MARKERS,
        imaging=(TEM,),
    )
    return replace(facts, **changes)


def with_prep(facts: PreparationFacts, **changes: Any) -> PreparationFacts:
    return replace(facts, preparation=replace(facts.preparation, **changes))


def with_run(facts: PreparationFacts, **changes: Any) -> PreparationFacts:
    return replace(facts, run=replace(facts.run, **changes))


def with_steps(facts: PreparationFacts, *steps: StepFact) -> PreparationFacts:
    return with_run(facts, steps=tuple(steps))


def with_sample(
    facts: PreparationFacts, fluid_type: str | None = None, **fields: Any
) -> PreparationFacts:
    sample = facts.sample
    return replace(
        facts,
        sample=replace(
            sample,
            fluid_type=fluid_type or sample.fluid_type,
            fields={**sample.fields, **fields},
        ),
    )


def without_markers(facts: PreparationFacts, *symbols: str) -> PreparationFacts:
    return replace(facts, markers=tuple(m for m in facts.markers if m.symbol not in symbols))


def with_markers(facts: PreparationFacts, *markers: MarkerFact) -> PreparationFacts:
    return replace(facts, markers=(*facts.markers, *markers))


def with_particle(facts: PreparationFacts, **changes: Any) -> PreparationFacts:
    return replace(facts, particles=(replace(facts.particles[0], **changes),))


def urine(**fields: Any) -> PreparationFacts:
    values = {
        "tube_type": "pp_sterile",
        "urine_void_type": "first_morning",
        "creatinine_mmol_l": 8.0,
        "haemolysis_a414": None,
        "free_haemoglobin_g_l": None,
        "residual_platelets_per_ml": None,
        "fasting_state": "unknown",
    }
    values.update(fields)
    facts = with_sample(good(), "urine", **values)
    return replace(
        facts, markers=(*without_markers(facts, "APOA1", "APOB").markers, marker("UMOD", "3"))
    )


def conditioned_medium(**fields: Any) -> PreparationFacts:
    values = {
        "cell_line": "HEK293T (CVCL_0063)",
        "passage_number": 12,
        "culture_serum": "fbs",
        "serum_ev_depletion": "uc_18h",
        "conditioning_hours": 48.0,
        "viability_at_harvest_pct": 95.0,
    }
    values.update(fields)
    return with_sample(good(), "conditioned_medium", **values)
