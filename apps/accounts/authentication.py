"""DRF authentication with personal API tokens: ``Authorization: Bearer hearth_…``
(``Token`` is accepted as the scheme too)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts.models import ApiToken, LicenceAcceptance, User
from apps.accounts.services import hash_token
from apps.core.sql import columns, fetch_one, quote


def _active_token(key_hash: str) -> ApiToken | None:
    """The unrevoked token with this hash and its user, with the answer to the licence check
    that every contributing request asks (left on the user as ``licence_accepted_cache``, see
    ``selectors.licence_accepted``): one statement, written out in SQL because building it
    with the ORM took more CPU than the rest of a task request (see apps/core/sql.py)."""
    tokens, users = quote(ApiToken._meta.db_table), quote(User._meta.db_table)
    found = fetch_one(
        f"SELECT {columns(ApiToken, 't')}, {columns(User, 'u')}, EXISTS ("
        f"SELECT 1 FROM {quote(LicenceAcceptance._meta.db_table)} a "
        'WHERE a."user_id" = t."user_id" AND a."version" = %s'
        f') FROM {tokens} t INNER JOIN {users} u ON u."id" = t."user_id" '
        'WHERE t."key_hash" = %s AND t."revoked_at" IS NULL',
        [settings.HEARTH_LICENCE_VERSION, key_hash],
        ApiToken,
        User,
    )
    if found is None:
        return None
    token, user, licensed = found
    user.licence_accepted_cache = bool(licensed)
    token.user = user
    return token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Send the header as 'Authorization: Bearer <token>'.")
            )
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The token has invalid characters.")) from None
        token = _active_token(hash_token(key))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API token."))
        now = timezone.now()
        # Record use at most once a minute so busy clients do not write on every request.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes personal API tokens in the OpenAPI schema."""

    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from the Profile page: `Authorization: Bearer hearth_…`",
        }


def accepts_api_tokens(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Let a page the API links to (a training run's files) take the API's token as well as
    the browser's session: API QA followed a run's ``downloads`` with its token and landed on
    the sign-in page. A bad token is the API's 401; without the header nothing changes."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated and "HTTP_AUTHORIZATION" in request.META:
            auth = ApiTokenAuthentication()
            try:
                found = auth.authenticate(cast(Request, request))  # it reads the header only
            except exceptions.AuthenticationFailed as exc:
                response = JsonResponse({"detail": str(exc.detail)}, status=401)
                response["WWW-Authenticate"] = auth.authenticate_header(cast(Request, request))
                return response
            if found is not None:
                request.user = found[0]
        return view(request, *args, **kwargs)

    return wrapper
