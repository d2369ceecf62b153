"""Correcting a marker result typed in: the edit page reuses the create form filled with the
stored values, keeps the tube, and is for the study's editors only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assays.models import InstrumentFile, MarkerResult

from .test_marker_results import form_data

pytestmark = pytest.mark.django_db


def test_the_edit_page_starts_from_the_stored_values(page_client, tube, make_result):
    result = make_result(tube, "CD63", antibody_clone="H5C6", sop="WB-SOP-4")
    response = page_client("editor").get(reverse("assays:marker-result-edit", args=[result.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="CD63"' in html and 'value="H5C6"' in html and 'value="WB-SOP-4"' in html
    assert 'name="tube"' not in html and tube.accession in html


def test_an_editor_corrects_a_result(page_client, tube, make_result):
    result = make_result(tube, "CD63", detection="detected")
    data = form_data(tube, marker="CD63", detection="not_detected", antibody_clone="H5C6")
    data.pop("tube")
    response = page_client("editor").post(
        reverse("assays:marker-result-edit", args=[result.pk]), data
    )
    assert response.status_code == 302 and response["Location"] == result.get_absolute_url()
    result.refresh_from_db()
    assert (result.detection, result.antibody_clone, result.aliquot) == (
        "not_detected",
        "H5C6",
        tube,
    )


def test_bad_input_saves_nothing(page_client, tube, make_result):
    result = make_result(tube, "CD63", detection="detected")
    data = form_data(tube, marker="CD63", detection="", loading_amount="-3")
    response = page_client("editor").post(
        reverse("assays:marker-result-edit", args=[result.pk]), data
    )
    assert response.status_code == 400
    result.refresh_from_db()
    assert result.detection == "detected"


def test_viewers_cannot_edit_and_see_no_edit_button(page_client, tube, make_result):
    result = make_result(tube)
    url = reverse("assays:marker-result-edit", args=[result.pk])
    assert page_client("viewer").get(url).status_code == 403
    assert page_client("viewer").post(url, form_data(tube)).status_code == 403
    viewer_page = page_client("viewer").get(result.get_absolute_url()).content.decode()
    editor_page = page_client("editor").get(result.get_absolute_url()).content.decode()
    assert url not in viewer_page and url in editor_page


def test_a_result_of_another_study_is_not_found(page_client, other_tube, make_result):
    result = make_result(other_tube)
    url = reverse("assays:marker-result-edit", args=[result.pk])
    assert page_client("editor").get(url).status_code == 404


def test_a_result_from_an_instrument_file_is_not_editable(page_client, members, tube, make_result):
    result = make_result(tube)
    upload = InstrumentFile.objects.create(
        original_name="blot.csv", size_bytes=1, sha256="0" * 64, uploaded_by=members["editor"]
    )
    MarkerResult.objects.filter(pk=result.pk).update(instrument_file=upload)
    url = reverse("assays:marker-result-edit", args=[result.pk])
    response = page_client("editor").post(url, form_data(tube, detection="not_detected"))
    assert response.status_code == 302
    result.refresh_from_db()
    assert result.detection == "detected"
    page = page_client("editor").get(result.get_absolute_url()).content.decode()
    assert url not in page and "its numbers are the file&#x27;s" in page
