"""End to end in a real browser: open a box map, click an empty well, scan a tube's
accession into it and see it there; then scan two more tubes one after another and watch
them fill the next free wells in reading order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from samples import services
from samples.models import Aliquot, StorageUnit

pytestmark = pytest.mark.browser


def test_place_a_tube_on_the_box_map_by_clicking_a_well_and_scanning(
    transactional_db, live_server, logged_in_page, members, make_sample
):
    freezer = StorageUnit.objects.create(kind="freezer", name="Freezer A", set_temperature_c=-80)
    box = StorageUnit.objects.create(kind="box", name="Box 7", parent=freezer, rows=8, columns=12)
    sample = make_sample(volume_ml=Decimal("3"))
    editor = members["editor"]
    # One tube already in A1; three tubes waiting on the bench.
    services.split_into_aliquots(source=sample, volumes_ml=[Decimal("0.5")], user=editor, box=box)
    first, second, third = services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("0.5")] * 3, user=editor
    )
    base = live_server.url
    box_url = base + reverse("samples:storage-detail", args=[box.pk])

    with logged_in_page(editor) as page:
        page.goto(box_url)
        well = page.locator("td[data-well='C5']")
        assert well.inner_text().strip() == "C5"
        well.locator("button").click()
        # The page script chose the well and put the cursor in the accession box.
        assert page.input_value("#id_place_position") == "C5"
        assert page.evaluate("document.activeElement.id") == "id_place_accession"
        page.keyboard.type(first.accession, delay=5)
        page.keyboard.press("Enter")
        page.wait_for_url(box_url)
        placed = page.locator("td[data-well='C5'] a")
        assert placed.inner_text().replace("\n", "") == first.accession
        assert f"Placed {first.accession} at C5." in page.locator(".messages").inner_text()

        # Scanning mode: two scans in quick succession fill A2 and A3 in that order.
        page.click("[data-scan-toggle]")
        assert page.evaluate("document.activeElement.id") == "id_scan_accession"
        for tube in (second, third):
            page.keyboard.type(tube.accession, delay=2)
            page.keyboard.press("Enter")
        page.locator("td[data-well='A3'] a").wait_for()
        assert page.locator("td[data-well='A2'] a").inner_text().replace("\n", "") == (
            second.accession
        )
        assert page.locator("td[data-well='A3'] a").inner_text().replace("\n", "") == (
            third.accession
        )
        log = page.locator("[data-scan-log] li")
        log.nth(1).wait_for()
        assert log.nth(0).inner_text() == f"Placed {third.accession} at A3."
        assert page.input_value("#id_scan_start") == "A4"
        assert page.locator("strong[data-free-count]").inner_text() == str(96 - 4)

    positions = dict(
        Aliquot.objects.filter(pk__in=[first.pk, second.pk, third.pk]).values_list("pk", "row")
    )
    assert positions == {first.pk: 3, second.pk: 1, third.pk: 1}
    first.refresh_from_db()
    assert (first.box_id, first.position, first.is_frozen) == (box.pk, "C5", True)
