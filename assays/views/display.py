"""Step parameters as people read them: labels and units from ``assays.steps.schema_for``,
choice labels instead of codes, and for a centrifugation step on a rotor the other half of
RCF ↔ rpm (from the rotor's radii)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..steps import CENTRIFUGATION_KINDS, schema_for


@dataclass(frozen=True)
class ShownParameter:
    name: str
    label: str
    value: str
    unit: str
    planned: str = ""  # run pages: what the protocol said, when the run differed
    differs: bool = False


@dataclass
class ShownStep:
    order: int
    kind: str
    kind_label: str
    title: str
    rotor_name: str
    notes: str
    parameters: list[ShownParameter]
    computed: str = ""  # "≈ 32,000 rpm on SW 41 Ti"
    differs: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def ml_text(value: Decimal | None) -> str:
    """0.5000 → "0.5": volumes as people write them (stored with four decimals)."""
    if value is None:
        return ""
    return format(value.normalize(), "f") if isinstance(value, Decimal) else format_number(value)


def format_number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def format_value(param: dict[str, Any], value: Any) -> str:
    kind = param["type"]
    if value is None or value == "":
        return ""
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "choice":
        labels = {c["value"]: c["label"] for c in param["choices"]}
        return labels.get(value, str(value))
    if kind == "list" and isinstance(value, (list, tuple)):
        return ", ".join(format_number(v) for v in value)
    if kind == "mapping" and isinstance(value, dict):
        return "; ".join(f"{k} = {format_number(v)}" for k, v in value.items())
    return format_number(value)


def _unit(param: dict[str, Any]) -> str:
    return param["unit"] if param["type"] not in ("bool", "choice", "text") else ""


def shown_parameters(
    kind: str, parameters: dict[str, Any], *, planned: dict[str, Any] | None = None
) -> list[ShownParameter]:
    """The parameters that have a value, in schema order. With ``planned`` (a run), each
    one says whether the run differed and what was planned."""
    shown = []
    for param in schema_for(kind)["parameters"]:
        name = param["name"]
        if name not in parameters and (planned is None or name not in planned):
            continue
        value = format_value(param, parameters.get(name))
        before = format_value(param, planned.get(name)) if planned is not None else ""
        shown.append(
            ShownParameter(
                name=name,
                label=param["label"],
                value=value,
                unit=_unit(param),
                planned=before,
                differs=planned is not None and value != before,
            )
        )
    return shown


def computed_speed(kind: str, rotor, parameters: dict[str, Any]) -> str:
    """RCF ↔ rpm and the k-factor of a centrifugation step on its rotor: both RCFs, so
    "×g average" and "×g max" papers can be compared."""
    if rotor is None or kind not in CENTRIFUGATION_KINDS:
        return ""
    basis = parameters.get("g_basis") or "average"
    try:
        if parameters.get("rpm"):
            rpm = float(parameters["rpm"])
        elif parameters.get("g_force"):
            rpm = rotor.rpm_for(float(parameters["g_force"]), basis)
        else:
            return ""
        average, maximum = rotor.rcf_at(rpm, "average"), rotor.rcf_at(rpm, "max")
        k = rotor.k_at(rpm)
    except ValueError:
        return ""
    over = f" — above the rotor's maximum of {rotor.max_rpm:,} rpm" if rpm > rotor.max_rpm else ""
    return (
        f"{rpm:,.0f} rpm on {rotor.name} ≈ {average:,.0f} ×g average · {maximum:,.0f} ×g max · "
        f"k {k:,.1f}{over}"
    )


def shown_step(step, *, actual: dict[str, Any] | None = None) -> ShownStep:
    """A ProtocolStep for a page; with ``actual`` (a run's differing values) the values
    shown are the effective ones, each marked where it differed."""
    planned = dict(step.parameters or {})
    effective = {**planned, **(actual or {})}
    parameters = shown_parameters(
        step.kind, effective, planned=planned if actual is not None else None
    )
    return ShownStep(
        order=step.order,
        kind=step.kind,
        kind_label=step.get_kind_display(),
        title=step.title,
        rotor_name=step.rotor.name if step.rotor_id else "",
        notes=step.notes,
        parameters=parameters,
        computed=computed_speed(step.kind, step.rotor if step.rotor_id else None, effective),
        differs=any(p.differs for p in parameters),
    )
