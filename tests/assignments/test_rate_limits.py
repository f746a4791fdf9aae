"""The Contribute page counts task fetches, submissions and skips against the API's per-user
limits (same rates, same counters): over them it answers 429 with a page that says when to
try again and what became of the work, which is never lost."""

from __future__ import annotations

import re

import pytest

from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import PromptState
from apps.feedback.models import Review
from tests.assignments.test_pages import CONTRIBUTE, client_for, key_of, open_task
from tests.conftest import assert_429_says_when
from tests.conftest import client_for as api_client_for
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/tasks/next/"


@pytest.mark.parametrize("backend", ["redis", "cache"])
def test_taking_tasks_on_the_page_and_through_the_api_shares_one_limit(
    volunteer, limits, settings, backend
):
    if backend == "cache":
        settings.REDIS_URL = ""  # DRF's own counting in the cache, as in the embedded default
    limits(tasks_next="2/min")
    api, web = api_client_for(volunteer), client_for(volunteer)
    first = api.get(NEXT, {"type": "write"}).json()
    api.post(f"/api/v1/tasks/{first['id']}/skip/", {}, format="json")
    second, _page = open_task(web, "write")
    api.post(f"/api/v1/tasks/{second.pk}/skip/", {}, format="json")

    r = web.get(CONTRIBUTE, {"type": "write"})
    html = assert_429_says_when(r)
    assert "No task was taken." in html
    assert 'href="/contribute/?type=write"' in html
    assert Assignment.objects.count() == 2
    assert api.get(NEXT, {"type": "write"}).status_code == 429


def test_going_back_to_a_task_held_is_not_counted(volunteer, limits):
    limits(tasks_next="1/min")
    web = client_for(volunteer)
    assignment, _page = open_task(web, "write")
    for _ in range(3):
        r = web.get(CONTRIBUTE, {"type": "write"})
        assert r.status_code == 302
        assert r["Location"] == f"/contribute/{assignment.pk}/?type=write"


def test_a_submission_over_the_limit_sends_nothing_and_shows_the_work_again(
    volunteer, volunteer2, limits
):
    limits(tasks_submit="1/min")
    for _ in range(2):
        PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    web = client_for(volunteer)
    assignment, page = open_task(web, "review")
    sent = {"idempotency_key": key_of(page), "labels": [], "quality": "4"}
    assert web.post(f"/contribute/{assignment.pk}/", sent).status_code == 302
    assignment, page = open_task(web, "review")

    sent = {"idempotency_key": key_of(page), "labels": ["pii"], "quality": "2"}
    r = web.post(f"/contribute/{assignment.pk}/", sent)
    html = assert_429_says_when(r)
    assert "Nothing was sent: your work is below." in html
    assert 'value="pii" id="id_labels_pii" aria-describedby="id_labels_pii_help" checked' in html
    assert re.search(r'<input type="radio" name="quality" value="2"[^>]* checked', html)
    assert Review.objects.count() == 1
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.ACTIVE


def test_an_answer_over_the_limit_is_shown_again_as_typed(volunteer, volunteer2, limits):
    limits(tasks_submit="1/min")
    PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    api, web = api_client_for(volunteer), client_for(volunteer)
    first = api.get(NEXT, {"type": "write"}).json()
    assert api.post(f"/api/v1/tasks/{first['id']}/skip/", {}, format="json").status_code == 200
    assignment, page = open_task(web, "respond")
    text = "Water boils at a lower temperature high up, because the air pressure is lower."
    r = web.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "response": text}
    )
    assert text in assert_429_says_when(r)
    assert not assignment.prompt.responses.exists()


def test_a_skip_over_the_limit_keeps_the_task(volunteer, limits):
    limits(tasks_submit="1/min")
    api, web = api_client_for(volunteer), client_for(volunteer)
    first = api.get(NEXT, {"type": "write"}).json()
    assert api.post(f"/api/v1/tasks/{first['id']}/skip/", {}, format="json").status_code == 200
    assignment, _page = open_task(web, "write")

    r = web.post(f"/contribute/{assignment.pk}/skip/?type=write", {"reason": "too_long"})
    html = assert_429_says_when(r)
    assert "The task was not skipped: it is still yours." in html
    assert f'href="/contribute/{assignment.pk}/?type=write"' in html
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.ACTIVE
