"""Watch an instrument's export folder and upload each finished file to ExoLIMS.

Two ways to run it:

* On a machine with the ExoLIMS settings and database (the server, or a PC sharing the
  database), files are registered in-process as the instrument's account::

      python manage.py watch_instrument_folder /data/nta-exports --instrument NTA-1

* On an instrument PC without database access, files are POSTed to the API with the
  instrument's token (``manage.py create_instrument_account`` prints one)::

      python manage.py watch_instrument_folder D:\\Exports --api-url https://lims.example.org \\
          --token exo_…            (or set EXOLIMS_API_TOKEN instead of --token)

  This mode needs neither Django nor a database: the file runs on its own with Python 3.11+
  (``python watch_instrument_folder.py D:\\Exports --api-url … --token …``), so it can be
  copied to the instrument PC alone.

A file is taken once its size and modification time have not changed for ``--settle``
seconds (instrument software writes exports in several steps). Sent files move to
``DIR/done``; refused ones (empty, too large, …) to ``DIR/failed`` with a
``<name>.error.txt`` beside them saying why. Network or server trouble leaves the file in
place and it is retried with backoff. ``DIR/.exolims-watch.json`` (written atomically)
remembers what was sent, keyed by name, size, modification time and sha256, so a restart
between sending and moving never sends a file twice; and the server returns the existing
record for bytes it already has, so a duplicate is harmless anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:  # the API mode also runs without Django (standalone on an instrument PC)
    from django.core.management.base import BaseCommand, CommandError
except ImportError:  # pragma: no cover
    BaseCommand = object  # type: ignore[assignment,misc]

    class CommandError(Exception):  # type: ignore[no-redef]
        pass


STATE_NAME = ".exolims-watch.json"
DONE_DIR = "done"
FAILED_DIR = "failed"
CHUNK_BYTES = 1024 * 1024
MAX_STATE_ENTRIES = 5000
# Backoff after a transient failure: 2, 4, 8 … seconds, at most 5 minutes.
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
# A connection cut while the body was being sent, this many times for the same file, is
# taken as a refusal (typically a proxy's or the server's size limit).
MAX_CUT_OFF_SENDS = 5
# Names instrument software and editors use while writing, and desktop clutter.
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", "~", ".lock")
_IGNORED_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}
USER_AGENT = "exolims-watch-folder/1"
# The API states its upload limit in this header; re-read every so often.
LIMIT_HEADER = "X-Upload-Max-Bytes"
LIMIT_RECHECK_SECONDS = 300.0


# --- Outcomes of sending one file -----------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    record_id: int
    created: bool
    status: str = ""


class SendFailed(Exception):
    """The server refused the file for good (empty, too large, …): it goes to failed/."""


class SendLater(Exception):
    """Trouble that may pass (network, server busy, file still changing): retry later.
    ``cut_off``: the connection broke while the body was being sent."""

    def __init__(self, message: str, *, cut_off: bool = False) -> None:
        super().__init__(message)
        self.cut_off = cut_off


class SetupError(Exception):
    """Wrong token, URL or instrument: no file can be sent until someone fixes it."""


class Vanished(Exception):
    """The file disappeared (moved or deleted by someone else)."""


# --- State ----------------------------------------------------------------------------------


class WatchState:
    """Files already sent, in ``DIR/.exolims-watch.json``, replaced atomically on save."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_NAME
        self.sent: dict[str, dict[str, Any]] = {}

    @staticmethod
    def key(name: str, size: int, mtime_ns: int, sha256: str) -> str:
        return f"{name}|{size}|{mtime_ns}|{sha256}"

    def load(self) -> list[str]:
        """Read the state; a damaged file is set aside (duplicates are harmless)."""
        warnings: list[str] = []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            sent = data.get("sent", {})
            if not isinstance(sent, dict):
                raise ValueError("'sent' is not an object")
            self.sent = {str(k): v for k, v in sent.items() if isinstance(v, dict)}
        except FileNotFoundError:
            self.sent = {}
        except (ValueError, OSError, AttributeError) as exc:
            aside = self.path.with_name(f"{STATE_NAME}.damaged-{int(time.time())}")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            warnings.append(f"state file {self.path.name} unreadable ({exc}); set aside")
            self.sent = {}
        return warnings

    def was_sent(self, key: str) -> bool:
        return key in self.sent

    def record(self, key: str, entry: dict[str, Any]) -> None:
        self.sent[key] = entry
        if len(self.sent) > MAX_STATE_ENTRIES:
            oldest = sorted(self.sent, key=lambda k: str(self.sent[k].get("at", "")))
            for old in oldest[: len(self.sent) - MAX_STATE_ENTRIES]:
                del self.sent[old]
        self.save()

    def save(self) -> None:
        temporary = self.path.with_name(f"{STATE_NAME}.tmp-{os.getpid()}")
        payload = json.dumps({"version": 1, "sent": self.sent}, indent=1, sort_keys=True)
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


# --- The watcher ----------------------------------------------------------------------------


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time this size and mtime were first seen
    retry_at: float = 0.0
    failures: int = 0
    cut_offs: int = 0


@dataclass
class Summary:
    sent: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.sent)} sent, {len(self.already)} already there, "
            f"{len(self.failed)} failed, {len(self.waiting)} waiting"
        )


def is_candidate(name: str) -> bool:
    lowered = name.lower()
    return not (
        name.startswith((".", "~$", "~"))
        or lowered.endswith(_TEMP_SUFFIXES)
        or lowered in _IGNORED_NAMES
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class FolderWatcher:
    """Scans one folder; ``scan()`` sends every file that has settled. Clocks are
    injectable so the settle logic can be tested without waiting."""

    def __init__(
        self,
        directory: Path,
        send: Callable[[Path, str], Sent],
        *,
        settle: float = 3.0,
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.send = send
        self.settle = settle
        self.log = log
        self.clock = clock
        self.wall_clock = wall_clock
        self.state = WatchState(directory)
        for warning in self.state.load():
            self.log(f"warning: {warning}")
        self._seen: dict[str, _Seen] = {}
        self._reported: set[tuple[str, str]] = set()

    # -- scanning -----------------------------------------------------------------------

    def scan(self, *, once: bool = False) -> Summary:
        """One pass. Continuous mode: a file is ready once unchanged for ``settle`` seconds
        between scans. ``once``: ready if last modified at least ``settle`` seconds ago."""
        summary = Summary()
        now = self.clock()
        present = set()
        for path in self._candidates():
            name = path.name
            present.add(name)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            except PermissionError as exc:
                self._report_once(name, "unreadable", f"{name}: cannot read it yet ({exc})")
                continue
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                seen = _Seen(stat.st_size, stat.st_mtime_ns, since=now)
                self._seen[name] = seen
            if once:
                ready = self.wall_clock() - stat.st_mtime >= self.settle
            else:
                ready = now - seen.since >= self.settle
            if not ready or now < seen.retry_at:
                summary.waiting.append(name)
                continue
            self._handle(path, seen, summary)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return summary

    def _candidates(self) -> Iterator[Path]:
        try:
            entries = sorted(os.scandir(self.directory), key=lambda entry: entry.name)
        except FileNotFoundError:
            raise SetupError(f"The folder {self.directory} no longer exists.") from None
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and is_candidate(entry.name):
                    yield Path(entry.path)
            except OSError:
                continue

    # -- one file -------------------------------------------------------------------------

    def _handle(self, path: Path, seen: _Seen, summary: Summary) -> None:
        name = path.name
        try:
            digest = sha256_of(path)
            stat = path.stat()
        except FileNotFoundError:
            self._seen.pop(name, None)
            return
        except PermissionError as exc:
            self._report_once(name, "unreadable", f"{name}: cannot read it yet ({exc})")
            summary.waiting.append(name)
            return
        if (stat.st_size, stat.st_mtime_ns) != (seen.size, seen.mtime_ns):
            # Still being written after all: start settling again.
            self._seen[name] = _Seen(stat.st_size, stat.st_mtime_ns, since=self.clock())
            summary.waiting.append(name)
            return
        key = WatchState.key(name, stat.st_size, stat.st_mtime_ns, digest)
        if self.state.was_sent(key):
            # Sent before a restart (or a failed move): never send it twice, just file it.
            summary.already.append(name)
            self.log(f"{name}: sent before; moving it to {DONE_DIR}/")
            self._move(path, DONE_DIR)
            return
        try:
            result = self.send(path, name)
        except Vanished:
            self._seen.pop(name, None)
            return
        except SendLater as exc:
            self._retry_later(path, seen, exc, summary)
            return
        except SendFailed as exc:
            summary.failed.append(name)
            self.log(f"{name}: refused: {exc}")
            self._fail(path, str(exc))
            self._seen.pop(name, None)
            return
        entry = {
            "name": name,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": digest,
            "record_id": result.record_id,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            self.state.record(key, entry)
        except OSError as exc:
            # Only a restart before the move could send it again, which the server answers
            # with the existing record.
            self._report_once(name, "state", f"warning: cannot write {STATE_NAME} ({exc})")
        if result.created:
            summary.sent.append(name)
            self.log(f"{name}: sent as file #{result.record_id} ({result.status or 'received'})")
        else:
            summary.already.append(name)
            self.log(f"{name}: already uploaded as file #{result.record_id}")
        self._move(path, DONE_DIR)
        self._seen.pop(name, None)

    def _retry_later(self, path: Path, seen: _Seen, exc: SendLater, summary: Summary) -> None:
        name = path.name
        seen.failures += 1
        if exc.cut_off:
            seen.cut_offs += 1
            if seen.cut_offs >= MAX_CUT_OFF_SENDS:
                message = (
                    f"the server closed the connection {seen.cut_offs} times while receiving "
                    f"this file ({exc}); it is probably larger than the server (or a proxy in "
                    "front of it) accepts"
                )
                summary.failed.append(name)
                self.log(f"{name}: refused: {message}")
                self._fail(path, message)
                self._seen.pop(name, None)
                return
        delay = min(RETRY_BASE_SECONDS * 2 ** (seen.failures - 1), RETRY_MAX_SECONDS)
        seen.retry_at = self.clock() + delay
        summary.waiting.append(name)
        self.log(f"{name}: not sent ({exc}); retrying in {delay:.0f} s")

    def _fail(self, path: Path, message: str) -> None:
        target = self._move(path, FAILED_DIR)
        if target is None:
            return
        note = target.with_name(target.name + ".error.txt")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            note.write_text(f"{path.name} was not uploaded ({stamp}):\n{message}\n", "utf-8")
        except OSError as exc:
            self.log(f"{path.name}: could not write {note.name} ({exc})")

    def _move(self, path: Path, folder: str) -> Path | None:
        target_dir = self.directory / folder
        try:
            target_dir.mkdir(exist_ok=True)
            target = _free_name(target_dir, path.name)
            os.replace(path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            # Still open in the instrument software, say: the next scan tries again (and the
            # state file keeps a sent file from being sent twice).
            self._report_once(path.name, f"move-{folder}", f"{path.name}: cannot move ({exc})")
            return None
        return target

    def _report_once(self, name: str, kind: str, message: str) -> None:
        if (name, kind) not in self._reported:
            self._reported.add((name, kind))
            self.log(message)


def _free_name(directory: Path, name: str) -> Path:
    target = directory / name
    if not target.exists():
        return target
    stem, suffix = os.path.splitext(name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for number in range(1, 1000):
        target = directory / f"{stem}.{stamp}-{number}{suffix}"
        if not target.exists():
            return target
    return directory / f"{stem}.{stamp}-{secrets.token_hex(4)}{suffix}"


# --- Senders --------------------------------------------------------------------------------


class ApiSender:
    """POSTs a file to ``/api/v1/instrument-files/`` with a token (urllib, streamed)."""

    def __init__(
        self, api_url: str, token: str, *, instrument: str = "", timeout: float = 300.0
    ) -> None:
        self.url = endpoint_url(api_url)
        self.token = token
        self.instrument = instrument
        self.timeout = timeout
        self._limit: int | None = None
        self._limit_read_at: float | None = None

    def __call__(self, path: Path, name: str) -> Sent:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise Vanished() from None
        limit = self.server_limit()
        if limit is not None and size > limit:
            # Sending it would only be cut off (or answered 413 after gigabytes).
            raise SendFailed(
                f"the file is {size:,} bytes, over the server's upload limit of {limit:,} bytes"
            )
        boundary = "exolims-" + secrets.token_hex(16)
        head = b""
        if self.instrument:
            head += _form_field(boundary, "instrument", self.instrument)
        head += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; {_filename_params(name)}\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.url,
            data=_body(path, size, head, tail),
            method="POST",
            headers={
                "Authorization": f"Token {self.token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = _json(response.read())
                code = response.status
        except urllib.error.HTTPError as exc:
            raise _http_failure(exc.code, _json(exc.read())) from None
        except _FileShrank:
            raise SendLater("the file shrank while it was being sent") from None
        except urllib.error.URLError as exc:
            # urllib wraps any OSError raised while sending, the file's own included.
            reason = exc.reason
            if isinstance(reason, FileNotFoundError):
                raise Vanished() from None
            if isinstance(reason, _CUT_OFF):
                raise SendLater(
                    f"connection closed by the server: {reason}", cut_off=True
                ) from None
            raise SendLater(f"cannot reach {self.url}: {reason}") from None
        except _CUT_OFF as exc:  # while waiting for the answer
            raise SendLater(f"connection closed by the server: {exc}", cut_off=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise SendLater(f"no answer from {self.url}: {exc}") from None
        if not isinstance(payload, dict) or "id" not in payload:
            raise SendLater(f"unexpected answer from the server (HTTP {code})")
        return Sent(
            record_id=int(payload["id"]), created=code == 201, status=payload.get("status", "")
        )

    def server_limit(self) -> int | None:
        """The server's upload limit (``X-Upload-Max-Bytes``), read at most every few
        minutes; None if it does not say."""
        now = time.monotonic()
        if self._limit_read_at is not None and now - self._limit_read_at < LIMIT_RECHECK_SECONDS:
            return self._limit
        request = urllib.request.Request(
            self.url + "?ids=0",
            headers={
                "Authorization": f"Token {self.token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=min(self.timeout, 30)) as response:
                value = response.headers.get(LIMIT_HEADER, "")
        except urllib.error.HTTPError as exc:
            raise _http_failure(exc.code, _json(exc.read())) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise SendLater(f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}") from None
        self._limit = int(value) if value.strip().isdigit() else None
        self._limit_read_at = now
        return self._limit


class _FileShrank(Exception):
    pass


_CUT_OFF = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def endpoint_url(api_url: str) -> str:
    """The upload endpoint from either the site's address or the endpoint itself."""
    url = api_url.strip()
    if "://" not in url:
        raise SetupError(f"--api-url {api_url!r} is not a URL (e.g. https://lims.example.org).")
    if "instrument-files" in url:
        return url if url.endswith("/") else url + "/"
    return url.rstrip("/") + "/api/v1/instrument-files/"


def _form_field(boundary: str, name: str, value: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def _filename_params(name: str) -> str:
    fallback = "".join(
        char if 32 <= ord(char) < 127 and char not in '"\\' else "_" for char in name
    )
    # RFC 2231 form last: parsers that know it (Django does) use it over the fallback.
    return f"filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def _body(path: Path, size: int, head: bytes, tail: bytes) -> Iterator[bytes]:
    yield head
    with open(path, "rb") as handle:
        remaining = size
        while remaining:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise _FileShrank()
            remaining -= len(chunk)
            yield chunk
    yield tail


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _detail(payload: Any) -> str:
    if isinstance(payload, dict):
        if "detail" in payload:
            return str(payload["detail"])
        parts = []
        for key, value in payload.items():
            messages = value if isinstance(value, list) else [value]
            parts.append(f"{key}: {' '.join(str(m) for m in messages)}")
        return "; ".join(parts)
    return "no details"


def _http_failure(code: int, payload: Any) -> Exception:
    detail = _detail(payload)
    if code in (401, 403):
        return SetupError(f"the server refused the token (HTTP {code}): {detail}")
    if code in (404, 405):
        return SetupError(f"no upload endpoint at that address (HTTP {code}); check --api-url")
    if code in (408, 425, 429) or code >= 500:
        return SendLater(f"HTTP {code}: {detail}")
    return SendFailed(f"HTTP {code}: {detail}")


class InProcessSender:
    """Registers a file through ``assays.intake`` as the instrument's account."""

    def __init__(self, instrument) -> None:
        self.instrument = instrument

    def __call__(self, path: Path, name: str) -> Sent:
        from django.core.exceptions import PermissionDenied, ValidationError
        from django.core.files import File
        from django.db import InterfaceError, OperationalError, close_old_connections, connection

        from assays.intake import FileChanged, register_instrument_file

        def drop_stale_connections() -> None:
            # A long-running watcher outlives connections (DB restarts, CONN_MAX_AGE); never
            # inside a caller's transaction, though.
            if not connection.in_atomic_block:
                close_old_connections()

        drop_stale_connections()
        try:
            with open(path, "rb") as handle:
                record, created = register_instrument_file(
                    upload=File(handle, name=name),
                    user=self.instrument.account,
                    instrument=self.instrument,
                    original_name=name,
                )
        except FileNotFoundError:
            raise Vanished() from None
        except FileChanged as exc:
            raise SendLater(str(exc)) from None
        except ValidationError as exc:
            raise SendFailed(" ".join(exc.messages)) from None
        except PermissionDenied as exc:
            raise SendFailed(str(exc) or "not allowed") from None
        except (OperationalError, InterfaceError) as exc:
            drop_stale_connections()
            raise SendLater(f"database unavailable: {exc}") from None
        except OSError as exc:
            raise SendLater(f"cannot read or store the file: {exc}") from None
        return Sent(record_id=record.pk, created=created, status=record.status)


# --- Running it -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", help="The folder the instrument exports to.")
    parser.add_argument(
        "--instrument",
        default="",
        help="Instrument name (needed in-process; in API mode the token says it).",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="Seconds between scans (default 2)."
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="Seconds a file's size and time must stay unchanged before it is sent (default 3).",
    )
    parser.add_argument(
        "--once", action="store_true", help="Scan once and exit (files older than --settle)."
    )
    parser.add_argument(
        "--api-url",
        default="",
        help="Send through the API of this ExoLIMS site instead of the database.",
    )
    parser.add_argument(
        "--token",
        default="",
        help="API token for --api-url (default: the EXOLIMS_API_TOKEN environment variable).",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="Seconds one upload may take (API mode)."
    )


def run(
    watcher: FolderWatcher,
    *,
    once: bool,
    interval: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    if once:
        summary = watcher.scan(once=True)
        log(str(summary))
        return summary
    log(f"Watching {watcher.directory} (every {interval:g} s, settle {watcher.settle:g} s)")
    while True:
        watcher.scan()
        sleep(interval)


def _check_options(options: dict[str, Any]) -> Path:
    directory = Path(options["directory"]).expanduser().resolve()
    if not directory.is_dir():
        raise SetupError(f"{directory} is not a folder.")
    if options["interval"] <= 0 or options["settle"] < 0:
        raise SetupError("--interval must be positive and --settle not negative.")
    return directory


def _api_sender(options: dict[str, Any]) -> ApiSender:
    token = options["token"] or os.environ.get("EXOLIMS_API_TOKEN", "")
    if not token:
        raise SetupError("--api-url needs --token (or EXOLIMS_API_TOKEN).")
    return ApiSender(
        options["api_url"], token, instrument=options["instrument"], timeout=options["timeout"]
    )


class Command(BaseCommand):
    help = (
        "Upload each finished file in an instrument's export folder, then move it to "
        "done/ or failed/. In-process with --instrument, or through the API with --api-url."
    )

    def add_arguments(self, parser) -> None:
        add_arguments(parser)

    def handle(self, *args, **options) -> None:
        def log(message: str) -> None:
            self.stdout.write(message)

        try:
            directory = _check_options(options)
            if options["api_url"]:
                sender: Callable[[Path, str], Sent] = _api_sender(options)
            else:
                sender = InProcessSender(self._instrument(options["instrument"]))
            watcher = FolderWatcher(directory, sender, settle=options["settle"], log=log)
            run(watcher, once=options["once"], interval=options["interval"], log=log)
        except SetupError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            log("Stopped.")

    @staticmethod
    def _instrument(name: str):
        from assays.models import Instrument

        if not name.strip():
            raise SetupError("Say which instrument with --instrument NAME (or use --api-url).")
        instrument = (
            Instrument.objects.select_related("account").filter(name__iexact=name.strip()).first()
        )
        if instrument is None:
            raise SetupError(f"No instrument {name!r}.")
        if not instrument.is_active:
            raise SetupError(f"{instrument.name} is marked inactive.")
        if instrument.account is None or not instrument.account.is_active:
            raise SetupError(
                f"{instrument.name} has no active account; create one with "
                f"`manage.py create_instrument_account {instrument.name}`."
            )
        return instrument


def main(argv: list[str] | None = None) -> int:
    """Standalone API mode, for an instrument PC with Python but no ExoLIMS install."""
    parser = argparse.ArgumentParser(description=Command.help)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    if not options["api_url"]:
        parser.error("standalone use needs --api-url (in-process mode runs under manage.py)")
    try:
        watcher = FolderWatcher(
            _check_options(options), _api_sender(options), settle=options["settle"]
        )
        run(watcher, once=options["once"], interval=options["interval"], log=print)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Stopped.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
