"""Messages kept untranslated and read in the language of whoever reads them: what a worker
or a schedule decided, an error it met. A worker's language is nobody's in particular, so it
keeps the message id and its values, and the page or API translates them when shown.

A note is JSON: ``{"text": msgid, "params": {...}}`` (a param may be a note itself), or
``{"plain": text}`` for words no catalogue has (a client error's own text).
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext

Note = dict[str, Any]


def note(text: str, **params: Any) -> Note:
    """A message id (marked with gettext_noop where it is written) and its values."""
    return {"text": text, "params": params}


def label_note(label: Any) -> Note:
    """A lazy label (a TextChoices label, say) as a note: its message id, translated when
    shown (translation switched off reads the id)."""
    with translation.override(None):
        return note(str(label))


def shown_note(message: Any) -> str:
    """A note in the active language; anything else as str() has it."""
    if not isinstance(message, dict):
        return str(message)
    if "plain" in message:
        return str(message["plain"])
    params = {
        name: shown_note(value) if isinstance(value, dict) else value
        for name, value in (message.get("params") or {}).items()
    }
    text = gettext(str(message.get("text", "")))
    return text % params if params else text
