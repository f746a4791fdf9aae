"""Languages offered in pickers. Any valid BCP-47 tag is accepted; these are suggestions.

Names are given in the language the page is shown in ("Spanish" in English, "español" in
Spanish), from langcodes' CLDR data: as in running text (:func:`language_name`; Spanish and
French write them lowercase), or standing alone in a menu or a table cell, where a name
starts with a capital (:func:`language_label`: "Español")."""

from __future__ import annotations

import functools

import langcodes
from django.conf import settings
from django.utils import translation

_COMMON_TAGS = [
    "en", "es", "fr", "de", "pt", "pt-BR", "it", "nl", "pl", "ru", "uk", "tr", "ar", "fa",
    "hi", "bn", "ur", "id", "vi", "th", "zh", "zh-Hant", "ja", "ko", "sw", "yo", "ha", "am",
    "el", "cs", "sv", "da", "fi", "no", "he", "ro", "hu", "ca", "eu", "gl", "ta", "te",
]  # fmt: skip


def _shown_in() -> str:
    return translation.get_language() or settings.LANGUAGE_CODE


# Bounded: the tags come from the database, any valid BCP-47 tag a volunteer gave.
@functools.lru_cache(maxsize=4096)
def _name(tag: str, shown_in: str) -> str:
    try:
        return str(langcodes.Language.get(tag).display_name(shown_in))
    except (ValueError, LookupError):
        return tag


def language_name(tag: str) -> str:
    """``tag``'s name in the current language, or the tag itself when it names nothing."""
    return _name(tag, _shown_in())


def language_label(tag: str) -> str:
    """``tag``'s name in the current language as a label on its own: its first letter a
    capital (a tag that names nothing stays as it is)."""
    name = language_name(tag)
    return name if name == tag else name[:1].upper() + name[1:]


def common_languages() -> list[tuple[str, str]]:
    """The suggested tags with their names in the current language, as menu labels."""
    return [(tag, language_label(tag)) for tag in _COMMON_TAGS]
