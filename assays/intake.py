"""Intake of instrument files: the one service behind every way in (API, upload page,
watch folder).

``register_instrument_file`` stores the bytes once and records them:

1. size: an empty file or one over ``settings.INSTRUMENT_FILE_MAX_BYTES`` is refused
   before anything is stored (the upload handler already cut off bigger request bodies);
2. target: people may file results only on tubes of studies where they are editor or
   manager; an instrument account (a trusted device that can only upload) may name any
   existing tube, and its uploads always carry its own instrument;
3. identity: the sha256 of the bytes, read in chunks. The same bytes again return the
   existing record (``created`` False) and store nothing; if that record is not visible to
   the caller the upload is refused with a conflict that does not describe it;
4. storage: the bytes are copied chunk by chunk to the default storage while being hashed
   again, so a file that changed under us (a watch folder file still being written) is
   refused instead of stored under the wrong digest;
5. the row is inserted (two concurrent uploads of the same bytes: the unique sha256 keeps
   one, the other returns it) and processing is queued once the transaction commits.

Any failure after the bytes were stored deletes them again, so a refused upload leaves
nothing behind. Memory use is one chunk, whatever the file size.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from importlib import import_module

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.text import get_valid_filename

from samples.choices import Role, roles_at_least
from samples.models import Aliquot, StudyMembership

from .models import Instrument, InstrumentFile
from .permissions import instrument_of, may_upload

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
_NAME_MAX = 255  # InstrumentFile.original_name
_STORED_NAME_MAX = 160  # of the original name inside the storage path (max_length 300)


# --- Refusals ----------------------------------------------------------------------------
# ValidationErrors, so callers that know only Django's exceptions still answer 400 with a
# field message; the API answers the specific ones with 413 and 409.


class UploadRefused(ValidationError):
    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__({"file": [ValidationError(message, code=self.code)]})
        self.message_text = message

    def __str__(self) -> str:
        return self.message_text


class EmptyFile(UploadRefused):
    code = "empty"

    def __init__(self) -> None:
        super().__init__("The file is empty.")


class FileTooLarge(UploadRefused):
    code = "too_large"

    def __init__(self, limit: int) -> None:
        from exolims.upload_handlers import too_large_message

        super().__init__(too_large_message(limit))
        self.limit = limit


class DuplicateOfHiddenFile(UploadRefused):
    """The bytes were uploaded before, as a record the caller cannot see."""

    code = "duplicate"

    def __init__(self) -> None:
        super().__init__(
            "These exact bytes were already uploaded, as a file you cannot see (another "
            "study's, or someone else's not yet filed). Ask a member of that study."
        )


class FileChanged(UploadRefused):
    code = "changed"

    def __init__(self) -> None:
        super().__init__(
            "The file changed while it was being stored; nothing was saved. Upload it again "
            "once it is complete."
        )


# --- The service -------------------------------------------------------------------------


def register_instrument_file(
    *,
    upload: File,
    user,
    aliquot: Aliquot | None = None,
    instrument: Instrument | None = None,
    original_name: str | None = None,
) -> tuple[InstrumentFile, bool]:
    """Store and record one uploaded file; return (record, created).

    ``upload`` is any Django File (an UploadedFile, or ``File(open(path, "rb"))``). Raises
    an ``UploadRefused`` (empty, too large, duplicate of a hidden file, changed while
    read), ``ValidationError`` for a bad tube or instrument, ``PermissionDenied`` when the
    user may not file results on the tube.
    """
    limit = settings.INSTRUMENT_FILE_MAX_BYTES
    name = clean_original_name(original_name or getattr(upload, "name", "") or "")
    declared = _declared_size(upload)
    if declared == 0:
        raise EmptyFile()
    if declared is not None and declared > limit:
        raise FileTooLarge(limit)

    if not may_upload(user):
        raise PermissionDenied(
            "Uploading results needs the editor role in a study (viewers cannot file them)."
        )
    own_instrument = instrument_of(user)
    if own_instrument is not None:
        if instrument is not None and instrument.pk != own_instrument.pk:
            raise ValidationError(
                {"instrument": [f"This account uploads for {own_instrument.name} only."]}
            )
        instrument = own_instrument
    elif aliquot is not None:
        _check_may_file_on(aliquot, user=user)

    digest, size = _hash(upload, limit=limit)
    if size == 0:
        raise EmptyFile()
    existing = InstrumentFile.objects.filter(sha256=digest).first()
    if existing is not None:
        return _existing_for(existing, user), False

    stored_name = _store(upload, name=name, digest=digest, size=size, limit=limit)
    try:
        with transaction.atomic():
            record = InstrumentFile.objects.create(
                file=stored_name,
                original_name=name,
                size_bytes=size,
                sha256=digest,
                instrument=instrument,
                aliquot=aliquot,
                study_id=aliquot.study_id if aliquot is not None else None,
                uploaded_by=user,
            )
            transaction.on_commit(_enqueue_callback(record.pk), robust=True)
    except IntegrityError:
        _delete_stored(stored_name)
        existing = InstrumentFile.objects.filter(sha256=digest).first()
        if existing is None:
            raise
        return _existing_for(existing, user), False  # the same bytes, uploaded concurrently
    except BaseException:
        _delete_stored(stored_name)
        raise
    return record, True


def clean_original_name(name: str) -> str:
    """The file's own name: no folders (either slash), no control characters, at most 255
    characters (the extension kept); "upload" when nothing is left."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    if name in {"", ".", ".."}:
        return "upload"
    if len(name) > _NAME_MAX:
        stem, ext = os.path.splitext(name)
        ext = ext[:20]
        name = stem[: _NAME_MAX - len(ext)] + ext
    return name


# --- Steps -------------------------------------------------------------------------------


def _declared_size(upload: File) -> int | None:
    try:
        return upload.size
    except (AttributeError, OSError, TypeError):
        return None


def _check_may_file_on(aliquot: Aliquot, *, user) -> None:
    if user.is_superuser:
        return
    role = (
        StudyMembership.objects.filter(user=user, study_id=aliquot.study_id)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        # A tube of a study the user is not in reads like one that does not exist.
        raise ValidationError({"aliquot": [f"No tube {aliquot.accession} in your studies."]})
    if role not in roles_at_least(Role.EDITOR):
        raise PermissionDenied(
            f"You need the editor role in the tube's study to file results on {aliquot.accession}."
        )


def _hash(upload: File, *, limit: int) -> tuple[str, int]:
    """sha256 and length of the upload, one chunk at a time; refuses past ``limit``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in upload.chunks(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        digest.update(chunk)
    return digest.hexdigest(), size


def _existing_for(existing: InstrumentFile, user) -> InstrumentFile:
    if InstrumentFile.objects.visible_to(user).filter(pk=existing.pk).exists():
        return existing
    raise DuplicateOfHiddenFile()


def _store(upload: File, *, name: str, digest: str, size: int, limit: int) -> str:
    """Copy the upload to the default storage through a hashing reader; return the stored
    name. The name carries the digest and a random part, so it is never another upload's."""
    field = InstrumentFile._meta.get_field("file")
    stem, ext = os.path.splitext(name)
    safe = _safe_name(stem[: _STORED_NAME_MAX - len(ext[:20])] + ext[:20])
    wanted = field.generate_filename(None, f"{digest[:16]}-{secrets.token_hex(3)}_{safe}")
    reader = _HashingReader(upload, limit=limit)
    content = File(reader, name=safe)
    content.size = size
    try:
        stored_name = default_storage.save(wanted, content, max_length=field.max_length)
    except BaseException:
        _delete_stored(wanted)
        raise
    if reader.hexdigest() != digest or reader.bytes_read != size:
        _delete_stored(stored_name)
        raise FileChanged()
    return stored_name


def _safe_name(name: str) -> str:
    try:
        return get_valid_filename(name)
    except Exception:  # nothing usable left (SuspiciousFileOperation)
        return "upload"


def _delete_stored(name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:
        logger.warning("Could not delete stored upload %s", name, exc_info=True)


def _enqueue_callback(file_id: int) -> Callable[[], None]:
    # A function, not a partial: Django names a failing robust callback by its __qualname__.
    def enqueue_processing_on_commit() -> None:
        # Looked up at call time: processing imports models and tasks this module need not.
        import_module("assays.processing").enqueue_processing(file_id)

    return enqueue_processing_on_commit


class _HashingReader:
    """A read-only file object over ``source`` that hashes and counts what is read and
    refuses to read past ``limit`` bytes (a file that grew since it was measured)."""

    def __init__(self, source: File, *, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._reset()

    def _reset(self) -> None:
        self._digest = hashlib.sha256()
        self.bytes_read = 0
        self._intact = True

    def read(self, size: int = -1) -> bytes:
        # Storage backends read in chunks (File.chunks, boto3); a bare read() reads the rest.
        data = self._source.read(size if size is not None and size >= 0 else -1)
        self.bytes_read += len(data)
        if self.bytes_read > self._limit:
            raise FileChanged()
        self._digest.update(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._source.seek(offset, whence)
        if offset == 0 and whence == os.SEEK_SET:
            self._reset()  # storage backends rewind before (and on retry of) a copy
        else:
            self._intact = False
        return position

    def tell(self) -> int:
        return self._source.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """The caller owns the source."""

    @property
    def closed(self) -> bool:
        return False

    def hexdigest(self) -> str | None:
        return self._digest.hexdigest() if self._intact else None
