"""End to end in a real browser: open a pasted BCA plate's map editor, select the standards
by typing a range and fill them with a serial dilution, mark the blanks by click and
shift-click, scan two tubes into duplicate wells (the selection moves on after each scan),
save, and read the tubes' protein concentrations on the plate's page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assays.choices import ProteinAssayStatus
from assays.models import ProteinAssay
from samples import services

pytestmark = pytest.mark.browser

BLANK, SLOPE = 0.05, 0.001  # absorbance = blank + slope × µg/mL
LEVELS = (2000, 1000, 500, 250, 125, 62.5, 31.25, 0)  # rows A–H: 2000 halved, last one 0


def absorbance(ug_per_ml: float) -> float:
    return round(BLANK + SLOPE * ug_per_ml, 6)


def test_map_a_plate_with_a_serial_dilution_and_scanned_tubes(
    transactional_db, live_server, logged_in_page, members, make_sample
):
    editor = members["editor"]
    sample = make_sample(volume_ml=Decimal("3"))
    first, second = services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("0.5"), Decimal("0.25")], user=editor
    )
    values: dict[str, float | None] = {}
    for row, level in zip("ABCDEFGH", LEVELS, strict=True):
        values[f"{row}1"] = values[f"{row}2"] = absorbance(level)
    values["A3"] = values["B3"] = BLANK
    values["C4"], values["D4"] = absorbance(300), absorbance(310)  # the first tube
    values["C5"], values["D5"] = absorbance(200), absorbance(200)  # the second tube
    assay = ProteinAssay.objects.create(
        name="BCA by hand",
        method="bca",
        reads=[{"plate_name": "Plate 1", "wavelength_nm": 562.0, "values": values}],
        measured_at=timezone.now(),
        created_by=editor,
    )
    base = live_server.url
    map_url = base + reverse("assays:protein-assay-map", args=[assay.pk])

    with logged_in_page(editor) as page:
        page.goto(map_url)
        # Standards: type the range, then a serial dilution from 2000 by halves, last 0.
        page.fill("#pm-range", "A1:H2")
        page.press("#pm-range", "Enter")
        selection = page.locator("[data-selection-text]").inner_text()
        page.fill("#pm-top", "2000")
        page.fill("#pm-factor", "2")
        page.click("[data-serial]")
        labels = {
            well: page.locator(f"td[data-well='{well}'] .pw-label").inner_text()
            for well in ("A1", "B2", "G1", "H2")
        }

        # Blanks: click A3, shift-click B3.
        page.click("td[data-well='A3']")
        page.click("td[data-well='B3']", modifiers=["Shift"])
        page.check("input[name=pm-role][value=blank]")
        page.click("[data-apply]")
        blank_class = page.get_attribute("td[data-well='B3']", "class")

        # Samples: select C4-D4, then scan two tubes; after each scan the selection moves on.
        page.fill("#pm-range", "C4-D4")
        page.press("#pm-range", "Enter")
        page.check("input[name=pm-role][value=sample]")
        page.fill("#pm-accession", first.accession.lower())
        page.press("#pm-accession", "Enter")
        moved_to = page.locator("[data-selection-text]").inner_text()
        page.locator("#pm-accession").type(second.accession, delay=2)
        page.keyboard.press("Enter")
        sample_label = page.locator("td[data-well='D5'] .pw-label").inner_text()
        summary = page.locator("[data-map-summary]").inner_text()

        page.click("[data-save-map]")
        page.wait_for_url(base + assay.get_absolute_url())
        status = page.locator(".page-head .badge").inner_text()
        results = page.locator("table.protein-rows").inner_text()
        curve_loaded = page.evaluate(
            "() => { const img = document.querySelector('img.curve-img');"
            " return !!img && img.complete && img.naturalWidth > 0; }"
        )

    assert selection == "Selected: 16 wells, A1–H2."
    assert labels == {"A1": "2000", "B2": "1000", "G1": "31.25", "H2": "0"}
    assert "role-blank" in blank_class
    assert moved_to == "Selected: 2 wells, C5–D5."
    assert sample_label == second.accession
    assert "16 standard wells (8 levels)" in summary and "4 sample wells (2 tubes)" in summary
    assert status == "Computed"
    assert first.accession in results and second.accession in results
    assert "305" in results and "200" in results
    assert curve_loaded is True

    assay.refresh_from_db()
    assert assay.status == ProteinAssayStatus.COMPUTED
    assert assay.plate_map["G1"] == {"role": "standard", "concentration": 31.25}
    assert assay.plate_map["C5"]["sample"] == str(second.pk)
    by_tube = {m.aliquot_id: m for m in assay.measurements.all()}
    assert by_tube[first.pk].concentration_ug_per_ml == pytest.approx(305, rel=1e-6)
    assert by_tube[second.pk].total_ug == pytest.approx(50, rel=1e-6)  # 200 µg/mL × 0.25 mL
