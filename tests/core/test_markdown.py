"""User text is rendered as sanitised Markdown: nothing executable survives."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from apps.core.markdown import render

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    "![x](javascript:alert(1))",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "`<script>alert(1)</script>`",
    "<<script>script>alert(1)<</script>/script>",
    '[a](https://ok.example "title" onmouseover=alert(1))',
]


class ElementCollector(HTMLParser):
    """The elements a browser would build from the HTML (escaped text is not an element)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = ElementCollector()
    parser.feed(html)
    return parser.elements


@pytest.mark.parametrize("payload", HOSTILE)
def test_it_neutralises_hostile_payloads(payload):
    found = elements(render(payload))
    tags = {tag for tag, _ in found}
    assert not tags & {"script", "iframe", "svg", "img", "div", "style", "object", "embed"}
    for _tag, attrs in found:
        assert not [name for name in attrs if name.lower().startswith("on")], attrs
        assert "style" not in attrs
        href = (attrs.get("href") or "").strip().lower()
        assert not href.startswith(("javascript:", "data:", "vbscript:")), href


def test_it_keeps_ordinary_markdown():
    html = render("**bold** and `code`\n\n- one\n- two\n\n[site](https://example.org)")
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert 'href="https://example.org"' in html
    assert 'rel="nofollow ugc noopener"' in html


def test_it_shows_raw_html_as_text():
    assert "&lt;b&gt;hi&lt;/b&gt;" in render("<b>hi</b>")


def test_a_long_text_is_rendered_once_then_read_from_the_cache() -> None:
    """Some Markdown parses in quadratic time (20,000 characters of "![" took 0.9 s), and the
    pages that show a text render it at every view: long texts are kept rendered."""
    import hashlib

    from django.core.cache import cache

    from apps.core import markdown

    text = "*long* " + "x" * markdown.CACHED_FROM_CHARS
    key = "markdown:2:" + hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
    cache.delete(key)
    html = render(text)
    assert "<em>long</em>" in html and cache.get(key) == html
    cache.set(key, "<p>as kept</p>")
    assert render(text) == "<p>as kept</p>"  # read back, not rendered again
    cache.delete(key)

    short = "*short*"
    assert render(short) == "<p><em>short</em></p>\n"
    assert (
        cache.get("markdown:2:" + hashlib.blake2b(short.encode(), digest_size=20).hexdigest())
        is None
    )
