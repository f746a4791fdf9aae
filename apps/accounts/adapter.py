from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.accounts import selectors, services
from apps.accounts.limits import allauth_wait, limited_page
from apps.core.throttling import wait_in_words


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

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """Over the failed sign-in limits (per address tried, per client), answer 429 with
        Retry-After and a page that says when to try again, instead of allauth's form again
        with a 200 that says "later"."""
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError as exc:
            if exc.code != "too_many_login_attempts":
                raise
            key = self._get_login_attempts_cache_key(request, **credentials)
            wait = allauth_wait(request, action="login_failed", key=key)
            if wait is None:
                message = _("Too many failed sign-in attempts. Try again later.")
            else:
                message = _("Too many failed sign-in attempts. Try again %(when)s.") % {
                    "when": wait_in_words(wait)
                }
            raise ImmediateHttpResponse(
                limited_page(
                    request,
                    wait=wait,
                    message=message,
                    what_now=_("You are not signed in: the password was not checked this time."),
                    back_url=request.get_full_path(),
                    back_label=_("Back to sign in"),
                )
            ) from None

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Every e-mail allauth sends names the account as ``account_name`` does, never by
        its display name: that is text anyone chooses, and the mail goes to any address
        (QA: "user Hearth Security. Act now: http://evil.example/r has given your email
        address…"). Hearth's copies of allauth's templates use ``account_name``."""
        user = context.get("user")
        if user is not None:
            context = {**context, "account_name": account_name(user, recipient=email)}
        super().send_mail(template_prefix, email, context)

    def send_confirmation_mail(self, request: Any, emailconfirmation: Any, signup: bool) -> None:
        """A suspended account sends no confirmation e-mails (adding an address is refused
        on its form already; this covers sending one again)."""
        if not signup:
            services.check_may_add_email(user=emailconfirmation.email_address.user)
        super().send_confirmation_mail(request, emailconfirmation, signup)


def account_name(user: Any, *, recipient: str) -> str:
    """How an e-mail to ``recipient`` names ``user``'s account: by its address when that is
    where the mail goes (it tells them nothing new), else as "Volunteer #12", which tells a
    stranger neither the address nor any text the account chose."""
    if recipient.casefold() == (user.email or "").casefold():
        return str(user.email)
    return _("Volunteer #%(id)s") % {"id": user.pk}


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
