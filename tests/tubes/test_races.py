"""Races with real transactions: two threads, each with its own database connection, start
the same operation at the same moment. The row locks decide; the outcome must be exactly
one success and a clear refusal, never an overdrawn volume or two tubes in one well."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from samples import services
from samples.models import Aliquot, Sample

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run each call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("missing", None)] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", call())
        except ValidationError as exc:
            results[index] = ("refused", exc)
        except Exception as exc:
            results[index] = ("error", exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return results


class Rendezvous:
    """Widen the race window deterministically: the first thread through ``func`` (the
    check inside the critical section) waits until the other thread is either inside the
    same check too (no lock protected it: the test will see the damage) or blocked on a
    row lock in PostgreSQL (the lock works). The wait is bounded; nothing is timed."""

    def __init__(self) -> None:
        self.arrived = 0
        self.condition = threading.Condition()

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            with self.condition:
                self.arrived += 1
                self.condition.notify_all()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with self.condition:
                    if self.arrived >= 2 or self.condition.wait(timeout=0.02):
                        if self.arrived >= 2:
                            break
                if _a_backend_waits_on_a_lock():
                    break
            return result

        return wrapper


def _a_backend_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.fixture
def widen(monkeypatch):
    """``widen("_take_volume")``: hold the race window open around that service step."""

    def apply(name: str) -> None:
        monkeypatch.setattr(services, name, Rendezvous().wrap(getattr(services, name)))

    return apply


@pytest.mark.parametrize("source_kind", ["sample", "tube"])
def test_two_withdrawals_cannot_overdraw(sample, make_tubes, members, widen, source_kind):
    source = sample if source_kind == "sample" else make_tubes(sample, ["1.0"])[0]
    for _ in range(2):
        widen("_take_volume")
        source = type(source).objects.get(pk=source.pk)
        before = source.remaining_volume_ml
        share = (before * Decimal("0.6")).quantize(Decimal("0.0001"))
        results = race(
            lambda s=source, v=share: services.withdraw_volume(s, v, user=members["editor"]),
            lambda s=source, v=share: services.withdraw_volume(s, v, user=members["manager"]),
        )
        outcomes = sorted(kind for kind, _ in results)
        assert outcomes == ["ok", "refused"], results
        refusal = next(value for kind, value in results if kind == "refused")
        assert "left in" in refusal.message_dict["volume_ml"][0]
        after = type(source).objects.get(pk=source.pk).remaining_volume_ml
        assert after == before - share
        assert after >= 0


def test_two_splits_cannot_overdraw(sample, members, widen):
    widen("_take_volume")
    results = race(
        lambda: services.split_into_aliquots(
            source=sample, volumes_ml=[Decimal("1.5")] * 2, user=members["editor"]
        ),
        lambda: services.split_into_aliquots(
            source=sample, volumes_ml=[Decimal("1.0")] * 2, user=members["manager"]
        ),
    )
    assert sorted(kind for kind, _ in results) == ["ok", "refused"], results
    remaining = Sample.objects.get(pk=sample.pk).remaining_volume_ml
    made = sum(Aliquot.objects.values_list("volume_ml", flat=True), Decimal(0))
    assert remaining + made == Decimal("4.0") and remaining >= 0


def test_two_users_placing_into_the_same_well(sample, box, make_tubes, members, widen):
    for row in (1, 2):
        first, second = make_tubes(sample, ["0.1", "0.1"])
        widen("_occupied_message")
        results = race(
            lambda t=first, r=row: services.place_aliquot(
                aliquot=t, box=box, row=r, column=1, user=members["editor"]
            ),
            lambda t=second, r=row: services.place_aliquot(
                aliquot=t, box=box, row=r, column=1, user=members["manager"]
            ),
        )
        assert sorted(kind for kind, _ in results) == ["ok", "refused"], results
        winner = next(value for kind, value in results if kind == "ok")
        refusal = next(value for kind, value in results if kind == "refused")
        label = f"{chr(64 + row)}1"
        assert refusal.message_dict["position"] == [
            f"{label} in Box 1 is occupied by {winner.accession}."
        ]
        assert list(Aliquot.objects.filter(box=box, row=row, column=1)) == [winner]


def test_two_splits_into_the_same_box_get_different_wells(
    sample, make_sample, small_box, members, widen
):
    # Two different sources, so only the box lock keeps them from choosing the same wells.
    other = make_sample(volume_ml=Decimal("1.0"))
    widen("free_positions")
    results = race(
        lambda: services.split_into_aliquots(
            source=sample, volumes_ml=[Decimal("0.1")] * 2, box=small_box, user=members["editor"]
        ),
        lambda: services.split_into_aliquots(
            source=other, volumes_ml=[Decimal("0.1")] * 2, box=small_box, user=members["manager"]
        ),
    )
    assert [kind for kind, _ in results] == ["ok", "ok"], results
    wells = set(Aliquot.objects.filter(box=small_box).values_list("row", "column"))
    assert wells == {(1, 1), (1, 2), (2, 1), (2, 2)}
