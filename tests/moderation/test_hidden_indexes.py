"""The moderators' Hidden page reads the hidden prompts and answers from partial indexes of
their own (collection migration 0006): without them its two counts and two lists each read
every prompt or answer in the collection, 120 ms of a 200 ms page at 30,000 prompts and
57,000 answers with a few hundred hidden, and growing with the collection, not the hidden."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from apps.collection.models import Prompt, Response
from apps.moderation import selectors
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def test_the_hidden_lists_and_their_counts_are_read_from_the_hidden_rows_index():
    now = timezone.now()
    for n in range(6):
        prompt = PromptFactory(hidden_at=now if n % 2 else None)
        ResponseFactory(prompt=prompt, hidden_at=None if n % 2 else now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE collection_prompt, collection_response")
        # With a handful of rows the planner would read the whole table; the test is about
        # what the index answers.
        cursor.execute("SET LOCAL enable_seqscan = off")
    for rows, model, index in (
        (selectors.hidden_prompts(), Prompt, "prompt_hidden_recent"),
        (selectors.hidden_responses(), Response, "response_hidden_recent"),
    ):
        page = rows[:20]
        assert index in page.explain(), page.explain()
        assert len(page) == 3
        # What the paginator counts: SELECT COUNT(*) FROM the table WHERE hidden_at IS NOT NULL.
        count = model.objects.filter(hidden_at__isnull=False)
        assert index in count.explain(), count.explain()
        assert rows.count() == 3
