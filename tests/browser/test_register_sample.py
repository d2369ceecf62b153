"""End to end in a real browser: log in, register a plasma sample through the form, then
find it again by typing (as a barcode scanner does) its accession into the search box."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from samples.models import Sample

pytestmark = pytest.mark.browser


def test_register_a_sample_and_find_it_with_the_search_box(
    transactional_db, live_server, logged_in_page, members, donor
):
    base = live_server.url
    # Database work stays outside the Playwright block: its event loop makes Django refuse
    # ORM calls from this thread while it runs.
    with logged_in_page(members["editor"]) as page:
        page.goto(base + reverse("samples:sample-create"))
        page.select_option("#id_donor", label="D-001")
        page.select_option("#id_fluid_type", "plasma")
        # Choosing plasma reveals the blood-quality fields (page script).
        page.locator("#id_haemolysis_a414").wait_for(state="visible")
        page.fill("#id_collected_at", "2025-03-04T08:15")
        page.fill("#id_volume", "750")
        page.select_option("#id_volume_unit", "µL")
        page.select_option("#id_tube_type", "k2_edta")
        page.fill("#id_time_to_processing_min", "40")
        page.fill("#id_processing_temp_c", "21")
        for number in (1, 2):
            page.fill(f"#id_spin{number}_g", "2500")
            page.fill(f"#id_spin{number}_minutes", "15")
            page.fill(f"#id_spin{number}_temp_c", "20")
            page.select_option(f"#id_spin{number}_brake", "off")
        page.fill("#id_post_centrifugation_delay_min", "30")
        page.fill("#id_post_centrifugation_temp_c", "20")
        page.select_option("#id_storage_container", "cryotube")
        page.fill("#id_storage_temp_c", "-80")
        page.fill("#id_haemolysis_a414", "0.15")
        page.click("button:has-text('Register sample')")
        page.wait_for_url(re.compile(r".*/samples/\d+/$"))
        accession = page.locator("h1 .mono").inner_text().strip()
        sample_url = page.url
        assert re.fullmatch(r"EXO-\d{6}", accession)
        assert "PL2-PED-A-A-A-B-D" in page.content()

        # From another page: "/" focuses the search box; the scanner types and hits Enter.
        page.goto(base + reverse("samples:sample-list"))
        page.locator("body").press("/")
        assert page.evaluate("document.activeElement.id") == "global-search"
        page.keyboard.type(accession.lower(), delay=5)
        page.keyboard.press("Enter")
        page.wait_for_url(sample_url)
        assert page.locator("h1 .mono").inner_text().strip() == accession

    sample = Sample.objects.get(accession=accession)
    assert sample.donor == donor
    assert sample.created_by == members["editor"]
    assert str(sample.volume_ml.normalize()) == "0.75"
    assert sample.haemolysis_a414 == 0.15
