"""Review R2: an uploaded SOP document is always a download, never a page in our origin."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from .test_protocol_pages import GOOD_ROWS, step_post


def test_html_sop_document_is_served_as_an_attachment(page_client, draft, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = step_post(rows=GOOD_ROWS[:1])
    payload = b"<script>alert(document.cookie)</script>"
    data["sop_document"] = SimpleUploadedFile("sop.html", payload, content_type="text/html")
    response = page_client("editor").post(reverse("assays:version-edit", args=[draft.pk]), data)
    assert response.status_code == 302

    response = page_client("viewer").get(reverse("assays:version-sop", args=[draft.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "html" not in response["Content-Type"]
    assert response["X-Content-Type-Options"] == "nosniff"
