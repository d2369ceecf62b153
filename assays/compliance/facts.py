"""Everything the compliance checks may look at for one EV preparation, as plain values.

``load_facts`` reads the preparations, their runs and protocols, their samples and every
characterisation record on the preparation tube and the tubes made from it, in a fixed
number of queries whatever the number of preparations. What it returns holds no model
instances, so the checks (``checks.py``) and the engine (``engine.py``) are pure functions
that tests feed with hand-built facts.

Which tubes count as "the preparation": the preparation tube, the aliquots split from it
and the derivatives made from those (a lysate for a western blot, RNA for qPCR). A tube that
is itself an EV preparation (a second run on this one) starts a report of its own and is
not followed. Only the preparation tube and its plain aliquots hold the *same material*, so
only their concentrations enter the purity and recovery arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple

from assays import centrifugation
from assays.choices import Detection, ImagingMethod, MarkerMethod, ProteinMethod

__all__ = [
    "SAMPLE_FIELDS",
    "DLSFact",
    "Evidence",
    "FlowFact",
    "ImagingFact",
    "MarkerFact",
    "ParticleFact",
    "PreparationFacts",
    "PreparationInfo",
    "ProteinFact",
    "QPCRFact",
    "RunInfo",
    "SampleInfo",
    "StepFact",
    "StorageInfo",
    "load_facts",
]

# Pre-analytical fields of a sample copied into the facts (samples.models.Sample).
SAMPLE_FIELDS: tuple[str, ...] = (
    "collected_at",
    "volume_ml",
    "tube_type",
    "fasting_state",
    "fasting_hours",
    "time_to_processing_min",
    "processing_temp_c",
    "centrifugation_steps",
    "post_centrifugation_delay_min",
    "post_centrifugation_temp_c",
    "haemolysis_a414",
    "free_haemoglobin_g_l",
    "residual_platelets_per_ml",
    "urine_void_type",
    "creatinine_mmol_l",
    "cell_line",
    "passage_number",
    "culture_serum",
    "serum_ev_depletion",
    "conditioning_hours",
    "viability_at_harvest_pct",
    "storage_temp_c",
    "storage_container",
)

# Tube kinds (samples.choices.AliquotKind) as stored.
_ALIQUOT = "aliquot"
_EV_PREPARATION = "ev_preparation"
# Storage trees are site → room → freezer → shelf → rack → box: a box has at most five
# ancestors, and its effective temperature is the nearest set one.
_STORAGE_LEVELS = 6


class Evidence(NamedTuple):
    """A record a result rests on. ``url_name`` reversed with ``id`` gives its page.
    (A named tuple: reports hold tens of thousands, and it is immutable all the same.)"""

    kind: str
    id: int
    label: str
    url_name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "label": self.label, "url_name": self.url_name}


@dataclass(frozen=True)
class PreparationInfo:
    id: int
    aliquot_id: int
    accession: str
    nomenclature_term: str
    author_term: str = ""
    fraction: str = ""
    resuspension_volume_ml: float | None = None
    tube_freeze_thaw_count: int = 0
    study_id: int | None = None
    study_code: str = ""
    compliance_profile: str = "MISEV2018"
    purity_min_particles_per_ug: float | None = None
    max_freeze_thaw_cycles: int | None = None

    @property
    def evidence(self) -> Evidence:
        return Evidence("tube", self.aliquot_id, self.accession, "samples:aliquot-detail")


@dataclass(frozen=True)
class StepFact:
    """A protocol step with the run's actual values applied. ``params`` also carries the
    rotor's name, type and k-factor (at the step's speed) when the step names a rotor."""

    order: int
    kind: str
    title: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInfo:
    id: int
    protocol_name: str = ""
    version_label: str = ""
    version_id: int | None = None
    recovery_specificity: str = ""
    steps: tuple[StepFact, ...] = ()
    started_at: datetime | None = None
    deviations: str = ""
    has_actuals: bool = False
    input_volume_ml: float | None = None
    input_aliquot_id: int | None = None
    input_accession: str = ""
    input_freeze_thaw_count: int | None = None

    @cached_property
    def step_kinds(self) -> frozenset[str]:
        # Every rule's applicability asks; computed once per run.
        return frozenset(step.kind for step in self.steps)

    @property
    def evidence(self) -> Evidence:
        label = f"Run {self.id}"
        if self.protocol_name:
            label += f" · {self.protocol_name} {self.version_label}".rstrip()
        return Evidence("run", self.id, label, "assays:run-detail")


@dataclass(frozen=True)
class SampleInfo:
    id: int
    accession: str
    fluid_type: str
    sprec_code: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def evidence(self) -> Evidence:
        return Evidence("sample", self.id, self.accession, "samples:sample-detail")


@dataclass(frozen=True)
class StorageInfo:
    box_id: int | None = None
    box_name: str = ""
    temperature_c: float | None = None


class _RecordFact:
    """A measurement fact is evidence for a rule: the record's page, by its kind."""

    kind = ""
    url_name = ""

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.kind, self.id, self.label, self.url_name)


@dataclass(frozen=True)
class ParticleFact(_RecordFact):
    id: int
    aliquot_id: int
    method: str
    concentration_per_ml: float | None = None
    mode_nm: float | None = None
    mean_nm: float | None = None
    d50_nm: float | None = None
    dilution_factor: float | None = None
    replicate_cv_pct: float | None = None
    replicates: int | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    measured_at: datetime | None = None
    same_material: bool = True
    label: str = ""

    kind = "particles"
    url_name = "assays:particle-detail"

    @property
    def size_nm(self) -> float | None:
        """The modal size, else the median, else the mean."""
        for value in (self.mode_nm, self.d50_nm, self.mean_nm):
            if value is not None:
                return value
        return None


@dataclass(frozen=True)
class ProteinFact(_RecordFact):
    id: int
    aliquot_id: int
    method: str
    concentration_ug_per_ml: float | None = None
    total_ug: float | None = None
    volume_ml: float | None = None
    measured_at: datetime | None = None
    same_material: bool = True
    label: str = ""

    kind = "protein"
    url_name = "assays:protein-detail"


@dataclass(frozen=True)
class MarkerFact(_RecordFact):
    id: int
    aliquot_id: int
    symbol: str
    category: str
    detection: str
    method: str
    aliases: tuple[str, ...] = ()
    antibody_clone: str = ""
    antibody_vendor: str = ""
    antibody_catalogue: str = ""
    antibody_rrid: str = ""
    antibody_lot: str = ""
    antibody_dilution: str = ""
    lysis_buffer: str = ""
    label: str = ""

    kind = "marker"
    url_name = "assays:marker-result-detail"

    def named(self, symbols: Iterable[str]) -> bool:
        wanted = {s.upper() for s in symbols}
        return self.symbol.upper() in wanted or any(a.upper() in wanted for a in self.aliases)


@dataclass(frozen=True)
class ImagingFact(_RecordFact):
    id: int
    aliquot_id: int
    method: str
    views: frozenset[str] = frozenset()
    image_count: int = 0
    n_vesicles_measured: int | None = None
    size_mean_nm: float | None = None
    size_median_nm: float | None = None
    bilayer_observed: bool | None = None
    label: str = ""

    kind = "imaging"
    url_name = "assays:imaging-detail"


@dataclass(frozen=True)
class FlowFact(_RecordFact):
    id: int
    aliquot_id: int
    event_concentration_per_ml: float | None = None
    calibration_beads: str = ""
    refractive_index_assumed: float | None = None
    scatter_unit: str = "au"
    fluorescence_unit: str = "au"
    lod_scatter: float | None = None
    lod_fluorescence: float | None = None
    control_kinds: frozenset[str] = frozenset()
    label: str = ""

    kind = "flow"
    url_name = "assays:flow-detail"


@dataclass(frozen=True)
class DLSFact(_RecordFact):
    id: int
    aliquot_id: int
    measurement: str  # size | zeta
    z_average_nm: float | None = None
    pdi: float | None = None
    zeta_potential_mv: float | None = None
    label: str = ""

    kind = "dls"
    url_name = "assays:dls-detail"


@dataclass(frozen=True)
class QPCRFact:
    id: int
    run_id: int
    aliquot_id: int
    target: str
    cq: float | None = None
    undetermined: bool = False
    task: str = "unknown"
    label: str = ""

    kind = "qpcr"

    @property
    def evidence(self) -> Evidence:
        # qPCR results have no page of their own; their run has.
        return Evidence(self.kind, self.run_id, self.label, "assays:qpcr-run-detail")


@dataclass(frozen=True)
class PreparationFacts:
    preparation: PreparationInfo
    run: RunInfo
    sample: SampleInfo
    storage: StorageInfo = StorageInfo()
    particles: tuple[ParticleFact, ...] = ()
    protein: tuple[ProteinFact, ...] = ()
    markers: tuple[MarkerFact, ...] = ()
    imaging: tuple[ImagingFact, ...] = ()
    flow: tuple[FlowFact, ...] = ()
    dls: tuple[DLSFact, ...] = ()
    qpcr: tuple[QPCRFact, ...] = ()

    @property
    def fluid_type(self) -> str:
        return self.sample.fluid_type

    @property
    def step_kinds(self) -> frozenset[str]:
        return self.run.step_kinds

    def records(self, kind: str) -> tuple[Any, ...]:
        """The measurements of one kind: particles, protein, markers, imaging, flow, dls, qpcr."""
        return getattr(self, kind)


MEASUREMENT_KINDS = ("particles", "protein", "markers", "imaging", "flow", "dls", "qpcr")


# --- Loading ------------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _date(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "undated"


def _shown(choices: Any, value: str) -> str:
    """A stored choice as people read it (Micro-BCA, not micro_bca); unknown values as
    stored."""
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value).replace("_", " ")


def _rotor_params(row: Mapping[str, Any], params: dict[str, Any]) -> None:
    """Add the rotor's name, type and the k-factor at the step's speed to ``params``."""
    if not row["rotor__name"]:
        return
    params["rotor"] = row["rotor__name"]
    params["rotor_type"] = row["rotor__rotor_type"]
    try:
        k_max = row["rotor__k_factor"] or centrifugation.k_factor(
            row["rotor__r_min_mm"], row["rotor__r_max_mm"], row["rotor__max_rpm"]
        )
        rpm = params.get("rpm")
        if rpm is None and params.get("g_force"):
            radius = centrifugation.radius_for(
                params.get("g_basis") or "average", row["rotor__r_min_mm"], row["rotor__r_max_mm"]
            )
            rpm = centrifugation.rpm_from_rcf(params["g_force"], radius)
        k = centrifugation.adjusted_k_factor(k_max, row["rotor__max_rpm"], rpm) if rpm else k_max
    except (ValueError, ZeroDivisionError, TypeError):
        return
    params["k_factor"] = round(k, 1)


def _steps_by_version(version_ids: set[int]) -> dict[int, list[dict[str, Any]]]:
    from assays.models import ProtocolStep

    steps: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        ProtocolStep.objects.filter(version_id__in=version_ids)
        .order_by("version_id", "order")
        .values(
            "version_id",
            "order",
            "kind",
            "title",
            "parameters",
            "rotor__name",
            "rotor__rotor_type",
            "rotor__r_min_mm",
            "rotor__r_max_mm",
            "rotor__max_rpm",
            "rotor__k_factor",
        )
    )
    for row in rows:
        steps[row["version_id"]].append(row)
    return steps


def _tube_tree(root_ids: list[int]) -> dict[int, tuple[int, bool, str]]:
    """tube id → (preparation tube id, same material, accession) for every preparation
    tube and the tubes made from it, stopping at tubes that are preparations themselves."""
    from django.db import connection

    if not root_ids:
        return {}
    sql = """
        WITH RECURSIVE down(root_id, id, same, depth) AS (
            SELECT a.id, a.id, TRUE, 0 FROM samples_aliquot a WHERE a.id = ANY(%s)
            UNION ALL
            SELECT down.root_id, c.id, down.same AND c.kind = %s, down.depth + 1
            FROM samples_aliquot c JOIN down ON c.parent_id = down.id
            WHERE c.kind <> %s AND down.depth < 10000
        )
        SELECT down.id, down.root_id, down.same, a.accession
        FROM down JOIN samples_aliquot a ON a.id = down.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(root_ids), _ALIQUOT, _EV_PREPARATION])
        return {tube: (root, same, accession) for tube, root, same, accession in cursor}


def _among(ids: Iterable[int]) -> Any:
    """``x__in=_among(ids)``: the ids as one array parameter. A thousand separate
    parameters cost more to build and send than the query takes to run."""
    from django.db.models.expressions import RawSQL

    return RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))


def load_facts(preparation_ids: Iterable[int]) -> dict[int, PreparationFacts]:
    """Facts of each existing preparation in ``preparation_ids`` (missing ids are left out).

    Ten queries whatever the count: preparations with run, sample, study and storage; the
    protocol steps; the tube tree; one per kind of measurement. Access control is the
    caller's: pass only ids the user may see.
    """
    from django.contrib.postgres.aggregates import ArrayAgg
    from django.db.models import Count, F
    from django.db.models.functions import Coalesce

    from assays.models import (
        DLSMeasurement,
        EVPreparation,
        FlowMeasurement,
        ImagingRecord,
        MarkerResult,
        ParticleMeasurement,
        ProteinMeasurement,
        QPCRResult,
    )

    ids = sorted({int(pk) for pk in preparation_ids})
    if not ids:
        return {}

    temperature_paths = ["aliquot__box__set_temperature_c"]
    for _ in range(_STORAGE_LEVELS - 1):
        temperature_paths.append(temperature_paths[-1].replace("__set_", "__parent__set_"))
    sample_values = [f"aliquot__sample__{name}" for name in SAMPLE_FIELDS]
    rows = list(
        EVPreparation.objects.filter(pk__in=_among(ids))
        .annotate(box_temperature_c=Coalesce(*(F(path) for path in temperature_paths)))
        .values(
            "id",
            "aliquot_id",
            "aliquot__accession",
            "aliquot__freeze_thaw_count",
            "aliquot__box_id",
            "aliquot__box__name",
            "box_temperature_c",
            "nomenclature_term",
            "author_term",
            "fraction",
            "resuspension_volume_ml",
            "run_id",
            "run__started_at",
            "run__deviations",
            "run__step_actuals",
            "run__protocol_version_id",
            "run__protocol_version__number",
            "run__protocol_version__recovery_specificity",
            "run__protocol_version__protocol__name",
            "run__study_id",
            "run__study__code",
            "run__study__compliance_profile",
            "run__study__purity_min_particles_per_ug",
            "run__study__max_freeze_thaw_cycles",
            "source__volume_used_ml",
            "source__aliquot_id",
            "source__aliquot__accession",
            "source__aliquot__freeze_thaw_count",
            "aliquot__sample_id",
            "aliquot__sample__accession",
            "aliquot__sample__fluid_type",
            "aliquot__sample__sprec_code",
            *sample_values,
        )
    )
    if not rows:
        return {}

    steps = _steps_by_version({row["run__protocol_version_id"] for row in rows})
    tree = _tube_tree([row["aliquot_id"] for row in rows])
    tube_ids = list(tree)

    def tube_of(aliquot_id: int) -> tuple[int, bool, str]:
        return tree[aliquot_id]

    collected: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))

    def add(kind: str, aliquot_id: int, fact: Any) -> None:
        root, _, _ = tube_of(aliquot_id)
        collected[root][kind].append(fact)

    # Newest first: an undated record counts as older than any dated one.
    newest = (F("measured_at").desc(nulls_last=True), "-id")

    for row in (
        ParticleMeasurement.objects.filter(aliquot_id__in=_among(tube_ids))
        .order_by(*newest)
        .values(
            "id",
            "aliquot_id",
            "method",
            "measured_at",
            "concentration_per_ml",
            "mode_nm",
            "mean_nm",
            "d50_nm",
            "dilution_factor",
            "replicate_cv_pct",
            "replicates",
            "settings",
            "flags",
        )
    ):
        _, same, accession = tube_of(row["aliquot_id"])
        add(
            "particles",
            row["aliquot_id"],
            ParticleFact(
                id=row["id"],
                aliquot_id=row["aliquot_id"],
                method=row["method"],
                concentration_per_ml=row["concentration_per_ml"],
                mode_nm=row["mode_nm"],
                mean_nm=row["mean_nm"],
                d50_nm=row["d50_nm"],
                dilution_factor=row["dilution_factor"],
                replicate_cv_pct=row["replicate_cv_pct"],
                replicates=row["replicates"],
                settings=row["settings"] or {},
                flags=tuple(
                    f.get("code", "") for f in row["flags"] or [] if isinstance(f, Mapping)
                ),
                measured_at=row["measured_at"],
                same_material=same,
                label=f"{row['method']} of {accession}, {_date(row['measured_at'])}",
            ),
        )

    for row in (
        ProteinMeasurement.objects.filter(aliquot_id__in=_among(tube_ids))
        .order_by(*newest)
        .values(
            "id",
            "aliquot_id",
            "method",
            "measured_at",
            "concentration_ug_per_ml",
            "total_ug",
            "volume_ml",
        )
    ):
        _, same, accession = tube_of(row["aliquot_id"])
        add(
            "protein",
            row["aliquot_id"],
            ProteinFact(
                id=row["id"],
                aliquot_id=row["aliquot_id"],
                method=row["method"],
                concentration_ug_per_ml=row["concentration_ug_per_ml"],
                total_ug=row["total_ug"],
                volume_ml=_float(row["volume_ml"]),
                measured_at=row["measured_at"],
                same_material=same,
                label=f"Protein ({_shown(ProteinMethod, row['method'])}) of {accession}, "
                f"{_date(row['measured_at'])}",
            ),
        )

    for row in (
        MarkerResult.objects.filter(aliquot_id__in=_among(tube_ids))
        .order_by(*newest)
        .values(
            "id",
            "aliquot_id",
            "marker__symbol",
            "marker__category",
            "marker__aliases",
            "detection",
            "method",
            "antibody_clone",
            "antibody_vendor",
            "antibody_catalogue",
            "antibody_rrid",
            "antibody_lot",
            "antibody_dilution",
            "lysis_buffer",
        )
    ):
        _, _, accession = tube_of(row["aliquot_id"])
        add(
            "markers",
            row["aliquot_id"],
            MarkerFact(
                id=row["id"],
                aliquot_id=row["aliquot_id"],
                symbol=row["marker__symbol"],
                category=row["marker__category"],
                aliases=tuple(row["marker__aliases"] or ()),
                detection=row["detection"],
                method=row["method"],
                antibody_clone=row["antibody_clone"],
                antibody_vendor=row["antibody_vendor"],
                antibody_catalogue=row["antibody_catalogue"],
                antibody_rrid=row["antibody_rrid"],
                antibody_lot=row["antibody_lot"],
                antibody_dilution=row["antibody_dilution"],
                lysis_buffer=row["lysis_buffer"],
                label=f"{row['marker__symbol']} {_shown(Detection, row['detection']).lower()} "
                f"({_shown(MarkerMethod, row['method'])}) in {accession}",
            ),
        )

    for row in (
        ImagingRecord.objects.filter(aliquot_id__in=_among(tube_ids))
        .order_by(*newest)
        .annotate(
            views=ArrayAgg("images__view", distinct=True, default=[]),
            image_count=Count("images"),
        )
        .values(
            "id",
            "aliquot_id",
            "method",
            "views",
            "image_count",
            "n_vesicles_measured",
            "size_mean_nm",
            "size_median_nm",
            "bilayer_observed",
            "measured_at",
        )
    ):
        _, _, accession = tube_of(row["aliquot_id"])
        add(
            "imaging",
            row["aliquot_id"],
            ImagingFact(
                id=row["id"],
                aliquot_id=row["aliquot_id"],
                method=row["method"],
                views=frozenset(v for v in row["views"] if v),
                image_count=row["image_count"],
                n_vesicles_measured=row["n_vesicles_measured"],
                size_mean_nm=row["size_mean_nm"],
                size_median_nm=row["size_median_nm"],
                bilayer_observed=row["bilayer_observed"],
                label=f"{_shown(ImagingMethod, row['method'])} of {accession}, "
                f"{_date(row['measured_at'])}",
            ),
        )

    for row in (
        FlowMeasurement.objects.filter(aliquot_id__in=_among(tube_ids))
        .order_by(*newest)
        .values(
            "id",
            "aliquot_id",
            "event_concentration_per_ml",
            "calibration_beads",
            "refractive_index_assumed",
            "scatter_unit",
            "fluorescence_unit",
            "lod_scatter",
            "lod_fluorescence",
            "controls",
            "measured_at",
        )
    ):
        _, _, accession = tube_of(row["aliquot_id"])
        add(
            "flow",
            row["aliquot_id"],
            FlowFact(
                id=row["id"],
                aliquot_id=row["aliquot_id"],
                event_concentration_per_ml=row["event_concentration_per_ml"],
                calibration_beads=row["calibration_beads"],
                refractive_index_assumed=row["refractive_index_assumed"],
                scatter_unit=row["scatter_unit"],
                fluorescence_unit=row["fluorescence_unit"],
                lod_scatter=row["lod_scatter"],
                lod_fluorescence=row["lod_fluorescence"],
                control_kinds=frozenset(
                    c.get("kind") for c in row["controls"] or [] if isinstance(c, Mapping)
                ),
                label=f"Flow of {accession}, {_date(row['measured_at'])}",
            ),
        )

    for row in (
        DLSMeasurement.objects.filter(aliquot_id__in=_among(tube_ids))
        .order_by(*newest)
        .values(
            "id",
            "aliquot_id",
            "kind",
            "z_average_nm",
            "pdi",
            "zeta_potential_mv",
            "measured_at",
        )
    ):
        _, _, accession = tube_of(row["aliquot_id"])
        add(
            "dls",
            row["aliquot_id"],
            DLSFact(
                id=row["id"],
                aliquot_id=row["aliquot_id"],
                measurement=row["kind"],
                z_average_nm=row["z_average_nm"],
                pdi=row["pdi"],
                zeta_potential_mv=row["zeta_potential_mv"],
                label=f"DLS {row['kind']} of {accession}, {_date(row['measured_at'])}",
            ),
        )

    for row in (
        QPCRResult.objects.filter(aliquot_id__in=_among(tube_ids))
        .order_by("run_id", "target", "id")
        .values("id", "run_id", "aliquot_id", "target", "cq", "undetermined", "task")
    ):
        _, _, accession = tube_of(row["aliquot_id"])
        cq = "undetermined" if row["undetermined"] or row["cq"] is None else f"Cq {row['cq']:.1f}"
        add(
            "qpcr",
            row["aliquot_id"],
            QPCRFact(
                id=row["id"],
                run_id=row["run_id"],
                aliquot_id=row["aliquot_id"],
                target=row["target"],
                cq=row["cq"],
                undetermined=row["undetermined"],
                task=row["task"],
                label=f"qPCR {row['target']} {cq} in {accession}",
            ),
        )

    result: dict[int, PreparationFacts] = {}
    for row in rows:
        actuals = row["run__step_actuals"] or {}
        step_facts = []
        for step in steps.get(row["run__protocol_version_id"], []):
            # A copy per preparation: runs of one version differ in their actual values.
            params = {**(step["parameters"] or {}), **(actuals.get(str(step["order"])) or {})}
            _rotor_params(step, params)
            step_facts.append(
                StepFact(order=step["order"], kind=step["kind"], title=step["title"], params=params)
            )
        version_number = row["run__protocol_version__number"]
        measurements = collected.get(row["aliquot_id"], {})
        result[row["id"]] = PreparationFacts(
            preparation=PreparationInfo(
                id=row["id"],
                aliquot_id=row["aliquot_id"],
                accession=row["aliquot__accession"],
                nomenclature_term=row["nomenclature_term"],
                author_term=row["author_term"],
                fraction=row["fraction"],
                resuspension_volume_ml=_float(row["resuspension_volume_ml"]),
                tube_freeze_thaw_count=row["aliquot__freeze_thaw_count"],
                study_id=row["run__study_id"],
                study_code=row["run__study__code"],
                compliance_profile=row["run__study__compliance_profile"],
                purity_min_particles_per_ug=row["run__study__purity_min_particles_per_ug"],
                max_freeze_thaw_cycles=row["run__study__max_freeze_thaw_cycles"],
            ),
            run=RunInfo(
                id=row["run_id"],
                protocol_name=row["run__protocol_version__protocol__name"],
                version_label=f"v{version_number}" if version_number is not None else "",
                version_id=row["run__protocol_version_id"],
                recovery_specificity=row["run__protocol_version__recovery_specificity"],
                steps=tuple(step_facts),
                started_at=row["run__started_at"],
                deviations=row["run__deviations"],
                has_actuals=bool(actuals),
                input_volume_ml=_float(row["source__volume_used_ml"]),
                input_aliquot_id=row["source__aliquot_id"],
                input_accession=row["source__aliquot__accession"],
                input_freeze_thaw_count=row["source__aliquot__freeze_thaw_count"],
            ),
            sample=SampleInfo(
                id=row["aliquot__sample_id"],
                accession=row["aliquot__sample__accession"],
                fluid_type=row["aliquot__sample__fluid_type"],
                sprec_code=row["aliquot__sample__sprec_code"],
                fields={name: _plain(row[f"aliquot__sample__{name}"]) for name in SAMPLE_FIELDS},
            ),
            storage=StorageInfo(
                box_id=row["aliquot__box_id"],
                box_name=row["aliquot__box__name"] or "",
                temperature_c=row["box_temperature_c"],
            ),
            **{kind: tuple(measurements.get(kind, ())) for kind in MEASUREMENT_KINDS},
        )
    return result
