# The trigram indexes' pending-list limit moves from the indexes (256 kB, migration 0004) to the
# connections (settings: ``-c gin_pending_list_limit=256``, the same for every request): an
# index's own setting overrides any session's, so a bulk import could not lift it for its
# batches. With 256 kB an import merged the list into the index every few dozen rows: a
# 500-row batch's index upkeep grew from about 240 to 410 ms over 20,000 answers, against a
# steady 120 ms with 4 MB (measured on this project's 2-core VM, PostgreSQL 15).

from typing import Any

from django.db import migrations

# Migration 0004's indexes.
NAMES = ("prompt_instruction_trgm", "prompt_context_trgm", "response_text_trgm")


def _alter(schema_editor: Any, clause: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in NAMES:
        schema_editor.execute(f"ALTER INDEX {schema_editor.quote_name(name)} {clause}")


def reset_limit(apps: Any, schema_editor: Any) -> None:
    _alter(schema_editor, "RESET (gin_pending_list_limit)")


def set_limit(apps: Any, schema_editor: Any) -> None:
    _alter(schema_editor, "SET (gin_pending_list_limit = 256)")


class Migration(migrations.Migration):
    dependencies = [
        ("collection", "0007_prompt_instruction_key_index"),
    ]

    operations = [migrations.RunPython(reset_limit, set_limit)]
