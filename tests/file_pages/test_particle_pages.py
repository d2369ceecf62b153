"""A measurement's page, the results list, the SVG file, and the tube page's panel."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from samples import panels

from .test_plots import SVG


def test_measurement_page_shows_numbers_plot_settings_and_flags(
    page_client, tube, make_measurement
):
    m = make_measurement(
        tube,
        dilution_factor=100.0,
        instrument_warnings=["Validity of concentration measurement: Be cautious (video 2 of 3)"],
        flags=[
            {"code": "high_replicate_cv", "message": "Replicate concentrations vary by 31.0 %."},
            {"code": "something_new", "message": "A flag the page has no explanation for."},
        ],
    )
    response = page_client("viewer").get(reverse("assays:particle-detail", args=[m.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "2.34 × 10⁹" in html and "1.20 × 10⁸" in html
    assert "98.6" in html and "110.3" in html and "170.9" in html
    assert "5.1 %" in html  # CV
    assert "Temperature" in html and "°C" in html and "Camera level" in html
    assert "Be cautious (video 2 of 3)" in html
    assert "Replicate concentrations vary by 31.0 %." in html
    assert "disagree by more than 25 %" in html  # the explanation of that flag
    assert "A flag the page has no explanation for." in html
    assert tube.accession in html
    # The plot is inline SVG with one path per video plus the mean.
    start = html.index("<svg xmlns")
    svg = ET.fromstring(html[start : html.index("</svg>", start) + 6])
    assert len(list(svg.iter(f"{SVG}path"))) == 4


def test_measurement_without_distribution_says_so(page_client, tube, make_measurement):
    m = make_measurement(tube, distribution=None, settings={}, concentration_per_ml=None)
    response = page_client("viewer").get(reverse("assays:particle-detail", args=[m.pk]))
    assert response.status_code == 200
    assert "has no size distribution" in response.content.decode()
    assert "not reported" in response.content.decode()


def test_another_studys_measurement_is_not_found(page_client, other_tube, make_measurement):
    m = make_measurement(other_tube)
    for url in (
        reverse("assays:particle-detail", args=[m.pk]),
        reverse("assays:particle-plot", args=[m.pk]),
    ):
        assert page_client("editor").get(url).status_code == 404
        assert page_client("superuser").get(url).status_code == 200


def test_the_plot_is_served_as_an_svg_file(page_client, tube, make_measurement):
    m = make_measurement(tube)
    response = page_client("viewer").get(reverse("assays:particle-plot", args=[m.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)
    assert len([p for p in root.iter(f"{SVG}path") if p.get("class") == "replicate"]) == 3


def test_results_list_is_scoped_and_filters_by_tube(
    page_client, tube, other_tube, make_tubes, make_measurement
):
    second = make_tubes(1)[0]
    make_measurement(tube)
    make_measurement(second, concentration_per_ml=7.7e10)
    make_measurement(other_tube, concentration_per_ml=5.5e11)
    client = page_client("viewer")

    html = client.get(reverse("assays:particle-list")).content.decode()
    assert tube.accession in html and second.accession in html
    assert other_tube.accession not in html and "5.50 × 10¹¹" not in html

    html = client.get(reverse("assays:particle-list"), {"tube": second.accession}).content.decode()
    assert "7.70 × 10¹⁰" in html and "2.34 × 10⁹" not in html


def test_the_tube_page_has_a_characterisation_panel(page_client, tube, make_measurement):
    make_measurement(tube, flags=[{"code": "few_videos", "message": "Only 2 videos."}])
    response = page_client("editor").get(tube.get_absolute_url())

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="characterisation"' in html
    assert "2.34 × 10⁹" in html and "Only 2 videos." in html and "&lt; 3 videos" in html
    assert 'class="plot size-plot compact"' in html
    # Editors get a drop zone aimed at this tube.
    assert "data-uploader" in html
    assert f'name="aliquot" value="{tube.accession}"' in html


def test_viewers_see_results_but_no_drop_zone(page_client, tube, make_measurement):
    make_measurement(tube)
    html = page_client("viewer").get(tube.get_absolute_url()).content.decode()
    assert 'id="characterisation"' in html and "2.34 × 10⁹" in html
    assert "data-uploader" not in html


def test_the_panel_lists_files_still_waiting_for_this_tube(page_client, tube, make_file):
    make_file(aliquot=tube, status="failed", error='Bad number (line 42, column "Mode")')
    html = page_client("viewer").get(tube.get_absolute_url()).content.decode()
    assert "No particle measurements of this tube yet." in html
    assert "Bad number (line 42, column &quot;Mode&quot;)" in html


def test_a_failing_panel_does_not_take_the_tube_page_down(page_client, tube):
    def broken(**kwargs):
        raise RuntimeError("boom")

    broken.panel_title = "Broken"
    panels.register_panel(broken)
    try:
        response = page_client("viewer").get(tube.get_absolute_url())
    finally:
        panels.unregister_panel(broken)
    assert response.status_code == 200
    assert "could not be shown (Broken)" in response.content.decode()


def test_registering_a_panel_twice_shows_it_once():
    def panel(**kwargs):
        return ""

    panels.register_panel(panel)
    panels.register_panel(panel)
    try:
        assert panels.registered_panels().count(panel) == 1
    finally:
        panels.unregister_panel(panel)


@pytest.mark.parametrize("role", ["outsider"])
def test_no_panel_for_a_tube_one_cannot_see(page_client, tube, role):
    assert page_client(role).get(tube.get_absolute_url()).status_code == 404


def test_setting_labels_and_units():
    from assays.views.particles import per_video_sections, setting_label, settings_rows

    assert setting_label("temperature_c") == ("Temperature", "°C")
    assert setting_label("concentration_measured_per_ml") == (
        "Concentration measured",
        "particles/mL",
    )
    assert setting_label("ph") == ("pH", "")
    rows = settings_rows(
        {
            "format": "nta_nanosight",
            "camera_level": [14, 14, 14],
            "temperature_c_range": [24.9, 25.1],
            "detection_threshold": [5, 6, 5],
            "conditions": {"Camera Level": [14, 14, 14]},
        }
    )
    assert [(r.label, r.value, r.unit) for r in rows] == [
        ("Camera level", "14", ""),
        ("Detection threshold", "5, 6, 5", ""),
        ("Temperature range", "24.9–25.1", "°C"),
    ]
    videos, sections = per_video_sections(
        {"videos": ["a", "b"], "results": {"Particles per frame": {"videos": [40.1, 41.0]}}}
    )
    assert videos == ["a", "b"]
    assert sections[0].title == "Results"
    assert sections[0].rows == [("Particles per frame", ["40.1", "41"])]
