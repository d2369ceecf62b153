"""EV-TRACK export: what the EV-TRACK knowledgebase (evtrack.org) asks of an EV experiment,
for one preparation, as plain JSON-ready data.

``evtrack_record(facts, report, context)`` is a pure function of the compliance facts, the
engine's report (EV-METRIC components, purity, recovery) and a small context the facts do
not carry (species, the tubes of the lineage with their SPREC codes). The API and the pages
call ``evtrack_records(ids)``, which loads all three in a fixed number of queries.

Every value in a record is a str, int, float, bool, None, list or dict, so ``json.dumps``
and ``json.loads`` give the record back unchanged; ``flatten_record`` turns it into
(field, value) rows for the CSV download.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from samples.choices import UBERON_IDS, FluidType, Species

from .choices import StepKind
from .compliance.engine import PreparationReport, evaluate, rules_for
from .compliance.facts import PreparationFacts, load_facts

__all__ = [
    "EVTRACK_FORMAT",
    "EVTrackContext",
    "LineageTube",
    "evtrack_record",
    "evtrack_records",
    "flatten_record",
    "load_context",
    "record_rows",
]

EVTRACK_FORMAT = "exolims-evtrack/1"

# EV-TRACK's separation vocabulary (as on evtrack.org experiment pages: dUC, DG, SEC …).
SEPARATION_CODES = {
    StepKind.DIFFERENTIAL_CENTRIFUGATION: ("DC", "(Differential) centrifugation, low speed"),
    StepKind.ULTRACENTRIFUGATION: ("dUC", "(Differential) ultracentrifugation"),
    StepKind.DENSITY_GRADIENT: ("DG", "Density gradient"),
    StepKind.SEC: ("SEC", "Size-exclusion chromatography"),
    StepKind.PRECIPITATION: ("PPT", "Precipitation"),
    StepKind.ULTRAFILTRATION: ("UF", "Ultrafiltration"),
    StepKind.IMMUNOAFFINITY: ("IAC", "Immunoaffinity capture"),
    StepKind.FILTRATION: ("Filtration", "Filtration"),
    StepKind.AF4: ("AF4", "Asymmetric-flow field-flow fractionation"),
    StepKind.KIT: ("Kit", "Commercial kit"),
    StepKind.OTHER: ("Other", "Other"),
}
# Low-speed spins and filtration clear the input; they do not separate EVs by themselves.
PRE_STEPS = frozenset({StepKind.DIFFERENTIAL_CENTRIFUGATION, StepKind.FILTRATION})
EV_CATEGORIES = frozenset({"1a", "1b", "2a", "2b"})
NON_EV_CATEGORIES = frozenset({"3", "4"})
_SPECIES = dict(Species.choices)
_FLUIDS = dict(FluidType.choices)


@dataclass(frozen=True)
class LineageTube:
    """A tube of the preparation's lineage. ``depth`` < 0: an ancestor (−1 the parent),
    0: the preparation tube, > 0: made from it."""

    id: int
    accession: str
    kind: str
    depth: int
    freeze_thaw_count: int
    sprec_code: str

    @property
    def relation(self) -> str:
        return "ancestor" if self.depth < 0 else "preparation" if self.depth == 0 else "descendant"


@dataclass(frozen=True)
class EVTrackContext:
    species: str = ""
    lineage: tuple[LineageTube, ...] = ()


# --- Loading ---------------------------------------------------------------------------------

_LINEAGE_SQL = """
    WITH RECURSIVE up(root, id, parent_id, depth) AS (
        SELECT a.id, a.id, a.parent_id, 0 FROM samples_aliquot a WHERE a.id = ANY(%(roots)s)
        UNION ALL
        SELECT up.root, p.id, p.parent_id, up.depth - 1
        FROM samples_aliquot p JOIN up ON p.id = up.parent_id
        WHERE up.depth > -10000
    ),
    down(root, id, depth) AS (
        SELECT c.parent_id, c.id, 1 FROM samples_aliquot c WHERE c.parent_id = ANY(%(roots)s)
        UNION ALL
        SELECT down.root, c.id, down.depth + 1
        FROM samples_aliquot c JOIN down ON c.parent_id = down.id
        WHERE down.depth < 10000
    )
    SELECT t.root, t.depth, a.id, a.accession, a.kind, a.freeze_thaw_count, s.sprec_code
    FROM (SELECT root, id, depth FROM up UNION ALL SELECT root, id, depth FROM down) t
    JOIN samples_aliquot a ON a.id = t.id
    JOIN samples_sample s ON s.id = a.sample_id
    ORDER BY t.root, t.depth, a.id
"""


def load_context(facts: Mapping[int, PreparationFacts]) -> dict[int, EVTrackContext]:
    """Species and lineage of each preparation: two queries whatever the count."""
    from django.db import connection

    from .models import EVPreparation

    if not facts:
        return {}
    species = dict(
        EVPreparation.objects.filter(pk__in=list(facts)).values_list(
            "id", "aliquot__sample__donor__species"
        )
    )
    by_tube: dict[int, list[LineageTube]] = {}
    roots = sorted({f.preparation.aliquot_id for f in facts.values()})
    with connection.cursor() as cursor:
        cursor.execute(_LINEAGE_SQL, {"roots": roots})
        for root, depth, pk, accession, kind, thaws, sprec in cursor.fetchall():
            by_tube.setdefault(root, []).append(
                LineageTube(
                    id=pk,
                    accession=accession,
                    kind=kind,
                    depth=depth,
                    freeze_thaw_count=thaws,
                    sprec_code=sprec or "",
                )
            )
    return {
        pk: EVTrackContext(
            species=species.get(pk) or "",
            lineage=tuple(by_tube.get(f.preparation.aliquot_id, ())),
        )
        for pk, f in facts.items()
    }


# --- The record -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready values: datetimes as ISO text, tuples/sets as lists, mappings as dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _separation(facts: PreparationFacts) -> dict[str, Any]:
    steps = []
    methods: list[str] = []
    for step in facts.run.steps:
        code, label = SEPARATION_CODES.get(step.kind, (step.kind, step.kind))
        role = "pre-processing" if step.kind in PRE_STEPS else "separation"
        if role == "separation" and code not in methods:
            methods.append(code)
        steps.append(
            {
                "order": step.order,
                "kind": step.kind,
                "method": code,
                "method_label": label,
                "role": role,
                "title": step.title,
                "parameters": _plain(dict(step.params)),
            }
        )
    return {
        "protocol": facts.run.protocol_name,
        "version": facts.run.version_label,
        "recovery_specificity": facts.run.recovery_specificity,
        "methods": methods,
        "input_volume_ml": facts.run.input_volume_ml,
        "input_tube": facts.run.input_accession,
        "run_id": facts.run.id,
        "run_started_at": _plain(facts.run.started_at),
        "run_deviations": facts.run.deviations,
        "run_values_differ_from_protocol": facts.run.has_actuals,
        "steps": steps,
    }


def _marker(m: Any) -> dict[str, Any]:
    return {
        "symbol": m.symbol,
        "category": m.category,
        "detection": m.detection,
        "method": m.method,
        "antibody": {
            "clone": m.antibody_clone,
            "vendor": m.antibody_vendor,
            "catalogue": m.antibody_catalogue,
            "rrid": m.antibody_rrid,
            "lot": m.antibody_lot,
            "dilution": m.antibody_dilution,
        },
        "lysis_buffer": m.lysis_buffer,
        "record_id": m.id,
    }


def _markers(facts: PreparationFacts) -> dict[str, list[dict[str, Any]]]:
    """EV-TRACK's "protein markers": EV proteins detected (positive) and proteins checked
    for purity (negative: categories 3 and 4, detected or not), plus everything else."""
    positive, negative, other = [], [], []
    for m in facts.markers:
        if m.category in NON_EV_CATEGORIES:
            negative.append(_marker(m))
        elif m.category in EV_CATEGORIES and m.detection == "detected":
            positive.append(_marker(m))
        else:
            other.append(_marker(m))
    return {"positive": positive, "negative": negative, "other": other}


def _characterisation(facts: PreparationFacts, report: PreparationReport | None) -> dict[str, Any]:
    purity = report.purity if report else None
    return {
        "protein_markers": _markers(facts),
        "particle_analysis": [
            {
                "method": p.method,
                "concentration_per_ml": p.concentration_per_ml,
                "mode_nm": p.mode_nm,
                "mean_nm": p.mean_nm,
                "d50_nm": p.d50_nm,
                "dilution_factor": p.dilution_factor,
                "replicates": p.replicates,
                "measured_at": _plain(p.measured_at),
                "same_material": p.same_material,
                "record_id": p.id,
            }
            for p in facts.particles
        ],
        "electron_microscopy": [
            {
                "method": i.method,
                "views": sorted(i.views),
                "images": i.image_count,
                "vesicles_measured": i.n_vesicles_measured,
                "size_mean_nm": i.size_mean_nm,
                "size_median_nm": i.size_median_nm,
                "bilayer_observed": i.bilayer_observed,
                "record_id": i.id,
            }
            for i in facts.imaging
        ],
        "flow_cytometry": [
            {
                "events_per_ml": f.event_concentration_per_ml,
                "calibration_beads": f.calibration_beads,
                "refractive_index_assumed": f.refractive_index_assumed,
                "scatter_unit": f.scatter_unit,
                "fluorescence_unit": f.fluorescence_unit,
                "lod_scatter": f.lod_scatter,
                "lod_fluorescence": f.lod_fluorescence,
                "controls": sorted(c for c in f.control_kinds if c),
                "record_id": f.id,
            }
            for f in facts.flow
        ],
        "dls": [
            {
                "measurement": d.measurement,
                "z_average_nm": d.z_average_nm,
                "pdi": d.pdi,
                "zeta_potential_mv": d.zeta_potential_mv,
                "record_id": d.id,
            }
            for d in facts.dls
        ],
        "quantification": {
            "protein": [
                {
                    "method": p.method,
                    "concentration_ug_per_ml": p.concentration_ug_per_ml,
                    "total_ug": p.total_ug,
                    "same_material": p.same_material,
                    "record_id": p.id,
                }
                for p in facts.protein
            ],
            "particles_per_ug_protein": purity.particles_per_ug if purity else None,
            "purity_band": purity.band if purity else "",
            "particles_per_ml_input": report.recovery_particles_per_ml_input if report else None,
        },
        "rna": [
            {"target": q.target, "cq": q.cq, "undetermined": q.undetermined} for q in facts.qpcr
        ],
    }


def _ev_metric(report: PreparationReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    score = report.evmetric
    return {
        "score_pct": score.pct,
        "fulfilled": score.passed,
        "applicable": score.applicable,
        "components": [
            {"code": r.code, "title": r.title, "status": r.status}
            for r in report.results
            if "EV-METRIC" in r.profiles and r.scored
        ],
        "missing": [m.code for m in score.missing],
    }


def _lineage(facts: PreparationFacts, context: EVTrackContext) -> list[dict[str, Any]]:
    """The sample and every tube of the lineage with its SPREC code. SPREC describes the
    sample's pre-analytics, so every tube carries its sample's code; the freeze–thaw count
    of the tube is added as the eighth element some biobanks use."""
    rows = [
        {
            "accession": facts.sample.accession,
            "type": "sample",
            "relation": "sample",
            "depth": None,
            "freeze_thaw_count": None,
            "sprec_code": facts.sample.sprec_code,
            "sprec_code_with_freeze_thaw": "",
        }
    ]
    for tube in context.lineage:
        code = tube.sprec_code or facts.sample.sprec_code
        rows.append(
            {
                "accession": tube.accession,
                "type": tube.kind,
                "relation": tube.relation,
                "depth": tube.depth,
                "freeze_thaw_count": tube.freeze_thaw_count,
                "sprec_code": code,
                "sprec_code_with_freeze_thaw": f"{code}-{tube.freeze_thaw_count}" if code else "",
            }
        )
    return rows


def evtrack_record(
    facts: PreparationFacts,
    report: PreparationReport | None = None,
    context: EVTrackContext | None = None,
) -> dict[str, Any]:
    """EV-TRACK's reporting fields for one preparation. Pure: no database."""
    context = context or EVTrackContext()
    species = context.species or getattr(facts.sample, "species", "") or ""
    fluid = facts.sample.fluid_type
    prep = facts.preparation
    return {
        "format": EVTRACK_FORMAT,
        "experiment": {
            "preparation_id": prep.id,
            "accession": prep.accession,
            "study": prep.study_code,
            "nomenclature_term": prep.nomenclature_term,
            "author_term": prep.author_term,
            "fraction": prep.fraction,
            "resuspension_volume_ml": prep.resuspension_volume_ml,
            "compliance_profile": report.profile if report else prep.compliance_profile,
        },
        "species": {
            "id": species,
            "label": _SPECIES.get(species, species) if species else "",
        },
        "sample_type": {
            "fluid_type": fluid,
            "label": _FLUIDS.get(fluid, fluid),
            "uberon": UBERON_IDS.get(fluid, ""),
        },
        "sample": {
            "accession": facts.sample.accession,
            "sprec_code": facts.sample.sprec_code,
            "pre_analytics": _plain(dict(facts.sample.fields)),
        },
        "separation": _separation(facts),
        "characterisation": _characterisation(facts, report),
        "ev_metric": _ev_metric(report),
        "storage": {
            "box": facts.storage.box_name,
            "temperature_c": facts.storage.temperature_c,
            "preparation_freeze_thaw_count": prep.tube_freeze_thaw_count,
        },
        "lineage": _lineage(facts, context),
    }


def evtrack_records(
    preparation_ids: Iterable[int], *, profile: str | None = None
) -> dict[int, dict[str, Any]]:
    """Records of the given preparations (missing ids left out), each with the engine's
    report against ``profile`` (None: the study's). Access control is the caller's."""
    facts = load_facts(preparation_ids)
    if not facts:
        return {}
    rules = rules_for(None)
    context = load_context(facts)
    return {
        pk: evtrack_record(f, evaluate(f, rules, profile=profile), context[pk])
        for pk, f in facts.items()
    }


# --- Flat rows (CSV) -------------------------------------------------------------------------


def flatten_record(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(field, value) rows: nested keys joined by ".", list items numbered from 1
    ("separation.steps.2.parameters.g_force"). An empty list or mapping is one row with
    an empty value, so every field of the record is there."""
    rows: list[tuple[str, Any]] = []
    items = (
        record.items()
        if isinstance(record, Mapping)
        else ((str(i), v) for i, v in enumerate(record, 1))
    )
    for key, value in items:
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, (Mapping, list)):
            if value:
                rows.extend(flatten_record(value, name))
            else:
                rows.append((name, ""))
        else:
            rows.append((name, value))
    return rows


def record_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows for ``exolims.renderers.rows_to_csv(rows, ["field", "value"])``."""
    return [{"field": name, "value": value} for name, value in flatten_record(record)]
