"""Targets left empty in an export: the dye (Fluor / Reporter) tells the assays apart, so it
becomes the target and a warning says so (CFX, QuantStudio, RDML; real CFX file if present)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assays.parsers.cfx import CFXParser
from assays.parsers.quantstudio import QuantStudioParser
from assays.parsers.rdml import RDMLParser

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REAL_CFX = SHARED / "instrument-samples/qpcr-export/Benchling-Open-Source__allotropy__example01.csv"


def test_quantstudio_empty_target_name_takes_the_reporter():
    text = (
        "* Instrument Type = QuantStudio 3\n\n"
        "[Results]\n"
        "Well\tWell Position\tSample Name\tTarget Name\tTask\tReporter\tCq\n"
        "1\tA1\tS\t\tUNKNOWN\tFAM\t20.5\n"
        "1\tA1\tS\t\tUNKNOWN\tVIC\t25.0\n"
        "2\tA2\tS\tCD9\tUNKNOWN\tFAM\t21.0\n"
    )
    result = QuantStudioParser().parse(text.encode(), "x.txt")
    assert [(r.well, r.target, r.reporter) for r in result.rows] == [
        ("A1", "FAM", "FAM"),
        ("A1", "VIC", "VIC"),
        ("A2", "CD9", "FAM"),
    ]
    assert [w for w in result.warnings if "dye names" in w] == [
        "the Target Name is empty for some wells; their targets were taken from the dye names"
        " (Reporter: FAM, VIC)"
    ]


def test_rdml_reaction_without_target_id_takes_the_dye():
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<rdml xmlns="http://www.rdml.org" version="1.2">
<dye id="FAM"/>
<sample id="S"><type>unkn</type></sample>
<target id=""><type>toi</type><dyeId id="FAM"/></target>
<target id="CD63"><type>toi</type><dyeId id="FAM"/></target>
<experiment id="e"><run id="r">
  <react id="A1"><sample id="S"/>
    <data><tar id=""/><cq>22.5</cq></data>
    <data><tar id="CD63"/><cq>24.0</cq></data></react>
</run></experiment>
</rdml>
"""
    result = RDMLParser().parse(xml.encode(), "run.rdml")
    assert [(r.target, r.reporter, r.cq) for r in result.rows] == [
        ("FAM", "FAM", 22.5),
        ("CD63", "FAM", 24.0),
    ]
    assert any("taken from the dye names (FAM)" in w for w in result.warnings)


@pytest.mark.skipif(not REAL_CFX.exists(), reason="needs ../shared instrument samples")
def test_real_cfx_export_with_empty_targets_keeps_each_dye_apart():
    result = CFXParser().parse(REAL_CFX.read_bytes(), REAL_CFX.name)
    targets = {r.target for r in result.rows}
    assert targets == {"FAM", "VIC"}
    assert all(r.target == r.reporter for r in result.rows)
    assert any("taken from the dye names" in w for w in result.warnings)
