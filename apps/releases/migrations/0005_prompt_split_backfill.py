"""Record the splits that releases built before PromptSplit gave their prompts.

Those releases hashed each prompt against their own test share, so a prompt could be in train
in one and in test in another. Each prompt keeps the split of the oldest finished release that
holds it, read from that release's ``data/prompts/<split>-*.parquet`` files under DATA_DIR:
releases cut from now on keep it. A release whose files are not on this machine is skipped
(with a warning): its prompts get a split when a release next includes them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import migrations

log = logging.getLogger(__name__)
BATCH = 5_000


def record_splits(apps, schema_editor):  # type: ignore[no-untyped-def]
    Release = apps.get_model("releases", "Release")
    PromptSplit = apps.get_model("releases", "PromptSplit")
    finished = Release.objects.filter(state__in=["ready", "published"]).order_by("number")
    if not finished.exists():
        return
    import pyarrow.parquet as pq

    for release in finished:
        folder = Path(settings.DATA_DIR) / "releases" / release.version / "data" / "prompts"
        if not folder.is_dir():
            log.warning(
                "release %s: no files under %s; its prompts' splits are not recorded",
                release.version,
                folder,
            )
            continue
        for split in ("train", "test"):
            for path in sorted(folder.glob(f"{split}-*.parquet")):
                ids = pq.ParquetFile(path).read(columns=["id"]).column("id").to_pylist()
                for start in range(0, len(ids), BATCH):
                    PromptSplit.objects.bulk_create(
                        [
                            PromptSplit(prompt_id=pid, split=split, release_id=release.pk)
                            for pid in ids[start : start + BATCH]
                        ],
                        ignore_conflicts=True,  # an older release holds it: its split stays
                    )


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0004_prompt_split"),
    ]

    operations = [
        # Backwards: nothing to undo here; reversing 0004 drops the table.
        migrations.RunPython(record_splits, migrations.RunPython.noop),
    ]
