"""/api/v1/imaging-records/: records with images as multipart (PNG and 16-bit TIFF, made
here), thumbnails, adding and deleting images, and scoping."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from assays import characterisation_services as services
from assays.models import ImagingImage, ImagingRecord

from .conftest import API, png_bytes, tiff16_bytes, upload

RECORDS = f"{API}/imaging-records/"

pytestmark = pytest.mark.django_db


def create(client, tube, images=(), details=None, **fields):
    body = {"aliquot": tube.accession, "method": "tem", **fields}
    if images:
        body["images"] = list(images)
        body["image_details"] = json.dumps(details or [])
    return client.post(RECORDS, body, format="multipart")


def test_a_record_with_a_png_and_a_16_bit_tiff(client_for, tube):
    client = client_for("editor")
    response = create(
        client,
        tube,
        images=[
            upload("wide.png", png_bytes((1000, 500)), "image/png"),
            upload("close.tif", tiff16_bytes((600, 800)), "image/tiff"),
        ],
        details=[
            {"view": "wide_field", "scale_nm_per_px": 2.0, "magnification": "20k"},
            {"view": "close_up", "scale_bar_nm": 100, "caption": "cup-shaped"},
        ],
        stain="2% uranyl acetate",
        bilayer_observed="true",
        n_vesicles_measured="120",
        size_min_nm="40",
        size_max_nm="180",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["bilayer_observed"] is True and body["n_vesicles_measured"] == 120
    images = {image["original_name"]: image for image in body["images"]}
    assert (images["close.tif"]["width_px"], images["close.tif"]["height_px"]) == (600, 800)
    assert images["wide.png"]["view"] == "wide_field"

    thumbnail = client.get(images["close.tif"]["thumbnail_url"], HTTP_ACCEPT="image/png")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))) as preview:
        assert preview.size == (240, 320)
    original = client.get(images["wide.png"]["file_url"])
    assert original.status_code == 200
    assert b"".join(original.streaming_content) == png_bytes((1000, 500))
    assert "attachment" in original["Content-Disposition"]
    assert client_for("outsider").get(images["wide.png"]["file_url"]).status_code == 404


def test_images_are_added_and_deleted_through_the_images_action(client_for, tube):
    client = client_for("editor")
    record = create(client, tube).json()
    added = client.post(
        f"{RECORDS}{record['id']}/images/",
        {
            "image": upload("more.png", png_bytes(), "image/png"),
            "view": "close_up",
            "scale_nm_per_px": "0.5",
        },
        format="multipart",
    )
    assert added.status_code == 201, added.content
    image_id = added.json()["id"]
    viewer = client_for("viewer")
    refused = viewer.post(
        f"{RECORDS}{record['id']}/images/",
        {"image": upload("x.png", png_bytes()), "view": "close_up", "scale_nm_per_px": "1"},
        format="multipart",
    )
    assert refused.status_code == 403
    assert viewer.delete(f"{RECORDS}{record['id']}/images/{image_id}/").status_code == 403
    assert client.delete(f"{RECORDS}{record['id']}/images/{image_id}/").status_code == 204
    assert not ImagingImage.objects.exists()
    assert client.delete(f"{RECORDS}{record['id']}/images/{image_id}/").status_code == 404


@pytest.mark.parametrize(
    ("images", "details", "field", "text"),
    [
        (
            [upload("fake.tif", b"II*\x00nonsense")],
            [{"view": "close_up", "scale_bar_nm": 50}],
            "images",
            "fake.tif",
        ),
        ([upload("noscale.png", png_bytes())], [{"view": "close_up"}], "images", "noscale.png"),
        ([upload("a.png", png_bytes())], [], "image_details", "one details object"),
        ([upload("a.png", png_bytes())], [{"view": "upside_down"}], "image_details", "Image 1"),
    ],
)
def test_bad_images_are_400_and_nothing_is_kept(
    client_for, tube, media, images, details, field, text
):
    response = create(client_for("editor"), tube, images=images, details=details)
    assert response.status_code == 400, response.content
    assert any(text in line for line in response.json()[field]), response.json()
    assert not ImagingRecord.objects.exists()
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


def test_bad_record_fields_are_400(client_for, tube):
    response = create(client_for("editor"), tube, size_min_nm="200", size_max_nm="50")
    assert response.status_code == 400
    assert response.json() == {"size_min_nm": ["The smallest size cannot exceed the largest."]}
    assert create(client_for("viewer"), tube).status_code == 403


def test_records_are_scoped_filtered_and_updated(client_for, tubes, members, foreign_tube):
    services.record_imaging(user=members["editor"], aliquot=tubes[0], data={"method": "tem"})
    afm = services.record_imaging(user=members["editor"], aliquot=tubes[1], data={"method": "afm"})
    hidden = services.record_imaging(
        user=members["superuser"], aliquot=foreign_tube, data={"method": "tem"}
    )
    client = client_for("editor")
    assert {r["method"] for r in client.get(RECORDS).json()["results"]} == {"tem", "afm"}
    assert [r["id"] for r in client.get(f"{RECORDS}?method=afm").json()["results"]] == [afm.pk]
    assert client.get(f"{RECORDS}{hidden.pk}/").status_code == 404
    changed = client.patch(f"{RECORDS}{afm.pk}/", {"grid": "mica"}, format="json")
    assert changed.status_code == 200 and changed.json()["grid"] == "mica"
    assert client.delete(f"{RECORDS}{afm.pk}/").status_code == 204
