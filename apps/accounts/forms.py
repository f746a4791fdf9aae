from __future__ import annotations

from typing import Any

from allauth.account.forms import AddEmailForm as AllauthAddEmailForm
from django import forms
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from apps.accounts import services
from apps.accounts.models import User


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=60, required=False)
    languages = forms.CharField(
        label=_("Languages you write in"),
        required=False,
        max_length=400,
        help_text=_("BCP-47 tags separated by commas, e.g. en, de, pt-BR."),
        widget=forms.TextInput(attrs={"list": "language-list", "autocomplete": "off"}),
    )
    attribution = forms.BooleanField(
        label=_("Credit me by display name in dataset cards"), required=False
    )
    on_leaderboard = forms.BooleanField(
        label=_("Show me on the Community leaderboard"),
        required=False,
        help_text=_(
            "Off: you are left out of the public list; My contributions still shows your own "
            "counts, streak and rank."
        ),
    )


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=60)


class LicenceForm(forms.Form):
    agree = forms.BooleanField(label=_("I agree to contribute under this licence"), required=True)
    next = forms.CharField(widget=forms.HiddenInput, required=False)


class AccountDeleteForm(forms.Form):
    """Deleting an account asks for its e-mail address, and its password where it has one
    (an account made through Hugging Face sign-in has none)."""

    email = forms.CharField(
        label=_("Your email address"),
        max_length=254,
        help_text=_("Type it to confirm that this is the account to delete."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Your password"),
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if not user.has_usable_password():
            del self.fields["password"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if email.casefold() != self.user.email.casefold():
            raise forms.ValidationError(_("This is not the email address of your account."))
        return email

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("The password is not right."))
        return password


class AddEmailForm(AllauthAddEmailForm):
    """allauth's form for another e-mail address (ACCOUNT_FORMS), refused to a suspended
    account before anything is sent."""

    def clean_email(self) -> str:
        try:
            services.check_may_add_email(user=self.user)
        except PermissionDenied as exc:
            raise forms.ValidationError(str(exc)) from None
        return super().clean_email()
