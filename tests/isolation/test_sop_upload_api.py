"""Review R2: the API refuses SOP documents the page form refuses (type and size)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

VERSIONS = "/api/v1/protocol-versions/"


@pytest.fixture
def lib_client(librarian) -> APIClient:
    client = APIClient()
    client.force_authenticate(librarian)
    return client


def test_api_refuses_an_sop_of_a_type_the_form_refuses(lib_client, draft, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    sop = SimpleUploadedFile("sop.svg", b"<svg onload=alert(1)>", content_type="image/svg+xml")
    response = lib_client.patch(f"{VERSIONS}{draft.pk}/", {"sop_document": sop}, format="multipart")
    assert response.status_code == 400
    assert "sop_document" in response.content.decode()
    draft.refresh_from_db()
    assert not draft.sop_document


def test_api_refuses_an_sop_over_the_size_limit(lib_client, draft, settings, tmp_path, monkeypatch):
    from assays.api import serializers

    monkeypatch.setattr(serializers, "MAX_SOP_BYTES", 10)
    settings.MEDIA_ROOT = tmp_path
    sop = SimpleUploadedFile("sop.pdf", b"%PDF-1.4 more than ten", content_type="application/pdf")
    response = lib_client.patch(f"{VERSIONS}{draft.pk}/", {"sop_document": sop}, format="multipart")
    assert response.status_code == 400
