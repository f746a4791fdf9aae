"""One implementation of the consensus rules for one prompt and for many: running it on many
prompts at once leaves the rows that running the consensus as it was written, one prompt at a
time, leaves; the dispatcher's single prompt costs no more queries than it did."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.feedback.models import PromptConsensus, Ranking
from apps.feedback.services import consensus_refresh, consensus_run, consensus_run_many
from tests.contributions import (
    Rows,
    World,
    build_at_random,
    build_everything,
    consensus_run_as_it_was,
    normalised,
    rows,
)

pytestmark = pytest.mark.django_db

S, R = PromptState, ResponseState
TABLES: tuple[type[Model], ...] = (Prompt, Response, PromptConsensus, Ranking)


def _change_what_counts(w: World, rng: random.Random) -> None:
    """After the consensus was run: a ranker and an answerer banned, answers hidden,
    withdrawn and restored, so that every consensus may be stale."""
    now = timezone.now()
    User.objects.filter(pk__in=[w.rankers[0].pk, w.a2.pk]).update(banned_at=now)
    User.objects.filter(pk=w.banned.pk).update(banned_at=None)
    for answer in Response.objects.order_by("pk"):
        roll = rng.random()
        if roll < 0.1:
            answer.hidden_at = None if answer.hidden_at else now
        elif roll < 0.2:
            answer.withdrawn_at = None if answer.withdrawn_at else now
        answer.save(update_fields=["hidden_at", "withdrawn_at"])


def _after(run: Callable[[list[Prompt]], Any], prompts: list[Prompt], before: Rows) -> Rows:
    """Every row of the tables concerned after ``run``, which is then rolled back. Consensus
    rows are keyed by their prompt: one inserted has a new id each time."""
    with transaction.atomic():
        run(prompts)
        found = normalised(rows(TABLES), before)
        transaction.set_rollback(True)
    label = PromptConsensus._meta.label
    found[label] = {row["prompt_id"]: row | {"id": None} for row in found[label].values()}
    return found


def _one_by_one_as_it_was(prompts: list[Prompt]) -> None:
    for prompt in prompts:
        consensus_run_as_it_was(prompt=prompt)


def _one_by_one(prompts: list[Prompt]) -> None:
    for prompt in prompts:
        consensus_run(prompt=prompt)


def _all_at_once(prompts: list[Prompt]) -> None:
    consensus_run_many(prompt_ids=[p.pk for p in prompts])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_many_at_once_and_each_alone_leave_the_rows_the_consensus_as_it_was_leaves(
    volunteer, make_volunteer, seed
):
    w = World(volunteer, make_volunteer)
    rng = random.Random(seed)
    if seed == 1:
        build_everything(w)
    build_at_random(w, rng, size=40)
    _change_what_counts(w, rng)
    # Every prompt, with a consensus or not yet, ranked or not.
    prompts = list(Prompt.objects.order_by("pk"))
    before = rows(TABLES)

    as_it_was = _after(_one_by_one_as_it_was, prompts, before)
    assert rows(TABLES) == before
    assert as_it_was != normalised(rows(TABLES), before), "the consensus changed nothing"
    for run in (_one_by_one, _all_at_once):
        found = _after(run, prompts, before)
        for model in TABLES:
            label = model._meta.label
            assert found[label] == as_it_was[label], (run.__name__, label)


def test_consensus_run_returns_the_stored_row(volunteer, make_volunteer):
    w = World(volunteer, make_volunteer)
    prompt = w.ranked()

    consensus = consensus_run(prompt=prompt)

    assert consensus.prompt is prompt
    stored = PromptConsensus.objects.get(prompt=prompt)
    assert consensus.pk == stored.pk
    assert (consensus.order, consensus.rankers) == (stored.order, stored.rankers)


def _queries(run: Callable[[], Any]) -> int:
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            run()
        transaction.set_rollback(True)
    return len(captured.captured_queries)


def test_the_last_ranking_runs_no_more_queries_than_before(volunteer, make_volunteer):
    # The dispatcher runs it on the last ranking of every prompt, holding the prompt's lock:
    # two reads, the consensus row, and one update per answer's new rank (it was one more).
    w = World(volunteer, make_volunteer)
    prompt = w.prompt(S.RANKING)
    for author in (w.person, w.a1, w.a2, w.author):
        w.answer(prompt, author)
    ids = list(prompt.responses.values_list("pk", flat=True))
    for ranker in w.rankers:
        Ranking.objects.create(ranker=ranker, prompt=prompt, order=random.sample(ids, len(ids)))

    as_it_was = _queries(lambda: consensus_run_as_it_was(prompt=prompt))
    now = _queries(lambda: consensus_run(prompt=prompt))

    assert now == 2 + 1 + len(ids)
    assert now < as_it_was


def test_a_refresh_runs_as_many_queries_for_many_prompts_as_for_few(volunteer, make_volunteer):
    w = World(volunteer, make_volunteer)

    def ranked_first() -> Prompt:
        """The person's answer first in every ranking, so every rank moves on their ban."""
        prompt = w.prompt(S.COMPLETE)
        order = [w.answer(prompt, author).pk for author in (w.person, w.a1, w.a2)]
        for ranker in w.rankers:
            Ranking.objects.create(ranker=ranker, prompt=prompt, order=order)
        consensus_run(prompt=prompt)
        return prompt

    few = [ranked_first() for _ in range(2)]
    many = few + [ranked_first() for _ in range(18)]
    User.objects.filter(pk=w.person.pk).update(banned_at=timezone.now())

    counts = [
        _queries(lambda ps=ps: consensus_refresh(prompt_ids=[p.pk for p in ps]))
        for ps in (few, many)
    ]

    assert counts[0] == counts[1], f"{counts[0]} queries for 2 prompts, {counts[1]} for 20"
    assert consensus_refresh(prompt_ids=[p.pk for p in many]) == 20
    ranks = Response.objects.filter(prompt__in=many).values_list("author_id", "consensus_rank")
    assert set(ranks) == {(w.person.pk, None), (w.a1.pk, 1), (w.a2.pk, 2)}
