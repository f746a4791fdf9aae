"""Reviewers approve the raw Markdown that goes into a release, so the rendered text shows all
of it: an image as its source, a link reference definition as the text it is, a link's
destination and title after its text. Headings written in a text stay below the page's own."""

from __future__ import annotations

import hashlib
from html.parser import HTMLParser
from itertools import pairwise

import pytest
from django.core.cache import cache
from django.template import Context, Template

from apps.core import markdown
from apps.core.markdown import render


class Page(HTMLParser):
    """What a browser would show of the HTML (its text, not its attributes) and its elements."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    def links(self) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == "a"]


def test_an_image_shows_as_its_source_not_as_an_image():
    page = Page(render("![Call 555-0100 for cheap pills](https://spam.example/ad.png)"))
    assert "img" not in page.tags()
    assert "![Call 555-0100 for cheap pills](https://spam.example/ad.png)" in page.text


def test_an_image_title_shows_too():
    page = Page(render('Look: ![pills](https://spam.example/ad.png "call 555-0100") now'))
    assert 'Look: ![pills](https://spam.example/ad.png "call 555-0100") now' in page.text


def test_a_link_reference_definition_shows_as_text():
    page = Page(render('Good answer.\n\n[buy]: https://pills.example "Cheap pills, call 555-0100"'))
    assert "Good answer." in page.text
    assert '[buy]: https://pills.example "Cheap pills, call 555-0100"' in page.text


def test_the_comment_idiom_shows_as_text():
    assert "[//]: # (secret text)" in Page(render("[//]: # (secret text)")).text


def test_a_reference_style_link_shows_as_written():
    text = "See [the docs][ref] and [ref].\n\n[ref]: https://pills.example"
    page = Page(render(text))
    assert page.links() == []
    assert "See [the docs][ref] and [ref]." in page.text
    assert "[ref]: https://pills.example" in page.text


def test_a_link_shows_its_destination_and_title_after_its_text():
    html = render('[Wikipedia](https://spam.example "call 555")')
    page = Page(html)
    assert page.links() == [{"href": "https://spam.example", "rel": "nofollow ugc noopener"}]
    assert page.text.strip() == 'Wikipedia (https://spam.example "call 555")'
    assert '</a> <span class="md-dest">(https://spam.example "call 555")</span>' in html


def test_a_link_without_a_title_shows_its_destination():
    page = Page(render("[Wikipedia](https://spam.example/page)"))
    assert page.text.strip() == "Wikipedia (https://spam.example/page)"


@pytest.mark.parametrize(
    "text",
    ["<https://example.org/page>", "[https://example.org/page](https://example.org/page)"],
)
def test_a_link_that_says_where_it_goes_is_not_followed_by_it_again(text):
    page = Page(render(text))
    assert page.links()[0]["href"] == "https://example.org/page"
    assert page.text.strip() == "https://example.org/page"


def test_an_email_autolink_is_not_followed_by_its_address_again():
    page = Page(render("<someone@example.org>"))
    assert page.links()[0]["href"] == "mailto:someone@example.org"
    assert page.text.strip() == "someone@example.org"


def test_a_link_text_that_differs_from_its_destination_only_in_look_shows_it():
    """A look-alike (punycode) host shows as the browser will go to it."""
    page = Page(render("<https://xn--pple-43d.com>"))
    assert "(https://xn--pple-43d.com)" in page.text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[click](javascript:alert(1))", "[click](javascript:alert(1))"),
        ("[click](JaVaScRiPt:alert(1))", "[click](JaVaScRiPt:alert(1))"),
        ('[click](ftp://files.example/x "files")', 'click (ftp://files.example/x "files")'),
        ("[call](tel:5550100)", "call (tel:5550100)"),
    ],
)
def test_a_link_to_a_refused_scheme_is_not_a_link_and_shows_as_text(text, shown):
    page = Page(render(text))
    assert "a" not in page.tags()
    assert page.text.strip() == shown


def test_a_relative_link_stays_a_link_and_shows_where_it_goes():
    page = Page(render("[**home**](/collection/)"))
    assert page.links()[0]["href"] == "/collection/"
    assert page.text.strip() == "home (/collection/)"


def test_headings_are_demoted_below_the_page_headings():
    html = render("# One\n\n## Two\n\n### Three\n\n#### Four\n\n##### Five\n\n###### Six")
    assert [tag for tag, _ in Page(html).elements] == ["h3", "h4", "h5", "h6", "h6", "h6"]
    assert "<h3>One</h3>" in html and "<h4>Two</h4>" in html


def test_setext_headings_are_demoted_too():
    html = render("One\n===\n\nTwo\n---")
    assert [tag for tag, _ in Page(html).elements] == ["h3", "h4"]


@pytest.mark.parametrize(
    "text",
    [
        "![<script>alert(1)</script>](https://spam.example/a.png)",
        '![x](https://spam.example/a.png "x onerror=alert(1)")',
        '![x" onerror="alert(1)](https://spam.example/a.png)',
        "![x](javascript:alert(1))",
        "![x](JaVaScRiPt:alert(1))",
        '<img src=x onerror="alert(1)">',
        "[![x](javascript:alert(1))](javascript:alert(1))",
        '[a](https://ok.example "<script>alert(1)</script>")',
        '[a](https://ok.example "x\\" onmouseover=\\"alert(1)")',
        "<script>alert(1)</script>\n\n[x]: javascript:alert(1)",
    ],
)
def test_nothing_unsafe_passes(text):
    page = Page(render(text))
    assert not page.tags() & {"script", "img", "svg", "iframe", "div", "style"}
    for _tag, attrs in page.elements:
        assert set(attrs) <= {"href", "rel", "class"}, attrs
        assert not (attrs.get("href") or "").strip().lower().startswith("javascript:")
    assert {attrs.get("class") for tag, attrs in page.elements if tag == "span"} <= {
        "md-image",
        "md-dest",
    }


def test_the_template_filter_shows_everything():
    out = Template("{% load hearth %}{{ text|markdown }}").render(
        Context({"text": "# Hi\n\n![spam](https://spam.example/a.png)"})
    )
    assert "<h3>Hi</h3>" in out
    assert "![spam](https://spam.example/a.png)" in Page(out).text


def test_html_cached_by_the_old_rendering_is_not_served():
    text = "![hidden](https://spam.example/a.png) " + "x" * markdown.CACHED_FROM_CHARS
    digest = hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
    cache.set("markdown:1:" + digest, "<p></p>")
    try:
        assert "![hidden](https://spam.example/a.png)" in Page(render(text)).text
    finally:
        cache.delete("markdown:1:" + digest)
        cache.delete("markdown:2:" + digest)


def test_previews_and_titles_show_the_words_not_the_markup():
    """Verification QA: the |plain previews and tab titles filled with image sources and link
    destinations once render showed everything; a preview shows the words."""
    from apps.core.templatetags.hearth import plain_filter

    text = (
        "How does a fridge work? See ![the diagram](https://x.example/fr.png) and "
        '[Wiki](https://y.example "Wiki").\n\n[//]: # (a note to self)\n\n# Cold'
    )
    assert plain_filter(text) == "How does a fridge work? See the diagram and Wiki.\nCold"
    # The page that shows the text in full still shows all of it.
    shown = render(text)
    assert "https://x.example/fr.png" in shown and "a note to self" in shown


@pytest.mark.django_db
def test_a_prompt_pages_outline_skips_no_level_under_a_users_heading(client):
    """User headings start at <h3>; on a prompt page they sat under its <h1> with nothing
    between (h1 → h3, a skipped level the verification noticed). A hidden <h2> now names the
    instruction, so the outline goes h1 → h2 → h3 → … → h2 (Answers)."""
    from tests.factories import PromptFactory, ResponseFactory

    prompt = PromptFactory(instruction="# Plan\n\nWrite a plan.\n\n## Steps\n\nThree of them.")
    ResponseFactory(prompt=prompt, text="# Answer\n\nOne.")
    html = client.get(f"/prompts/{prompt.pk}/").content.decode()
    main = html[html.index("<main") : html.index("</main>")]
    levels = [
        int(tag[1]) for tag, _ in Page(main).elements if tag in {f"h{n}" for n in range(1, 7)}
    ]
    assert levels[0] == 1 and 3 in levels, levels
    assert all(b <= a + 1 for a, b in pairwise(levels)), levels
