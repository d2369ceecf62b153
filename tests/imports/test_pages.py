"""The upload → preview → commit pages, their access rules and the purge task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from samples.manifest_models import ManifestUpload, ManifestUploadStatus
from samples.models import Donor, Sample
from samples.tasks import purge_stale_manifests

from .conftest import good_row, manifest_csv, manifest_xlsx

pytestmark = pytest.mark.django_db


def upload(client: Client, study, content: bytes, *, name: str = "m.csv", create: bool = False):
    data = {"study": study.pk, "file": SimpleUploadedFile(name, content)}
    if create:
        data["create_missing_donors"] = "on"
    return client.post(reverse("imports:start"), data)


def test_anonymous_users_are_sent_to_login(client):
    for url in (
        reverse("imports:start"),
        reverse("imports:template-csv"),
        reverse("imports:preview", args=[1]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


def test_start_page_lists_only_editable_studies_and_documents_columns(
    page_client, study, other_study, settings
):
    settings.TIME_ZONE = "Europe/Vienna"
    response = page_client("editor").get(reverse("imports:start"))
    assert response.status_code == 200
    assert list(response.context["form"].fields["study"].queryset) == [study]
    html = response.content.decode()
    assert "Europe/Vienna" in html  # how times without an offset are read
    assert "spin3_brake" in html and "k2_edta (K2-EDTA)" in html
    assert reverse("imports:template-xlsx") in html


def test_viewer_cannot_choose_the_study(page_client, study, donor):
    client = page_client("viewer")
    assert "editor or manager role" in client.get(reverse("imports:start")).content.decode()
    response = upload(client, study, manifest_csv([good_row()]))
    assert response.status_code == 400
    assert "study" in response.context["form"].errors
    assert not ManifestUpload.objects.exists()


def test_templates_download(page_client):
    client = page_client("viewer")
    csv_response = client.get(reverse("imports:template-csv"))
    assert csv_response["Content-Type"].startswith("text/csv")
    assert csv_response.content.startswith(b"\xef\xbb\xbfdonor_code,fluid_type")
    xlsx_response = client.get(reverse("imports:template-xlsx"))
    assert xlsx_response.content.startswith(b"PK")
    assert "attachment" in xlsx_response["Content-Disposition"]


def test_upload_preview_commit_happy_path(page_client, study, donor, members):
    client = page_client("editor")
    rows = [good_row(notes=f"n{i}") for i in range(60)] + [good_row(donor_code="NEW-7")]
    response = upload(client, study, manifest_csv(rows), create=True)
    staged = ManifestUpload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:preview", args=[staged.pk])
    assert not Sample.objects.exists()  # staging saves no samples

    preview = client.get(response["Location"])
    assert preview.status_code == 200
    assert preview.context["upload"].row_count == 61
    assert len(preview.context["valid_rows"]) == 50  # the first 50 valid rows
    html = preview.content.decode()
    assert "Import all 61 rows" in html and "NEW-7" in html and "PL2-PED-A-A-A-B-D" in html

    done = client.post(reverse("imports:commit", args=[staged.pk]))
    assert done.status_code == 302 and done["Location"] == reverse("imports:done", args=[staged.pk])
    assert Sample.objects.filter(study=study).count() == 61
    assert Donor.objects.filter(study=study, code="NEW-7").exists()
    staged.refresh_from_db()
    assert staged.status == ManifestUploadStatus.COMMITTED and len(staged.accessions) == 61
    assert bytes(staged.content) == b""

    summary = client.get(done["Location"])
    html = summary.content.decode()
    assert staged.accessions[0] in html and staged.accessions[-1] in html
    assert summary.context["count"] == 61
    assert f"?study={study.pk}" in summary.context["list_url"]

    # A second click on Import imports nothing more.
    again = client.post(reverse("imports:commit", args=[staged.pk]))
    assert again.status_code == 302
    assert Sample.objects.count() == 61


def test_preview_shows_every_row_error_and_refuses_commit(page_client, study, donor):
    client = page_client("editor")
    rows = [good_row(), good_row(volume="lots"), good_row(fluid_type="blood?"), good_row()]
    response = upload(client, study, manifest_csv(rows))
    staged = ManifestUpload.objects.get()
    preview = client.get(response["Location"])
    errors = [(e["row"], e["column"]) for e in preview.context["errors"]]
    assert errors == [(3, "volume"), (4, "fluid_type")]
    html = preview.content.decode()
    assert "&#x27;lots&#x27; is not a number." in html
    assert "commit-button" not in html
    assert len(preview.context["valid_rows"]) == 2

    refused = client.post(reverse("imports:commit", args=[staged.pk]))
    assert refused.status_code == 302
    assert not Sample.objects.exists()

    errors_csv = client.get(reverse("imports:errors", args=[staged.pk]))
    body = b"".join(errors_csv.streaming_content).decode()
    assert body.splitlines() == [
        "row,column,message",
        "3,volume,'lots' is not a number.",
        "4,fluid_type,\"Unknown fluid_type 'blood?'; use one of: "
        + ", ".join(
            "plasma serum whole_blood urine saliva csf milk semen bal ascites synovial_fluid "
            "tears amniotic_fluid conditioned_medium other".split()
        )
        + '."',
    ]


def test_unknown_columns_are_reported_on_the_form(page_client, study):
    content = b"fluid_type,collected_at,patient_name\nplasma,2024-05-01T09:30:00Z,X\n"
    response = upload(page_client("editor"), study, content)
    assert response.status_code == 400
    assert "Unknown column(s): patient_name" in response.context["form"].errors["file"][0]
    assert not ManifestUpload.objects.exists()


def test_file_size_limit_on_the_form(page_client, study, settings):
    settings.MANIFEST_MAX_BYTES = 2048
    response = upload(page_client("editor"), study, b"x" * 4096)
    assert response.status_code == 400
    assert "larger than" in response.context["form"].errors["file"][0]


def test_xlsx_upload(page_client, study, donor):
    client = page_client("editor")
    response = upload(client, study, manifest_xlsx([good_row(volume=3)]), name="lab.xlsx")
    staged = ManifestUpload.objects.get()
    assert response.status_code == 302 and staged.error_count == 0
    client.post(reverse("imports:commit", args=[staged.pk]))
    assert Sample.objects.get().volume_ml == 3


def test_commit_revalidates_against_the_database_now(page_client, study, donor):
    """A donor deleted after the preview makes the commit fail: nothing saved."""
    client = page_client("editor")
    upload(client, study, manifest_csv([good_row(), good_row()]))
    staged = ManifestUpload.objects.get()
    assert staged.error_count == 0
    donor.delete()

    response = client.post(reverse("imports:commit", args=[staged.pk]), follow=True)
    assert not Sample.objects.exists()
    staged.refresh_from_db()
    assert staged.status == ManifestUploadStatus.STAGED
    assert [(e["row"], e["column"]) for e in staged.errors] == [
        (2, "donor_code"),
        (3, "donor_code"),
    ]
    assert "Nothing was imported" in response.content.decode()


def test_commit_is_refused_when_the_role_was_lost(page_client, study, donor, members):
    client = page_client("editor")
    upload(client, study, manifest_csv([good_row()]))
    staged = ManifestUpload.objects.get()
    members["editor"].study_memberships.update(role="viewer")
    response = client.post(reverse("imports:commit", args=[staged.pk]))
    assert response.status_code == 403
    assert not Sample.objects.exists()


@pytest.mark.parametrize("role", ["manager", "outsider", "superuser"])
def test_only_the_uploader_sees_a_staged_manifest(page_client, study, donor, role):
    upload(page_client("editor"), study, manifest_csv([good_row()]))
    staged = ManifestUpload.objects.get()
    other = page_client(role)
    for name in ("preview", "errors", "done"):
        assert other.get(reverse(f"imports:{name}", args=[staged.pk])).status_code == 404
    for name in ("commit", "discard"):
        assert other.post(reverse(f"imports:{name}", args=[staged.pk])).status_code == 404
    assert not Sample.objects.exists() and ManifestUpload.objects.count() == 1
    assert staged.file_name not in other.get(reverse("imports:start")).content.decode()


def test_discard(page_client, study, donor):
    client = page_client("editor")
    upload(client, study, manifest_csv([good_row()]))
    staged = ManifestUpload.objects.get()
    assert client.get(reverse("imports:discard", args=[staged.pk])).status_code == 405
    response = client.post(reverse("imports:discard", args=[staged.pk]))
    assert response.status_code == 302 and not ManifestUpload.objects.exists()


def test_purge_task_deletes_only_stale_staged_uploads(study, members):
    def make(status: str, age: timedelta) -> ManifestUpload:
        item = ManifestUpload.objects.create(
            owner=members["editor"], study=study, file_name="x.csv", content=b"x", status=status
        )
        ManifestUpload.objects.filter(pk=item.pk).update(created_at=timezone.now() - age)
        return item

    stale = make(ManifestUploadStatus.STAGED, timedelta(hours=25))
    fresh = make(ManifestUploadStatus.STAGED, timedelta(hours=23))
    imported = make(ManifestUploadStatus.COMMITTED, timedelta(days=3))

    assert purge_stale_manifests.delay().get() == 1
    remaining = set(ManifestUpload.objects.values_list("pk", flat=True))
    assert remaining == {fresh.pk, imported.pk}
    assert stale.pk not in remaining
