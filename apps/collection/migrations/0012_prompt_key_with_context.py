"""Prompts get the keys of apps.core.text.dedupe_key as it now is: the instruction with its
context (the same instruction over another context is another prompt: data QA), and folded to
its confusables skeleton (a Cyrillic "а" no longer makes a copy new: security QA).

Folding can make two live prompts written before it collide (a look-alike copy already in).
Live prompts are keyed oldest first: each gets its new key unless an older one has it, else
keeps its old key unless that is taken too, else ``legacy-<id>`` (which nothing else can
have). Nothing is refused here and nothing is withdrawn: a moderator can withdraw a copy. The
keys that change are first set to ``moving-<id>``, so that no statement meets a key another
row has yet to give up. Going back leaves the keys as they are: the old function is gone,
and keys that only came apart refuse nothing more."""

from django.db import migrations

# Prompts updated per statement.
BATCH = 1000


def _write(Prompt, keys: dict[int, str]) -> None:
    rows = [Prompt(pk=pk, instruction_key=key) for pk, key in keys.items()]
    for start in range(0, len(rows), BATCH):
        Prompt.objects.bulk_update(rows[start : start + BATCH], ["instruction_key"])


def forwards(apps, schema_editor) -> None:
    from apps.core.text import dedupe_key

    Prompt = apps.get_model("collection", "Prompt")
    rows = Prompt.objects.order_by("created_at", "pk").values_list(
        "pk", "instruction", "context", "instruction_key", "withdrawn_at"
    )
    taken: set[str] = set()
    final: dict[int, str] = {}
    for pk, instruction, context, old_key, withdrawn_at in rows.iterator(chunk_size=BATCH):
        key = dedupe_key(instruction, context)
        if withdrawn_at is None:
            key = next(k for k in (key, old_key, f"legacy-{pk}") if k not in taken)
            taken.add(key)
        if key != old_key:
            final[pk] = key
    _write(Prompt, {pk: f"moving-{pk}" for pk in final})
    _write(Prompt, final)


class Migration(migrations.Migration):
    dependencies = [
        ("collection", "0011_author_recent_indexes"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
