"""apps.core.caching against the suite's real Redis cache: a value computed once while fresh,
served stale while one request refreshes it, never computed by every request at once."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from django.core.cache import cache

from apps.core import caching
from apps.core.caching import cached


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex}"


class Counter:
    def __init__(self, pause: float = 0.0) -> None:
        self.calls = 0
        self.pause = pause
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.calls += 1
            calls = self.calls
        time.sleep(self.pause)
        return calls


def visits(key: str, compute: Any, n: int) -> list[tuple[int, bool]]:
    """``n`` requests at once asking for ``key``'s value: what each got."""
    results: list[tuple[int, bool]] = []

    def visit() -> None:
        results.append(cached(key, 60, compute))

    threads = [threading.Thread(target=visit) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_a_fresh_value_is_computed_once(key):
    compute = Counter()
    assert cached(key, 60, compute) == (1, True)
    assert cached(key, 60, compute) == (1, False)
    assert compute.calls == 1


def test_a_stale_value_is_refreshed_by_the_request_that_takes_the_lock(key, monkeypatch):
    compute = Counter()
    cached(key, 60, compute)
    later = time.time() + 61
    monkeypatch.setattr(caching.time, "time", lambda: later)
    # Another request is refreshing it: this one is served the stale value at once.
    assert cache.add(f"cached:{key}:refreshing", 1, 30)
    assert cached(key, 60, compute) == (1, False)
    assert compute.calls == 1
    cache.delete(f"cached:{key}:refreshing")
    # No one is: this one refreshes it, and lets the lock go.
    assert cached(key, 60, compute) == (2, True)
    assert cache.get(f"cached:{key}:refreshing") is None
    assert cached(key, 60, compute) == (2, False)


def test_many_requests_at_an_expiry_compute_it_once(key, monkeypatch):
    """Every request finding the value expired computed it: a stampede on the database."""
    compute = Counter(pause=0.5)
    cached(key, 60, compute)
    later = time.time() + 61
    monkeypatch.setattr(caching.time, "time", lambda: later)
    results = visits(key, compute, 8)
    assert compute.calls == 2  # the first fill, and one refresh
    assert sorted(results) == [(1, False)] * 7 + [(2, True)]


def test_a_refresh_that_fails_lets_the_lock_go_and_keeps_the_stale_value(key, monkeypatch):
    cached(key, 60, Counter())
    later = time.time() + 61
    monkeypatch.setattr(caching.time, "time", lambda: later)

    def broken() -> int:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        cached(key, 60, broken)
    assert cache.get(f"cached:{key}:refreshing") is None
    assert cached(key, 60, lambda: 5) == (5, True)


def test_fresh_for_zero_computes_every_time_and_keeps_nothing(key):
    compute = Counter()
    assert cached(key, 0, compute) == (1, True)
    assert cached(key, 0, compute) == (2, True)
    assert cache.get(f"cached:{key}") is None


def test_many_requests_finding_it_cold_compute_it_once(key):
    """After a Redis restart or eviction every request computed it together."""
    compute = Counter(pause=0.5)
    results = visits(key, compute, 8)
    assert compute.calls == 1
    assert sorted(results) == [(1, False)] * 7 + [(1, True)]
    assert cache.get(f"cached:{key}:refreshing") is None


def test_a_cold_value_whose_computer_failed_is_computed_by_a_waiting_request(key):
    started = threading.Event()

    def broken() -> int:
        started.set()
        time.sleep(0.3)
        raise RuntimeError("database gone")

    failed: list[BaseException] = []

    def first() -> None:
        try:
            cached(key, 60, broken)
        except RuntimeError as exc:
            failed.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(5)
    compute = Counter()
    assert cached(key, 60, compute) == (1, True)  # it waited, then took the lock
    thread.join(5)
    assert len(failed) == 1
    assert compute.calls == 1
    assert cached(key, 60, compute) == (1, False)


def test_a_cold_value_whose_lock_outlives_its_holder_is_computed_after_the_wait(key, monkeypatch):
    monkeypatch.setattr(caching, "COLD_WAIT_SECONDS", 0.3)
    # A request took the lock and died: the lock stays until it times out.
    assert cache.add(f"cached:{key}:refreshing", 1, 30)
    compute = Counter()
    started = time.monotonic()
    assert cached(key, 60, compute) == (1, True)
    assert time.monotonic() - started >= 0.3
    # The dead request's lock is not this one's to let go.
    assert cache.get(f"cached:{key}:refreshing") == 1
    assert cached(key, 60, compute) == (1, False)
    cache.delete(f"cached:{key}:refreshing")
