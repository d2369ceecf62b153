"""Shared set-up for the benchmark scripts (run by hand, never by the test suite).

Every script needs ``DATABASE_URL`` pointing at a database it may fill, e.g.
``postgresql://postgres@127.0.0.1:5432/exolims_bench``; it is created if missing and
migrated before use.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_USER = "bench"
SEED_STUDIES = ("BENCH-1", "BENCH-2", "BENCH-3", "BENCH-4")
IMPORT_STUDY = "BENCH-IMPORT"


def _ensure_database(url: str) -> None:
    """CREATE DATABASE when the one in DATABASE_URL does not exist yet."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", file=sys.stderr)


def setup_django(*, migrate: bool = True) -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit(
            "Set DATABASE_URL to a database the benchmark may fill, e.g. "
            "postgresql://postgres@127.0.0.1:5432/exolims_bench"
        )
    # Only relaxes the development-secret check; the code paths measured are production ones.
    os.environ.setdefault("EXOLIMS_TESTING", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exolims.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    _ensure_database(url)

    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine_facts() -> dict[str, Any]:
    from django import get_version
    from django.db import connection

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
    import psycopg

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": get_version(),
        "psycopg": psycopg.__version__,
        "postgresql": pg_version,
        "shared_buffers": shared_buffers,
        "synchronous_commit": synchronous_commit,
        "database_host": urlsplit(os.environ["DATABASE_URL"]).hostname or "(socket)",
    }


def bench_user():
    """A plain user (not a superuser, so scoping is measured) who is a viewer of the seed
    studies and an editor of the import study."""
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username=BENCH_USER)
    if created:
        user.set_unusable_password()
        user.save()
    return user


def vacuum(*tables: str) -> None:
    """VACUUM ANALYZE: the import benchmark rolls back millions of inserted rows, and their
    dead index entries would otherwise slow down the next measurements."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
