"""Typed parameters of isolation steps: one schema per step kind, and their validation.

A step's ``parameters`` hold numbers in one canonical unit per parameter (×g, rpm, min, °C,
mL, kDa, µm, g/mL, %, bar) so that runs and protocols can be compared by query; the unit is
in the schema, never in the stored value. Volumes may arrive with another unit
(``{"value": 250, "unit": "µL"}``) and durations in hours or seconds; they are converted.

Pages build their forms from ``schema_for(kind)``, the API publishes it at
``/api/v1/step-kinds/``, and every write goes through ``validate_parameters``, so there is one
set of rules. Unknown parameters are refused: a misspelt key silently dropped would be a
protocol that says less than the lab thinks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from django.core.exceptions import ValidationError

from samples.units import parse_decimal, volume_to_ml

from . import centrifugation
from .choices import StepKind

__all__ = [
    "CENTRIFUGATION_KINDS",
    "Param",
    "RotorLike",
    "all_schemas",
    "parameters_for",
    "schema_for",
    "validate_parameters",
]

MAX_TEXT = 200
MAX_LIST = 100
MAX_EXTRA = 30
# ×g and rpm derived from each other must agree within this fraction when both are given.
RCF_TOLERANCE = 0.05


class RotorLike(Protocol):
    """What validation needs of a rotor (assays.models.Rotor fits)."""

    name: str
    r_min_mm: float
    r_max_mm: float
    max_rpm: int


@dataclass(frozen=True)
class Param:
    """One parameter of a step kind."""

    name: str
    label: str
    type: str  # number | int | bool | choice | text | list | mapping
    unit: str = ""
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[tuple[str, str], ...] = ()
    item_type: str = ""  # for lists: number | int | text
    help: str = ""
    # Other units the value may be given in ({"value": …, "unit": …}); converted on input.
    accepts_units: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "unit": self.unit,
            "required": self.required,
            "min": self.min,
            "max": self.max,
            "choices": [{"value": v, "label": label} for v, label in self.choices],
            "item_type": self.item_type,
            "help": self.help,
            "accepts_units": list(self.accepts_units),
        }


@dataclass(frozen=True)
class KindSchema:
    kind: str
    label: str
    params: tuple[Param, ...]
    rules: tuple[str, ...] = ()
    centrifugation: bool = False
    by_name: dict[str, Param] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_name.update({p.name: p for p in self.params})


# --- Building blocks --------------------------------------------------------------------

_VOLUME_UNITS = ("mL", "µL", "L")
_TIME_UNITS = ("min", "h", "s")
_TIME_FACTORS = {"min": 1.0, "mins": 1.0, "minutes": 1.0, "h": 60.0, "hours": 60.0, "s": 1 / 60}
_BOOL_TEXT = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}
_RRID = re.compile(r"^(RRID:\s*)?AB_\d+$", re.IGNORECASE)

G_BASIS = (("average", "Average RCF (r avg)"), ("max", "Maximum RCF (r max)"))


def _number(name: str, label: str, unit: str, lo: float, hi: float, **kw: Any) -> Param:
    return Param(name=name, label=label, type="number", unit=unit, min=lo, max=hi, **kw)


def _int(name: str, label: str, lo: int, hi: int, unit: str = "", **kw: Any) -> Param:
    return Param(name=name, label=label, type="int", unit=unit, min=lo, max=hi, **kw)


def _text(name: str, label: str, **kw: Any) -> Param:
    return Param(name=name, label=label, type="text", **kw)


def _volume(name: str, label: str, hi: float = 10_000, **kw: Any) -> Param:
    return Param(
        name=name,
        label=label,
        type="number",
        unit="mL",
        min=0.0001,
        max=hi,
        accepts_units=_VOLUME_UNITS,
        **kw,
    )


def _minutes(name: str, label: str, hi: float = 10_080, **kw: Any) -> Param:
    return Param(
        name=name,
        label=label,
        type="number",
        unit="min",
        min=0.1,
        max=hi,
        accepts_units=_TIME_UNITS,
        **kw,
    )


def _temperature(name: str = "temperature_c", label: str = "Temperature", **kw: Any) -> Param:
    return _number(name, label, "°C", -30, 60, **kw)


def _g_force(**kw: Any) -> Param:
    return _number("g_force", "Force", "×g", 1, 1_500_000, **kw)


def _g_basis() -> Param:
    return Param(
        name="g_basis",
        label="×g refers to",
        type="choice",
        choices=G_BASIS,
        help="Whether the force is the average or the maximum RCF (required with g_force; "
        "average when computed from rpm).",
    )


def _rpm() -> Param:
    return _int("rpm", "Speed", 1, 200_000, unit="rpm", help="With a rotor, the force is computed.")


def _spin() -> tuple[Param, ...]:
    """What every centrifugation spin records: force or speed, time, temperature, brake."""
    return (
        _g_force(),
        _g_basis(),
        _rpm(),
        _minutes("duration_min", "Duration", required=True),
        _temperature(),
        Param(name="brake", label="Brake on", type="bool"),
    )


def _extra() -> Param:
    return Param(
        name="extra",
        label="Other parameters",
        type="mapping",
        help="Anything else, as name → number or text (at most 30).",
    )


_CENTRIFUGE_RULE = "Give g_force (with g_basis) or rpm with a rotor; with both, they must agree."

_SCHEMAS: dict[str, KindSchema] = {}


def _register(schema: KindSchema) -> None:
    _SCHEMAS[schema.kind] = schema


_register(
    KindSchema(
        kind=StepKind.DIFFERENTIAL_CENTRIFUGATION,
        label=StepKind.DIFFERENTIAL_CENTRIFUGATION.label,
        centrifugation=True,
        rules=(_CENTRIFUGE_RULE,),
        params=(
            *_spin(),
            _volume("tube_volume_ml", "Tube fill volume", hi=1_000),
            _int("repeats", "Repeats", 1, 20),
            _text("keep", "Keep", help="e.g. supernatant"),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.ULTRACENTRIFUGATION,
        label=StepKind.ULTRACENTRIFUGATION.label,
        centrifugation=True,
        rules=(_CENTRIFUGE_RULE,),
        params=(
            *_spin(),
            _text("tube_type", "Tube type", help="e.g. polycarbonate 26.3 mL"),
            _volume("fill_volume_ml", "Fill volume", hi=1_000),
            _int("washes", "Washes", 0, 10),
            _text("resuspension_buffer", "Resuspension buffer", help="e.g. PBS"),
            _volume("resuspension_volume_ml", "Resuspension volume", hi=1_000),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.DENSITY_GRADIENT,
        label=StepKind.DENSITY_GRADIENT.label,
        centrifugation=True,
        rules=(
            _CENTRIFUGE_RULE,
            "range_from_percent must be below range_to_percent.",
        ),
        params=(
            Param(
                name="medium",
                label="Medium",
                type="choice",
                required=True,
                choices=(("iodixanol", "Iodixanol (OptiPrep)"), ("sucrose", "Sucrose")),
            ),
            Param(
                name="loading",
                label="Sample loading",
                type="choice",
                required=True,
                choices=(("top", "Top-down"), ("bottom", "Bottom-up")),
            ),
            _number("range_from_percent", "Gradient from", "%", 0, 100, help="% w/v"),
            _number("range_to_percent", "Gradient to", "%", 0, 100, help="% w/v"),
            _int("layers", "Layers", 1, 50),
            _volume("layer_volume_ml", "Volume per layer", hi=100),
            _g_force(),
            _g_basis(),
            _rpm(),
            _minutes("duration_min", "Duration", required=True),
            _temperature(),
            _int("fractions_collected", "Fractions collected", 1, 200),
            _volume("fraction_volume_ml", "Fraction volume", hi=100),
            Param(
                name="fractions_pooled",
                label="Fractions pooled",
                type="list",
                item_type="int",
                min=1,
                max=200,
                help="Fraction numbers, e.g. 6, 7, 8",
            ),
            Param(
                name="pooled_densities_g_ml",
                label="Densities of pooled fractions",
                type="list",
                item_type="number",
                unit="g/mL",
                min=0.9,
                max=1.6,
            ),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.SEC,
        label=StepKind.SEC.label,
        params=(
            _text("column", "Column / resin", required=True, help="e.g. qEV original 70 nm"),
            _text("resin", "Resin", help="e.g. Sepharose CL-2B"),
            _volume("bed_volume_ml", "Bed volume", hi=1_000),
            _volume("load_volume_ml", "Load volume", hi=1_000, required=True),
            _volume("void_volume_ml", "Void discarded", hi=1_000),
            _volume("fraction_volume_ml", "Fraction volume", hi=100),
            Param(
                name="fractions_pooled",
                label="Fractions pooled",
                type="list",
                item_type="int",
                min=1,
                max=200,
                help="Fraction numbers, e.g. 7, 8, 9",
            ),
            _text("eluent", "Eluent", help="e.g. PBS"),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.PRECIPITATION,
        label=StepKind.PRECIPITATION.label,
        params=(
            _text("reagent", "Reagent / kit", required=True, help="e.g. PEG 6000, ExoQuick"),
            _text("lot", "Lot"),
            _number("peg_percent", "PEG concentration", "%", 0.1, 50, help="% w/v"),
            _number(
                "reagent_to_sample_ratio",
                "Reagent : sample",
                "",
                0.001,
                100,
                help="Reagent volume per sample volume, e.g. 0.25 for 1:4.",
            ),
            _minutes("incubation_min", "Incubation", hi=43_200),
            _temperature("incubation_temperature_c", "Incubation temperature"),
            _g_force(),
            _g_basis(),
            _minutes("spin_duration_min", "Spin duration"),
            _temperature("spin_temperature_c", "Spin temperature"),
        ),
        rules=("g_force needs g_basis.",),
    )
)
_register(
    KindSchema(
        kind=StepKind.ULTRAFILTRATION,
        label=StepKind.ULTRAFILTRATION.label,
        params=(
            _number("mwco_kda", "MWCO", "kDa", 1, 1_000, required=True),
            _text("membrane", "Membrane", help="e.g. regenerated cellulose, PES"),
            _text("device", "Device", help="e.g. Amicon Ultra-15"),
            Param(
                name="mode",
                label="Mode",
                type="choice",
                choices=(("centrifugal", "Centrifugal"), ("tff", "Tangential flow (TFF)")),
            ),
            _g_force(),
            _g_basis(),
            _number("pressure_bar", "Transmembrane pressure", "bar", 0.01, 10, help="TFF: TMP"),
            _minutes("duration_min", "Duration"),
            _volume("final_volume_ml", "Final volume", hi=1_000),
        ),
        rules=("g_force needs g_basis.",),
    )
)
_register(
    KindSchema(
        kind=StepKind.IMMUNOAFFINITY,
        label=StepKind.IMMUNOAFFINITY.label,
        params=(
            _text("target_antigen", "Target antigen", required=True, help="e.g. CD63"),
            _text("antibody_clone", "Antibody clone"),
            _text("antibody_catalogue", "Antibody catalogue number"),
            _text("antibody_rrid", "Antibody RRID", help="e.g. AB_2783013"),
            _text("beads", "Beads / surface", help="e.g. Dynabeads M-270 Epoxy"),
            _volume("bead_volume_ml", "Bead volume", hi=100),
            _minutes("incubation_min", "Incubation", hi=43_200),
            _temperature("incubation_temperature_c", "Incubation temperature"),
            Param(
                name="elution",
                label="Elution",
                type="choice",
                required=True,
                choices=(
                    ("none", "None (captured on beads)"),
                    ("low_ph", "Low pH"),
                    ("high_ph", "High pH"),
                    ("competitive", "Competitive (peptide/biotin)"),
                    ("enzymatic", "Enzymatic / cleavable linker"),
                    ("denaturing", "Denaturing (lysis)"),
                ),
            ),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.FILTRATION,
        label=StepKind.FILTRATION.label,
        params=(
            _number("pore_size_um", "Pore size", "µm", 0.01, 100, required=True),
            _text("membrane", "Membrane", help="e.g. PES, cellulose acetate"),
            Param(
                name="position",
                label="Position",
                type="choice",
                choices=(("pre", "Before separation"), ("post", "After separation")),
            ),
            _text("device", "Device"),
            _extra(),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.AF4,
        label=StepKind.AF4.label,
        params=(
            _text("channel", "Channel"),
            _number("spacer_um", "Spacer", "µm", 1, 1_000),
            _text("cross_flow_program", "Cross-flow programme"),
            Param(
                name="detectors",
                label="Detectors",
                type="list",
                item_type="text",
                help="e.g. MALS, DLS, UV",
            ),
            _int("fractions_collected", "Fractions collected", 1, 500),
            _volume("injection_volume_ml", "Injection volume", hi=100),
            _extra(),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.KIT,
        label=StepKind.KIT.label,
        params=(
            _text("vendor", "Vendor", required=True),
            _text("kit_name", "Kit", required=True),
            _text("catalogue_number", "Catalogue number"),
            _text("lot", "Lot"),
            _volume("input_volume_ml", "Input volume", hi=1_000),
            _extra(),
        ),
    )
)
_register(
    KindSchema(
        kind=StepKind.OTHER,
        label=StepKind.OTHER.label,
        params=(
            _text("name", "Method", required=True),
            _extra(),
        ),
    )
)


# --- Public surface ---------------------------------------------------------------------

CENTRIFUGATION_KINDS = frozenset(k for k, s in _SCHEMAS.items() if s.centrifugation)


def _schema(kind: str) -> KindSchema:
    try:
        return _SCHEMAS[str(kind)]
    except KeyError:
        raise ValidationError(
            {"kind": f"Unknown step kind {kind!r}; use one of {', '.join(_SCHEMAS)}."}
        ) from None


def parameters_for(kind: str) -> tuple[Param, ...]:
    """The parameters of a step kind, in form order."""
    return _schema(kind).params


def schema_for(kind: str) -> dict[str, Any]:
    """A step kind's schema as plain data (for forms, the API and OpenAPI)."""
    schema = _schema(kind)
    return {
        "kind": str(schema.kind),
        "label": str(schema.label),
        "centrifugation": schema.centrifugation,
        "rules": list(schema.rules),
        "parameters": [p.as_dict() for p in schema.params],
    }


def all_schemas() -> list[dict[str, Any]]:
    return [schema_for(kind) for kind in _SCHEMAS]


def _fmt(number: float | None) -> str:
    if number is None:
        return ""
    if float(number).is_integer():
        return f"{int(number):,}"
    return f"{number:,.4g}" if abs(number) >= 1 else f"{number:g}"


def _range_message(param: Param) -> str:
    unit = f" {param.unit}" if param.unit else ""
    return f"{param.name}: must be between {_fmt(param.min)} and {_fmt(param.max)}{unit}"


class _Invalid(Exception):
    """One parameter's problem; collected into a field-level ValidationError."""


def _split_unit(param: Param, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, Mapping):
        if set(raw) - {"value", "unit"} or "value" not in raw:
            raise _Invalid(f'{param.name}: give a value, or {{"value": …, "unit": …}}')
        unit = raw.get("unit")
        return raw["value"], (str(unit).strip() if unit not in (None, "") else None)
    return raw, None


def _to_float(param: Param, value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid(f"{param.name}: {value!r} is not a number")
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    else:
        try:
            number = float(parse_decimal(value))
        except ValidationError as exc:
            raise _Invalid(f"{param.name}: {exc.messages[0]}") from None
    if not math.isfinite(number):
        raise _Invalid(f"{param.name}: {value!r} is not a finite number")
    return number


def _in_range(param: Param, number: float) -> None:
    if (param.min is not None and number < param.min) or (
        param.max is not None and number > param.max
    ):
        raise _Invalid(_range_message(param))


def _clean_number(param: Param, raw: Any) -> float | int:
    value, unit = _split_unit(param, raw)
    if param.accepts_units and param.accepts_units[0] == "mL":
        if unit is not None or not isinstance(value, (int, float)):
            try:
                number = float(volume_to_ml(value, unit or "mL"))
            except ValidationError as exc:
                raise _Invalid(f"{param.name}: {exc.messages[0]}") from None
        else:
            number = _to_float(param, value)
        number = round(number, 4)
    elif param.accepts_units and param.accepts_units[0] == "min":
        key = (unit or "min").strip().lower()
        if key not in _TIME_FACTORS:
            raise _Invalid(
                f"{param.name}: unknown time unit {unit!r}; use {', '.join(_TIME_UNITS)}"
            )
        number = _to_float(param, value) * _TIME_FACTORS[key]
        number = round(number, 4)
    else:
        if (
            unit is not None
            and unit.replace(" ", "").lower() != param.unit.replace(" ", "").lower()
        ):
            raise _Invalid(
                f"{param.name}: give the value in {param.unit or 'plain numbers'}, not {unit}"
            )
        number = _to_float(param, value)
    if param.type == "int":
        if not float(number).is_integer():
            raise _Invalid(f"{param.name}: must be a whole number")
        number = int(number)
    _in_range(param, number)
    return number


def _clean_bool(param: Param, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _BOOL_TEXT:
        return _BOOL_TEXT[text]
    raise _Invalid(f"{param.name}: must be true or false")


def _clean_choice(param: Param, raw: Any) -> str:
    text = str(raw).strip()
    allowed = [v for v, _ in param.choices]
    if text not in allowed:
        raise _Invalid(f"{param.name}: {text!r} is not one of {', '.join(allowed)}")
    return text


def _clean_text(param: Param, raw: Any) -> str:
    if not isinstance(raw, (str, int, float, Decimal)) or isinstance(raw, bool):
        raise _Invalid(f"{param.name}: must be text")
    text = str(raw).strip()
    if len(text) > MAX_TEXT:
        raise _Invalid(f"{param.name}: at most {MAX_TEXT} characters")
    if "\x00" in text:
        raise _Invalid(f"{param.name}: contains a NUL character")
    if param.name == "antibody_rrid" and text and not _RRID.match(text):
        raise _Invalid(f"{param.name}: {text!r} is not an antibody RRID like AB_2783013")
    return text


def _clean_list(param: Param, raw: Any) -> list[Any]:
    if isinstance(raw, str):
        items: list[Any] = [part.strip() for part in re.split(r"[;,]", raw) if part.strip()]
        if param.item_type != "text":
            items = [part for chunk in items for part in chunk.split()]
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise _Invalid(f"{param.name}: must be a list")
    if len(items) > MAX_LIST:
        raise _Invalid(f"{param.name}: at most {MAX_LIST} items")
    cleaned: list[Any] = []
    item = Param(
        name=param.name,
        label=param.label,
        type="int" if param.item_type == "int" else "number",
        unit=param.unit,
        min=param.min,
        max=param.max,
    )
    for value in items:
        if param.item_type == "text":
            cleaned.append(_clean_text(param, value))
        else:
            try:
                cleaned.append(_clean_number(item, value))
            except _Invalid as exc:
                raise _Invalid(f"{exc} (item {value!r})") from None
    return cleaned


def _clean_mapping(param: Param, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _Invalid(f"{param.name}: must be an object of name → number or text")
    if len(raw) > MAX_EXTRA:
        raise _Invalid(f"{param.name}: at most {MAX_EXTRA} entries")
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).strip()
        if not name or len(name) > 60:
            raise _Invalid(f"{param.name}: names must be 1–60 characters")
        if isinstance(value, bool) or value is None:
            raise _Invalid(f"{param.name}: {name} must be a number or text")
        if isinstance(value, (int, float, Decimal)):
            number = float(value)
            if not math.isfinite(number):
                raise _Invalid(f"{param.name}: {name} is not a finite number")
            cleaned[name] = int(number) if isinstance(value, int) else number
        elif isinstance(value, str):
            if len(value) > MAX_TEXT or "\x00" in value:
                raise _Invalid(
                    f"{param.name}: {name} must be text of at most {MAX_TEXT} characters"
                )
            cleaned[name] = value.strip()
        else:
            raise _Invalid(f"{param.name}: {name} must be a number or text")
    return cleaned


_CLEANERS = {
    "number": _clean_number,
    "int": _clean_number,
    "bool": _clean_bool,
    "choice": _clean_choice,
    "text": _clean_text,
    "list": _clean_list,
    "mapping": _clean_mapping,
}


def _is_blank(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str) and not raw.strip():
        return True
    if isinstance(raw, Mapping) and set(raw) <= {"value", "unit"}:
        return _is_blank(raw.get("value"))
    return isinstance(raw, (list, tuple)) and not raw


def validate_parameters(
    kind: str,
    params: Mapping[str, Any] | None,
    *,
    partial: bool = False,
    rotor: RotorLike | None = None,
) -> dict[str, Any]:
    """Cleaned parameters of a ``kind`` step in canonical units, or a ValidationError keyed
    by parameter name whose messages name the parameter and its unit.

    ``partial`` (a run's actual values, which only say what differed) skips the required
    checks. With ``rotor``, an rpm is checked against the rotor's maximum and the force is
    computed from it; a given force and rpm must agree.
    """
    schema = _schema(kind)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ValidationError({"parameters": "Parameters must be an object of name → value."})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, raw in params.items():
        param = schema.by_name.get(str(key))
        if param is None:
            known = ", ".join(schema.by_name)
            errors[str(key)] = [f"{key}: not a parameter of {schema.label.lower()} (use {known})"]
            continue
        if _is_blank(raw):
            continue
        try:
            cleaned[param.name] = _CLEANERS[param.type](param, raw)
        except _Invalid as exc:
            errors[param.name] = [str(exc)]
    if not partial:
        for param in schema.params:
            if param.required and param.name not in cleaned and param.name not in errors:
                unit = f" ({param.unit})" if param.unit else ""
                errors[param.name] = [f"{param.name}: required{unit}"]
    if not errors:
        _check_together(schema, cleaned, errors, partial=partial, rotor=rotor)
    if errors:
        raise ValidationError(errors)
    return {p.name: cleaned[p.name] for p in schema.params if p.name in cleaned}


def _check_together(
    schema: KindSchema,
    cleaned: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    partial: bool,
    rotor: RotorLike | None,
) -> None:
    """Rules that involve more than one parameter."""
    names = schema.by_name
    if "range_from_percent" in cleaned and "range_to_percent" in cleaned:
        if cleaned["range_from_percent"] >= cleaned["range_to_percent"]:
            errors["range_to_percent"] = [
                "range_to_percent: must be above range_from_percent "
                f"({_fmt(cleaned['range_from_percent'])}%)"
            ]
    if "g_force" in names and "rpm" not in names:
        if "g_force" in cleaned and "g_basis" not in cleaned and not partial:
            errors["g_basis"] = ["g_basis: say whether g_force is the average or the max RCF"]
        return
    if "rpm" not in names:
        return
    g_force, rpm = cleaned.get("g_force"), cleaned.get("rpm")
    if rpm is not None and rotor is not None and rpm > rotor.max_rpm:
        errors["rpm"] = [
            f"rpm: {_fmt(rpm)} rpm is above the maximum of {rotor.name} ({_fmt(rotor.max_rpm)} rpm)"
        ]
        return
    if rpm is not None and rotor is not None:
        basis = cleaned.get("g_basis") or "average"
        radius = centrifugation.radius_for(basis, rotor.r_min_mm, rotor.r_max_mm)
        computed = round(centrifugation.rcf_from_rpm(rpm, radius))
        if g_force is None:
            cleaned["g_force"] = float(computed)
            cleaned["g_basis"] = basis
        elif abs(g_force - computed) > RCF_TOLERANCE * computed:
            errors["g_force"] = [
                f"g_force: {_fmt(g_force)} ×g does not match {_fmt(rpm)} rpm on {rotor.name} "
                f"(≈ {_fmt(computed)} ×g {basis}); give one of them or correct it"
            ]
        return
    if partial:
        return
    if rpm is not None and g_force is None:
        errors["rpm"] = ["rpm: choose the rotor so the force (×g) can be computed, or give g_force"]
    elif g_force is None:
        errors["g_force"] = ["g_force: required (×g), or give rpm with a rotor"]
    elif "g_basis" not in cleaned:
        errors["g_basis"] = ["g_basis: say whether g_force is the average or the max RCF"]
