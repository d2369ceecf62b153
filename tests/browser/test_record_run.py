"""End to end in a real browser: open a published isolation protocol, click "Record a run",
scan the input tube's accession, give the volume and one EV preparation, and land on the
run page that lists the new preparation's accession."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from assays import services
from assays.models import EVPreparation, IsolationRun
from samples import services as tube_services

pytestmark = pytest.mark.browser


@pytest.fixture
def published_protocol(members):
    user = members["editor"]
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="assays",
            codename__in=["add_isolationprotocol", "change_isolationprotocol"],
        )
    )
    user = type(user).objects.get(pk=user.pk)
    version = services.create_protocol(
        name="SEC qEV",
        steps=[
            {
                "kind": "sec",
                "parameters": {"column": "qEV original 70 nm", "load_volume_ml": 0.5},
            }
        ],
        user=user,
    )
    return services.publish_version(version=version, user=user)


def test_record_a_run_from_a_protocol(
    transactional_db, live_server, logged_in_page, members, make_sample, published_protocol
):
    sample = make_sample(volume_ml=Decimal("4.0"))
    tube = tube_services.split_into_aliquots(
        source=sample, volumes_ml=[Decimal("1.0")], user=members["editor"]
    )[0]
    base = live_server.url
    # Database work stays outside the Playwright block: its event loop makes Django refuse
    # ORM calls from this thread while it runs.
    with logged_in_page(members["editor"]) as page:
        page.goto(base + reverse("assays:protocol-list"))
        page.click("text=SEC qEV")
        page.click("text=Record a run")
        page.wait_for_url(re.compile(r".*/versions/\d+/record-run/$"))

        # A scanner types the accession and presses Enter: focus moves to the volume.
        page.click("#id_inputs-0-accession")
        page.keyboard.type(tube.accession, delay=5)
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "id_inputs-0-volume"
        page.keyboard.type("500")
        page.select_option("#id_inputs-0-volume_unit", "µL")

        page.select_option("#id_outputs-0-nomenclature_term", "small_EV")
        page.fill("#id_outputs-0-author_term", "exosomes")
        page.fill("#id_outputs-0-fraction", "7–9")
        page.fill("#id_outputs-0-volume", "100")
        page.select_option("#id_outputs-0-volume_unit", "µL")
        page.click("button:has-text('Record run')")
        page.wait_for_url(re.compile(r".*/assays/runs/\d+/$"))
        run_url = page.url
        flows = page.locator("table.flows").inner_text()
        heading = page.locator("h1").inner_text()

    run = IsolationRun.objects.get()
    prep = EVPreparation.objects.select_related("aliquot").get()
    assert run_url.endswith(run.get_absolute_url())
    assert f"Run {run.pk}" in heading
    assert prep.aliquot.accession in flows and tube.accession in flows
    assert prep.nomenclature_term == "small_EV" and prep.fraction == "7–9"
    assert prep.aliquot.parent == tube
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == Decimal("0.5")
