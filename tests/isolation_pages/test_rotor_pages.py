"""Rotor catalogue and the centrifugation calculator, against the worked examples in
assays/centrifugation.py (SW 41 Ti, Type 70 Ti)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assays.models import Rotor

pytestmark = pytest.mark.django_db

ROTOR = {
    "name": "TLA-100.3",
    "manufacturer": "Beckman Coulter",
    "rotor_type": "fixed_angle",
    "r_min_mm": "26",
    "r_max_mm": "48",
    "max_rpm": "100000",
    "k_factor": "",
    "notes": "",
    "is_active": "on",
}


def test_everyone_reads_the_catalogue(page_client, sw41):
    html = page_client("outsider").get(reverse("assays:rotor-list")).content.decode()
    assert "SW 41 Ti" in html
    # RCF at 41,000 rpm: r avg 110.25 mm ≈ 207,199 ×g, r max 153.1 mm ≈ 287,730 ×g
    assert "207,199 / 287,730" in html
    assert "New rotor" not in html


def test_adding_and_editing_rotors_needs_the_permission(page_client, librarian, sw41):
    assert page_client("manager").get(reverse("assays:rotor-create")).status_code == 403
    assert page_client("manager").post(reverse("assays:rotor-create"), ROTOR).status_code == 403
    assert (
        page_client("manager").get(reverse("assays:rotor-edit", args=[sw41.pk])).status_code == 403
    )
    response = page_client("editor").post(reverse("assays:rotor-create"), ROTOR)
    assert response.status_code == 302
    assert Rotor.objects.get(name="TLA-100.3").max_rpm == 100000


def test_radii_the_wrong_way_round_are_refused(page_client, librarian):
    response = page_client("editor").post(
        reverse("assays:rotor-create"), {**ROTOR, "r_min_mm": "48", "r_max_mm": "26"}
    )
    assert response.status_code == 200
    assert "r max must be larger than r min" in response.content.decode()
    assert not Rotor.objects.filter(name="TLA-100.3").exists()


def test_calculator_rcf_to_rpm_k_factor_and_equivalent_time(page_client, sw41, type70):
    response = page_client("viewer").get(
        reverse("assays:rotor-calculator"),
        {
            "rotor": sw41.pk,
            "radius": "max",
            "rpm": "41000",
            "minutes": "70",
            "other_rotor": type70.pk,
        },
    )
    result = response.context["result"]
    assert round(result.speed.rcf_max, -2) == 287_700
    assert round(result.speed.k_factor) == 124
    # 70 min on SW 41 Ti (k 124) ≈ 24.8 min on Type 70 Ti (k 44)
    assert round(result.other_minutes, 1) == 24.8
    assert "24.8 min" in response.content.decode()

    response = page_client("viewer").get(
        reverse("assays:rotor-calculator"),
        {"rotor": sw41.pk, "radius": "average", "rcf": "100000"},
    )
    assert round(response.context["result"].speed.rpm) == 28_483
    # k_adj = 124 · (41,000 / 28,483)² ≈ 256.9
    assert "256.9" in response.content.decode()


def test_calculator_refuses_speeds_the_rotor_cannot_reach(page_client, sw41):
    response = page_client("viewer").get(
        reverse("assays:rotor-calculator"), {"rotor": sw41.pk, "radius": "max", "rpm": "50000"}
    )
    assert response.context["result"] is None
    assert "at most 41,000 rpm" in " ".join(response.context["form"].errors["rpm"])
    response = page_client("viewer").get(
        reverse("assays:rotor-calculator"),
        {"rotor": sw41.pk, "radius": "average", "rcf": "500000"},
    )
    assert "at most 41,000 rpm" in " ".join(response.context["form"].errors["rcf"])


def test_convert_endpoint_for_the_step_editor(page_client, sw41):
    url = reverse("assays:rotor-convert", args=[sw41.pk])
    data = page_client("viewer").get(url, {"rpm": "38000", "basis": "average"}).json()
    assert data["rcf_average"] == 177_987 and data["rpm"] == 38_000
    response = page_client("viewer").get(url, {"rpm": "90000"})
    assert response.status_code == 400 and "41,000" in response.json()["errors"][0]
