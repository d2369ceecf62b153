"""End to end in a real browser: open the upload page, choose one NTA ExperimentSummary file
and drop another on the drop zone, watch both rows turn "Parsed" without the page
reloading, and open a result with its size-distribution plot. Then the tube's page shows
the result in its Characterisation panel.

Celery runs eagerly here (no broker in tests), so a file is parsed as soon as its upload
commits; the rows still learn that through the status endpoint they poll.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from django.urls import reverse

from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement
from samples import services as tube_services
from tests.file_pages.conftest import store_file
from tests.file_pages.nta import experiment_summary

pytestmark = pytest.mark.browser

DROP_FILE = """([name, text]) => {
    const zone = document.querySelector("[data-dropzone]");
    const transfer = new DataTransfer();
    transfer.items.add(new File([text], name, {type: "text/csv"}));
    for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
    }
}"""


def test_upload_nta_files_and_see_them_parsed(
    transactional_db, live_server, logged_in_page, members, make_sample, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    sample = make_sample(volume_ml=Decimal("4.0"))
    tube, second = tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("1.0"), Decimal("1.0")], user=members["editor"]
    )
    chosen = tmp_path / f"{tube.accession} 2024-03-05 14-20-00-ExperimentSummary.csv"
    chosen.write_bytes(experiment_summary(sample="SEC F3"))
    # The dropped file names no tube; its sample description names the second tube.
    dropped = experiment_summary(sample=second.accession).decode("ascii")
    base = live_server.url

    with logged_in_page(members["editor"]) as page:
        page.goto(base + reverse("assays:file-upload"))
        page.evaluate("window.__notReloaded = true")
        page.fill("#id_aliquot", tube.accession)
        page.set_input_files("#id_upload_file", str(chosen))
        page.fill("#id_aliquot", "")
        page.evaluate(DROP_FILE, ["plate-A1-ExperimentSummary.csv", dropped])

        rows = page.locator("table.upload-rows tbody tr")
        rows.nth(1).locator(".file-status-parsed").wait_for()
        rows.nth(0).locator(".file-status-parsed").wait_for()
        row_texts = rows.all_inner_texts()
        assert page.evaluate("window.__notReloaded") is True

        # Dropping the same bytes again says so, with a link to the existing record.
        page.evaluate(DROP_FILE, ["copy.csv", dropped])
        page.locator("table.upload-rows tr.duplicate").wait_for()
        duplicate_text = page.locator("table.upload-rows tr.duplicate").inner_text()

        rows.filter(has_text=chosen.name).locator("a.result-link").click()
        page.wait_for_url(re.compile(r".*/assays/particles/\d+/$"))
        heading = page.locator("h1").inner_text()
        plot = page.locator("svg.size-plot")
        plot.wait_for()
        replicate_paths = plot.locator("path.replicate").count()
        mean_paths = plot.locator("path.mean").count()
        plot_box = plot.bounding_box()
        figures = page.locator(".result-figures").inner_text()

        page.goto(base + tube.get_absolute_url())
        panel = page.locator("#characterisation").inner_text()
        panel_plots = page.locator("#characterisation svg.size-plot").count()

    files = {f.original_name: f for f in InstrumentFile.objects.select_related("aliquot")}
    assert set(files) == {chosen.name, "plate-A1-ExperimentSummary.csv"}
    assert files[chosen.name].status == FileStatus.PARSED
    assert files[chosen.name].aliquot == tube
    assert files["plate-A1-ExperimentSummary.csv"].aliquot == second
    assert any("Parsed" in text and chosen.name in text for text in row_texts)
    assert "Already uploaded" in duplicate_text and "Open the existing record" in duplicate_text
    assert tube.accession in heading
    assert (replicate_paths, mean_paths) == (5, 1)
    assert plot_box["width"] > 300 and plot_box["height"] > 120
    assert "2.20 × 10⁸" in figures
    assert ParticleMeasurement.objects.filter(aliquot=tube).count() == 1
    assert "2.20 × 10⁸" in panel and panel_plots == 1


def _in_another_thread(work) -> None:
    """ORM work while Playwright's event loop runs in this thread (Django refuses ORM calls
    from a thread with a running event loop); the thread closes its own connection."""
    from django.db import connection

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def test_a_row_follows_processing_without_reloading(
    transactional_db, live_server, logged_in_page, members, make_sample, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    waiting = store_file(uploader=members["editor"], status=FileStatus.PROCESSING)
    base = live_server.url

    def fail_it() -> None:
        InstrumentFile.objects.filter(pk=waiting.pk).update(
            status=FileStatus.FAILED, error='not a number (line 42, column "Mode")'
        )

    with logged_in_page(members["editor"]) as page:
        page.goto(base + reverse("assays:file-upload"))
        page.evaluate("window.__notReloaded = true")
        row = page.locator(f'tr[data-file-id="{waiting.pk}"]')
        row.locator(".file-status-processing").wait_for()
        _in_another_thread(fail_it)
        row.locator(".file-status-failed").wait_for()
        detail = row.locator(".file-detail-cell").inner_text()
        final = row.get_attribute("data-final")
        not_reloaded = page.evaluate("window.__notReloaded")

    assert 'not a number (line 42, column "Mode")' in detail
    assert final == "true" and not_reloaded is True
