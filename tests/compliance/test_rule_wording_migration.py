"""Migration 0007 brings built-in rows that no lab has edited to the catalogue's wording
(publications as sources, one antibody definition) and leaves the lab's versions' text
alone, dropping only the antibody parameter that no longer exists."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from assays.compliance.catalogue import BUILTIN_RULES
from assays.models import ComplianceRule

pytestmark = pytest.mark.django_db

reword = importlib.import_module("assays.migrations.0007_rule_wording").reword
CATALOGUE = {rule["code"]: rule for rule in BUILTIN_RULES}


def test_unedited_builtin_rows_take_the_catalogue_wording():
    ComplianceRule.objects.filter(code="EVM-AB").update(
        source="EV-TRACK · EV-DOMAIN.md §7",
        fix_hint="Add the antibody clone/catalogue no. and dilution.",
        params={"accept_clone_or_catalogue": True, "require_dilution": True},
    )
    reword(apps, None)
    row = ComplianceRule.objects.get(code="EVM-AB", is_current=True)
    assert row.source == CATALOGUE["EVM-AB"]["source"]
    assert "EV-DOMAIN" not in row.source
    assert row.params == {"require_dilution": True}
    assert not ComplianceRule.objects.filter(source__contains="EV-DOMAIN").exists()


def test_lab_versions_keep_their_text_but_lose_the_retired_parameter():
    ComplianceRule.objects.filter(code="CH-09-AB").update(
        is_builtin=False,
        explanation="Our lab's own words.",
        params={"accept_clone_or_catalogue": False, "require_dilution": False},
    )
    reword(apps, None)
    row = ComplianceRule.objects.get(code="CH-09-AB", is_current=True)
    assert row.explanation == "Our lab's own words."
    assert row.params == {"require_dilution": False}
    row.full_clean()  # the lab can edit it again
