"""Reads for accounts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import ApiToken, LicenceAcceptance, User


def licence_accepted(*, user: Any) -> bool:
    """Whether ``user`` accepted the current licence version. Token authentication answers
    this in its own query and leaves the answer on the user (``licence_accepted_cache``);
    ``services.licence_accept`` updates it."""
    if not user.is_authenticated:
        return False
    cached = getattr(user, "licence_accepted_cache", None)
    if cached is not None:
        return bool(cached)
    return LicenceAcceptance.objects.filter(
        user=user, version=settings.HEARTH_LICENCE_VERSION
    ).exists()


def licence_text() -> str:
    path = settings.HEARTH_LICENCE_TEXT_FILE
    if path:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    return ""


def api_tokens_for_user(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def api_token_get_for_user(*, user: Any, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise Http404
    return token


def request_user(request: Any) -> User:
    """The signed-in user of a request that a login check already guarded."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user
