"""What a release's changes are counted against (the latest earlier release cut with the same
filter) and what they count: rows added, removed, and changed under the same key."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.utils import timezone

from apps.collection.models import Prompt, Response
from apps.releases.building import PRIVATE_DIR, release_folder
from tests.releases.helpers import all_rows, build, folder_of

NOTHING = {"added": 0, "removed": 0, "changed": 0}


def _card(release) -> str:
    return (folder_of(release) / "README.md").read_text(encoding="utf-8")


def _pairs(release) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {
        (row["prompt_id"], row["chosen"], row["rejected"]): row
        for row in all_rows(release, "preferences")
    }


def test_a_full_release_after_a_filtered_one_compares_with_the_last_full_one(world):
    """Data QA: v6 filtered to one language, then v7 of everything said "since v6: 409
    added", though its data was byte for byte v5's."""
    full = build()
    german = build(languages=["de"])
    again = build()
    assert german.previous is None
    assert (
        "No earlier release was cut with this release's filter (the latest, v1, let in other "
        "rows), so there is no comparable previous release to list changes against."
    ) in " ".join(_card(german).split())
    assert again.previous_id == full.pk
    assert again.changes == {config: NOTHING for config in again.changes}
    assert len(again.changes) == 4
    assert "since v1, the latest earlier release cut with the same filter" in _card(again)
    # The same rows: the same data hash, though the cards (and content hashes) differ.
    assert again.data_hash == full.data_hash != german.data_hash
    assert again.content_hash != full.content_hash
    # The order of the languages asked for, or another test share, lets in the same rows.
    both = build(languages=["de", "en"])
    assert build(languages=["en", "de"], test_share=0.3).previous_id == both.pk


def test_rows_rewritten_under_the_same_key_are_counted_as_changed(world):
    """Data QA: hiding one answer rewrote every ranking of its prompt (fewer responses, another
    order) and moved its pairs' ranks and margins, and the changes table said nothing of it."""
    v1 = build()
    p1 = world.prompts["p1"]
    Response.objects.filter(pk=world.responses["p1.1"].pk).update(hidden_at=timezone.now())
    v2 = build()
    # Its three rankings keep their ids and now show two answers.
    assert v2.changes["rankings"] == {"added": 0, "removed": 0, "changed": 3}
    before, after = _pairs(v1), _pairs(v2)
    kept = before.keys() & after.keys()
    rewritten = sum(before[key] != after[key] for key in kept)
    assert rewritten == 1  # the first answer over the third, now over the second
    assert v2.changes["preferences"] == {
        "added": len(after.keys() - before.keys()),
        "removed": len(before.keys() - after.keys()),
        "changed": rewritten,
    }
    assert v2.changes["sft"] == {"added": 0, "removed": 1, "changed": 0}
    assert v2.changes["prompts"] == NOTHING
    assert "| `rankings` | 0 | 0 | 3 |" in _card(v2)
    # A prompt edited in place (an administrator's fix) changes it and each of its answers.
    Prompt.objects.filter(pk=p1.pk).update(category="open_qa")
    v3 = build()
    assert v3.changes["prompts"] == {"added": 0, "removed": 0, "changed": 1}
    assert v3.changes["sft"] == {"added": 0, "removed": 0, "changed": 2}


def test_against_a_release_built_before_digests_the_changed_column_is_left_out(world):
    v1 = build()
    keys = release_folder(v1.version) / PRIVATE_DIR / "keys"
    for path in keys.glob("*.parquet"):
        pq.write_table(pa.table({"key": pq.ParquetFile(path).read().column("key")}), path)
    v2 = build()
    assert v2.changes["sft"] == {"added": 0, "removed": 0}
    card = _card(v2)
    assert "| `sft` | 0 | 0 | — |" in card
    assert "v1 was built before changed rows were counted." in card
