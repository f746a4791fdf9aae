"""Forms present fields; the rules are the services' (the API uses the same ones)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.formats import sanitize_separators
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.collection.models import Category
from apps.core.forms import IdempotentForm
from apps.core.text import shown_number
from apps.releases.models import DEFAULT_TEST_SHARE
from apps.releases.services import MAX_TEST_SHARE


class ReleaseCreateForm(IdempotentForm):
    """The release filter as typed: ``services.check_release_filter`` parses and checks each
    field, and ``add_validation_errors`` puts its messages next to them. Its one-time key
    makes a double click or a resent page cut one release."""

    stale_message = _("This page was out of date. Check the filter and build again.")

    languages = forms.CharField(
        label=_("Languages"),
        required=False,
        max_length=500,
        help_text=_("BCP-47 tags separated by commas; empty means all."),
        widget=forms.TextInput(
            attrs={"placeholder": "en, de", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    categories = forms.MultipleChoiceField(
        label=_("Categories (none ticked: all)"),
        required=False,
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    min_agreement = forms.CharField(
        label=_("Minimum agreement (Kendall's W) for preference pairs"),
        required=False,
        max_length=40,
        # No placeholder: greyed, a number reads as the default, and empty means no minimum.
        help_text=_(
            "From 0 to 1. Empty: every complete prompt's pairs, however much its rankers "
            "disagreed. With 0.5, only prompts whose rankers broadly agreed."
        ),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    test_share = forms.CharField(
        label=_("Test share"),
        required=False,
        max_length=40,
        initial=str(DEFAULT_TEST_SHARE),
        help_text=_(
            "The share of prompts released for the first time that is held out to evaluate "
            "models on. Prompts released before keep their split, so a prompt never moves "
            "between train and test. While the test split is small the form starts higher, so "
            "that about ten prompts land in test."
        ),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    include_model_written = forms.BooleanField(
        label=_("Include model-written answers"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The range up front, as the page's language writes its numbers: only the error after
        # sending said that a share above a half is refused.
        share = self.fields["test_share"]
        limits = gettext("Above 0 and at most %(max)s.") % {"max": shown_number(MAX_TEST_SHARE)}
        share.help_text = f"{limits} {share.help_text}"

    # The two numbers as the page's language writes them: a Spanish page's 0,5 is 0.5 (the
    # services read a dot). A dot is read as before in every language.
    def clean_min_agreement(self) -> str:
        return str(sanitize_separators(self.cleaned_data["min_agreement"].strip()))

    def clean_test_share(self) -> str:
        return str(sanitize_separators(self.cleaned_data["test_share"].strip()))
