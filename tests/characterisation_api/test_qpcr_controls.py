"""record_qpcr_results: controls and standards typed in with a tube's Cq values stay on the
run without a tube, and putting the run's rows on tubes again does not move them there."""

from __future__ import annotations

import pytest

from assays import characterisation_services as services
from assays.filing import assign_qpcr_tubes

pytestmark = pytest.mark.django_db


def test_only_unknowns_go_on_the_tube(members, tube):
    run = services.record_qpcr_results(
        user=members["editor"],
        aliquot=tube,
        rows=[
            {"target": "miR-21", "cq": 24.5, "well": "A1"},
            {"target": "miR-21", "cq": None, "well": "H1", "task": "ntc"},
            {"target": "miR-21", "cq": 15.0, "well": "G1", "task": "standard", "quantity": 1e6},
            {"target": "miR-21", "cq": 30.0, "well": "G2", "task": "nac", "sample_name": "RT-"},
        ],
    )
    rows = {r.well: r for r in run.results.all()}
    assert rows["A1"].aliquot_id == tube.pk and rows["A1"].sample_name == tube.accession
    assert [(w, rows[w].aliquot_id, rows[w].sample_name) for w in ("G1", "G2", "H1")] == [
        ("G1", None, "Standard"),
        ("G2", None, "RT-"),
        ("H1", None, "No-template control"),
    ]
    # Re-assigning the run's rows (as a sample map does) leaves the controls off the tube.
    assign_qpcr_tubes(run, uploader=members["editor"])
    assert list(run.results.filter(aliquot=tube).values_list("well", flat=True)) == ["A1"]
