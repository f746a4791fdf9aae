from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter

from apps.accounts import services


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: Any, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_setup_volunteer(user=user)
        return user
