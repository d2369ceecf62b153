"""DLS pages (a result typed in, a record's page with its distribution plot, the list) and
qPCR pages (Cq values typed in, a run by target × sample, putting unmatched sample names
on tubes), with scoping: another study's record is a 404, viewers get 403 on POST."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assays.choices import DLSKind, QPCRTask
from assays.models import DLSMeasurement, QPCRResult, QPCRRun
from assays.views.measurements import dls_size_svg

from .conftest import UNKNOWN

pytestmark = pytest.mark.django_db


# --- DLS --------------------------------------------------------------------------------------


def dls_post(aliquot, **changes) -> dict:
    data = {
        "tube": aliquot.accession,
        "kind": "size",
        "measured_at": "2026-03-02T11:00",
        "z_average_nm": "131,7",
        "pdi": "0.18",
        "temperature_c": "25",
        "dispersant": "PBS",
        "controls-TOTAL_FORMS": "0",
        "controls-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_recording_a_dls_result(page_client, tube):
    client = page_client("editor")
    form = client.get(reverse("assays:dls-create"), {"aliquot": tube.pk})
    assert form.status_code == 200 and f'value="{tube.accession}"' in form.content.decode()
    response = client.post(reverse("assays:dls-create"), dls_post(tube))
    m = DLSMeasurement.objects.get()
    assert response.status_code == 302 and response["Location"] == m.get_absolute_url()
    assert (m.aliquot, m.kind, m.z_average_nm, m.pdi, m.dispersant) == (
        tube,
        DLSKind.SIZE,
        131.7,
        0.18,
        "PBS",
    )
    html = client.get(m.get_absolute_url()).content.decode()
    assert "131.7" in html and "0.180" in html and "entered by hand" in html


def test_recording_a_zeta_result(page_client, tube):
    response = page_client("editor").post(
        reverse("assays:dls-create"),
        dls_post(tube, kind="zeta", z_average_nm="", pdi="", zeta_potential_mv="-23.4"),
    )
    m = DLSMeasurement.objects.get()
    assert response.status_code == 302
    assert (m.kind, m.zeta_potential_mv, m.z_average_nm) == (DLSKind.ZETA, -23.4, None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pdi": "1.4"}, "at most 1"),
        ({"z_average_nm": ""}, "A size result needs its Z-average."),
        ({"kind": "zeta", "z_average_nm": ""}, "A zeta result needs the zeta potential."),
        ({"tube": "EXO-999999"}, "No tube EXO-999999"),
    ],
)
def test_bad_dls_input_saves_nothing(page_client, tube, changes, message):
    response = page_client("editor").post(reverse("assays:dls-create"), dls_post(tube, **changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DLSMeasurement.objects.exists()


def test_viewers_may_not_record_dls(page_client, tube):
    client = page_client("viewer")
    assert client.get(reverse("assays:dls-create"), {"aliquot": tube.pk}).status_code == 403
    assert client.post(reverse("assays:dls-create"), dls_post(tube)).status_code == 403
    assert not DLSMeasurement.objects.exists()


def test_a_dls_record_shows_its_distribution(page_client, tube, make_dls):
    m = make_dls(tube)
    make_dls(tube, record_number=2, z_average_nm=150.9, instrument_file=None)
    html = page_client("viewer").get(m.get_absolute_url()).content.decode()
    assert "142.3" in html and "0.213" in html and "160.2" in html
    assert 'class="plot line-plot"' in html
    assert html.count('class="series"') == 3  # intensity, number, volume


def test_the_dls_plot_is_log_scaled_and_skips_missing_series(tube, make_dls):
    m = make_dls(tube)
    m.distribution["volume_pct"] = []
    svg = dls_size_svg(m)
    assert svg.count('class="series"') == 2
    assert ">10<" in svg and ">100<" in svg and ">1000<" in svg  # decade ticks
    m.distribution = None
    assert dls_size_svg(m) == ""


def test_a_zeta_record_plots_its_distribution(page_client, tube, make_dls):
    m = make_dls(
        tube,
        kind=DLSKind.ZETA,
        z_average_nm=None,
        pdi=None,
        distribution=None,
        zeta_potential_mv=-18.2,
        zeta_deviation_mv=4.1,
        zeta_distribution={"zeta_mv": [-40, -30, -20, -10, 0], "counts": [0, 300, 1200, 250, 0]},
    )
    html = page_client("viewer").get(m.get_absolute_url()).content.decode()
    assert "-18.2" in html and "4.1" in html and 'class="plot line-plot"' in html


def test_dls_scoping(page_client, tubes, foreign_tube, make_dls):
    mine = make_dls(tubes[0])
    theirs = make_dls(foreign_tube, dispersant="Secret buffer")
    client = page_client("viewer")
    assert client.get(theirs.get_absolute_url()).status_code == 404
    html = client.get(reverse("assays:dls-list")).content.decode()
    assert mine.aliquot.accession in html and foreign_tube.accession not in html
    assert client.get(reverse("assays:dls-create"), {"aliquot": foreign_tube.pk}).status_code == 404


# --- qPCR -------------------------------------------------------------------------------------


def cq_post(tube, rows: list[dict], **changes) -> dict:
    data = {
        "tube": tube.accession,
        "run_name": "Manual miR",
        "measured_at": "2026-03-02T12:00",
        "cq-TOTAL_FORMS": str(len(rows) + 1),
        "cq-INITIAL_FORMS": "0",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"cq-{index}-{key}"] = value
    data.update(changes)
    return data


def test_typing_in_cq_values(page_client, tube):
    client = page_client("editor")
    assert client.get(reverse("assays:qpcr-create"), {"aliquot": tube.pk}).status_code == 200
    response = client.post(
        reverse("assays:qpcr-create"),
        cq_post(
            tube,
            [
                {"target": "miR-21", "cq": "24,5", "well": "a01", "task": "unknown"},
                {"target": "miR-21", "cq": "24.9", "well": "A2", "task": "unknown"},
                {"target": "cel-miR-39", "undetermined": "on", "task": "unknown"},
            ],
        ),
    )
    run = QPCRRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    rows = sorted(run.results.values_list("target", "well", "cq", "aliquot_id"))
    assert rows == [
        ("cel-miR-39", "", None, tube.pk),
        ("miR-21", "A1", 24.5, tube.pk),
        ("miR-21", "A2", 24.9, tube.pk),
    ]
    html = client.get(run.get_absolute_url()).content.decode()
    assert "24.50" in html and "mean 24.70" in html and "Undet." in html


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"target": "miR-21", "cq": "120"}, "at most 100"),
        ({"target": "miR-21"}, "Give the Cq, or tick"),
        ({"cq": "22"}, "Name the target"),
        ({"target": "miR-21", "cq": "22", "undetermined": "on"}, "contradict"),
        ({"target": "miR-21", "cq": "22", "well": "Z99"}, "A well is a row letter"),
    ],
)
def test_bad_cq_values_save_nothing(page_client, tube, row, message):
    response = page_client("editor").post(reverse("assays:qpcr-create"), cq_post(tube, [row]))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not QPCRRun.objects.exists() and not QPCRResult.objects.exists()


def test_an_empty_cq_form_saves_nothing(page_client, tube):
    response = page_client("editor").post(reverse("assays:qpcr-create"), cq_post(tube, []))
    assert response.status_code == 400
    assert "Give at least one target" in response.content.decode()
    assert not QPCRRun.objects.exists()


def test_viewers_may_not_type_in_cq_values(page_client, tube):
    response = page_client("viewer").post(
        reverse("assays:qpcr-create"), cq_post(tube, [{"target": "miR-21", "cq": "22"}])
    )
    assert response.status_code == 403 and not QPCRRun.objects.exists()


@pytest.fixture
def file_run(make_run, tubes):
    """A run as a file gives it: two samples named without accessions, one on a tube."""
    return make_run(
        [
            ("A1", "Plasma A", "miR-21", 24.1, UNKNOWN, None),
            ("A2", "Plasma A", "miR-21", 24.3, UNKNOWN, None),
            ("B1", "Plasma B", "miR-21", 26.0, UNKNOWN, None),
            ("B2", "Plasma B", "miR-16", None, UNKNOWN, None),
            ("C1", f"{tubes[2].accession} rep1", "miR-21", 27.5, UNKNOWN, tubes[2]),
            ("H1", "NTC", "miR-21", None, QPCRTask.NTC, None),
        ]
    )


def test_a_run_shows_cq_by_target_and_sample(page_client, file_run, tubes):
    html = page_client("editor").get(file_run.get_absolute_url()).content.decode()
    assert "miR-16" in html and "miR-21" in html
    assert "24.10" in html and "mean 24.20" in html and "27.50" in html
    assert tubes[2].accession in html and "NTC" in html
    # Two unknown sample names wait for a tube; the NTC needs none.
    assert 'name="name-0" value="Plasma A"' in html
    assert 'name="name-1" value="Plasma B"' in html
    assert 'name="name-2"' not in html


def test_unmatched_samples_are_put_on_tubes(page_client, file_run, tubes):
    response = page_client("editor").post(
        file_run.get_absolute_url(),
        {
            "name-0": "Plasma A",
            "tube-0": tubes[0].accession.lower(),
            "name-1": "Plasma B",
            "tube-1": "",
        },
    )
    assert response.status_code == 302
    placed = dict(
        QPCRResult.objects.filter(run=file_run, well__in=["A1", "A2", "B1"]).values_list(
            "well", "aliquot_id"
        )
    )
    assert placed == {"A1": tubes[0].pk, "A2": tubes[0].pk, "B1": None}
    file_run.refresh_from_db()
    assert file_run.sample_map == {"Plasma A": tubes[0].pk}


def test_a_bad_tube_for_a_sample_saves_nothing(page_client, file_run, tubes, foreign_tube):
    response = page_client("editor").post(
        file_run.get_absolute_url(),
        {
            "name-0": "Plasma A",
            "tube-0": tubes[0].accession,
            "name-1": "Plasma B",
            "tube-1": foreign_tube.accession,
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert f"No tube {foreign_tube.accession} in your studies" in html
    assert not QPCRResult.objects.filter(run=file_run, well="A1", aliquot__isnull=False).exists()
    file_run.refresh_from_db()
    assert file_run.sample_map == {}


def test_viewers_may_not_map_samples(page_client, file_run, tubes):
    client = page_client("viewer")
    html = client.get(file_run.get_absolute_url()).content.decode()
    assert 'name="tube-0"' not in html and "An editor of the study" in html
    response = client.post(
        file_run.get_absolute_url(), {"name-0": "Plasma A", "tube-0": tubes[0].accession}
    )
    assert response.status_code == 403
    assert not QPCRResult.objects.filter(run=file_run, well="A1", aliquot__isnull=False).exists()


def test_another_studys_run_is_not_found(page_client, make_run, foreign_tube, foreign_editor):
    run = make_run(
        [("A1", foreign_tube.accession, "miR-21", 22.0, UNKNOWN, foreign_tube)],
        created_by=foreign_editor,
        run_name="Their run",
    )
    client = page_client("manager")
    assert client.get(run.get_absolute_url()).status_code == 404
    assert "Their run" not in client.get(reverse("assays:qpcr-run-list")).content.decode()


def test_the_run_list_counts_wells_and_unmatched_samples(page_client, file_run, tubes):
    response = page_client("viewer").get(reverse("assays:qpcr-run-list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "miR panel 1" in html
    assert '<span class="flag flag-warn">2</span>' in html  # Plasma A and Plasma B
    filtered = page_client("viewer").get(
        reverse("assays:qpcr-run-list"), {"tube": tubes[1].accession}
    )
    assert "miR panel 1" not in filtered.content.decode()


# --- Controls typed in with a tube's Cq values; the run page's side panel ---------------------


def _cq_cell_row(html: str, label: str) -> str:
    """The Cq table's row whose first cell shows ``label``."""
    table = html.split('<table class="cq-table">', 1)[1].split("</table>", 1)[0]
    return next(
        row for row in table.split("<tr>") if f">{label}</" in row.split("</td>", 1)[0] + "</td>"
    )


def test_typed_in_controls_stay_on_the_run_not_on_the_tube(page_client, tube):
    client = page_client("editor")
    client.post(
        reverse("assays:qpcr-create"),
        cq_post(
            tube,
            [
                {"target": "miR-21", "cq": "24.5", "well": "A1", "task": "unknown"},
                {"target": "miR-21", "cq": "24.9", "well": "A2", "task": "unknown"},
                {"target": "miR-21", "undetermined": "on", "well": "H1", "task": "ntc"},
                {"target": "miR-21", "cq": "18", "well": "H2", "task": "positive"},
            ],
        ),
    )
    run = QPCRRun.objects.get()
    rows = sorted(run.results.values_list("well", "task", "aliquot_id", "sample_name"))
    assert rows == [
        ("A1", "unknown", tube.pk, tube.accession),
        ("A2", "unknown", tube.pk, tube.accession),
        ("H1", "ntc", None, "No-template control"),
        ("H2", "positive", None, "Positive control"),
    ]
    html = client.get(run.get_absolute_url()).content.decode()
    tube_row = _cq_cell_row(html, tube.accession)
    # The tube's mean is of its two unknowns only (with the positive it would be 22.47).
    assert "mean 24.70" in tube_row and "18.00" not in tube_row and "Unknown" in tube_row
    assert "No-template control" in _cq_cell_row(html, "No-template control")
    assert '<span class="badge">Positive control</span>' in _cq_cell_row(html, "Positive control")
    panel = client.get(tube.get_absolute_url()).content.decode()
    assert "24.50 · 24.90" in panel and "mean 24.70" in panel and "18.00" not in panel


def test_the_tube_panel_leaves_out_controls_already_on_the_tube(page_client, tube, make_run):
    # Runs typed in before controls were kept off the tube.
    make_run(
        [
            ("A1", tube.accession, "miR-21", 24.5, UNKNOWN, tube),
            ("A2", tube.accession, "miR-21", 24.9, UNKNOWN, tube),
            ("H2", tube.accession, "miR-21", 18.0, QPCRTask.POSITIVE, tube),
        ]
    )
    panel = page_client("editor").get(tube.get_absolute_url()).content.decode()
    assert "24.50 · 24.90" in panel and "mean 24.70" in panel and "18.00" not in panel


def test_the_by_hand_panel_shows_only_when_relevant(page_client, tube, file_run, tubes):
    client = page_client("editor")
    # Unmapped samples wait above: no "None; tubes come from the accessions" beside them.
    assert (
        "Sample names put on tubes by hand"
        not in client.get(file_run.get_absolute_url()).content.decode()
    )
    client.post(
        file_run.get_absolute_url(),
        {"name-0": "Plasma A", "tube-0": tubes[0].accession, "name-1": "Plasma B", "tube-1": ""},
    )
    html = client.get(file_run.get_absolute_url()).content.decode()
    assert "Sample names put on tubes by hand" in html and "Plasma A →" in html
    client.post(reverse("assays:qpcr-create"), cq_post(tube, [{"target": "miR-21", "cq": "22"}]))
    typed = QPCRRun.objects.get(run_name="Manual miR")
    html = client.get(typed.get_absolute_url()).content.decode()
    assert "Sample names put on tubes by hand" not in html and "tubes come from" not in html


def test_a_mapping_error_says_nothing_was_saved_at_the_top(page_client, file_run, foreign_tube):
    response = page_client("editor").post(
        file_run.get_absolute_url(),
        {"name-0": "Plasma A", "tube-0": foreign_tube.accession, "name-1": "Plasma B"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    banner = html.index("nothing was saved")
    assert banner < html.index('id="unmatched"')
    ok = page_client("editor").get(file_run.get_absolute_url()).content.decode()
    assert "nothing was saved" not in ok
