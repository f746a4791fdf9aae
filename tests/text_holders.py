"""Which element holds each person's text on a page, for the tests of attributes that must sit
on it (dir="auto" in tests/collection/test_rtl_text.py, lang in tests/core/test_a11y_lang.py).

``holders(html, texts, attribute, skip)``: for each piece of text that holds one of ``texts``
(a name -> what the text starts with, enough to find it where a page cuts it short), the
nearest element around it that has ``attribute``: the text's name, the attribute's value
(None when no element around it has one), that element's tag (the innermost one's, without),
and its number in the page (None without). Text inside a ``skip`` element is left out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser

from django.test import Client

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass(frozen=True)
class Held:
    name: str
    value: str | None
    tag: str
    number: int | None


class _Holders(HTMLParser):
    def __init__(self, texts: Mapping[str, str], attribute: str, skip: Iterable[str]) -> None:
        super().__init__()
        self.texts = texts
        self.attribute = attribute
        self.skip = set(skip)
        # Each open element: its tag, its attributes, and its number in the page.
        self.stack: list[tuple[str, dict[str, str | None], int]] = []
        self.found: list[Held] = []
        self.count = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.count += 1
            self.stack.append((tag, dict(attrs), self.count))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if any(tag in self.skip for tag, _attrs, _n in self.stack):
            return
        for name, start in self.texts.items():
            if start not in data:
                continue
            for tag, attrs, number in reversed(self.stack):
                if self.attribute in attrs:
                    self.found.append(Held(name, attrs[self.attribute], tag, number))
                    break
            else:
                innermost = self.stack[-1][0] if self.stack else ""
                self.found.append(Held(name, None, innermost, None))


def holders(html: str, texts: Mapping[str, str], attribute: str, skip: Iterable[str]) -> list[Held]:
    parser = _Holders(texts, attribute, skip)
    parser.feed(html)
    parser.close()
    return parser.found


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client
