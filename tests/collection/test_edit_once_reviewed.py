"""Work can be edited by its author only until someone starts reviewing it: reviewers judge
the text they were shown. (QA: a prompt rewritten into spam while two reviews of its first
text were held was accepted, spam and all, by reviewers who never saw it.)"""

from __future__ import annotations

import threading

import pytest
from django.test import Client

from apps.assignments import services as tasks
from apps.assignments.models import AssignmentState, TaskType
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory, held_task

pytestmark = pytest.mark.django_db

FIRST = "Name three birds that cannot fly."
SPAM = "BUY CHEAP PILLS at pills.example, call 555-0100."


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


def edit_prompt(web: Client, prompt: Prompt, instruction: str):
    return web.post(
        f"/prompts/{prompt.pk}/edit/",
        {"category": "open_qa", "instruction": instruction, "language": "en"},
    )


def test_a_prompt_under_review_keeps_the_text_its_reviewers_were_shown(web, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW, instruction=FIRST)
    held = tasks.task_next(user=volunteer2, kind="review")
    assert held.prompt_id == prompt.pk

    r = edit_prompt(web, prompt, SPAM)
    assert r.status_code == 409
    html = r.content.decode()
    assert "Someone has started reviewing this prompt, so it can no longer be edited" in html
    assert SPAM in html  # the author's changes come back to them, unsaved
    prompt.refresh_from_db()
    assert prompt.instruction == FIRST

    # The review the task gives is of the text it showed.
    tasks.task_submit(user=volunteer2, assignment_id=held.pk, payload={"quality": 5})
    assert prompt.reviews.get().reviewer == volunteer2
    prompt.refresh_from_db()
    assert prompt.instruction == FIRST


def test_no_edit_link_once_a_review_is_held_or_given_and_the_page_says_why(
    web, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    links = (f"/prompts/{prompt.pk}/edit/", "Edit prompt")
    detail = web.get(f"/prompts/{prompt.pk}/").content.decode()
    mine = web.get("/mine/").content.decode()
    assert all(link in detail and link in mine for link in links)

    held = held_task(volunteer2, TaskType.REVIEW_PROMPT, prompt)
    detail = web.get(f"/prompts/{prompt.pk}/").content.decode()
    mine = web.get("/mine/").content.decode()
    assert not any(link in detail or link in mine for link in links)
    r = web.get(f"/prompts/{prompt.pk}/edit/", follow=True)
    assert r.redirect_chain == [(f"/prompts/{prompt.pk}/", 302)]
    assert "Someone has started reviewing this prompt" in r.content.decode()

    tasks.task_submit(user=volunteer2, assignment_id=held.pk, payload={"quality": 4})
    assert "Edit prompt" not in web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert edit_prompt(web, prompt, SPAM).status_code == 409


def test_a_hold_given_up_without_a_review_lets_the_author_edit_again(web, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW, instruction=FIRST)
    held = held_task(volunteer2, TaskType.REVIEW_PROMPT, prompt)
    assert edit_prompt(web, prompt, "Name three birds that can swim.").status_code == 409

    tasks.task_skip(user=volunteer2, assignment_id=held.pk)
    overdue = held_task(volunteer, TaskType.REVIEW_PROMPT, prompt, minutes_left=-1)
    assert overdue.state == AssignmentState.ACTIVE  # overdue, not yet swept: no longer held
    assert "Edit prompt" in web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert edit_prompt(web, prompt, "Name three birds that can swim.").status_code == 302
    prompt.refresh_from_db()
    assert prompt.instruction == "Name three birds that can swim."


def test_an_answer_under_review_cannot_be_changed_through_the_api(api, volunteer, volunteer2):
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    answer = ResponseFactory(
        prompt=prompt, author=volunteer, state=ResponseState.REVIEW, open_slots=2
    )
    other = ResponseFactory(author=volunteer, state=ResponseState.REVIEW, open_slots=2)
    held = tasks.task_next(user=volunteer2, kind="review")
    assert held.response_id == answer.pk  # the older of the two

    r = api.patch(f"/api/v1/responses/{answer.pk}/", {"text": SPAM}, format="json")
    assert r.status_code == 409
    assert "Someone has started reviewing this answer" in r.json()["detail"]
    answer.refresh_from_db()
    assert answer.text != SPAM
    # Only the one under review is frozen.
    r = api.patch(f"/api/v1/responses/{other.pk}/", {"text": "A better answer."}, format="json")
    assert r.status_code == 200

    tasks.task_submit(user=volunteer2, assignment_id=held.pk, payload={"quality": 5})
    mine = Client()
    mine.force_login(volunteer)
    html = mine.get(f"/prompts/{prompt.pk}/").content.decode()
    assert f"/responses/{answer.pk}/edit/" not in html
    # The edit page sends its author to the answer it is about, saying why.
    r = mine.get(f"/responses/{answer.pk}/edit/")
    assert r.status_code == 302 and r["Location"] == f"/prompts/{prompt.pk}/#response-{answer.pk}"
    assert "Someone has started reviewing this answer" in mine.get(r["Location"]).content.decode()
    assert Response.objects.get(pk=answer.pk).reviews.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_review_task_cannot_be_taken_of_a_prompt_while_its_author_saves_an_edit(
    make_volunteer, monkeypatch
):
    """The edit's check and its save happen under the prompt's row lock, which the dispatcher
    skips: a reviewer asking in between is given no task of that prompt, and one asking after
    is shown the edited text. (Real PostgreSQL, each side in its own thread and connection.)"""
    from django.db import connection

    from apps.collection import services

    assert connection.vendor == "postgresql"
    author, reviewer = make_volunteer(), make_volunteer()
    prompt = PromptFactory(author=author, state=PromptState.REVIEW, instruction=FIRST)
    checked, go_on = threading.Event(), threading.Event()
    real_check = services.check_prompt_fields

    def slow_check(**fields):
        checked.set()  # the prompt is locked and review_started said no
        assert go_on.wait(10)
        return real_check(**fields)

    monkeypatch.setattr(services, "check_prompt_fields", slow_check)
    edited: list[Prompt] = []

    def edit() -> None:
        try:
            edited.append(
                services.prompt_update(prompt=prompt, user=author, instruction="Name three owls.")
            )
        finally:
            connection.close()

    editor = threading.Thread(target=edit)
    editor.start()
    assert checked.wait(10)
    with pytest.raises(tasks.NoTaskAvailable):
        tasks.task_next(user=reviewer, kind="review")
    go_on.set()
    editor.join(10)
    assert edited and edited[0].instruction == "Name three owls."
    held = tasks.task_next(user=reviewer, kind="review")
    assert held.prompt_id == prompt.pk
    assert held.prompt.instruction == "Name three owls."
