"""A raised count tops up the work already at its step in one statement a step, whatever its
size, and on PostgreSQL without rewriting any index of the rows (HOT updates: no index names
``open_slots``, assignments migration 0003)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy, policy_update
from tests.factories import PromptFactory, ResponseFactory
from tests.missing import missing

pytestmark = pytest.mark.django_db

PROMPTS, ANSWERS = Prompt._meta.db_table, Response._meta.db_table


def answers_in_review(n: int) -> list[Response]:
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    return [
        ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=1) for _ in range(n)
    ]


def raise_counts() -> list[str]:
    """Raise the answers' reviews and the prompts' rankings by one; the statements that
    touched prompts or answers."""
    policy = current_policy()
    with CaptureQueriesContext(connection) as captured:
        policy_update(
            changes={
                "response_reviews_required": policy.response_reviews_required + 1,
                "rankings_required": policy.rankings_required + 1,
            }
        )
    return [
        q["sql"]
        for q in captured.captured_queries
        if f'"{PROMPTS}"' in q["sql"] or f'"{ANSWERS}"' in q["sql"]
    ]


def test_a_raise_tops_up_every_row_at_its_step_in_one_statement_a_step():
    few = answers_in_review(3)
    ranking = PromptFactory.create_batch(3, state=PromptState.RANKING, open_slots=0)
    statements = raise_counts()
    assert len(statements) == 2

    many = answers_in_review(40)
    ranking += PromptFactory.create_batch(40, state=PromptState.RANKING, open_slots=0)
    # The same statements for 43 rows a step as for 3: no list of their ids in them.
    assert [len(sql) for sql in raise_counts()] == [len(sql) for sql in statements]

    assert [a.open_slots for a in Response.objects.filter(pk__in=[r.pk for r in few])] == [3] * 3
    assert set(
        Response.objects.filter(pk__in=[r.pk for r in many]).values_list("open_slots", flat=True)
    ) == {2}
    slots = Prompt.objects.filter(pk__in=[p.pk for p in ranking]).values_list(
        "open_slots", flat=True
    )
    assert sorted(slots) == [1] * 40 + [2] * 3


def test_a_raise_rewrites_no_index_of_the_rows_it_tops_up():
    if connection.vendor != "postgresql":
        missing("HOT updates are PostgreSQL's (DATABASE_URL)")
    # As few rows as leave room for their new versions on the page: all are updated in this
    # transaction, which keeps their old versions until it ends.
    answers_in_review(5)
    PromptFactory.create_batch(3, state=PromptState.RANKING, open_slots=0)

    def updates() -> dict[str, tuple[int, int]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE relname = ANY(%s)",
                [[PROMPTS, ANSWERS]],
            )
            return {name: (int(upd), int(hot)) for name, upd, hot in cursor.fetchall()}

    before = updates()
    raise_counts()
    after = updates()
    assert {t: (after[t][0] - before[t][0], after[t][1] - before[t][1]) for t in after} == {
        PROMPTS: (3, 3),
        ANSWERS: (5, 5),
    }
