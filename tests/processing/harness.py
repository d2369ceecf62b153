"""Real processes for the fault tests and the pipeline benchmark: a private redis-server and
Celery workers on free ports, pointed at the test database. Nothing here runs in-process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psutil

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")
STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is connected to (the test database in tests)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or ""
    port = settings_dict.get("PORT") or ""
    name = settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgresql://{auth}/{name}?host={quote(host)}" + (f"&port={port}" if port else "")
    return f"postgresql://{auth}{host or '127.0.0.1'}{':' + str(port) if port else ''}/{name}"


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


class RedisServer:
    """``redis-server --save "" --appendonly no`` on a free port: queues die with it."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER, "redis-server is not installed"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.answers, timeout=STARTUP_SECONDS, what="redis-server")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None


class Worker:
    """``celery -A tests.processing.worker_app worker`` (prefork) as a separate process."""

    def __init__(
        self,
        *,
        name: str,
        broker_url: str,
        database_url: str,
        media_root: Path,
        log_dir: Path,
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log = log_dir / f"worker-{name}.log"
        self.concurrency = concurrency
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            # settings.py runs tasks in-process under EXOLIMS_TESTING unless told not to.
            "EXOLIMS_TESTING": "1",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "MEDIA_ROOT": str(media_root),
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self, *, wait: bool = True) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tests.processing.worker_app",
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={self.concurrency}",
                    "--loglevel=INFO",
                    "--hostname",
                    f"{self.name}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--prefetch-multiplier=1",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            wait_for(self.ready, timeout=STARTUP_SECONDS, what=f"worker {self.name}")

    def ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited; log:\n{self.tail()}")
        return b" ready." in self.log.read_bytes()

    def children(self) -> list[psutil.Process]:
        assert self.process is not None
        return psutil.Process(self.process.pid).children()

    def kill_pool_child(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool) at once, like a power cut."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """Warm shutdown; SIGKILL if it takes too long."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.process = None

    def tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def celery_through(broker_url: str) -> Iterator[None]:
    """Make this process's Celery app publish to ``broker_url`` (not in-process) for a while."""
    from kombu import pools

    from exolims.celery import app

    conf = app.conf
    saved = {"broker_url": conf.broker_url, "task_always_eager": conf.task_always_eager}
    # Celery prefers the CELERY_BROKER_URL environment variable (set in CI) over its config.
    saved_env = os.environ.pop("CELERY_BROKER_URL", None)
    _forget_connections(app, pools)
    conf.update(broker_url=broker_url, task_always_eager=False)
    try:
        yield
    finally:
        _forget_connections(app, pools)
        conf.update(saved)
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = saved_env


def _forget_connections(app, pools) -> None:
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    pools.reset()
