"""Imaging pages: a session entered with its images, its page, one more image, the list,
and the image files served only through scoped views."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from assays.models import ImagingImage, ImagingRecord
from assays.views.imaging import safe_filename, sniff_image

from .conftest import png_bytes, stored_files, tiff16_bytes, upload

CREATE = reverse("assays:imaging-create")


def form_data(tube, /, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tube": tube.accession,
        "method": "tem",
        "stain": "2% uranyl acetate",
        "grid": "Formvar/carbon Cu 300",
        "grid_positions_predefined": "true",
        "bilayer_observed": "true",
        "n_vesicles_measured": "212",
        "size_mean_nm": "98,4",
        "size_median_nm": "91",
        "size_sd_nm": "31.5",
        "size_min_nm": "38",
        "size_max_nm": "240",
        "measured_at": "2026-03-02T14:00",
        "images-TOTAL_FORMS": "3",
        "images-INITIAL_FORMS": "0",
        "controls-TOTAL_FORMS": "0",
        "controls-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def with_images(data: dict[str, Any], *rows: dict[str, Any]) -> dict[str, Any]:
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"images-{index}-{key}"] = value
    return data


def wide_png(name: str = "overview.png") -> dict[str, Any]:
    return {
        "image": upload(name, png_bytes((120, 90)), "image/png"),
        "view": "wide_field",
        "scale_nm_per_px": "2,5",
        "magnification": "6,800×",
        "caption": "Grid square B4",
    }


def close_tiff(name: str = "closeup.tif") -> dict[str, Any]:
    return {
        "image": upload(name, tiff16_bytes(), "image/tiff"),
        "view": "close_up",
        "scale_bar_nm": "100",
        "magnification": "49,000×",
    }


def test_the_form_starts_from_the_tube(page_client, tube, other_tube):
    response = page_client("editor").get(CREATE, {"aliquot": tube.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'value="{tube.accession}"' in html
    assert 'name="images-0-image"' in html and 'name="images-0-view"' in html
    assert "data-rows-template" in html
    assert page_client("viewer").get(CREATE, {"aliquot": tube.pk}).status_code == 403
    assert page_client("editor").get(CREATE, {"aliquot": other_tube.pk}).status_code == 404


def test_a_session_is_recorded_with_its_images_and_thumbnails(page_client, members, tube, media):
    data = with_images(form_data(tube), wide_png(), close_tiff())
    response = page_client("editor").post(CREATE, data)

    record = ImagingRecord.objects.get()
    assert response.status_code == 302 and response["Location"] == record.get_absolute_url()
    assert record.aliquot == tube and record.method == "tem"
    assert record.bilayer_observed is True and record.grid_positions_predefined is True
    assert record.n_vesicles_measured == 212 and record.size_mean_nm == 98.4
    assert record.operator == members["editor"]
    images = {i.view: i for i in record.images.all()}
    assert set(images) == {"wide_field", "close_up"}
    wide, close = images["wide_field"], images["close_up"]
    assert (wide.scale_nm_per_px, wide.magnification, wide.caption) == (
        2.5,
        "6,800×",
        "Grid square B4",
    )
    assert close.scale_bar_nm == 100.0 and close.scale_nm_per_px is None
    assert (close.width_px, close.height_px) == (400, 300)
    assert wide.thumbnail and close.thumbnail  # the 16-bit TIFF has one too
    assert len(stored_files(media)) == 4


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"scale_nm_per_px": "", "scale_bar_nm": ""}, "Give the image scale"),
        ({"view": ""}, "Say whether this is a wide-field view or a close-up."),
        ({"scale_nm_per_px": "-1"}, "Must be greater than 0."),
        (
            {"image": upload("notes.png", b"GIF89a not really", "image/png")},
            "notes.png: not a readable PNG, JPEG or TIFF image.",
        ),
        (
            {"image": upload("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif")},
            "anim.gif",
        ),
    ],
)
def test_a_bad_image_row_saves_nothing(page_client, tube, media, row, message):
    bad = {**close_tiff(), **row}
    data = with_images(form_data(tube), wide_png(), bad)
    response = page_client("editor").post(CREATE, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImagingRecord.objects.exists() and not ImagingImage.objects.exists()
    assert stored_files(media) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"size_min_nm": "300"}, "The smallest size cannot exceed the largest."),
        ({"n_vesicles_measured": ""}, "Say how many vesicles the sizes come from."),
        ({"method": "x-ray"}, "Select a valid choice."),
        ({"tube": ""}, "Type or scan the tube&#x27;s accession."),
    ],
)
def test_bad_record_fields_save_nothing(page_client, tube, media, overrides, message):
    data = with_images(form_data(tube, **overrides), wide_png())
    response = page_client("editor").post(CREATE, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImagingRecord.objects.exists() and stored_files(media) == []


def test_a_viewer_cannot_record(page_client, tube, media):
    data = with_images(form_data(tube), wide_png())
    assert page_client("viewer").post(CREATE, data).status_code == 403
    assert not ImagingRecord.objects.exists() and stored_files(media) == []


# --- The record's page ---------------------------------------------------------------------------


def test_the_page_shows_thumbnails_badges_and_sizes(page_client, tube, make_imaging):
    record = make_imaging(
        tube,
        images=[
            (upload("a.png", png_bytes()), {"view": "wide_field", "scale_nm_per_px": 2.0}),
            (upload("b.tif", tiff16_bytes()), {"view": "close_up", "scale_bar_nm": 100}),
        ],
        n_vesicles_measured=50,
        size_mean_nm=101.5,
        size_sd_nm=20.0,
        stain="UA",
    )
    wide, close = record.images.order_by("id")
    response = page_client("viewer").get(record.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert f'src="{reverse("assays:imaging-thumbnail", args=[wide.pk])}"' in html
    assert f'href="{reverse("assays:imaging-image", args=[wide.pk])}"' in html
    # A TIFF opens as a PNG preview (browsers do not show TIFF).
    assert f'href="{reverse("assays:imaging-image", args=[close.pk])}?preview=1"' in html
    assert "view-wide_field" in html and "view-close_up" in html
    assert "2 nm/px" in html and "scale bar 100 nm" in html
    assert "0.128 × 0.096 µm field" in html  # 64 × 48 px at 2 nm/px
    assert "101.5" in html and "<strong>50</strong> vesicles measured" in html
    assert "no wide-field image" not in html
    assert "/media/" not in html
    # Viewers get no forms to change it.
    assert reverse("assays:imaging-add-image", args=[record.pk]) not in html
    editor_html = page_client("editor").get(record.get_absolute_url()).content.decode()
    assert reverse("assays:imaging-add-image", args=[record.pk]) in editor_html


def test_a_missing_view_is_pointed_out(page_client, tube, make_imaging):
    record = make_imaging(tube)
    html = page_client("viewer").get(record.get_absolute_url()).content.decode()
    assert "no close-up image" in html


def test_another_studys_record_and_files_are_not_found(page_client, other_tube, make_imaging):
    record = make_imaging(other_tube)
    image = record.images.get()
    for url in (
        record.get_absolute_url(),
        reverse("assays:imaging-history", args=[record.pk]),
        reverse("assays:imaging-thumbnail", args=[image.pk]),
        reverse("assays:imaging-image", args=[image.pk]),
    ):
        assert page_client("editor").get(url).status_code == 404, url
        assert page_client("superuser").get(url).status_code == 200, url
    for url in (
        reverse("assays:imaging-add-image", args=[record.pk]),
        reverse("assays:imaging-delete", args=[record.pk]),
        reverse("assays:imaging-image-delete", args=[image.pk]),
    ):
        assert page_client("editor").post(url).status_code == 404, url
    assert ImagingImage.objects.filter(pk=image.pk).exists()


# --- One more image -------------------------------------------------------------------------------


def test_an_editor_adds_an_image(page_client, tube, make_imaging):
    record = make_imaging(tube)
    url = reverse("assays:imaging-add-image", args=[record.pk])
    data = {
        "add-image": upload("close.png", png_bytes((200, 200)), "image/png"),
        "add-view": "close_up",
        "add-scale_bar_nm": "200",
        "add-caption": "single vesicle, cup shape",
    }
    response = page_client("editor").post(url, data)
    assert response.status_code == 302 and response["Location"] == record.get_absolute_url()
    added = record.images.get(view="close_up")
    assert added.caption == "single vesicle, cup shape" and added.thumbnail


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"add-scale_bar_nm": ""}, "Give the image scale"),
        ({"add-image": None}, "Choose the image file."),
        (
            {"add-image": upload("x.png", b"\x89PNG\r\n\x1a\n truncated", "image/png")},
            "x.png: not a readable PNG, JPEG or TIFF image.",
        ),
    ],
)
def test_a_bad_added_image_is_refused(page_client, tube, make_imaging, media, overrides, message):
    record = make_imaging(tube)
    before = stored_files(media)
    data = {
        "add-image": upload("close.png", png_bytes(), "image/png"),
        "add-view": "close_up",
        "add-scale_bar_nm": "200",
        **overrides,
    }
    data = {k: v for k, v in data.items() if v is not None}
    response = page_client("editor").post(
        reverse("assays:imaging-add-image", args=[record.pk]), data
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert record.images.count() == 1 and stored_files(media) == before


def test_a_viewer_cannot_add_an_image(page_client, tube, make_imaging):
    record = make_imaging(tube)
    data = {
        "add-image": upload("close.png", png_bytes(), "image/png"),
        "add-view": "close_up",
        "add-scale_bar_nm": "200",
    }
    url = reverse("assays:imaging-add-image", args=[record.pk])
    assert page_client("viewer").post(url, data).status_code == 403
    assert page_client("editor").get(url).status_code == 405
    assert record.images.count() == 1


# --- The files ------------------------------------------------------------------------------------


def test_the_thumbnail_is_a_private_png(page_client, tube, make_imaging):
    record = make_imaging(
        tube, images=[(upload("em.tif", tiff16_bytes()), {"view": "close_up", "scale_bar_nm": 50})]
    )
    image = record.images.get()
    response = page_client("viewer").get(reverse("assays:imaging-thumbnail", args=[image.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"].startswith("private")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_the_image_is_served_inline_with_a_safe_name_and_type(page_client, tube, make_imaging):
    record = make_imaging(
        tube,
        images=[
            (upload('x"><script>.html', png_bytes()), {"view": "wide_field", "scale_bar_nm": 1})
        ],
    )
    image = record.images.get()
    url = reverse("assays:imaging-image", args=[image.pk])
    response = page_client("viewer").get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline;") and disposition.endswith('.png"')
    assert "<" not in disposition and "html" not in disposition
    assert b"".join(response.streaming_content) == png_bytes()
    assert (
        page_client("viewer")
        .get(url, {"download": "1"})["Content-Disposition"]
        .startswith("attachment;")
    )


def test_a_tiff_is_served_as_tiff_or_as_a_png_preview(page_client, tube, make_imaging):
    record = make_imaging(
        tube, images=[(upload("em.tif", tiff16_bytes()), {"view": "close_up", "scale_bar_nm": 50})]
    )
    url = reverse("assays:imaging-image", args=[record.images.get().pk])
    assert page_client("viewer").get(url)["Content-Type"] == "image/tiff"
    preview = page_client("viewer").get(url, {"preview": "1"})
    assert preview["Content-Type"] == "image/png" and preview.content.startswith(b"\x89PNG")


def test_bytes_that_are_no_image_are_only_ever_downloaded():
    assert sniff_image(b"<html>") is None
    assert sniff_image(b"\xff\xd8\xff\xe0") == ("image/jpeg", ".jpg")
    assert sniff_image(b"MM\x00*") == ("image/tiff", ".tif")
    assert safe_filename("../../etc/passwd", ".bin") == "passwd.bin"
    assert safe_filename("", ".png") == "image.png"
    assert safe_filename("Grid B4 (x49k).tif", ".tif") == "Grid B4 _x49k.tif"


# --- Deleting ------------------------------------------------------------------------------------


def test_editors_delete_an_image_and_a_record(
    page_client, tube, make_imaging, media, django_capture_on_commit_callbacks
):
    record = make_imaging(
        tube,
        images=[
            (upload("a.png", png_bytes()), {"view": "wide_field", "scale_bar_nm": 1}),
            (upload("b.png", png_bytes()), {"view": "close_up", "scale_bar_nm": 1}),
        ],
    )
    first = record.images.order_by("id").first()
    url = reverse("assays:imaging-image-delete", args=[first.pk])
    assert page_client("viewer").post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = page_client("editor").post(url)
    assert response.status_code == 302 and record.images.count() == 1
    assert len(stored_files(media)) == 2  # the other image and its thumbnail

    delete = reverse("assays:imaging-delete", args=[record.pk])
    assert page_client("viewer").post(delete).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = page_client("editor").post(delete, {"change_reason": "wrong grid"})
    assert response.status_code == 302 and response["Location"] == tube.get_absolute_url()
    assert not ImagingRecord.objects.exists() and stored_files(media) == []


# --- The list ------------------------------------------------------------------------------------


def test_the_list_is_scoped_and_filters_by_method(page_client, tubes, other_tube, make_imaging):
    tube, second = tubes
    make_imaging(tube, stain="uranyl-stained")
    make_imaging(second, method="cryo_em", images=[])
    make_imaging(other_tube, stain="foreign-stain")
    client = page_client("viewer")
    url = reverse("assays:imaging-list")
    html = client.get(url).content.decode()
    assert "uranyl-stained" in html and second.accession in html
    assert "foreign-stain" not in html and other_tube.accession not in html
    html = client.get(url, {"method": "cryo_em"}).content.decode()
    assert second.accession in html and tube.accession not in html
    html = client.get(url, {"aliquot": tube.accession}).content.decode()
    assert "uranyl-stained" in html and second.accession not in html


def test_images_over_the_upload_limit_are_refused_before_they_are_stored(
    page_client, tube, make_imaging, media, settings
):
    record = make_imaging(tube)
    before = stored_files(media)
    for name in (
        "INSTRUMENT_FILE_MAX_BYTES",
        "MANIFEST_MAX_BYTES",
        "FILE_UPLOAD_MAX_MEMORY_SIZE",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
    ):
        setattr(settings, name, 1024)
    big = {"image": upload("big.png", b"\x89PNG" + b"\x00" * 200_000, "image/png")}
    response = page_client("editor").post(
        CREATE, with_images(form_data(tube), {**wide_png(), **big})
    )
    assert response.status_code == 413
    assert "larger than the upload limit" in response.content.decode()
    added = page_client("editor").post(
        reverse("assays:imaging-add-image", args=[record.pk]),
        {
            "add-image": upload("big.png", b"\x89PNG" + b"\x00" * 200_000, "image/png"),
            "add-view": "close_up",
            "add-scale_bar_nm": "1",
        },
    )
    assert added.status_code == 413
    assert "larger than the upload limit" in added.content.decode()
    assert ImagingRecord.objects.count() == 1 and record.images.count() == 1
    assert stored_files(media) == before
