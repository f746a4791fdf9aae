"""Skipping a task: the reason is checked like every other text (POST /api/v1/tasks/{id}/skip/
and the skip form on the task page): text only, no control characters, at most 500
characters."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import PromptState
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(api, volunteer2) -> Assignment:
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    r = api.get("/api/v1/tasks/next/", {"type": "review"})
    assert r.status_code == 200
    return Assignment.objects.get(pk=r.json()["id"])


def _still_open(task: Assignment) -> bool:
    task.refresh_from_db()
    return task.state == AssignmentState.ACTIVE and task.skip_reason == ""


@pytest.mark.parametrize("reason", [1.5, 3, True, ["busy"], {"why": "busy"}])
def test_a_reason_that_is_not_text_is_refused(api, task, reason):
    r = api.post(f"/api/v1/tasks/{task.pk}/skip/", {"reason": reason}, format="json")
    assert r.status_code == 400
    assert r.json() == {"reason": ["Must be text (a JSON string)."]}
    assert _still_open(task)


def test_a_reason_with_a_control_character_is_refused(api, task):
    r = api.post(f"/api/v1/tasks/{task.pk}/skip/", {"reason": "\u0001"}, format="json")
    assert r.status_code == 400
    assert r.json() == {"reason": ["The reason contains a control character (U+0001); remove it."]}
    assert _still_open(task)


def test_a_reason_over_500_characters_is_refused_with_its_length(api, task):
    r = api.post(f"/api/v1/tasks/{task.pk}/skip/", {"reason": "x" * 501}, format="json")
    assert r.status_code == 400
    assert r.json() == {"reason": ["The reason is too long: at most 500 characters, got 501."]}
    assert _still_open(task)


def test_a_reason_is_stored_normalised_and_may_be_left_out(api, task, volunteer2):
    r = api.post(
        f"/api/v1/tasks/{task.pk}/skip/", {"reason": "  Not my field\r\n\tat all "}, format="json"
    )
    assert r.status_code == 200
    task.refresh_from_db()
    assert (task.state, task.skip_reason) == (AssignmentState.SKIPPED, "Not my field\n\tat all")

    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    other = api.get("/api/v1/tasks/next/", {"type": "review"}).json()
    assert api.post(f"/api/v1/tasks/{other['id']}/skip/", {}, format="json").status_code == 200
    assert Assignment.objects.get(pk=other["id"]).skip_reason == ""


def test_the_skip_form_refuses_a_note_with_a_control_character(volunteer, task):
    web = Client()
    web.force_login(volunteer)
    r = web.post(
        f"/contribute/{task.pk}/skip/",
        {"idempotency_key": "skip-1", "reason": "unfamiliar", "note": "bad\x01note"},
    )
    assert r.status_code == 302 and r["Location"] == f"/contribute/{task.pk}/"
    assert [str(m) for m in get_messages(r.wsgi_request)] == [
        "The skip could not be read: The note contains a control character (U+0001); remove it."
    ]
    assert _still_open(task)


def test_the_skip_form_stores_a_clean_note(volunteer, task):
    web = Client()
    web.force_login(volunteer)
    r = web.post(
        f"/contribute/{task.pk}/skip/",
        {"idempotency_key": "skip-2", "reason": "language", "note": " too formal "},
    )
    assert r.status_code == 302
    task.refresh_from_db()
    assert (task.state, task.skip_reason) == (AssignmentState.SKIPPED, "language: too formal")
