"""Taking, giving back and topping up a task's slot changes only the prompt's or answer's
``open_slots``, which no index names (assignments migration 0003), so on PostgreSQL each such
update is HOT: it rewrites none of the row's indexes, the search's trigram indexes of its
whole text included. Read from pg_stat_xact_user_tables, this transaction's own counts."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.assignments.models import TaskType
from apps.assignments.services import assignments_expire, task_next, task_skip
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory, held_task
from tests.missing import missing

pytestmark = pytest.mark.django_db

TABLES = (Prompt._meta.db_table, Response._meta.db_table)


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        missing("HOT updates are PostgreSQL's (DATABASE_URL)")


def updates(table: str) -> tuple[int, int]:
    """This transaction's updates of ``table`` so far, and how many of them were HOT."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
            [table],
        )
        row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


class Updates:
    """The updates of each table made since it was built: ``{table: (all, HOT)}``."""

    def __init__(self) -> None:
        self.start = {table: updates(table) for table in TABLES}

    def since(self) -> dict[str, tuple[int, int]]:
        now = {table: updates(table) for table in TABLES}
        return {t: (now[t][0] - self.start[t][0], now[t][1] - self.start[t][1]) for t in TABLES}


def test_no_index_of_prompts_or_answers_names_open_slots():
    require_postgresql()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [list(TABLES)]
        )
        indexes = dict(cursor.fetchall())
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)", [list(TABLES)]
        )
        options = dict(cursor.fetchall())
    assert "dispatch_prompt_collecting_live" in indexes
    assert "dispatch_response_review_live" in indexes
    assert [name for name, definition in indexes.items() if "open_slots" in definition] == []
    # Room on each page for the updated version of a row, which HOT needs.
    assert options == {table: ["fillfactor=85"] for table in TABLES}


@pytest.mark.parametrize("kind", ["review", "respond", "rank"])
def test_taking_and_skipping_a_prompts_task_rewrites_no_index(kind, volunteer):
    require_postgresql()
    state = {"review": PromptState.REVIEW, "respond": PromptState.COLLECTING}.get(
        kind, PromptState.RANKING
    )
    prompt = PromptFactory(state=state, instruction="A long instruction. " * 10)
    if state == PromptState.RANKING:
        ResponseFactory.create_batch(2, prompt=prompt)
    slots = prompt.open_slots
    counted = Updates()

    task = task_next(user=volunteer, kind=kind)
    assert task.prompt_id == prompt.pk
    task_skip(user=volunteer, assignment_id=task.pk)

    prompt.refresh_from_db()
    assert prompt.open_slots == slots
    # The slot taken, then given back: both HOT.
    assert counted.since()[Prompt._meta.db_table] == (2, 2)


def test_taking_and_skipping_an_answers_review_rewrites_no_index(volunteer):
    require_postgresql()
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    answer = ResponseFactory(
        prompt=prompt, state=ResponseState.REVIEW, open_slots=2, text="A long answer. " * 15
    )
    counted = Updates()

    task = task_next(user=volunteer, kind="review")
    assert task.response_id == answer.pk
    task_skip(user=volunteer, assignment_id=task.pk)

    answer.refresh_from_db()
    assert answer.open_slots == 2
    assert counted.since() == {Prompt._meta.db_table: (0, 0), Response._meta.db_table: (2, 2)}


def test_the_expiry_sweep_gives_slots_back_without_rewriting_an_index(make_volunteer):
    require_postgresql()
    volunteer = make_volunteer()
    # A few rows, so that the page has room for their new versions: the test's transaction
    # keeps the old ones until it ends.
    prompts = [PromptFactory(state=PromptState.REVIEW, open_slots=0) for _ in range(3)]
    answer = ResponseFactory(
        prompt=PromptFactory(state=PromptState.COLLECTING, open_slots=0),
        state=ResponseState.REVIEW,
        open_slots=1,
    )
    for prompt in prompts:
        held_task(volunteer, TaskType.REVIEW_PROMPT, prompt, minutes_left=-1)
    held_task(volunteer, TaskType.REVIEW_RESPONSE, answer.prompt, answer, minutes_left=-1)
    counted = Updates()

    assert assignments_expire() == 4

    assert (
        sorted(Prompt.objects.filter(state=PromptState.REVIEW).values_list("open_slots", flat=True))
        == [1] * 3
    )
    assert counted.since() == {Prompt._meta.db_table: (3, 3), Response._meta.db_table: (1, 1)}
