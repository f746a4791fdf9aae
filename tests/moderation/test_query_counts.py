"""The moderators' pages and lists run no query per item: each is fetched with a few items and
with many, and the number of queries must be the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from apps.moderation.models import Flag, ModerationAction
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.query_counts import MANY, assert_flat, web

pytestmark = pytest.mark.django_db


def flagged(n: int) -> None:
    """Prompts and answers with two open flags each (and a resolved one): every other one
    hidden, every third author banned."""
    for i in range(n):
        target = PromptFactory() if i % 2 else ResponseFactory()
        kind = "prompt" if i % 2 else "response"
        if i % 2:
            target.hidden_at = timezone.now()
            target.save()
        if i % 3 == 0:
            target.author.banned_at = timezone.now()
            target.author.save()
        for _ in range(2):
            Flag.objects.create(reporter=UserFactory(), reason="spam", **{kind: target})
        Flag.objects.create(
            reporter=UserFactory(), reason="pii", resolved_at=timezone.now(), **{kind: target}
        )


def test_the_queue_page_runs_the_same_queries_for_many_items(moderator):
    client = web(moderator)
    assert_flat(lambda: client.get("/moderation/"), flagged)
    page = client.get("/moderation/").content.decode()
    assert page.count('data-testid="queue-item"') == MANY
    assert page.count('data-testid="flag"') == 2 * MANY


def test_the_queue_api_runs_the_same_queries_for_many_items(moderator):
    api = client_for(moderator)
    assert_flat(lambda: api.get("/api/v1/moderation/queue/"), flagged)
    assert len(api.get("/api/v1/moderation/queue/").json()) == MANY


def test_the_hidden_page_runs_the_same_queries_for_many_items(moderator):
    def taken_down(n: int) -> None:
        for _ in range(n):
            PromptFactory(hidden_at=timezone.now())
            ResponseFactory(hidden_at=timezone.now())
            UserFactory(banned_at=timezone.now(), ban_reason="spam")

    client = web(moderator)
    assert_flat(lambda: client.get("/moderation/hidden/"), taken_down)
    page = client.get("/moderation/hidden/").content.decode()
    assert page.count('data-testid="hidden-prompt"') == MANY
    assert page.count('data-testid="hidden-answer"') == MANY
    assert page.count('data-testid="banned-user"') == MANY


def logged(moderator: Any) -> Callable[[int], None]:
    def actions(n: int) -> None:
        for i in range(n):
            actor = None if i % 4 == 0 else moderator
            target: dict[str, Any] = [
                {"prompt": PromptFactory()},
                {"response": ResponseFactory()},
                {"subject": UserFactory()},
            ][i % 3]
            action = ["hide", "restore", "ban"][i % 3]
            ModerationAction.objects.create(actor=actor, action=action, reason="why", **target)

    return actions


def test_the_log_page_runs_the_same_queries_for_a_full_page(moderator):
    client = web(moderator)
    assert_flat(lambda: client.get("/moderation/log/"), logged(moderator))
    assert client.get("/moderation/log/").content.decode().count("<td>why</td>") == MANY


def test_the_log_api_runs_the_same_queries_for_a_full_page(moderator):
    api = client_for(moderator)
    assert_flat(lambda: api.get("/api/v1/moderation/log/"), logged(moderator))
    assert len(api.get("/api/v1/moderation/log/").json()["results"]) == 20
