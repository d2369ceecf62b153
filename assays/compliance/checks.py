"""The checks a compliance rule can name, and when a rule applies.

A rule (``ComplianceRule`` row) says *which* check to run with *which* parameters, and
*when* it applies; the checks here are small generic functions of a preparation's facts, so
a lab makes a new rule (another marker list, another threshold, another field) by writing a
row, not code. Every check validates its parameters (``Check.validate_params``) so a rule
with a typo is refused when it is saved, not silently never fulfilled.

A check returns an ``Outcome``: pass, fail, warn (requirement met, but something in the
records is doubtful) or na (nothing to judge), a sentence saying why, and the records that
were the evidence. ``flag`` marks an outcome about an implausible recorded value (a density
outside the EV range, a −20 °C freezer) rather than about missing information; the engine
lists those as plausibility flags. Checks of kind "plausibility" never enter the profile
scores: the scores measure reporting, the flags measure doubt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError

from assays.choices import (
    ANTIBODY_METHODS,
    LYSATE_METHODS,
    ControlKind,
    Detection,
    ImageView,
    ImagingMethod,
    MarkerCategory,
    MarkerMethod,
    NomenclatureTerm,
    ParticleMethod,
    StepKind,
)
from samples.choices import (
    CultureSerum,
    FastingState,
    FluidType,
    SerumEVDepletion,
    StorageContainer,
    TubeType,
    UrineVoid,
)

from ..steps import parameters_for
from . import purity
from .facts import (
    MEASUREMENT_KINDS,
    SAMPLE_FIELDS,
    Evidence,
    PreparationFacts,
    PreparationInfo,
    RunInfo,
    SampleInfo,
    StorageInfo,
)

__all__ = [
    "CHECKS",
    "FACT_FLAGS",
    "PROFILES",
    "Check",
    "Evidence",
    "Outcome",
    "P",
    "antibody_gaps",
    "applies",
    "compile_applies_when",
    "resolve",
    "validate_applies_when",
    "validate_path",
]

PROFILES = ("MISEV2018", "MISEV2023", "EV-METRIC", "MIBlood-EV", "urine")
STATUSES = ("pass", "fail", "warn", "na")
EV_TERMS = frozenset({"EV", "small_EV", "large_EV"})
BLOOD = frozenset({"plasma", "serum", "whole_blood"})
SEPARATION_KINDS = (
    "ultracentrifugation",
    "density_gradient",
    "sec",
    "precipitation",
    "ultrafiltration",
    "immunoaffinity",
    "af4",
    "kit",
)
# Single-particle methods a rule may name: the parsed ones plus those entered by hand.
PARTICLE_METHODS = (*ParticleMethod.values, "TRPS", "MRPS", "flow", "dls")


class Outcome(NamedTuple):
    """What a check concluded (a named tuple: one is made per rule and preparation)."""

    status: str
    message: str
    evidence: tuple[Evidence, ...] = ()
    flag: bool = False
    # What this outcome lacks when that is narrower than the rule's own fix_kind (a rule
    # asking for particles *and* protein, where only particles are missing).
    fix_kind: str = ""


def _pass(message: str, evidence: Iterable[Evidence] = ()) -> Outcome:
    return Outcome("pass", message, tuple(evidence))


def _fail(message: str, evidence: Iterable[Evidence] = (), *, flag: bool = False) -> Outcome:
    return Outcome("fail", message, tuple(evidence), flag)


def _warn(message: str, evidence: Iterable[Evidence] = (), *, flag: bool = True) -> Outcome:
    return Outcome("warn", message, tuple(evidence), flag)


def _na(message: str, evidence: Iterable[Evidence] = ()) -> Outcome:
    return Outcome("na", message, tuple(evidence))


def _status(status: str, message: str, evidence: Iterable[Evidence] = (), *, flag=False):
    return Outcome(status, message, tuple(evidence), flag and status in ("warn", "fail"))


# --- Paths into the facts ------------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "preparation": PreparationInfo,
    "run": RunInfo,
    "sample": SampleInfo,
    "storage": StorageInfo,
}


def _section_names(section: str) -> set[str]:
    names = {f.name for f in fields(_SECTIONS[section])}
    if section == "sample":
        names = (names - {"fields"}) | set(SAMPLE_FIELDS)
    return names


def validate_path(path: Any) -> list[str]:
    """``section.field`` or ``section.list_field[].key`` (e.g. sample.tube_type,
    sample.centrifugation_steps[].brake, run.input_volume_ml)."""
    if not isinstance(path, str) or "." not in path:
        return [f"{path!r} is not a path like sample.tube_type."]
    section, _, rest = path.partition(".")
    if section not in _SECTIONS:
        return [f"{path}: starts with one of {', '.join(_SECTIONS)}."]
    name = rest.split(".", 1)[0].removesuffix("[]")
    if name not in _section_names(section):
        known = ", ".join(sorted(_section_names(section)))
        return [f"{path}: {section} has no field {name!r} (one of {known})."]
    return []


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, SampleInfo) and key in obj.fields:
        return obj.fields[key]
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def resolve(facts: PreparationFacts, path: str) -> list[Any]:
    """The values at ``path``: one for a plain path, one per item after ``[]`` (an empty
    list gives none)."""
    section, _, rest = path.partition(".")
    values: list[Any] = [getattr(facts, section)]
    for part in rest.split("."):
        spread = part.endswith("[]")
        key = part.removesuffix("[]")
        nxt: list[Any] = []
        for value in values:
            got = None if value is None else _get(value, key)
            if spread and isinstance(got, (list, tuple)):
                nxt.extend(got)
            else:
                nxt.append(got)
        values = nxt
    return values


def _blank(value: Any, unknown: Iterable[str] = ()) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip() or value in set(unknown)
    return False


# How fields read in messages; the rest fall back to their name with spaces.
_FIELD_LABELS = {
    "input_volume_ml": "input volume",
    "resuspension_volume_ml": "preparation volume",
    "collected_at": "collection time",
    "volume_ml": "volume",
    "time_to_processing_min": "time to processing",
    "processing_temp_c": "temperature until processing",
    "centrifugation_steps": "centrifugation steps",
    "brake": "brake of every spin",
    "post_centrifugation_delay_min": "delay from last spin to storage",
    "post_centrifugation_temp_c": "temperature during that delay",
    "haemolysis_a414": "haemolysis (A414)",
    "free_haemoglobin_g_l": "free haemoglobin",
    "residual_platelets_per_ml": "residual platelets",
    "urine_void_type": "void type",
    "creatinine_mmol_l": "creatinine",
    "serum_ev_depletion": "serum EV depletion",
    "conditioning_hours": "conditioning time",
    "viability_at_harvest_pct": "viability at harvest",
    "storage_temp_c": "storage temperature",
    "sprec_code": "SPREC code",
}
# Sample fields whose stored values have labels (shown instead of the code).
_VALUE_LABELS: dict[str, dict[str, str]] = {
    name: {str(value): str(label) for value, label in choices.choices}
    for name, choices in (
        ("tube_type", TubeType),
        ("fasting_state", FastingState),
        ("urine_void_type", UrineVoid),
        ("culture_serum", CultureSerum),
        ("serum_ev_depletion", SerumEVDepletion),
        ("storage_container", StorageContainer),
    )
}


def _field_name(path: str) -> str:
    name = path.rsplit(".", 1)[-1].replace("[]", "")
    return _FIELD_LABELS.get(name, name.replace("_", " "))


def _value_label(path: str, value: Any) -> str:
    name = path.rsplit(".", 1)[-1].replace("[]", "")
    return _VALUE_LABELS.get(name, {}).get(str(value), str(value))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- Parameters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class P:
    """One parameter of a check."""

    type: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "choices": list(self.choices),
            "help": self.help,
        }


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _str_list(name: str, value: Any, choices: Sequence[str]) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        return [f"{name}: give a list of names."]
    if choices:
        unknown = [v for v in value if v not in choices]
        if unknown:
            return [f"{name}: unknown {', '.join(unknown)}; use {', '.join(choices)}."]
    return []


def _check_param(name: str, spec: P, value: Any) -> list[str]:
    kind = spec.type
    if value is None:
        return [] if not spec.required else [f"{name}: required."]
    if kind == "number":
        return [] if _is_number(value) else [f"{name}: must be a number."]
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return [] if ok else [f"{name}: must be a whole number ≥ 0."]
    if kind == "bool":
        return [] if isinstance(value, bool) else [f"{name}: must be true or false."]
    if kind == "str":
        return [] if isinstance(value, str) else [f"{name}: must be text."]
    if kind == "choice":
        return [] if value in spec.choices else [f"{name}: use one of {', '.join(spec.choices)}."]
    if kind == "str_list":
        return _str_list(name, value, spec.choices)
    if kind == "int_list":
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) and v in spec.choices for v in value
        )
        return [] if ok else [f"{name}: give a list of numbers among {spec.choices}."]
    if kind == "path":
        return validate_path(value)
    if kind == "path_list":
        if not isinstance(value, (list, tuple)):
            return [f"{name}: give a list of paths."]
        return [problem for path in value for problem in validate_path(path)]
    if kind == "alternatives":
        if not isinstance(value, (list, tuple)):
            return [f"{name}: give a list of paths or {{path, in}}."]
        problems = []
        for item in value:
            if isinstance(item, Mapping):
                if set(item) != {"path", "in"}:
                    problems.append(f"{name}: items are a path or {{path, in}}.")
                    continue
                problems += validate_path(item["path"])
                problems += _str_list(f"{name} in", item["in"], ())
            else:
                problems += validate_path(item)
        return problems
    if kind == "bands":
        return purity.validate_bands(value)
    if kind == "method_keys":
        if not isinstance(value, Mapping):
            return [f"{name}: give method → list of settings keys."]
        return [
            p for method, keys in value.items() for p in _str_list(f"{name}.{method}", keys, ())
        ]
    if kind == "groups":
        if not isinstance(value, (list, tuple)) or not value:
            return [f"{name}: give a list of control kinds (a list inside means any of them)."]
        problems = []
        for item in value:
            group = [item] if isinstance(item, str) else item
            problems += _str_list(name, group, spec.choices)
        return problems
    raise AssertionError(f"unknown parameter type {kind}")  # a bug in a Check definition


@dataclass(frozen=True)
class Check:
    """A named, parameterised test of a preparation's facts."""

    name: str
    function: Callable[[PreparationFacts, dict[str, Any]], Outcome]
    label: str
    description: str
    kind: str = "reporting"  # reporting | plausibility
    params: Mapping[str, P] = field(default_factory=dict)
    # Extra validation across parameters; returns problems.
    validate_together: Callable[[Mapping[str, Any]], list[str]] | None = None

    @property
    def scored(self) -> bool:
        return self.kind == "reporting"

    def with_defaults(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = {name: spec.default for name, spec in self.params.items()}
        merged.update({k: v for k, v in (params or {}).items() if v is not None})
        return merged

    def validate_params(self, params: Any) -> list[str]:
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            return ["Parameters must be an object."]
        problems = [
            f"{key}: not a parameter of {self.name} (use {', '.join(self.params) or 'none'})."
            for key in params
            if key not in self.params
        ]
        for name, spec in self.params.items():
            problems += _check_param(name, spec, params.get(name))
        if not problems and self.validate_together:
            problems += self.validate_together(self.with_defaults(params))
        return problems

    def __call__(self, facts: PreparationFacts, params: Mapping[str, Any] | None = None) -> Outcome:
        return self.function(facts, self.with_defaults(params))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "kind": self.kind,
            "params": {name: spec.as_dict() for name, spec in self.params.items()},
        }


CHECKS: dict[str, Check] = {}


def check(
    name: str,
    label: str,
    *,
    kind: str = "reporting",
    params: Mapping[str, P] | None = None,
    together: Callable[[Mapping[str, Any]], list[str]] | None = None,
):
    def register(function):
        CHECKS[name] = Check(
            name=name,
            function=function,
            label=label,
            description=" ".join((function.__doc__ or "").split()),
            kind=kind,
            params=dict(params or {}),
            validate_together=together,
        )
        return function

    return register


_STATUS_OUT = ("fail", "warn")
_STATUS_MISSING = ("na", "fail", "warn", "pass")
_NOMENCLATURE_TERMS = frozenset(NomenclatureTerm.values)
_CATEGORIES = tuple(MarkerCategory.values)
_MARKER_METHODS = tuple(MarkerMethod.values)
_STEP_KINDS = tuple(StepKind.values)


def _needs_one_of(*names: str):
    def together(params: Mapping[str, Any]) -> list[str]:
        if any(params.get(n) for n in names):
            return []
        return [f"Give {' or '.join(names)}."]

    return together


def _section_evidence(facts: PreparationFacts, paths: Iterable[str]) -> list[Evidence]:
    sections = []
    for path in paths:
        section = path.split(".", 1)[0]
        if section not in sections:
            sections.append(section)
    evidence = []
    for section in sections:
        if section == "sample":
            evidence.append(facts.sample.evidence)
        elif section == "run":
            evidence.append(facts.run.evidence)
        elif section in ("preparation", "storage"):
            evidence.append(facts.preparation.evidence)
    return evidence


def _sci(value: float) -> str:
    """2.1×10⁹ style, for messages."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent <= 4:
        return f"{value:,.3g}"
    superscript = str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{value / 10**exponent:.2g}×10{superscript}"


def _listing(items: Iterable[str]) -> str:
    items = list(dict.fromkeys(items))
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- Recorded fields -----------------------------------------------------------------------


def _alternative(facts: PreparationFacts, item: Any, unknown: Sequence[str]) -> bool:
    if isinstance(item, Mapping):
        values = resolve(facts, item["path"])
        return bool(values) and all(v in item["in"] for v in values)
    values = resolve(facts, item)
    return all(not _blank(v, unknown) for v in values)


def _alternative_name(item: Any) -> str:
    if isinstance(item, Mapping):
        shown = "/".join(_value_label(item["path"], v) for v in item["in"])
        return f"{_field_name(item['path'])} {shown}"
    return _field_name(item)


@check(
    "field_present",
    "Fields recorded",
    params={
        "paths": P("path_list", default=[], help="Every one must be recorded."),
        "any_of": P("alternatives", default=[], help="At least one must be recorded."),
        "unknown_values": P("str_list", default=["unknown"], help="Values that mean unknown."),
    },
    together=_needs_one_of("paths", "any_of"),
)
def field_present(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Every field in ``paths`` is recorded (not empty, not "unknown"), and at least one of
    ``any_of`` is (a path, or {path, in} for a value among a list)."""
    unknown = p["unknown_values"]
    missing = [
        _field_name(path)
        for path in p["paths"]
        if not all(not _blank(v, unknown) for v in resolve(facts, path))
    ]
    alternatives = p["any_of"]
    if alternatives and not any(_alternative(facts, a, unknown) for a in alternatives):
        missing.append(" or ".join(_alternative_name(a) for a in alternatives))
    paths = [*p["paths"], *(a["path"] if isinstance(a, Mapping) else a for a in alternatives)]
    evidence = _section_evidence(facts, paths)
    if missing:
        return _fail(f"Not recorded: {_listing(missing)}.", evidence)
    return _pass("Recorded.", evidence)


def _numbers(values: list[Any]) -> list[float] | None:
    numbers = []
    for value in values:
        if not _is_number(value):
            return None
        numbers.append(float(value))
    return numbers or None


@check(
    "threshold",
    "Value within limits",
    params={
        "path": P("path", required=True),
        "min": P("number"),
        "max": P("number"),
        "warn_min": P("number", help="Below this (but within min) is a warning."),
        "warn_max": P("number", help="Above this (but within max) is a warning."),
        "severity_when_out": P("choice", default="fail", choices=_STATUS_OUT),
        "missing": P("choice", default="na", choices=_STATUS_MISSING),
        "unit": P("str", default=""),
    },
    together=_needs_one_of("min", "max", "warn_min", "warn_max"),
)
def threshold(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The value at ``path`` lies within [min, max] (else ``severity_when_out``) and within
    [warn_min, warn_max] (else a warning). A value not recorded gives ``missing``."""
    name = _field_name(p["path"])
    evidence = _section_evidence(facts, [p["path"]])
    numbers = _numbers(resolve(facts, p["path"]))
    if numbers is None:
        return _status(p["missing"], f"{_capital(name)} not recorded.", evidence)
    unit = f" {p['unit']}" if p["unit"] else ""
    shown = ", ".join(f"{_sci(n)}{unit}" for n in numbers)
    low, high = p["min"], p["max"]
    if any((low is not None and n < low) or (high is not None and n > high) for n in numbers):
        limit = (
            f"above {_sci(high)}{unit}"
            if high is not None and max(numbers) > high
            else f"below {_sci(low)}{unit}"
        )
        return _status(
            p["severity_when_out"], f"{_capital(name)} {shown}: {limit}.", evidence, flag=True
        )
    warn_low, warn_high = p["warn_min"], p["warn_max"]
    if any(
        (warn_low is not None and n < warn_low) or (warn_high is not None and n > warn_high)
        for n in numbers
    ):
        limit = (
            f"above {_sci(warn_high)}{unit}"
            if warn_high is not None and max(numbers) > warn_high
            else f"below {_sci(warn_low)}{unit}"
        )
        return _warn(f"{_capital(name)} {shown}: {limit}.", evidence)
    return _pass(f"{_capital(name)} {shown}.", evidence)


@check(
    "value_in",
    "Value among the accepted ones",
    params={
        "path": P("path", required=True),
        "values": P("str_list", required=True),
        "status_when_out": P("choice", default="fail", choices=_STATUS_OUT),
        "missing": P("choice", default="na", choices=_STATUS_MISSING),
    },
)
def value_in(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The value at ``path`` is one of ``values`` (else ``status_when_out``); not recorded
    gives ``missing``."""
    name = _field_name(p["path"])
    evidence = _section_evidence(facts, [p["path"]])
    values = resolve(facts, p["path"])
    if not values or any(_blank(v) for v in values):
        return _status(p["missing"], f"{_capital(name)} not recorded.", evidence)
    outside = [v for v in values if v not in p["values"]]
    if outside:
        return _status(
            p["status_when_out"],
            f"{_capital(name)} is {_listing(_value_label(p['path'], v) for v in outside)}; "
            f"expected {' or '.join(_value_label(p['path'], v) for v in p['values'])}.",
            evidence,
            flag=True,
        )
    return _pass(
        f"{_capital(name)} is {_listing(_value_label(p['path'], v) for v in values)}.", evidence
    )


@check(
    "advisory",
    "Advice whenever the rule applies",
    kind="plausibility",
    params={
        "status": P("choice", default="warn", choices=("warn", "fail", "pass")),
        "message": P("str", default=""),
    },
)
def advisory(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Gives ``status`` whenever the rule's applicability holds: the condition is the rule."""
    return _status(p["status"], p["message"], [facts.sample.evidence], flag=True)


_SPREC_POSITIONS = {
    1: "type of sample",
    2: "primary container",
    3: "pre-centrifugation delay",
    4: "first centrifugation",
    5: "second centrifugation",
    6: "post-centrifugation delay",
    7: "long-term storage",
}


@check(
    "sprec_known",
    "SPREC code derivable",
    params={
        "positions": P("int_list", default=[1, 2, 3, 4, 5, 6], choices=tuple(_SPREC_POSITIONS)),
    },
)
def sprec_known(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The sample's SPREC code has no X (unknown) in the given positions."""
    code = facts.sample.sprec_code or ""
    evidence = [facts.sample.evidence]
    parts = code.split("-") if code else []
    unknown = [
        f"{pos} ({_SPREC_POSITIONS[pos]})"
        for pos in p["positions"]
        if pos > len(parts) or parts[pos - 1] in ("", "X", "XXX")
    ]
    if not code:
        return _fail("No SPREC code: the sample's pre-analytical fields are missing.", evidence)
    if unknown:
        return _fail(f"SPREC {code}: position {_listing(unknown)} unknown.", evidence)
    return _pass(f"SPREC {code}.", evidence)


# --- Separation ----------------------------------------------------------------------------


def _version_evidence(facts: PreparationFacts) -> list[Evidence]:
    run = facts.run
    evidence = [run.evidence]
    if run.version_id is not None:
        evidence.append(
            Evidence(
                "protocol_version",
                run.version_id,
                f"{run.protocol_name} {run.version_label}".strip(),
                "assays:version-detail",
            )
        )
    return evidence


_STEP_NAMES = {
    "differential_centrifugation": "low-speed centrifugation",
    "sec": "SEC",
    "af4": "AF4",
    "kit": "kit",
}


def _step_label(kind: str) -> str:
    return _STEP_NAMES.get(kind, kind.replace("_", " "))


_STEP_EXTRA_LABELS = {"rotor": "rotor", "rotor_type": "rotor type", "k_factor": "k-factor"}


def _step_param_label(kind: str, name: str) -> str:
    if name in _STEP_EXTRA_LABELS:
        return _STEP_EXTRA_LABELS[name]
    try:
        param = next((q for q in parameters_for(kind) if q.name == name), None)
    except ValidationError:
        param = None
    if param is None:
        return name.replace("_", " ")
    return param.label.lower() if param.label[:2] != param.label[:2].upper() else param.label


@check(
    "protocol_recorded",
    "Run follows a versioned protocol",
)
def protocol_recorded(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The run names a protocol version; where the run's values differed from the protocol,
    the deviation is described."""
    evidence = _version_evidence(facts)
    if facts.run.version_id is None:
        return _fail("The run names no protocol version.", evidence)
    if facts.run.has_actuals and not facts.run.deviations.strip():
        return _warn(
            "The run's values differ from the protocol, but the deviation is not described.",
            evidence,
            flag=False,
        )
    return _pass(f"{facts.run.protocol_name} {facts.run.version_label}.".strip(), evidence)


@check(
    "step_parameters",
    "Step parameters reported",
    params={
        "kinds": P("str_list", required=True, choices=_STEP_KINDS),
        "params": P("str_list", default=[], help="Every one must be given."),
        "any_of": P("str_list", default=[], help="At least one must be given."),
    },
    together=_needs_one_of("params", "any_of"),
)
def step_parameters(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Every step of ``kinds`` gives all of ``params`` and at least one of ``any_of``
    (the rotor's name, type and k-factor count when the step names a rotor)."""
    steps = [s for s in facts.run.steps if s.kind in p["kinds"]]
    evidence = _version_evidence(facts)
    kinds = " or ".join(_step_label(k) for k in p["kinds"])
    if not steps:
        return _na(f"No {kinds} step.", evidence)
    gaps = []
    for step in steps:
        missing = [
            _step_param_label(step.kind, name)
            for name in p["params"]
            if _blank(step.params.get(name))
        ]
        if p["any_of"] and all(_blank(step.params.get(name)) for name in p["any_of"]):
            missing.append(" or ".join(_step_param_label(step.kind, n) for n in p["any_of"]))
        if missing:
            gaps.append(f"step {step.order}: {_listing(missing)}")
    if gaps:
        return _fail(f"Missing from the {kinds} steps — {'; '.join(gaps)}.", evidence)
    return _pass(f"{len(steps)} {kinds} step(s) fully described.", evidence)


@check(
    "step_kind_present",
    "Separation step used",
    params={
        "kinds": P("str_list", required=True, choices=_STEP_KINDS),
        "min": P("int", default=1),
    },
)
def step_kind_present(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The protocol has at least ``min`` steps of ``kinds``."""
    steps = [s for s in facts.run.steps if s.kind in p["kinds"]]
    kinds = " or ".join(_step_label(k) for k in p["kinds"])
    evidence = _version_evidence(facts)
    if len(steps) >= p["min"]:
        return _pass(f"{_capital(kinds)}: step {_listing(str(s.order) for s in steps)}.", evidence)
    return _fail(f"No {kinds} step in {facts.run.protocol_name or 'the protocol'}.", evidence)


@check(
    "pelleting_time",
    "UC long enough to pellet",
    kind="plausibility",
    params={
        "svedberg": P("number", required=True, help="Sedimentation coefficient (S) to pellet."),
        "kinds": P("str_list", default=["ultracentrifugation"], choices=_STEP_KINDS),
    },
)
def pelleting_time(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Each step's duration reaches the pelleting time T = k / S of particles of
    ``svedberg`` S at the step's k-factor (EV-DOMAIN §1.4)."""
    evidence = _version_evidence(facts)
    if p["svedberg"] <= 0:
        return _na("No sedimentation coefficient.", evidence)
    judged, short = 0, []
    for step in facts.run.steps:
        k, minutes = step.params.get("k_factor"), step.params.get("duration_min")
        if step.kind not in p["kinds"] or not _is_number(k) or not _is_number(minutes):
            continue
        judged += 1
        needed = k / p["svedberg"] * 60
        if minutes < needed:
            short.append(f"step {step.order}: {minutes:g} min < {needed:.0f} min (k {k:g})")
    if not judged:
        return _na("No step with a k-factor and a duration.", evidence)
    if short:
        return _warn(
            f"Too short to pellet {p['svedberg']:g} S particles — {'; '.join(short)}.", evidence
        )
    return _pass(f"Long enough to pellet {p['svedberg']:g} S particles.", evidence)


# --- Quantification and purity -------------------------------------------------------------


@check(
    "quantification_methods",
    "Global quantification methods",
    params={
        "min": P("int", default=2),
        "methods": P(
            "str_list",
            default=["particles", "protein", "lipid"],
            choices=("particles", "protein", "lipid"),
        ),
    },
)
def quantification_methods(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """At least ``min`` of the global quantifications (particle number, protein, lipid)
    were measured on the preparation or an aliquot of it."""
    found: dict[str, Evidence] = {}
    if "particles" in p["methods"]:
        counted = [x for x in facts.particles if x.concentration_per_ml is not None]
        counted += [x for x in facts.flow if x.event_concentration_per_ml is not None]
        if counted:
            found["particle number"] = counted[0].evidence
    if "protein" in p["methods"]:
        measured = [x for x in facts.protein if x.concentration_ug_per_ml is not None or x.total_ug]
        if measured:
            found["protein"] = measured[0].evidence
    # Lipid quantification has no record type yet: a rule may ask for it, none fulfils it.
    names = _listing(found) or "none"
    if len(found) >= p["min"]:
        return _pass(f"Quantified by {names}.", found.values())
    # The fix adds the first quantification the preparation lacks.
    lacking = [
        kind
        for kind, name in (("particles", "particle number"), ("protein", "protein"))
        if kind in p["methods"] and name not in found
    ]
    return Outcome(
        "fail",
        f"{len(found)} of {p['min']} quantification methods ({names}).",
        tuple(found.values()),
        False,
        lacking[0] if lacking else "",
    )


@check(
    "purity_ratio",
    "Particle:protein ratio",
    params={
        "min_particles_per_ug": P(
            "number",
            default=purity.DEFAULT_MIN_PARTICLES_PER_UG,
            help="Below this is a warning; the study's cut-off takes precedence.",
        ),
        "bands": P("bands", default=list(purity.DEFAULT_BANDS)),
    },
)
def purity_ratio(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """A particle:protein ratio can be computed from measurements of the same material;
    below the cut-off (the study's, else ``min_particles_per_ug``) it is a warning."""
    result = purity.compute_purity(facts, p["bands"])
    if result is None:
        has_particles = any(x.concentration_per_ml is not None for x in facts.particles)
        has_protein = any(
            x.concentration_ug_per_ml is not None and x.concentration_ug_per_ml > 0
            for x in facts.protein
        )
        lacking = [
            name
            for name, have in (("particle concentration", has_particles), ("protein", has_protein))
            if not have
        ] or ["both on the preparation or an aliquot of it"]
        return Outcome(
            "fail",
            f"No particle:protein ratio: needs {_listing(lacking)}.",
            (),
            False,
            "particles" if not has_particles else "protein" if not has_protein else "",
        )
    particle = next(x for x in facts.particles if x.id == result.particle_measurement_id)
    protein = next(x for x in facts.protein if x.id == result.protein_measurement_id)
    evidence = (particle.evidence, protein.evidence)
    study_cut = facts.preparation.purity_min_particles_per_ug
    cut = study_cut if study_cut is not None else p["min_particles_per_ug"]
    whose = "study cut-off" if study_cut is not None else "cut-off"
    text = f"{_sci(result.particles_per_ug)} particles/µg"
    if result.band:
        text += f" ({result.band})"
    if cut is not None and result.particles_per_ug < cut:
        return _warn(f"{text}, below the {whose} of {_sci(cut)}.", evidence)
    return _pass(f"{text}.", evidence)


# --- Markers -------------------------------------------------------------------------------


def _marker_matches(marker, p: Mapping[str, Any]) -> bool:
    categories, symbols = p.get("categories") or (), p.get("symbols") or ()
    if p.get("methods") and marker.method not in p["methods"]:
        return False
    return marker.category in categories or (bool(symbols) and marker.named(symbols))


_MARKER_PARAMS = {
    "categories": P("str_list", default=[], choices=_CATEGORIES),
    "symbols": P("str_list", default=[], help="HGNC symbols (aliases match too)."),
    "min": P("int", default=1, help="Distinct markers needed."),
    "methods": P("str_list", default=[], choices=_MARKER_METHODS, help="Empty: any method."),
}


def _what(p: Mapping[str, Any]) -> str:
    parts = []
    if p.get("categories"):
        parts.append("category " + "/".join(p["categories"]))
    if p.get("symbols"):
        parts.append("/".join(p["symbols"]))
    return " or ".join(parts)


@check(
    "marker_detected",
    "Markers detected",
    params=_MARKER_PARAMS,
    together=_needs_one_of("categories", "symbols"),
)
def marker_detected(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """At least ``min`` distinct markers of ``categories`` (or named in ``symbols``) were
    detected."""
    hits = [m for m in facts.markers if m.detection == Detection.DETECTED and _marker_matches(m, p)]
    distinct = {m.symbol for m in hits}
    evidence = [m.evidence for m in hits]
    if len(distinct) >= p["min"]:
        return _pass(f"Detected: {_listing(sorted(distinct))}.", evidence)
    reported = [m for m in facts.markers if _marker_matches(m, p)]
    seen = (
        f"; reported but not detected: {_listing(sorted({m.symbol for m in reported} - distinct))}"
        if len(reported) > len(hits)
        else ""
    )
    return _fail(
        f"{len(distinct)} of {p['min']} {_what(p)} marker(s) detected{seen}.",
        evidence or [m.evidence for m in reported],
    )


@check(
    "marker_reported",
    "Markers reported",
    params={
        **_MARKER_PARAMS,
        "require_all": P("bool", default=False, help="Every symbol must be reported."),
    },
    together=_needs_one_of("categories", "symbols"),
)
def marker_reported(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Markers of ``categories`` (or ``symbols``) were looked for — detected or not — at
    least ``min`` distinct ones, or every one of ``symbols`` with ``require_all``."""
    hits = [m for m in facts.markers if _marker_matches(m, p)]
    evidence = [m.evidence for m in hits]
    if p["require_all"] and p["symbols"]:
        missing = [s for s in p["symbols"] if not any(m.named([s]) for m in hits)]
        if missing:
            return _fail(f"Not reported: {_listing(missing)}.", evidence)
        return _pass(f"Reported: {_listing(p['symbols'])}.", evidence)
    distinct = sorted({m.symbol for m in hits})
    if len(distinct) >= p["min"]:
        return _pass(f"Reported: {_listing(distinct)}.", evidence)
    return _fail(f"{len(distinct)} of {p['min']} {_what(p)} marker(s) reported.", evidence)


@check(
    "weak_positive_evidence",
    "Positive evidence beyond promiscuous proteins",
    kind="plausibility",
    params={
        "weak_categories": P("str_list", default=["2b"], choices=_CATEGORIES),
        "strong_categories": P("str_list", default=["1a", "1b", "2a"], choices=_CATEGORIES),
    },
)
def weak_positive_evidence(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Fails when the only detected positive markers are of ``weak_categories`` (heat-shock
    proteins, actin, tubulin, GAPDH), which also come with non-vesicular particles."""
    detected = [m for m in facts.markers if m.detection == Detection.DETECTED]
    weak = [m for m in detected if m.category in p["weak_categories"]]
    strong = [m for m in detected if m.category in p["strong_categories"]]
    if not weak:
        return _na("No promiscuous marker detected.")
    if strong:
        return _pass(
            f"Also detected: {_listing(sorted({m.symbol for m in strong}))}.",
            [m.evidence for m in strong],
        )
    return _fail(
        f"Only {_listing(sorted({m.symbol for m in weak}))} detected as positive evidence.",
        [m.evidence for m in weak],
        flag=True,
    )


_MARKER_METHOD_LABELS = {str(v): str(label) for v, label in MarkerMethod.choices}


def _marker_name(marker) -> str:
    return f"{marker.symbol} ({_MARKER_METHOD_LABELS.get(marker.method, marker.method)})"


def antibody_gaps(
    rrid: Any, clone: Any, catalogue: Any, dilution: Any = None, *, needs_dilution: bool = True
) -> list[str]:
    """What keeps one antibody use from being fully described, the one definition every
    rule uses (MISEV2018 and EV-METRIC ask the same): identified by an RRID, or by clone
    *and* catalogue number, and — in an assay — its dilution. Empty when complete."""
    gaps = []
    if _blank(rrid) and (_blank(clone) or _blank(catalogue)):
        gaps.append("RRID or clone + catalogue number")
    if needs_dilution and _blank(dilution):
        gaps.append("dilution")
    return gaps


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@check(
    "antibody_details",
    "Antibody details",
    params={
        "methods": P("str_list", default=sorted(ANTIBODY_METHODS), choices=_MARKER_METHODS),
        "require_dilution": P("bool", default=True),
        "include_capture_steps": P("bool", default=True, help="Immunoaffinity steps too."),
    },
)
def antibody_details(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Every antibody used (marker assays of ``methods``, immunoaffinity capture) is
    identified (RRID, or clone and catalogue number) and, in assays, has its dilution."""
    used = [m for m in facts.markers if m.method in p["methods"]]
    steps = (
        [s for s in facts.run.steps if s.kind == StepKind.IMMUNOAFFINITY]
        if p["include_capture_steps"]
        else []
    )
    if not used and not steps:
        return _na("No antibody-based assay.")
    gaps, evidence = [], []
    for marker in used:
        lacking = antibody_gaps(
            marker.antibody_rrid,
            marker.antibody_clone,
            marker.antibody_catalogue,
            marker.antibody_dilution,
            needs_dilution=p["require_dilution"],
        )
        if lacking:
            gaps.append(f"{_marker_name(marker)}: {_listing(lacking)}")
            evidence.append(marker.evidence)
    # A capture step's antibody is bound to beads or a column: no dilution to give.
    unnamed = [
        s
        for s in steps
        if antibody_gaps(
            _text(s.params.get("antibody_rrid")),
            _text(s.params.get("antibody_clone")),
            _text(s.params.get("antibody_catalogue")),
            needs_dilution=False,
        )
    ]
    for step in unnamed:
        gaps.append(f"capture step {step.order}: antibody RRID or clone + catalogue number")
    if unnamed:
        evidence += _version_evidence(facts)
    if gaps:
        return _fail(f"Missing antibody details — {'; '.join(gaps)}.", evidence)
    count = len(used) + len(steps)
    return _pass(f"{count} antibody use(s) fully described.", [m.evidence for m in used])


@check(
    "lysate_details",
    "Lysate preparation",
    params={"methods": P("str_list", default=sorted(LYSATE_METHODS), choices=_MARKER_METHODS)},
)
def lysate_details(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Every lysate-based marker result (western blot, mass spectrometry) gives its lysis
    buffer."""
    used = [m for m in facts.markers if m.method in p["methods"]]
    if not used:
        return _na("No lysate-based assay.")
    lacking = [m for m in used if _blank(m.lysis_buffer)]
    if lacking:
        return _fail(
            f"No lysis buffer for {_listing(_marker_name(m) for m in lacking)}.",
            [m.evidence for m in lacking],
        )
    return _pass(f"Lysis buffer given for {len(used)} result(s).", [m.evidence for m in used])


# --- Single vesicles -----------------------------------------------------------------------


@check(
    "images",
    "Single-vesicle images",
    params={
        "views": P("str_list", default=["wide_field", "close_up"], choices=tuple(ImageView.values)),
        "methods": P(
            "str_list", default=list(ImagingMethod.values), choices=tuple(ImagingMethod.values)
        ),
        "same_record": P("bool", default=True, help="All views in one imaging session."),
    },
)
def images(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """An imaging record of ``methods`` has images of every view in ``views`` (wide-field
    and close-up), in one session unless ``same_record`` is false."""
    records = [r for r in facts.imaging if r.method in p["methods"] and r.image_count > 0]
    wanted = set(p["views"])
    if not records:
        return _fail("No single-vesicle images.")
    if p["same_record"]:
        for record in records:
            if wanted <= record.views:
                return _pass(
                    f"{record.label}: {_listing(_view_labels(record.views))}.", [record.evidence]
                )
        best = max(records, key=lambda r: len(r.views & wanted))
        have = best.views
        evidence = [best.evidence]
    else:
        have = frozenset().union(*(r.views for r in records))
        evidence = [r.evidence for r in records]
        if wanted <= have:
            return _pass(f"Views: {_listing(_view_labels(have))}.", evidence)
    missing = _view_labels(wanted - have)
    return _fail(f"No {_listing(v.lower() for v in missing)} image.", evidence)


_VIEW_LABELS = {str(v): str(label) for v, label in ImageView.choices}


def _view_labels(views: Iterable[str]) -> list[str]:
    return [_VIEW_LABELS.get(v, v.replace("_", " ")) for v in sorted(views)]


@check(
    "single_particle_method",
    "Single-particle counting and sizing",
    params={
        "methods": P(
            "str_list",
            default=["NTA", "ZetaView", "TRPS", "MRPS", "flow"],
            choices=PARTICLE_METHODS,
        ),
        "require_concentration": P("bool", default=True),
        "require_size": P("bool", default=True),
    },
)
def single_particle_method(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """A non-imaging single-particle method of ``methods`` gave a concentration and a size
    statistic (flow counts only with a calibrated scatter in nm)."""
    conc, size = p["require_concentration"], p["require_size"]
    good, partial = [], []
    for x in facts.particles:
        if x.method not in p["methods"]:
            continue
        ok = (not conc or x.concentration_per_ml is not None) and (
            not size or x.size_nm is not None
        )
        (good if ok else partial).append(x.evidence)
    if "flow" in p["methods"]:
        for x in facts.flow:
            ok = (not conc or x.event_concentration_per_ml is not None) and (
                not size or x.scatter_unit == "nm"
            )
            (good if ok else partial).append(x.evidence)
    if "dls" in p["methods"]:
        for x in facts.dls:
            ok = not conc and (not size or x.z_average_nm is not None)
            (good if ok else partial).append(x.evidence)
    needed = (
        _listing([w for w, on in (("concentration", conc), ("size", size)) if on]) or "a result"
    )
    if good:
        return _pass(f"{len(good)} single-particle measurement(s) with {needed}.", good)
    if partial:
        return _fail(f"No single-particle measurement gives {needed}.", partial)
    return _fail("No single-particle measurement (NTA, TRPS, flow …).")


_DEFAULT_SETTINGS = {
    "NTA": ["camera_level", "detection_threshold"],
    "ZetaView": ["sensitivity", "shutter"],
}


@check(
    "particle_assay_details",
    "Particle assay settings",
    params={
        "require_dilution": P("bool", default=True),
        "settings": P("method_keys", default=_DEFAULT_SETTINGS, help="Method → settings keys."),
        "max_cv_pct": P("number", default=25.0, help="Replicate CV above this is a warning."),
        "min_replicates": P("int", default=3, help="Fewer videos/replicates is a warning."),
    },
)
def particle_assay_details(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Every particle measurement gives its dilution factor and the capture settings
    named for its method; replicate CV above ``max_cv_pct`` or fewer than
    ``min_replicates`` replicates is a warning."""
    if not facts.particles:
        return _na("No particle measurement.")
    gaps, doubts, gap_evidence, doubt_evidence = [], [], [], []
    for x in facts.particles:
        lacking = []
        if p["require_dilution"] and x.dilution_factor is None:
            lacking.append("dilution factor")
        lacking += [
            k.replace("_", " ")
            for k in p["settings"].get(x.method, [])
            if _blank(x.settings.get(k))
        ]
        if lacking:
            gaps.append(f"{x.label}: {_listing(lacking)}")
            gap_evidence.append(x.evidence)
        if x.replicate_cv_pct is not None and x.replicate_cv_pct > p["max_cv_pct"]:
            doubts.append(f"{x.label}: replicate CV {x.replicate_cv_pct:.0f} %")
            doubt_evidence.append(x.evidence)
        elif x.replicates is not None and x.replicates < p["min_replicates"]:
            doubts.append(f"{x.label}: {x.replicates} replicate(s)")
            doubt_evidence.append(x.evidence)
    if gaps:
        return _fail(f"Not reported — {'; '.join(gaps)}.", gap_evidence)
    if doubts:
        return _warn(f"{'; '.join(doubts)}.", doubt_evidence)
    return _pass(
        f"{len(facts.particles)} particle measurement(s) with settings.",
        [x.evidence for x in facts.particles],
    )


@check(
    "miflowcyt_controls",
    "MIFlowCyt-EV reporting",
    params={
        "kinds": P(
            "groups",
            default=[["buffer_only", "blank"], ["unstained", "isotype", "fmo"], ["detergent"]],
            choices=tuple(ControlKind.values),
            help="Controls required; a list inside means any one of them.",
        ),
        "require_calibration": P("bool", default=True),
        "require_lod": P("bool", default=True),
    },
)
def miflowcyt_controls(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Every flow measurement lists the controls of ``kinds``, is calibrated to standard
    units (scatter in nm, fluorescence in MESF/ERF) and states a limit of detection."""
    if not facts.flow:
        return _na("No flow cytometry.")
    groups = [[g] if isinstance(g, str) else list(g) for g in p["kinds"]]
    gaps, evidence = [], []
    for x in facts.flow:
        lacking = [
            "/".join(group).replace("_", " ") + " control"
            for group in groups
            if not x.control_kinds & set(group)
        ]
        if (
            p["require_calibration"]
            and x.scatter_unit not in ("nm", "nm2")
            and x.fluorescence_unit not in ("MESF", "ERF")
        ):
            lacking.append("calibration to standard units")
        if p["require_lod"] and x.lod_scatter is None and x.lod_fluorescence is None:
            lacking.append("limit of detection")
        if lacking:
            gaps.append(f"{x.label}: {_listing(lacking)}")
            evidence.append(x.evidence)
    if gaps:
        return _fail(f"Missing — {'; '.join(gaps)}.", evidence)
    return _pass(
        f"{len(facts.flow)} flow measurement(s) complete.", [x.evidence for x in facts.flow]
    )


# --- Plausibility --------------------------------------------------------------------------


@check(
    "freeze_thaw_max",
    "Freeze–thaw cycles",
    kind="plausibility",
    params={
        "warn_above": P("int", default=1),
        "max": P("int", help="Above this fails; the study's maximum takes precedence."),
    },
)
def freeze_thaw_max(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The input tube and the preparation tube were not thawed more often than the
    maximum (the study's, else ``max``: a failure) or ``warn_above`` (a warning)."""
    tubes = []
    if facts.run.input_freeze_thaw_count is not None and facts.run.input_aliquot_id is not None:
        tubes.append(
            (
                facts.run.input_freeze_thaw_count,
                Evidence(
                    "tube",
                    facts.run.input_aliquot_id,
                    facts.run.input_accession,
                    "samples:aliquot-detail",
                ),
            )
        )
    tubes.append((facts.preparation.tube_freeze_thaw_count, facts.preparation.evidence))
    count, worst = max(tubes, key=lambda t: t[0])
    evidence = [worst]
    study_max = facts.preparation.max_freeze_thaw_cycles
    limit = study_max if study_max is not None else p["max"]
    text = f"{worst.label}: thawed {count} time{'s' if count != 1 else ''}"
    if limit is not None and count > limit:
        whose = "the study's" if study_max is not None else "the"
        return _fail(f"{text}, above {whose} maximum of {limit}.", evidence, flag=True)
    if count > p["warn_above"]:
        return _warn(f"{text}.", evidence)
    return _pass(f"{text}.", evidence)


@check(
    "storage_temperature",
    "Storage temperature",
    kind="plausibility",
    params={"max_c": P("number", default=-60.0, help="Warmer than this is flagged.")},
)
def storage_temperature(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The preparation's freezer and the sample's recorded storage are at or below
    ``max_c`` °C."""
    found = []
    if facts.storage.temperature_c is not None:
        found.append(
            (
                facts.storage.temperature_c,
                f"preparation in {facts.storage.box_name or 'its box'}",
                facts.preparation.evidence,
            )
        )
    sample_temp = facts.sample.fields.get("storage_temp_c")
    if _is_number(sample_temp):
        found.append((float(sample_temp), "sample storage", facts.sample.evidence))
    if not found:
        return _na("No storage temperature recorded.")
    warm = [(t, what, ev) for t, what, ev in found if t > p["max_c"]]
    if warm:
        return _warn(
            "; ".join(f"{what} at {t:g} °C" for t, what, _ in warm)
            + f", warmer than {p['max_c']:g} °C.",
            [ev for *_, ev in warm],
        )
    return _pass(
        "; ".join(f"{what} at {t:g} °C" for t, what, _ in found) + ".", [ev for *_, ev in found]
    )


@check(
    "density_range",
    "Density of the EV fraction",
    kind="plausibility",
    params={"min": P("number", default=1.08), "max": P("number", default=1.21)},
)
def density_range(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The densities of the pooled gradient fractions lie within [min, max] g/mL."""
    densities = [
        (step.order, float(d))
        for step in facts.run.steps
        if step.kind == StepKind.DENSITY_GRADIENT
        for d in step.params.get("pooled_densities_g_ml") or ()
        if _is_number(d)
    ]
    evidence = _version_evidence(facts)
    if not densities:
        return _na("No fraction density recorded.", evidence)
    outside = [d for _, d in densities if not p["min"] <= d <= p["max"]]
    shown = ", ".join(f"{d:.3f}" for _, d in densities)
    if outside:
        return _warn(
            f"Pooled fraction density {shown} g/mL: outside {p['min']:g}–{p['max']:g} g/mL.",
            evidence,
        )
    return _pass(f"Pooled fraction density {shown} g/mL.", evidence)


_FLUID_LABELS = {str(v): str(label) for v, label in FluidType.choices}
_TERM_LABELS = {str(v): str(label) for v, label in NomenclatureTerm.choices}


@check(
    "raw_fluid_particle_claim",
    "Particle counts of unseparated fluid",
    kind="plausibility",
    params={
        "fluid_types": P(
            "str_list", default=["plasma", "serum", "whole_blood"], choices=tuple(FluidType.values)
        ),
        "separation_kinds": P("str_list", default=list(SEPARATION_KINDS), choices=_STEP_KINDS),
    },
)
def raw_fluid_particle_claim(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Particle counts of a fluid of ``fluid_types`` that went through no separation step
    (only spins or filters) are flagged: in plasma they are mostly lipoproteins."""
    if facts.fluid_type not in p["fluid_types"]:
        return _na("Not a blood-derived fluid.")
    if facts.step_kinds & set(p["separation_kinds"]):
        return _pass("Separated before counting.", _version_evidence(facts))
    counts = [x for x in facts.particles if x.concentration_per_ml is not None]
    if not counts:
        return _na("No particle count.")
    return _warn(
        f"Particle counts of {_FLUID_LABELS.get(facts.fluid_type, facts.fluid_type).lower()} "
        "without an EV separation step are mostly "
        "lipoproteins, not EVs.",
        [counts[0].evidence, *_version_evidence(facts)],
    )


@check(
    "size_consistency",
    "Size consistent with the claim",
    kind="plausibility",
    params={
        "min_nm": P("number"),
        "max_nm": P("number"),
        "methods": P("str_list", default=["NTA", "ZetaView"], choices=PARTICLE_METHODS),
        "statistic": P("choice", default="mode", choices=("mode", "median", "mean")),
    },
    together=_needs_one_of("min_nm", "max_nm"),
)
def size_consistency(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The ``statistic`` size of every particle measurement of ``methods`` lies within
    [min_nm, max_nm]."""
    attribute = {"mode": "mode_nm", "median": "d50_nm", "mean": "mean_nm"}[p["statistic"]]
    sized = [
        (x, getattr(x, attribute))
        for x in facts.particles
        if x.method in p["methods"] and getattr(x, attribute) is not None
    ]
    if not sized:
        return _na(f"No {p['statistic']} size measured.")
    low, high = p["min_nm"], p["max_nm"]
    outside = [
        (x, s) for x, s in sized if (low is not None and s < low) or (high is not None and s > high)
    ]
    bounds = " – ".join(f"{b:g} nm" for b in (low, high) if b is not None)
    if outside:
        return _warn(
            "; ".join(f"{x.label}: {p['statistic']} {s:.0f} nm" for x, s in outside)
            + f" (expected {'≥ ' if high is None else '≤ ' if low is None else ''}{bounds}).",
            [x.evidence for x, _ in outside],
        )
    return _pass(
        f"{p['statistic'].capitalize()} size {', '.join(f'{s:.0f}' for _, s in sized)} nm.",
        [x.evidence for x, _ in sized],
    )


@check(
    "particle_concentration",
    "Particle concentration plausible",
    kind="plausibility",
    params={
        "min_per_ml": P("number"),
        "max_per_ml": P("number"),
        "basis": P(
            "choice",
            default="preparation",
            choices=("preparation", "input"),
            help="Per mL of the preparation, or per mL of input fluid (recovery).",
        ),
        "unless_symbols_reported": P(
            "str_list", default=[], help="No flag when all of these were looked for."
        ),
    },
    together=_needs_one_of("min_per_ml", "max_per_ml"),
)
def particle_concentration(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """Particle concentrations (per mL of preparation, or per mL of input fluid with
    ``basis`` input) lie within [min_per_ml, max_per_ml], unless every marker in
    ``unless_symbols_reported`` was assessed (e.g. lipoproteins discussed)."""
    counts = []
    for x in facts.particles:
        if x.concentration_per_ml is None:
            continue
        if p["basis"] == "input":
            if not x.same_material:
                continue
            value = purity.recovery_per_ml_input(
                x.concentration_per_ml,
                facts.preparation.resuspension_volume_ml,
                facts.run.input_volume_ml,
            )
            if value is None:
                continue
        else:
            value = x.concentration_per_ml
        counts.append((x, value))
    per = "per mL input" if p["basis"] == "input" else "per mL"
    if not counts:
        return _na("No particle count.")
    low, high = p["min_per_ml"], p["max_per_ml"]
    outside = [
        (x, v)
        for x, v in counts
        if (low is not None and v < low) or (high is not None and v > high)
    ]
    if not outside:
        return _pass(
            f"{', '.join(_sci(v) for _, v in counts)} particles {per}.",
            [x.evidence for x, _ in counts],
        )
    guard = p["unless_symbols_reported"]
    if guard and all(any(m.named([s]) for m in facts.markers) for s in guard):
        return _pass(
            f"High counts, but {_listing(guard)} were assessed.", [x.evidence for x, _ in outside]
        )
    above = high is not None and any(v > high for _, v in outside)
    limit = f"above {_sci(high)}" if above else f"below {_sci(low)}"
    shown = "; ".join(f"{x.label}: {_sci(v)}" for x, v in outside)
    return _warn(f"{shown} particles {per} — {limit}.", [x.evidence for x, _ in outside])


@check(
    "nomenclature",
    "MISEV2023 nomenclature",
    params={
        "discouraged_author_terms": P(
            "str_list",
            default=[
                "exosome",
                "exosomes",
                "ectosome",
                "ectosomes",
                "microvesicle",
                "microvesicles",
            ],
        ),
    },
)
def nomenclature(facts: PreparationFacts, p: dict[str, Any]) -> Outcome:
    """The preparation is named with a MISEV2023 term; an author term that implies a
    biogenesis route (exosome, ectosome, microvesicle) is a warning."""
    prep = facts.preparation
    evidence = [prep.evidence]
    if prep.nomenclature_term not in _NOMENCLATURE_TERMS:
        return _fail(f"“{prep.nomenclature_term}” is not a MISEV2023 term.", evidence)
    term = _TERM_LABELS[prep.nomenclature_term]
    author = prep.author_term.strip().lower()
    if author and author in {t.lower() for t in p["discouraged_author_terms"]}:
        return _warn(
            f"Called “{prep.author_term}”: a biogenesis term needs evidence of the subcellular "
            f"origin; the MISEV2023 term is {term}.",
            evidence,
            flag=False,
        )
    return _pass(f"Named {term}.", evidence)


# --- Applicability -------------------------------------------------------------------------


def _antibody_assay(facts: PreparationFacts) -> bool:
    return any(m.method in ANTIBODY_METHODS for m in facts.markers) or (
        StepKind.IMMUNOAFFINITY in facts.step_kinds
    )


FACT_FLAGS: dict[str, Callable[[PreparationFacts], bool]] = {
    "ev_claim": lambda f: f.preparation.nomenclature_term in EV_TERMS,
    "antibody_assay": _antibody_assay,
    "lysate_assay": lambda f: any(m.method in LYSATE_METHODS for m in f.markers),
    "uc_step": lambda f: StepKind.ULTRACENTRIFUGATION in f.step_kinds,
    "density_gradient": lambda f: StepKind.DENSITY_GRADIENT in f.step_kinds,
    "blood": lambda f: f.fluid_type in BLOOD,
    "culture_serum": lambda f: f.sample.fields.get("culture_serum") not in (None, "", "serum_free"),
    "particles_measured": lambda f: bool(f.particles),
    "flow_measured": lambda f: bool(f.flow),
}

_LIST_KEYS: dict[str, tuple[str, ...]] = {
    "fluid_types": tuple(FluidType.values),
    "nomenclature_terms": tuple(NomenclatureTerm.values),
    "step_kinds_any": _STEP_KINDS,
    "step_kinds_none": _STEP_KINDS,
    "marker_methods_any": _MARKER_METHODS,
    "measurement_kinds_any": MEASUREMENT_KINDS,
    "flags": tuple(FACT_FLAGS),
}


def validate_applies_when(value: Any) -> list[str]:
    """Problems with an ``applies_when`` object; every given key must hold for the rule to
    apply: fluid_types, nomenclature_terms, step_kinds_any, step_kinds_none,
    marker_methods_any, measurement_kinds_any, flags (all of them), field_in
    ({path: [values]})."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return ["applies_when must be an object."]
    problems = []
    for key, item in value.items():
        if key in _LIST_KEYS:
            problems += _str_list(key, item, _LIST_KEYS[key])
        elif key == "field_in":
            if not isinstance(item, Mapping) or not item:
                problems.append("field_in: give {path: [values]}.")
                continue
            for path, values in item.items():
                problems += validate_path(path)
                problems += _str_list(f"field_in {path}", values, ())
        else:
            known = ", ".join([*_LIST_KEYS, "field_in"])
            problems.append(f"{key}: not a condition (use {known}).")
    return problems


Predicate = Callable[[PreparationFacts], bool]


def _condition(key: str, value: Any) -> Predicate:
    if key == "fluid_types":
        fluids = frozenset(value)
        return lambda f: f.sample.fluid_type in fluids
    if key == "nomenclature_terms":
        terms = frozenset(value)
        return lambda f: f.preparation.nomenclature_term in terms
    if key == "step_kinds_any":
        kinds = frozenset(value)
        return lambda f: not kinds.isdisjoint(f.run.step_kinds)
    if key == "step_kinds_none":
        kinds = frozenset(value)
        return lambda f: kinds.isdisjoint(f.run.step_kinds)
    if key == "marker_methods_any":
        methods = frozenset(value)
        return lambda f: any(m.method in methods for m in f.markers)
    if key == "measurement_kinds_any":
        kinds = tuple(value)
        return lambda f: any(getattr(f, kind) for kind in kinds)
    if key == "flags":
        tests = tuple(FACT_FLAGS[name] for name in value)
        return lambda f: all(test(f) for test in tests)
    if key == "field_in":
        wanted = tuple((path, frozenset(values)) for path, values in value.items())

        def field_in(f: PreparationFacts) -> bool:
            for path, values in wanted:
                found = resolve(f, path)
                if not found or any(v not in values for v in found):
                    return False
            return True

        return field_in
    raise ValueError(f"Unknown applicability condition {key!r}.")


def compile_applies_when(when: Mapping[str, Any] | None) -> Predicate | None:
    """One predicate for an ``applies_when`` object (None: the rule always applies). The
    engine compiles each rule once, not once per preparation."""
    conditions = tuple(_condition(key, value) for key, value in (when or {}).items())
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]
    return lambda f: all(condition(f) for condition in conditions)


def applies(rule_like: Any, facts: PreparationFacts) -> bool:
    """Whether a rule (anything with ``applies_when``) applies to the preparation: every
    given condition holds."""
    predicate = compile_applies_when(getattr(rule_like, "applies_when", None))
    return predicate is None or predicate(facts)
