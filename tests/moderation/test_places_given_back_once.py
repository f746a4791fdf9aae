"""A person's answer holds one of its collecting prompt's places while it counts toward the
target (``flow.count_responses``: in review or accepted, not withdrawn, not hidden, its author
not banned). Its place goes back once when it stops counting, however many of withdrawing,
hiding and a ban befall it, and a restore or an unban takes it back while it is still open
(race QA: hide then withdraw, hide/restore and ban/unban cycles each gave one more place)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.accounts.services import account_delete, model_author
from apps.collection import services as collection
from apps.collection.flow import live_responses
from apps.collection.models import Prompt, PromptState, Response, ResponseState, Source
from apps.collection.policy import current_policy
from apps.moderation import services as moderation
from tests.factories import PromptFactory, ResponseFactory
from tests.locks import require_row_locks

pytestmark = pytest.mark.django_db


def _collecting(make_volunteer: Any, answers: int = 2) -> tuple[Prompt, list[Response]]:
    """A collecting prompt with ``answers`` answers in review, each by another volunteer, and
    the rest of the target's places open (3 by default: one open for 2 answers)."""
    target = current_policy().responses_to_collect
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=target - answers)
    written = [
        ResponseFactory(prompt=prompt, author=make_volunteer(), state=ResponseState.REVIEW)
        for _ in range(answers)
    ]
    return prompt, written


def _open(prompt: Prompt) -> int:
    prompt.refresh_from_db()
    return prompt.open_slots


def _hide(moderator: User, answer: Response) -> None:
    moderation.content_hide(moderator=moderator, target=answer, reason="abuse")


def _restore(moderator: User, answer: Response) -> None:
    moderation.content_restore(moderator=moderator, target=answer, reason="fine after all")


def _withdraw(answer: Response) -> None:
    collection.response_withdraw(response=answer, user=User.objects.get(pk=answer.author_id))


def _ban(moderator: User, user_id: int) -> None:
    moderation.user_ban(moderator=moderator, user=User.objects.get(pk=user_id), reason="spam")


def _unban(moderator: User, user_id: int) -> None:
    moderation.user_unban(moderator=moderator, user=User.objects.get(pk=user_id))


def test_hiding_then_withdrawing_gives_the_place_back_once(moderator, make_volunteer):
    prompt, (answer, _other) = _collecting(make_volunteer)
    assert _open(prompt) == 1
    _hide(moderator, answer)
    assert _open(prompt) == 2
    _withdraw(answer)
    assert _open(prompt) == 2


def test_withdrawing_then_hiding_gives_the_place_back_once(moderator, make_volunteer):
    prompt, (answer, _other) = _collecting(make_volunteer)
    _withdraw(answer)
    assert _open(prompt) == 2
    _hide(moderator, answer)
    assert _open(prompt) == 2
    _restore(moderator, answer)  # still withdrawn: it counts no more than before
    assert _open(prompt) == 2


def test_a_banned_author_withdrawing_gives_nothing_back_the_ban_did_not(moderator, make_volunteer):
    prompt, (answer, _other) = _collecting(make_volunteer)
    _ban(moderator, answer.author_id)
    assert _open(prompt) == 2
    _withdraw(answer)  # withdrawing stays open to the banned
    assert _open(prompt) == 2
    _unban(moderator, answer.author_id)  # withdrawn: nothing to take back
    assert _open(prompt) == 2


def test_hiding_a_banned_authors_answer_gives_nothing_back_and_the_last_lift_takes_it(
    moderator, make_volunteer
):
    prompt, (answer, _other) = _collecting(make_volunteer)
    _ban(moderator, answer.author_id)
    assert _open(prompt) == 2
    _hide(moderator, answer)
    assert _open(prompt) == 2
    _unban(moderator, answer.author_id)  # still hidden: it does not count yet
    assert _open(prompt) == 2
    _restore(moderator, answer)
    assert _open(prompt) == 1
    assert live_responses(prompt) == 2


def test_three_hide_and_restore_cycles_leave_the_places_as_they_were(moderator, make_volunteer):
    prompt, (answer, _other) = _collecting(make_volunteer)
    for _ in range(3):
        _hide(moderator, answer)
        assert _open(prompt) == 2
        _restore(moderator, answer)
        assert _open(prompt) == 1


def test_ban_unban_ban_gives_each_place_back_once(moderator, make_volunteer):
    person = make_volunteer()
    first, _ = _collecting(make_volunteer)
    second, _ = _collecting(make_volunteer, answers=1)
    for prompt in (first, second):
        ResponseFactory(prompt=prompt, author=person, state=ResponseState.ACCEPTED)
        prompt.open_slots -= 1
        prompt.save(update_fields=["open_slots"])
    assert (_open(first), _open(second)) == (0, 1)

    _ban(moderator, person.pk)
    assert (_open(first), _open(second)) == (1, 2)
    _unban(moderator, person.pk)
    assert (_open(first), _open(second)) == (0, 1)
    _ban(moderator, person.pk)
    assert (_open(first), _open(second)) == (1, 2)
    _unban(moderator, person.pk)
    assert (_open(first), _open(second)) == (0, 1)


def test_answers_that_hold_no_place_give_none_back_nor_take_one(moderator, make_volunteer):
    """A rejected answer (its place went back with the rejection), a model's (it never held
    one) and a banned author's (the ban gave it back)."""
    prompt, _ = _collecting(make_volunteer)
    banned = make_volunteer()
    _ban(moderator, banned.pk)
    answers = [
        ResponseFactory(prompt=prompt, author=make_volunteer(), state=ResponseState.REJECTED),
        ResponseFactory(prompt=prompt, author=model_author(), source=Source.MODEL),
        ResponseFactory(prompt=prompt, author=banned, state=ResponseState.REVIEW),
    ]
    for answer in answers:
        _hide(moderator, answer)
        assert _open(prompt) == 1
        _restore(moderator, answer)
        assert _open(prompt) == 1
        _withdraw(answer)
        assert _open(prompt) == 1


def test_a_restore_takes_back_only_a_place_still_open(moderator, make_volunteer):
    prompt, (answer, _other) = _collecting(make_volunteer)
    _hide(moderator, answer)
    assert _open(prompt) == 2
    collection.response_create(prompt=prompt, author=make_volunteer(), text="A replacement.")
    assert _open(prompt) == 1
    _restore(moderator, answer)  # one of its places is still open
    assert _open(prompt) == 0
    assert live_responses(prompt) == 3

    _hide(moderator, answer)
    assert _open(prompt) == 1
    collection.response_create(prompt=prompt, author=make_volunteer(), text="Another one.")
    assert _open(prompt) == 0
    _restore(moderator, answer)  # its place was taken: the prompt keeps the extra answer
    assert _open(prompt) == 0
    assert live_responses(prompt) == 4


def test_an_unban_takes_back_only_places_still_open(moderator, make_volunteer):
    person = make_volunteer()
    filled, _ = _collecting(make_volunteer)
    still_open, _ = _collecting(make_volunteer)
    for prompt in (filled, still_open):
        ResponseFactory(prompt=prompt, author=person, state=ResponseState.REVIEW)
        prompt.open_slots -= 1
        prompt.save(update_fields=["open_slots"])
    _ban(moderator, person.pk)
    assert (_open(filled), _open(still_open)) == (1, 1)
    collection.response_create(prompt=filled, author=make_volunteer(), text="A replacement.")
    assert (_open(filled), _open(still_open)) == (0, 1)

    _unban(moderator, person.pk)
    assert (_open(filled), _open(still_open)) == (0, 0)
    assert (live_responses(filled), live_responses(still_open)) == (4, 3)


def test_deleting_an_account_gives_back_only_the_places_its_answers_still_held(
    moderator, make_volunteer
):
    person = make_volunteer()
    shown, _ = _collecting(make_volunteer)
    hidden, _ = _collecting(make_volunteer)
    answers = {}
    for prompt in (shown, hidden):
        answers[prompt.pk] = ResponseFactory(
            prompt=prompt, author=person, state=ResponseState.REVIEW
        )
        prompt.open_slots -= 1
        prompt.save(update_fields=["open_slots"])
    _hide(moderator, answers[hidden.pk])
    assert (_open(shown), _open(hidden)) == (0, 1)

    account_delete(user=User.objects.get(pk=person.pk))

    assert (_open(shown), _open(hidden)) == (1, 1)
    assert not Response.objects.filter(author=person, withdrawn_at__isnull=True).exists()


def test_deleting_a_banned_account_gives_back_no_place_again(moderator, make_volunteer):
    person = make_volunteer()
    prompt, _ = _collecting(make_volunteer)
    ResponseFactory(prompt=prompt, author=person, state=ResponseState.ACCEPTED)
    prompt.open_slots -= 1
    prompt.save(update_fields=["open_slots"])
    _ban(moderator, person.pk)
    assert _open(prompt) == 1

    account_delete(user=User.objects.get(pk=person.pk))

    assert _open(prompt) == 1
    assert live_responses(prompt) == 2


def _unban_queries(moderator: User, person: User) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        _unban(moderator, person.pk)
    return [q["sql"] for q in captured.captured_queries]


def test_an_unban_takes_places_back_in_as_many_queries_for_much_work_as_for_little(
    moderator, make_volunteer
):
    counts = []
    for size in (2, 20):
        person = make_volunteer()
        prompts = [_collecting(make_volunteer)[0] for _ in range(size)]
        for prompt in prompts:
            ResponseFactory(prompt=prompt, author=person, state=ResponseState.REVIEW)
            prompt.open_slots -= 1
            prompt.save(update_fields=["open_slots"])
        _ban(moderator, person.pk)
        assert [_open(prompt) for prompt in prompts] == [1] * size
        # A fresh copy of the moderator each time: a user caches its permissions.
        counts.append(len(_unban_queries(User.objects.get(pk=moderator.pk), person)))
        assert [_open(prompt) for prompt in prompts] == [0] * size
    assert counts[0] == counts[1], f"{counts[0]} queries for 2 prompts, {counts[1]} for 20"


def test_an_unban_locks_the_prompts_and_answers_before_it_takes_places_back(
    moderator, make_volunteer
):
    # The dispatcher's order (user, prompt, response; a banned person holds no task), each
    # kind by id, and no prompt changed before all are locked.
    require_row_locks()
    person = make_volunteer()
    for _ in range(3):
        prompt, _ = _collecting(make_volunteer)
        ResponseFactory(prompt=prompt, author=person, state=ResponseState.REVIEW)
    _ban(moderator, person.pk)

    statements = _unban_queries(moderator, person)

    locks = [i for i, sql in enumerate(statements) if "FOR " in sql and "UPDATE" in sql]
    tables = [statements[i].split(" FROM ", 1)[1].split()[0].strip('"') for i in locks]
    assert tables == ["accounts_user", "collection_prompt", "collection_response"]
    for i in locks[1:]:
        assert statements[i].rstrip().endswith("FOR NO KEY UPDATE"), statements[i]
        assert " ORDER BY " in statements[i], statements[i]
    taken_back = [
        i for i, sql in enumerate(statements) if sql.startswith('UPDATE "collection_prompt"')
    ]
    assert taken_back and min(taken_back) > max(locks)


def test_rejecting_an_answer_hidden_meanwhile_gives_no_place_back_again(moderator, make_volunteer):
    """A review under way when the answer was hidden (submitted before the hide released its
    task) rejects it: the hide gave its place back already."""
    from apps.feedback.services import response_review_create

    policy = current_policy()
    prompt, (answer, _other) = _collecting(make_volunteer)
    _hide(moderator, answer)
    assert _open(prompt) == 2
    answer.refresh_from_db()
    for _ in range(policy.response_reviews_required):
        response_review_create(
            reviewer=make_volunteer(),
            response=answer,
            payload={"labels": ["spam"], "quality": 1},
            policy=policy,
        )
    answer.refresh_from_db()
    assert answer.state == ResponseState.REJECTED
    assert _open(prompt) == 2
