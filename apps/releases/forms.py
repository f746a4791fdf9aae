"""Forms present fields; the rules are the services' (the API uses the same ones)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from apps.collection.models import Category
from apps.releases.models import DEFAULT_TEST_SHARE


class ReleaseCreateForm(forms.Form):
    """The release filter as typed: ``services.check_release_filter`` parses and checks each
    field, and ``add_validation_errors`` puts its messages next to them."""

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
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.5"}
        ),
    )
    test_share = forms.CharField(
        label=_("Test share"),
        required=False,
        max_length=40,
        initial=str(DEFAULT_TEST_SHARE),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    include_model_written = forms.BooleanField(
        label=_("Include model-written answers"), required=False
    )
    # A fresh key per rendered form: a double click or a resent page cuts one release
    # (apps.core.idempotency). A refused form comes back with the key it was sent with.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)

    def clean_idempotency_key(self) -> str:
        key: str = self.cleaned_data["idempotency_key"]
        if not key:
            # A page from before the key existed: refuse it rather than risk a second
            # release, and send the form back with a key so the next click goes through.
            data = QueryDict(mutable=True)
            data.update(self.data)
            data[self.add_prefix("idempotency_key")] = uuid.uuid4().hex
            self.data = data
            # Said above the form: a hidden field has no place to show its error.
            self.add_error(None, _("This page was out of date. Check the filter and build again."))
        return key
