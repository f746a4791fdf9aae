"""An import and Browse's trigram indexes (PostgreSQL): the site's connections keep the indexes'
pending lists small (searches read the whole list), an import lets them grow for its batches
(merging every few dozen rows made its index upkeep grow with the table) and merges them once
at the end, so the searches after it read no long list."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection

from apps.collection import search
from tests.collection.test_importing import options, record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres() -> None:
    from tests.missing import missing

    if connection.vendor != "postgresql":
        missing("needs PostgreSQL (DATABASE_URL)")
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")


def pending_tuples() -> dict[str, int]:
    with connection.cursor() as cursor:
        found = {}
        for name in search.TRIGRAM_INDEXES:
            cursor.execute("SELECT pending_tuples FROM pgstatginindex(%s::regclass)", [name])
            found[name] = cursor.fetchone()[0]
    return found


def lines(n: int) -> io.BytesIO:
    rows = [json.dumps(record(i, context=f"Some context for line {i}.")) for i in range(n)]
    return io.BytesIO(("\n".join(rows) + "\n").encode())


def test_the_site_keeps_small_pending_lists_and_the_indexes_do_not_override_it(postgres):
    with connection.cursor() as cursor:
        cursor.execute("SHOW gin_pending_list_limit")
        assert cursor.fetchone()[0] == "256kB"
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            [list(search.TRIGRAM_INDEXES)],
        )
        assert dict(cursor.fetchall()) == dict.fromkeys(search.TRIGRAM_INDEXES)


def test_an_import_merges_the_lists_it_let_grow(postgres, maintainer, monkeypatch):
    from apps.collection.importing import prompts_import_jsonl

    # Earlier tests' rolled-back rows may still wait in the lists: start from empty ones.
    search.merge_pending(connection)
    assert pending_tuples() == dict.fromkeys(search.TRIGRAM_INDEXES, 0)
    # Without the merge at the end, its rows wait in the lists...
    monkeypatch.setattr(search, "merge_pending", lambda connection: None)
    report = prompts_import_jsonl(lines(300), author=maintainer, options=options(batch_size=100))
    assert report.imported == 300
    waiting = pending_tuples()
    assert waiting["prompt_instruction_trgm"] == waiting["response_text_trgm"] == 300
    monkeypatch.undo()
    # ...with it, none is left for the searches to read.
    report = prompts_import_jsonl(
        io.BytesIO(json.dumps(record(1000)).encode() + b"\n"), author=maintainer, options=options()
    )
    assert report.imported == 1
    assert pending_tuples() == dict.fromkeys(search.TRIGRAM_INDEXES, 0)
    # A search finds rows that went through the list and the merge.
    from apps.collection.models import Prompt

    assert Prompt.objects.filter(instruction__icontains="variant 299.").count() == 1
