from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


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
