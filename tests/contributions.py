"""A person's work in every state, with other people's around it, for the tests that compare a
bulk path with the per-item loop it replaced (account deletion, bans) row by row; and the
per-prompt consensus as it was written before one implementation served both."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from apps.accounts.models import User
from apps.assignments.models import Assignment, TaskType
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.core.sql import columns, fetch_all, quote, update, upsert
from apps.feedback.consensus import compute_consensus
from apps.feedback.models import PromptConsensus, Ranking, Review
from apps.feedback.services import consensus_run, rankable_responses
from tests.factories import PromptFactory, ResponseFactory

S, R = PromptState, ResponseState


class World:
    """A person, the people around them, and helpers that build work in every state."""

    def __init__(self, person: User, make_volunteer: Callable[..., User]) -> None:
        self.person = person
        self.author, self.a1, self.a2 = (make_volunteer() for _ in range(3))
        self.rankers = [make_volunteer() for _ in range(3)]
        self.banned = make_volunteer()
        self.banned.banned_at = timezone.now()
        self.banned.save(update_fields=["banned_at"])
        self.rng = random.Random(7)

    def prompt(self, state: str, *, author: User | None = None, **kwargs: Any) -> Prompt:
        return PromptFactory(author=author or self.author, state=state, **kwargs)

    def answer(self, prompt: Prompt, author: User, state: str = R.ACCEPTED, **kw: Any) -> Response:
        return ResponseFactory(prompt=prompt, author=author, state=state, **kw)

    def assign(self, user: User, task_type: str, prompt: Prompt, **kwargs: Any) -> Assignment:
        return Assignment.objects.create(
            user=user,
            task_type=task_type,
            prompt=prompt,
            phase=prompt.state,
            expires_at=timezone.now() + timedelta(minutes=10),
            **kwargs,
        )

    def rank(self, prompt: Prompt, rankers: list[User], *, unusable: int = -1) -> None:
        """Rankings of the prompt's accepted live answers (the ``unusable``-th marks them
        unusable), then its consensus, as ranking_create leaves them."""
        ids = list(
            prompt.responses.filter(state=R.ACCEPTED, withdrawn_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        for n, ranker in enumerate(rankers):
            order = [] if n == unusable else self.rng.sample(ids, len(ids))
            Ranking.objects.create(
                ranker=ranker, prompt=prompt, order=order, unusable=n == unusable
            )
        consensus_run(prompt=prompt)

    def ranked(self, *, mine: str = R.ACCEPTED, author: User | None = None, **kw: Any) -> Prompt:
        """A complete prompt with the person's answer (in state ``mine``) and two others."""
        prompt = self.prompt(S.COMPLETE, author=author)
        if mine:
            self.answer(prompt, self.person, mine, **kw)
        self.answer(prompt, self.a1)
        self.answer(prompt, self.a2)
        self.rank(prompt, self.rankers)
        return prompt


def build_everything(w: World) -> None:
    """The person's answers and prompts in every state that withdrawing treats differently,
    with other people's tasks, reviews, rankings and consensus around them."""
    person, a1, a2, r1 = w.person, w.a1, w.a2, w.rankers[0]
    now = timezone.now()
    # Answers to others' prompts that are collecting: in review (someone is reviewing it),
    # accepted, rejected (its place was already given back), hidden.
    collecting = w.prompt(S.COLLECTING, open_slots=0)
    in_review = w.answer(collecting, person, R.REVIEW, open_slots=1)
    w.assign(a1, TaskType.REVIEW_RESPONSE, collecting, response=in_review)
    w.answer(w.prompt(S.COLLECTING, open_slots=1), person, R.ACCEPTED)
    w.answer(w.prompt(S.COLLECTING, open_slots=2), person, R.REJECTED)
    w.answer(w.prompt(S.COLLECTING, open_slots=1), person, R.ACCEPTED, hidden_at=now)
    # On a withdrawn prompt, a halted one, a rejected one; and an answer already withdrawn.
    w.answer(w.prompt(S.COLLECTING, withdrawn_at=now), person)
    w.answer(w.prompt(S.HALTED), person)
    w.answer(w.prompt(S.REJECTED), person, R.REVIEW)
    w.answer(w.prompt(S.COLLECTING, open_slots=1), person, R.ACCEPTED, withdrawn_at=now)
    # Ranking: one ranking in, a ranker holds the next.
    ranking = w.prompt(S.RANKING, open_slots=1)
    for author in (person, a1, a2):
        w.answer(ranking, author)
    w.rank(ranking, [w.rankers[1]])
    w.assign(r1, TaskType.RANK, ranking)
    # Complete, with consensus: the person's answer ranked; rejected (out of the set); beside
    # a hidden answer and a banned author's; ranked by a banned ranker and one who found the
    # set unusable; beside their own earlier, withdrawn answer; ranked by nobody in good
    # standing (an empty consensus); with a consensus gone stale.
    w.ranked()
    w.ranked(mine=R.REJECTED)
    mixed = w.prompt(S.COMPLETE)
    for author in (person, a1, a2, w.banned):
        w.answer(mixed, author)
    w.answer(mixed, w.author, hidden_at=now)
    w.rank(mixed, [w.banned, *w.rankers[1:]], unusable=1)
    again = w.prompt(S.COMPLETE)
    w.answer(again, person, withdrawn_at=now)
    w.answer(again, person)
    w.answer(again, a1)
    w.rank(again, w.rankers[:2])
    nobody = w.prompt(S.COMPLETE)
    w.answer(nobody, person)
    w.answer(nobody, a1)
    w.rank(nobody, [w.banned])
    tied = w.prompt(S.COMPLETE)  # two rankers in opposite orders: a tie, broken by the prompt
    others = [w.answer(tied, author).pk for author in (a1, a2, w.author, w.rankers[2])]
    w.answer(tied, person)
    Ranking.objects.create(ranker=r1, prompt=tied, order=others)
    Ranking.objects.create(ranker=w.rankers[1], prompt=tied, order=others[::-1])
    consensus_run(prompt=tied)
    stale = w.ranked()
    PromptConsensus.objects.filter(prompt=stale).update(order=[], agreement=0.0, rankers=9)
    stale.responses.update(consensus_rank=7)

    # The person's own prompts: in review with their first answer (a reviewer holds it),
    # collecting (an answer in review, a review and an answer held), ranking (a rank held),
    # complete, rejected, halted, and one already withdrawn.
    review = w.prompt(S.REVIEW, author=person, open_slots=1)
    w.answer(review, person, R.REVIEW)
    w.assign(a1, TaskType.REVIEW_PROMPT, review)
    mine = w.prompt(S.COLLECTING, author=person, open_slots=0)
    w.answer(mine, person)
    theirs = w.answer(mine, a1, R.REVIEW, open_slots=1)
    w.assign(a2, TaskType.REVIEW_RESPONSE, mine, response=theirs)
    w.assign(r1, TaskType.RESPOND, mine)
    mine_ranking = w.prompt(S.RANKING, author=person, open_slots=2)
    w.answer(mine_ranking, a1)
    w.answer(mine_ranking, a2)
    w.assign(r1, TaskType.REVIEW_PROMPT, w.prompt(S.REVIEW))  # someone else's task, untouched
    w.assign(w.rankers[2], TaskType.RANK, mine_ranking)
    w.ranked(mine="", author=person)
    w.prompt(S.REJECTED, author=person)
    w.prompt(S.HALTED, author=person)
    w.prompt(S.COLLECTING, author=person, withdrawn_at=now)

    # The person's own judgements stay; the task they hold goes back.
    Review.objects.create(reviewer=person, response=theirs, quality=4)
    Ranking.objects.create(ranker=person, prompt=w.prompt(S.RANKING), order=[], unusable=True)
    w.assign(person, TaskType.REVIEW_PROMPT, w.prompt(S.REVIEW, open_slots=1))


def build_at_random(w: World, rng: random.Random, size: int) -> None:
    """``size`` prompts in random states, each with a random mix of answers (the person's
    among them or not, in any state, hidden or withdrawn), rankings and consensus."""
    people = [w.person, w.a1, w.a2, w.author, w.banned]
    for _ in range(size):
        state = rng.choice([S.REVIEW, S.COLLECTING, S.RANKING, S.COMPLETE, S.HALTED])
        author = rng.choice([w.person, w.author, w.a1])
        prompt = w.prompt(state, author=author, open_slots=rng.randint(0, 3))
        for who in rng.sample(people, rng.randint(0, len(people))):
            if state == S.REVIEW and who != author:
                continue
            w.answer(
                prompt,
                who,
                rng.choice([R.REVIEW, R.ACCEPTED, R.ACCEPTED, R.REJECTED]),
                hidden_at=timezone.now() if rng.random() < 0.15 else None,
                withdrawn_at=timezone.now() if rng.random() < 0.15 else None,
                open_slots=rng.randint(0, 2),
            )
        if state in (S.RANKING, S.COMPLETE):
            rankers = rng.sample([*w.rankers, w.banned], rng.randint(1, 3))
            w.rank(prompt, rankers, unusable=rng.choice([-1, -1, 0]))
        if rng.random() < 0.3:
            ranker = rng.choice([w.a1, w.a2, w.rankers[0]])
            if ranker != author:
                w.assign(ranker, TaskType.RANK, prompt)


# --- comparing ------------------------------------------------------------------------------


Rows = dict[str, dict[Any, dict[str, Any]]]


def rows(tables: Iterable[type[Model]]) -> Rows:
    """Every row of these tables, by table label and id."""
    return {m._meta.label: {r["id"]: r for r in m.objects.values()} for m in tables}


def normalised(found: Rows, before: Rows) -> Rows:
    """Times as "unchanged" or "set" (each path reads its own clock), passwords as usable or
    not (an unusable one is random)."""
    for label, table in found.items():
        for pk, row in table.items():
            old = before[label].get(pk, {})
            for name, value in row.items():
                if isinstance(value, datetime):
                    row[name] = "unchanged" if old.get(name) == value else "set"
            if "password" in row:
                row["password"] = not row["password"].startswith("!")
    return found


# --- the consensus as it was ------------------------------------------------------------------


def consensus_run_as_it_was(*, prompt: Prompt) -> PromptConsensus:
    """``consensus_run`` as it was written before the set-based one replaced it: one prompt
    at a time, each changed rank in its own statement (the reference that one must match)."""
    responses = rankable_responses(prompt)
    current = {r.pk for r in responses}
    rankings: list[list[int] | None] = []
    for ranking in _rankings_of_rankers_in_good_standing(prompt):
        rankings.append(None if ranking.unusable else [i for i in ranking.order if i in current])
    seen_by_all = current.intersection(*(set(r) for r in rankings if r is not None))
    ids = sorted(seen_by_all)
    rankings = [None if r is None else [i for i in r if i in seen_by_all] for r in rankings]
    if rankings:
        tie_break = list(ids)
        random.Random(prompt.pk).shuffle(tie_break)
        result = compute_consensus(rankings, ids, tie_break=tie_break)
        consensus = PromptConsensus(
            prompt=prompt,
            order=list(result.order),
            agreement=result.agreement,
            rankers=result.rankers,
            unusable_rankers=result.unusable_rankers,
            pairwise_wins={f"{a}>{b}": n for (a, b), n in result.pairwise_wins.items()},
        )
        ranks = dict(result.ranks)
    else:
        consensus = PromptConsensus(prompt=prompt, order=[], rankers=0, pairwise_wins={})
        ranks = {}
    consensus = upsert(consensus, unique=["prompt"])
    for response in responses:
        rank = ranks.get(response.pk)
        if response.consensus_rank != rank:
            response.consensus_rank = rank
            update(response, ["consensus_rank"])
    keep = f'AND "id" NOT IN ({", ".join(["%s"] * len(ids))})' if ids else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {quote(Response._meta.db_table)} SET "consensus_rank" = NULL '
            f'WHERE "prompt_id" = %s AND "consensus_rank" IS NOT NULL {keep}',
            [prompt.pk, *ids],
        )
    return consensus


def _rankings_of_rankers_in_good_standing(prompt: Prompt) -> list[Ranking]:
    rankings, users = quote(Ranking._meta.db_table), quote(User._meta.db_table)
    return fetch_all(
        f"SELECT {columns(Ranking, rankings)} FROM {rankings} "
        f'INNER JOIN {users} u ON u."id" = {rankings}."ranker_id" '
        f'WHERE {rankings}."prompt_id" = %s AND u."banned_at" IS NULL '
        f'ORDER BY {rankings}."created_at", {rankings}."id"',
        [prompt.pk],
        Ranking,
    )


def account_delete_one_by_one(*, user: User) -> User:
    """``account_delete`` as it was before the bulk path: each answer, then each prompt,
    withdrawn on its own (the reference the bulk path must match, and the benchmark's
    baseline)."""
    from django.db import transaction

    from apps.accounts.services import account_delete
    from apps.assignments.services import assignments_release_for_user
    from apps.collection.services import prompt_withdraw, response_withdraw

    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        assignments_release_for_user(user=user)
        for response in Response.objects.filter(author=user, withdrawn_at__isnull=True):
            response_withdraw(response=response, user=user)
        for prompt in Prompt.objects.filter(author=user, withdrawn_at__isnull=True):
            prompt_withdraw(prompt=prompt, user=user)
        return account_delete(user=user)  # the rest: nothing left to withdraw


def user_ban_one_by_one(*, moderator: User, user: User, reason: str) -> User:
    """``user_ban`` as it was before the bulk path, past its checks: each answer's place
    given back, then each prompt's consensus re-run, one prompt at a time (the reference the
    bulk path must match, and the benchmark's baseline)."""
    from django.db import transaction

    from apps.assignments.services import assignments_release_for_user
    from apps.collection import flow
    from apps.moderation.models import ModerationAction

    with transaction.atomic():
        user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        user.banned_at = timezone.now()
        user.ban_reason = reason
        user.save(update_fields=["banned_at", "ban_reason"])
        assignments_release_for_user(user=user)
        answered = Response.objects.filter(
            author=user,
            state__in=(ResponseState.REVIEW, ResponseState.ACCEPTED),
            withdrawn_at__isnull=True,
            hidden_at__isnull=True,
            prompt__state=PromptState.COLLECTING,
        ).values_list("prompt_id", flat=True)
        for prompt_id in list(answered):
            flow.give_back_prompt_slot(prompt_id=prompt_id, phase=PromptState.COLLECTING)
        ranked = Ranking.objects.filter(ranker=user).values_list("prompt_id", flat=True)
        answered = Response.objects.filter(author=user).values_list("prompt_id", flat=True)
        for prompt in Prompt.objects.filter(
            pk__in={*ranked, *answered}, consensus__isnull=False
        ).order_by("pk"):
            consensus_run_as_it_was(prompt=prompt)
        ModerationAction.objects.create(
            actor=moderator, action=ModerationAction.Action.BAN, subject=user, reason=reason
        )
        return user
