"""A raise of a policy count committed while other transactions give work its slots from the
policy (race QA): a prompt written, or moved on by a submitted task, at that moment took the
old count, and the raise's top-up, which sees only committed rows, missed it. It then waited
for good for a task nobody could be handed. Each test holds the raise's transaction open until
the writer either finished (the old code) or waits for it (``policy_gate``), then commits."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from apps.accounts.models import User
from apps.accounts.services import account_delete
from apps.collection.importing import check_import_options, prompts_import_jsonl
from apps.collection.models import Prompt, PromptState, ResponseState
from apps.collection.policy import policy_update
from apps.collection.services import prompt_create, response_withdraw
from apps.moderation import services as moderation
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory
from tests.locks import InThread, lock_row, require_row_locks, wait_until_someone_waits_on_a_lock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow(seconds=3)]


def _raise_while(changes: dict[str, int], write: Callable[[], Any]) -> Any:
    """Run ``write`` in a thread of its own while ``policy_update(changes)`` sits uncommitted,
    and commit the raise once ``write`` returned or waits on a lock; ``write``'s result."""
    assert connection.vendor == "postgresql"
    raised, done = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def writer() -> None:
        try:
            raised.wait(10)
            outcome["result"] = write()
        except BaseException as exc:  # fails the test below, not only this thread
            outcome["error"] = exc
        finally:
            done.set()
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    with transaction.atomic():
        policy_update(changes=changes)
        raised.set()
        deadline = time.monotonic() + 10
        while not done.is_set() and time.monotonic() < deadline:
            # A request may open connections of its own: any lock waited for in this database
            # (the test's alone; its only other connection is this one).
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()))"
                )
                waiting = cursor.fetchone()[0]
            if waiting:
                break  # it waits for this transaction: commit, and it goes on
            time.sleep(0.01)
    thread.join(10)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def test_a_prompt_written_while_its_reviews_are_raised_gets_the_raised_count(make_volunteer):
    policy_update(changes={"prompt_reviews_required": 2})
    author = make_volunteer()

    prompt = _raise_while(
        {"prompt_reviews_required": 3},
        lambda: prompt_create(
            author=author,
            instruction="Name three uses of a hearth.",
            category="brainstorming",
            language="en",
        ),
    )

    # Three reviews to hand out, not two: with two it would stay in review for good.
    assert Prompt.objects.get(pk=prompt.pk).open_slots == 3


def test_a_prompt_accepted_while_its_answers_are_raised_collects_the_raised_count(
    make_volunteer,
):
    policy_update(changes={"prompt_reviews_required": 1, "responses_to_collect": 3})
    prompt = PromptFactory(state=PromptState.REVIEW, open_slots=1)
    reviewer = client_for(make_volunteer())
    task = reviewer.get("/api/v1/tasks/next/?type=review")
    assert task.status_code == 200, task.content

    submitted = _raise_while(
        {"responses_to_collect": 5},
        lambda: reviewer.post(
            f"/api/v1/tasks/{task.json()['id']}/submit/",
            {"labels": [], "quality": 5},
            format="json",
        ),
    )

    assert submitted.status_code == 200, submitted.content
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING
    assert prompt.open_slots == 5  # it has no answer yet: five to collect, not three


def test_an_import_reads_a_raise_made_between_its_batches(maintainer):
    policy_update(changes={"prompt_reviews_required": 2})

    def raise_before_the_second_batch(step: Any) -> None:
        if step.lines_done == 3:  # the first batch (lines 1-2) has committed
            policy_update(changes={"prompt_reviews_required": 3})

    lines = [
        {
            "instruction": f"Name three uses for a paperclip, variant {n}.",
            "context": "",
            "response": f"Holding paper, resetting a router, and as a bookmark ({n}).",
            "category": "brainstorming",
        }
        for n in range(4)
    ]
    report = prompts_import_jsonl(
        io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines)),
        author=maintainer,
        options=check_import_options(source="databricks-dolly-15k", state="review", batch_size=2),
        progress=raise_before_the_second_batch,
    )

    assert report.imported == 4
    # The first batch was topped up by the raise; the second was written after it.
    prompts = Prompt.objects.filter(state=PromptState.REVIEW).order_by("pk")
    assert [p.open_slots for p in prompts] == [3, 3, 3, 3]


def test_a_raise_of_two_counts_locks_their_prompts_in_one_id_order(make_volunteer):
    """Race QA: a raise of two counts locked the prompts of one step, then of the next, each
    by id; a ban, which locks every prompt it changes by id, deadlocked with it in 7 rounds of
    10 (a 500 and no ban). Here the other side holds the lower id, a collecting prompt, then
    wants the higher, in review: the raise must wait for the lower before it takes the
    higher."""
    require_row_locks()
    policy_update(changes={"prompt_reviews_required": 2, "responses_to_collect": 3})
    lower = PromptFactory(state=PromptState.COLLECTING, open_slots=3)
    higher = PromptFactory(state=PromptState.REVIEW, open_slots=2)
    assert lower.pk < higher.pk

    with transaction.atomic():
        lock_row(Prompt, lower.pk)
        raise_both = InThread(
            lambda: policy_update(changes={"prompt_reviews_required": 3, "responses_to_collect": 4})
        ).start()
        wait_until_someone_waits_on_a_lock()
        lock_row(Prompt, higher.pk)  # a deadlock here if the raise took it first
    raise_both.join()

    assert Prompt.objects.get(pk=lower.pk).open_slots == 4
    assert Prompt.objects.get(pk=higher.pk).open_slots == 3


@pytest.mark.parametrize("action", ["withdraw", "delete the account", "hide", "ban"])
def test_an_answer_leaving_while_answers_are_raised_reopens_its_prompt_for_the_raised_count(
    action, moderator, make_volunteer
):
    """Race QA: an answer leaving (withdrawn, its author's account deleted, hidden, its author
    banned) that left a ranking prompt one answer sent it back to collecting with the old
    count, and the raise missed it."""
    policy_update(changes={"responses_to_collect": 3})
    prompt = PromptFactory(state=PromptState.RANKING, open_slots=3)
    leaving, _staying = (
        ResponseFactory(prompt=prompt, author=make_volunteer(), state=ResponseState.ACCEPTED)
        for _ in range(2)
    )
    author = User.objects.get(pk=leaving.author_id)
    act: dict[str, Callable[[], Any]] = {
        "withdraw": lambda: response_withdraw(response=leaving, user=author),
        "delete the account": lambda: account_delete(user=author),
        "hide": lambda: moderation.content_hide(
            moderator=moderator, target=leaving, reason="abuse"
        ),
        "ban": lambda: moderation.user_ban(moderator=moderator, user=author, reason="spam"),
    }

    _raise_while({"responses_to_collect": 5}, act[action])

    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING
    assert prompt.open_slots == 4  # five to collect, one (the other answer) there
