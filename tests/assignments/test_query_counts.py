"""The task page and the task list run no query per task or per answer to rank: each is fetched
with a few and with many, and the number of queries must be the same."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.assignments import selectors
from apps.assignments.models import TaskType
from apps.collection.models import Prompt, PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory, held_task
from tests.query_counts import MANY, assert_flat, web

pytestmark = pytest.mark.django_db


def ranking_prompt(answers: int = 3) -> Prompt:
    prompt = PromptFactory(state=PromptState.RANKING)
    for _ in range(answers):
        ResponseFactory(prompt=prompt)
    return prompt


def test_a_task_page_runs_the_same_queries_however_many_other_tasks_are_held(volunteer):
    shown = held_task(volunteer, TaskType.REVIEW_PROMPT, PromptFactory(state=PromptState.REVIEW))

    def others(n: int) -> None:
        for i in range(n):
            prompt = PromptFactory(state=PromptState.COLLECTING)
            if i % 2:
                held_task(volunteer, TaskType.RESPOND, prompt)
            else:
                answer = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW)
                held_task(volunteer, TaskType.REVIEW_RESPONSE, prompt, response=answer)

    client = web(volunteer)
    assert_flat(lambda: client.get(f"/contribute/{shown.pk}/"), others)
    page = client.get(f"/contribute/{shown.pk}/").content.decode()
    assert page.count('href="/contribute/') >= MANY


def test_a_rank_task_page_runs_the_same_queries_for_many_answers(volunteer):
    prompt = ranking_prompt(answers=0)
    task = held_task(volunteer, TaskType.RANK, prompt)

    def answers(n: int) -> None:
        for _ in range(n):
            ResponseFactory(prompt=prompt)

    client = web(volunteer)
    assert_flat(lambda: client.get(f"/contribute/{task.pk}/"), answers)
    assert client.get(f"/contribute/{task.pk}/").content.decode().count("data-letter=") == MANY


def test_the_task_list_api_runs_the_same_queries_for_many_review_tasks(api, volunteer):
    def reviews(n: int) -> None:
        for _ in range(n):
            prompt = PromptFactory(state=PromptState.COLLECTING)
            answer = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW)
            held_task(volunteer, TaskType.REVIEW_RESPONSE, prompt, response=answer)

    assert_flat(lambda: api.get("/api/v1/tasks/"), reviews)
    assert len(api.get("/api/v1/tasks/").json()["results"]) == 20


def test_the_task_list_api_runs_the_same_queries_for_many_rank_tasks(api, volunteer):
    def ranks(n: int) -> None:
        for _ in range(n):
            held_task(volunteer, TaskType.RANK, ranking_prompt())

    assert_flat(lambda: api.get("/api/v1/tasks/"), ranks)
    results = api.get("/api/v1/tasks/").json()["results"]
    assert [len(task["responses"]) for task in results] == [3] * 20


def test_the_task_list_gives_a_rank_task_the_answers_the_task_itself_gives(api, volunteer):
    """The list's answers come from one query for all its tasks: the same set, in the same
    order, as the task's own payload reads (hidden, withdrawn, in-review and a banned author's
    answers left out)."""
    prompt = ranking_prompt(answers=3)
    ResponseFactory(prompt=prompt, hidden_at=timezone.now())
    ResponseFactory(prompt=prompt, withdrawn_at=timezone.now())
    ResponseFactory(prompt=prompt, state=ResponseState.REVIEW)
    banned = ResponseFactory(prompt=prompt)
    banned.author.banned_at = timezone.now()
    banned.author.save()
    task = held_task(volunteer, TaskType.RANK, prompt)
    listed = api.get("/api/v1/tasks/").json()["results"]
    alone = selectors.task_payload(
        selectors.assignment_get_for_user(user=volunteer, assignment_id=task.pk)
    )
    assert len(alone["responses"]) == 3
    assert listed[0]["responses"] == alone["responses"]
