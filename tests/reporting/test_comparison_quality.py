"""Protocol comparison beyond yield: purity (particles/µg), marker completeness (share of
the study profile's marker rules passed), modal size, their inter-run CV, the strip plots,
and the page that shows them."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays.comparison import (
    Axis,
    StripPoint,
    linear_axis,
    list_run_quality,
    log_axis,
    marker_rule_tally,
    metric_strip_svg,
    summarise_quality,
)
from assays.compliance.engine import RuleSpec, evaluate_preparations
from assays.models import ComplianceRule

from .conftest import blot, measure_particles, measure_protein

pytestmark = pytest.mark.django_db

MARKER_RULES = [
    RuleSpec(
        code="T-M1",
        title="Membrane EV protein detected",
        severity="error",
        check_name="marker_detected",
        profiles=("MISEV2018",),
        params={"categories": ["1a", "1b"], "min": 1},
    ),
    RuleSpec(
        code="T-M2",
        title="Cytosolic EV protein detected",
        severity="error",
        check_name="marker_detected",
        profiles=("MISEV2018",),
        params={"categories": ["2a"], "min": 1},
    ),
    RuleSpec(
        code="T-M3",
        title="Purity marker reported",
        severity="error",
        check_name="marker_reported",
        profiles=("MISEV2018",),
        params={"categories": ["3", "4"], "min": 1},
    ),
    # A marker rule of a companion profile only: not part of the study's MISEV profile.
    RuleSpec(
        code="T-E1",
        title="Other-compartment protein detected",
        severity="warning",
        check_name="marker_detected",
        profiles=("EV-METRIC",),
        params={"categories": ["4"], "min": 1},
    ),
]

# Worked example. Run A: 3e10 particles/mL and 10 µg/mL → 3e9 particles/µg; CD63, TSG101
# detected, APOA1 reported → 3 of 3 marker rules. Run B: 4e10/mL, 10 µg/mL → 4e9; only CD63
# → 1 of 3. Purity: median 3.5e9, CV = (1e9/√2)/3.5e9 = 20.2 %. Markers: 100 % and 33.3 %,
# median 66.7 %, CV = ((200/3)/√2)/(200/3) = 70.7 %.
PURITY_CV = (1e9 / math.sqrt(2)) / 3.5e9 * 100
MARKER_CV = 100 / math.sqrt(2)


@pytest.fixture
def example(run_on, tubes, members):
    editor = members["editor"]
    run_a, run_b, run_c = (run_on(tube) for tube in tubes[:3])
    for prep, concentration in ((run_a, 3e10), (run_b, 4e10)):
        measure_particles(prep.aliquot, uploader=editor, concentration=concentration)
        measure_protein(prep.aliquot, ug_per_ml=10.0)
        blot(prep.aliquot, "CD63")
    blot(run_a.aliquot, "TSG101")
    blot(run_a.aliquot, "APOA1", "not_detected")
    return run_a, run_b, run_c


@pytest.fixture
def marker_rules_only(db):
    """The page reads the rules from the database: exactly the worked example's."""
    ComplianceRule.objects.all().delete()
    for spec in MARKER_RULES:
        ComplianceRule.objects.create(
            code=spec.code,
            title=spec.title,
            severity=spec.severity,
            check_name=spec.check_name,
            profiles=list(spec.profiles),
            params=dict(spec.params),
            explanation="test rule",
            fix_kind="marker",
        )


def test_run_quality_purity_and_marker_completeness(example, protocol, members):
    run_a, run_b, run_c = example
    quality = list_run_quality(
        user=members["viewer"], version_ids=[protocol.pk], rules=MARKER_RULES
    )
    a, b, c = quality[run_a.run_id], quality[run_b.run_id], quality[run_c.run_id]
    assert a.purity_per_ug == pytest.approx(3e9) and b.purity_per_ug == pytest.approx(4e9)
    assert c.purity_per_ug is None and c.purity_preparations == 0
    assert (a.marker_passed, a.marker_applicable) == (3, 3)
    assert (b.marker_passed, b.marker_applicable) == (1, 3)
    assert a.marker_completeness_pct == 100.0
    assert b.marker_completeness_pct == pytest.approx(100 / 3)
    # No marker result at all: the "detected" rules fail, the "reported" one fails too.
    assert c.marker_completeness_pct == 0.0

    summary = summarise_quality([a, b])
    assert summary.runs_with_purity == 2 and summary.runs_with_markers == 2
    purity = summary.purity_per_ug
    assert purity.median == pytest.approx(3.5e9)
    assert purity.cv_pct == pytest.approx(PURITY_CV)
    assert purity.cv_pct == pytest.approx(20.203, abs=1e-3)
    markers = summary.marker_completeness_pct
    assert markers.median == pytest.approx(200 / 3)
    assert markers.cv_pct == pytest.approx(MARKER_CV)
    assert markers.cv_pct == pytest.approx(70.711, abs=1e-3)


def test_only_the_study_profiles_marker_rules_count(example, members):
    run_a, _, _ = example
    report = evaluate_preparations([run_a.pk], rules=MARKER_RULES)[run_a.pk]
    assert report.result("T-E1").status == "fail"  # judged, but EV-METRIC's
    assert marker_rule_tally(report) == (3, 3)


def test_other_studies_runs_are_not_counted(example, protocol, members, foreign_preparation):
    owner = foreign_preparation.run.created_by or foreign_preparation.run.operator
    measure_particles(foreign_preparation.aliquot, uploader=owner, concentration=9e10)
    measure_protein(foreign_preparation.aliquot, ug_per_ml=1.0)
    mine = list_run_quality(user=members["viewer"], version_ids=[protocol.pk], rules=MARKER_RULES)
    assert foreign_preparation.run_id not in mine and len(mine) == 3
    assert list_run_quality(user=members["outsider"], version_ids=[protocol.pk]) == {}
    everything = list_run_quality(
        user=members["superuser"], version_ids=[protocol.pk], rules=MARKER_RULES
    )
    assert everything[foreign_preparation.run_id].purity_per_ug == pytest.approx(9e10)


def test_page_shows_purity_markers_cv_and_plots(example, protocol, page_client, marker_rules_only):
    response = page_client("viewer").get(reverse("assays:compare"), {"versions": protocol.pk})
    (column,) = response.context["columns"]
    assert column.purity_text == "3.50 × 10⁹ [3.00 × 10⁹–4.00 × 10⁹]"
    assert column.purity_cv_text == "20.2 %"
    # Run C has no marker result: 0 of 3 rules. Over A, B, C: 100, 33.3, 0 → median 33 %.
    assert column.marker_text == "33 % [0–100 %]"
    assert column.quality.runs_with_purity == 2
    html = response.content.decode()
    assert "3.50 × 10⁹ [3.00 × 10⁹–4.00 × 10⁹]" in html
    assert "particles per µg protein" in html
    assert "2 of 3 runs" in html
    assert 'class="plot metric-plot metric-purity"' in html
    assert 'class="plot metric-plot metric-mode"' in html
    assert 'class="plot metric-plot metric-markers"' in html
    assert html.count('class="run-point"') == 2 + 2 + 3  # purity, mode, markers
    assert html.count('class="run"') == 2  # the yield plot's dots are unchanged
    assert "1 of 3 marker rules passed (33 %)" in html


def test_page_without_protein_or_runs_says_so(run_on, tubes, protocol, sec_protocol, page_client):
    run_on(tubes[0])
    html = page_client("viewer").get(
        reverse("assays:compare"), {"versions": [protocol.pk, sec_protocol.pk]}
    )
    html = html.content.decode()
    assert "needs protein quantification" in html
    assert "no run with a purity ratio" in html
    assert "SEC qEV v1: no runs in your studies yet" in html


def test_page_queries_do_not_grow_with_characterised_runs(
    run_on, tubes, protocol, members, page_client
):
    client = page_client("viewer")
    params = {"versions": protocol.pk, "protocols": protocol.protocol_id}

    def add(count_from: int, count_to: int) -> None:
        for tube in tubes[count_from:count_to]:
            prep = run_on(tube)
            measure_particles(prep.aliquot, uploader=members["editor"])
            measure_protein(prep.aliquot, ug_per_ml=5.0)
            blot(prep.aliquot, "CD63")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("assays:compare"), params).status_code == 200
        return len(captured)

    add(0, 1)
    few = queries()
    add(1, 6)
    assert queries() == few


def test_axes_and_strip_plot():
    assert log_axis([3e9, 4e9, None]) == Axis(9, 10, log=True)
    assert log_axis([None]) is None
    assert linear_axis([95.0, 130.0]) == Axis(0.0, 150.0)
    assert linear_axis([33.3], ceiling=100.0) == Axis(0.0, 100.0)
    axis = Axis(0.0, 100.0)
    assert axis.fraction(50.0) == 0.5 and axis.fraction(150.0) == 1.0
    assert [text for _, text in Axis(9, 11, log=True).ticks()] == ["10⁹", "10¹⁰", "10¹¹"]
    svg = str(
        metric_strip_svg(
            [StripPoint(1, 20.0, "Run 1"), StripPoint(2, 80.0, "Run 2", hollow=True)],
            axis=axis,
            unit="% of marker rules passed",
            title="Markers",
            element_id="m",
            metric="markers",
        )
    )
    assert svg.count("<circle") == 2 and 'fill="#fff"' in svg
    assert 'class="median"' in svg and "median 50" in svg
    assert str(metric_strip_svg([], axis=axis, unit="", title="", element_id="e", metric="x")) == ""
