"""A methods section a scientist can paste into a paper, written from what was recorded.

``methods_paragraph(preparation_ids)`` and ``study_methods(study)`` describe the samples and
their pre-analytics, the isolation (each step with the values the runs actually used) and
the characterisation methods with their settings. Many preparations give one text with
ranges ("n = 12 preparations; input 0.5–1.0 mL"), never one paragraph per preparation.

The text is composed by ``compose_methods`` from the compliance facts
(``assays.compliance.facts``) and a few details the facts leave out (instruments, curve
models, stains, magnifications …), so the wording can be tested on hand-built facts.
Nothing is invented: a value that was not recorded is left out, not guessed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from samples.choices import (
    CultureSerum,
    FastingState,
    FluidType,
    SerumEVDepletion,
    Species,
    StorageContainer,
    TubeType,
    UrineVoid,
)

from .choices import (
    ControlKind,
    CurveModel,
    Detection,
    FluorescenceUnit,
    ImageView,
    ImagingMethod,
    LoadingUnit,
    MarkerMethod,
    NomenclatureTerm,
    ParticleMethod,
    ProteinMethod,
    RecoverySpecificity,
    RotorType,
    ScatterUnit,
    StepKind,
)
from .compliance.facts import PreparationFacts, load_facts
from .plots import scientific
from .steps import schema_for

__all__ = [
    "MethodsDetails",
    "compose_methods",
    "format_range",
    "format_volume",
    "load_details",
    "methods_paragraph",
    "step_phrase",
    "study_methods",
]

MINUS = "\u2212"
EN_DASH = "\u2013"
NO_PREPARATIONS = "No EV preparations are recorded for this selection yet."

_FLUIDS = dict(FluidType.choices)
_TUBES = dict(TubeType.choices)
_SPECIES = {value: label.split(" (")[0] for value, label in Species.choices}
_STEP_KINDS = dict(StepKind.choices)
_ROTOR_TYPES = {
    RotorType.FIXED_ANGLE: "fixed-angle",
    RotorType.SWINGING_BUCKET: "swinging-bucket",
    RotorType.VERTICAL: "vertical",
    RotorType.NEAR_VERTICAL: "near-vertical",
}
_TERMS = dict(NomenclatureTerm.choices)
_RECOVERY = dict(RecoverySpecificity.choices)
_PARTICLE_METHODS = dict(ParticleMethod.choices)
_PROTEIN_METHODS = dict(ProteinMethod.choices)
_CURVES = dict(CurveModel.choices)
_MARKER_METHODS = dict(MarkerMethod.choices)
_IMAGING = dict(ImagingMethod.choices)
_VIEWS = dict(ImageView.choices)
_CONTROLS = dict(ControlKind.choices)
_SCATTER_TEXT = {
    ScatterUnit.ARBITRARY: "arbitrary units",
    ScatterUnit.NM: "diameter (nm, Mie-calibrated)",
    ScatterUnit.CROSS_SECTION: "scattering cross-section (nm²)",
}
_FLUORESCENCE = dict(FluorescenceUnit.choices)
_LOADING = dict(LoadingUnit.choices)
_CONTAINERS = dict(StorageContainer.choices)
_VOIDS = dict(UrineVoid.choices)
_SERA = dict(CultureSerum.choices)
_DEPLETION = dict(SerumEVDepletion.choices)
# Marker categories in the order a methods section lists them: EV proteins, then purity.
_CATEGORY_ORDER = {"1a": 0, "1b": 1, "2a": 2, "2b": 3, "5": 4, "3": 5, "4": 6}
_EV_CATEGORIES = frozenset({"1a", "1b", "2a", "2b"})
_PURITY_CATEGORIES = frozenset({"3", "4"})

# Capture settings worth a methods sentence, per particle method: settings key → (label, unit).
_PARTICLE_SETTINGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    ParticleMethod.NTA: (
        ("camera_type", "camera", ""),
        ("laser_type", "laser", ""),
        ("camera_level", "camera level", ""),
        ("detection_threshold", "detection threshold", ""),
        ("shutter_ms", "shutter", "ms"),
        ("slider_gain", "gain", ""),
        ("frame_rate_fps", "frame rate", "fps"),
        ("temperature_c", "temperature", "°C"),
        ("diluent", "diluent", ""),
    ),
    ParticleMethod.ZETAVIEW: (
        ("laser_wavelength_nm", "laser", "nm"),
        ("sensitivity", "sensitivity", ""),
        ("shutter", "shutter", ""),
        ("gain", "gain", ""),
        ("positions", "positions", ""),
        ("min_trace_length", "minimum trace length", ""),
        ("min_brightness", "minimum brightness", ""),
        ("temperature_c", "temperature", "°C"),
    ),
}


# --- Numbers as a methods section writes them ----------------------------------------------


def _finite(values: Iterable[Any]) -> list[float]:
    out = []
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out.append(number)
    return out


def _decimals(value: float, significant: int = 3) -> int:
    """Decimals that show ``value`` to ``significant`` digits without trailing zeros
    (integer parts are never rounded away: 100,000 stays 100,000)."""
    if value == 0:
        return 0
    wanted = max(significant - 1 - math.floor(math.log10(abs(value))), 0)
    text = f"{abs(value):.{wanted}f}"
    if "." not in text:
        return 0
    return len(text.rstrip("0").split(".")[1])


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def format_number(value: float, decimals: int | None = None) -> str:
    """100000 → "100,000"; 0.5 → "0.5"; 1.2e6 → "1.20 × 10⁶"; −80 with a real minus."""
    if abs(value) >= 1e6:
        return _signed(scientific(value))
    places = _decimals(value) if decimals is None else decimals
    return _signed(f"{value:,.{places}f}")


def _with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("%", "×") else f"{text} {unit}"


def format_range(values: Iterable[Any], unit: str = "") -> str:
    """A range as written: "4 °C" when every value is the same, "0.5–1.0 mL" when they
    differ (both ends with the same decimals), "−80 to −70 °C" for negatives; "" when there
    is no number."""
    numbers = sorted(set(_finite(values)))
    if not numbers:
        return ""
    low, high = numbers[0], numbers[-1]
    if max(abs(low), abs(high)) >= 1e6:
        texts = [format_number(low), format_number(high)]
    else:
        places = max(_decimals(low), _decimals(high))  # only the ends are shown
        texts = [format_number(low, places), format_number(high, places)]
    if low == high:
        return _with_unit(texts[0], unit)
    joiner = " to " if low < 0 else EN_DASH
    return _with_unit(f"{texts[0]}{joiner}{texts[1]}", unit)


def format_volume(values_ml: Iterable[Any]) -> str:
    """Volumes in µL below 1 mL ("100 µL"), else in mL."""
    numbers = _finite(values_ml)
    if not numbers:
        return ""
    if max(numbers) < 1:
        return format_range((round(v * 1000, 6) for v in numbers), "µL")
    return format_range(numbers, "mL")


def format_minutes(values: Iterable[Any]) -> str:
    """Durations in min; in h when every one is two hours or more in whole half-hours."""
    numbers = _finite(values)
    if not numbers:
        return ""
    if min(numbers) >= 120 and all(v % 30 == 0 for v in numbers):
        return format_range((v / 60 for v in numbers), "h")
    return format_range(numbers, "min")


def _dilution(values: Iterable[Any]) -> str:
    """Dilution factors as ratios: "1:100" or "1:100–1:1,000"."""
    numbers = sorted(set(_finite(values)))
    if not numbers:
        return ""
    ends = [f"1:{format_number(v)}" for v in (numbers[0], numbers[-1])]
    return ends[0] if numbers[0] == numbers[-1] else f"{ends[0]}{EN_DASH}{ends[1]}"


def _leading_number(text: str) -> tuple[float, str]:
    """Sort key by the leading number: "30,000×" before "100,000×"."""
    digits = ""
    for char in text:
        if char.isdigit() or char == ".":
            digits += char
        elif char not in ",  ":
            break
    try:
        return float(digits), text
    except ValueError:
        return math.inf, text


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def _listing(items: Sequence[str], conjunction: str = "and") -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _tally(labels: Iterable[str], conjunction: str = "or") -> str:
    """Labels with counts: "K2-EDTA" when all agree, "K2-EDTA (n = 8) or citrate (n = 4)"
    when not."""
    counts = Counter(label for label in labels if label)
    if not counts:
        return ""
    if len(counts) == 1:
        return next(iter(counts))
    return _listing([f"{label} (n = {n})" for label, n in counts.most_common()], conjunction)


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for value in values:
        if value in (None, "", [], ()):
            continue
        key = tuple(value) if isinstance(value, list) else value
        seen.setdefault(key, None)
    return list(seen)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _rrid(value: str) -> str:
    value = value.strip()
    return value if not value or value.upper().startswith("RRID:") else f"RRID:{value}"


# --- What the facts leave out ---------------------------------------------------------------


@dataclass(frozen=True)
class MethodsDetails:
    """Details of the records behind the facts, keyed by preparation or record id."""

    preparations: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    particles: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    protein: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    markers: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    imaging: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    flow: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    dls: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


def _instrument(name: str | None, model: str | None) -> str:
    name, model = (name or "").strip(), (model or "").strip()
    if model and name and name != model:
        return f"{model} ({name})"
    return model or name


def load_details(facts: Mapping[int, PreparationFacts]) -> MethodsDetails:
    """The details ``compose_methods`` uses beyond the facts: seven queries at most,
    whatever the number of preparations."""
    from django.contrib.postgres.aggregates import ArrayAgg

    from .models import (
        DLSMeasurement,
        EVPreparation,
        FlowMeasurement,
        ImagingRecord,
        MarkerResult,
        ParticleMeasurement,
        ProteinMeasurement,
    )

    def ids(kind: str) -> list[int]:
        return sorted({record.id for f in facts.values() for record in f.records(kind)})

    preparations = {
        row["id"]: row
        for row in EVPreparation.objects.filter(pk__in=list(facts)).values(
            "id",
            "resuspension_buffer",
            "aliquot__sample__donor_id",
            "aliquot__sample__donor__species",
        )
    }
    particles = {}
    if wanted := ids("particles"):
        for row in ParticleMeasurement.objects.filter(pk__in=wanted).values(
            "id",
            "software_version",
            "instrument_file__instrument__name",
            "instrument_file__instrument__model",
        ):
            particles[row["id"]] = {
                "instrument": _instrument(
                    row["instrument_file__instrument__name"],
                    row["instrument_file__instrument__model"],
                ),
                "software": row["software_version"],
            }
    protein = {}
    if wanted := ids("protein"):
        for row in ProteinMeasurement.objects.filter(pk__in=wanted).values(
            "id",
            "assay_id",
            "assay__curve_model",
            "assay__sop",
            "sop",
            "instrument__name",
            "instrument__model",
            "assay__instrument__name",
            "assay__instrument__model",
        ):
            protein[row["id"]] = {
                "curve_model": row["assay__curve_model"] if row["assay_id"] else "",
                "sop": row["sop"] or row["assay__sop"] or "",
                "instrument": _instrument(row["instrument__name"], row["instrument__model"])
                or _instrument(row["assay__instrument__name"], row["assay__instrument__model"]),
            }
    markers = {}
    if wanted := ids("markers"):
        for row in MarkerResult.objects.filter(pk__in=wanted).values(
            "id", "loading_amount", "loading_unit", "reducing"
        ):
            markers[row["id"]] = row
    imaging = {}
    if wanted := ids("imaging"):
        for row in (
            ImagingRecord.objects.filter(pk__in=wanted)
            .annotate(magnifications=ArrayAgg("images__magnification", distinct=True, default=[]))
            .values(
                "id",
                "stain",
                "grid",
                "grid_positions_predefined",
                "magnifications",
                "instrument__name",
                "instrument__model",
            )
        ):
            imaging[row["id"]] = {
                **row,
                "instrument": _instrument(row["instrument__name"], row["instrument__model"]),
                "magnifications": [m for m in row["magnifications"] if m],
            }
    flow = {}
    if wanted := ids("flow"):
        for row in FlowMeasurement.objects.filter(pk__in=wanted).values(
            "id",
            "cytometer",
            "software_version",
            "trigger",
            "dilution_factor",
            "analysed_volume_ul",
            "file_volume_ul",
            "gating",
            "instrument__name",
            "instrument__model",
        ):
            flow[row["id"]] = {
                **row,
                "instrument": row["cytometer"]
                or _instrument(row["instrument__name"], row["instrument__model"]),
                "volume_ul": row["analysed_volume_ul"] or row["file_volume_ul"],
            }
    dls = {}
    if wanted := ids("dls"):
        for row in DLSMeasurement.objects.filter(pk__in=wanted).values(
            "id", "temperature_c", "dispersant", "instrument__name", "instrument__model"
        ):
            dls[row["id"]] = {
                **row,
                "instrument": _instrument(row["instrument__name"], row["instrument__model"]),
            }
    return MethodsDetails(
        preparations=preparations,
        particles=particles,
        protein=protein,
        markers=markers,
        imaging=imaging,
        flow=flow,
        dls=dls,
    )


# --- Samples and pre-analytics --------------------------------------------------------------


def _fluid_label(fluid: str) -> str:
    label = _FLUIDS.get(fluid, fluid.replace("_", " "))
    return label[0].lower() + label[1:] if label else "sample"


def _spin_text(spins: Sequence[Mapping[str, Any]]) -> str:
    """One spin position over many samples: "2,500 ×g for 15 min at 20 °C without brake"."""
    parts = [format_range((s.get("g") for s in spins), "×g")]
    bases = _unique(s.get("g_basis") for s in spins)
    if bases:
        parts[0] += f" ({'/'.join('average' if b == 'average' else 'maximum' for b in bases)} RCF)"
    rotors = _unique(s.get("rotor") for s in spins)
    if rotors:
        parts.append(f"in a {' or '.join(rotors)} rotor")
    if minutes := format_minutes(s.get("minutes") for s in spins):
        parts.append(f"for {minutes}")
    if temp := format_range((s.get("temp_c") for s in spins), "°C"):
        parts.append(f"at {temp}")
    brakes = {s.get("brake") for s in spins} - {None}
    if brakes == {True}:
        parts.append("with brake")
    elif brakes == {False}:
        parts.append("without brake")
    elif brakes:
        parts.append("with or without brake")
    return " ".join(p for p in parts if p)


_ORDINAL_COUNT = {1: "one", 2: "two", 3: "three", 4: "four"}


def _centrifugation_sentence(subject: str, verb: str, steps_by_sample: list[Any]) -> str:
    recorded = [s for s in steps_by_sample if s is not None]
    if not recorded:
        return ""
    groups: dict[int, list[list[Mapping[str, Any]]]] = {}
    for steps in recorded:
        groups.setdefault(len(steps), []).append(list(steps))
    clauses = []
    # Spun groups first, the largest first; "without centrifugation" reads last.
    for count, members in sorted(groups.items(), key=lambda item: (not item[0], -len(item[1]))):
        label = f" (n = {len(members)})" if len(groups) > 1 else ""
        if count == 0:
            clauses.append(f"without centrifugation{label}")
            continue
        spins = [_spin_text([steps[i] for steps in members]) for i in range(count)]
        number = _ORDINAL_COUNT.get(count, str(count))
        noun = "step" if count == 1 else "steps"
        clauses.append(f"{number} centrifugation {noun}{label}: {'; then '.join(spins)}")
    if clauses == ["without centrifugation"]:
        return f"{subject} {verb} not centrifuged before storage"
    return f"{subject} {verb} prepared by {' or '.join(clauses)}"


def _field_values(facts: Sequence[PreparationFacts], name: str) -> list[Any]:
    """One value per distinct sample (a sample used by many preparations counts once)."""
    by_sample = {f.sample.id: f.sample.fields.get(name) for f in facts}
    return list(by_sample.values())


_SUBJECTS = {FluidType.PLASMA: "Plasma", FluidType.SERUM: "Serum", FluidType.WHOLE_BLOOD: "Blood"}
_BLOOD = frozenset(_SUBJECTS)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


def _tube_clause(blood: bool, labels: list[str]) -> str:
    if not labels:
        return ""
    tubes = _tally(labels)
    if blood and not any("tube" in label.lower() for label in labels):
        return f"blood was collected into {tubes} tubes"
    return f"collection tube: {_lower_first(tubes)}"


def _samples_paragraph(facts: Sequence[PreparationFacts], details: MethodsDetails) -> str:
    samples = {f.sample.id: f for f in facts}
    s = list(samples.values())
    fluids = Counter(f.sample.fluid_type for f in s)
    only = next(iter(fluids)) if len(fluids) == 1 else None
    donors = {
        details.preparations.get(f.preparation.id, {}).get("aliquot__sample__donor_id")
        for f in facts
    } - {None}
    species = _tally(
        _SPECIES.get(code, code)
        for code in (
            details.preparations.get(f.preparation.id, {}).get("aliquot__sample__donor__species")
            for f in s
        )
        if code and code != Species.OTHER
    )
    if only:
        origin = _count(len(s), f"{_fluid_label(only)} sample")
    else:
        origin = (
            f"{_count(len(s), 'sample')} ({_tally(_fluid_label(f.sample.fluid_type) for f in s)})"
        )
    if donors:
        origin += f" from {_count(len(donors), 'donor')}"
    if species:
        origin += f" ({species})"
    sentences = [f"EV preparations (n = {len(facts)}) were made from {origin}"]
    if only:
        subject = _SUBJECTS.get(only) or _FLUIDS.get(only, "The sample")
        verb = "was"
    else:
        subject, verb = "Samples", "were"
    sv = _field_values

    tube_labels = [_TUBES.get(t, t) for t in sv(s, "tube_type") if t and t != TubeType.UNKNOWN]
    if tube_clause := _tube_clause(only in _BLOOD, tube_labels):
        sentences.append(tube_clause)
    fasting = [v for v in sv(s, "fasting_state") if v and v != FastingState.UNKNOWN]
    if fasting:
        text = f"donors were {_tally(dict(FastingState.choices)[v].lower() for v in fasting)}"
        if hours := format_range(sv(s, "fasting_hours"), "h"):
            text += f" (fasting {hours})"
        sentences.append(text)
    delay = format_minutes(sv(s, "time_to_processing_min"))
    if delay:
        text = f"time from collection to processing was {delay}"
        if temp := format_range(sv(s, "processing_temp_c"), "°C"):
            text += f" at {temp}"
        sentences.append(text)
    spin = _centrifugation_sentence(subject, verb, sv(s, "centrifugation_steps"))
    if spin:
        sentences.append(spin)
    post = format_minutes(sv(s, "post_centrifugation_delay_min"))
    if post:
        text = f"the delay from the last spin to storage was {post}"
        if temp := format_range(sv(s, "post_centrifugation_temp_c"), "°C"):
            text += f" at {temp}"
        sentences.append(text)

    quality = []
    if a414 := format_range(sv(s, "haemolysis_a414")):
        quality.append(f"haemolysis (A414) {a414}")
    if hb := format_range(sv(s, "free_haemoglobin_g_l"), "g/L"):
        quality.append(f"free haemoglobin {hb}")
    if platelets := format_range(sv(s, "residual_platelets_per_ml"), "/mL"):
        quality.append(f"residual platelets {platelets}")
    if quality:
        sentences.append(f"{_listing(quality)}")

    voids = [_VOIDS.get(v, v).lower() for v in sv(s, "urine_void_type") if v]
    if voids:
        text = f"urine was collected as {_tally(voids)} void"
        if creatinine := format_range(sv(s, "creatinine_mmol_l"), "mmol/L"):
            text += f" (creatinine {creatinine})"
        sentences.append(text)
    cell_lines = _tally(v for v in sv(s, "cell_line") if v)
    if cell_lines:
        text = f"conditioned medium was collected from {cell_lines} cells"
        if passage := format_range(sv(s, "passage_number")):
            text += f" at passage {passage}"
        sera = [_SERA.get(v, v).lower() for v in sv(s, "culture_serum") if v]
        if sera:
            text += f", cultured with {_tally(sera)}"
            depletion = [_DEPLETION.get(v, v).lower() for v in sv(s, "serum_ev_depletion") if v]
            if depletion:
                text += f" (EV depletion: {_tally(depletion)})"
        if hours := format_range(sv(s, "conditioning_hours"), "h"):
            text += f", conditioned for {hours}"
        if viability := format_range(sv(s, "viability_at_harvest_pct"), "%"):
            text += f"; viability at harvest {viability}"
        sentences.append(text)

    storage = format_range(sv(s, "storage_temp_c"), "°C")
    containers = _tally(_CONTAINERS.get(c, c) for c in sv(s, "storage_container") if c)
    if storage or containers:
        text = "samples were stored"
        if storage:
            text += f" at {storage}"
        if containers:
            text += f" (container: {_lower_first(containers)})"
        sentences.append(text)
    codes = [f.sample.sprec_code for f in s if f.sample.sprec_code]
    if codes:
        sentences.append(f"SPREC code {_tally(codes)}")
    thaws = [
        f.run.input_freeze_thaw_count for f in facts if f.run.input_freeze_thaw_count is not None
    ]
    if thaws and not max(thaws):
        sentences.append("the input material had not been frozen and thawed before isolation")
    elif thaws:
        cycles = format_range(thaws)
        noun = "cycle" if max(thaws) == 1 and min(thaws) == 1 else "cycles"
        sentences.append(
            f"the input material had been through {cycles} freeze–thaw {noun} before isolation"
        )
    return " ".join(_sentence(x) for x in sentences)


# --- Isolation -------------------------------------------------------------------------------


def _param_values(params: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    return [p.get(name) for p in params if p.get(name) not in (None, "", [])]


def _choice_label(kind: str, name: str, value: Any) -> str:
    try:
        schema = schema_for(kind)
    except Exception:  # an unknown kind stored before the schema changed: show the code
        return str(value)
    for param in schema["parameters"]:
        if param["name"] == name:
            labels = {c["value"]: c["label"] for c in param["choices"]}
            return labels.get(value, str(value))
    return str(value)


def _schema_params(kind: str) -> dict[str, dict[str, Any]]:
    try:
        return {p["name"]: p for p in schema_for(kind)["parameters"]}
    except Exception:
        return {}


def _generic(kind: str, name: str, values: list[Any]) -> str:
    """Any parameter, from its schema's type and unit."""
    param = _schema_params(kind).get(name, {"type": "", "unit": "", "label": name})
    kind_of = param.get("type", "")
    unit = param.get("unit", "")
    if kind_of == "bool":
        states = set(values)
        return "yes" if states == {True} else "no" if states == {False} else "yes or no"
    if kind_of == "choice":
        return " or ".join(_lower_first(_choice_label(kind, name, v)) for v in _unique(values))
    if kind_of == "list":
        return " or ".join(
            ", ".join(format_number(float(i)) if isinstance(i, (int, float)) else str(i) for i in v)
            for v in _unique(values)
        )
    if kind_of == "mapping":
        entries = []
        for mapping in values:
            for key, value in (mapping or {}).items():
                text = (
                    format_number(float(value))
                    if isinstance(value, (int, float)) and not isinstance(value, bool)
                    else str(value)
                )
                entries.append(f"{key} {text}")
        return "; ".join(_unique(entries))
    numbers = _finite(values)
    if numbers and len(numbers) == len(values):
        if unit == "mL":
            return format_volume(numbers)
        if unit == "min":
            return format_minutes(numbers)
        return format_range(numbers, unit)
    return " or ".join(str(v) for v in _unique(values))


def _force(params: Sequence[Mapping[str, Any]]) -> str:
    """The force: "at 100,000 ×g (average RCF; 38,000 rpm)", or "at 38,000 rpm" without one."""
    force = format_range(_param_values(params, "g_force"), "×g")
    rpm = format_range(_param_values(params, "rpm"), "rpm")
    if not force:
        return f"at {rpm}" if rpm else ""
    notes = []
    bases = _unique(_param_values(params, "g_basis"))
    if bases:
        notes.append(f"{'/'.join('average' if b == 'average' else 'maximum' for b in bases)} RCF")
    if rpm:
        notes.append(rpm)
    return f"at {force}" + (f" ({'; '.join(notes)})" if notes else "")


def _spun(params: Sequence[Mapping[str, Any]]) -> str:
    force = _force(params)
    return f", spun {force}" if force else ""


def _loading(params: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    if loading := _param_values(params, "loading"):
        parts.append(f"{_generic(StepKind.DENSITY_GRADIENT, 'loading', loading)} loading")
    if layers := format_range(_param_values(params, "layers")):
        text = f"{layers} layers"
        if volume := format_volume(_param_values(params, "layer_volume_ml")):
            text += f" of {volume} each"
        parts.append(text)
    return f"({', '.join(parts)})" if parts else ""


def _gradient_range(params: Sequence[Mapping[str, Any]]) -> str:
    low = format_range(_param_values(params, "range_from_percent"), "%")
    high = format_range(_param_values(params, "range_to_percent"), "%")
    if low and high:
        return f"from {low} to {high} (w/v)"
    return f"from {low} (w/v)" if low else f"up to {high} (w/v)" if high else ""


def _rotor(params: Sequence[Mapping[str, Any]]) -> str:
    names = _unique(_param_values(params, "rotor"))
    if not names:
        return ""
    notes = []
    types = _unique(_ROTOR_TYPES.get(t, str(t)) for t in _param_values(params, "rotor_type"))
    if types:
        notes.append(" or ".join(types))
    if k := format_range(_param_values(params, "k_factor")):
        notes.append(f"k-factor {k}")
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"in a {' or '.join(names)} rotor{suffix}"


def _brake(params: Sequence[Mapping[str, Any]]) -> str:
    states = set(_param_values(params, "brake"))
    if states == {True}:
        return "with brake"
    if states == {False}:
        return "without brake"
    return "with or without brake" if states else ""


def _resuspension(params: Sequence[Mapping[str, Any]]) -> str:
    buffer = " or ".join(_unique(_param_values(params, "resuspension_buffer")))
    volume = format_volume(_param_values(params, "resuspension_volume_ml"))
    if not buffer and not volume:
        return ""
    text = ", pellet resuspended"
    if volume:
        text += f" in {volume}"
    if buffer:
        text += f" {'of' if volume else 'in'} {buffer}"
    return text


def _pooled(params: Sequence[Mapping[str, Any]]) -> str:
    pooled = _unique(_param_values(params, "fractions_pooled"))
    if not pooled:
        return ""
    text = " or ".join(", ".join(str(i) for i in group) for group in pooled)
    densities = format_range(
        (d for p in params for d in (p.get("pooled_densities_g_ml") or [])), "g/mL"
    )
    return f", fractions {text} pooled" + (f" ({densities})" if densities else "")


# Each step kind's phrase: (parameters consumed, template or function). A template's "{}"
# takes the formatted value; parameters not named here are appended generically, so a
# recorded value never disappears from the text.
_Part = tuple[tuple[str, ...], str | Callable[[Sequence[Mapping[str, Any]]], str]]
_SPIN: tuple[_Part, ...] = (
    (("g_force", "g_basis", "rpm"), _force),
    (("rotor", "rotor_type", "k_factor"), _rotor),
    (("duration_min",), "for {}"),
    (("temperature_c",), "at {}"),
    (("brake",), _brake),
)
_PHRASES: dict[str, tuple[_Part, ...]] = {
    StepKind.DIFFERENTIAL_CENTRIFUGATION: (
        *_SPIN,
        (("repeats",), ", repeated {} times"),
        (("tube_volume_ml",), ", {} per tube"),
        (("keep",), ", keeping the {}"),
    ),
    StepKind.ULTRACENTRIFUGATION: (
        *_SPIN,
        (("tube_type",), ", in {} tubes"),
        (("fill_volume_ml",), "filled with {}"),
        (("washes",), ", with {} wash(es)"),
        (("resuspension_buffer", "resuspension_volume_ml"), _resuspension),
    ),
    StepKind.DENSITY_GRADIENT: (
        (("medium",), "in {}"),
        (("range_from_percent", "range_to_percent"), _gradient_range),
        (("loading", "layers", "layer_volume_ml"), _loading),
        *_SPIN,
        (("fractions_collected",), ", {} fractions collected"),
        (("fraction_volume_ml",), "of {}"),
        (("fractions_pooled", "pooled_densities_g_ml"), _pooled),
    ),
    StepKind.SEC: (
        (("column",), "on {}"),
        (("resin",), "({})"),
        (("bed_volume_ml",), ", bed volume {}"),
        (("load_volume_ml",), ", {} loaded"),
        (("void_volume_ml",), ", {} void discarded"),
        (("fraction_volume_ml",), ", {} fractions collected"),
        (("fractions_pooled", "pooled_densities_g_ml"), _pooled),
        (("eluent",), ", eluted with {}"),
    ),
    StepKind.PRECIPITATION: (
        (("reagent",), "with {}"),
        (("lot",), "(lot {})"),
        (("peg_percent",), ", PEG {} (w/v)"),
        (("reagent_to_sample_ratio",), ", reagent:sample volume ratio {}"),
        (("incubation_min",), ", incubated for {}"),
        (("incubation_temperature_c",), "at {}"),
        (("g_force", "g_basis"), _spun),
        (("spin_duration_min",), "for {}"),
        (("spin_temperature_c",), "at {}"),
    ),
    StepKind.ULTRAFILTRATION: (
        (("device",), "with {}"),
        (("membrane",), "({} membrane)"),
        (("mwco_kda",), ", MWCO {}"),
        (("mode",), ", {}"),
        (("g_force", "g_basis"), _spun),
        (("pressure_bar",), ", at a transmembrane pressure of {}"),
        (("duration_min",), "for {}"),
        (("final_volume_ml",), ", to a final volume of {}"),
    ),
    StepKind.IMMUNOAFFINITY: (
        (("target_antigen",), "capturing {}-positive EVs"),
        (("antibody_clone",), "with antibody clone {}"),
        (("antibody_catalogue",), "(cat. no. {})"),
        (("antibody_rrid",), "({})"),
        (("beads",), "on {}"),
        (("bead_volume_ml",), "({})"),
        (("incubation_min",), ", incubated for {}"),
        (("incubation_temperature_c",), "at {}"),
        (("elution",), ", elution: {}"),
    ),
    StepKind.FILTRATION: (
        (("pore_size_um",), "through {} filters"),
        (("membrane",), "({})"),
        (("device",), "({})"),
        (("position",), ", {}"),
    ),
    StepKind.AF4: (
        (("channel",), "channel {}"),
        (("spacer_um",), ", spacer {}"),
        (("cross_flow_program",), ", cross-flow {}"),
        (("detectors",), ", detectors {}"),
        (("fractions_collected",), ", {} fractions collected"),
        (("injection_volume_ml",), ", {} injected"),
    ),
    StepKind.KIT: (
        (("vendor",), "{}"),
        (("kit_name",), "{}"),
        (("catalogue_number",), "(cat. no. {})"),
        (("lot",), "(lot {})"),
        (("input_volume_ml",), ", {} input"),
    ),
    StepKind.OTHER: ((("name",), "{}"),),
}


def _format_param(kind: str, name: str, values: list[Any]) -> str:
    if name == "antibody_rrid":
        return " or ".join(_rrid(str(v)) for v in _unique(values))
    return _generic(kind, name, values)


def step_phrase(kind: str, params: Sequence[Mapping[str, Any]]) -> str:
    """One protocol step over every run that used it: "ultracentrifugation at 100,000 ×g
    (average RCF) in a SW 41 Ti rotor (swinging-bucket, k-factor 124) for 70 min at 4 °C"."""
    label = _STEP_KINDS.get(kind, kind.replace("_", " "))
    label = label[0].lower() + label[1:] if not label[:3].isupper() else label
    parts: list[str] = []
    used: set[str] = set()
    for names, template in _PHRASES.get(kind, ()):
        used.update(names)
        if callable(template):
            text = template(params)
        else:
            values = _param_values(params, names[0])
            text = template.format(_format_param(kind, names[0], values)) if values else ""
        if text:
            parts.append(text)
    for name in _unique(n for p in params for n in p):
        if name in used or name in ("g_basis", "rpm", "rotor_type", "k_factor"):
            continue
        values = _param_values(params, name)
        if values:
            shown = _schema_params(kind).get(name, {}).get("label", name.replace("_", " "))
            value = _format_param(kind, name, values)
            # Free-form extras ("other parameters") read as themselves: ", flow 0.5 mL/min".
            is_mapping = all(isinstance(v, Mapping) for v in values)
            parts.append(f", {value}" if is_mapping else f", {_lower_first(shown)} {value}")
    text = label
    for part in parts:
        text += part if part.startswith(",") else f" {part}"
    return text


def _isolation_paragraph(facts: Sequence[PreparationFacts], details: MethodsDetails) -> str:
    groups: dict[Any, list[PreparationFacts]] = {}
    for f in facts:
        groups.setdefault(f.run.version_id, []).append(f)
    sentences = []
    for members in groups.values():
        run = members[0].run
        runs = {f.run.id for f in members}
        fluid = _tally(_fluid_label(f.sample.fluid_type) for f in members)
        volume = format_volume(f.run.input_volume_ml for f in members)
        intro = f"EVs were separated from {volume + ' of ' if volume else ''}{fluid}"
        name = f'"{run.protocol_name}" {run.version_label}'.strip()
        intro += f" with the protocol {name}"
        intro += f" (n = {_count(len(members), 'preparation')} from {_count(len(runs), 'run')}"
        if run.recovery_specificity:
            intro += f"; MISEV2018 class: {_RECOVERY.get(run.recovery_specificity, '').lower()}"
        sentences.append(intro + ")")
        orders = sorted({s.order for f in members for s in f.run.steps})
        steps = []
        for number, order in enumerate(orders, start=1):
            used = [s for f in members for s in f.run.steps if s.order == order]
            kind = used[0].kind
            steps.append(f"({number}) {step_phrase(kind, [dict(s.params) for s in used])}")
        if steps:
            sentences.append(f"the steps were: {'; '.join(steps)}")
        if any(f.run.has_actuals for f in members):
            sentences.append(
                "values are those the runs actually used, including where a run differed "
                "from the protocol"
            )
        deviations = _unique(f.run.deviations.strip() for f in members)
        if deviations:
            by_text = {
                text: sorted({f.run.id for f in members if f.run.deviations.strip() == text})
                for text in deviations
            }
            listed = "; ".join(
                f"run{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}: {text.rstrip('.')}"
                for text, ids in by_text.items()
            )
            sentences.append(f"deviations recorded: {listed}")
        buffers = _unique(
            details.preparations.get(f.preparation.id, {}).get("resuspension_buffer", "")
            for f in members
        )
        volumes = {f.preparation.resuspension_volume_ml for f in members} - {None}
        in_steps = [dict(s.params) for f in members for s in f.run.steps]
        said = {float(v) for v in _param_values(in_steps, "resuspension_volume_ml")}
        said_buffers = set(_param_values(in_steps, "resuspension_buffer"))
        if volumes <= said and set(buffers) <= said_buffers:
            volumes, buffers = set(), []  # the last step already says it
        resuspension = format_volume(volumes)
        if resuspension or buffers:
            text = "preparations were resuspended"
            if resuspension:
                text += f" in {resuspension}"
            if buffers:
                text += f" {'of' if resuspension else 'in'} {' or '.join(buffers)}"
            sentences.append(text)
        terms = _tally(
            _TERMS.get(f.preparation.nomenclature_term, f.preparation.nomenclature_term)
            for f in members
        )
        if terms:
            text = f"the preparations are reported as {_lower_first(terms)} (MISEV2023 nomenclature"
            authors = _unique(f.preparation.author_term for f in members)
            if authors:
                text += f"; authors' term: {' or '.join(f'“{a}”' for a in authors)}"
            sentences.append(text + ")")
        fractions = _unique(f.preparation.fraction for f in members)
        if fractions:
            sentences.append(f"fraction: {' or '.join(fractions)}")
        storage = format_range((f.storage.temperature_c for f in members), "°C")
        if storage:
            sentences.append(f"EV preparations were stored at {storage}")
    return " ".join(_sentence(x) for x in sentences)


# --- Characterisation ------------------------------------------------------------------------


def _per_record(facts: Sequence[PreparationFacts], kind: str) -> list[Any]:
    """Each record once, even when two selected preparations share a tube."""
    records: dict[int, Any] = {}
    for f in facts:
        for record in f.records(kind):
            records.setdefault(record.id, record)
    return list(records.values())


def _setting_values(records: Sequence[Any], key: str) -> list[Any]:
    values: list[Any] = []
    for record in records:
        value = record.settings.get(key)
        if isinstance(value, list):
            values.extend(value)
        elif value not in (None, ""):
            values.append(value)
    return values


def _particle_sentences(facts: Sequence[PreparationFacts], details: MethodsDetails) -> list[str]:
    records = _per_record(facts, "particles")
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in records:
        instrument = details.particles.get(r.id, {}).get("instrument", "")
        groups.setdefault((r.method, instrument), []).append(r)
    sentences = []
    for (method, instrument), members in groups.items():
        label = _PARTICLE_METHODS.get(method, method)
        text = f"particle concentration and size were measured by {label}"
        if instrument:
            text += f" on a {instrument}"
        software = _unique(details.particles.get(r.id, {}).get("software") for r in members)
        if software:
            text += f", software {' or '.join(software)}"
        settings = []
        for key, name, unit in _PARTICLE_SETTINGS.get(method, ()):
            values = _setting_values(members, key)
            numbers = _finite(values)
            if numbers and len(numbers) == len(values):
                settings.append(f"{name} {format_range(numbers, unit)}")
            elif values:
                settings.append(f"{name} {' or '.join(str(v) for v in _unique(values))}")
        replicates = format_range(r.replicates for r in members)
        if replicates:
            noun = "videos" if method == ParticleMethod.NTA else "replicates"
            settings.append(f"{replicates} {noun} per sample")
        if dilution := _dilution(r.dilution_factor for r in members):
            settings.append(f"dilution {dilution}")
        text += f" (n = {_count(len(members), 'measurement')})"
        if settings:
            text += f": {', '.join(settings)}"
        sentences.append(text)
    return sentences


def _protein_sentences(facts: Sequence[PreparationFacts], details: MethodsDetails) -> list[str]:
    records = _per_record(facts, "protein")
    groups: dict[str, list[Any]] = {}
    for r in records:
        groups.setdefault(r.method, []).append(r)
    sentences = []
    for method, members in groups.items():
        text = f"protein was quantified by {_PROTEIN_METHODS.get(method, method)}"
        notes = []
        curves = [details.protein.get(r.id, {}).get("curve_model") for r in members]
        curves = [_CURVES.get(c, c).lower() for c in curves if c]
        if curves:
            notes.append(f"standard curve: {_tally(curves)}")
        instruments = _unique(details.protein.get(r.id, {}).get("instrument") for r in members)
        if instruments:
            notes.append(f"read on {' or '.join(instruments)}")
        kits = _unique(details.protein.get(r.id, {}).get("sop") for r in members)
        if kits:
            notes.append(f"kit/SOP {' or '.join(kits)}")
        text += (
            f" (n = {_count(len(members), 'measurement')}{'; ' if notes else ''}{'; '.join(notes)})"
        )
        sentences.append(text)
    return sentences


def _antibody(marker: Any) -> str:
    parts = []
    if marker.antibody_clone:
        parts.append(f"clone {marker.antibody_clone}")
    if marker.antibody_vendor:
        parts.append(marker.antibody_vendor)
    if marker.antibody_catalogue:
        parts.append(f"cat. no. {marker.antibody_catalogue}")
    if marker.antibody_lot:
        parts.append(f"lot {marker.antibody_lot}")
    if marker.antibody_rrid:
        parts.append(_rrid(marker.antibody_rrid))
    if marker.antibody_dilution:
        parts.append(marker.antibody_dilution)
    return ", ".join(parts)


def _marker_sentences(facts: Sequence[PreparationFacts], details: MethodsDetails) -> list[str]:
    # Detection counts per preparation: a marker "detected in 11 of 12 preparations".
    by_method: dict[str, dict[str, dict[str, Any]]] = {}
    for f in facts:
        for m in f.markers:
            entry = by_method.setdefault(m.method, {}).setdefault(
                m.symbol,
                {"category": m.category, "antibodies": [], "detected": set(), "reported": set()},
            )
            entry["antibodies"].append(_antibody(m))
            entry["reported"].add(f.preparation.id)
            if m.detection == Detection.DETECTED:
                entry["detected"].add(f.preparation.id)
    sentences = []
    for method, symbols in by_method.items():
        records = [m for f in facts for m in f.markers if m.method == method]
        notes = []
        buffers = _unique(m.lysis_buffer for m in records)
        if buffers:
            notes.append(f"lysis buffer {' or '.join(buffers)}")
        loads = [details.markers.get(m.id, {}) for m in records]
        loading = {}
        for row in loads:
            if row.get("loading_amount") is not None and row.get("loading_unit"):
                loading.setdefault(row["loading_unit"], []).append(row["loading_amount"])
        for unit, amounts in loading.items():
            notes.append(f"{format_range(amounts)} {_LOADING.get(unit, unit)} loaded")
        reducing = {row.get("reducing") for row in loads} - {None}
        if reducing == {True}:
            notes.append("reducing conditions")
        elif reducing == {False}:
            notes.append("non-reducing conditions")
        elif reducing:
            notes.append("reducing and non-reducing conditions")
        items = []
        for symbol, entry in sorted(
            symbols.items(), key=lambda item: (_CATEGORY_ORDER.get(item[1]["category"], 9), item[0])
        ):
            antibodies = _unique(entry["antibodies"])
            found, looked = len(entry["detected"]), len(entry["reported"])
            if looked == 1:
                outcome = "detected" if found else "not detected"
            elif found:
                outcome = f"detected in {found} of {looked} preparations"
            else:
                outcome = f"not detected in any of {looked} preparations"
            inside = "; ".join([*antibodies, outcome])
            role = (
                "EV marker"
                if entry["category"] in _EV_CATEGORIES
                else "purity marker"
                if entry["category"] in _PURITY_CATEGORIES
                else ""
            )
            items.append(f"{symbol}{' [' + role + ']' if role else ''} ({inside})")
        label = _MARKER_METHODS.get(method, method)
        text = f"{label}{' (' + '; '.join(notes) + ')' if notes else ''} was used for {_listing(items)}"
        sentences.append(text)
    return sentences


def _imaging_sentences(facts: Sequence[PreparationFacts], details: MethodsDetails) -> list[str]:
    records = _per_record(facts, "imaging")
    groups: dict[str, list[Any]] = {}
    for r in records:
        groups.setdefault(r.method, []).append(r)
    sentences = []
    for method, members in groups.items():
        extra = [details.imaging.get(r.id, {}) for r in members]
        text = f"single vesicles were imaged by {_IMAGING.get(method, method)}"
        parts = []
        stains = _unique(e.get("stain") for e in extra)
        if stains:
            parts.append(f"stained with {' or '.join(stains)}")
        grids = _unique(e.get("grid") for e in extra)
        if grids:
            parts.append(f"on {' or '.join(grids)} grids")
        instruments = _unique(e.get("instrument") for e in extra)
        if instruments:
            parts.append(f"on a {' or '.join(instruments)}")
        magnifications = sorted(
            _unique(m for e in extra for m in e.get("magnifications", [])), key=_leading_number
        )
        if magnifications:
            parts.append(f"magnification {', '.join(magnifications)}")
        views = [v for v in ImageView.values if any(v in r.views for r in members)]
        if views:
            parts.append(f"{_listing([_VIEWS.get(v, v).lower() for v in views])} images")
        if any(e.get("grid_positions_predefined") for e in extra):
            parts.append("images taken at predefined grid positions")
        counted = format_range(r.n_vesicles_measured for r in members)
        if counted:
            parts.append(f"sizes measured on {counted} vesicles per preparation")
        text += f" (n = {_count(len(members), 'session')})"
        if parts:
            text += f": {', '.join(parts)}"
        sentences.append(text)
    return sentences


def _flow_sentences(facts: Sequence[PreparationFacts], details: MethodsDetails) -> list[str]:
    records = _per_record(facts, "flow")
    if not records:
        return []
    extra = [details.flow.get(r.id, {}) for r in records]
    text = "flow cytometry was reported following MIFlowCyt-EV"
    parts = []
    instruments = _unique(e.get("instrument") for e in extra)
    if instruments:
        parts.append(f"cytometer {' or '.join(instruments)}")
    triggers = _unique(e.get("trigger") for e in extra)
    if triggers:
        parts.append(f"trigger {' or '.join(triggers)}")
    software = _unique(e.get("software_version") for e in extra)
    if software:
        parts.append(f"software {' or '.join(software)}")
    beads = _unique(r.calibration_beads for r in records)
    if beads:
        parts.append(f"calibration with {' or '.join(beads)}")
    scatter = _unique(_SCATTER_TEXT.get(r.scatter_unit, r.scatter_unit) for r in records)
    if scatter:
        text_scatter = f"scatter in {' or '.join(scatter)}"
        if ri := format_range(r.refractive_index_assumed for r in records):
            text_scatter += f" (assumed EV refractive index {ri})"
        parts.append(text_scatter)
    fluorescence = _unique(
        _FLUORESCENCE.get(r.fluorescence_unit, r.fluorescence_unit) for r in records
    )
    if fluorescence:
        parts.append(
            f"fluorescence in {' or '.join(f.lower() if f.startswith('Arb') else f for f in fluorescence)}"
        )
    for unit in _unique(r.scatter_unit for r in records):
        lod = format_range(r.lod_scatter for r in records if r.scatter_unit == unit)
        if lod:
            shown = {"nm": " nm", "nm2": " nm²"}.get(unit, " a.u.")
            parts.append(f"scatter limit of detection {lod}{shown}")
    for unit in _unique(r.fluorescence_unit for r in records):
        lod = format_range(r.lod_fluorescence for r in records if r.fluorescence_unit == unit)
        if lod:
            shown = f" {unit}" if unit in ("MESF", "ERF") else " a.u."
            parts.append(f"fluorescence limit of detection {lod}{shown}")
    controls = _unique(c for r in records for c in sorted(r.control_kinds) if c)
    if controls:
        parts.append(f"controls: {_listing([_CONTROLS.get(c, c).lower() for c in controls])}")
    if dilution := _dilution(
        e.get("dilution_factor") for e in extra if e.get("dilution_factor") != 1
    ):
        parts.append(f"dilution {dilution}")
    if volume := format_range((e.get("volume_ul") for e in extra), "µL"):
        parts.append(f"analysed volume {volume}")
    text += f" (n = {_count(len(records), 'acquisition')})"
    if parts:
        text += f": {', '.join(parts)}"
    return [text]


def _dls_sentences(facts: Sequence[PreparationFacts], details: MethodsDetails) -> list[str]:
    records = _per_record(facts, "dls")
    if not records:
        return []
    extra = [details.dls.get(r.id, {}) for r in records]
    kinds = _unique(r.measurement for r in records)
    what = _listing(
        ["hydrodynamic size (Z-average, PDI)" if k == "size" else "zeta potential" for k in kinds]
    )
    text = f"{what} {'was' if len(kinds) == 1 else 'were'} measured by dynamic/electrophoretic light scattering"
    parts = []
    instruments = _unique(e.get("instrument") for e in extra)
    if instruments:
        parts.append(f"on a {' or '.join(instruments)}")
    if temp := format_range((e.get("temperature_c") for e in extra), "°C"):
        parts.append(f"at {temp}")
    dispersants = _unique(e.get("dispersant") for e in extra)
    if dispersants:
        parts.append(f"in {' or '.join(dispersants)}")
    return [f"{text} {' '.join(parts)} (n = {_count(len(records), 'record')})".replace("  ", " ")]


def _qpcr_sentences(facts: Sequence[PreparationFacts]) -> list[str]:
    targets = sorted({q.target for f in facts for q in f.qpcr if q.target})
    if not targets:
        return []
    return [f"RNA cargo was measured by qPCR for {_listing(targets)}"]


def _characterisation_paragraph(facts: Sequence[PreparationFacts], details: MethodsDetails) -> str:
    sentences = [
        *_particle_sentences(facts, details),
        *_protein_sentences(facts, details),
        *_marker_sentences(facts, details),
        *_imaging_sentences(facts, details),
        *_flow_sentences(facts, details),
        *_dls_sentences(facts, details),
        *_qpcr_sentences(facts),
    ]
    if not sentences:
        return "No characterisation of these preparations is recorded yet."
    return " ".join(_sentence(s) for s in sentences)


# --- Public surface --------------------------------------------------------------------------


def compose_methods(
    facts: Sequence[PreparationFacts], details: MethodsDetails | None = None
) -> str:
    """The methods text for ``facts``: samples and pre-analytics, isolation,
    characterisation, one paragraph each. Pure: no database."""
    if not facts:
        return NO_PREPARATIONS
    details = details or MethodsDetails()
    ordered = sorted(facts, key=lambda f: f.preparation.id)
    paragraphs = [
        _samples_paragraph(ordered, details),
        _isolation_paragraph(ordered, details),
        _characterisation_paragraph(ordered, details),
    ]
    return "\n\n".join(p for p in paragraphs if p)


def methods_paragraph(preparation_ids: Iterable[int]) -> str:
    """The methods text for the given preparations (ids that do not exist are left out).
    Access control is the caller's: pass only preparations the user may see."""
    facts = load_facts(preparation_ids)
    if not facts:
        return NO_PREPARATIONS
    return compose_methods(list(facts.values()), load_details(facts))


def study_methods(study: Any) -> str:
    """The methods text for every EV preparation of ``study`` (a Study or its id)."""
    from .models import EVPreparation

    study_id = getattr(study, "pk", study)
    ids = EVPreparation.objects.filter(run__study_id=study_id).values_list("id", flat=True)
    return methods_paragraph(list(ids))
