"""Normalising and checking user text, the same way for forms, the API and imports; numbers
and moments as the page's language writes them in messages."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import get_format, number_format
from django.utils.translation import gettext as _

from apps.core.confusables import skeleton

# C0/C1 control characters other than tab and newline (CR is folded into LF first).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Half of a UTF-16 pair: JSON may spell one ("\ud800"), but it is no character and no
# UTF-8 can hold it, so PostgreSQL (and any page showing it) would fail on it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NON_WORD = re.compile(r"[\W_]+")
# Bidirectional embeddings, overrides and isolates: "evil\u202eexe.txt" shows as
# "eviltxt.exe". Right-to-left text needs none of them (the marks U+200E/U+200F stay).
_DIRECTION_OVERRIDE = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def _is_blank(text: str) -> bool:
    """True when no character shows: only whitespace and format characters (category Cf:
    zero-width spaces and joiners, a byte-order mark, direction marks), which ``str.strip``
    keeps. Such text reads as empty wherever it is shown."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in text)


def is_printable_name(text: str) -> bool:
    """``str.isprintable``, but for the invisible characters a name needs: the zero-width
    joiner of emoji sequences (👩‍🔬, 🏳️‍🌈), the non-joiner of Persian and Indic spelling
    (علی‌رضا), and the tag characters of subdivision flags (🏴󠁧󠁢󠁳󠁣󠁴󠁿). Controls, direction
    overrides and isolates (which turn the rest of a line around), zero-width spaces and the
    like stay refused: a name is shown on other people's pages."""
    return all(
        char.isprintable() or char in "\u200c\u200d" or "\U000e0020" <= char <= "\U000e007f"
        for char in text
    )


def normalise(text: str) -> str:
    """NFC, Unix newlines, no surrounding whitespace."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text).strip()


def _refuse_control_character(text: str, *, label: str) -> None:
    bad = _CONTROL.search(text)
    if bad:
        raise ValidationError(
            _("%(label)s contains a control character (U+%(code)04X); remove it.")
            % {"label": label, "code": ord(bad.group())},
            code="control_character",
        )


def refuse_control_characters(text: str, *, label: str) -> None:
    """check_text's refusal of a control character on its own, with its message and code:
    for a form's text field, whose own check would refuse a NUL first in other words
    (Django's "Null characters are not allowed."), so that one page says it one way."""
    _refuse_control_character(normalise(text), label=label)


def check_text(
    text: object, *, label: str, min_chars: int, max_chars: int, required: bool = True
) -> str:
    """Return the normalised text or raise ValidationError with a message a person understands."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ValidationError(_("%(label)s must be text.") % {"label": label}, code="type")
    text = normalise(text)
    if _is_blank(text):
        if required:
            raise ValidationError(
                _("%(label)s is required and cannot be only whitespace.") % {"label": label},
                code="required",
            )
        return ""
    half = _SURROGATE.search(text)
    if half:
        raise ValidationError(
            _(
                "%(label)s contains U+%(code)04X, half of a UTF-16 pair and not a character; remove it."
            )
            % {"label": label, "code": ord(half.group())},
            code="surrogate",
        )
    _refuse_control_character(text, label=label)
    turned = _DIRECTION_OVERRIDE.search(text)
    if turned:
        raise ValidationError(
            _(
                "%(label)s contains a character that changes the direction text is shown in "
                "(U+%(code)04X), so what is shown is not what was written; remove it."
            )
            % {"label": label, "code": ord(turned.group())},
            code="direction_override",
        )
    if len(text) < min_chars:
        raise ValidationError(
            _("%(label)s is too short: at least %(min)s characters, got %(n)s.")
            % {"label": label, "min": shown_number(min_chars), "n": shown_number(len(text))},
            code="min_length",
        )
    if len(text) > max_chars:
        raise ValidationError(
            _("%(label)s is too long: at most %(max)s characters, got %(n)s.")
            % {"label": label, "max": shown_number(max_chars), "n": shown_number(len(text))},
            code="max_length",
        )
    return text


def dedupe_key(text: str, context: str = "") -> str:
    """A hash under which texts that differ only in case, spacing or punctuation collide
    ("What is CSS ?" and "what is css?") or only in letters that look alike ("Grаce" with a
    Cyrillic "а"); letters and digits of every script count.

    A prompt's key is that of its instruction and its context together: a generic Dolly
    instruction ("Summarize the following passage.") over another passage is another prompt
    (data QA: an import refused such lines as duplicates). Without a context (or with one of
    spaces and punctuation only) the key is the instruction's alone, as every key was before
    contexts counted."""
    folded = _folded(text)
    if folded_context := _folded(context):
        # Folding leaves no control character, so this separator cannot be forged.
        folded = f"{folded}\x1f{folded_context}"
    return hashlib.sha256(folded.encode()).hexdigest()


def _folded(text: str) -> str:
    # The confusables skeleton (NFKC, case, look-alike letters of other scripts): one Cyrillic
    # "а" in a copy of a public prompt let it in as new (security QA).
    return _NON_WORD.sub(" ", skeleton(text)).strip()


def shown_number(value: int | float) -> str:
    """A number for a message, as the page's language writes it: 65,536 and 0.5 in English,
    65 536 and 0,5 in Spanish (where the forms read a decimal comma too). A fraction keeps
    its shortest form (1e-05)."""
    if isinstance(value, int):
        return number_format(value, force_grouping=True)
    return f"{value:g}".replace(".", str(get_format("DECIMAL_SEPARATOR")))


def ago(moment: dt.datetime | None) -> str:
    """When something happened, for a sentence or a table: "just now" within the last minute,
    else as naturaltime says it ("5 minutes ago"). naturaltime's own "now" read "Cancelled
    now." and "Created: now", and a count of seconds is stale on a page that is not polled."""
    if moment is None:
        return ""
    if timezone.now() - moment < dt.timedelta(minutes=1):
        return _("just now")
    return str(naturaltime(moment))
