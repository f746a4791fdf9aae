"""Asking for the next task of a kind while holding one gives back the one held, so a person
never holds two tasks of one kind, also when the requests arrive together (a double tap, a
client's retry). Race QA: five at once held four answer tasks, each keeping a slot from
everyone else for half an hour."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.assignments.models import Assignment, AssignmentState
from tests.conftest import client_for

REQUESTS = 5


@pytest.mark.slow(seconds=3)
@pytest.mark.django_db(transaction=True)
def test_requests_sent_together_hold_one_task(make_volunteer):
    assert connection.vendor == "postgresql"
    volunteer = make_volunteer()
    barrier = threading.Barrier(REQUESTS)
    answers: list[tuple[int, int | None]] = []
    lock = threading.Lock()

    def ask() -> None:
        client = client_for(volunteer)
        barrier.wait()
        try:
            r = client.get("/api/v1/tasks/next/?type=write")
            with lock:
                answers.append((r.status_code, r.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _id in answers] == [200] * REQUESTS
    held = Assignment.objects.filter(user=volunteer, state=AssignmentState.ACTIVE)
    assert held.count() == 1
    assert {task_id for _status, task_id in answers} == {held.get().pk}
