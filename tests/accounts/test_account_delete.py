"""Deleting an account withdraws all of a person's work in bulk: the same rows as withdrawing
each answer and then each prompt on its own, in the same number of queries whatever its size."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from apps.accounts import services
from apps.accounts.models import ApiToken, User
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.feedback.models import PromptConsensus, Ranking, Review
from tests import contributions
from tests.contributions import Rows, World, build_at_random, normalised, rows
from tests.locks import assert_work_locked_in_order_before_changed, require_row_locks

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


def build_everything(w: World) -> None:
    """Everything ``contributions.build_everything`` builds, and an API token."""
    contributions.build_everything(w)
    services.api_token_create(user=w.person, name="script")


def _rows() -> Rows:
    return rows(TABLES)


def _after(delete: Callable[..., Any], person: User, before: Rows) -> Rows:
    """Every row of the tables concerned after ``delete``, which is then rolled back."""
    with transaction.atomic():
        delete(user=person)
        rows = normalised(_rows(), before)
        transaction.set_rollback(True)
    return rows


def _assert_same_as_one_by_one(person: User) -> Rows:
    before = _rows()
    one_by_one = _after(contributions.account_delete_one_by_one, person, before)
    assert _rows() == before  # rolled back: the second path starts from the same rows
    in_bulk = _after(services.account_delete, person, before)
    for model in TABLES:
        label = model._meta.label
        assert in_bulk[label] == one_by_one[label], label
    assert in_bulk != normalised(_rows(), before), "the deletion changed nothing"
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
    require_row_locks()
    w = World(volunteer, make_volunteer)
    build_everything(w)

    assert_work_locked_in_order_before_changed(_count_queries(volunteer))


@pytest.mark.parametrize("write", ["prompt", "answer", "import"])
@pytest.mark.parametrize("then", ["deleted", "banned"])
def test_a_request_that_signed_in_before_a_deletion_or_ban_adds_no_work(
    write, then, volunteer, moderator, make_volunteer
):
    """A request holds the account as it was when it signed in: deleted or banned since, it
    must not write (a deleted account's live prompt would reach the next release)."""
    from django.core.exceptions import PermissionDenied

    from apps.collection import services as collection
    from apps.collection.policy import current_policy
    from apps.moderation.services import user_ban
    from tests.factories import PromptFactory

    signed_in = User.objects.get(pk=volunteer.pk)  # what the request authenticated
    prompt = PromptFactory(author=make_volunteer(), state=PromptState.COLLECTING, open_slots=3)
    if then == "deleted":
        services.account_delete(user=User.objects.get(pk=volunteer.pk))
    else:
        user_ban(moderator=moderator, user=User.objects.get(pk=volunteer.pk), reason="spam")
    assert signed_in.deleted_at is None and signed_in.banned_at is None
    fields = {"instruction": "Name a river in Spain.", "category": "open_qa", "language": "en"}
    with pytest.raises(PermissionDenied, match="deleted" if then == "deleted" else "suspended"):
        if write == "prompt":
            collection.prompt_create(author=signed_in, **fields)
        elif write == "answer":
            collection.response_create(prompt=prompt, author=signed_in, text="The Ebro.")
        else:
            checked = collection.CheckedPrompt(
                collection.check_prompt_fields(context="", **fields), "The Tagus."
            )
            collection.prompts_create_imported(
                author=signed_in,
                prompts=[checked],
                origin="import",
                licence="CC BY-SA 3.0",
                state=PromptState.REVIEW,
                response_state=ResponseState.REVIEW,
                policy=current_policy(),
            )
    assert not Prompt.objects.filter(author=volunteer, withdrawn_at__isnull=True).exists()
    assert not Response.objects.filter(author=volunteer, withdrawn_at__isnull=True).exists()
