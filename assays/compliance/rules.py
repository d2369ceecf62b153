"""Editing rules: every change is a new version, so past reports stay explainable.

``new_rule_version`` copies the current version with the changes, validates it and makes it
current in one transaction (the old one stays, ``is_current=False``). Switching a rule off
or on is also a version, so the record shows who did it and when. Permission checks are
the caller's (pages and API).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from assays.models import ComplianceRule

__all__ = ["EDITABLE_FIELDS", "create_rule", "new_rule_version", "set_rule_active"]

EDITABLE_FIELDS = (
    "profiles",
    "title",
    "severity",
    "check_name",
    "params",
    "applies_when",
    "explanation",
    "source",
    "fix_hint",
    "fix_kind",
    "is_active",
)
FIX_KINDS = ("", "particles", "protein", "marker", "imaging", "flow", "dls", "sample", "run")


def _check_fix_kind(rule: ComplianceRule) -> None:
    if rule.fix_kind not in FIX_KINDS:
        raise ValidationError({"fix_kind": f"Use one of {', '.join(k for k in FIX_KINDS if k)}."})


def new_rule_version(rule: ComplianceRule, *, user, **changes: Any) -> ComplianceRule:
    """Make a new current version of ``rule`` with ``changes`` (fields of EDITABLE_FIELDS).

    Returns the new version, or ``rule`` itself when nothing would change. Raises
    ValidationError for unknown fields, invalid values (the check's parameter rules) or a
    version that is no longer current (someone else edited it first).
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(
            {name: "This field cannot be changed; edit the rule's content." for name in unknown}
        )
    with transaction.atomic():
        current = ComplianceRule.objects.select_for_update().filter(pk=rule.pk).first()
        if current is None:
            raise ValidationError("This rule no longer exists.")
        if not current.is_current:
            raise ValidationError(
                f"{current} is not the current version; edit the current one instead."
            )
        if all(getattr(current, name) == value for name, value in changes.items()):
            return current
        # Versions of one code, locked so two editors cannot both make version n + 1.
        list(ComplianceRule.objects.select_for_update().filter(code=current.code).values("pk"))
        latest = ComplianceRule.objects.filter(code=current.code).aggregate(n=Max("version"))["n"]
        successor = ComplianceRule(
            code=current.code,
            version=latest + 1,
            **{name: getattr(current, name) for name in EDITABLE_FIELDS},
            is_current=True,
            # The content is now the lab's, not the catalogue's.
            is_builtin=False,
            created_by=user if getattr(user, "pk", None) else None,
        )
        for name, value in changes.items():
            setattr(successor, name, value)
        successor.full_clean(validate_constraints=False)
        _check_fix_kind(successor)
        current.is_current = False
        current.save(update_fields=["is_current"])
        successor.validate_constraints()
        successor.save()
    return successor


def set_rule_active(rule: ComplianceRule, *, user, active: bool) -> ComplianceRule:
    """Switch a rule on or off (a new version; unchanged when already so)."""
    return new_rule_version(rule, user=user, is_active=bool(active))


def create_rule(*, user, code: str, **fields: Any) -> ComplianceRule:
    """A lab's own rule (version 1) built on an existing check."""
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "Not a field of a rule." for name in unknown})
    code = (code or "").strip()
    rule = ComplianceRule(
        code=code,
        version=1,
        is_current=True,
        is_builtin=False,
        created_by=user if getattr(user, "pk", None) else None,
        **fields,
    )
    with transaction.atomic():
        if ComplianceRule.objects.filter(code=code).exists():
            raise ValidationError({"code": f"A rule {code} exists; make a new version of it."})
        rule.full_clean()
        _check_fix_kind(rule)
        rule.save()
    return rule
