"""Hot-path reads written out in SQL, with rows still turned into model instances by the ORM.

Building a small query with the ORM (filters, joins, annotations) costs several times the CPU
that PostgreSQL needs to run it; on the endpoints every volunteer calls in a loop (token
authentication, idempotency keys, the task dispatcher) that was most of a request's CPU. The
statements here are plain SQL; ``fetch_one`` converts the row with the ORM's own value
converters and ``Model.from_db``, so instances look exactly as a queryset would give them, and
``insert`` and ``update`` prepare values with each field's own ``pre_save`` and database
preparation, as ``save()`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field, Model
from django.db.models.sql import Query

# The largest primary key a column can hold (a 64-bit signed integer). The ORM turns a larger
# id into a query that matches nothing; a parameter passed to SQL here would overflow instead
# (SQLite raises OverflowError), so an id from a request is checked with ``is_row_id`` first.
MAX_ROW_ID = 2**63 - 1


def is_row_id(value: object) -> bool:
    """Whether ``value`` could be a row's primary key: an int (not a bool) from 1 to
    MAX_ROW_ID."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROW_ID


def quote(name: str | None) -> str:
    return connection.ops.quote_name(str(name))


def columns(model: type[Model], alias: str | None) -> str:
    """Every concrete column of ``model`` under the table alias ``alias`` (unqualified with
    None), in field order."""
    return _columns(connection.vendor, model, alias)


@functools.cache
def _columns(vendor: str, model: type[Model], alias: str | None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{quote(field.column)}" for field in model._meta.concrete_fields)


@functools.cache
def _converters(alias: str, parts: tuple[type[Model] | Field[Any, Any], ...]) -> Any:
    """The ORM's value converters for a row of ``parts`` (see ``fetch_one``), by position."""
    fields: list[Field[Any, Any]] = []
    for part in parts:
        fields.extend(part._meta.concrete_fields if isinstance(part, type) else [part])
    compiler = Query(None).get_compiler(using=alias)
    return compiler.get_converters([f.get_col(f.model._meta.db_table) for f in fields])


def _convert(row: Sequence[Any], converters: Any) -> list[Any]:
    """``row``'s values through the ORM's converters (from ``_converters``)."""
    values = list(row)
    for position, (functions, expression) in converters.items():
        for function in functions:
            values[position] = function(values[position], expression, connection)
    return values


def fetch_one(
    sql: str, params: list[Any], *parts: type[Model] | Field[Any, Any]
) -> list[Any] | None:
    """Run ``sql``, which returns at most one row: the columns of each model in ``parts`` in
    turn (every concrete field, as ``columns`` lists them), or one column per field. Returns
    the model instances and field values, converted as the ORM would, then any further
    columns as the database sent them; None without a row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = _convert(row, _converters(connection.alias, parts))
    found: list[Any] = []
    for part in parts:
        if isinstance(part, type):
            names = [field.attname for field in part._meta.concrete_fields]
            found.append(part.from_db(connection.alias, names, values[: len(names)]))
            values = values[len(names) :]
        else:
            found.append(values.pop(0))
    return found + values


M = TypeVar("M", bound=Model)


def scalar(sql: str, params: list[Any]) -> Any:
    """The first column of the first row ``sql`` returns (None without a row)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def fetch_all(sql: str, params: list[Any], model: type[M]) -> list[M]:
    """Run ``sql``, which returns the columns of ``model`` (as ``columns`` lists them), and
    return the rows as instances, converted as the ORM would."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    converters = _converters(connection.alias, (model,))
    names = [field.attname for field in model._meta.concrete_fields]
    return [model.from_db(connection.alias, names, _convert(row, converters)) for row in rows]


def insert(instance: M) -> M:
    """Insert a new ``instance`` as ``save()`` would (each field's ``pre_save``, so defaults
    and ``auto_now_add`` apply, and its database preparation), taking the primary key from
    ``RETURNING``. No signals are sent: Hearth connects none to the models inserted here."""
    return _insert(instance, unique=())


def upsert(instance: M, unique: Sequence[str]) -> M:
    """Insert ``instance``, or update the row that has the same values of the fields in
    ``unique`` (a unique constraint) with the instance's other values, in one statement
    (``INSERT … ON CONFLICT … DO UPDATE``); takes the row's primary key."""
    if not unique:
        raise ValueError("upsert needs the fields of a unique constraint")
    return _insert(instance, unique=unique)


def _insert(instance: M, *, unique: Sequence[str]) -> M:
    meta = instance._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    conflict = ""
    if unique:
        keys = [f for f in fields if f.name in unique or f.attname in unique]
        if len(keys) != len(unique):
            raise ValueError(f"not concrete fields of {meta.label}: {unique}")
        changed = ", ".join(
            f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in fields if f not in keys
        )
        conflict = (
            f"ON CONFLICT ({', '.join(quote(f.column) for f in keys)}) DO UPDATE SET {changed} "
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) {conflict}"
            f"RETURNING {quote(meta.pk.column)}",
            values,
        )
        (pk,) = cursor.fetchone()
    setattr(instance, meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def update(instance: Model, names: Sequence[str]) -> None:
    """``instance.save(update_fields=names)`` for a row known to exist, as one UPDATE."""
    meta = instance._meta
    fields = [f for f in meta.concrete_fields if f.name in names or f.attname in names]
    if len(fields) != len(names):
        raise ValueError(f"not concrete fields of {meta.label}: {names}")
    values = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s",
            [*values, instance.pk],
        )
