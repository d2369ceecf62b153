"""State-changing operations on isolation protocols and runs, and the figures derived from them.

Every public writer runs in one transaction and records the acting user in the audit trail.
Pages and the API call these functions; nothing else writes protocols, versions, steps, runs
or preparations.

Protocols are lab-wide: changing them needs Django's model permissions
(``assays.add_isolationprotocol`` to create or clone, ``assays.change_isolationprotocol`` to
edit, publish or retire; a superuser has both). Runs belong to a study: recording one needs
the editor role in the study of its input tubes.

A version is frozen once it is no longer a draft (published or retired) or a run has used
it: its steps never change again, so every preparation keeps pointing at exactly what was
done. Changing a frozen protocol means saving its steps as the next version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.utils import timezone

from exolims.services import service as _service
from samples import services as tube_services
from samples.choices import AliquotKind, ContainerType
from samples.models import Aliquot, StorageUnit, Study

from . import centrifugation
from .choices import NomenclatureTerm, StepKind, VersionStatus
from .models import (
    EVPreparation,
    IsolationProtocol,
    IsolationRun,
    ProtocolStep,
    ProtocolVersion,
    Rotor,
    RunInput,
)
from .steps import CENTRIFUGATION_KINDS, validate_parameters

__all__ = [
    "MAX_RUN_INPUTS",
    "MAX_RUN_OUTPUTS",
    "MAX_STEPS",
    "Equivalent",
    "ParameterChange",
    "RotorFigures",
    "RunOutput",
    "RunStep",
    "StepDiff",
    "StepInput",
    "StepsInvalid",
    "VersionDiff",
    "VersionFrozen",
    "can_create_protocols",
    "can_edit_protocols",
    "clean_steps",
    "clone_protocol",
    "create_next_version",
    "create_protocol",
    "diff_versions",
    "equivalent_on",
    "publish_version",
    "record_isolation_run",
    "retire_version",
    "run_rotor_figures",
    "run_steps",
    "save_version_steps",
    "update_protocol",
    "update_version_details",
]

MAX_STEPS = 50
MAX_RUN_INPUTS = 100
MAX_RUN_OUTPUTS = 200
FUTURE_TOLERANCE = timedelta(minutes=5)


class VersionFrozen(ValidationError):
    """The version is published, retired or used by a run; its steps cannot change."""


class StepsInvalid(ValidationError):
    """Steps that do not validate. ``by_step`` maps the step index (0-based) to
    {field or parameter: [messages]} for forms that show errors next to each input; the
    error itself carries one readable line per problem under ``steps``."""

    def __init__(self, by_step: dict[int, dict[str, list[str]]], general: list[str] = ()):
        self.by_step = by_step
        lines = list(general)
        for index, errors in sorted(by_step.items()):
            for messages in errors.values():
                lines.extend(f"Step {index + 1}: {m}" for m in messages)
        super().__init__({"steps": lines})


@dataclass(frozen=True)
class StepInput:
    """One step as given by a form or the API. ``parameters`` in the kind's schema."""

    kind: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    rotor: Rotor | int | None = None
    notes: str = ""


@dataclass(frozen=True)
class RunOutput:
    """One preparation a run produced. ``source`` names the input tube it came from (the
    tube, its id, or its 0-based index in the run's inputs); with one input it may be left
    out. ``position``: "B7" or (row, column); None with a box: first free well."""

    nomenclature_term: str
    volume_ml: Decimal | str | float
    source: Aliquot | int | None = None
    source_index: int | None = None
    author_term: str = ""
    fraction: str = ""
    resuspension_buffer: str = ""
    container_type: str = ContainerType.CRYOVIAL_2ML
    box: StorageUnit | int | None = None
    position: tuple[int, int] | str | None = None
    notes: str = ""


@dataclass(frozen=True)
class ParameterChange:
    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class StepDiff:
    """How step ``order`` differs between two versions. ``status`` is added, removed,
    changed or same."""

    order: int
    status: str
    kind_a: str | None
    kind_b: str | None
    title_a: str = ""
    title_b: str = ""
    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: list[ParameterChange] = field(default_factory=list)
    other: list[ParameterChange] = field(default_factory=list)  # kind, title, rotor, notes

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "status": self.status,
            "kind_a": self.kind_a,
            "kind_b": self.kind_b,
            "title_a": self.title_a,
            "title_b": self.title_b,
            "added": self.added,
            "removed": self.removed,
            "changed": [{"name": c.name, "old": c.old, "new": c.new} for c in self.changed],
            "other": [{"name": c.name, "old": c.old, "new": c.new} for c in self.other],
        }


@dataclass(frozen=True)
class VersionDiff:
    a: ProtocolVersion
    b: ProtocolVersion
    steps: list[StepDiff]

    @property
    def has_changes(self) -> bool:
        return any(s.status != "same" for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.pk,
            "b": self.b.pk,
            "a_label": str(self.a),
            "b_label": str(self.b),
            "has_changes": self.has_changes,
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class Equivalent:
    """The same pelleting on another rotor at its maximum speed: t₂ = t₁ · k₂ / k₁."""

    rotor_id: int
    rotor_name: str
    rpm: int
    rcf_average: int
    rcf_max: int
    k_factor: float
    duration_min: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RotorFigures:
    """What a centrifugation step with a rotor amounted to (actual values where the run
    recorded them)."""

    step_order: int
    title: str
    kind: str
    rotor_id: int
    rotor_name: str
    rpm: int
    rcf_average: int
    rcf_max: int
    g_basis: str
    g_force: float
    k_factor_max: float
    k_adjusted: float
    duration_min: float | None
    equivalents: list[Equivalent] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["equivalents"] = [e.as_dict() for e in self.equivalents]
        return data


@dataclass(frozen=True)
class RunStep:
    """A protocol step as planned and as run (``actual`` only holds what differed)."""

    step: ProtocolStep
    planned: dict[str, Any]
    actual: dict[str, Any]

    @property
    def effective(self) -> dict[str, Any]:
        return {**self.planned, **self.actual}


# --- Plumbing --------------------------------------------------------------------------


def can_create_protocols(user) -> bool:
    return bool(user and user.is_active and user.has_perm("assays.add_isolationprotocol"))


def can_edit_protocols(user) -> bool:
    return bool(user and user.is_active and user.has_perm("assays.change_isolationprotocol"))


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise PermissionDenied(
            f"{what} needs the protocol-library permission; ask an administrator."
        )


def _text(value: Any, name: str, max_length: int, errors: dict[str, list[str]]) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > max_length:
        errors.setdefault(name, []).append(f"{name}: at most {max_length} characters.")
    if "\x00" in text:
        errors.setdefault(name, []).append(f"{name}: contains a NUL character.")
    return text


def _as_step_input(raw: StepInput | Mapping[str, Any]) -> StepInput:
    if isinstance(raw, StepInput):
        return raw
    if not isinstance(raw, Mapping):
        raise ValidationError({"steps": "Each step must be an object with a kind."})
    rotor = raw.get("rotor", raw.get("rotor_id"))
    return StepInput(
        kind=raw.get("kind") or "",
        parameters=raw.get("parameters") or {},
        title=raw.get("title") or "",
        rotor=rotor if rotor not in ("", None) else None,
        notes=raw.get("notes") or "",
    )


def clean_steps(steps: Sequence[StepInput | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate an ordered list of steps without saving: ``ProtocolStep`` field values per
    step (order from 1, parameters in canonical units), or ``StepsInvalid``."""
    if len(steps) > MAX_STEPS:
        raise StepsInvalid({}, [f"At most {MAX_STEPS} steps."])
    inputs = [_as_step_input(s) for s in steps]
    rotor_ids = {
        s.rotor.pk if isinstance(s.rotor, Rotor) else s.rotor for s in inputs if s.rotor is not None
    }
    rotor_ids_int: set[int] = set()
    for rid in rotor_ids:
        try:
            rotor_ids_int.add(int(rid))
        except (TypeError, ValueError):
            pass
    rotors = {r.pk: r for r in Rotor.objects.filter(pk__in=rotor_ids_int)}
    by_step: dict[int, dict[str, list[str]]] = {}
    cleaned: list[dict[str, Any]] = []
    for index, step in enumerate(inputs):
        errors: dict[str, list[str]] = {}
        kind = str(step.kind)
        if kind not in StepKind.values:
            errors["kind"] = [
                f"kind: {kind!r} is not a step kind; use one of {', '.join(StepKind.values)}."
                if kind
                else "kind: choose the kind of step."
            ]
        rotor = None
        if step.rotor is not None:
            try:
                rotor = rotors.get(
                    int(step.rotor.pk if isinstance(step.rotor, Rotor) else step.rotor)
                )
            except (TypeError, ValueError):
                rotor = None
            if rotor is None:
                errors["rotor"] = [f"rotor: no rotor {step.rotor!r} in the catalogue."]
            elif kind in StepKind.values and kind not in CENTRIFUGATION_KINDS:
                errors["rotor"] = ["rotor: only centrifugation steps have a rotor."]
        title = _text(step.title, "title", 120, errors)
        notes = _text(step.notes, "notes", 5000, errors)
        parameters: dict[str, Any] = {}
        if "kind" not in errors:
            try:
                parameters = validate_parameters(kind, step.parameters, rotor=rotor)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, messages in exc.message_dict.items():
                        errors.setdefault(name, []).extend(messages)
                else:
                    errors.setdefault("parameters", []).extend(exc.messages)
        if errors:
            by_step[index] = errors
        cleaned.append(
            {
                "order": index + 1,
                "kind": kind,
                "title": title,
                "parameters": parameters,
                "rotor": rotor,
                "notes": notes,
            }
        )
    if by_step:
        raise StepsInvalid(by_step)
    return cleaned


def _write_steps(version: ProtocolVersion, cleaned: list[dict[str, Any]]) -> None:
    version.steps.all().delete()
    ProtocolStep.objects.bulk_create([ProtocolStep(version=version, **step) for step in cleaned])


def _steps_of(version: ProtocolVersion) -> list[dict[str, Any]]:
    return [
        {
            "kind": s.kind,
            "title": s.title,
            "parameters": dict(s.parameters),
            "rotor": s.rotor_id,
            "notes": s.notes,
        }
        for s in version.steps.order_by("order")
    ]


def _lock_version(version: ProtocolVersion | int) -> ProtocolVersion:
    pk = version.pk if isinstance(version, ProtocolVersion) else version
    return (
        ProtocolVersion.objects.select_for_update(of=("self",))
        .select_related("protocol")
        .get(pk=pk)
    )


def _frozen_reason(version: ProtocolVersion) -> str | None:
    runs = version.runs.count()
    if runs:
        return f"{version} has been used by {runs} run{'s' if runs != 1 else ''}"
    if version.status != VersionStatus.DRAFT:
        return f"{version} is {version.get_status_display().lower()}"
    return None


def _check_name(name: Any, *, exclude: int | None = None) -> str:
    errors: dict[str, list[str]] = {}
    text = _text(name, "name", 120, errors)
    if not text:
        errors.setdefault("name", []).append("name: give the protocol a name.")
    elif IsolationProtocol.objects.filter(name__iexact=text).exclude(pk=exclude).exists():
        errors.setdefault("name", []).append(f"name: a protocol named {text!r} already exists.")
    if errors:
        raise ValidationError(errors)
    return text


# --- Protocols and versions --------------------------------------------------------------


@_service
def create_protocol(
    *,
    name: str,
    description: str = "",
    steps: Sequence[StepInput | Mapping[str, Any]] = (),
    user,
    changes: str = "",
    recovery_specificity: str = "",
) -> ProtocolVersion:
    """A new protocol with version 1 as a draft holding ``steps``."""
    _require(can_create_protocols(user), "Creating a protocol")
    name = _check_name(name)
    cleaned = clean_steps(steps)
    protocol = IsolationProtocol.objects.create(
        name=name, description=(description or "").strip(), created_by=user
    )
    version = ProtocolVersion(
        protocol=protocol,
        number=1,
        changes=(changes or "").strip(),
        recovery_specificity=recovery_specificity or "",
        created_by=user,
    )
    version.full_clean(exclude=["protocol"])
    version.save()
    _write_steps(version, cleaned)
    return version


@_service
def update_protocol(
    *,
    protocol: IsolationProtocol,
    user,
    name: str | None = None,
    description: str | None = None,
) -> IsolationProtocol:
    """Rename a protocol or change its description (what it does lives in its versions)."""
    _require(can_edit_protocols(user), "Changing a protocol")
    locked = IsolationProtocol.objects.select_for_update().get(pk=protocol.pk)
    fields = []
    if name is not None:
        locked.name = _check_name(name, exclude=locked.pk)
        fields.append("name")
    if description is not None:
        locked.description = description.strip()
        fields.append("description")
    if fields:
        locked.save(update_fields=fields)
    return locked


@_service
def update_version_details(
    *,
    version: ProtocolVersion,
    user,
    changes: str | None = None,
    recovery_specificity: str | None = None,
    sop_document: Any = None,
) -> ProtocolVersion:
    """Change a draft's notes, MISEV recovery/specificity class or SOP document. Like its
    steps, these are frozen once the version is published or used."""
    _require(can_edit_protocols(user), "Changing a protocol")
    locked = _lock_version(version)
    reason = _frozen_reason(locked)
    if reason is not None:
        raise VersionFrozen(f"{reason}; its details cannot change. Make a new version instead.")
    fields = []
    if changes is not None:
        locked.changes = changes.strip()
        fields.append("changes")
    if recovery_specificity is not None:
        locked.recovery_specificity = recovery_specificity
        fields.append("recovery_specificity")
    if sop_document is not None:
        locked.sop_document = sop_document or ""
        fields.append("sop_document")
    if fields:
        locked.full_clean(exclude=["protocol", "number", "status"], validate_unique=False)
        locked.save(update_fields=fields)
    return locked


def _next_version(
    source: ProtocolVersion,
    *,
    user,
    cleaned: list[dict[str, Any]],
    changes: str,
) -> ProtocolVersion:
    # The protocol row lock serialises numbering: two editors cannot both make "v3".
    protocol = IsolationProtocol.objects.select_for_update().get(pk=source.protocol_id)
    draft = protocol.versions.filter(status=VersionStatus.DRAFT).order_by("-number").first()
    if draft is not None:
        raise VersionFrozen(
            f"{draft} is already a draft of {protocol.name}; edit it instead of starting "
            "another version."
        )
    number = (protocol.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = ProtocolVersion.objects.create(
        protocol=protocol,
        number=number,
        changes=(changes or "").strip(),
        sop_document=source.sop_document,
        recovery_specificity=source.recovery_specificity,
        created_by=user,
    )
    _write_steps(version, cleaned)
    return version


@_service
def create_next_version(
    *,
    version: ProtocolVersion,
    user,
    steps: Sequence[StepInput | Mapping[str, Any]] | None = None,
    changes: str = "",
) -> ProtocolVersion:
    """The next version of ``version``'s protocol as a draft: a copy of ``version``'s steps,
    or ``steps`` when given. Refused while the protocol already has another open draft."""
    _require(can_edit_protocols(user), "Changing a protocol")
    source = ProtocolVersion.objects.select_related("protocol").get(pk=version.pk)
    cleaned = clean_steps(_steps_of(source) if steps is None else steps)
    return _next_version(source, user=user, cleaned=cleaned, changes=changes)


@_service
def save_version_steps(
    *,
    version: ProtocolVersion,
    steps: Sequence[StepInput | Mapping[str, Any]],
    user,
    new_version: bool = False,
    changes: str | None = None,
) -> ProtocolVersion:
    """Replace the steps of a draft. A frozen version (published, retired or used by a run)
    is refused with ``VersionFrozen`` unless ``new_version``: then the steps become the next
    version, a draft. Returns the version that now holds the steps."""
    _require(can_edit_protocols(user), "Changing a protocol")
    locked = _lock_version(version)
    cleaned = clean_steps(steps)
    reason = _frozen_reason(locked)
    if reason is None:
        _write_steps(locked, cleaned)
        if changes is not None:
            locked.changes = changes.strip()
            locked.save(update_fields=["changes"])
        return locked
    if not new_version:
        raise VersionFrozen(
            f"{reason}; its steps cannot change. Save the changes as a new version instead."
        )
    return _next_version(locked, user=user, cleaned=cleaned, changes=changes or "")


@_service
def publish_version(*, version: ProtocolVersion, user) -> ProtocolVersion:
    """Make a draft runnable. It needs at least one step and every step must still pass
    validation (the schemas may have become stricter since it was saved)."""
    _require(can_edit_protocols(user), "Publishing a protocol")
    locked = _lock_version(version)
    if locked.status == VersionStatus.PUBLISHED:
        raise ValidationError({"status": f"{locked} is already published."})
    if locked.status == VersionStatus.RETIRED:
        raise ValidationError(
            {"status": f"{locked} is retired; save its steps as a new version to use them again."}
        )
    current = _steps_of(locked)
    if not current:
        raise ValidationError({"steps": f"{locked} has no steps; add at least one to publish."})
    clean_steps(current)
    locked.status = VersionStatus.PUBLISHED
    locked.published_at = timezone.now()
    locked.save(update_fields=["status", "published_at"])
    return locked


@_service
def retire_version(*, version: ProtocolVersion, user) -> ProtocolVersion:
    """No more runs with this version; its runs and preparations keep pointing at it."""
    _require(can_edit_protocols(user), "Retiring a protocol version")
    locked = _lock_version(version)
    if locked.status == VersionStatus.RETIRED:
        raise ValidationError({"status": f"{locked} is already retired."})
    locked.status = VersionStatus.RETIRED
    locked.save(update_fields=["status"])
    return locked


@_service
def clone_protocol(
    *,
    version: ProtocolVersion,
    new_name: str,
    user,
    description: str | None = None,
) -> ProtocolVersion:
    """A new protocol whose version 1 (a draft) copies ``version``'s steps; ``cloned_from``
    remembers where it came from."""
    _require(can_create_protocols(user), "Cloning a protocol")
    source = ProtocolVersion.objects.select_related("protocol").get(pk=version.pk)
    name = _check_name(new_name)
    cleaned = clean_steps(_steps_of(source))
    protocol = IsolationProtocol.objects.create(
        name=name,
        description=(source.protocol.description if description is None else description.strip()),
        cloned_from=source,
        created_by=user,
    )
    clone = ProtocolVersion.objects.create(
        protocol=protocol,
        number=1,
        changes=f"Cloned from {source}.",
        sop_document=source.sop_document,
        recovery_specificity=source.recovery_specificity,
        created_by=user,
    )
    _write_steps(clone, cleaned)
    return clone


def diff_versions(a: ProtocolVersion, b: ProtocolVersion) -> VersionDiff:
    """Step-by-step differences from ``a`` to ``b`` (matched by position)."""
    steps_a = {s.order: s for s in a.steps.select_related("rotor")}
    steps_b = {s.order: s for s in b.steps.select_related("rotor")}
    diffs: list[StepDiff] = []
    for order in sorted(steps_a.keys() | steps_b.keys()):
        sa, sb = steps_a.get(order), steps_b.get(order)
        if sa is None:
            diffs.append(
                StepDiff(order, "added", None, sb.kind, title_b=sb.title, added=dict(sb.parameters))
            )
            continue
        if sb is None:
            diffs.append(
                StepDiff(
                    order, "removed", sa.kind, None, title_a=sa.title, removed=dict(sa.parameters)
                )
            )
            continue
        pa, pb = sa.parameters or {}, sb.parameters or {}
        added = {k: pb[k] for k in pb if k not in pa}
        removed = {k: pa[k] for k in pa if k not in pb}
        changed = [ParameterChange(k, pa[k], pb[k]) for k in pa if k in pb and pa[k] != pb[k]]
        other = [
            ParameterChange(name, old, new)
            for name, old, new in (
                ("kind", sa.kind, sb.kind),
                ("title", sa.title, sb.title),
                ("rotor", sa.rotor.name if sa.rotor else None, sb.rotor.name if sb.rotor else None),
                ("notes", sa.notes, sb.notes),
            )
            if old != new
        ]
        status = "changed" if (added or removed or changed or other) else "same"
        diffs.append(
            StepDiff(
                order,
                status,
                sa.kind,
                sb.kind,
                title_a=sa.title,
                title_b=sb.title,
                added=added,
                removed=removed,
                changed=changed,
                other=other,
            )
        )
    return VersionDiff(a=a, b=b, steps=diffs)


# --- Runs ------------------------------------------------------------------------------------


def _when(
    value: Any, name: str, errors: dict[str, list[str]], *, required: bool
) -> datetime | None:
    if value in (None, ""):
        if required:
            errors.setdefault(name, []).append(f"{name}: say when.")
        return None
    if not isinstance(value, datetime):
        errors.setdefault(name, []).append(f"{name}: not a date and time.")
        return None
    if timezone.is_naive(value):
        errors.setdefault(name, []).append(f"{name}: give the time with its time zone.")
        return None
    if value > timezone.now() + FUTURE_TOLERANCE:
        errors.setdefault(name, []).append(f"{name}: cannot be in the future.")
        return None
    return value


def _volume(value: Any, label: str) -> Decimal:
    try:
        volume = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{label}: {value!r} is not a volume in mL.") from None
    if not volume.is_finite() or volume <= 0:
        raise ValueError(f"{label}: must be greater than zero (mL).")
    if volume >= Decimal(10) ** 8:
        raise ValueError(f"{label}: too large.")
    volume = volume.quantize(Decimal("0.0001"))
    if volume <= 0:
        raise ValueError(f"{label}: must be at least 0.0001 mL.")
    return volume


def _as_output(raw: RunOutput | Mapping[str, Any]) -> RunOutput:
    if isinstance(raw, RunOutput):
        return raw
    if not isinstance(raw, Mapping):
        raise ValidationError({"outputs": "Each output must be an object."})
    source = raw.get("source_aliquot", raw.get("source"))
    index = raw.get("input", raw.get("source_index"))
    return RunOutput(
        nomenclature_term=raw.get("nomenclature_term") or "",
        volume_ml=raw.get("volume_ml"),
        source=source if source not in ("", None) else None,
        source_index=index if index not in ("", None) else None,
        author_term=raw.get("author_term") or "",
        fraction=raw.get("fraction") or "",
        resuspension_buffer=raw.get("resuspension_buffer") or "",
        container_type=raw.get("container_type") or ContainerType.CRYOVIAL_2ML,
        box=raw.get("box") if raw.get("box") not in ("", None) else None,
        position=raw.get("position") if raw.get("position") not in ("", None) else None,
        notes=raw.get("notes") or "",
    )


def _clean_actuals(
    version: ProtocolVersion, steps: list[ProtocolStep], raw: Any, errors: dict[str, list[str]]
) -> dict[str, dict[str, Any]]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        errors.setdefault("step_actuals", []).append(
            'step_actuals: an object of step number → {parameter: value}, e.g. {"2": {"rpm": 38000}}.'
        )
        return {}
    by_order = {s.order: s for s in steps}
    cleaned: dict[str, dict[str, Any]] = {}
    for key, values in raw.items():
        try:
            order = int(str(key).strip())
        except ValueError:
            order = None
        step = by_order.get(order) if order is not None else None
        if step is None:
            errors.setdefault("step_actuals", []).append(
                f"step_actuals: {version} has no step {key}."
            )
            continue
        try:
            actual = validate_parameters(step.kind, values, partial=True, rotor=step.rotor)
        except ValidationError as exc:
            messages = (
                exc.messages
                if not hasattr(exc, "error_dict")
                else [m for ms in exc.message_dict.values() for m in ms]
            )
            errors.setdefault("step_actuals", []).extend(
                f"Step {order} ({step.get_kind_display()}): {m}" for m in messages
            )
            continue
        if actual:
            cleaned[str(order)] = actual
    return cleaned


@_service
def record_isolation_run(
    *,
    version: ProtocolVersion,
    inputs: Sequence[tuple[Aliquot | int, Decimal | str | float]],
    outputs: Sequence[RunOutput | Mapping[str, Any]],
    user,
    operator=None,
    started_at: datetime,
    ended_at: datetime | None = None,
    step_actuals: Mapping[str, Mapping[str, Any]] | None = None,
    deviations: str = "",
    notes: str = "",
) -> IsolationRun:
    """Record a run of a published ``version``: take ``inputs`` ((tube, volume in mL) pairs)
    from their tubes and create one EV-preparation tube per output, as children of the input
    each came from. All or nothing: the run, the withdrawals and the new tubes exist
    together, or none of them does.

    Everything that can be checked without writing is checked first, with every problem
    reported at once; the volumes and wells are checked again under row locks.
    """
    errors: dict[str, list[str]] = {}
    operator = operator or user

    # -- The version -------------------------------------------------------------------
    locked_version = (
        ProtocolVersion.objects.select_for_update(of=("self",))
        .select_related("protocol")
        .filter(pk=getattr(version, "pk", version))
        .first()
    )
    if locked_version is None:
        raise ValidationError({"protocol_version": "No such protocol version."})
    version = locked_version
    if version.status != VersionStatus.PUBLISHED:
        errors.setdefault("protocol_version", []).append(
            f"{version} is {version.get_status_display().lower()}; only published versions "
            "can be run."
        )
    steps = list(version.steps.select_related("rotor").order_by("order"))

    # -- Inputs ------------------------------------------------------------------------
    if not inputs:
        errors.setdefault("inputs", []).append("inputs: give at least one input tube.")
    if len(inputs) > MAX_RUN_INPUTS:
        raise ValidationError({"inputs": f"inputs: at most {MAX_RUN_INPUTS} tubes per run."})
    wanted: list[tuple[int | None, Decimal | None]] = []
    for i, pair in enumerate(inputs):
        try:
            tube, volume = pair
        except (TypeError, ValueError):
            errors.setdefault("inputs", []).append(f"Input {i + 1}: give a tube and a volume.")
            wanted.append((None, None))
            continue
        try:
            pk = tube.pk if isinstance(tube, Aliquot) else int(tube)
        except (TypeError, ValueError):
            errors.setdefault("inputs", []).append(f"Input {i + 1}: {tube!r} is not a tube.")
            pk = None
        try:
            amount = _volume(volume, f"Input {i + 1}: volume used")
        except ValueError as exc:
            errors.setdefault("inputs", []).append(str(exc))
            amount = None
        wanted.append((pk, amount))
    ids = [pk for pk, _ in wanted if pk is not None]
    tubes = {
        t.pk: t for t in Aliquot.objects.visible_to(user).select_related("study").filter(pk__in=ids)
    }
    seen: set[int] = set()
    for i, (pk, amount) in enumerate(wanted):
        if pk is None:
            continue
        tube = tubes.get(pk)
        if tube is None:
            errors.setdefault("inputs", []).append(f"Input {i + 1}: no tube {pk} in your studies.")
            continue
        if pk in seen:
            errors.setdefault("inputs", []).append(
                f"Input {i + 1}: {tube.accession} is listed twice; give its total volume once."
            )
        seen.add(pk)
        if (
            amount is not None
            and tube.remaining_volume_ml is not None
            and amount > tube.remaining_volume_ml
        ):
            errors.setdefault("inputs", []).append(
                f"Input {i + 1}: only {tube.remaining_volume_ml.normalize():f} mL left in "
                f"{tube.accession}; {amount.normalize():f} mL requested."
            )
    studies = {t.study_id: t.study for t in tubes.values()}
    if len(studies) > 1:
        codes = ", ".join(sorted(s.code for s in studies.values()))
        errors.setdefault("inputs", []).append(
            f"inputs: all input tubes must belong to one study (these are from {codes})."
        )
    study = next(iter(studies.values())) if len(studies) == 1 else None
    if study is not None and not Study.objects.editable_by(user).filter(pk=study.pk).exists():
        raise PermissionDenied(f"You need the editor role in study {study.code} to record a run.")

    # -- Times, operator, actuals ----------------------------------------------------------
    started = _when(started_at, "started_at", errors, required=True)
    ended = _when(ended_at, "ended_at", errors, required=False)
    if started and ended and ended < started:
        errors.setdefault("ended_at", []).append("ended_at: the run cannot end before it started.")
    if operator is None or not getattr(operator, "is_active", False):
        errors.setdefault("operator", []).append("operator: choose an active user.")
    actuals = _clean_actuals(version, steps, step_actuals, errors)
    deviations = _text(deviations, "deviations", 10_000, errors)
    notes = _text(notes, "notes", 10_000, errors)

    # -- Outputs -------------------------------------------------------------------------
    if not outputs:
        errors.setdefault("outputs", []).append("outputs: a run produces at least one preparation.")
    if len(outputs) > MAX_RUN_OUTPUTS:
        raise ValidationError({"outputs": f"outputs: at most {MAX_RUN_OUTPUTS} per run."})
    input_ids = [pk for pk, _ in wanted]
    planned: list[tuple[RunOutput, int | None, Decimal | None]] = []
    for i, raw in enumerate(outputs):
        label = f"Output {i + 1}"
        try:
            out = _as_output(raw)
        except ValidationError:
            errors.setdefault("outputs", []).append(f"{label}: must be an object.")
            continue
        parent_id: int | None = None
        if out.source is not None:
            try:
                parent_id = out.source.pk if isinstance(out.source, Aliquot) else int(out.source)
            except (TypeError, ValueError):
                parent_id = None
            if parent_id not in input_ids:
                errors.setdefault("outputs", []).append(
                    f"{label}: its source must be one of the run's input tubes."
                )
                parent_id = None
        elif out.source_index is not None:
            try:
                parent_id = input_ids[int(out.source_index)]
            except (TypeError, ValueError, IndexError):
                errors.setdefault("outputs", []).append(
                    f"{label}: input {out.source_index!r} is not one of the "
                    f"{len(input_ids)} inputs (counted from 0)."
                )
        elif len(input_ids) == 1:
            parent_id = input_ids[0]
        elif input_ids:
            errors.setdefault("outputs", []).append(
                f"{label}: say which input tube it came from (source_aliquot or input)."
            )
        if out.nomenclature_term not in NomenclatureTerm.values:
            errors.setdefault("outputs", []).append(
                f"{label}: nomenclature_term {out.nomenclature_term!r} is not a MISEV2023 term; "
                f"use one of {', '.join(NomenclatureTerm.values)}."
            )
        if out.container_type not in ContainerType.values:
            errors.setdefault("outputs", []).append(
                f"{label}: unknown container type {out.container_type!r}."
            )
        if out.position is not None and out.box is None:
            errors.setdefault("outputs", []).append(f"{label}: choose the box for the position.")
        for name, value, limit in (
            ("author_term", out.author_term, 80),
            ("fraction", out.fraction, 40),
            ("resuspension_buffer", out.resuspension_buffer, 120),
            ("notes", out.notes, 5000),
        ):
            if len(str(value)) > limit:
                errors.setdefault("outputs", []).append(
                    f"{label}: {name} has at most {limit} characters."
                )
        try:
            volume = _volume(out.volume_ml, f"{label}: volume_ml")
        except ValueError as exc:
            errors.setdefault("outputs", []).append(str(exc))
            volume = None
        planned.append((out, parent_id, volume))

    if errors:
        raise ValidationError(errors)

    # -- Writing (all inside this transaction) ------------------------------------------
    run = IsolationRun.objects.create(
        study=study,
        protocol_version=version,
        operator=operator,
        started_at=started,
        ended_at=ended,
        step_actuals=actuals,
        deviations=deviations,
        notes=notes,
        created_by=user,
    )
    what = f"isolation run {run.pk} ({version})"
    # Input tubes in id order, then boxes in id order: the lock order every service keeps.
    run_inputs: dict[int, RunInput] = {}
    for pk, amount in sorted(wanted, key=lambda pair: pair[0]):
        try:
            tube_services.withdraw_volume(
                tubes[pk], amount, user=user, note=f"Used in {what}", at=started
            )
        except ValidationError as exc:
            raise ValidationError({"inputs": exc.messages}) from None
        run_inputs[pk] = RunInput(run=run, aliquot=tubes[pk], volume_used_ml=amount)
    RunInput.objects.bulk_create(list(run_inputs.values()))

    box_ids = sorted(
        {o.box.pk if isinstance(o.box, StorageUnit) else int(o.box) for o, _, _ in planned if o.box}
    )
    if box_ids:
        list(StorageUnit.objects.select_for_update().filter(pk__in=box_ids).order_by("pk"))

    groups: dict[int, list[int]] = defaultdict(list)
    for i, (_, parent_id, _) in enumerate(planned):
        groups[parent_id].append(i)
    made: dict[int, Aliquot] = {}
    for parent_id in sorted(groups):
        indexes = groups[parent_id]
        derived = [
            tube_services.DerivedTube(
                volume_ml=planned[i][2],
                container_type=planned[i][0].container_type,
                box=planned[i][0].box,
                position=planned[i][0].position,
                notes=_tube_note(what, planned[i][0]),
            )
            for i in indexes
        ]
        try:
            created = tube_services.create_derived_tubes(
                parent=tubes[parent_id],
                outputs=derived,
                user=user,
                kind=AliquotKind.EV_PREPARATION,
                at=ended or started,
            )
        except ValidationError as exc:
            labels = ", ".join(str(i + 1) for i in indexes)
            raise ValidationError(
                {"outputs": [f"Output {labels}: {m}" for m in exc.messages]}
            ) from None
        made.update(zip(indexes, created, strict=True))

    EVPreparation.objects.bulk_create(
        [
            EVPreparation(
                aliquot=made[i],
                run=run,
                source=run_inputs[parent_id],
                nomenclature_term=out.nomenclature_term,
                author_term=out.author_term.strip(),
                fraction=out.fraction.strip(),
                resuspension_buffer=out.resuspension_buffer.strip(),
                resuspension_volume_ml=volume,
            )
            for i, (out, parent_id, volume) in enumerate(planned)
        ]
    )
    return run


def _tube_note(what: str, out: RunOutput) -> str:
    parts = [f"EV preparation from {what}"]
    if out.fraction:
        parts.append(f"fraction {out.fraction.strip()}")
    if out.notes:
        parts.append(out.notes.strip())
    return "; ".join(parts)


# --- Derived figures ---------------------------------------------------------------------


def run_steps(run: IsolationRun) -> list[RunStep]:
    """The run's protocol steps with what was planned and what differed."""
    actuals = run.step_actuals or {}
    return [
        RunStep(
            step=s, planned=dict(s.parameters or {}), actual=dict(actuals.get(str(s.order), {}))
        )
        for s in run.protocol_version.steps.select_related("rotor").order_by("order")
    ]


def _speed(rotor: Rotor, params: Mapping[str, Any]) -> tuple[float, str] | None:
    """(rpm, g_basis) of a centrifugation step on ``rotor``, from rpm or from the force."""
    basis = params.get("g_basis") or "average"
    if params.get("rpm"):
        return float(params["rpm"]), basis
    if params.get("g_force"):
        return rotor.rpm_for(float(params["g_force"]), basis), basis
    return None


def equivalent_on(
    step: ProtocolStep,
    rotor: Rotor,
    *,
    parameters: Mapping[str, Any] | None = None,
) -> Equivalent | None:
    """The time on ``rotor`` at its maximum speed that pellets like ``step`` does on its own
    rotor (t₂ = t₁ · k₂ / k₁). ``parameters``: the values to use (e.g. a run's effective
    ones), default the step's. None when the step has no rotor or no speed."""
    params = dict(step.parameters if parameters is None else parameters)
    if step.rotor is None:
        return None
    speed = _speed(step.rotor, params)
    if speed is None:
        return None
    rpm, _ = speed
    k1 = step.rotor.k_at(rpm)
    k2 = rotor.k_factor_max
    duration = params.get("duration_min")
    return Equivalent(
        rotor_id=rotor.pk,
        rotor_name=rotor.name,
        rpm=rotor.max_rpm,
        rcf_average=round(rotor.rcf_at(rotor.max_rpm, "average")),
        rcf_max=round(rotor.rcf_at(rotor.max_rpm, "max")),
        k_factor=round(k2, 1),
        duration_min=(
            round(centrifugation.equivalent_time(float(duration), k1, k2), 1) if duration else None
        ),
    )


def run_rotor_figures(
    run: IsolationRun, *, compare_with: Sequence[Rotor] = ()
) -> list[RotorFigures]:
    """RCF (average and max), rpm and k-factors for each centrifugation step of the run that
    has a rotor, using the run's actual values where it recorded them; with ``compare_with``,
    the equivalent time on each of those rotors."""
    figures: list[RotorFigures] = []
    for item in run_steps(run):
        step = item.step
        if step.kind not in CENTRIFUGATION_KINDS or step.rotor is None:
            continue
        params = item.effective
        speed = _speed(step.rotor, params)
        if speed is None:
            continue
        rpm, basis = speed
        rotor = step.rotor
        figures.append(
            RotorFigures(
                step_order=step.order,
                title=step.title or step.get_kind_display(),
                kind=step.kind,
                rotor_id=rotor.pk,
                rotor_name=rotor.name,
                rpm=round(rpm),
                rcf_average=round(rotor.rcf_at(rpm, "average")),
                rcf_max=round(rotor.rcf_at(rpm, "max")),
                g_basis=basis,
                g_force=float(params.get("g_force") or round(rotor.rcf_at(rpm, basis))),
                k_factor_max=round(rotor.k_factor_max, 1),
                k_adjusted=round(rotor.k_at(rpm), 1),
                duration_min=params.get("duration_min"),
                equivalents=[
                    e
                    for other in compare_with
                    if other.pk != rotor.pk
                    and (e := equivalent_on(step, other, parameters=params)) is not None
                ],
            )
        )
    return figures
