import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from apps.core.idempotency import MAX_KEY_LENGTH
from apps.core.validators import InRange


class IdempotentForm(forms.Form):
    """Carries a one-time key (a hidden field, new at each render) so a double-clicked or
    re-sent form does its work once (apps.core.idempotency.form_once).

    A form sent without a usable key (a page from before the field existed, a cut or
    tampered one) is refused with ``stale_message`` above the form, which comes back with a
    new key so the next click goes through: the hidden field has no place of its own to show
    an error, and without one nothing said why nothing was saved."""

    stale_message = _("This page was out of date. Check it and send it again.")
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)

    def clean_idempotency_key(self) -> str:
        key: str = self.cleaned_data["idempotency_key"]
        if key and len(key) <= MAX_KEY_LENGTH and key.isprintable():
            return key
        data = QueryDict(mutable=True)
        data.update(self.data)
        data[self.add_prefix("idempotency_key")] = uuid.uuid4().hex
        self.data = data
        self.add_error(None, self.stale_message)
        return key


def add_validation_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form, each message on its own field."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        # The errors themselves, not their messages: a form may read their codes.
        form.add_error(field if field in form.fields else None, errors)


class RangedIntegerField(forms.IntegerField):
    """A whole number from ``low`` to ``high``, refused with the site's one message naming
    both ends ("From 1 to 10,080.", InRange) rather than Django's one per end ("Ensure this
    value is greater than or equal to 1."); the browser's number box gets the same ends."""

    def __init__(self, low: int, high: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(InRange(low, high))
        self.widget.attrs.update(min=low, max=high)
