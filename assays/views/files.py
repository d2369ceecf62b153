"""Instrument-file pages: the upload page (drop zone + JSON endpoints behind it), the file
list and a file's page (status, error, download, re-process, resolving "needs review").

Uploading, parsing and filing results are not done here: ``assays.intake`` stores and
registers an upload, ``assays.processing`` parses it, re-processes it and resolves a review.
These views only check who may do what and translate between HTTP and those services.

Who sees a file: ``InstrumentFile.objects.visible_to`` (own uploads plus files on tubes of
the user's studies); any other id is a 404. Who may re-process or resolve: the uploader, an
editor (or above) of the file's study, or a superuser.
"""

from __future__ import annotations

import functools
import mimetypes
from typing import Any

import django_filters as filters
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import DetailView, TemplateView

from exolims import upload_handlers
from exolims.views import ListPage
from samples.filters import ChoicesFilter, FilterSet, IdFilter
from samples.models import Study
from samples.views.common import accession_candidates
from samples.views.history import HistoryMixin

from .. import intake, processing
from ..choices import FileStatus, ProteinAssayStatus
from ..forms.files import ResolveReviewForm, UploadForm, UploadPageForm
from ..models import (
    DLSMeasurement,
    FlowMeasurement,
    Instrument,
    InstrumentFile,
    ParticleMeasurement,
    ProteinAssay,
    QPCRRun,
)
from ..parsers.registry import PARSERS, get_parser
from ..permissions import may_upload
from .common import PageMixin

SECTION = "instruments"
FINAL_STATUSES = frozenset({FileStatus.PARSED, FileStatus.FAILED, FileStatus.NEEDS_REVIEW})
STATUS_IDS_MAX = 100
RECENT_UPLOADS = 15
FILE_RELATED = ("instrument", "aliquot", "study", "uploaded_by__instrument")


# --- Who may do what --------------------------------------------------------------------


def visible_files(user) -> QuerySet:
    return InstrumentFile.objects.visible_to(user)


def can_rerun(user, instrument_file: InstrumentFile) -> bool:
    """Re-process: the uploader, an editor+ of the file's study, a superuser."""
    return processing.can_reprocess(instrument_file=instrument_file, user=user)


def can_resolve(user, instrument_file: InstrumentFile) -> bool:
    """Who is offered the "pick the tube" form; ``processing.resolve_review`` has the last
    word. Files from an instrument's account may be resolved by whoever sees them."""
    if instrument_file.status != FileStatus.NEEDS_REVIEW:
        return False
    uploader = instrument_file.uploaded_by
    return can_rerun(user, instrument_file) or getattr(uploader, "instrument", None) is not None


NO_UPLOAD_MESSAGE = (
    "Uploading instrument files needs the editor role in a study: results are filed on "
    "tubes you may record results on, and you are editor in no study."
)


def max_upload_bytes() -> int:
    return settings.INSTRUMENT_FILE_MAX_BYTES


def size_text(size: int | None) -> str:
    """12.3 KiB, 1.0 GiB: sizes as the upload limit states them."""
    return "" if size is None else upload_handlers.format_bytes(size)


def format_labels() -> dict[str, str]:
    """Registry key → label of every known format. Parsers load lazily; one that cannot
    be imported keeps its key as its label rather than breaking a page."""
    labels = {}
    for key in PARSERS:
        try:
            labels[key] = get_parser(key).label
        except Exception:  # a broken parser must not take pages down
            labels[key] = key
    return labels


# --- JSON: status of files --------------------------------------------------------------


def _json_error(status: int, message: str, **errors: list[str]) -> JsonResponse:
    return JsonResponse({"message": message, "errors": errors}, status=status)


def json_login_required(view):
    """Scripts polling a page's endpoints get a JSON 401, not the login page's HTML."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _json_error(401, "You are signed out. Reload the page and sign in again.")
        return view(request, *args, **kwargs)

    return wrapped


def _link(url: str, text: str, **extra: str) -> dict[str, str]:
    return {"url": url, "text": text, **extra}


def _counted(rows: list, file_url: str, one: str, many: str) -> dict[str, str]:
    """One record: a link to it; several: a link to the file's page, which lists them."""
    if len(rows) == 1:
        return _link(rows[0].get_absolute_url(), one)
    return _link(file_url, f"{len(rows)} {many}")


def outputs_by_file(user, files: list[InstrumentFile]) -> dict[int, list[dict[str, str]]]:
    """What each parsed file produced that the user may open: plate, qPCR run, flow, DLS and
    particle records, as links (``url``, ``text``, optional ``action_url``/``action_text``).
    A fixed number of queries, however many files."""
    ids = [f.pk for f in files if f.status == FileStatus.PARSED]
    found: dict[int, list[dict[str, str]]] = {pk: [] for pk in ids}
    if not ids:
        return found
    urls = {f.pk: f.get_absolute_url() for f in files}
    plates = (
        ProteinAssay.objects.visible_to(user)
        .filter(instrument_file_id__in=ids)
        .only("id", "status", "instrument_file_id")
    )
    for plate in plates:
        if plate.status == ProteinAssayStatus.AWAITING_MAP:
            link = _link(
                plate.get_absolute_url(),
                "Plate waiting for its map",
                action_url=reverse("assays:protein-assay-map", args=[plate.pk]),
                action_text="map the plate",
            )
        else:
            link = _link(plate.get_absolute_url(), f"Protein plate ({plate.get_status_display()})")
        found[plate.instrument_file_id].append(link)
    runs = (
        QPCRRun.objects.visible_to(user)
        .filter(instrument_file_id__in=ids)
        .annotate(
            wells=Count("results", distinct=True),
            on_tubes=Count("results", filter=Q(results__aliquot__isnull=False), distinct=True),
        )
        .only("id", "instrument_file_id")
    )
    for run in runs:
        text = f"qPCR run: {run.on_tubes} of {run.wells} wells on tubes"
        found[run.instrument_file_id].append(_link(run.get_absolute_url(), text))
    per_kind = (
        (FlowMeasurement, "Flow measurement", "flow measurements"),
        (DLSMeasurement, "DLS measurement", "DLS measurements"),
        (ParticleMeasurement, "Particle result", "particle results"),
    )
    for model, one, many in per_kind:
        rows: dict[int, list] = {}
        for row in (
            model.objects.visible_to(user)
            .filter(instrument_file_id__in=ids)
            .only("id", "instrument_file_id")
            .order_by("id")
        ):
            rows.setdefault(row.instrument_file_id, []).append(row)
        for pk, records in rows.items():
            found[pk].append(_counted(records, urls[pk], one, many))
    return found


def status_payload(
    instrument_file: InstrumentFile,
    measurements: list[ParticleMeasurement] | None = None,
    outputs: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """What a drop-zone row shows; ``measurements`` (particle results) and ``outputs`` (links
    to everything the file produced) are those the user may open."""
    tube = instrument_file.aliquot
    results = [
        {"id": m.pk, "url": reverse("assays:particle-detail", args=[m.pk])}
        for m in (measurements or [])
    ]
    return {
        "id": instrument_file.pk,
        "name": instrument_file.original_name,
        "size_bytes": instrument_file.size_bytes,
        "status": instrument_file.status,
        "status_label": instrument_file.get_status_display(),
        "final": instrument_file.status in FINAL_STATUSES,
        "error": instrument_file.error,
        "review_reason": instrument_file.review_reason,
        "format": instrument_file.format,
        "aliquot": tube.accession if tube is not None else None,
        "aliquot_url": tube.get_absolute_url() if tube is not None else None,
        "url": instrument_file.get_absolute_url(),
        "status_url": reverse("assays:file-status", args=[instrument_file.pk]),
        "results": results,
        "result_url": results[0]["url"] if len(results) == 1 else None,
        "outputs": outputs or [],
    }


def _measurements_by_file(user, file_ids: list[int]) -> dict[int, list[ParticleMeasurement]]:
    found: dict[int, list[ParticleMeasurement]] = {}
    rows = (
        ParticleMeasurement.objects.visible_to(user)
        .filter(instrument_file_id__in=file_ids)
        .only("id", "instrument_file_id")
        .order_by("id")
    )
    for row in rows:
        found.setdefault(row.instrument_file_id, []).append(row)
    return found


def _payloads(user, files: list[InstrumentFile]) -> list[dict[str, Any]]:
    results = _measurements_by_file(user, [f.pk for f in files])
    outputs = outputs_by_file(user, files)
    return [status_payload(f, results.get(f.pk, []), outputs.get(f.pk, [])) for f in files]


def with_outputs(user, files: list[InstrumentFile]) -> list[InstrumentFile]:
    """Set ``outputs`` on file rows for ``_row_detail.html`` and the list's Results column."""
    outputs = outputs_by_file(user, files)
    for f in files:
        f.outputs = outputs.get(f.pk, [])
    return files


@never_cache
@require_GET
@json_login_required
def file_status(request: HttpRequest, pk: int) -> JsonResponse:
    instrument_file = get_object_or_404(
        visible_files(request.user).select_related("aliquot"), pk=pk
    )
    return JsonResponse(_payloads(request.user, [instrument_file])[0])


@never_cache
@require_GET
@json_login_required
def file_statuses(request: HttpRequest) -> JsonResponse:
    """``?id=1&id=2``: several files in one request (the drop zone polls all its rows at
    once). Ids the user cannot see are simply absent."""
    try:
        ids = sorted({int(value) for value in request.GET.getlist("id")})
    except ValueError:
        return _json_error(400, "Ids must be whole numbers.", id=["Ids must be whole numbers."])
    if len(ids) > STATUS_IDS_MAX:
        return _json_error(400, f"Ask for at most {STATUS_IDS_MAX} files at a time.")
    files = list(visible_files(request.user).select_related("aliquot").filter(pk__in=ids))
    return JsonResponse({"files": _payloads(request.user, files)})


# --- Uploading --------------------------------------------------------------------------


def too_large_message() -> str:
    return upload_handlers.too_large_message(max_upload_bytes())


def _duplicate_message(instrument_file: InstrumentFile) -> str:
    when = timezone.localtime(instrument_file.received_at).strftime("%Y-%m-%d %H:%M")
    return f"Already uploaded on {when} as “{instrument_file.original_name}”."


@require_POST
@json_login_required
def upload_file(request: HttpRequest) -> JsonResponse:
    """One file from the drop zone (multipart: ``file``, optional ``aliquot`` accession and
    ``instrument`` id). 201 with the new record, 200 with the existing one when the same
    bytes were uploaded before, 400 with field messages, 403 for a user who is editor in no
    study, 413 when too large."""
    if not may_upload(request.user):
        return _json_error(403, NO_UPLOAD_MESSAGE)
    form = UploadForm(request.POST, request.FILES, user=request.user)
    if upload_handlers.upload_limit_exceeded(request):
        return _json_error(413, too_large_message(), file=[too_large_message()])
    if not form.is_valid():
        errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
        first = next(iter(errors.values()))[0]
        return JsonResponse({"message": first, "errors": errors}, status=400)
    try:
        instrument_file, created = intake.register_instrument_file(
            upload=form.cleaned_data["file"],
            user=request.user,
            aliquot=form.cleaned_data["aliquot"],
            instrument=form.cleaned_data["instrument"],
        )
    except intake.FileTooLarge:
        return _json_error(413, too_large_message(), file=[too_large_message()])
    except intake.DuplicateOfHiddenFile as exc:
        return JsonResponse(
            {"created": False, "duplicate": True, "message": str(exc), "file": None}, status=409
        )
    except ValidationError as exc:
        errors = _validation_errors(exc)
        return JsonResponse({"message": _first(errors), "errors": errors}, status=400)
    except PermissionDenied as exc:
        message = str(exc) or "You may not file results on this tube."
        return JsonResponse({"message": message, "errors": {"aliquot": [message]}}, status=400)
    # With an eager or quick worker the file may already be parsed: report its state now.
    shown = visible_files(request.user).select_related("aliquot").get(pk=instrument_file.pk)
    body = {
        "created": created,
        "duplicate": not created,
        "file": _payloads(request.user, [shown])[0],
    }
    if not created:
        body["message"] = _duplicate_message(shown)
    return JsonResponse(body, status=201 if created else 200)


upload_file.upload_limit_setting = "INSTRUMENT_FILE_MAX_BYTES"


def _validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            ("file" if name == "__all__" else name): [str(m) for m in ValidationError(errs)]
            for name, errs in exc.error_dict.items()
        }
    return {"file": [str(m) for m in exc]}


def _first(errors: dict[str, list[str]]) -> str:
    return next((m for msgs in errors.values() for m in msgs), "The upload was refused.")


class UploadPageView(PageMixin, TemplateView):
    """The drop zone; without JavaScript its plain form posts every chosen file here."""

    section = SECTION
    template_name = "assays/files/upload.html"
    # exolims.upload_handlers stops a file over this limit while it streams in.
    upload_limit_setting = "INSTRUMENT_FILE_MAX_BYTES"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not may_upload(request.user):
            raise PermissionDenied(NO_UPLOAD_MESSAGE)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        form = kwargs.pop("form", None) or UploadPageForm(
            user=user, initial={"aliquot": self.request.GET.get("aliquot", "")[:40]}
        )
        recent = list(
            InstrumentFile.objects.filter(uploaded_by=user)
            .select_related("aliquot", "instrument")
            .order_by("-received_at", "-id")[:RECENT_UPLOADS]
        )
        with_outputs(user, recent)
        return super().get_context_data(
            form=form,
            dropzone=dropzone_context(form=form, user=user),
            recent=recent,
            final_statuses=FINAL_STATUSES,
            **kwargs,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = UploadPageForm(request.POST, request.FILES, user=request.user)
        if upload_handlers.upload_limit_exceeded(request):
            messages.error(request, too_large_message())
            return self.render_to_response(self.get_context_data(), status=413)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        data = form.cleaned_data
        for upload in data["file"]:
            try:
                _file, created = intake.register_instrument_file(
                    upload=upload,
                    user=request.user,
                    aliquot=data["aliquot"],
                    instrument=data["instrument"],
                )
            except intake.FileTooLarge:
                messages.error(request, f"{upload.name}: {too_large_message()}")
            except (ValidationError, PermissionDenied) as exc:
                text = _first(_validation_errors(exc)) if isinstance(exc, ValidationError) else exc
                messages.error(request, f"{upload.name}: {text}")
            else:
                verb = "uploaded" if created else "was already uploaded"
                messages.success(request, f"{upload.name} {verb}; see its status below.")
        return redirect("assays:file-upload")


def dropzone_context(*, form: UploadForm | None = None, user, aliquot=None) -> dict[str, Any]:
    """What ``assays/files/_dropzone.html`` needs; ``aliquot`` fixes the target tube."""
    if form is None:
        form = UploadForm(user=user)
    return {
        "form": form,
        "aliquot": aliquot,
        "upload_url": reverse("assays:file-upload-json"),
        "statuses_url": reverse("assays:file-statuses"),
        "max_bytes": max_upload_bytes() or "",
        "max_text": size_text(max_upload_bytes()),
        "formats": list(format_labels().values()),
    }


# --- List -------------------------------------------------------------------------------


class InstrumentFileFilterSet(FilterSet):
    q = filters.CharFilter(field_name="original_name", lookup_expr="icontains", label="File name")
    status = ChoicesFilter(choices=FileStatus.choices)
    format = filters.CharFilter(field_name="format")
    instrument = IdFilter(field_name="instrument_id")
    study = IdFilter(field_name="study_id")
    tube = filters.CharFilter(method="by_tube", label="Tube accession")
    mine = filters.BooleanFilter(method="by_uploader", label="Only my uploads")

    class Meta:
        model = InstrumentFile
        fields = ["status", "instrument", "study"]

    def by_tube(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value.strip():
            return queryset
        return queryset.filter(aliquot__accession__in=accession_candidates(value))

    def by_uploader(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        user = getattr(self.request, "user", None)
        if not value or user is None:
            return queryset
        return queryset.filter(uploaded_by=user)


class FileListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/files/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = ListPage(
            self.request,
            filterset_class=InstrumentFileFilterSet,
            queryset=visible_files(user)
            .select_related(*FILE_RELATED)
            .defer("error", "review_reason", "sha256"),
            sorts={
                "received": "received_at",
                "name": "original_name",
                "status": "status",
                "size": "size_bytes",
            },
            default_sort="-received",
            shown=("q", "status", "format", "instrument", "study", "tube", "mine"),
            studies=Study.objects.visible_to(user),
        )
        fields = page.filterset.form.fields
        labels = format_labels()
        fields["format"].widget = forms.Select(choices=[("", "Any format"), *labels.items()])
        fields["instrument"].widget = forms.Select(
            choices=[("", "Any instrument"), *Instrument.objects.values_list("id", "name")]
        )
        fields["tube"].widget.attrs.update({"placeholder": "EXO-…", "class": "mono"})
        fields["mine"].widget = forms.Select(choices=[("", "Anyone"), ("true", "Only mine")])
        page.filter_fields = [page.filterset.form[name] for name in page.shown]
        with_outputs(user, list(page.rows))
        for row in page.rows:
            row.format_label = labels.get(row.format, row.format)
            row.size_text = size_text(row.size_bytes)
        return super().get_context_data(
            page=page, final_statuses=FINAL_STATUSES, may_upload=may_upload(user), **kwargs
        )


# --- One file ---------------------------------------------------------------------------


class FileMixin(PageMixin):
    model = InstrumentFile
    section = SECTION
    context_object_name = "file"

    def get_queryset(self) -> QuerySet:
        return visible_files(self.request.user).select_related(*FILE_RELATED)


class FileDetailView(FileMixin, DetailView):
    template_name = "assays/files/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from .measurements import file_records
        from .particles import measurement_rows

        instrument_file = self.object
        user = self.request.user
        may_rerun = can_rerun(user, instrument_file)
        resolve_form = kwargs.pop("resolve_form", None)
        if resolve_form is None and can_resolve(user, instrument_file):
            resolve_form = ResolveReviewForm(user=user)
        measurements = measurement_rows(
            ParticleMeasurement.objects.visible_to(user)
            .filter(instrument_file=instrument_file)
            .select_related("aliquot")
            .defer("distribution")
        )
        # Plates, qPCR runs, flow and DLS records parsed from this file.
        records = file_records(user, instrument_file)
        return super().get_context_data(
            format_label=format_labels().get(instrument_file.format, instrument_file.format),
            size=size_text(instrument_file.size_bytes),
            final=instrument_file.status in FINAL_STATUSES,
            can_rerun=may_rerun,
            resolve_form=resolve_form,
            measurements=measurements,
            records=records,
            hidden_results=instrument_file.status == FileStatus.PARSED
            and not measurements
            and not records,
            tab="details",
            **kwargs,
        )


class FileHistoryView(HistoryMixin, FileMixin, DetailView):
    pass


@require_GET
@login_required
def file_download(request: HttpRequest, pk: int) -> FileResponse:
    """The original bytes, always as a download: an uploaded file is never rendered by the
    browser as a page (it could hold HTML or script)."""
    instrument_file = get_object_or_404(visible_files(request.user), pk=pk)
    try:
        handle = instrument_file.file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("The stored file is missing.") from exc
    guessed = mimetypes.guess_type(instrument_file.original_name)[0]
    response = FileResponse(
        handle,
        content_type=guessed
        if guessed in {"text/csv", "text/plain"}
        else "application/octet-stream",
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=instrument_file.original_name
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _visible_file(request: HttpRequest, pk: int) -> InstrumentFile:
    return get_object_or_404(
        visible_files(request.user).select_related("study", "uploaded_by__instrument"), pk=pk
    )


@require_POST
@login_required
def file_reprocess(request: HttpRequest, pk: int) -> HttpResponse:
    instrument_file = _visible_file(request, pk)
    if not can_rerun(request.user, instrument_file):
        raise PermissionDenied(
            "Only the uploader or an editor of the file's study may re-process it."
        )
    try:
        processing.reprocess_file(instrument_file=instrument_file, user=request.user)
    except ValidationError as exc:
        messages.error(request, f"Not re-processed: {_first(_validation_errors(exc))}")
    else:
        instrument_file.refresh_from_db(fields=["status"])
        messages.success(
            request,
            f"{instrument_file.original_name} is being processed again "
            f"(now {instrument_file.get_status_display().lower()}).",
        )
    return redirect(instrument_file)


@require_POST
@login_required
def file_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """Pick the tube of a file that needs review; processing then completes."""
    instrument_file = _visible_file(request, pk)
    if instrument_file.status != FileStatus.NEEDS_REVIEW:
        messages.info(request, "This file no longer needs review.")
        return redirect(instrument_file)
    if not can_resolve(request.user, instrument_file):
        raise PermissionDenied("Only the uploader or an editor of the study may pick the tube.")
    form = ResolveReviewForm(request.POST, user=request.user)
    if form.is_valid():
        tube = form.cleaned_data["accession"]
        try:
            processing.resolve_review(
                instrument_file=instrument_file, aliquot=tube, user=request.user
            )
        except ValidationError as exc:
            for message in _validation_errors(exc).values():
                form.add_error("accession", message)
        else:
            instrument_file.refresh_from_db(fields=["status"])
            messages.success(
                request,
                f"{instrument_file.original_name} is filed on {tube.accession} "
                f"({instrument_file.get_status_display().lower()}).",
            )
            return redirect(instrument_file)
    view = FileDetailView(request=request, kwargs={"pk": pk})
    view.object = view.get_object()
    context = view.get_context_data(object=view.object, resolve_form=form)
    return render(request, view.template_name, context, status=400)
