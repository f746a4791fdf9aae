from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from apps.accounts import services


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up by e-mail and password, and by the social sign-up form (which allauth saves
    through this adapter too)."""

    def save_user(self, request: Any, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_setup_volunteer(user=user)
        return user

    def clean_email(self, email: str) -> str:
        """Refuse the reserved ".invalid" domain (RFC 2606): Hearth's own accounts use it (the
        model-written answers' author, deleted accounts), and it can receive no mail."""
        email = super().clean_email(email)
        domain = email.rsplit("@", 1)[-1].rstrip(".").casefold()
        if domain == "invalid" or domain.endswith(".invalid"):
            raise ValidationError(_("Use an e-mail address that can receive mail."))
        return email


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request: Any, sociallogin: Any, form: Any = None) -> Any:
        """Everyone who signs up is a volunteer, however they sign up. allauth passes a social
        sign-up through ``AccountAdapter.save_user`` only when the person fills in its form;
        auto-signup (Hugging Face gave an unused e-mail address) goes straight to
        ``sociallogin.save``, so the role is given here, after the user row exists. Giving it
        twice (the form path) changes nothing."""
        user = super().save_user(request, sociallogin, form=form)
        services.user_setup_volunteer(user=user)
        return user
