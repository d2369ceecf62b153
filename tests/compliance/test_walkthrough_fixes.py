"""Findings of the compliance walkthrough, on hand-built facts: the fix a failed
quantification rule points at follows what is missing, the two antibody rules share one
definition, messages show labels rather than stored codes, and sources cite publications."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assays.compliance.catalogue import BUILTIN_RULES, builtin_specs
from assays.compliance.checks import CHECKS, antibody_gaps
from assays.compliance.engine import evaluate

from .factories import good, marker, with_markers, without_markers

SPECS = {spec.code: spec for spec in builtin_specs()}


def result(facts, code):
    found = evaluate(facts, [SPECS[code]]).result(code)
    assert found is not None
    return found


@pytest.mark.parametrize("code", ["CH-01", "CH-02"])
def test_missing_particles_point_at_the_upload_not_the_protein_form(code):
    r = result(good(particles=()), code)
    assert r.status == "fail"
    assert r.fix_kind == "particles"


@pytest.mark.parametrize("code", ["CH-01", "CH-02"])
def test_missing_protein_points_at_the_protein_form(code):
    r = result(good(protein=()), code)
    assert r.status == "fail"
    assert r.fix_kind == "protein"


def test_a_rule_without_a_fix_link_gets_none_from_the_check():
    spec = SPECS["CH-01"].replace(fix_kind="")
    assert evaluate(good(particles=()), [spec]).result("CH-01").fix_kind == ""


def test_evaluate_report_lists_the_outcome_fix_kind_in_next_steps():
    report = evaluate(good(particles=()), [SPECS["CH-01"]])
    assert [(r.code, r.fix_kind) for r in report.next_steps] == [("CH-01", "particles")]
    assert report.as_dict()["next_steps"][0]["fix_kind"] == "particles"


def _clone_only(symbol: str, category: str):
    return marker(symbol, category, antibody_rrid="", antibody_catalogue="")


@pytest.mark.parametrize(
    "facts, expected",
    [
        (lambda: good(), "pass"),
        (
            lambda: with_markers(
                without_markers(good(), "CANX", "APOA1"),
                _clone_only("CANX", "4"),
                _clone_only("APOA1", "3"),
            ),
            "fail",
        ),
        (
            lambda: with_markers(
                without_markers(good(), "CD63"), marker("CD63", "1a", antibody_dilution="")
            ),
            "fail",
        ),
        (
            lambda: with_markers(
                without_markers(good(), "CD63"), marker("CD63", "1a", antibody_rrid="")
            ),
            "pass",
        ),
    ],
)
def test_ch09_and_evmetric_antibody_rules_agree(facts, expected):
    made = facts()
    assert result(made, "CH-09-AB").status == expected
    assert result(made, "EVM-AB").status == expected


def test_antibody_definition_in_one_helper():
    assert antibody_gaps("AB_123", "", "", "1:500") == []
    assert antibody_gaps("", "H5C6", "556019", "1:500") == []
    assert antibody_gaps("", "H5C6", "", "1:500") == ["RRID or clone + catalogue number"]
    assert antibody_gaps("", "", "556019", "") == ["RRID or clone + catalogue number", "dilution"]
    assert antibody_gaps("", "H5C6", "556019", None, needs_dilution=False) == []
    assert "accept_clone_or_catalogue" not in CHECKS["antibody_details"].params


def test_antibody_message_has_no_double_full_stop_and_names_the_method():
    facts = with_markers(without_markers(good(), "CANX"), _clone_only("CANX", "4"))
    message = result(facts, "CH-09-AB").message
    assert ".." not in message
    assert "CANX (Western blot): RRID or clone + catalogue number." in message


def test_messages_use_labels_not_stored_codes():
    named = result(good(), "NM-01").message
    assert "small_EV" not in named and "Small EVs" in named
    imaged = result(good(), "CH-06").message
    assert "close_up" not in imaged and "wide_field" not in imaged
    assert "Close-up and Wide-field" in imaged
    missing = result(
        good(imaging=(replace(good().imaging[0], views=frozenset({"close_up"})),)), "CH-06"
    )
    assert missing.message == "No wide-field image."
    warned = result(
        replace(good(), preparation=replace(good().preparation, author_term="exosomes")), "NM-01"
    )
    assert "small_EV" not in warned.message and "Small EVs" in warned.message


def test_sources_cite_publications_not_the_team_notes():
    for rule in BUILTIN_RULES:
        assert "EV-DOMAIN" not in rule["source"], rule["code"]
        assert rule["source"].strip(), rule["code"]
        assert ".." not in rule["fix_hint"], rule["code"]
