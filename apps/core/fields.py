from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text.
    Length and content rules live in the services, which the forms share."""

    default_error_messages = {"invalid": _("Must be text (a JSON string).")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes JSON true and false only: DRF also reads 0, 1, "yes" and
    "off" as booleans, so a number or a word sent by mistake flipped a setting. A form, where
    every value is text, still sends "true" and "false" (or DRF's other words for them); and
    a field a form leaves out is left out, where DRF reads it as an unticked box, false."""

    default_empty_html = empty
    default_error_messages = {"invalid": _("Must be true or false.")}

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)
        if html.is_html_input(dictionary) and isinstance(value, str):
            if value in self.TRUE_VALUES:
                return True
            if value in self.FALSE_VALUES:
                return False
        return value

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data
