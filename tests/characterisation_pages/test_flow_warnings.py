"""Flow files the parser warned about: a file cut off before its events claims no event
concentration, and every warning is shown at the top of the page and marked in the list."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assays import characterisation_services as services
from assays.models.measurements import FLOW_DATA_MISSING

pytestmark = pytest.mark.django_db

CUT_OFF = (
    "the DATA segment is missing or truncated: 20000 events × 108 bytes need bytes "
    "5912-2165911, but the file has 3931 bytes (0 events present); statistics were not computed"
)
BLANK_CHANNELS = [{"index": 1, "name": "FSC-H", "median": None, "mean": None}]


def test_a_flow_record_without_its_data_has_no_event_concentration(tube, make_flow):
    m = make_flow(tube, channels=BLANK_CHANNELS, warnings=[FLOW_DATA_MISSING, CUT_OFF])
    assert m.data_missing
    assert m.compute_concentration() is None and m.event_concentration_per_ml is None


def test_editing_the_volume_does_not_bring_the_concentration_back(tube, make_flow, members):
    m = make_flow(tube, channels=BLANK_CHANNELS, warnings=[FLOW_DATA_MISSING, CUT_OFF])
    updated = services.update_flow_reporting(
        user=members["editor"], measurement=m, data={"analysed_volume_ul": 25.0}
    )
    assert updated.event_concentration_per_ml is None


def test_the_page_leads_with_the_data_missing_warning(page_client, tube, make_flow):
    m = make_flow(tube, channels=BLANK_CHANNELS, warnings=[FLOW_DATA_MISSING, CUT_OFF])
    html = page_client("viewer").get(m.get_absolute_url()).content.decode()
    top = html[: html.index("result-figures")]
    assert 'role="alert"' in top
    assert FLOW_DATA_MISSING in top and "5912-2165911" in top
    assert "not available: the file's events were not read" in html
    assert "events/mL of the tube" not in html


def test_an_offset_discrepancy_is_shown_at_the_top_too(page_client, tube, make_flow):
    warning = "HEADER and TEXT disagree on the DATA offsets (TEXT 6081-6188, HEADER 5555-6188)"
    m = make_flow(tube, warnings=[warning])
    html = page_client("viewer").get(m.get_absolute_url()).content.decode()
    top = html[: html.index("result-figures")]
    assert "HEADER and TEXT disagree on the DATA offsets" in top
    assert m.event_concentration_per_ml is not None, "a readable file keeps its concentration"


def test_the_list_marks_rows_with_warnings(page_client, tube, tubes, make_flow):
    make_flow(tube, channels=BLANK_CHANNELS, warnings=[FLOW_DATA_MISSING, CUT_OFF])
    make_flow(tubes[1])
    html = page_client("viewer").get(reverse("assays:flow-list")).content.decode()
    markers = re.findall(r'<span class="flag flag-danger" title="([^"]*)">no data</span>', html)
    assert len(markers) == 1 and markers[0].startswith(FLOW_DATA_MISSING)
