"""Case-insensitive containment for Browse's search that folds every script's case on SQLite
too, as it does on PostgreSQL.

Django writes ``icontains`` on PostgreSQL as ``UPPER(col::text) LIKE UPPER(%s)``, and
PostgreSQL's ``UPPER`` maps each character to its capital in every script ("élan" finds
"Élan", "über" finds "ÜBER"). On SQLite it is a bare ``LIKE``, which folds ASCII letters only.
``IContains`` below is the same lookup, written on SQLite with ``hearth_upper``: a function
that ``install`` registers on each SQLite connection, mapping characters as PostgreSQL's
``UPPER`` does. On every other database its SQL is ``icontains``'s, so PostgreSQL's search
(and the trigram indexes of collection migration 0004, built on exactly that expression)
is unchanged.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import lookups
from django.db.models.sql.compiler import SQLCompiler

SQLITE_UPPER = "hearth_upper"
# Migration 0004's trigram indexes (PostgreSQL only).
TRIGRAM_INDEXES = ("prompt_instruction_trgm", "prompt_context_trgm", "response_text_trgm")
# An import's pending-list limit for those indexes, for its own batches (the site's is 256 kB:
# settings.DATABASES): merged into the index every few dozen rows, a batch's index upkeep
# grew with the table; 4 MB (PostgreSQL's default) keeps it flat. The list is merged once at
# the end of the import (merge_pending), so searches after it read no long list.
IMPORT_PENDING_LIST_KB = 4096


def lift_pending_limit(connection: BaseDatabaseWrapper) -> None:
    """For the current transaction (PostgreSQL): let the trigram indexes' pending lists grow to
    IMPORT_PENDING_LIST_KB."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL gin_pending_list_limit = {IMPORT_PENDING_LIST_KB}")


def merge_pending(connection: BaseDatabaseWrapper) -> None:
    """Merge the trigram indexes' pending lists into them (PostgreSQL; after a bulk write)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in TRIGRAM_INDEXES:
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [name])


@functools.cache
def _expanding() -> tuple[re.Pattern[str], dict[str, str]]:
    """The characters whose full capital is more than one character (``"ß".upper()`` is
    "SS"), about a hundred, and the one character PostgreSQL maps each to: its titlecase
    where that is one character (Greek with a subscript iota: "ᾳ" to "ᾼ"), else itself.
    Found once per process (0.15 s), on the first search on SQLite."""
    found = [c for c in map(chr, range(0x110000)) if len(c.upper()) > 1]
    capitals = {c: c.title() if len(c.title()) == 1 else c for c in found}
    return re.compile(f"([{''.join(map(re.escape, found))}])"), capitals


def upper(text: Any) -> Any:
    """``text`` with each character mapped to its capital as PostgreSQL's ``UPPER`` does in a
    UTF-8 database: one character for one (Unicode's simple case mapping), so "é" becomes
    "É" and the dotless "ı" "I", while "ß" and "ﬁ" stay as they are (Python's ``upper``
    makes them "SS" and "FI"). Anything but text (SQL NULL) comes back as it is."""
    if not isinstance(text, str):
        return text
    capitals = text.upper()
    if len(capitals) == len(text):
        return capitals  # nothing expanded: every character mapped one for one
    pattern, expanding = _expanding()
    # The pattern's group keeps the expanding characters, at the odd places of the split.
    parts = pattern.split(text)
    parts[::2] = [part.upper() for part in parts[::2]]
    parts[1::2] = [expanding[part] for part in parts[1::2]]
    return "".join(parts)


def install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: give each new SQLite connection ``hearth_upper``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_UPPER, 1, upper, deterministic=True)


class IContains(lookups.IContains):
    """``icontains`` whose case folding on SQLite goes beyond ASCII. Use it as an expression:
    ``Q(IContains(F("instruction"), word))``; the word is a plain string.

    On SQLite it costs a call of ``hearth_upper`` per row and column searched: with 16,000
    prompts and 48,000 answers a search took 0.2 to 0.35 s of CPU, two to five times as long
    as with ASCII's ``LIKE``. PostgreSQL, the deployment database, is unchanged.
    """

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        # Both sides in capitals, so LIKE compares them as they are. The pattern is Django's
        # (``%word%``, its own % and _ escaped with a backslash), which capitals leave alone.
        return (
            f"{SQLITE_UPPER}({lhs_sql}) LIKE {rhs_sql} ESCAPE '\\'",
            [*lhs_params, *(upper(param) for param in rhs_params)],
        )
