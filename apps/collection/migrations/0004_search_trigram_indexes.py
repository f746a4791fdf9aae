# Trigram indexes for Browse's search (collection.selectors._matching). A search word is a
# case-insensitive containment test, which Django writes on PostgreSQL as
# UPPER("col"::text) LIKE UPPER('%word%'); a pg_trgm GIN index on exactly that expression
# lets PostgreSQL find the few rows holding the word's trigrams instead of reading every
# prompt and answer. The index only narrows the candidates: every candidate is rechecked
# against the LIKE, so results are exactly those without it.
#
# pg_trgm ships with PostgreSQL and is a trusted extension (13+), so the database's owner may
# create it without superuser. SQLite (the embedded default) has neither, and its searches scan
# a small database: this migration does nothing there. The models do not declare these indexes
# (makemigrations does not track them), as in assignments' 0002.
#
# A GIN index gathers new rows in a pending list, merged into the index when the list passes
# gin_pending_list_limit (4 MB by default) or at vacuum. Every search reads the whole list, and
# the planner counts it in the index's cost: with a few hundred answers pending (2 MB), it
# chose to read every answer for a word in one answer in five, several times slower than the
# index. 256 kB keeps the list to a few dozen rows, for under a millisecond more per answer
# written.
#
# Going back drops the indexes and leaves the extension: it may have been there before, and
# other objects may use it.

from typing import Any

from django.db import migrations

# name -> (model, column): the three texts a search word may be found in.
SEARCH_INDEXES = {
    "prompt_instruction_trgm": ("Prompt", "instruction"),
    "prompt_context_trgm": ("Prompt", "context"),
    "response_text_trgm": ("Response", "text"),
}


def create_search_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (model, column) in SEARCH_INDEXES.items():
        table = apps.get_model("collection", model)._meta.db_table
        schema_editor.execute(
            f"CREATE INDEX {quote(name)} ON {quote(table)} "
            f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops) "
            "WITH (gin_pending_list_limit = 256)"
        )


def drop_search_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("collection", "0003_prompt_live_recent_index"),
    ]

    operations = [
        migrations.RunPython(create_search_indexes, drop_search_indexes, elidable=False),
    ]
