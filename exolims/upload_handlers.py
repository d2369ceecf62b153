"""Upload size limits that hold while a multipart body streams in, not after it is stored.

Django spools uploads to a temporary file (``FILE_UPLOAD_MAX_MEMORY_SIZE`` keeps anything
bigger than 2 MiB out of memory) but by itself reads a body of any size before a view can
refuse it. ``SizeLimitedUploadHandler`` runs first in ``FILE_UPLOAD_HANDLERS``:

* a declared ``Content-Length`` over the limit is refused before a byte of the body is read;
* a file part that grows past the limit stops the parse at that chunk; the partial
  temporary file is closed, which deletes it.

Either way the request is parsed as empty and marked; the view answers 413
(``upload_limit_exceeded`` / ``PayloadTooLarge``). Nothing is left on disk.

The limit comes from the view the request is addressed to: a view class (DRF viewset or
Django class-based view) or view function opts in with ``upload_limit_setting = "NAME"``,
the name of an integer setting read on every request (so tests may override it). Every
other view gets a generous backstop (the largest upload limit of the site plus slack), so
no endpoint accepts an unbounded body.

The body is often parsed before the view runs (``ChangeReasonMiddleware`` reads
``request.POST`` of multipart posts), which is why the outcome is a mark on the request
rather than an exception: middleware cannot turn an exception into a 413.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, QueryDict
from django.urls import Resolver404, resolve
from django.utils.datastructures import MultiValueDict
from rest_framework import exceptions, status

# Multipart framing and the small form fields around a file (tube, instrument, reason).
MULTIPART_SLACK_BYTES = 64 * 1024
# Attribute set on the HttpRequest when an upload was refused: the limit in bytes.
_MARK = "upload_limit_exceeded_bytes"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is larger than the limit."
    default_code = "too_large"


def too_large_message(limit: int) -> str:
    return (
        f"The file is larger than the upload limit of {format_bytes(limit)} "
        f"({limit:,} bytes); nothing was saved."
    )


def format_bytes(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def upload_limit_exceeded(request: Any) -> int | None:
    """The limit a refused upload of this request broke, or None. Read it after the body
    has been parsed (``request.data`` / ``request.POST``). Accepts a DRF request too."""
    django_request = getattr(request, "_request", request)
    return getattr(django_request, _MARK, None)


def view_upload_limit(request: HttpRequest) -> int | None:
    """The limit the addressed view declares (``upload_limit_setting``), or None."""
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return None
    func = match.func
    owner = getattr(func, "cls", None) or getattr(func, "view_class", None) or func
    setting = getattr(owner, "upload_limit_setting", None) or getattr(
        func, "upload_limit_setting", None
    )
    if not setting:
        return None
    return int(getattr(settings, setting))


def backstop_limit() -> int:
    """Largest body any view without its own limit accepts: no upload the site takes is
    bigger than its largest configured limit."""
    limits = [
        getattr(settings, "INSTRUMENT_FILE_MAX_BYTES", 0),
        getattr(settings, "MANIFEST_MAX_BYTES", 0),
        settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0,
    ]
    return max(limits) + MULTIPART_SLACK_BYTES


class SizeLimitedUploadHandler(FileUploadHandler):
    """Stops an upload as soon as it is larger than the addressed view's limit (see the
    module docstring). Must come before Django's memory and temporary-file handlers."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        own = view_upload_limit(request) if request is not None else None
        # A view's own limit is exact per file; the backstop only stops the absurd.
        self.limit = own if own is not None else backstop_limit()
        self.received = 0

    def _refuse(self) -> None:
        if self.request is not None:
            setattr(self.request, _MARK, self.limit)

    def handle_raw_input(
        self, input_data, META, content_length, boundary, encoding=None
    ) -> tuple[QueryDict, MultiValueDict] | None:
        if content_length > self.limit + MULTIPART_SLACK_BYTES:
            self._refuse()
            # Parsed as empty without reading the body; the server discards the rest.
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
            # The parser closes (and so deletes) the other handlers' partial files.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file object
