"""Flow pages: a measurement's keywords, channels and event concentration, the MIFlowCyt-EV
form (editors only; bad input saves nothing), the list, and scoping."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assays.models import FlowMeasurement

pytestmark = pytest.mark.django_db


def reporting(**changes) -> dict:
    data = {
        "analysed_volume_ul": "25",
        "dilution_factor": "100",
        "calibration_beads": "Rosetta Calibration",
        "refractive_index_assumed": "1,38",
        "scatter_unit": "nm",
        "fluorescence_unit": "MESF",
        "lod_scatter": "80",
        "lod_fluorescence": "",
        "gating": "EVs: SSC-H vs FITC-A, above buffer-only",
        "notes": "",
        "controls-TOTAL_FORMS": "1",
        "controls-INITIAL_FORMS": "0",
        "controls-0-kind": "detergent",
        "controls-0-description": "0.1 % Triton X-100",
        "controls-0-result": "95 % of events gone",
    }
    data.update(changes)
    return data


def test_the_page_shows_keywords_channels_and_concentration(page_client, tube, make_flow):
    m = make_flow(tube)
    response = page_client("viewer").get(m.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "CytoFLEX S" in html and "BA-1234" in html and "CytExpert 2.4" in html
    assert "20,000" in html and "VSSC-H" in html
    assert "Forward scatter" in html and "CD63-FITC" in html and "812.5" in html
    assert "5.00 × 10⁵" in html  # 20,000 events in 0.04 mL
    assert "GAIN" in html and "$P1N" not in html  # channel keywords are in the table
    # Viewers see the MIFlowCyt-EV fields but no form.
    assert 'name="calibration_beads"' not in html
    assert "calibration beads" in html  # listed as still missing


def test_editors_complete_the_miflowcyt_fields(page_client, tube, make_flow):
    m = make_flow(tube)
    client = page_client("editor")
    assert 'name="calibration_beads"' in client.get(m.get_absolute_url()).content.decode()
    response = client.post(m.get_absolute_url(), reporting())
    assert response.status_code == 302
    m.refresh_from_db()
    assert (m.analysed_volume_ul, m.dilution_factor, m.refractive_index_assumed) == (
        25.0,
        100.0,
        1.38,
    )
    assert m.scatter_unit == "nm" and m.lod_fluorescence is None
    # 20,000 events in 0.025 mL, diluted 1:100 → 8 × 10⁷ per mL of the tube
    assert m.event_concentration_per_ml == pytest.approx(8e7)
    assert m.controls == [
        {"kind": "detergent", "description": "0.1 % Triton X-100", "result": "95 % of events gone"}
    ]
    html = client.get(m.get_absolute_url()).content.decode()
    assert "8.00 × 10⁷" in html and "Detergent lysis" in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("refractive_index_assumed", "5", "at most 3"),
        ("analysed_volume_ul", "0", "greater than 0"),
        ("dilution_factor", "", "This field is required"),
        ("controls-0-kind", "", "Say which kind of control"),
    ],
)
def test_bad_reporting_saves_nothing(page_client, tube, make_flow, field, value, message):
    m = make_flow(tube)
    response = page_client("editor").post(m.get_absolute_url(), reporting(**{field: value}))
    assert response.status_code == 400
    assert message in response.content.decode()
    m.refresh_from_db()
    assert m.calibration_beads == "" and m.analysed_volume_ul is None and m.controls == []


def test_viewers_may_not_change_a_measurement(page_client, tube, make_flow):
    m = make_flow(tube)
    response = page_client("viewer").post(m.get_absolute_url(), reporting())
    assert response.status_code == 403
    m.refresh_from_db()
    assert m.calibration_beads == ""


def test_another_studys_measurement_is_not_found(page_client, foreign_tube, make_flow):
    m = make_flow(foreign_tube)
    client = page_client("manager")
    assert client.get(m.get_absolute_url()).status_code == 404
    assert client.post(m.get_absolute_url(), reporting()).status_code == 404
    assert FlowMeasurement.objects.get(pk=m.pk).calibration_beads == ""


def test_the_list_is_scoped_and_filters_by_tube(page_client, tubes, foreign_tube, make_flow):
    make_flow(tubes[0])
    make_flow(tubes[1], event_count=12345)
    make_flow(foreign_tube, cytometer="Secret cytometer")
    client = page_client("viewer")
    html = client.get(reverse("assays:flow-list")).content.decode()
    assert tubes[0].accession in html and tubes[1].accession in html
    assert "Secret cytometer" not in html and foreign_tube.accession not in html
    html = client.get(reverse("assays:flow-list"), {"tube": tubes[1].accession}).content.decode()
    assert "12,345" in html and "20,000" not in html
