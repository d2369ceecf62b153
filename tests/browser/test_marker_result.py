"""End to end in a real browser: open "Add a marker result" for a tube, type ALIX and see its
MISEV category (2a) appear beside the field, say it was detected, save, and land on the
result's page that lists PDCD6IP (ALIX's HGNC symbol) for the tube."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from assays.models import Marker, MarkerResult
from assays.vocabulary import load_builtin_markers
from samples import services as tube_services

pytestmark = pytest.mark.browser


def test_add_a_marker_result_for_a_tube(
    transactional_db, live_server, logged_in_page, members, make_sample, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Other transactional tests flush the table the data migration filled.
    load_builtin_markers(Marker)
    sample = make_sample(volume_ml=Decimal("4.0"))
    tube = tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("1.0")], user=members["editor"]
    )[0]
    base = live_server.url

    # Database work stays outside the Playwright block (its event loop makes Django refuse
    # ORM calls from this thread while it runs).
    with logged_in_page(members["editor"]) as page:
        page.goto(base + reverse("assays:marker-result-create") + f"?aliquot={tube.pk}")
        tube_value = page.input_value("#id_tube")
        focused = page.evaluate("document.activeElement && document.activeElement.id")
        page.locator("#id_marker").press_sequentially("ALIX")
        category = page.locator("output[for='id_marker']")
        category.filter(has_text="2a").wait_for()
        category_text = category.inner_text()

        # An unknown marker says so while typing, before anything is submitted.
        page.fill("#id_marker", "")
        page.locator("#id_marker").press_sequentially("NOTAMARKER")
        category.filter(has_text="Not in the marker vocabulary").wait_for()
        page.fill("#id_marker", "ALIX")
        category.filter(has_text="2a").wait_for()

        page.select_option("#id_detection", "detected")
        page.fill("#id_antibody_rrid", "AB_2299455")
        page.click("button[type=submit]:has-text('Save result')")
        page.wait_for_url(re.compile(r".*/assays/markers/results/\d+/$"))
        heading = page.locator("h1").inner_text()
        result_panel = page.locator("#result-title").locator("xpath=..").inner_text()
        message = page.locator(".messages").inner_text()

    assert tube_value == tube.accession
    assert focused == "id_marker"  # the tube is known: the cursor waits in the marker field
    assert category_text.startswith("2a") and "PDCD6IP" in category_text
    result = MarkerResult.objects.select_related("marker").get()
    assert result.aliquot == tube and result.marker.symbol == "PDCD6IP"
    assert result.antibody_rrid == "AB_2299455"
    assert "PDCD6IP" in heading and tube.accession in heading
    assert "2a · Cytosolic, membrane-binding" in result_panel and "Detected" in result_panel
    assert f"Recorded PDCD6IP (detected) on {tube.accession}" in message
