"""Idempotency keys: a retried POST returns the first result and creates nothing new.

The key row is inserted in the same transaction as the work it guards, with ``ON CONFLICT DO
NOTHING``. On PostgreSQL a concurrent request with the same key blocks on the unique index
until the first commits, then inserts nothing and replays the stored result; so two racing
retries still make one row (SQLite serialises writers instead).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException, ValidationError

from apps.core.models import IdempotencyKey
from apps.core.sql import columns, fetch_one, quote

MAX_KEY_LENGTH = 200


class KeyReused(APIException):
    status_code = 422
    default_detail = _(
        "This Idempotency-Key was already used for a different request. Use a new key."
    )
    default_code = "idempotency_key_reused"


class KeyBusy(APIException):
    status_code = 409
    default_detail = _("This Idempotency-Key is in use by another request. Try again.")
    default_code = "idempotency_key_busy"


# The site's forms keep their keys under this prefix (see form_once); an API key may not
# start with it, so the two never meet.
FORM_PREFIX = "form:"


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            {"Idempotency-Key": [_("Use at most 200 printable characters, e.g. a UUID.")]}
        )
    if key.startswith(FORM_PREFIX):
        raise ValidationError(
            {"Idempotency-Key": [_("Keys starting with “form:” are the site's own; use another.")]}
        )


def fingerprint(method: str, path: str, body: bytes) -> str:
    return _digest(method.encode(), path.encode(), body)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def fields_digest(fields: Iterable[tuple[str, list[Any]]]) -> bytes:
    """A digest of form fields (name, values), in name order: text as it is, an uploaded
    file by its content, read in chunks (an upload may be larger than memory should hold)."""
    digest = hashlib.sha256()
    for name, values in sorted(fields, key=lambda field: field[0]):
        for value in values:
            digest.update(name.encode() + b"\0")
            if isinstance(value, UploadedFile):
                for chunk in value.chunks():
                    digest.update(chunk)
                value.seek(0)
            else:
                digest.update(str(value).encode())
            digest.update(b"\0")
    return digest.digest()


def _replay(record: IdempotencyKey, fingerprint: str) -> tuple[int, Any, bool]:
    if record.fingerprint != fingerprint:
        raise KeyReused()
    return record.status_code, record.response, True


def _stored(user: Any, key: str) -> IdempotencyKey | None:
    table = quote(IdempotencyKey._meta.db_table)
    found = fetch_one(
        f'SELECT {columns(IdempotencyKey, table)} FROM {table} WHERE "user_id" = %s AND "key" = %s',
        [user.pk, key],
        IdempotencyKey,
    )
    return found[0] if found else None


def _claim(user: Any, key: str, fingerprint: str) -> int | None:
    """Insert the key's row; None if (user, key) exists. A concurrent insert of the same key
    makes this wait until that transaction ends: None if it committed, a new row if not."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(IdempotencyKey._meta.db_table)} "
            '("user_id", "key", "fingerprint", "status_code", "created_at") '
            'VALUES (%s, %s, %s, 0, %s) ON CONFLICT ("user_id", "key") DO NOTHING RETURNING "id"',
            [
                user.pk,
                key,
                fingerprint,
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _store(record_id: int, status_code: int, data: Any) -> None:
    response = IdempotencyKey._meta.get_field("response")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(IdempotencyKey._meta.db_table)} "
            'SET "status_code" = %s, "response" = %s WHERE "id" = %s',
            [status_code, response.get_db_prep_save(data, connection), record_id],
        )


def run_once(
    *, user: Any, key: str, fingerprint: str, action: Callable[[], tuple[int, Any]]
) -> tuple[int, Any, bool]:
    """Run ``action`` once per (user, key). Returns (status, data, replayed).

    Only successful (2xx) results are stored: a request refused for bad input may be retried
    with the same key once corrected. Every request with a key runs through here, so its
    statements are written out in SQL (see apps/core/sql.py): an insert that does nothing
    when the key exists, then the stored result.
    """
    for _attempt in range(3):
        with transaction.atomic():
            record_id = _claim(user, key, fingerprint)
            if record_id is not None:
                status_code, data = action()
                if not 200 <= status_code < 300:
                    transaction.set_rollback(True)
                    return status_code, data, False
                _store(record_id, status_code, data)
                return status_code, data, False
        existing = _stored(user, key)
        if existing is not None:
            return _replay(existing, fingerprint)
        # The row went between the two statements (its account was deleted): claim again.
    raise KeyBusy()


def form_once(
    request: Any, key: str, action: Callable[[], tuple[int, Any]]
) -> tuple[int, Any, bool]:
    """``run_once`` for an HTML form carrying a hidden per-render key: a double click or a
    resubmitted page replays the first result instead of doing the work again.

    What was sent is part of the key: a page sent again with other content (back, edit, send)
    is a new request, done, not the first one's result shown again with the new content lost.
    The key is a digest (of the page, the hidden key and every field but the CSRF token), so
    one page's key never replays another's."""
    fields = [
        (name, values) for name, values in request.POST.lists() if name != "csrfmiddlewaretoken"
    ]
    sent = fingerprint("POST", request.path, fields_digest([*fields, *request.FILES.lists()]))
    return run_once(
        user=request.user,
        key=FORM_PREFIX + _digest(key.encode(), sent.encode()),
        fingerprint=sent,
        action=action,
    )
