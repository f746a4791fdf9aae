"""Writes to prompts and answers take row locks in the dispatcher's order (a prompt, then its
answers) and change shared rows under their lock: against real PostgreSQL, with a second
connection standing in for the other path."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.collection.models import CollectionPolicy, Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy, policy_update
from apps.collection.services import response_update
from tests.factories import PromptFactory, ResponseFactory
from tests.locks import (
    InThread,
    lock_row,
    pause_before,
    require_row_locks,
    wait_until_it_waits_on_a_lock_or_ends,
    wait_until_someone_waits_on_a_lock,
)


@pytest.mark.django_db(transaction=True)
def test_editing_an_answer_locks_its_prompt_before_the_answer(volunteer):
    require_row_locks()
    prompt = PromptFactory(state=PromptState.REVIEW)
    answer = ResponseFactory(prompt=prompt, author=volunteer, state=ResponseState.REVIEW)

    with transaction.atomic():
        lock_row(Prompt, prompt.pk)  # a hide, withdrawal or review holds the prompt ...
        edit = InThread(
            lambda: response_update(response=answer, user=volunteer, text="A better answer.")
        ).start()
        wait_until_someone_waits_on_a_lock()
        lock_row(Response, answer.pk)  # ... and then wants the answer
    edit.join()

    answer.refresh_from_db()
    assert answer.text == "A better answer."


@pytest.mark.django_db(transaction=True)
def test_two_maintainers_changing_the_policy_at_once_both_keep_their_change(monkeypatch):
    require_row_locks()
    current_policy()
    first = pause_before(CollectionPolicy, "full_clean", monkeypatch)
    one = InThread(lambda: policy_update(changes={"rankings_required": 5})).start()
    first.wait()  # it read the policy and is about to write it
    other = InThread(lambda: policy_update(changes={"responses_to_collect": 7})).start()
    # The other change waits for the first one's lock (without a lock it is written at once).
    wait_until_it_waits_on_a_lock_or_ends(other)
    first.go.set()
    one.join()
    other.join()

    policy = CollectionPolicy.objects.get(pk=1)
    assert (policy.rankings_required, policy.responses_to_collect) == (5, 7)
