"""A prompt ranking whose answers leave (withdrawn, hidden, their authors banned or their
accounts deleted) until fewer than two are left to compare goes back to collecting: its open
rank tasks are released, and nobody is handed a rank task of one answer. Collected again, it
is ranked afresh by rankings of the whole new set: those made before are kept but retired."""

from __future__ import annotations

import pytest

from apps.accounts.services import account_delete
from apps.assignments import services as tasks
from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import PromptState, Source
from apps.collection.services import response_withdraw
from apps.feedback.models import PromptConsensus, Ranking
from apps.moderation import services as moderation
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory, UserFactory, reporter
from tests.locks import (
    InThread,
    pause_before,
    require_row_locks,
    wait_until_it_waits_on_a_lock_or_ends,
)

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/tasks/next/"
CLEAN = {"labels": [], "quality": 4}


def submit(client, task_id, payload):
    return client.post(f"/api/v1/tasks/{task_id}/submit/", payload, format="json")


@pytest.fixture
def ranking(make_volunteer):
    """A prompt ranking three answers, one ranking of them in, and a ranker holding a task."""
    author, *answerers = (make_volunteer() for _ in range(4))
    prompt = PromptFactory(author=author, state=PromptState.RANKING)
    answers = [ResponseFactory(prompt=prompt, author=a) for a in answerers]
    first = make_volunteer()
    task = client_for(first).get(NEXT, {"type": "rank"}).json()
    assert (
        submit(client_for(first), task["id"], {"order": [a.pk for a in answers]}).status_code == 200
    )
    holder = client_for(make_volunteer())
    held = holder.get(NEXT, {"type": "rank"}).json()
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 1)
    return prompt, answers, holder, held


def _remove(how, answer, moderator):
    if how == "withdrawn":
        response_withdraw(response=answer, user=answer.author)
    elif how == "hidden":
        moderation.content_hide(moderator=moderator, target=answer, reason="copied")
    elif how == "flagged":
        for _ in range(3):  # the policy's auto_hide_flags
            moderation.flag_create(reporter=reporter(), target=answer, reason="spam")
    elif how == "banned":
        moderation.user_ban(moderator=moderator, user=answer.author, reason="copied")
    else:
        account_delete(user=answer.author)


HOW = ["withdrawn", "hidden", "flagged", "banned", "deleted"]


@pytest.mark.parametrize("how", HOW)
def test_a_prompt_left_with_one_answer_to_rank_goes_back_to_collecting(
    ranking, moderator, make_volunteer, how, django_capture_on_commit_callbacks
):
    prompt, answers, holder, held = ranking
    with django_capture_on_commit_callbacks(execute=True):
        for answer in answers[1:]:
            _remove(how, answer, moderator)
    prompt.refresh_from_db()
    # Two answers to collect again for the three the policy asks for.
    assert (prompt.state, prompt.open_slots) == (PromptState.COLLECTING, 2)
    # The ranking made stays as it was until the prompt ranks again.
    assert Ranking.objects.get(prompt=prompt).retired_at is None
    # The task held is released: its submission is refused, and nobody gets another.
    assert Assignment.objects.get(pk=held["id"]).state == AssignmentState.RELEASED
    r = submit(holder, held["id"], {"order": [answers[0].pk]})
    assert r.status_code == 409
    assert client_for(make_volunteer()).get(NEXT, {"type": "rank"}).status_code == 404
    # It takes answers again.
    task = client_for(make_volunteer()).get(NEXT, {"type": "respond"}).json()
    assert task["prompt"]["id"] == prompt.pk


@pytest.mark.parametrize("how", ["withdrawn", "hidden", "banned"])
def test_a_prompt_left_with_two_answers_keeps_ranking(ranking, moderator, how):
    prompt, answers, holder, held = ranking
    _remove(how, answers[2], moderator)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 1)
    assert Ranking.objects.get(prompt=prompt).retired_at is None
    order = [answers[1].pk, answers[0].pk]
    assert submit(holder, held["id"], {"order": order}).status_code == 200


def test_a_model_written_answer_counts_among_the_two(ranking, moderator):
    prompt, answers, _holder, _held = ranking
    ResponseFactory(prompt=prompt, author=UserFactory(), source=Source.MODEL)
    for answer in answers[1:]:
        response_withdraw(response=answer, user=answer.author)
    prompt.refresh_from_db()
    assert prompt.state == PromptState.RANKING


def test_no_rank_task_is_handed_out_with_fewer_than_two_answers(make_volunteer, moderator):
    """Whatever left a prompt ranking with one answer, the claim does not hand it out."""
    prompt = PromptFactory(author=make_volunteer(), state=PromptState.RANKING)
    ResponseFactory(prompt=prompt, author=make_volunteer())
    ResponseFactory(prompt=prompt, author=make_volunteer(), hidden_at=prompt.created_at)
    ranker = client_for(make_volunteer())
    assert ranker.get(NEXT, {"type": "rank"}).status_code == 404
    prompt.refresh_from_db()
    assert prompt.open_slots == 3
    ResponseFactory(prompt=prompt, author=make_volunteer())
    task = ranker.get(NEXT, {"type": "rank"}).json()
    assert len(task["responses"]) == 2


def test_collected_again_it_is_ranked_afresh_on_the_whole_new_set(ranking, make_volunteer):
    """The retired ranking never saw the new answers: counted, it would keep them out of the
    vote and stand for one of the three rankings the new set needs."""
    prompt, answers, _holder, _held = ranking
    for answer in answers[1:]:
        response_withdraw(response=answer, user=answer.author)
    for _ in range(2):
        writer = client_for(make_volunteer())
        task = writer.get(NEXT, {"type": "respond"}).json()
        r = submit(writer, task["id"], {"text": "A fresh answer, in other words."})
        assert r.status_code == 200
    for _ in range(4):  # two reviews for each new answer
        reviewer = client_for(make_volunteer())
        task = reviewer.get(NEXT, {"type": "review"}).json()
        assert submit(reviewer, task["id"], CLEAN).status_code == 200
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 3)
    kept = answers[0]
    new = list(prompt.responses.filter(withdrawn_at__isnull=True).exclude(pk=kept.pk))
    best_first = [new[1].pk, kept.pk, new[0].pk]
    for number in range(3):
        ranker = client_for(make_volunteer())
        task = ranker.get(NEXT, {"type": "rank"}).json()
        assert sorted(r["id"] for r in task["responses"]) == sorted(best_first)
        assert submit(ranker, task["id"], {"order": best_first}).status_code == 200
        prompt.refresh_from_db()
        assert prompt.state == (PromptState.COMPLETE if number == 2 else PromptState.RANKING)
    consensus = PromptConsensus.objects.get(prompt=prompt)
    assert (consensus.order, consensus.rankers) == (best_first, 3)
    # The earlier ranking is kept, its ranker's work, but retired.
    rankings = Ranking.objects.filter(prompt=prompt)
    assert [r.retired_at is not None for r in rankings] == [True, False, False, False]


@pytest.mark.django_db(transaction=True)
def test_a_ranking_sent_as_the_prompt_goes_back_to_collecting_is_refused_without_deadlock(
    make_volunteer, monkeypatch
):
    """The withdrawal holds the prompt; a submission holds its task and then waits for the
    prompt. The task is released only once the withdrawal is committed, by a transaction that
    holds nothing else: it waits for the submission, which finds the prompt collecting."""
    require_row_locks()
    author, *answerers = (make_volunteer() for _ in range(4))
    prompt = PromptFactory(author=author, state=PromptState.RANKING)
    answers = [ResponseFactory(prompt=prompt, author=a) for a in answerers]
    ranker = make_volunteer()
    task = tasks.task_next(user=ranker, kind="rank")
    response_withdraw(response=answers[2], user=answers[2].author)
    submitting = pause_before(tasks, "_lock_prompt", monkeypatch)
    order = {"order": [answers[0].pk, answers[1].pk]}
    submit = InThread(
        lambda: tasks.task_submit(user=ranker, assignment_id=task.pk, payload=order)
    ).start()
    submitting.wait()
    withdraw = InThread(
        lambda: response_withdraw(response=answers[1], user=answers[1].author)
    ).start()
    wait_until_it_waits_on_a_lock_or_ends(withdraw)
    # Committed: it waits for the task in a transaction of its own, holding no prompt.
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING
    submitting.go.set()
    with pytest.raises(tasks.TaskConflict):
        submit.join()
    withdraw.join()
    assert not Ranking.objects.exists()
    assert Assignment.objects.get(pk=task.pk).state == AssignmentState.RELEASED
