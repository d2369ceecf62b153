"""watch_instrument_folder: settle logic, done/failed moves, restarts, and both ways of
sending (in-process and through the API of a live server)."""

from __future__ import annotations

import json
import os
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from assays.management.commands import watch_instrument_folder as watch
from assays.models import Instrument, InstrumentFile
from exolims.models import ApiToken

from .conftest import NTA_BYTES


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A sender that records what it was given and answers as told."""

    def __init__(self, *answers) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.answers = list(answers)

    def __call__(self, path: Path, name: str) -> watch.Sent:
        self.calls.append((name, path.read_bytes()))
        answer = self.answers.pop(0) if self.answers else watch.Sent(len(self.calls), True)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "exports"
    path.mkdir()
    return path


def watcher_for(folder: Path, send, clock: Clock, logs: list[str] | None = None):
    return watch.FolderWatcher(
        folder,
        send,
        settle=3.0,
        log=(logs if logs is not None else []).append,
        clock=clock,
        wall_clock=time.time,
    )


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_file()) if path.exists() else []


def make_old(path: Path, seconds: float = 3600) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


# --- Settling -----------------------------------------------------------------------------


def test_a_file_is_sent_once_unchanged_for_the_settle_time(folder):
    clock, sender = Clock(), Recorder()
    watcher = watcher_for(folder, sender, clock)
    (folder / "ExperimentSummary.csv").write_bytes(NTA_BYTES)
    assert watcher.scan().waiting == ["ExperimentSummary.csv"]
    clock.now += 2
    watcher.scan()
    assert sender.calls == []
    clock.now += 1.5
    summary = watcher.scan()
    assert summary.sent == ["ExperimentSummary.csv"]
    assert sender.calls == [("ExperimentSummary.csv", NTA_BYTES)]
    assert files_in(folder / "done") == ["ExperimentSummary.csv"]
    assert files_in(folder) == [watch.STATE_NAME]


def test_a_growing_file_waits_until_it_stops_growing(folder):
    clock, sender = Clock(), Recorder()
    watcher = watcher_for(folder, sender, clock)
    export = folder / "run.txt"
    export.write_bytes(b"part one\n")
    watcher.scan()
    clock.now += 2.5
    with open(export, "ab") as handle:  # the instrument writes its next block
        handle.write(b"part two\n")
    watcher.scan()
    clock.now += 2.5
    watcher.scan()
    assert sender.calls == []  # only 2.5 s since the last change
    clock.now += 1
    watcher.scan()
    assert sender.calls == [("run.txt", b"part one\npart two\n")]


def test_a_file_changing_while_hashed_starts_settling_again(folder, monkeypatch):
    clock, sender = Clock(), Recorder()
    watcher = watcher_for(folder, sender, clock)
    export = folder / "run.txt"
    export.write_bytes(b"v1")
    watcher.scan()
    clock.now += 5
    real_hash = watch.sha256_of

    def hash_then_grow(path: Path) -> str:
        digest = real_hash(path)
        with open(path, "ab") as handle:
            handle.write(b" and more")
        return digest

    monkeypatch.setattr(watch, "sha256_of", hash_then_grow)
    assert watcher.scan().waiting == ["run.txt"]
    assert sender.calls == []


def test_temporary_and_hidden_files_are_left_alone(folder):
    clock, sender = Clock(), Recorder()
    watcher = watcher_for(folder, sender, clock)
    for name in ("~$report.xlsx", ".hidden.csv", "export.csv.part", "x.tmp", "Thumbs.db"):
        (folder / name).write_bytes(b"data")
    (folder / "subfolder").mkdir()
    watcher.scan()
    clock.now += 10
    watcher.scan()
    assert sender.calls == []


def test_once_takes_files_last_modified_before_the_settle_time(folder):
    sender = Recorder()
    watcher = watcher_for(folder, sender, Clock())
    old, fresh = folder / "old.csv", folder / "fresh.csv"
    old.write_bytes(b"old")
    fresh.write_bytes(b"fresh")
    make_old(old)
    summary = watcher.scan(once=True)
    assert (summary.sent, summary.waiting) == (["old.csv"], ["fresh.csv"])


# --- Outcomes -----------------------------------------------------------------------------


def test_a_refused_file_goes_to_failed_with_the_reason_beside_it(folder):
    clock = Clock()
    sender = Recorder(watch.SendFailed("HTTP 400: file: The file is empty."))
    watcher = watcher_for(folder, sender, clock)
    (folder / "empty.csv").write_bytes(b"")
    watcher.scan()
    clock.now += 5
    summary = watcher.scan()
    assert summary.failed == ["empty.csv"]
    assert files_in(folder / "failed") == ["empty.csv", "empty.csv.error.txt"]
    note = (folder / "failed" / "empty.csv.error.txt").read_text()
    assert "The file is empty." in note
    # Failures are not remembered: put back (fixed), the file is tried again.
    (folder / "failed" / "empty.csv").rename(folder / "empty.csv")
    (folder / "empty.csv").write_bytes(b"now with data")
    watcher.scan()
    clock.now += 5
    assert watcher.scan().sent == ["empty.csv"]


def test_a_second_file_of_the_same_name_does_not_overwrite_the_first_in_done(folder):
    clock = Clock()
    watcher = watcher_for(folder, Recorder(), clock)
    for content in (b"first", b"second"):
        (folder / "ExperimentSummary.csv").write_bytes(content)
        watcher.scan()
        clock.now += 5
        watcher.scan()
    done = files_in(folder / "done")
    assert len(done) == 2 and "ExperimentSummary.csv" in done
    assert sorted((folder / "done" / name).read_bytes() for name in done) == [b"first", b"second"]


def test_trouble_that_may_pass_is_retried_with_backoff(folder):
    clock, logs = Clock(), []
    sender = Recorder(watch.SendLater("cannot reach the server"), watch.SendLater("HTTP 503"))
    watcher = watcher_for(folder, sender, clock, logs)
    (folder / "a.csv").write_bytes(b"a")
    watcher.scan()
    clock.now += 5
    watcher.scan()  # first failure: retry in 2 s
    watcher.scan()
    assert len(sender.calls) == 1
    clock.now += 2
    watcher.scan()  # second failure: retry in 4 s
    clock.now += 3
    watcher.scan()
    assert len(sender.calls) == 2
    clock.now += 1
    assert watcher.scan().sent == ["a.csv"]
    assert any("retrying in 4 s" in line for line in logs)


def test_a_connection_cut_off_again_and_again_is_a_refusal(folder):
    clock = Clock()
    cut = [watch.SendLater("broken pipe", cut_off=True) for _ in range(watch.MAX_CUT_OFF_SENDS)]
    watcher = watcher_for(folder, Recorder(*cut), clock)
    (folder / "huge.bin").write_bytes(b"x" * 100)
    watcher.scan()
    for _ in range(watch.MAX_CUT_OFF_SENDS):
        clock.now += watch.RETRY_MAX_SECONDS
        watcher.scan()
    assert files_in(folder / "failed") == ["huge.bin", "huge.bin.error.txt"]
    assert "larger than the server" in (folder / "failed" / "huge.bin.error.txt").read_text()


def test_a_vanished_file_is_forgotten(folder):
    clock = Clock()

    def taken_away(path: Path, name: str):
        path.unlink()
        raise watch.Vanished()

    watcher = watcher_for(folder, taken_away, clock)
    (folder / "a.csv").write_bytes(b"a")
    watcher.scan()
    clock.now += 5
    summary = watcher.scan()
    assert (summary.sent, summary.failed) == ([], [])
    assert not (folder / "done").exists() and not (folder / "failed").exists()


def test_a_file_locked_by_the_instrument_is_retried(folder, monkeypatch):
    clock, sender, logs = Clock(), Recorder(), []
    watcher = watcher_for(folder, sender, clock, logs)
    (folder / "a.csv").write_bytes(b"a")
    real_hash = watch.sha256_of
    attempts = []

    def locked_once(path: Path) -> str:
        attempts.append(path)
        if len(attempts) == 1:
            raise PermissionError("file in use")
        return real_hash(path)

    monkeypatch.setattr(watch, "sha256_of", locked_once)
    watcher.scan()
    clock.now += 5
    assert watcher.scan().waiting == ["a.csv"]
    assert watcher.scan().sent == ["a.csv"]
    assert sum("cannot read it yet" in line for line in logs) == 1


def test_a_restart_between_sending_and_moving_does_not_send_again(folder, monkeypatch):
    clock = Clock()
    (folder / "a.csv").write_bytes(NTA_BYTES)
    make_old(folder / "a.csv")
    real_replace = os.replace

    def move_fails(source, target):
        if Path(target).parent.name == watch.DONE_DIR:
            raise PermissionError("still open in the instrument software")
        return real_replace(source, target)

    monkeypatch.setattr(watch.os, "replace", move_fails)
    first = Recorder(watch.Sent(41, True))
    assert watcher_for(folder, first, clock).scan(once=True).sent == ["a.csv"]
    assert files_in(folder) == [watch.STATE_NAME, "a.csv"]
    state = json.loads((folder / watch.STATE_NAME).read_text())
    [(key, entry)] = state["sent"].items()
    assert key.startswith("a.csv|") and entry["record_id"] == 41 and len(entry["sha256"]) == 64

    monkeypatch.setattr(watch.os, "replace", real_replace)

    def must_not_send(path: Path, name: str):
        raise AssertionError("sent twice")

    restarted = watcher_for(folder, must_not_send, Clock())
    assert restarted.scan(once=True).already == ["a.csv"]
    assert files_in(folder / "done") == ["a.csv"]


def test_a_damaged_state_file_is_set_aside(folder):
    (folder / watch.STATE_NAME).write_text("{not json")
    logs: list[str] = []
    watcher = watcher_for(folder, Recorder(), Clock(), logs)
    assert watcher.state.sent == {}
    assert any("unreadable" in line for line in logs)
    assert any(name.startswith(f"{watch.STATE_NAME}.damaged-") for name in files_in(folder))


def test_the_state_stays_bounded(folder, monkeypatch):
    monkeypatch.setattr(watch, "MAX_STATE_ENTRIES", 3)
    state = watch.WatchState(folder)
    for number in range(5):
        state.record(f"k{number}", {"at": f"2025-01-0{number + 1}"})
    assert sorted(watch.WatchState(folder).sent) == []  # not loaded yet
    reloaded = watch.WatchState(folder)
    reloaded.load()
    assert sorted(reloaded.sent) == ["k2", "k3", "k4"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://lims.example.org", "https://lims.example.org/api/v1/instrument-files/"),
        ("https://lims.example.org/", "https://lims.example.org/api/v1/instrument-files/"),
        ("http://h:8000/api/v1/instrument-files", "http://h:8000/api/v1/instrument-files/"),
    ],
)
def test_the_api_url_may_be_the_site_or_the_endpoint(given, expected):
    assert watch.endpoint_url(given) == expected


# --- The command, in-process ----------------------------------------------------------------


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("watch_instrument_folder", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_once_in_process_registers_as_the_instrument(
    folder, instrument_account, enqueued, django_capture_on_commit_callbacks
):
    (folder / "ExperimentSummary.csv").write_bytes(NTA_BYTES)
    (folder / "empty.csv").write_bytes(b"")
    for path in folder.iterdir():
        make_old(path)
    with django_capture_on_commit_callbacks(execute=True):
        output = run_command(str(folder), "--instrument", "nta-1", "--once")
    record = InstrumentFile.objects.get()
    assert (record.original_name, record.uploaded_by, record.instrument.name) == (
        "ExperimentSummary.csv",
        instrument_account,
        "NTA-1",
    )
    assert enqueued == [record.pk]
    assert files_in(folder / "done") == ["ExperimentSummary.csv"]
    assert files_in(folder / "failed") == ["empty.csv", "empty.csv.error.txt"]
    assert "The file is empty." in (folder / "failed" / "empty.csv.error.txt").read_text()
    assert "1 sent, 0 already there, 1 failed, 0 waiting" in output

    # The same bytes under another name: harmless, filed as already there.
    (folder / "copy.csv").write_bytes(NTA_BYTES)
    make_old(folder / "copy.csv")
    output = run_command(str(folder), "--instrument", "NTA-1", "--once")
    assert f"already uploaded as file #{record.pk}" in output
    assert InstrumentFile.objects.count() == 1


@pytest.mark.django_db
def test_the_command_explains_what_is_missing(folder, instrument, make_user):
    with pytest.raises(CommandError, match="--instrument"):
        run_command(str(folder), "--once")
    with pytest.raises(CommandError, match="No instrument"):
        run_command(str(folder), "--instrument", "Nope", "--once")
    with pytest.raises(CommandError, match="create_instrument_account"):
        run_command(str(folder), "--instrument", "NTA-1", "--once")
    with pytest.raises(CommandError, match="not a folder"):
        run_command(str(folder / "missing"), "--instrument", "NTA-1", "--once")
    with pytest.raises(CommandError, match="needs --token"):
        run_command(str(folder), "--api-url", "http://localhost:1", "--once")


@pytest.mark.django_db
def test_the_watch_loop_keeps_scanning(folder, instrument_account, enqueued):
    (folder / "a.csv").write_bytes(b"a")
    make_old(folder / "a.csv")
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    watcher = watch.FolderWatcher(folder, watch.InProcessSender(Instrument.objects.get()), settle=0)
    with pytest.raises(KeyboardInterrupt):
        watch.run(watcher, once=False, interval=0.5, log=lambda _m: None, sleep=sleep)
    assert sleeps == [0.5, 0.5, 0.5]
    assert files_in(folder / "done") == ["a.csv"]


# --- The command through the API of a live server ------------------------------------------


@pytest.fixture
def token_key(instrument_account) -> str:
    return ApiToken.issue(user=instrument_account, name="instrument NTA-1")[1]


@pytest.mark.django_db(transaction=True)
def test_api_mode_posts_files_to_a_live_server(
    live_server, folder, token_key, instrument, enqueued, settings
):
    settings.INSTRUMENT_FILE_MAX_BYTES = 50_000
    files = {
        "Probe é 1:1000.csv": NTA_BYTES,
        "empty.csv": b"",
        "big.bin": b"x" * 200_000,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
        make_old(folder / name)
    output = run_command(str(folder), "--api-url", live_server.url, "--token", token_key, "--once")
    record = InstrumentFile.objects.get()
    assert (record.original_name, record.instrument) == ("Probe é 1:1000.csv", instrument)
    assert record.file.read() == NTA_BYTES
    assert files_in(folder / "done") == ["Probe é 1:1000.csv"]
    assert files_in(folder / "failed") == [
        "big.bin",
        "big.bin.error.txt",
        "empty.csv",
        "empty.csv.error.txt",
    ]
    assert (
        "over the server's upload limit of 50,000 bytes"
        in (folder / "failed" / "big.bin.error.txt").read_text()
    )
    assert "The file is empty." in (folder / "failed" / "empty.csv.error.txt").read_text()
    assert "1 sent" in output

    # Standalone (no manage.py): the same bytes again are harmless.
    (folder / "again.csv").write_bytes(NTA_BYTES)
    make_old(folder / "again.csv")
    endpoint = f"{live_server.url}/api/v1/instrument-files/"
    code = watch.main([str(folder), "--api-url", endpoint, "--once", "--token", token_key])
    assert code == 0
    assert InstrumentFile.objects.count() == 1
    assert "again.csv" in files_in(folder / "done")


@pytest.mark.django_db(transaction=True)
def test_api_mode_stops_on_a_bad_token_and_keeps_the_files(live_server, folder, instrument):
    (folder / "a.csv").write_bytes(b"a")
    make_old(folder / "a.csv")
    with pytest.raises(CommandError, match="refused the token"):
        run_command(str(folder), "--api-url", live_server.url, "--token", "exo_wrong", "--once")
    assert files_in(folder) == ["a.csv"]


def test_api_mode_waits_while_the_server_is_unreachable(folder):
    (folder / "a.csv").write_bytes(b"a")
    make_old(folder / "a.csv")
    sender = watch.ApiSender("http://127.0.0.1:9", "exo_x", timeout=2)
    summary = watch.FolderWatcher(folder, sender, settle=1, log=lambda _m: None).scan(once=True)
    assert summary.waiting == ["a.csv"]
    assert files_in(folder) == ["a.csv"]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (400, watch.SendFailed),
        (409, watch.SendFailed),
        (413, watch.SendFailed),
        (401, watch.SetupError),
        (403, watch.SetupError),
        (404, watch.SetupError),
        (429, watch.SendLater),
        (502, watch.SendLater),
    ],
)
def test_http_answers_are_sorted_into_refusals_setup_errors_and_retries(code, kind):
    failure = watch._http_failure(code, {"detail": "why"})
    assert isinstance(failure, kind)
    assert f"HTTP {code}" in str(failure)


@pytest.mark.django_db(transaction=True)
def test_api_mode_413_from_the_server_is_a_refusal(
    live_server, folder, token_key, instrument, enqueued, settings, monkeypatch
):
    """A server that does not state its limit still refuses with 413 (the body is read and
    discarded by the test server, so the answer arrives)."""
    settings.INSTRUMENT_FILE_MAX_BYTES = 50_000
    monkeypatch.setattr(watch.ApiSender, "server_limit", lambda self: None)
    (folder / "big.bin").write_bytes(b"x" * 60_000)
    make_old(folder / "big.bin")
    run_command(str(folder), "--api-url", live_server.url, "--token", token_key, "--once")
    assert "HTTP 413" in (folder / "failed" / "big.bin.error.txt").read_text()
    assert not InstrumentFile.objects.exists()
