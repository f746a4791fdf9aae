"""``{% account_name user recipient as name %}``: an account named as its e-mails name it
(apps.accounts.adapter.account_name), for the pages that a link from an e-mail opens."""

from __future__ import annotations

from typing import Any

from django import template

from apps.accounts.adapter import account_name as _account_name

register = template.Library()


@register.simple_tag
def account_name(user: Any, recipient: str) -> str:
    return _account_name(user, recipient=recipient)
