# The dispatcher's claim indexes without "open_slots" in their predicates, and room on the
# prompts' and answers' pages for HOT updates.
#
# PostgreSQL counts a column named in any index's predicate as indexed, and an UPDATE that
# changes an indexed column cannot be HOT: it writes a new entry into every index of the row,
# the search's trigram GIN indexes included (every trigram of the text). With 0002's
# predicates, each slot taken, given back or topped up re-indexed the whole prompt or answer:
# QA measured 3.9 s to raise the answers' review count over 7,434 answers (372 MB of WAL for
# its UPDATE alone), and about 500 kB of WAL for each review task taken and skipped. Without "open_slots" in any
# index, an update of the counter alone is HOT wherever the row's page has room for its new
# version; the claims still filter ``open_slots > 0``, now on the rows the index gives them.
#
# A full page has no room, and these tables are written by inserts (imports pack them full),
# so their fillfactor leaves 15% of each new page free for updated versions: a prompt or
# answer is about 0.5-1.5 kB, so a page of 8 kB keeps room for one or two. It applies to pages
# written from now on; ``VACUUM FULL collection_prompt`` (an exclusive lock while it runs)
# rewrites the existing ones with it. SQLite has no fillfactor (and no HOT); there 0002's
# indexes may be gone already (SQLite rebuilds a table to alter it, without indexes made in
# SQL), hence IF EXISTS.

from typing import Any

from django.db import migrations

LIVE = '"withdrawn_at" IS NULL AND "hidden_at" IS NULL'
# name -> (table, state, the 0002 index it replaces)
INDEXES = {
    "dispatch_prompt_review_live": (
        "collection_prompt",
        "review",
        "dispatch_prompt_review_open",
    ),
    "dispatch_prompt_collecting_live": (
        "collection_prompt",
        "collecting",
        "dispatch_prompt_collecting_open",
    ),
    "dispatch_prompt_ranking_live": (
        "collection_prompt",
        "ranking",
        "dispatch_prompt_ranking_open",
    ),
    "dispatch_response_review_live": (
        "collection_response",
        "review",
        "dispatch_response_review_open",
    ),
}
FILLFACTOR = 85


def _index(name: str, table: str, state: str, *, open_slots: bool) -> str:
    open_ = ' AND "open_slots" > 0' if open_slots else ""
    return (
        f'CREATE INDEX "{name}" ON "{table}" ("created_at", "id") '
        f"WHERE \"state\" = '{state}'{open_} AND {LIVE}"
    )


def _tables() -> list[str]:
    return sorted({table for table, _state, _old in INDEXES.values()})


def set_fillfactor(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in _tables():
        schema_editor.execute(f'ALTER TABLE "{table}" SET (fillfactor = {FILLFACTOR})')


def reset_fillfactor(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in _tables():
        schema_editor.execute(f'ALTER TABLE "{table}" RESET (fillfactor)')


class Migration(migrations.Migration):
    dependencies = [
        ("assignments", "0002_dispatch_open_slot_indexes"),
        ("collection", "0011_author_recent_indexes"),
    ]

    operations = [
        *(
            migrations.RunSQL(
                sql=[f'DROP INDEX IF EXISTS "{old}"', _index(name, table, state, open_slots=False)],
                reverse_sql=[
                    f'DROP INDEX IF EXISTS "{name}"',
                    _index(old, table, state, open_slots=True),
                ],
            )
            for name, (table, state, old) in INDEXES.items()
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
