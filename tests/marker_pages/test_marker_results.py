"""Entering a marker result for a tube (one marker, or a panel of one blot), its page, the
list, deleting it, and the blot image served through its scoped view."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from assays.models import Marker, MarkerResult

from .conftest import (
    IMAGEJ_ONE_BAND,
    png_bytes,
    stored_files,
    tiff16_bytes,
    upload,
)

CREATE = reverse("assays:marker-result-create")


def form_data(tube, /, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tube": tube.accession,
        "marker": "ALIX",
        "method": "western_blot",
        "detection": "detected",
        "antibody_clone": "3A9",
        "antibody_vendor": "Cell Signaling",
        "antibody_catalogue": "2171",
        "antibody_rrid": "RRID:AB_2299455",
        "antibody_lot": "7",
        "antibody_dilution": "1:1000",
        "lysis_buffer": "RIPA + PIC",
        "reducing": "true",
        "loading_amount": "10",
        "loading_unit": "ug_protein",
        "semi_quantitative": "++",
        "measured_at": "2026-03-02T10:30",
        "sop": "WB-SOP-4 v2",
        "notes": "",
        "controls-TOTAL_FORMS": "1",
        "controls-INITIAL_FORMS": "0",
        "controls-0-kind": "positive",
        "controls-0-description": "HEK293 cell lysate",
        "controls-0-result": "band at 96 kDa",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- The form -----------------------------------------------------------------------------------


def test_the_form_starts_from_the_tube_and_lists_the_vocabulary(page_client, tube):
    response = page_client("editor").get(CREATE, {"aliquot": tube.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'value="{tube.accession}"' in html
    assert '<datalist id="marker-vocabulary">' in html
    # Aliases are offered with the symbol and category they stand for.
    assert 'value="ALIX" label="PDCD6IP · 2a · Cytosolic, membrane-binding"' in html
    assert 'list="marker-vocabulary"' in html and "data-marker-lookup" in html
    assert reverse("assays:marker-lookup") in html
    # Family patterns are not offered: a result names a specific protein.
    assert 'value="ITGB*"' not in html


def test_viewers_and_other_studies_cannot_open_the_form(page_client, tube, other_tube):
    assert page_client("viewer").get(CREATE, {"aliquot": tube.pk}).status_code == 403
    assert page_client("editor").get(CREATE, {"aliquot": other_tube.pk}).status_code == 404
    assert page_client("outsider").get(CREATE).status_code == 403


def test_a_result_is_recorded_with_its_blot_and_densitometry(page_client, members, tube, media):
    data = form_data(tube)
    data["blot_image"] = upload("CD63 blot.png", png_bytes(), "image/png")
    data["densitometry_file"] = upload("Results.csv", IMAGEJ_ONE_BAND, "text/csv")
    response = page_client("editor").post(CREATE + f"?aliquot={tube.pk}", data)

    result = MarkerResult.objects.get()
    assert response.status_code == 302 and response["Location"] == result.get_absolute_url()
    assert result.marker.symbol == "PDCD6IP" and result.marker.category == "2a"
    assert result.aliquot == tube and result.study == tube.study
    assert result.antibody_rrid == "AB_2299455"
    assert (result.antibody_clone, result.antibody_catalogue) == ("3A9", "2171")
    assert result.reducing is True
    assert (result.loading_amount, result.loading_unit) == (10.0, "ug_protein")
    assert result.operator == members["editor"] and result.created_by == members["editor"]
    assert result.controls == [
        {"kind": "positive", "description": "HEK293 cell lysate", "result": "band at 96 kDa"}
    ]
    assert result.band_intensity == 180600.0  # the one band of the Results table
    assert result.densitometry["value_column"] == "IntDen"
    assert result.blot_image and len(stored_files(media)) == 1


def test_an_operator_can_be_someone_else(page_client, members, tube):
    data = form_data(tube, operator=str(members["manager"].pk))
    page_client("editor").post(CREATE, data)
    assert MarkerResult.objects.get().operator == members["manager"]


def test_a_family_member_gets_its_own_vocabulary_row(page_client, tube):
    response = page_client("editor").post(CREATE, form_data(tube, marker="itgb1"))
    assert response.status_code == 302
    result = MarkerResult.objects.get()
    assert result.marker.symbol == "ITGB1" and result.marker.category == "1a"
    assert result.marker.source == "family ITGB*"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"marker": "FOO1"},
            "marker",
            "Unknown marker &#x27;FOO1&#x27;. Add it to the marker vocabulary",
        ),
        ({"marker": "ITGB*"}, "marker", "Unknown marker &#x27;ITGB*&#x27;"),
        ({"marker": ""}, "marker", "Give the marker, e.g. CD63."),
        ({"antibody_rrid": "2299455"}, "antibody_rrid", "An antibody RRID looks like AB_"),
        ({"loading_unit": ""}, "loading_unit", "Give the unit of the loading amount."),
        ({"loading_amount": "0"}, "loading_amount", "Must be greater than 0."),
        ({"detection": ""}, "detection", "Say whether the marker was detected."),
        ({"tube": "EXO-999999"}, "tube", "No tube EXO-999999 in your studies."),
        ({"controls-0-kind": ""}, None, "Say which kind of control this is."),
    ],
)
def test_bad_input_is_refused_and_nothing_is_saved(
    page_client, tube, media, overrides, field, message
):
    data = form_data(tube, **overrides)
    data["blot_image"] = upload("blot.png", png_bytes(), "image/png")
    response = page_client("editor").post(CREATE, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    if field:
        assert f'id="id_{field}_errors"' in html
    assert not MarkerResult.objects.exists()
    assert stored_files(media) == []
    assert not Marker.objects.filter(symbol__in=["FOO1", "ITGB1"]).exists()


def test_a_blot_that_is_not_an_image_is_refused_naming_the_file(page_client, tube, media):
    data = form_data(tube)
    data["blot_image"] = upload("blot.png", b"<html><script>alert(1)</script></html>", "image/png")
    response = page_client("editor").post(CREATE, data)
    assert response.status_code == 400
    assert "blot.png: not a readable PNG, JPEG or TIFF image." in response.content.decode()
    assert not MarkerResult.objects.exists() and stored_files(media) == []


def test_a_densitometry_file_that_is_not_a_results_table_is_refused(page_client, tube, media):
    data = form_data(tube)
    data["blot_image"] = upload("blot.png", png_bytes(), "image/png")
    data["densitometry_file"] = upload("Results.csv", b"hello\x00\x01 world", "text/csv")
    response = page_client("editor").post(CREATE, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_densitometry_file_errors"' in html and "Results.csv" in html
    assert not MarkerResult.objects.exists() and stored_files(media) == []


def test_a_viewer_cannot_post_and_an_outsider_finds_no_tube(page_client, tube):
    assert page_client("viewer").post(CREATE, form_data(tube)).status_code == 403
    response = page_client("outsider").post(CREATE, form_data(tube))
    assert response.status_code == 403  # no study to record in at all
    assert not MarkerResult.objects.exists()


def test_a_tube_of_another_study_is_not_found(page_client, other_tube):
    response = page_client("editor").post(CREATE, form_data(other_tube))
    assert response.status_code == 400
    assert f"No tube {other_tube.accession} in your studies" in response.content.decode()
    assert not MarkerResult.objects.exists()


# --- A panel: several markers of one blot ------------------------------------------------------


PANEL = CREATE + "?mode=panel"


def panel_data(tube, rows: list[dict[str, str]], /, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tube": tube.accession,
        "method": "western_blot",
        "lysis_buffer": "RIPA",
        "reducing": "false",
        "loading_amount": "5",
        "loading_unit": "ug_protein",
        "measured_at": "2026-03-02T10:30",
        "markers-TOTAL_FORMS": str(len(rows) + 1),
        "markers-INITIAL_FORMS": "0",
        "controls-TOTAL_FORMS": "0",
        "controls-INITIAL_FORMS": "0",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"markers-{index}-{key}"] = value
    data.update(overrides)
    return data


def test_a_panel_records_one_result_per_row_sharing_the_blot(page_client, tube, media):
    rows = [
        {"marker": "CD63", "detection": "detected", "band_intensity": "1200,5"},
        {"marker": "TSG101", "detection": "detected", "antibody_rrid": "AB_10863034"},
        {"marker": "APOA1", "detection": "not_detected"},
    ]
    data = panel_data(tube, rows)
    data["blot_image"] = upload("blot.png", png_bytes(), "image/png")
    response = page_client("editor").post(PANEL, data)

    assert response.status_code == 302
    assert response["Location"].startswith(tube.get_absolute_url())
    results = {r.marker.symbol: r for r in MarkerResult.objects.select_related("marker")}
    assert set(results) == {"CD63", "TSG101", "APOA1"}
    assert results["CD63"].band_intensity == 1200.5
    assert results["TSG101"].antibody_rrid == "AB_10863034"
    assert results["APOA1"].detection == "not_detected"
    assert {r.lysis_buffer for r in results.values()} == {"RIPA"}
    assert {r.reducing for r in results.values()} == {False}
    assert all(r.blot_image for r in results.values())
    assert len(stored_files(media)) == 3


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [
                {"marker": "CD63", "detection": "detected"},
                {"marker": "NOPE7", "detection": "detected"},
            ],
            "Unknown marker &#x27;NOPE7&#x27;",
        ),
        (
            [
                {"marker": "ALIX", "detection": "detected"},
                {"marker": "PDCD6IP", "detection": "detected"},
            ],
            "PDCD6IP is entered twice",
        ),
        ([{"marker": "CD63"}], "Say whether it was detected."),
        ([{"marker": "CD63", "detection": "detected", "antibody_rrid": "x"}], "looks like AB_"),
        ([], "Enter at least one marker."),
    ],
)
def test_a_panel_with_a_bad_row_saves_nothing(page_client, tube, media, rows, message):
    data = panel_data(tube, rows)
    data["blot_image"] = upload("blot.png", png_bytes(), "image/png")
    response = page_client("editor").post(PANEL, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not MarkerResult.objects.exists() and stored_files(media) == []


def test_a_panel_whose_blot_is_refused_saves_no_row(page_client, tube, media):
    data = panel_data(tube, [{"marker": "CD9", "detection": "detected"}] * 1)
    data["markers-1-marker"] = "CD81"
    data["markers-1-detection"] = "detected"
    data["markers-TOTAL_FORMS"] = "3"
    data["blot_image"] = upload("scan.tif", b"II*\x00 not really a tiff", "image/tiff")
    response = page_client("editor").post(PANEL, data)
    assert response.status_code == 400
    assert "scan.tif: not a readable PNG, JPEG or TIFF image." in response.content.decode()
    assert not MarkerResult.objects.exists() and stored_files(media) == []


# --- A result's page ---------------------------------------------------------------------------


def test_the_result_page_shows_every_field_the_blot_and_the_table(page_client, tube, make_result):
    result = make_result(
        tube,
        "ALIX",
        antibody_clone="3A9",
        antibody_rrid="AB_2299455",
        lysis_buffer="RIPA",
        reducing=True,
        loading_amount=10.0,
        loading_unit="ug_protein",
        semi_quantitative="++",
        sop="WB-SOP-4",
        controls=[{"kind": "positive", "description": "cell lysate", "result": "band"}],
        blot_image=upload("blot.png", png_bytes(), "image/png"),
        densitometry_file=upload("Results.csv", IMAGEJ_ONE_BAND, "text/csv"),
    )
    make_result(tube, "CD9", detection="not_detected")
    response = page_client("viewer").get(result.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "PDCD6IP",
        "2a · Cytosolic, membrane-binding",
        "3A9",
        "AB_2299455",
        "RIPA",
        "10 µg protein",
        "WB-SOP-4",
        "++",
        "cell lysate",
        "Positive control",
        "IntDen",
        "180,600",
        "blot.tif:CD63",
    ):
        assert text in html, text
    blot = reverse("assays:marker-blot", args=[result.pk])
    assert f'src="{blot}"' in html
    assert reverse("assays:marker-result-history", args=[result.pk]) in html
    assert "CD9" in html  # the tube's other markers
    assert "/media/" not in html  # files only through the scoped views
    # Viewers see no delete button.
    assert reverse("assays:marker-result-delete", args=[result.pk]) not in html
    editor_html = page_client("editor").get(result.get_absolute_url()).content.decode()
    assert reverse("assays:marker-result-delete", args=[result.pk]) in editor_html


def test_a_tiff_blot_is_shown_as_a_png_preview(page_client, tube, make_result):
    result = make_result(tube, blot_image=upload("scan.tif", tiff16_bytes(), "image/tiff"))
    html = page_client("viewer").get(result.get_absolute_url()).content.decode()
    blot = reverse("assays:marker-blot", args=[result.pk])
    assert f'src="{blot}?preview=1"' in html
    preview = page_client("viewer").get(blot, {"preview": "1"})
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
    assert preview.content.startswith(b"\x89PNG")


def test_another_studys_result_and_blot_are_not_found(page_client, other_tube, make_result):
    result = make_result(other_tube, blot_image=upload("b.png", png_bytes(), "image/png"))
    for url in (
        result.get_absolute_url(),
        reverse("assays:marker-blot", args=[result.pk]),
        reverse("assays:marker-result-history", args=[result.pk]),
    ):
        assert page_client("editor").get(url).status_code == 404
        assert page_client("superuser").get(url).status_code == 200
    assert (
        page_client("editor")
        .post(reverse("assays:marker-result-delete", args=[result.pk]))
        .status_code
        == 404
    )


def test_the_blot_is_served_inline_as_what_its_bytes_are(page_client, tube, make_result):
    result = make_result(tube, blot_image=upload("evil<x>.html", png_bytes(), "text/html"))
    url = reverse("assays:marker-blot", args=[result.pk])
    response = page_client("viewer").get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline;")
    # The name keeps what the file really is, whatever it was called.
    assert response["Content-Disposition"].endswith('.png"')
    assert "html" not in response["Content-Disposition"]
    assert "private" in response["Cache-Control"]
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == png_bytes()
    download = page_client("viewer").get(url, {"download": "1"})
    assert download["Content-Disposition"].startswith("attachment;")


def test_a_result_without_blot_has_no_blot_file(page_client, tube, make_result):
    result = make_result(tube)
    assert (
        page_client("viewer").get(reverse("assays:marker-blot", args=[result.pk])).status_code
        == 404
    )


def test_the_history_tab_lists_the_creation(page_client, tube, make_result):
    result = make_result(tube, "CD81")
    response = page_client("viewer").get(reverse("assays:marker-result-history", args=[result.pk]))
    assert response.status_code == 200
    assert "created" in response.content.decode()


# --- Deleting -----------------------------------------------------------------------------------


def test_an_editor_deletes_a_result_with_a_reason(
    page_client, tube, make_result, media, django_capture_on_commit_callbacks
):
    result = make_result(tube, blot_image=upload("b.png", png_bytes(), "image/png"))
    url = reverse("assays:marker-result-delete", args=[result.pk])
    assert page_client("editor").get(url).status_code == 405
    assert page_client("viewer").post(url).status_code == 403
    assert MarkerResult.objects.filter(pk=result.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = page_client("editor").post(url, {"change_reason": "wrong tube"})
    assert response.status_code == 302 and response["Location"] == tube.get_absolute_url()
    assert not MarkerResult.objects.filter(pk=result.pk).exists()
    assert stored_files(media) == []


# --- The list -----------------------------------------------------------------------------------


LIST = reverse("assays:marker-result-list")


def _listed(response) -> str:
    """The rows of the list (the page's datalist names every marker too)."""
    assert response.status_code == 200
    html = response.content.decode()
    table = html[html.index('<table class="marker-rows">') :]
    return table[table.index("<tbody>") : table.index("</tbody>")]


def test_the_list_is_scoped_and_filters(page_client, tubes, other_tube, make_result):
    tube, second = tubes
    make_result(tube, "ALIX")
    make_result(second, "APOA1", detection="not_detected", method="elisa")
    make_result(other_tube, "CD81")
    client = page_client("viewer")

    html = _listed(client.get(LIST))
    assert "PDCD6IP" in html and "APOA1" in html and "CD81" not in html

    by_alias = _listed(client.get(LIST, {"marker": "alix"}))
    assert "PDCD6IP" in by_alias and "APOA1" not in by_alias
    by_category = _listed(client.get(LIST, {"category": "3"}))
    assert "APOA1" in by_category and "PDCD6IP" not in by_category
    by_detection = _listed(client.get(LIST, {"detection": "not_detected"}))
    assert "APOA1" in by_detection and "PDCD6IP" not in by_detection
    by_method = _listed(client.get(LIST, {"method": "western_blot"}))
    assert "PDCD6IP" in by_method and "APOA1" not in by_method
    by_tube = _listed(client.get(LIST, {"aliquot": second.accession}))
    assert "APOA1" in by_tube and "PDCD6IP" not in by_tube
    by_study = _listed(client.get(LIST, {"study": tube.study_id}))
    assert "PDCD6IP" in by_study
    foreign_study = _listed(client.get(LIST, {"study": other_tube.study_id}))
    assert "CD81" not in foreign_study


def test_the_panel_form_offers_rows_with_the_vocabulary(page_client, tube):
    response = page_client("editor").get(PANEL + f"&aliquot={tube.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="markers-0-marker"' in html and 'name="markers-7-marker"' in html
    assert '<datalist id="marker-vocabulary">' in html and "data-rows-template" in html
    assert f'value="{tube.accession}"' in html


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(
    page_client, tube, media, settings
):
    for name in (
        "INSTRUMENT_FILE_MAX_BYTES",
        "MANIFEST_MAX_BYTES",
        "FILE_UPLOAD_MAX_MEMORY_SIZE",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
    ):
        setattr(settings, name, 1024)
    data = form_data(tube)
    data["blot_image"] = upload("big.png", b"\x89PNG" + b"\x00" * 200_000, "image/png")
    response = page_client("editor").post(CREATE, data)
    assert response.status_code == 413
    assert "larger than the upload limit" in response.content.decode()
    assert not MarkerResult.objects.exists() and stored_files(media) == []
