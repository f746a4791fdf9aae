"""The trigram indexes behind Browse's search (collection migration 0004): on PostgreSQL they
index exactly the expression Django writes for a case-insensitive containment test, a search
is answered from them with the same prompts as before, and the migration goes back and forth;
on SQLite (the embedded default) it does nothing and the search still works."""

from __future__ import annotations

import importlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.collection import selectors
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.core.text import dedupe_key
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MIGRATION = importlib.import_module("apps.collection.migrations.0004_search_trigram_indexes")
BEFORE = ("collection", "0003_prompt_live_recent_index")


def trigram_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
            [list(MIGRATION.SEARCH_INDEXES)],
        )
        return dict(cursor.fetchall())


def from_the_indexes() -> None:
    """Tell the planner, for the rest of this test's transaction, not to read whole tables:
    with a handful of rows it would, and these tests are about what the indexes answer."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")


def found(search: str, **filters: str) -> list[str]:
    prompts = selectors.prompt_list_public(search=search, **filters)
    return sorted(p.instruction for p in prompts)


def test_each_searched_text_has_a_trigram_index_on_the_expression_django_searches():
    # No pending-list limit of their own: the connections' (256 kB, settings.DATABASES)
    # governs, and an import lifts it for its batches (collection migration 0008).
    def index(name: str, table: str, column: str) -> str:
        return f"CREATE INDEX {name} ON public.{table} USING gin (upper({column}) gin_trgm_ops)"

    assert trigram_indexes() == {
        "prompt_instruction_trgm": index(
            "prompt_instruction_trgm", "collection_prompt", "instruction"
        ),
        "prompt_context_trgm": index("prompt_context_trgm", "collection_prompt", "context"),
        "response_text_trgm": index("response_text_trgm", "collection_response", "text"),
    }


def test_a_rare_word_is_found_from_the_indexes_among_a_few_thousand_answers():
    """No planner settings: with enough rows for its statistics to mean something, PostgreSQL
    chooses the trigram indexes for each of the three texts itself."""
    rng = random.Random(0)
    words = ("river", "bread", "garden", "music", "stone", "light", "winter", "market", "tower")

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    authors = UserFactory.create_batch(3)
    licence = settings.HEARTH_LICENCE_NAME
    prompts = Prompt.objects.bulk_create(
        Prompt(
            author=authors[0],
            instruction=f"{text(8)} {n}?",
            instruction_key=dedupe_key(f"{text(8)} {n}?"),
            context=text(50),
            category="open_qa",
            language="en",
            state=PromptState.COLLECTING,
            licence=licence,
        )
        for n in range(1500)
    )
    Response.objects.bulk_create(
        Response(prompt=prompt, author=author, text=text(40), state="accepted", licence=licence)
        for prompt in prompts
        for author in authors
    )
    lighthouse = PromptFactory(instruction="Where is the lighthouse?", context="On the cliff.")
    ResponseFactory(prompt=prompts[7], text="The lighthouse at the harbour.")
    with connection.cursor() as cursor:
        # Rows just written wait in each GIN index's pending list, which the planner costs
        # as a scan of its own; autovacuum would merge them in its own time. Merge them now,
        # so that the plan does not depend on whether it has run yet.
        for name in MIGRATION.SEARCH_INDEXES:
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [name])
        cursor.execute("ANALYZE collection_prompt, collection_response")

    search = selectors.prompt_list_public(search="lighthouse")
    plan = search.explain()
    for name in MIGRATION.SEARCH_INDEXES:
        assert f"Bitmap Index Scan on {name}" in plan, plan
    assert [p.pk for p in search] == [lighthouse.pk, prompts[7].pk]


def test_searches_answered_from_the_indexes_find_what_the_search_promises():
    banned = UserFactory(banned_at=timezone.now())
    bridge = PromptFactory(
        category="closed_qa",
        instruction="When did the bridge open?",
        context="The Øresund Bridge, linking Copenhagen and Malmö, opened on 1 July 2000.",
    )
    ResponseFactory(prompt=bridge, text="In the summer of 2000, with a concert.")
    breakfast = PromptFactory(instruction="Suggest a breakfast.")
    ResponseFactory(prompt=breakfast, text="Porridge with blueberries, 100% oats.")
    lunch = PromptFactory(instruction="Suggest a lunch.")
    ResponseFactory(prompt=lunch, text="Porridge again.", state=ResponseState.REJECTED)
    ResponseFactory(prompt=lunch, text="Porridge, hidden.", hidden_at=timezone.now())
    ResponseFactory(prompt=lunch, text="Porridge by a banned author.", author=banned)
    PromptFactory(instruction="Suggest a porridge topping.", state=PromptState.REVIEW)
    PromptFactory(instruction="Suggest a porridge bowl.", withdrawn_at=timezone.now())
    PromptFactory(instruction="Name a snake_case identifier.")
    PromptFactory(instruction="Name one cat.")  # "e c": what e_c would match unescaped
    from_the_indexes()

    assert found("PORRIDGE") == ["Suggest a breakfast."]
    assert found("øresund") == ["When did the bridge open?"]
    assert found("concert bridge") == ["When did the bridge open?"]
    assert found("blueberries 2000") == []
    assert found("100%") == ["Suggest a breakfast."]
    assert found("0%") == ["Suggest a breakfast."]
    assert found("e_c") == ["Name a snake_case identifier."]
    assert found("suggest") == ["Suggest a breakfast.", "Suggest a lunch."]
    # Words too short for a trigram, and a search where the longest word is common.
    assert found("of") == ["When did the bridge open?"]
    assert found("a suggest") == ["Suggest a breakfast.", "Suggest a lunch."]
    assert found("bridge", category="open_qa") == []


def test_the_migration_goes_back_and_forth():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([BEFORE])
    assert trigram_indexes() == {}

    executor.loader.build_graph()
    executor.migrate(latest)
    assert set(trigram_indexes()) == set(MIGRATION.SEARCH_INDEXES)


SQLITE_SEARCH = """
import django
django.setup()
from apps.collection import selectors
from tests.factories import PromptFactory, ResponseFactory
PromptFactory(instruction="Where is the lighthouse?", context="On the cliff.")
ResponseFactory(prompt=PromptFactory(instruction="Name a job."), text="A lighthouse keeper.")
PromptFactory(instruction="Name a fish.")
found = sorted(p.instruction for p in selectors.prompt_list_public(search="LIGHTHOUSE"))
assert found == ["Name a job.", "Where is the lighthouse?"], found
assert [p.instruction for p in selectors.prompt_list_public(search="cliff on")] == [
    "Where is the lighthouse?"
]
print("searched")
"""


@pytest.mark.slow
def test_on_sqlite_the_migration_does_nothing_and_the_search_works(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HEARTH_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="apps.settings")

    def run(*command: str) -> str:
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    manage = (sys.executable, "manage.py")
    run(*manage, "migrate", "--noinput")
    run(*manage, "migrate", "--noinput", *BEFORE)
    run(*manage, "migrate", "--noinput")
    assert "[X] 0004_search_trigram_indexes" in run(*manage, "showmigrations", "collection")
    assert "searched" in run(sys.executable, "-c", SQLITE_SEARCH)
