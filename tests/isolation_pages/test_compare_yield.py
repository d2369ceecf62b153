"""Yield (particles per mL input) and modal size per run, their spread per protocol version,
and the comparison page that shows them."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assays.choices import FileStatus, ParticleMethod
from assays.comparison import (
    coefficient_of_variation,
    list_run_yields,
    spread_of,
    summarise_runs,
    yield_axis,
    yield_strip_svg,
)
from assays.models import InstrumentFile, ParticleMeasurement
from samples import services as tube_services

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)

# Worked example. Run A: 1.0 mL in → 0.1 mL at 2e10/mL + 0.2 mL at 1e10/mL = 4e9 particles,
# so 4e9 per mL input; modes 100 and 120 nm → 110. Run B: 2.0 mL in → 0.1 mL at 6e10/mL =
# 6e9 particles, 3e9 per mL input; mode 130 nm. Over the two runs: median 3.5e9, CV =
# stdev(4e9, 3e9) / 3.5e9 = (1e9/√2) / 3.5e9 = 20.2 %; modes 110, 130 → 120, CV 11.8 %.
YIELD_CV = (1e9 / math.sqrt(2)) / 3.5e9 * 100
MODE_CV = (20 / math.sqrt(2)) / 120 * 100


def measure(tube, *, concentration, mode=None, study=None, days_ago=0, uploader):
    number = next(_numbers)
    study = study or tube.study
    instrument_file = InstrumentFile.objects.create(
        file=f"instrument-files/test/{number}.csv",
        original_name=f"{number}-ExperimentSummary.csv",
        size_bytes=10,
        sha256=f"{number:064x}",
        format="nta_nanosight",
        aliquot=tube,
        study=study,
        uploaded_by=uploader,
        status=FileStatus.PARSED,
    )
    return ParticleMeasurement.objects.create(
        instrument_file=instrument_file,
        aliquot=tube,
        study=study,
        method=ParticleMethod.NTA,
        measured_at=timezone.now() - timedelta(days=days_ago),
        concentration_per_ml=concentration,
        mode_nm=mode,
    )


def preparations(run):
    return [p.aliquot for p in run.preparations.select_related("aliquot").order_by("id")]


@pytest.fixture
def tubes(make_sample, members):
    sample = make_sample(volume_ml=Decimal("20.0"))
    return tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("2.0")] * 8, user=members["editor"]
    )


@pytest.fixture
def example(run_for, tubes, members, started):
    """Runs A and B of the worked example and a run C without any measurement."""
    editor = members["editor"]
    run_a = run_for(
        inputs=[(tubes[0], Decimal("1.0"))],
        outputs=[
            {"nomenclature_term": "small_EV", "volume_ml": "0.1"},
            {"nomenclature_term": "small_EV", "volume_ml": "0.2"},
        ],
        started_at=started - timedelta(days=2),
    )
    run_b = run_for(
        inputs=[(tubes[1], Decimal("1.5")), (tubes[2], Decimal("0.5"))],
        outputs=[{"nomenclature_term": "small_EV", "volume_ml": "0.1", "source": tubes[1]}],
        started_at=started - timedelta(days=1),
    )
    run_c = run_for(inputs=[(tubes[3], Decimal("1.0"))], started_at=started)
    a1, a2 = preparations(run_a)
    (b1,) = preparations(run_b)
    measure(a1, concentration=2e10, mode=100.0, uploader=editor)
    measure(a2, concentration=1e10, mode=120.0, uploader=editor)
    # An older measurement of the same tube is superseded by the latest one.
    measure(b1, concentration=9e12, mode=300.0, days_ago=5, uploader=editor)
    measure(b1, concentration=6e10, mode=130.0, uploader=editor)
    return run_a, run_b, run_c


def test_yield_of_each_run_from_latest_measurements(example, published, members):
    run_a, run_b, run_c = example
    runs = list_run_yields(user=members["viewer"], version_ids=[published.pk])
    assert [r.run_id for r in runs] == [run_a.pk, run_b.pk, run_c.pk]
    a, b, c = runs
    assert a.input_ml == Decimal("1.0") and b.input_ml == Decimal("2.0")
    assert a.particles == pytest.approx(4e9) and a.yield_per_ml == pytest.approx(4e9)
    assert b.particles == pytest.approx(6e9) and b.yield_per_ml == pytest.approx(3e9)
    assert (a.mode_nm, b.mode_nm) == (110.0, 130.0)
    assert (a.preparations, a.measured_preparations) == (2, 2)
    assert not c.measured and c.yield_per_ml is None and c.mode_nm is None
    assert c.preparations == 1 and c.measured_preparations == 0


def test_unmeasured_runs_counted_but_left_out_of_statistics(example, published, members):
    summary = summarise_runs(list_run_yields(user=members["viewer"], version_ids=[published.pk]))
    assert (summary.runs, summary.measured_runs, summary.partly_measured_runs) == (3, 2, 0)
    spread = summary.yield_per_ml
    assert spread.n == 2
    assert spread.median == pytest.approx(3.5e9)
    assert (spread.minimum, spread.maximum) == (pytest.approx(3e9), pytest.approx(4e9))
    assert spread.cv_pct == pytest.approx(YIELD_CV)
    assert spread.cv_pct == pytest.approx(20.203, abs=1e-3)
    mode = summary.mode_nm
    assert (mode.n, mode.median, mode.minimum, mode.maximum) == (2, 120.0, 110.0, 130.0)
    assert mode.cv_pct == pytest.approx(MODE_CV)


def test_partly_measured_run_is_a_flagged_lower_bound(run_for, tubes, members, published):
    run = run_for(
        inputs=[(tubes[0], Decimal("2.0"))],
        outputs=[
            {"nomenclature_term": "EV", "volume_ml": "0.5"},
            {"nomenclature_term": "EV", "volume_ml": "0.5"},
        ],
    )
    first, _ = preparations(run)
    measure(first, concentration=4e9, uploader=members["editor"])
    (only,) = list_run_yields(user=members["viewer"], version_ids=[published.pk])
    assert only.partly_measured and only.yield_per_ml == pytest.approx(1e9)
    assert summarise_runs([only]).partly_measured_runs == 1


def test_statistics_helpers():
    assert coefficient_of_variation([5.0]) is None
    assert coefficient_of_variation([0.0, 0.0]) is None
    assert coefficient_of_variation([2.0, 4.0, 6.0]) == pytest.approx(50.0)
    assert spread_of([None, None]) is None
    single = spread_of([None, 7.0])
    assert (single.n, single.median, single.cv_pct) == (1, 7.0, None)
    assert yield_axis([3e9, 4e9, None, 0.0]) == (9, 10)
    assert yield_axis([2.5e8, 4e11]) == (8, 12)
    assert yield_axis([None]) is None


def test_other_studies_measurements_and_runs_are_not_counted(
    run_for, tubes, members, published, foreign_tube, started
):
    run = run_for(inputs=[(tubes[0], Decimal("1.0"))])
    (prep,) = preparations(run)
    # A measurement filed under a study the viewer does not belong to, on the viewer's tube.
    measure(prep, concentration=5e10, study=foreign_tube.study, uploader=members["superuser"])
    # A run of the other study, measured there.
    owner = get_user_model().objects.get(username="olga_other")
    foreign_run = run_for(inputs=[(foreign_tube, Decimal("1.0"))], user=owner, started_at=started)
    (foreign_prep,) = preparations(foreign_run)
    measure(foreign_prep, concentration=8e10, uploader=owner)

    (mine,) = list_run_yields(user=members["viewer"], version_ids=[published.pk])
    assert mine.run_id == run.pk and not mine.measured
    assert list_run_yields(user=members["outsider"], version_ids=[published.pk]) == []
    everything = list_run_yields(user=members["superuser"], version_ids=[published.pk])
    assert sorted(r.yield_per_ml for r in everything) == [
        pytest.approx(5e9),
        pytest.approx(8e9),
    ]


def count_queries(client, params) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("assays:compare"), params)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_page_queries_do_not_grow_with_runs(run_for, tubes, members, published, page_client):
    client = page_client("viewer")
    params = {"protocols": published.protocol_id, "versions": published.pk}

    def add_measured_runs(start: int, stop: int) -> None:
        for tube in tubes[start:stop]:
            run = run_for(
                inputs=[(tube, Decimal("1.0"))],
                outputs=[
                    {"nomenclature_term": "EV", "volume_ml": "0.1"},
                    {"nomenclature_term": "EV", "volume_ml": "0.1"},
                ],
            )
            for prep in preparations(run):
                measure(prep, concentration=1e10, mode=100.0, uploader=members["editor"])

    add_measured_runs(0, 1)
    few, _ = count_queries(client, params)
    add_measured_runs(1, 7)
    more, html = count_queries(client, params)
    assert more == few
    assert html.count('class="run"') == 2 * 7  # seven dots in each of the two plots


def test_page_shows_yield_mode_cv_and_plot(example, published, page_client):
    response = page_client("viewer").get(reverse("assays:compare"), {"versions": published.pk})
    (column,) = response.context["columns"]
    assert column.runs == 3 and column.summary.measured_runs == 2
    assert column.yield_text == "3.50 × 10⁹ [3.00 × 10⁹–4.00 × 10⁹]"
    assert column.yield_cv_text == "20.2 %"
    assert column.mode_text == "120 [110–130]"
    assert column.mode_cv_text == "11.8 %"
    html = response.content.decode()
    assert "3.50 × 10⁹ [3.00 × 10⁹–4.00 × 10⁹]" in html
    assert "particles per mL input" in html
    assert "2 of 3" in html
    assert 'class="plot yield-plot"' in html
    assert html.count('class="run"') == 2  # the unmeasured run has no dot
    assert "needs protein quantification" in html
    run_a, _, _ = example
    assert reverse("assays:run-detail", args=[run_a.pk]) in html


def test_page_without_measurements_says_so(run_for, published, page_client):
    run_for()
    html = page_client("viewer").get(reverse("assays:compare"), {"versions": published.pk})
    html = html.content.decode()
    assert "no characterisation yet" in html
    assert "no measured run" in html
    assert "yield-plot" not in html


def test_strip_plot_marks_partial_runs_and_shares_the_axis(example, published, members):
    runs = list_run_yields(user=members["viewer"], version_ids=[published.pk])
    svg = str(yield_strip_svg(runs, axis=(8, 11), title="t", element_id="p"))
    assert svg.count("<circle") == 2
    assert "10⁸" in svg and "10¹¹" in svg
    assert "3.00 × 10⁹ particles per mL input" in svg
    assert str(yield_strip_svg(runs[2:], axis=(8, 11), title="t", element_id="q")) == ""
