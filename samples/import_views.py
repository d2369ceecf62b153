"""Bulk registration pages: template download, upload, preview with every row's errors, and
an all-or-nothing commit. The work happens in ``samples.manifest``."""

from __future__ import annotations

import csv
from itertools import chain
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from . import manifest
from .manifest_models import ManifestUpload, ManifestUploadStatus
from .models import Sample, Study

_UPLOAD_EXTENSIONS = (".csv", ".txt", ".tsv", ".xlsx")


class ManifestUploadForm(forms.Form):
    study = forms.ModelChoiceField(
        queryset=Study.objects.none(),
        help_text="Only studies in which you are an editor or manager.",
    )
    file = forms.FileField(
        label="Manifest (CSV or XLSX)",
        help_text="Comma- or semicolon-separated CSV (UTF-8 or Windows encoding) or an Excel "
        "XLSX workbook whose first sheet holds the samples.",
    )
    create_missing_donors = forms.BooleanField(
        required=False,
        label="Create donors that do not exist yet",
        help_text="Otherwise a donor code that is not registered in the study is an error.",
    )

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["study"].queryset = Study.objects.editable_by(user).order_by("code")
        self.fields["file"].widget.attrs["accept"] = ",".join(_UPLOAD_EXTENSIONS)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.MANIFEST_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {settings.MANIFEST_MAX_BYTES // (1024 * 1024)} MB; "
                "split it into several manifests."
            )
        if not upload.name.lower().endswith(_UPLOAD_EXTENSIONS):
            raise forms.ValidationError("Upload a .csv or .xlsx file.")
        return upload


def _own_upload(request: HttpRequest, pk: int) -> ManifestUpload:
    """Someone else's upload is a 404: staged manifests are private to their uploader."""
    return get_object_or_404(
        ManifestUpload.objects.owned_by(request.user).select_related("study"), pk=pk
    )


@login_required
def start(request: HttpRequest) -> HttpResponse:
    form = ManifestUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            staged = manifest.stage_manifest(
                user=request.user,
                study=form.cleaned_data["study"],
                file_name=upload.name,
                content=upload.read(),
                create_missing_donors=form.cleaned_data["create_missing_donors"],
            )
        except manifest.ManifestError as exc:
            for message in exc.messages:
                form.add_error("file", message)
        else:
            return redirect("imports:preview", pk=staged.pk)
    context = {
        "section": "import",
        "form": form,
        "columns": manifest.COLUMNS,
        "time_zone": settings.TIME_ZONE,
        "max_rows": settings.MANIFEST_MAX_ROWS,
        "max_megabytes": settings.MANIFEST_MAX_BYTES // (1024 * 1024),
        "recent": ManifestUpload.objects.owned_by(request.user)
        .select_related("study")
        .defer("content", "errors", "preview_rows", "accessions", "new_donor_codes")[:10],
    }
    return render(request, "samples/import_start.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def template_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(manifest.build_template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="exolims-sample-manifest.csv"'
    return response


@login_required
@require_GET
def template_xlsx(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        manifest.build_template_xlsx(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = 'attachment; filename="exolims-sample-manifest.xlsx"'
    return response


@login_required
@require_GET
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _own_upload(request, pk)
    if upload.status == ManifestUploadStatus.COMMITTED:
        return redirect("imports:done", pk=upload.pk)
    context = {
        "section": "import",
        "upload": upload,
        "errors": upload.errors,
        "errors_truncated": upload.error_count > len(upload.errors),
        "rows_with_errors": len({error["row"] for error in upload.errors}),
        "valid_rows": upload.preview_rows,
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "samples/import_preview.html", context)


@login_required
@require_POST
def commit(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _own_upload(request, pk)
    if upload.status == ManifestUploadStatus.COMMITTED:
        return redirect("imports:done", pk=upload.pk)
    try:
        result = manifest.commit_staged_manifest(upload=upload, user=request.user)
    except manifest.ManifestError as exc:
        messages.error(request, "The file can no longer be read: " + " ".join(exc.messages))
        return redirect("imports:preview", pk=upload.pk)
    except manifest.ManifestInvalid as exc:
        messages.error(
            request,
            f"Nothing was imported: {exc.result.error_count} error(s) found when checking the "
            "rows again (the study's data changed since the preview).",
        )
        return redirect("imports:preview", pk=upload.pk)
    except DatabaseError:
        messages.error(
            request,
            "The database refused the import and nothing was saved. Please try again; if it "
            "keeps failing, tell your administrator.",
        )
        return redirect("imports:preview", pk=upload.pk)
    messages.success(request, f"Imported {result.count:,} samples ({result.accession_range}).")
    return redirect("imports:done", pk=upload.pk)


@login_required
@require_POST
def discard(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _own_upload(request, pk)
    if upload.status != ManifestUploadStatus.STAGED:
        raise Http404("Only manifests that were not imported can be discarded.")
    upload.delete()
    messages.info(request, f"Discarded {upload.file_name}; nothing was imported.")
    return redirect("imports:start")


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _own_upload(request, pk)
    if upload.status != ManifestUploadStatus.STAGED:
        raise Http404("This manifest was imported; it has no errors.")
    try:
        errors = manifest.recheck_staged_manifest(upload=upload).errors
    except manifest.ManifestError as exc:
        errors = [manifest.RowError(1, "", message) for message in exc.messages]
    writer = csv.writer(_Echo())
    header = [writer.writerow(["row", "column", "message"])]
    lines = (writer.writerow([e.row, e.column, e.message]) for e in errors)
    response = StreamingHttpResponse(
        chain(header, lines),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="manifest-{upload.pk}-errors.csv"'
    return response


@login_required
@require_GET
def done(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _own_upload(request, pk)
    if upload.status != ManifestUploadStatus.COMMITTED:
        return redirect("imports:preview", pk=upload.pk)
    first = upload.accessions[:50]
    samples = (
        Sample.objects.visible_to(request.user)
        .filter(accession__in=first)
        .select_related("donor")
        .order_by("id")
    )
    list_url = reverse("samples:sample-list") + "?" + urlencode({"study": upload.study_id})
    context = {
        "section": "import",
        "upload": upload,
        "samples": samples,
        "count": len(upload.accessions),
        "list_url": list_url,
    }
    return render(request, "samples/import_done.html", context)
