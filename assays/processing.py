"""Turning an uploaded instrument file into particle results: claim, parse, file, record.

The flow (docs: ARCHITECTURE "Instrument files: the pipeline"):

1. ``enqueue_processing`` queues ``tasks.process_instrument_file`` once the upload commits.
   A broker that is down never fails the upload: the file stays ``received`` and
   ``tasks.sweep_stuck_files`` queues it again later.
2. ``process_file`` claims the file, reads the stored bytes, detects the format from the
   name and first bytes, parses with the registry's parser (pure, no database), works out
   the target tube (``matching``) and writes the results (values from ``particle_results``)
   in one transaction, replacing earlier ones.
   Outcomes: ``parsed``, ``failed`` (the message says what and where) or ``needs_review``
   (no unique tube matched; ``resolve_review`` completes it).

Delivery is at least once (acks_late, redelivery after a lost worker, sweeps), so running
``process_file`` twice for the same file must be harmless:

* A PostgreSQL session advisory lock per file is held while a worker works on it. A second
  delivery that arrives while the first is still running cannot take the lock and returns.
  The lock belongs to the worker's database connection, so it vanishes the moment a killed
  worker's connection closes, and a redelivered task can take over at once. (Session locks
  need a direct connection or session pooling, not PgBouncer transaction pooling.)
* Under that lock a conditional UPDATE moves ``received``/``processing`` to ``processing``
  and counts the attempt; a file already ``parsed``, ``failed`` or ``needs_review`` is left
  alone, and a file that used up its attempts becomes ``failed`` instead of looping.
* Results are replaced (delete + insert) inside one transaction that holds the row lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from samples.models import Aliquot, Study

from . import filing
from .choices import FileStatus
from .matching import match_aliquot
from .models import EVPreparation, InstrumentFile
from .parsers import registry
from .parsers.base import DETECT_BYTES, ParseError
from .particle_results import ResultError
from .permissions import instrument_of

logger = logging.getLogger(__name__)

# Text exports are kilobytes to a few megabytes. A parser gets the whole file as bytes, so a
# huge file that merely starts like an export must not be read into a worker's memory; a
# parser may declare its own ``max_bytes`` (binary formats such as FCS are larger).
MAX_PARSE_BYTES = 64 * 1024 * 1024
# Most stuck files one sweep handles (the next sweep takes the rest).
SWEEP_BATCH = 500
# Keys of the PostgreSQL advisory locks that mark "a worker is on this file" (two int4 keys).
_LOCK_NAMESPACE = 0x45584F31  # "EXO1"


# --- Queueing -------------------------------------------------------------------------------


def enqueue_processing(file_id: int) -> None:
    """Queue processing of ``file_id`` once the current transaction commits.

    Never raises into the caller and never waits long for the broker (short connect
    timeout, one publish retry: see CELERY_BROKER_TRANSPORT_OPTIONS and
    CELERY_TASK_PUBLISH_RETRY_POLICY). If the broker is unreachable the file stays
    ``received`` and the periodic sweep queues it again.
    """
    transaction.on_commit(_sender([file_id]), robust=True)


def _sender(file_ids: list[int]):
    # A named function, not a partial: Django logs a failing robust callback by __qualname__.
    def send_after_commit() -> None:
        send_to_queue(file_ids)

    return send_after_commit


def send_to_queue(file_ids: list[int]) -> int:
    """Publish one processing task per file now; return how many were sent. Stops at the
    first broker error (the rest would fail the same way) and logs it instead of raising."""
    from .tasks import process_instrument_file  # tasks imports this module

    sent = 0
    for file_id in file_ids:
        try:
            process_instrument_file.delay(file_id)
        except Exception as exc:
            if process_instrument_file.app.conf.task_always_eager:
                # In-process mode: this file's processing failed; the others may still work.
                logger.exception("Processing instrument file %s in-process failed", file_id)
                continue
            # One line per outage-time upload, not a traceback each: the cause is the broker.
            logger.warning(
                "Could not queue processing of instrument file %s (%d more not queued); "
                "the sweep will retry: %s: %s",
                file_id,
                len(file_ids) - sent - 1,
                type(exc).__name__,
                exc,
            )
            break
        sent += 1
    return sent


# --- Processing -----------------------------------------------------------------------------


def process_file(file_id: int) -> None:
    """Claim, parse and file one instrument file. Safe to call any number of times.

    Bad files end ``failed`` and are not retried. Transient trouble (database connection,
    storage I/O) propagates as OperationalError/InterfaceError/OSError so the task retries.
    """
    with _worker_lock(file_id) as acquired:
        if not acquired:
            logger.info("Instrument file %s is being processed elsewhere; skipping.", file_id)
            return
        if not _claim(file_id):
            return
        instrument_file = InstrumentFile.objects.select_related("aliquot", "uploaded_by").get(
            pk=file_id
        )
        _process_claimed(instrument_file)


def _process_claimed(instrument_file: InstrumentFile) -> None:
    name = instrument_file.original_name or instrument_file.file.name
    if not instrument_file.file.name:
        _finish_failed(instrument_file.pk, "no stored file (the upload was not saved)")
        return
    storage = instrument_file.file.storage
    with storage.open(instrument_file.file.name, "rb") as stored:
        head = stored.read(DETECT_BYTES)
        if not head:
            _finish_failed(instrument_file.pk, f"the file is empty; {_unrecognised_message()}")
            return
        key = registry.detect_format(name, head)
        if key is None:
            _finish_failed(instrument_file.pk, _unrecognised_message())
            return
        parser = registry.get_parser(key)
        limit = getattr(parser, "max_bytes", MAX_PARSE_BYTES)
        streaming = callable(getattr(parser, "parse_stream", None))
        # size_bytes was counted at upload; the capped read guards against a changed file.
        too_big = instrument_file.size_bytes > limit
        data = None if streaming or too_big else head + stored.read(limit)
    if too_big or (data is not None and len(data) > limit):
        size = max(instrument_file.size_bytes, len(data or b""))
        _finish_failed(
            instrument_file.pk,
            f"{size:,} bytes is too large for a {parser.label} export (at most {limit:,})",
            format=key,
            parser_version=parser.version,
        )
        return

    done = {"format": key, "parser_version": parser.version}
    try:
        result = _parse(parser, instrument_file, data, name)
    except ParseError as exc:
        _finish_failed(instrument_file.pk, exc.describe(), **done)
        return
    except OSError:
        raise  # storage trouble: transient, the task retries
    except Exception as exc:  # the contract says parsers raise only ParseError: a parser bug
        logger.exception("Parser %s crashed on instrument file %s", key, instrument_file.pk)
        _finish_failed(instrument_file.pk, _parser_bug_message(parser.label, exc), **done)
        return

    try:
        filer = filing.filer_for(result)
    except ResultError as exc:
        _finish_failed(instrument_file.pk, _parser_bug_message(parser.label, exc), **done)
        return
    # A plate or qPCR run holds many samples: a tube preset at upload (e.g. from a tube's
    # page) is not where its results go, so the file is not left saying it is on that tube.
    aliquot = instrument_file.aliquot if filer.needs_tube else None
    if aliquot is None and filer.needs_tube:
        match = match_aliquot(
            texts=[getattr(result, "sample_name", ""), getattr(result, "description", "")],
            fallback=instrument_file.original_name,
            uploader=instrument_file.uploaded_by,
        )
        if match.aliquot is None:
            _finish_review(instrument_file.pk, match.reason, **done)
            return
        aliquot = match.aliquot

    try:
        term = _preparation_term(aliquot.pk) if aliquot is not None else None
        prepared = filer.prepare(result, preparation_term=term)
    except (ResultError, TypeError, ValueError, AttributeError) as exc:
        logger.exception("Parser %s returned an unusable result for %s", key, instrument_file.pk)
        _finish_failed(instrument_file.pk, _parser_bug_message(parser.label, exc), **done)
        return
    try:
        _finish_parsed(
            instrument_file,
            aliquot=aliquot,
            store=partial_store(filer, prepared),
            on_one_tube=filer.needs_tube,
            **done,
        )
    except (DataError, IntegrityError, ValidationError) as exc:  # rolled back; refused value
        logger.exception("Could not store the results of instrument file %s", instrument_file.pk)
        _finish_failed(
            instrument_file.pk,
            f"the results could not be stored ({type(exc).__name__}: {exc}); this is a bug "
            "in ExoLIMS, not necessarily in the file. Re-process the file after an update.",
            **done,
        )


def _parse(parser, instrument_file: InstrumentFile, data: bytes | None, name: str):
    """Parse from memory, or let a streaming parser (FCS) read the stored file itself."""
    if data is not None:
        return parser.parse(data, name)
    storage = instrument_file.file.storage
    with storage.open(instrument_file.file.name, "rb") as stored:
        return parser.parse_stream(stored, name)


def partial_store(filer, prepared):
    def store(locked: InstrumentFile, aliquot: Aliquot | None) -> None:
        filer.store(prepared, instrument_file=locked, aliquot=aliquot)

    return store


def _unrecognised_message() -> str:
    labels = ", ".join(label for _key, label in registry.supported_formats())
    return f"format not recognised; supported: {labels}"


def _parser_bug_message(label: str, exc: Exception) -> str:
    return (
        f"the {label} parser failed unexpectedly ({type(exc).__name__}: {exc}); this is a "
        "bug in ExoLIMS, not necessarily in the file. Re-process the file after an update."
    )


def _preparation_term(aliquot_id: int) -> str | None:
    return (
        EVPreparation.objects.filter(aliquot_id=aliquot_id)
        .values_list("nomenclature_term", flat=True)
        .first()
    )


@contextmanager
def _worker_lock(file_id: int) -> Iterator[bool]:
    """Hold the per-file advisory lock on this connection for the duration of the block."""
    key = (_LOCK_NAMESPACE, _int4(file_id))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            except Exception:  # connection gone: the server released the lock with it
                logger.debug("Advisory lock of file %s went with its connection", file_id)


def _int4(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def _claim(file_id: int) -> bool:
    """Move the file to ``processing`` and count the attempt. False if there is nothing to do
    (already finished) or the attempts are used up (then the file is marked failed)."""
    now = timezone.now()
    max_attempts = settings.INSTRUMENT_FILE_MAX_ATTEMPTS
    claimable = InstrumentFile.objects.filter(
        pk=file_id, status__in=[FileStatus.RECEIVED, FileStatus.PROCESSING]
    )
    if claimable.filter(attempts__lt=max_attempts).update(
        status=FileStatus.PROCESSING,
        attempts=F("attempts") + 1,
        processing_started_at=now,
        updated_at=now,
    ):
        return True
    exhausted = claimable.filter(attempts__gte=max_attempts).values_list("error", flat=True)
    for last_error in exhausted:
        _finish_failed(file_id, give_up_message(max_attempts, last_error))
    return False


def give_up_message(attempts: int, last_error: str = "") -> str:
    message = (
        f"processing stopped after {attempts} attempts: the worker was lost, timed out or "
        "could not reach the database or file storage each time"
    )
    return f"{message} (last error: {last_error})" if last_error else message


def record_transient_error(file_id: int, exc: BaseException) -> None:
    """Keep the last transient error on the file for the give-up message (best effort)."""
    try:
        InstrumentFile.objects.filter(pk=file_id, status=FileStatus.PROCESSING).update(
            error=f"{type(exc).__name__}: {exc}"[:2000]
        )
    except Exception:
        logger.debug("Could not record the transient error of file %s", file_id, exc_info=True)


def give_up(file_id: int, exc: BaseException) -> None:
    """Retries are exhausted: mark the file failed unless another worker is on it now (a
    duplicate delivery) or it finished meanwhile (best effort)."""
    try:
        with _worker_lock(file_id) as acquired:
            attempts = (
                InstrumentFile.objects.filter(pk=file_id, status=FileStatus.PROCESSING)
                .values_list("attempts", flat=True)
                .first()
            )
            if acquired and attempts is not None:
                _finish_failed(file_id, give_up_message(attempts, f"{type(exc).__name__}: {exc}"))
    except Exception:  # the database is still away: the sweep finishes the job later
        logger.warning("Could not mark file %s failed; the sweep will", file_id, exc_info=True)


# --- Sweep ---------------------------------------------------------------------------------


def requeue_stuck_files(*, limit: int = SWEEP_BATCH) -> dict[str, int]:
    """Queue again the files nobody is working on: ``received`` and untouched for
    INSTRUMENT_FILE_REQUEUE_SECONDS (the broker was down, or the message was lost), or
    ``processing`` with a claim older than the task time limit plus that delay (the worker
    died and its message is stuck until Redis's visibility timeout). Files that used up
    INSTRUMENT_FILE_MAX_ATTEMPTS become ``failed`` instead. Returns the counts.

    Touching ``updated_at`` of each queued file means a file is queued at most once per
    delay, however long the queue is; a duplicate message costs one claim query.
    """
    now = timezone.now()
    quiet = timedelta(seconds=settings.INSTRUMENT_FILE_REQUEUE_SECONDS)
    stale_claim = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT) + quiet
    max_attempts = settings.INSTRUMENT_FILE_MAX_ATTEMPTS
    stuck = Q(status=FileStatus.RECEIVED, updated_at__lt=now - quiet) | Q(
        status=FileStatus.PROCESSING,
        processing_started_at__lt=now - stale_claim,
        updated_at__lt=now - quiet,
    )
    with transaction.atomic():
        rows = list(
            InstrumentFile.objects.select_for_update(skip_locked=True)
            .filter(stuck)
            .order_by("updated_at", "pk")
            .values_list("pk", "attempts", "error")[:limit]
        )
        busy = _files_being_processed()
        rows = [row for row in rows if _int4(row[0]) not in busy]
        exhausted = [
            InstrumentFile(
                pk=pk,
                status=FileStatus.FAILED,
                error=give_up_message(attempts, error),
                processed_at=now,
                updated_at=now,
            )
            for pk, attempts, error in rows
            if attempts >= max_attempts
        ]
        if exhausted:
            filing.clear_results([item.pk for item in exhausted])
            InstrumentFile.objects.bulk_update(
                exhausted, ["status", "error", "processed_at", "updated_at"]
            )
        requeue = [pk for pk, attempts, _error in rows if attempts < max_attempts]
        InstrumentFile.objects.filter(pk__in=requeue).update(updated_at=now)
        transaction.on_commit(_sender(requeue), robust=True)
    if rows:
        logger.info(
            "Sweep: %d stuck instrument file(s) queued again, %d given up",
            len(requeue),
            len(exhausted),
        )
    return {"requeued": len(requeue), "failed": len(exhausted)}


def _files_being_processed() -> set[int]:
    """Lock keys (int4 form of the file id) of files a live worker holds right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::oid AND objsubid = 2",
            [_LOCK_NAMESPACE],
        )
        return {(int(objid) + 2**31) % 2**32 - 2**31 for (objid,) in cursor.fetchall()}


# --- Outcomes (each one transaction under the row lock) ------------------------------------


def _locked_for_outcome(file_id: int) -> InstrumentFile | None:
    """The file row, locked, if it still awaits an outcome; else None (someone finished it)."""
    instrument_file = InstrumentFile.objects.select_for_update().filter(pk=file_id).first()
    if instrument_file is None or instrument_file.status not in (
        FileStatus.PROCESSING,
        FileStatus.RECEIVED,  # re-process requested while this run was under way
    ):
        return None
    return instrument_file


def _finish(file_id: int, *, status: str, fields: dict[str, Any], store=None, aliquot=None) -> None:
    with pghistory.context(reason=f"instrument file processing: {status}"), transaction.atomic():
        instrument_file = _locked_for_outcome(file_id)
        if instrument_file is None:
            logger.info("Instrument file %s was finished elsewhere; result dropped.", file_id)
            return
        filing.clear_results([file_id], refiling=store is not None)
        now = timezone.now()
        updates = {"status": status, "processed_at": now, "updated_at": now, **fields}
        InstrumentFile.objects.filter(pk=file_id).update(**updates)
        if store is not None:
            store(instrument_file, aliquot)


def _finish_failed(file_id: int, message: str, **done: str) -> None:
    _finish(file_id, status=FileStatus.FAILED, fields={"error": message, **done})


def _finish_review(file_id: int, reason: str, **done: str) -> None:
    _finish(
        file_id,
        status=FileStatus.NEEDS_REVIEW,
        fields={"error": "", "review_reason": reason, **done},
    )


def _finish_parsed(
    instrument_file: InstrumentFile,
    *,
    aliquot: Aliquot | None,
    store,
    on_one_tube: bool = True,
    **done: str,
) -> None:
    fields: dict[str, Any] = {"error": "", "review_reason": "", **done}
    if not on_one_tube:
        # The study stays: it still says whose members may see the file.
        fields["aliquot_id"] = None
    elif aliquot is not None:
        fields.update(aliquot_id=aliquot.pk, study_id=aliquot.study_id)
    _finish(
        instrument_file.pk, status=FileStatus.PARSED, fields=fields, store=store, aliquot=aliquot
    )


# --- User actions ---------------------------------------------------------------------------


def reprocess_file(*, instrument_file: InstrumentFile, user) -> InstrumentFile:
    """Run a file through processing again (e.g. after a parser fix).

    Its current results stay until the new run replaces them in one transaction. Allowed
    for the uploader and for editors/managers of the file's study.
    """
    if not can_reprocess(instrument_file=instrument_file, user=user):
        raise PermissionDenied("Only the uploader or an editor of the study can re-process.")
    with pghistory.context(user=user.pk, reason="re-process"), transaction.atomic():
        locked = InstrumentFile.objects.select_for_update().get(pk=instrument_file.pk)
        _start_over(locked)
    return InstrumentFile.objects.get(pk=instrument_file.pk)


def _start_over(locked: InstrumentFile, **target: int) -> None:
    """Put a (locked) file back to ``received`` with a fresh attempt count and queue it."""
    InstrumentFile.objects.filter(pk=locked.pk).update(
        **target,
        status=FileStatus.RECEIVED,
        attempts=0,
        error="",
        review_reason="",
        processing_started_at=None,
        updated_at=timezone.now(),
    )
    enqueue_processing(locked.pk)


def can_reprocess(*, instrument_file: InstrumentFile, user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser or instrument_file.uploaded_by_id == user.pk:
        return True
    return (
        instrument_file.study_id is not None
        and Study.objects.editable_by(user).filter(pk=instrument_file.study_id).exists()
    )


def resolve_review(*, instrument_file: InstrumentFile, aliquot: Aliquot, user) -> InstrumentFile:
    """File a ``needs_review`` upload on the tube a user picked and finish processing it.

    The numbers are parsed again from the stored file by the worker; nothing the client
    sends besides the tube is used. The user must be allowed to record results on the tube
    and to act on the file (its uploader, or anyone for files from a lab instrument).
    """
    if not Aliquot.objects.editable_by(user).filter(pk=aliquot.pk).exists():
        raise PermissionDenied("You cannot record results on that tube.")
    with pghistory.context(user=user.pk, reason="review: tube picked"), transaction.atomic():
        locked = (
            InstrumentFile.objects.select_for_update(of=("self",))
            .select_related("uploaded_by")
            .get(pk=instrument_file.pk)
        )
        if not _may_resolve(locked, user):
            raise PermissionDenied("Only the uploader can pick the tube for this file.")
        if locked.status != FileStatus.NEEDS_REVIEW:
            raise ValidationError(
                {
                    "aliquot": f"This file is {locked.get_status_display().lower()}, not waiting "
                    "for review."
                }
            )
        _start_over(locked, aliquot_id=aliquot.pk, study_id=aliquot.study_id)
    return InstrumentFile.objects.get(pk=instrument_file.pk)


def _may_resolve(instrument_file: InstrumentFile, user) -> bool:
    if user.is_superuser or instrument_file.uploaded_by_id == user.pk:
        return True
    return instrument_of(instrument_file.uploaded_by) is not None or can_reprocess(
        instrument_file=instrument_file, user=user
    )
