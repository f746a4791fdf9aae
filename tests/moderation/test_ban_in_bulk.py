"""Banning takes all of a person's work out in bulk: the same rows as giving back each
answer's place and re-running each prompt's consensus on its own, in the same number of
queries whatever the size of their work, with prompts locked before answers."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Model, Q
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection import flow
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy
from apps.feedback.models import PromptConsensus, Ranking, Review
from apps.feedback.services import consensus_run, rankable_responses
from apps.moderation import services
from apps.moderation.models import ModerationAction
from tests.contributions import (
    Rows,
    World,
    build_at_random,
    build_everything,
    consensus_run_as_it_was,
    normalised,
    rows,
    user_ban_one_by_one,
)
from tests.locks import assert_work_locked_in_order_before_changed, require_row_locks

pytestmark = pytest.mark.django_db

S, R = PromptState, ResponseState
TABLES: tuple[type[Model], ...] = (
    User,
    Prompt,
    Response,
    PromptConsensus,
    Ranking,
    Review,
    Assignment,
    ModerationAction,
)
REASON = "a ring of fake accounts"


def rank_as_the_person(w: World, rng: random.Random, share: float) -> None:
    """The person ranks a ``share`` of the prompts in ranking or complete that they did not
    write, answer or rank yet (now and then finding the set unusable), and each consensus is run
    again, as ranking_create leaves it."""
    prompts = Prompt.objects.filter(state__in=(S.RANKING, S.COMPLETE)).exclude(author=w.person)
    prompts = prompts.exclude(responses__author=w.person).exclude(rankings__ranker=w.person)
    for prompt in prompts.order_by("pk"):
        if rng.random() >= share:
            continue
        ids = list(
            prompt.responses.filter(state=R.ACCEPTED, withdrawn_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        unusable = rng.random() < 0.2
        order = [] if unusable else rng.sample(ids, len(ids))
        Ranking.objects.create(ranker=w.person, prompt=prompt, order=order, unusable=unusable)
        consensus_run_as_it_was(prompt=prompt)


def user_ban_one_prompt_at_a_time(*, moderator: User, user: User, reason: str) -> User:
    """The reference ban (``user_ban_one_by_one``), then, one prompt at a time, as
    ``flow.prompt_transition`` moves one prompt, each prompt ranking or complete that the
    person answered or ranked: left with fewer than two answers to rank, it goes back to
    collecting; complete with fewer rankings that count than the policy asks for, back to
    ranking for those it lacks; either way without its consensus. One still ranking gets the
    slots of rankings that stopped counting."""
    user = user_ban_one_by_one(moderator=moderator, user=user, reason=reason)
    policy = current_policy()
    required = int(policy.rankings_required)
    answered = Response.objects.filter(author=user).values("prompt_id")
    ranked = Ranking.objects.filter(ranker=user).values("prompt_id")
    for prompt in (
        Prompt.objects.filter(Q(pk__in=answered) | Q(pk__in=ranked))
        .filter(state__in=(S.RANKING, S.COMPLETE))
        .order_by("pk")
    ):
        counted = Ranking.objects.filter(
            prompt=prompt, retired_at__isnull=True, ranker__banned_at__isnull=True
        ).count()
        short = len(rankable_responses(prompt)) < 2
        if prompt.state == S.COMPLETE and (short or counted < required):
            PromptConsensus.objects.filter(prompt=prompt).delete()
            Response.objects.filter(prompt=prompt, consensus_rank__isnull=False).update(
                consensus_rank=None
            )
            if short:
                flow.prompt_transition(prompt=prompt, to=S.COLLECTING, policy=policy)
            else:
                flow.prompt_transition(prompt=prompt, to=S.RANKING, policy=policy)
                Prompt.objects.filter(pk=prompt.pk).update(open_slots=required - counted)
        elif prompt.state == S.RANKING and short:
            flow.prompt_transition(prompt=prompt, to=S.COLLECTING, policy=policy)
        elif prompt.state == S.RANKING:
            active = Assignment.objects.filter(
                prompt=prompt, task_type=TaskType.RANK, state=AssignmentState.ACTIVE
            ).count()
            if prompt.open_slots < required - counted - active:
                Prompt.objects.filter(pk=prompt.pk).update(open_slots=required - counted - active)
    return user


def _after(ban: Callable[..., Any], moderator: User, person: User, before: Rows) -> Rows:
    """Every row of the tables concerned after ``ban``, which is then rolled back. The log
    entry it writes is keyed by what it says, not by its id (a rolled-back id is not reused)."""
    with transaction.atomic():
        ban(moderator=moderator, user=person, reason=REASON)
        found = normalised(rows(TABLES), before)
        transaction.set_rollback(True)
    label = ModerationAction._meta.label
    found[label] = {
        (row["action"], row["subject_id"], row["actor_id"]): row | {"id": None}
        for row in found[label].values()
    }
    return found


def _assert_same_as_one_by_one(moderator: User, person: User) -> Rows:
    before = rows(TABLES)
    one_by_one = _after(user_ban_one_prompt_at_a_time, moderator, person, before)
    assert rows(TABLES) == before  # rolled back: the second path starts from the same rows
    in_bulk = _after(services.user_ban, moderator, person, before)
    for model in TABLES:
        label = model._meta.label
        assert in_bulk[label] == one_by_one[label], label
    return in_bulk


def test_a_bulk_ban_leaves_the_rows_the_one_by_one_ban_leaves(moderator, volunteer, make_volunteer):
    w = World(volunteer, make_volunteer)
    build_everything(w)
    rank_as_the_person(w, random.Random(5), share=1.0)

    found = _assert_same_as_one_by_one(moderator, volunteer)

    # And those rows are what they should be: none of the person's answers or votes counts
    # in a consensus, and the collecting prompts they answered (live, not hidden, not
    # rejected) got their place back.
    responses = found["collection.Response"].values()
    theirs = {r["id"] for r in responses if r["author_id"] == w.person.pk}
    assert all(r["consensus_rank"] is None for r in responses if r["id"] in theirs)
    for consensus in found["feedback.PromptConsensus"].values():
        assert not theirs.intersection(consensus["order"])
    answered = Response.objects.filter(
        author=w.person,
        state__in=(R.REVIEW, R.ACCEPTED),
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        prompt__state=S.COLLECTING,
    ).values_list("prompt_id", flat=True)
    held = Assignment.objects.filter(user=w.person, state=AssignmentState.ACTIVE)
    slots = {p.pk: (p.open_slots, p.state) for p in Prompt.objects.all()}
    # Prompts reopened (complete on their work) and prompts ranking that they ranked (the
    # slots of rankings that no longer count: tests/feedback/test_complete_prompts_reopen.py)
    # aside.
    ranked = set(Ranking.objects.filter(ranker=w.person).values_list("prompt_id", flat=True))
    assert {
        pk: p["open_slots"] - slots[pk][0]
        for pk, p in found["collection.Prompt"].items()
        if p["open_slots"] != slots[pk][0] and p["state"] == slots[pk][1] and pk not in ranked
    } == dict.fromkeys([*answered, *held.values_list("prompt_id", flat=True)], 1)
    assert [
        a["state"] for a in found["assignments.Assignment"].values() if a["user_id"] == w.person.pk
    ] == [AssignmentState.RELEASED]
    assert found["accounts.User"][w.person.pk]["ban_reason"] == REASON


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_bulk_ban_matches_one_by_one_on_random_work(moderator, volunteer, make_volunteer, seed):
    w = World(volunteer, make_volunteer)
    rng = random.Random(seed)
    build_at_random(w, rng, size=40)
    rank_as_the_person(w, rng, share=0.4)

    _assert_same_as_one_by_one(moderator, volunteer)


def test_an_unban_after_a_bulk_ban_restores_every_consensus_it_left(
    moderator, volunteer, make_volunteer
):
    """Every consensus the ban left (of prompts it did not reopen: those go on ranking or
    collecting, and are run again when they complete) is as it was after the unban."""
    w = World(volunteer, make_volunteer)
    build_at_random(w, random.Random(4), size=40)
    rank_as_the_person(w, random.Random(4), share=0.5)
    before = normalised(rows([PromptConsensus, Response]), rows([PromptConsensus, Response]))

    services.user_ban(moderator=moderator, user=volunteer, reason=REASON)
    services.user_unban(moderator=moderator, user=volunteer)

    kept = set(PromptConsensus.objects.values_list("prompt_id", flat=True))
    after = normalised(rows([PromptConsensus, Response]), rows([PromptConsensus, Response]))
    for table in (before, after):
        for row in table["feedback.PromptConsensus"].values():
            row["computed_at"] = None
        table["feedback.PromptConsensus"] = {
            pk: row
            for pk, row in table["feedback.PromptConsensus"].items()
            if row["prompt_id"] in kept
        }
        table["collection.Response"] = {
            pk: row for pk, row in table["collection.Response"].items() if row["prompt_id"] in kept
        }
    assert kept and after == before


def test_a_failure_halfway_leaves_everything_as_it_was(
    moderator, volunteer, make_volunteer, monkeypatch
):
    w = World(volunteer, make_volunteer)
    build_everything(w)
    before = rows(TABLES)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    # The last step, after every place is given back and every consensus re-run.
    monkeypatch.setattr(services, "_log", fail)
    with pytest.raises(RuntimeError):
        services.user_ban(moderator=moderator, user=volunteer, reason=REASON)

    assert rows(TABLES) == before


def _ban_queries(moderator: User, person: User) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        services.user_ban(moderator=moderator, user=person, reason=REASON)
    return [q["sql"] for q in captured.captured_queries]


def _ranked_in_order(
    w: World, authors: list[User], rankers: list[User], *, against: list[User]
) -> None:
    """A complete prompt with an answer by each of ``authors``, ranked in that order by
    ``rankers`` and the other way round by ``against``, and its consensus."""
    prompt = w.prompt(S.COMPLETE)
    order = [w.answer(prompt, author).pk for author in authors]
    for ranker in rankers:
        Ranking.objects.create(ranker=ranker, prompt=prompt, order=order)
    for ranker in against:
        Ranking.objects.create(ranker=ranker, prompt=prompt, order=order[::-1])
    consensus_run(prompt=prompt)


def test_banning_runs_as_many_queries_for_much_work_as_for_little(moderator, make_volunteer):
    # Orders are fixed: the consensus writes one statement per rank that changes (a handful
    # at most), so the same ranks must change for 2 prompts as for 20.
    counts = []
    for size in (2, 20):
        person = make_volunteer()
        w = World(person, make_volunteer)

        for _ in range(size):
            for state in (S.COLLECTING, S.RANKING):
                prompt = w.prompt(state)
                w.answer(prompt, person, R.REVIEW if state == S.COLLECTING else R.ACCEPTED)
                w.answer(prompt, w.a1)
            _ranked_in_order(w, [person, w.a1], w.rankers, against=[])
            _ranked_in_order(w, [w.a1, w.a2], w.rankers[:2], against=[person])
            for state in (S.REVIEW, S.COLLECTING, S.COMPLETE):
                w.answer(w.prompt(state, author=person), w.a1)
        w.assign(person, TaskType.REVIEW_PROMPT, w.prompt(S.REVIEW, open_slots=1))
        # A fresh copy of the moderator each time: a user caches its permissions.
        counts.append(len(_ban_queries(User.objects.get(pk=moderator.pk), person)))

    assert counts[0] == counts[1], f"{counts[0]} queries for 2 of each, {counts[1]} for 20"


def test_prompts_are_locked_before_answers_each_in_id_order(moderator, volunteer, make_volunteer):
    # The dispatcher's lock order (user, assignment, prompt, response), and one order within
    # each kind, so a ban cannot deadlock with volunteers working on the same prompts, nor
    # with an account deletion.
    require_row_locks()
    w = World(volunteer, make_volunteer)
    build_everything(w)
    rank_as_the_person(w, random.Random(5), share=1.0)

    assert_work_locked_in_order_before_changed(_ban_queries(moderator, volunteer))
