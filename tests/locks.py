"""Helpers for row-lock order tests on PostgreSQL: run a service in a thread (its own
connection), wait until it blocks on a row lock, and only then let the other side go on.

A path that locks rows in the opposite order to another deadlocks with it; PostgreSQL then
aborts one of the two after ``deadlock_timeout`` (1 s by default) with "deadlock detected",
which these tests see as an error on either side.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, connections

from tests.missing import missing

WAIT_SECONDS = 30


def require_row_locks() -> None:
    if not connection.features.has_select_for_no_key_update:
        missing("row locks need PostgreSQL (DATABASE_URL)")


def _waiting_on_a_lock(exclude: set[int]) -> bool:
    # A connection of its own: the caller's may be inside a transaction, or busy.
    with connections.create_connection("default").cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return any(pid not in exclude for (pid,) in cursor.fetchall())


def wait_until_someone_waits_on_a_lock(*, exclude: frozenset[int] = frozenset()) -> None:
    """Return once some backend (other than ``exclude``) waits on a lock; fail after 30 s."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not _waiting_on_a_lock(set(exclude)):
        assert time.monotonic() < deadline, "nobody came to wait on a lock"
        time.sleep(0.01)


def wait_until_it_waits_on_a_lock_or_ends(thread: InThread) -> None:
    """Return once ``thread`` has ended or some backend waits on a lock; fail after 30 s."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not thread.done() and not _waiting_on_a_lock(set()):
        assert time.monotonic() < deadline, "the thread neither waited on a lock nor ended"
        time.sleep(0.01)


class InThread:
    """Run ``work`` in a thread with its own connection; ``join()`` returns its result or
    raises what it raised."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._work = work
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # reported by join()
            self._error = exc
        finally:
            connection.close()

    def start(self) -> InThread:
        self._thread.start()
        return self

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self) -> Any:
        self._thread.join(WAIT_SECONDS)
        assert not self._thread.is_alive(), "the thread is still running"
        if self._error is not None:
            raise self._error
        return self._result


class Pause:
    """Where ``pause_before`` stopped a thread: ``reached`` is set when it gets there, and it
    goes on once ``go`` is set."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()

    def wait(self) -> None:
        assert self.reached.wait(WAIT_SECONDS), "the thread never reached the pause"


def pause_before(target: Any, name: str, monkeypatch: Any) -> Pause:
    """Make ``target.name`` wait, the first time it is called, until the test says go: a
    service run in a thread then stops there, holding the locks it took so far."""
    real = getattr(target, name)
    pause = Pause()

    def paused(*args: Any, **kwargs: Any) -> Any:
        if not pause.reached.is_set():
            pause.reached.set()
            assert pause.go.wait(WAIT_SECONDS), "the test never said go"
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, paused)
    return pause


def lock_row(model: Any, pk: int) -> None:
    """Lock one row ``FOR NO KEY UPDATE`` in the caller's transaction, as the services do."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM {table} WHERE "id" = %s FOR NO KEY UPDATE', [pk])


def assert_work_locked_in_order_before_changed(statements: list[str]) -> None:
    """A ban's or a deletion's SQL: its row locks follow the dispatcher's order (user, tasks,
    prompts, answers), prompts and answers each by id, and every row is locked before any
    prompt or answer is changed (an UPDATE locks the rows it changes: a slot given back to a
    task's prompt before the work's prompts are locked could take a higher id first)."""
    locks = [sql for sql in statements if "FOR " in sql and "UPDATE" in sql]
    last_lock = max(i for i, sql in enumerate(statements) if sql in locks)
    changed_early = [
        sql
        for sql in statements[:last_lock]
        if sql.startswith(('UPDATE "collection_prompt"', 'UPDATE "collection_response"'))
    ]
    assert changed_early == []
    tables = [sql.split(" FROM ", 1)[1].split()[0].strip('"') for sql in locks]
    assert tables == [
        "accounts_user",
        "assignments_assignment",
        "collection_prompt",
        "collection_response",
    ]
    for sql in locks[2:]:
        # By the primary key: the first column selected ("1"), or by name.
        assert sql.startswith('SELECT "collection_')
        assert re.search(r'ORDER BY (1|"collection_\w+"\."id") ASC FOR NO KEY UPDATE$', sql), sql
