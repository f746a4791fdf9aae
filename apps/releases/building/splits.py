"""Each prompt's split, fixed by the first release that includes it (``PromptSplit``).

A build assigns splits before its rows stream: every prompt that enters and has none yet gets
the split its id hashes to at the release's test share (``layout.prompt_split``), in one
``INSERT … SELECT`` that the database runs on ids alone, hashing included, and commits. The
prompts stream then reads each prompt's split with a join, and the other configs take theirs
from the prompts pass. A prompt that entered after the assignment (accepted while the build
started) is assigned as the stream meets it (``splits_settle``). Assignments take one lock on
PostgreSQL (SQLite runs one write at a time), so a prompt another build assigned first keeps
that split, and a rebuild of the same release finds the splits its first attempt stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import NotSupportedError, connection, transaction
from django.db.models import CharField, Func, Value

from apps.collection.models import Prompt
from apps.releases.building.layout import prompt_split, test_threshold
from apps.releases.building.queries import entering_prompt
from apps.releases.models import PromptSplit, Release

# Ids per query when settling late prompts.
SETTLE_BATCH = 1_000
# pg_advisory_xact_lock key serializing split assignments ("hearth-p" in ASCII).
SPLITS_LOCK_KEY = 0x6865617274682D70


def _lock_splits() -> None:
    """Hold the split assignments' lock until the transaction ends (PostgreSQL; SQLite's
    write lock does this there). With it, a statement that starts afterwards sees every
    assignment it could conflict with, and a plain INSERT never meets a duplicate: cheaper,
    at 250,000 prompts, than ``ON CONFLICT DO NOTHING``."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SPLITS_LOCK_KEY])


class HashedSplit(Func):
    """``'test'`` or ``'train'`` for a prompt id column, computed by the database exactly as
    ``layout.prompt_split`` computes it: the first 8 bytes of SHA-256 of
    ``hearth-split:<id>``, read as a big-endian number, below the share's threshold.

    PostgreSQL compares the 8 bytes as ``bytea`` (bytewise); SQLite compares their 16 hex
    digits (Django registers ``SHA256`` on its SQLite connections) under its bytewise
    collation. Both order the same way as the numbers."""

    output_field = CharField()

    def __init__(self, expression: Any, test_share: float) -> None:
        super().__init__(expression)
        self.threshold = test_threshold(test_share)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return (
            "(CASE WHEN substring(sha256(convert_to('hearth-split:' || ("
            + sql
            + ")::text, 'UTF8')) from 1 for 8) < %s::bytea THEN 'test' ELSE 'train' END)",
            [*params, self.threshold.to_bytes(8, "big")],
        )

    def as_sqlite(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return (
            "(CASE WHEN substr(SHA256('hearth-split:' || (" + sql + ")), 1, 16) < %s "
            "THEN 'test' ELSE 'train' END)",
            [*params, f"{self.threshold:016x}"],
        )

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        raise NotSupportedError("release splits are hashed on PostgreSQL and SQLite only")


def splits_assign(*, release: Release) -> int:
    """Give every prompt that enters ``release`` and has no split yet the split its id hashes
    to at the release's test share; return how many were given one.

    One ``INSERT … SELECT`` in id order, ids only (no text leaves the tables), under the
    assignments' lock, committed before it returns: call it outside any transaction, before
    the build's snapshot is taken. A prompt that another build assigned first keeps that
    split."""
    flt = release.release_filter
    new = (
        Prompt.objects.filter(entering_prompt(flt), release_split__isnull=True)
        .order_by("id")
        .annotate(
            assigned=HashedSplit("id", flt.test_share),
            by=Value(release.pk),
        )
        .values_list("id", "assigned", "by")
    )
    select, params = new.query.get_compiler(connection=connection).as_sql()
    table = connection.ops.quote_name(PromptSplit._meta.db_table)
    with transaction.atomic():
        _lock_splits()
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} (prompt_id, split, release_id) {select}", params)
            return max(cursor.rowcount, 0)


def splits_settle(*, release: Release, prompt_ids: Sequence[int]) -> dict[int, str]:
    """The stored split of each of ``prompt_ids``, after giving those that have none the
    split their id hashes to at ``release``'s test share (a prompt another build assigned
    first keeps that one). For the few prompts a build meets that ``splits_assign`` did not
    see; reads and writes through Django's connection, so on SQLite run it through the
    reader's ``write``."""
    share = release.release_filter.test_share
    stored: dict[int, str] = {}
    ids = sorted(set(prompt_ids))
    with transaction.atomic():
        _lock_splits()
        for start in range(0, len(ids), SETTLE_BATCH):
            batch = ids[start : start + SETTLE_BATCH]
            PromptSplit.objects.bulk_create(
                [
                    PromptSplit(prompt_id=pid, split=prompt_split(pid, share), release=release)
                    for pid in batch
                ],
                ignore_conflicts=True,
            )
            stored.update(
                PromptSplit.objects.filter(prompt_id__in=batch).values_list("prompt_id", "split")
            )
    return stored
