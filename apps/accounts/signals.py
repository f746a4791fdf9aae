"""Receivers of allauth's signals."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.utils.translation import ngettext

from apps.accounts import services


def revoke_tokens_on_new_password(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A password changed or reset (allauth's ``password_changed``, ``password_reset``) ends
    every API token too: whoever knew the old password may have made one, and it would keep
    working (QA). The page that confirms the new password says so."""
    revoked = services.api_tokens_revoke_all(user=user)
    if revoked and request is not None:
        messages.info(
            request,
            ngettext(
                "Your API token was revoked too, since whoever knew the old password could "
                "have made it: create a new one on your Profile page.",
                "Your %(count)d API tokens were revoked too, since whoever knew the old "
                "password could have made them: create new ones on your Profile page.",
                revoked,
            )
            % {"count": revoked},
        )
