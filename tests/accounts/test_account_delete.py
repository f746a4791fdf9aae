"""Deleting an account withdraws all of a person's work in bulk: the same rows as withdrawing
each answer and then each prompt on its own, in the same number of queries whatever its size."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ApiToken, User
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.assignments.services import assignments_release_for_user
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.services import prompt_withdraw, response_withdraw
from apps.feedback.models import PromptConsensus, Ranking, Review
from apps.feedback.services import consensus_run
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

S, R = PromptState, ResponseState
TABLES: tuple[type[Model], ...] = (
    User,
    ApiToken,
    Prompt,
    Response,
    PromptConsensus,
    Ranking,
    Review,
    Assignment,
)


def _account_delete_one_by_one(*, user: User) -> User:
    """``account_delete`` as it was before the bulk path: each answer, then each prompt,
    withdrawn on its own (the reference the bulk path must match)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        assignments_release_for_user(user=user)
        for response in Response.objects.filter(author=user, withdrawn_at__isnull=True):
            response_withdraw(response=response, user=user)
        for prompt in Prompt.objects.filter(author=user, withdrawn_at__isnull=True):
            prompt_withdraw(prompt=prompt, user=user)
        return services.account_delete(user=user)  # the rest: nothing left to withdraw


# --- building work ----------------------------------------------------------------------------


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
    services.api_token_create(user=person, name="script")


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


def _rows() -> Rows:
    return {m._meta.label: {r["id"]: r for r in m.objects.values()} for m in TABLES}


def _normalised(rows: Rows, before: Rows) -> Rows:
    """Times as "unchanged" or "set" (each path reads its own clock), passwords as usable or
    not (an unusable one is random)."""
    for label, table in rows.items():
        for pk, row in table.items():
            old = before[label].get(pk, {})
            for name, value in row.items():
                if isinstance(value, datetime):
                    row[name] = "unchanged" if old.get(name) == value else "set"
            if "password" in row:
                row["password"] = not row["password"].startswith("!")
    return rows


def _after(delete: Callable[..., Any], person: User, before: Rows) -> Rows:
    """Every row of the tables concerned after ``delete``, which is then rolled back."""
    with transaction.atomic():
        delete(user=person)
        rows = _normalised(_rows(), before)
        transaction.set_rollback(True)
    return rows


def _assert_same_as_one_by_one(person: User) -> Rows:
    before = _rows()
    one_by_one = _after(_account_delete_one_by_one, person, before)
    assert _rows() == before  # rolled back: the second path starts from the same rows
    in_bulk = _after(services.account_delete, person, before)
    for model in TABLES:
        label = model._meta.label
        assert in_bulk[label] == one_by_one[label], label
    assert in_bulk != _normalised(_rows(), before), "the deletion changed nothing"
    return in_bulk


def test_bulk_withdrawal_leaves_the_rows_withdrawing_one_by_one_leaves(volunteer, make_volunteer):
    w = World(volunteer, make_volunteer)
    build_everything(w)

    rows = _assert_same_as_one_by_one(volunteer)

    # And those rows are what they should be: nothing of the person's is left live, and the
    # consensus of what they answered is that of the others' answers alone.
    responses = rows["collection.Response"].values()
    prompts = rows["collection.Prompt"].values()
    assert all(r["withdrawn_at"] is not None for r in responses if r["author_id"] == w.person.pk)
    assert all(p["withdrawn_at"] is not None for p in prompts if p["author_id"] == w.person.pk)
    for consensus in rows["feedback.PromptConsensus"].values():
        assert not {r["id"] for r in responses if r["author_id"] == w.person.pk}.intersection(
            consensus["order"]
        )
    assert [
        a["state"] for a in rows["assignments.Assignment"].values() if a["user_id"] == w.person.pk
    ] == [AssignmentState.RELEASED]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_withdrawal_matches_one_by_one_on_random_work(volunteer, make_volunteer, seed):
    w = World(volunteer, make_volunteer)
    build_at_random(w, random.Random(seed), size=40)

    _assert_same_as_one_by_one(volunteer)


def test_a_failure_halfway_leaves_everything_as_it_was(volunteer, make_volunteer, monkeypatch):
    w = World(volunteer, make_volunteer)
    build_everything(w)
    before = _rows()

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    # The last step, after every prompt and answer is withdrawn.
    monkeypatch.setattr(User, "set_unusable_password", fail)
    with pytest.raises(RuntimeError):
        services.account_delete(user=volunteer)

    assert _rows() == before


def _count_queries(person: User) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        services.account_delete(user=person)
    return [q["sql"] for q in captured.captured_queries]


def test_deleting_runs_as_many_queries_for_much_work_as_for_little(make_volunteer):
    counts = []
    for size in (2, 20):
        person = make_volunteer()
        w = World(person, make_volunteer)
        for _ in range(size):
            for state in (S.COLLECTING, S.RANKING, S.COMPLETE):
                prompt = w.prompt(state)
                w.answer(prompt, person)
                w.answer(prompt, w.a1)
                if state == S.COMPLETE:
                    w.rank(prompt, w.rankers)
            for state in (S.REVIEW, S.COLLECTING, S.COMPLETE):
                w.answer(w.prompt(state, author=person), w.a1)
        w.assign(person, TaskType.REVIEW_PROMPT, w.prompt(S.REVIEW, open_slots=1))
        counts.append(len(_count_queries(person)))

    assert counts[0] == counts[1], f"{counts[0]} queries for 2 of each, {counts[1]} for 20"


def test_prompts_are_locked_before_answers_each_in_id_order(volunteer, make_volunteer):
    # The dispatcher's lock order (user, assignment, prompt, response), and one order within
    # each kind, so a deletion cannot deadlock with volunteers working on the same prompts.
    if not connection.features.has_select_for_no_key_update:
        pytest.skip("this database takes no row locks")
    w = World(volunteer, make_volunteer)
    build_everything(w)

    locks = [sql for sql in _count_queries(volunteer) if "FOR " in sql and "UPDATE" in sql]

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
