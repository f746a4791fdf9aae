"""Languages offered in pickers. Any valid BCP-47 tag is accepted; these are suggestions."""

from __future__ import annotations

import langcodes

_COMMON_TAGS = [
    "en", "es", "fr", "de", "pt", "pt-BR", "it", "nl", "pl", "ru", "uk", "tr", "ar", "fa",
    "hi", "bn", "ur", "id", "vi", "th", "zh", "zh-Hant", "ja", "ko", "sw", "yo", "ha", "am",
    "el", "cs", "sv", "da", "fi", "no", "he", "ro", "hu", "ca", "eu", "gl", "ta", "te",
]  # fmt: skip

COMMON_LANGUAGES: list[tuple[str, str]] = [
    (tag, langcodes.Language.get(tag).display_name()) for tag in _COMMON_TAGS
]


def language_name(tag: str) -> str:
    try:
        return str(langcodes.Language.get(tag).display_name())
    except (ValueError, LookupError):
        return tag
