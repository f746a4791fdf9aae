from django import forms
from django.core.exceptions import ValidationError


def add_validation_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form, each message on its own field."""
    if not hasattr(error, "error_dict"):
        for message in error.messages:
            form.add_error(None, message)
        return
    for field, errs in error.error_dict.items():
        target = field if field in form.fields else None
        for message in errs:
            form.add_error(target, message)
