"""End to end in a real browser: an EV preparation's tube page shows the completeness card
with its score, and its "Add marker result" link opens the marker form for that tube."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.compliance_pages.fixtures import (  # noqa: F401 (fixtures)
    librarian,
    measure,
    record_run,
    rules,
    seeded,
)
from tests.isolation.fixtures import (  # noqa: F401 (fixtures)
    draft,
    fast_password_hashing,
    published,
    sample,
    started,
    sw41,
    uc_steps,
)

pytestmark = pytest.mark.browser


def test_card_on_the_tube_page_leads_to_the_marker_form(
    transactional_db,
    live_server,
    logged_in_page,
    members,
    seeded,  # noqa: F811 (the imported fixture)
):
    base = live_server.url
    accession = seeded.aliquot.accession
    expected = reverse("assays:marker-result-create") + f"?aliquot={seeded.aliquot_id}"

    with logged_in_page(members["editor"]) as page:
        page.goto(base + reverse("samples:aliquot-detail", args=[seeded.aliquot_id]))
        card = page.locator("#compliance")
        card.wait_for()
        card_text = card.inner_text()
        link = card.get_by_role("link", name="Add marker result")
        href = link.get_attribute("href")
        link.click()
        page.wait_for_url(re.compile(r".*/markers/results/new/\?aliquot=\d+$"))
        tube_value = page.locator("#id_tube").input_value()

    assert "Reporting completeness" in card_text
    assert "50%" in card_text and "2/4" in card_text
    assert "Transmembrane marker detected" in card_text
    assert href == expected
    assert tube_value == accession
