"""Imaging pages: an imaging session of a tube (TEM, cryo-EM, AFM, …) entered with its
images, its page (thumbnails, size statistics, wide-field / close-up badges), one more image,
the list, and the image files themselves.

Images and blots are served only through the scoped views here (never by MEDIA_URL): a
record the user cannot see is a 404, whatever its id. What is served is what the bytes are —
PNG, JPEG or TIFF recognised by their signature, anything else as a download — with
``nosniff`` so no browser renders an upload as a page. A browser cannot show TIFF (electron
micrographs and blot scanners write it, often 16-bit), so pages show a PNG preview.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import PurePath
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import DetailView, TemplateView
from PIL import Image

from exolims import upload_handlers
from exolims.views import ListPage
from samples.choices import Role
from samples.models import Study
from samples.views.common import has_role
from samples.views.history import HistoryMixin

from .. import characterisation_services as services
from ..api.characterisation_filters import ImagingRecordFilterSet
from ..choices import ImageView
from ..forms.characterisation import controls_formset, controls_from, now_minute
from ..forms.imaging import ImagingRecordForm, add_image_form, image_formset
from ..forms.markers import autofocus
from ..models import ImagingImage, ImagingRecord
from .common import PageMixin
from .measurements import (
    RECORD_RELATED,
    SECTION,
    controls_text,
    require_some_editor_role,
    start_tube,
)
from .particles import number_text

PREVIEW_PX = 1600
# Recognised by the file's first bytes, not its name: an upload called "x.png" may be anything.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"II*\x00", "image/tiff", ".tif"),
    (b"MM\x00*", "image/tiff", ".tif"),
    (b"II+\x00", "image/tiff", ".tif"),  # BigTIFF
    (b"MM\x00+", "image/tiff", ".tif"),
)
BROWSER_IMAGES = frozenset({"image/png", "image/jpeg"})
# A stored image never changes (a new one gets a new id); a blot may be replaced.
CACHE_IMMUTABLE = "private, max-age=86400"
CACHE_REPLACEABLE = "private, no-cache"
# Even if a browser ignored the content type, an image response can run nothing.
FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


# --- Serving stored images ------------------------------------------------------------------


def sniff_image(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a PNG, JPEG or TIFF by its signature; None otherwise."""
    for signature, content_type, extension in SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    return None


def stored_image_type(field_file: FieldFile) -> str | None:
    """The content type of a stored image (None: missing, or not an image we serve)."""
    if not field_file:
        return None
    try:
        with field_file.storage.open(field_file.name, "rb") as handle:
            found = sniff_image(handle.read(16))
    except (FileNotFoundError, ValueError, OSError):
        return None
    return found[0] if found else None


def safe_filename(name: str, extension: str) -> str:
    """The uploaded name reduced to harmless characters, ending in the real type's extension
    ("<script>.html" stored as a PNG is served as "script_.png")."""
    stem = PurePath(name or "").stem
    stem = _UNSAFE_NAME.sub("_", stem).strip(" ._") or "image"
    return f"{stem[:120]}{extension}"


def _display_image(image: Image.Image) -> Image.Image:
    """An 8-bit image a browser shows. 16-bit and float frames (EM TIFFs, blot scanners) use a
    small part of their range: stretch the used range so they are not black."""
    if image.mode in ("1", "L", "RGB", "RGBA", "LA"):
        return image
    if image.mode in ("P", "PA"):
        return image.convert("RGBA")
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    import numpy as np

    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3:
        array = array.mean(axis=2)
    finite = array[np.isfinite(array)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scaled = np.zeros_like(array) if high <= low else (array - low) / (high - low) * 255.0
    scaled = np.nan_to_num(scaled, nan=0.0).clip(0, 255).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def preview_png(handle, *, max_px: int = PREVIEW_PX) -> bytes:
    """A PNG of at most ``max_px`` on the long side (the first frame of a multi-page TIFF).
    Raises Http404 when the stored bytes cannot be decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with Image.open(handle) as image:
                image.draft("RGB", (max_px, max_px))  # JPEG: decode at a smaller scale
                # In place: a second full-size copy of a 200 MB micrograph is not needed.
                image.thumbnail((max_px, max_px))
                shown = _display_image(image)
                out = io.BytesIO()
                shown.save(out, format="PNG")
    except Exception:  # stored bytes are checked on upload; anything else is a missing preview
        raise Http404("No preview of this image.") from None
    return out.getvalue()


def serve_image(
    field_file: FieldFile,
    *,
    name: str,
    download: bool = False,
    preview: bool = False,
    cache: str = CACHE_IMMUTABLE,
) -> HttpResponse:
    """A stored image, inline unless ``download`` (or not an image), with a safe name and
    content type; ``preview`` gives a PNG a browser can show (for TIFF)."""
    if not field_file:
        raise Http404("No file is stored for this.")
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except (FileNotFoundError, ValueError, OSError):
        raise Http404("The stored file is missing.") from None
    found = sniff_image(handle.read(16))
    handle.seek(0)
    if preview:
        try:
            data = preview_png(handle)
        finally:
            handle.close()
        response: HttpResponse = HttpResponse(data, content_type="image/png")
        filename = safe_filename(f"{PurePath(name).stem}-preview", ".png")
    else:
        content_type, extension = found or ("application/octet-stream", PurePath(name).suffix)
        response = FileResponse(handle, content_type=content_type)
        filename = safe_filename(name, extension if found else _safe_suffix(extension))
        download = download or found is None
    response["Content-Disposition"] = content_disposition_header(download, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = cache
    return response


def _safe_suffix(suffix: str) -> str:
    cleaned = _UNSAFE_NAME.sub("", suffix or "").strip(" ")
    return cleaned[:10] if cleaned.startswith(".") and len(cleaned) > 1 else ".bin"


# --- Records ------------------------------------------------------------------------------------


def visible_records(user) -> QuerySet:
    return ImagingRecord.objects.visible_to(user)


def visible_images(user) -> QuerySet:
    return ImagingImage.objects.filter(
        record__study_id__in=Study.objects.visible_to(user).values("pk")
    )


def scale_text(image: ImagingImage) -> str:
    parts = []
    if image.scale_nm_per_px is not None:
        parts.append(f"{number_text(image.scale_nm_per_px)} nm/px")
    if image.scale_bar_nm is not None:
        parts.append(f"scale bar {number_text(image.scale_bar_nm)} nm")
    return " · ".join(parts)


def image_row(image: ImagingImage) -> ImagingImage:
    """Display texts and links of an image."""
    image.thumb_url = reverse("assays:imaging-thumbnail", args=[image.pk])
    image.file_url = reverse("assays:imaging-image", args=[image.pk])
    # Browsers do not show TIFF: the thumbnail opens a PNG preview of it instead.
    tiff = image.original_name.lower().endswith((".tif", ".tiff"))
    image.open_url = f"{image.file_url}?preview=1" if tiff else image.file_url
    image.scale_shown = scale_text(image)
    image.size_shown = (
        f"{image.width_px:,} × {image.height_px:,} px" if image.width_px and image.height_px else ""
    )
    if image.scale_nm_per_px and image.width_px and image.height_px:
        width_um = image.scale_nm_per_px * image.width_px / 1000
        height_um = image.scale_nm_per_px * image.height_px / 1000
        image.field_shown = f"{number_text(width_um)} × {number_text(height_um)} µm field"
    else:
        image.field_shown = ""
    return image


def size_rows(record: ImagingRecord) -> list[tuple[str, str]]:
    return [
        (label, number_text(value))
        for label, value in (
            ("Mean", record.size_mean_nm),
            ("Median", record.size_median_nm),
            ("SD", record.size_sd_nm),
            ("Smallest", record.size_min_nm),
            ("Largest", record.size_max_nm),
        )
    ]


def yes_no(value: bool | None) -> str:
    return "not recorded" if value is None else ("yes" if value else "no")


def record_row(record: ImagingRecord) -> ImagingRecord:
    record.url = reverse("assays:imaging-detail", args=[record.pk])
    record.sizes = size_rows(record)
    return record


@login_required
@require_http_methods(["GET", "POST"])
def imaging_create(request: HttpRequest) -> HttpResponse:
    """An imaging session of a tube with its images (each with view and scale)."""
    user = request.user
    tube = start_tube(request)
    require_some_editor_role(user)
    status = 200
    if request.method == "POST":
        if too_large(request):
            messages.error(request, upload_handlers.too_large_message(upload_limit(request)))
            form = ImagingRecordForm(user=user, initial=_initial(tube))
            controls, images = controls_formset(), image_formset()
            status = 413
        else:
            form = ImagingRecordForm(request.POST, user=user)
            controls = controls_formset(request.POST)
            images = image_formset(request.POST, request.FILES)
            if form.is_valid() and controls.is_valid() and images.is_valid():
                try:
                    record = services.record_imaging(
                        user=user,
                        aliquot=form.cleaned_data["tube"],
                        data=form.service_data(controls_from(controls)),
                        images=images.images(),
                    )
                except PermissionDenied as error:
                    form.add_error("tube", str(error) or "You cannot record results on this tube.")
                except ValidationError as error:
                    _show_service_error(form, images, error)
                else:
                    count = len(images.images())
                    messages.success(
                        request,
                        f"Recorded {record.get_method_display()} of {record.aliquot.accession} "
                        f"with {count} image{'s' if count != 1 else ''}.",
                    )
                    return redirect(record)
            status = 400
    else:
        form = ImagingRecordForm(user=user, initial=_initial(tube))
        controls, images = controls_formset(), image_formset()
        autofocus(form, "method" if tube else "tube")
    return render(
        request,
        "assays/imaging/form.html",
        {
            "section": SECTION,
            "current": "imaging",
            "form": form,
            "controls": controls,
            "images": images,
            "tube": tube,
        },
        status=status,
    )


def too_large(request: HttpRequest) -> bool:
    """Was an upload of this request cut off at the size limit? (Known once the body has
    been parsed, which reading ``request.FILES`` does.)"""
    request.FILES  # noqa: B018
    return bool(upload_handlers.upload_limit_exceeded(request))


def upload_limit(request: HttpRequest) -> int:
    return upload_handlers.upload_limit_exceeded(request) or upload_handlers.backstop_limit()


def _initial(tube) -> dict[str, Any]:
    return {"tube": tube.accession if tube else "", "measured_at": now_minute()}


def _show_service_error(form, images, error: ValidationError) -> None:
    """Image problems go above the images (the service names the file); the rest on the
    record's fields."""
    if hasattr(error, "error_dict") and "images" in error.error_dict:
        for message in ValidationError(error.error_dict.pop("images")).messages:
            images._non_form_errors.append(message)
        if not error.error_dict:
            return
    form.add_service_error(error)


def _record(request: HttpRequest, pk: int) -> ImagingRecord:
    return get_object_or_404(
        visible_records(request.user)
        .select_related(*RECORD_RELATED)
        .prefetch_related(Prefetch("images", queryset=ImagingImage.objects.order_by("id"))),
        pk=pk,
    )


def _detail_context(request: HttpRequest, record: ImagingRecord, **extra: Any) -> dict[str, Any]:
    role = record.study.role_of(request.user)
    can_edit = has_role(role, Role.EDITOR)
    images = [image_row(image) for image in record.images.all()]
    views = {image.view for image in images}
    return {
        "section": SECTION,
        "current": "imaging",
        "record": record_row(record),
        "images": images,
        "missing_views": [
            label for value, label in ImageView.choices if images and value not in views
        ],
        "controls_shown": controls_text(record.controls),
        "grid_positions": yes_no(record.grid_positions_predefined),
        "bilayer": yes_no(record.bilayer_observed),
        "role": role,
        "can_edit": can_edit,
        "add_form": extra.pop("add_form", None) or (add_image_form() if can_edit else None),
        **extra,
    }


@login_required
@require_GET
def imaging_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk)
    return render(request, "assays/imaging/detail.html", _detail_context(request, record))


@login_required
@require_POST
def imaging_add_image(request: HttpRequest, pk: int) -> HttpResponse:
    """One more image on a recorded session (editors of its study)."""
    record = _record(request, pk)
    if not has_role(record.study.role_of(request.user), Role.EDITOR):
        raise PermissionDenied("You need the editor role in this study to add images.")
    if too_large(request):
        messages.error(request, upload_handlers.too_large_message(upload_limit(request)))
        context = _detail_context(request, record)
        return render(request, "assays/imaging/detail.html", context, status=413)
    form = add_image_form(request.POST, request.FILES)
    if form.is_valid():
        try:
            image = services.add_image(
                user=request.user,
                record=record,
                upload=form.cleaned_data["image"],
                **form.details(),
            )
        except ValidationError as error:
            # The service names the file in each message; show them above the form.
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, f"Added {image.original_name}.")
            return redirect(record)
    context = _detail_context(request, record, add_form=form)
    return render(request, "assays/imaging/detail.html", context, status=400)


@login_required
@require_POST
def imaging_delete(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk)
    if not has_role(record.study.role_of(request.user), Role.EDITOR):
        raise PermissionDenied("You need the editor role in this study to delete records.")
    tube = record.aliquot
    label = str(record)
    services.delete_record(
        user=request.user, record=record, reason=request.POST.get("change_reason", "")
    )
    messages.success(request, f"Deleted {label}.")
    return redirect(tube)


@login_required
@require_POST
def imaging_image_delete(request: HttpRequest, pk: int) -> HttpResponse:
    image = get_object_or_404(visible_images(request.user).select_related("record__study"), pk=pk)
    record = image.record
    if not has_role(record.study.role_of(request.user), Role.EDITOR):
        raise PermissionDenied("You need the editor role in this study to delete images.")
    services.delete_record(
        user=request.user, record=image, reason=request.POST.get("change_reason", "")
    )
    messages.success(request, f"Removed {image.original_name}.")
    return redirect(record)


@login_required
@require_GET
def imaging_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    image = get_object_or_404(visible_images(request.user).only("id", "thumbnail"), pk=pk)
    return serve_image(image.thumbnail, name=f"thumbnail-{image.pk}.png")


@login_required
@require_GET
def imaging_image(request: HttpRequest, pk: int) -> HttpResponse:
    """The image as uploaded (``?download=1`` as a file; ``?preview=1`` a PNG for TIFF)."""
    image = get_object_or_404(
        visible_images(request.user).only("id", "image", "original_name"), pk=pk
    )
    return serve_image(
        image.image,
        name=image.original_name,
        download=bool(request.GET.get("download")),
        preview=bool(request.GET.get("preview")),
    )


class ImagingListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/imaging/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = record_list_page(
            self.request,
            filterset_class=ImagingRecordFilterSet,
            queryset=visible_records(user)
            .select_related("aliquot", "study")
            .annotate(
                image_count=Count("images"),
                wide_count=Count("images", filter=Q(images__view=ImageView.WIDE_FIELD)),
            ),
            sorts={"measured": "measured_at", "mean": "size_mean_nm"},
            shown=("study", "method", "aliquot"),
        )
        page.rows = [record_row(r) for r in page.rows]
        return super().get_context_data(
            page=page,
            current="imaging",
            can_add=Study.objects.editable_by(user).exists(),
            **kwargs,
        )


def record_list_page(
    request: HttpRequest, *, filterset_class, queryset: QuerySet, sorts: dict[str, str], shown
) -> ListPage:
    """A list of records on tubes, with the API's filters (``?aliquot=`` is a tube)."""
    page = ListPage(
        request,
        filterset_class=filterset_class,
        queryset=queryset,
        sorts=sorts,
        default_sort="-measured",
        shown=shown,
        studies=Study.objects.visible_to(request.user),
    )
    fields = page.filterset.form.fields
    if "aliquot" in fields:
        fields["aliquot"].label = "Tube"
        fields["aliquot"].widget.attrs.update(
            {"placeholder": "EXO-…", "class": "mono", "data-scan": ""}
        )
    page.filter_fields = [page.filterset.form[name] for name in page.shown]
    return page


class ImagingHistoryView(HistoryMixin, PageMixin, DetailView):
    section = SECTION

    def get_queryset(self) -> QuerySet:
        return visible_records(self.request.user).select_related("aliquot")
