"""The size limit holds while the body streams in: 413 before it is read or stored, and
nothing left behind (no row, no stored file, no temporary file)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIRequest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from assays.models import InstrumentFile
from exolims.upload_handlers import (
    MULTIPART_SLACK_BYTES,
    backstop_limit,
    format_bytes,
    upload_limit_exceeded,
)

from .conftest import API

LIMIT = 100_000


class CountingInput(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


def multipart_request(path: str, payload: bytes) -> tuple[WSGIRequest, CountingInput, int]:
    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.csv", payload)})
    stream = CountingInput(body)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "CONTENT_TYPE": MULTIPART_CONTENT,
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
    }
    return WSGIRequest(environ), stream, len(body)


@pytest.fixture
def small_limit(settings):
    settings.INSTRUMENT_FILE_MAX_BYTES = LIMIT
    return LIMIT


@pytest.fixture
def upload_tmp(settings, tmp_path) -> Path:
    """Every upload over 1 kB goes to a temporary file in a folder we can watch."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    return folder


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(small_limit):
    request, stream, _length = multipart_request(
        f"{API}/instrument-files/", b"x" * (LIMIT + MULTIPART_SLACK_BYTES + 1)
    )
    assert request.FILES == {} and request.POST == {}
    assert upload_limit_exceeded(request) == LIMIT
    assert stream.bytes_read == 0


def test_a_file_growing_past_the_limit_stops_the_parse_at_that_chunk(small_limit, upload_tmp):
    # Within the slack for framing, so only counting the file's bytes can catch it.
    request, stream, length = multipart_request(f"{API}/instrument-files/", b"x" * (LIMIT + 60_000))
    assert length <= LIMIT + MULTIPART_SLACK_BYTES
    assert request.FILES == {}
    assert upload_limit_exceeded(request) == LIMIT
    assert list(upload_tmp.iterdir()) == []  # the partial temporary file is gone
    assert stream.bytes_read < length  # the rest of the body was never read


def test_a_file_within_the_limit_is_received(small_limit, upload_tmp):
    request, _stream, _length = multipart_request(f"{API}/instrument-files/", b"x" * LIMIT)
    assert request.FILES["file"].size == LIMIT
    assert upload_limit_exceeded(request) is None
    request.FILES["file"].close()


def test_views_without_their_own_limit_get_the_backstop(small_limit, settings):
    settings.MANIFEST_MAX_BYTES = 50_000
    assert (
        backstop_limit()
        == max(
            LIMIT,
            50_000,
            settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
            settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        )
        + MULTIPART_SLACK_BYTES
    )
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10_000
    request, stream, _length = multipart_request(
        "/import/", b"x" * (backstop_limit() + MULTIPART_SLACK_BYTES + 1)
    )
    assert request.FILES == {}
    assert upload_limit_exceeded(request) == backstop_limit()
    assert stream.bytes_read == 0
    ok, _stream, _length = multipart_request("/import/", b"x" * (LIMIT + 1000))
    assert ok.FILES["file"].size == LIMIT + 1000  # over the instrument limit: not this view's


@pytest.mark.parametrize(
    ("size", "text"),
    [(512, "512 bytes"), (2048, "2.0 KiB"), (1024**3, "1.0 GiB"), (5 * 1024**2, "5.0 MiB")],
)
def test_sizes_read_naturally(size, text):
    assert format_bytes(size) == text


@pytest.mark.django_db
@pytest.mark.parametrize("reason_header", [False, True])
def test_the_api_answers_413_and_keeps_nothing(
    client_for, small_limit, upload_tmp, media, enqueued, reason_header
):
    """With and without X-Change-Reason: without it, middleware parses the body before the
    view (for the change reason in the form), with it DRF does."""
    client = client_for("editor")
    headers = {"HTTP_X_CHANGE_REASON": "upload"} if reason_header else {}
    for size in (LIMIT + 1000, LIMIT + MULTIPART_SLACK_BYTES + 10):
        response = client.post(
            f"{API}/instrument-files/",
            {"file": SimpleUploadedFile("big.csv", b"x" * size)},
            format="multipart",
            **headers,
        )
        assert response.status_code == 413, response.content
        assert "upload limit of 97.7 KiB (100,000 bytes)" in response.json()["detail"]
    assert not InstrumentFile.objects.exists()
    assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))
    assert list(upload_tmp.iterdir()) == []
    assert enqueued == []


@pytest.mark.django_db
def test_an_unauthenticated_oversized_upload_is_refused_without_reading_it(
    api_client, small_limit, media
):
    response = api_client.post(
        f"{API}/instrument-files/",
        {"file": SimpleUploadedFile("big.csv", b"x" * (LIMIT * 2))},
        format="multipart",
    )
    assert response.status_code == 401
    assert not InstrumentFile.objects.exists()
