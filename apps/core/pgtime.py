"""Timestamps from PostgreSQL read by psycopg's C loader.

Django's psycopg backend reads every ``timestamptz`` through its own loader, a subclass of
psycopg's pure-Python ``TimestamptzLoader`` (``django/db/backends/postgresql/psycopg_any.py``),
so the C implementation that ``psycopg[binary]`` ships is never used for them. On the task
endpoints, whose rows carry several timestamps each (users, prompts, assignments), parsing them
in Python took about 5% of a request's CPU. This loader parses with psycopg's own (C, where
installed) loader and converts to the connection's time zone, which is what Django's loader
returns. It keeps the ``timezone`` attribute Django compares when it opens a cursor, so Django
leaves it in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import abc
from psycopg.adapt import Loader
from psycopg.pq import Format

_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid


def loader_for(timezone: Any) -> type[Loader]:
    """A ``timestamptz`` text loader giving aware datetimes in ``timezone``, as Django's does
    (``timezone`` None gives naive ones in the session's time zone, as Django's does too)."""
    found = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)
    if found is None:  # not reached: psycopg always has one
        raise LookupError("psycopg has no timestamptz loader")
    parse: type[abc.Loader] = found

    class TimestamptzLoader(Loader):
        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._parse = parse(oid, context).load

        def load(self, data: Any) -> datetime:
            value: datetime = self._parse(data)
            if timezone is None:
                return value.replace(tzinfo=None)
            return value.astimezone(timezone)

    TimestamptzLoader.timezone = timezone  # type: ignore[attr-defined]
    return TimestamptzLoader


def install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: use the loader above on PostgreSQL connections."""
    if connection.vendor != "postgresql":
        return
    adapters = connection.connection.adapters
    adapters.register_loader("timestamptz", loader_for(connection.timezone))
