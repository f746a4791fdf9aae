from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from rest_framework import permissions

from apps.accounts import roles, selectors
from apps.accounts.models import ApiToken
from apps.accounts.services import check_not_banned


class AcceptedLicence(permissions.BasePermission):
    """Contributing (including taking a task) needs consent to the current data licence."""

    message = _(
        "Accept the current data licence before contributing: open /licence/ in the browser "
        "or POST to /api/v1/me/licence/."
    )

    def has_permission(self, request: Any, view: Any) -> bool:
        return selectors.licence_accepted(user=request.user)


class HasAcceptedLicence(AcceptedLicence):
    """Writes need consent to the current data licence; reads do not."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().has_permission(request, view)


class SignedInBrowserForWrites(permissions.BasePermission):
    """Writes only a browser's session may make (creating API tokens): a leaked token could
    otherwise make tokens of its own, which outlive its revocation and a new password."""

    message = _(
        "Create API tokens on your Profile page (/profile/), signed in in a browser: a token "
        "cannot create another."
    )

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or not isinstance(request.auth, ApiToken)


class IsMaintainer(permissions.BasePermission):
    message = _("Only maintainers may do this.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.is_maintainer(request.user)


def licence_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Page views that contribute: sign in, then accept the licence, then go on. A suspended
    account gets the 403 page with the ban's reason before it writes anything."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not selectors.licence_accepted(user=request.user):
            return redirect(f"/licence/?{urlencode({'next': request.get_full_path()})}")
        check_not_banned(user=request.user)  # type: ignore[arg-type]
        return view(request, *args, **kwargs)

    return wrapper


def maintainer_required(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Page views for maintainers only: sign in, then a 403 page for anyone else."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not roles.is_maintainer(request.user):
            raise PermissionDenied(_("Only maintainers may open this page."))
        return view(request, *args, **kwargs)

    return wrapper
