"""Idempotency keys: a retried POST returns the first result and creates nothing new.

The key row is inserted in the same transaction as the work it guards. On PostgreSQL a
concurrent request with the same key blocks on the unique index until the first commits, then
fails with IntegrityError and replays the stored result; so two racing retries still make one
row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException, ValidationError

from apps.core.models import IdempotencyKey

MAX_KEY_LENGTH = 200


class KeyReused(APIException):
    status_code = 422
    default_detail = _(
        "This Idempotency-Key was already used for a different request. Use a new key."
    )
    default_code = "idempotency_key_reused"


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            {"Idempotency-Key": [_("Use at most 200 printable characters, e.g. a UUID.")]}
        )


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _replay(record: IdempotencyKey, fingerprint: str) -> tuple[int, Any, bool]:
    if record.fingerprint != fingerprint:
        raise KeyReused()
    return record.status_code, record.response, True


def run_once(
    *, user: Any, key: str, fingerprint: str, action: Callable[[], tuple[int, Any]]
) -> tuple[int, Any, bool]:
    """Run ``action`` once per (user, key). Returns (status, data, replayed).

    Only successful (2xx) results are stored: a request refused for bad input may be retried
    with the same key once corrected.
    """
    existing = IdempotencyKey.objects.filter(user=user, key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(user=user, key=key, fingerprint=fingerprint)
            status_code, data = action()
            if not 200 <= status_code < 300:
                transaction.set_rollback(True)
                return status_code, data, False
            record.status_code = status_code
            record.response = data
            record.save(update_fields=["status_code", "response"])
    except IntegrityError:
        existing = IdempotencyKey.objects.filter(user=user, key=key).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return status_code, data, False


def form_once(
    request: Any, key: str, action: Callable[[], tuple[int, Any]]
) -> tuple[int, Any, bool]:
    """``run_once`` for an HTML form carrying a hidden per-render key: a double click or a
    resubmitted page replays the first result instead of doing the work again."""
    return run_once(
        user=request.user,
        key=f"form:{key}",
        fingerprint=fingerprint("POST", request.path, key.encode()),
        action=action,
    )
