"""Scoring EV preparations against the rules: a pure evaluation over facts, and the glue
that loads rules and facts from the database.

``evaluate(facts, rules)`` is a pure function: the same facts and rules always give the same
report, and most tests call it with facts built by hand. A preparation is judged against
its study's profile (MISEV2018 or MISEV2023) together with the companion profiles that
apply by themselves: EV-METRIC (always scored) and the source-specific ones (MIBlood-EV for
blood, urine), whose rules are "not applicable" to other fluids.

Scores count the rules of *reporting* checks that apply: a pass or a warning (the
requirement is met, something in it is doubtful) is fulfilled, a fail is not. Plausibility
checks (a −20 °C freezer, a density outside the EV range) never move a score; their
warnings are listed as ``flags``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from . import purity as purity_math
from .checks import CHECKS, PROFILES, Outcome, compile_applies_when
from .facts import Evidence, PreparationFacts, load_facts
from .purity import Purity

__all__ = [
    "COMPANION_PROFILES",
    "MissingItem",
    "PreparationReport",
    "Purity",
    "RuleResult",
    "RuleSpec",
    "Score",
    "evaluate",
    "evaluate_preparations",
    "profiles_in_scope",
    "rules_for",
]

COMPANION_PROFILES = ("EV-METRIC", "MIBlood-EV", "urine")
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
FULFILLED = frozenset({"pass", "warn"})


@dataclass(frozen=True)
class RuleSpec:
    """A rule as plain data (from a ComplianceRule row or the built-in catalogue)."""

    code: str
    title: str
    severity: str
    check_name: str
    profiles: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    applies_when: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1
    explanation: str = ""
    source: str = ""
    fix_hint: str = ""
    fix_kind: str = ""
    id: int | None = None
    is_builtin: bool = False

    @classmethod
    def from_model(cls, rule: Any) -> RuleSpec:
        return cls(
            code=rule.code,
            title=rule.title,
            severity=rule.severity,
            check_name=rule.check_name,
            profiles=tuple(rule.profiles or ()),
            params=dict(rule.params or {}),
            applies_when=dict(rule.applies_when or {}),
            version=rule.version,
            explanation=rule.explanation,
            source=rule.source,
            fix_hint=rule.fix_hint,
            fix_kind=rule.fix_kind,
            id=rule.pk,
            is_builtin=rule.is_builtin,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSpec:
        values = dict(data)
        values["profiles"] = tuple(values.get("profiles", ()))
        values["params"] = dict(values.get("params") or {})
        values["applies_when"] = dict(values.get("applies_when") or {})
        return cls(**values)

    def replace(self, **changes: Any) -> RuleSpec:
        """A copy with ``changes`` (for previews and tests: "what if the cut-off were …")."""
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(changes)
        return RuleSpec.from_dict(values)

    @cached_property
    def _compiled(self) -> _Compiled:
        """The check, its parameters with defaults, the applicability predicate and the
        result fields that come from the rule, worked out once per rule rather than once
        per preparation."""
        check = CHECKS.get(self.check_name)
        scored = bool(check and check.scored)
        return _Compiled(
            function=check.function if check else None,
            params=check.with_defaults(self.params) if check else {},
            applies=compile_applies_when(self.applies_when),
            head=(self.code, self.version, self.title, self.severity),
            tail=(
                self.fix_hint,
                self.fix_kind,
                self.profiles,
                self.explanation,
                self.source,
                self.check_name,
                scored,
            ),
        )


class _Compiled(NamedTuple):
    function: Callable[[PreparationFacts, dict[str, Any]], Outcome] | None
    params: dict[str, Any]
    applies: Callable[[PreparationFacts], bool] | None
    head: tuple[Any, ...]  # RuleResult fields before status
    tail: tuple[Any, ...]  # RuleResult fields after evidence, up to is_flag


class RuleResult(NamedTuple):
    """One rule's verdict on one preparation. (A named tuple: a study's report holds tens
    of thousands.)"""

    code: str
    version: int
    title: str
    severity: str
    status: str
    message: str
    evidence: tuple[Evidence, ...]
    fix_hint: str
    fix_kind: str
    profiles: tuple[str, ...]
    explanation: str = ""
    source: str = ""
    check_name: str = ""
    scored: bool = True
    is_flag: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "version": self.version,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "evidence": [e.as_dict() for e in self.evidence],
            "fix_hint": self.fix_hint,
            "fix_kind": self.fix_kind,
            "profiles": list(self.profiles),
            "explanation": self.explanation,
            "source": self.source,
            "check_name": self.check_name,
            "scored": self.scored,
            "is_flag": self.is_flag,
        }


@dataclass(frozen=True)
class MissingItem:
    code: str
    title: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "title": self.title}


@dataclass(frozen=True)
class Score:
    passed: int
    applicable: int
    pct: float | None  # None when nothing applies
    missing: tuple[MissingItem, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "applicable": self.applicable,
            "pct": self.pct,
            "missing": [m.as_dict() for m in self.missing],
        }


EMPTY_SCORE = Score(0, 0, None)


@dataclass(frozen=True)
class PreparationReport:
    preparation_id: int
    accession: str
    profile: str
    results: tuple[RuleResult, ...]
    scores: dict[str, Score]
    evmetric: Score
    purity: Purity | None
    recovery_particles_per_ml_input: float | None
    flags: tuple[RuleResult, ...]
    next_steps: tuple[RuleResult, ...]
    study_id: int | None = None
    nomenclature_term: str = ""

    def result(self, code: str) -> RuleResult | None:
        return next((r for r in self.results if r.code == code), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "preparation_id": self.preparation_id,
            "accession": self.accession,
            "study_id": self.study_id,
            "nomenclature_term": self.nomenclature_term,
            "profile": self.profile,
            "results": [r.as_dict() for r in self.results],
            "scores": {name: score.as_dict() for name, score in self.scores.items()},
            "evmetric": self.evmetric.as_dict(),
            "purity": self.purity.as_dict() if self.purity else None,
            "recovery_particles_per_ml_input": self.recovery_particles_per_ml_input,
            "flags": [r.as_dict() for r in self.flags],
            "next_steps": [r.as_dict() for r in self.next_steps],
        }


def profiles_in_scope(profile: str) -> tuple[str, ...]:
    """The study's profile and the companion profiles, in that order."""
    return tuple(dict.fromkeys((profile, *COMPANION_PROFILES)))


_NOT_APPLICABLE = Outcome("na", "Not applicable to this preparation.")


_new_tuple = tuple.__new__


def _judge(spec: RuleSpec, facts: PreparationFacts) -> RuleResult:
    compiled = spec._compiled
    if compiled.function is None:
        # A rule saved for a check this version of the code no longer has: say so.
        outcome = Outcome("na", f"Check {spec.check_name!r} is not available.")
    elif compiled.applies is not None and not compiled.applies(facts):
        outcome = _NOT_APPLICABLE
    else:
        outcome = compiled.function(facts, compiled.params)
    status, message, evidence, flag, fix_kind = outcome
    flagged = flag and (status == "warn" or status == "fail")
    tail = compiled.tail
    if fix_kind and tail[1] and fix_kind != tail[1]:
        # The check knows what exactly is missing; a rule without a fix link keeps none.
        tail = (tail[0], fix_kind, *tail[2:])
    # Built from the rule's precomputed fields: a study's report makes tens of thousands.
    return _new_tuple(
        RuleResult,
        (*compiled.head, status, message or spec.title, evidence, *tail, flagged),
    )


def _scores(results: Sequence[RuleResult], names: Sequence[str]) -> dict[str, Score]:
    """Fulfilled / applicable per profile over the scored rules, in one pass."""
    tally: dict[str, list[Any]] = {name: [0, 0, []] for name in names}
    for r in results:
        if not r.scored or r.status == "na":
            continue
        fulfilled = r.status in FULFILLED
        for name in r.profiles:
            counts = tally.get(name)
            if counts is None:
                continue
            counts[1] += 1
            if fulfilled:
                counts[0] += 1
            else:
                counts[2].append(MissingItem(r.code, r.title))
    return {
        name: Score(
            passed, applicable, 100.0 * passed / applicable if applicable else None, tuple(missing)
        )
        for name, (passed, applicable, missing) in tally.items()
    }


def _bands(rules: Sequence[RuleSpec]) -> Sequence[Mapping[str, Any]]:
    for spec in rules:
        if spec.check_name == "purity_ratio" and spec.params.get("bands"):
            return spec.params["bands"]
    return purity_math.DEFAULT_BANDS


class _Scope(NamedTuple):
    """The rules that concern one profile, worked out once for many preparations."""

    profile: str
    rules: tuple[RuleSpec, ...]
    profiles: tuple[str, ...]  # those of the scope that some rule belongs to
    bands: Sequence[Mapping[str, Any]]


def _scope(profile: str, rules: Sequence[RuleSpec]) -> _Scope:
    names = profiles_in_scope(profile)
    in_scope = tuple(spec for spec in rules if any(p in names for p in spec.profiles))
    present = {p for spec in in_scope for p in spec.profiles}
    return _Scope(profile, in_scope, tuple(n for n in names if n in present), _bands(in_scope))


def _evaluate(facts: PreparationFacts, scope: _Scope) -> PreparationReport:
    results = tuple([_judge(spec, facts) for spec in scope.rules])
    scores = _scores(results, scope.profiles)
    next_steps = tuple(
        sorted(
            (r for r in results if r.status == "fail"),
            key=lambda r: SEVERITY_ORDER.get(r.severity, len(SEVERITY_ORDER)),
        )
    )
    return PreparationReport(
        preparation_id=facts.preparation.id,
        accession=facts.preparation.accession,
        profile=scope.profile,
        results=results,
        scores=scores,
        evmetric=scores.get("EV-METRIC", EMPTY_SCORE),
        purity=purity_math.compute_purity(facts, scope.bands),
        recovery_particles_per_ml_input=purity_math.compute_recovery(facts),
        flags=tuple(r for r in results if r.is_flag),
        next_steps=next_steps,
        study_id=facts.preparation.study_id,
        nomenclature_term=facts.preparation.nomenclature_term,
    )


def evaluate(
    facts: PreparationFacts, rules: Sequence[RuleSpec], *, profile: str | None = None
) -> PreparationReport:
    """Judge one preparation against the rules of ``profile`` (default: its study's) and
    the companion profiles. Pure: no database, no clock."""
    return _evaluate(facts, _scope(profile or facts.preparation.compliance_profile, rules))


def rules_for(profile: str | None) -> list[RuleSpec]:
    """The current, active rules of ``profile`` (all profiles for None), ordered by code.
    One query."""
    from assays.models import ComplianceRule

    if profile is not None and profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; one of {', '.join(PROFILES)}.")
    rules = ComplianceRule.objects.active().order_by("code")
    if profile is not None:
        rules = rules.filter(profiles__contains=[profile])
    return [RuleSpec.from_model(rule) for rule in rules]


def evaluate_preparations(
    preparation_ids: Iterable[int],
    *,
    profile: str | None = None,
    rules: Sequence[RuleSpec] | None = None,
) -> dict[int, PreparationReport]:
    """Reports for the given preparations (ids that do not exist are left out), each
    against ``profile`` or, for None, its study's profile. A fixed number of queries.

    ``rules`` replaces the database's current rules (e.g. to preview an edit). Access
    control is the caller's: pass only preparations the user may see.
    """
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; one of {', '.join(PROFILES)}.")
    specs = list(rules) if rules is not None else rules_for(None)
    facts = load_facts(preparation_ids)
    scopes: dict[str, _Scope] = {}
    reports = {}
    for pk, item in facts.items():
        chosen = profile or item.preparation.compliance_profile
        scope = scopes.get(chosen)
        if scope is None:
            scope = scopes[chosen] = _scope(chosen, specs)
        reports[pk] = _evaluate(item, scope)
    return reports
