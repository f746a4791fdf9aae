# The dispatcher's claim indexes. A claim takes the oldest live prompt in one state, or the
# oldest live answer in review, that still has an open slot. Without these, every claim walked
# all live prompts (complete ones included) and got slower as the collection grew; with one
# partial index per state holding exactly the rows with open slots, in the claim's order, a
# claim reads only the few candidates there are.
#
# They index the collection app's tables for the dispatcher's queries (apps/assignments/
# services.py), so they live here, in SQL that PostgreSQL and SQLite both accept; the models
# do not declare them (makemigrations does not track RunSQL).

from django.db import migrations

OPEN = '"open_slots" > 0 AND "withdrawn_at" IS NULL AND "hidden_at" IS NULL'
INDEXES = {
    "dispatch_prompt_review_open": ("collection_prompt", "review"),
    "dispatch_prompt_collecting_open": ("collection_prompt", "collecting"),
    "dispatch_prompt_ranking_open": ("collection_prompt", "ranking"),
    "dispatch_response_review_open": ("collection_response", "review"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("assignments", "0001_initial"),
        ("collection", "0003_prompt_live_recent_index"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(
                f'CREATE INDEX "{name}" ON "{table}" ("created_at", "id") '
                f"WHERE \"state\" = '{state}' AND {OPEN}"
            ),
            reverse_sql=f'DROP INDEX "{name}"',
        )
        for name, (table, state) in INDEXES.items()
    ]
