from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from apps.core.text import refuse_control_characters
from apps.core.validators import InRange


class FormText(str):
    """A value from a form or multipart body, where every value is text: the number fields
    below read a number from it, and from no other text. (A JSON string is a plain ``str``.)"""


def form_text(dictionary: Any, value: Any) -> Any:
    """``value`` marked as FormText where ``dictionary`` is a form's or multipart body's."""
    if html.is_html_input(dictionary) and type(value) is str:
        return FormText(value)
    return value


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text.
    Length and content rules live in the services, which the forms share.

    ``text_label`` ("The instruction") names a text a person writes: a NUL in it is refused
    in the words the services and the pages use for every control character, instead of
    DRF's "Null characters are not allowed." (QA: the API said it one way, the pages another).
    """

    default_error_messages = {"invalid": _("Must be text (a JSON string).")}

    def __init__(self, *, text_label: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)
        self.text_label = text_label
        if text_label is not None:
            self.validators = [
                v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
            ]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.text_label is not None and "\x00" in data:
            try:
                refuse_control_characters(data, label=str(self.text_label))
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages, code="control_character") from exc
        return data.strip() if self.trim_whitespace else data


class ListedChoiceField(serializers.ChoiceField):
    """A ChoiceField whose refusal names the choices (DRF's says only that the value is not
    one of them)."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if exc.get_codes() != ["invalid_choice"]:
                raise
            message = _("“%(input)s” is not a valid choice. Choose one of: %(v)s.") % {
                "input": str(data)[:100],
                "v": ", ".join(self.choice_strings_to_values),
            }
            raise serializers.ValidationError(message, code="invalid_choice") from None


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


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that takes JSON integers only: DRF also reads "43", "43.0", 43.0 and
    true as whole numbers, so a value of the wrong type passed unnoticed. A form still sends
    its numbers as text, which is read as DRF reads it.

    With both ``min_value`` and ``max_value``, a value out of range gets one message naming
    both ends (InRange) instead of DRF's one per end."""

    default_error_messages = {"invalid": _("Must be a whole number (a JSON number).")}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.min_value is not None and self.max_value is not None:
            self.validators = [
                v
                for v in self.validators
                if not isinstance(v, MinValueValidator | MaxValueValidator)
            ]
            self.validators.append(InRange(self.min_value, self.max_value))

    def get_value(self, dictionary: Any) -> Any:
        return form_text(dictionary, super().get_value(dictionary))

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, FormText):
            return int(super().to_internal_value(str(data)))
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class RefusesUnknownFields(serializers.Serializer[Any]):
    """A request serializer that refuses a field it does not take, naming those it does: DRF
    drops unknown keys, so a misspelt or unchangeable field ("emial", "roles") was a 200 that
    changed nothing. A read-only field is refused too, except in a PATCH, where a client may
    send back what it read: the serializer's own read-only fields when it is ``partial``, and
    the fields named in ``read_back`` (those of what the resource's GET answers) with the
    values they have now (JSON types included), given as ``context={"read": …}``; either is
    left as it is. A read-back field with another value is refused as one that cannot be
    changed, which also says what happened when the resource changed since it was read."""

    read_back: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            takes = [name for name, field in self.fields.items() if not field.read_only]
            refused = sorted(
                name
                for name in data
                if name not in takes
                and not (self.partial and name in self.fields)
                and not self._read_back_unchanged(name, data[name])
            )
            changed = sorted(name for name in refused if name in self.read_back)
            refused = [name for name in refused if name not in changed]
            problems: dict[str, list[Any]] = {
                name: [
                    _(
                        "Cannot be changed: leave it out, or send it as it is now (it may have "
                        "changed since you read it)."
                    )
                ]
                for name in changed
            }
            if refused:
                message: Any = _("This request takes no fields: send no body, or {}.")
                if takes:
                    message = _("Not a field of this request; it takes: %(fields)s.") % {
                        "fields": ", ".join(takes)
                    }
                problems.update({name: [message] for name in refused})
            if problems:
                raise serializers.ValidationError(problems)
        return super().to_internal_value(data)

    def _read_back_unchanged(self, name: str, value: Any) -> bool:
        """Whether ``value`` is what was read, JSON type included (1 is not true, 1.0 not 1)."""
        read = self.context.get("read", {})
        if name not in self.read_back or name not in read:
            return False
        return _as_json(read[name]) == _as_json(value)


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
