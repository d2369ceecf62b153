"""Staged manifest uploads: a file waits here between upload, preview and commit."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

__all__ = ["ManifestUpload", "ManifestUploadStatus"]


class ManifestUploadStatus(models.TextChoices):
    STAGED = "staged", "Staged (not imported)"
    COMMITTED = "committed", "Imported"


class ManifestUploadQuerySet(models.QuerySet):
    def owned_by(self, user) -> ManifestUploadQuerySet:
        """Only the uploader ever sees a staged manifest (it may hold a study's raw data)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        return self.filter(owner=user)


class ManifestUpload(models.Model):
    """An uploaded manifest and the result of validating it.

    The file itself is kept until commit so the commit re-reads and re-validates exactly
    what was previewed; afterwards only the summary (count, accessions) remains.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="manifest_uploads"
    )
    study = models.ForeignKey(
        "samples.Study", on_delete=models.CASCADE, related_name="manifest_uploads"
    )
    file_name = models.CharField(max_length=255)
    content = models.BinaryField(editable=False)
    create_missing_donors = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ManifestUploadStatus.choices, default=ManifestUploadStatus.STAGED
    )
    row_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Validation findings for the preview page: [{"row", "column", "message"}], capped; the
    # full list is recomputed from the file on demand.
    errors = models.JSONField(default=list, blank=True)
    preview_rows = models.JSONField(default=list, blank=True)
    new_donor_codes = models.JSONField(default=list, blank=True)
    accessions = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    committed_at = models.DateTimeField(null=True, blank=True)

    objects = ManifestUploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="samples_manifest_owner"),
            models.Index(fields=["status", "created_at"], name="samples_manifest_stale"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def is_staged(self) -> bool:
        return self.status == ManifestUploadStatus.STAGED

    @property
    def accession_range(self) -> str:
        if not self.accessions:
            return ""
        if len(self.accessions) == 1:
            return self.accessions[0]
        return f"{self.accessions[0]} – {self.accessions[-1]}"
