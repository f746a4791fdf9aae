from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.accounts import selectors, services


def first_stop(*, user: Any) -> str:
    """Where a newcomer goes once signed up and verified: the licence step, which then leads
    on to Contribute; straight to Contribute once the licence is accepted."""
    contribute = reverse("assignments:contribute")
    if selectors.licence_accepted(user=user):
        return contribute
    return f"{reverse('accounts:licence')}?{urlencode({'next': contribute})}"


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up by e-mail and password, and by the social sign-up form (which allauth saves
    through this adapter too)."""

    def save_user(self, request: Any, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_setup_volunteer(user=user)
        return user

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        """After sign-up, and after the e-mail confirmation that signs the newcomer in (allauth
        finishes that sign-up then). A ``next`` given to the sign-up still comes first."""
        return first_stop(user=request.user)

    def get_email_verification_redirect_url(self, email_address: EmailAddress) -> str:
        """After a confirmation that did not finish a sign-up in this browser: signed in, on
        to the licence or Contribute; signed out, to the sign-in page, and from there on."""
        if self.request.user.is_authenticated:
            return first_stop(user=self.request.user)
        login = reverse("account_login")
        return f"{login}?{urlencode({'next': first_stop(user=email_address.user)})}"

    def clean_email(self, email: str) -> str:
        """Refuse the reserved ".invalid" domain (RFC 2606): Hearth's own accounts use it (the
        model-written answers' author, deleted accounts), and it can receive no mail."""
        email = super().clean_email(email)
        domain = email.rsplit("@", 1)[-1].rstrip(".").casefold()
        if domain == "invalid" or domain.endswith(".invalid"):
            raise ValidationError(_("Use an email address that can receive mail."))
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


def user_display(user: Any) -> str:
    """How allauth's messages and e-mails name a person ("Successfully signed in as …"): by
    their display name, else their email address. allauth's default is ``str(user)``, which
    gives the address's local part, read as a username that Hearth does not have."""
    return str(getattr(user, "display_name", "") or getattr(user, "email", "") or "")
