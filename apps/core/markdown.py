"""User text as sanitised Markdown: raw HTML is never passed through, and the result is
cleaned again by an allow-list sanitiser, so no script, handler or javascript: link runs.

Everything a text says shows on the page: reviewers approve the raw Markdown that goes into
the released data, so nothing in it may be hidden from them. The parsed tokens are adjusted
before they are rendered:

- An image is not shown as an image but as its source, reconstructed from the parse and
  escaped (``![alt](url "title")``), in a ``<span class="md-image">``.
- Link reference definitions are not parsed (markdown-it's ``reference`` rule is off): a
  definition (``[x]: https://… "title"``, or the comment idiom ``[//]: # (text)``) shows as
  the text it is, and so does a reference-style link (``[text][x]``, ``[x]``), as written.
- A link stays a link (nh3 adds its ``rel``), and its destination, with its title if it has
  one, follows it as text, ``(url "title")`` in a ``<span class="md-dest">``, unless the link
  text is the destination itself; the title attribute is dropped. A link to a scheme outside
  ``URL_SCHEMES`` is not a link: its text and destination show as text. (markdown-it itself
  refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` links, which stay text as
  written.)
- Headings are demoted by two levels (``#`` to ``<h3>``, ``##`` to ``<h4>``, ``###`` to
  ``<h5>``, deeper to ``<h6>``): the pages that show user text have their own ``<h1>`` and
  ``<h2>``, and the page's outline stays the page's.

Long texts are rendered once and kept in the cache (keyed by a hash of the text): markdown-it
parses some inputs in quadratic time (20,000 characters of ``![`` took 0.9 s, ``[`` 0.6 s), and
every page that shows such a text (the prompt page, a review task, the moderation queue)
would otherwise pay that on every view. The token walk above is linear and adds nothing
measurable to that."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import nh3
from django.core.cache import cache
from markdown_it import MarkdownIt
from markdown_it.token import Token

_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable(["table", "strikethrough"])
    .disable("reference")
)

# Previews (render_for_preview): CommonMark as written, reference definitions included.
_md_preview = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False}
).enable(["table", "strikethrough"])

URL_SCHEMES = {"http", "https", "mailto"}

_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li",
    "h3", "h4", "h5", "h6", "a", "span", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
_CLASSES = {"span": {"md-image", "md-dest"}}

_HEADINGS = {"h1": "h3", "h2": "h4", "h3": "h5", "h4": "h6", "h5": "h6", "h6": "h6"}
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")


# Shorter texts render in about a millisecond at worst, no slower than a cache read.
CACHED_FROM_CHARS = 2_000
CACHED_FOR_SECONDS = 7 * 24 * 3600


def render(text: str) -> str:
    return _cached("markdown:2:", text, _render)


def render_for_preview(text: str) -> str:
    """HTML for a title or a short preview, which shows the words, not everything the text
    says (that is ``render``'s job, where people judge it): an image is its alt text, a link
    its text, and a reference definition is what Markdown makes of it, nothing. (QA: previews
    and tab titles filled with ``![diagram](https://…`` and ``(https://… "Wiki")``.)"""
    return _cached("markdown-preview:1:", text, _render_for_preview)


def _cached(prefix: str, text: str, render_text: Callable[[str], str]) -> str:
    if len(text) < CACHED_FROM_CHARS:
        return render_text(text)
    key = prefix + hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
    html: str | None = cache.get(key)
    if html is None:
        html = render_text(text)
        cache.set(key, html, CACHED_FOR_SECONDS)
    return html


def _render_for_preview(text: str) -> str:
    env: dict[str, object] = {}
    tokens = _md_preview.parse(text, env)
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = [
                Token("text", "", 0, content=child.content) if child.type == "image" else child
                for child in token.children
            ]
    html = _md_preview.renderer.render(tokens, _md_preview.options, env)
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=URL_SCHEMES)


def _render(text: str) -> str:
    env: dict[str, object] = {}
    tokens = _md.parse(text, env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = _HEADINGS[token.tag]
        elif token.type == "inline" and token.children:
            token.children = _show_everything(token.children)
    html = _md.renderer.render(tokens, _md.options, env)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow ugc noopener",
        allowed_classes=_CLASSES,
        filter_style_properties={"text-align"},
    )


def _show_everything(children: list[Token]) -> list[Token]:
    """The inline tokens with images as their source and links followed by where they go."""
    out: list[Token] = []
    links: list[tuple[Token, int, bool]] = []  # an open link: its token, where its text starts
    # in out, and whether it stays a link
    for token in children:
        if token.type == "image":
            source = f"![{token.content}]({_destination(token, 'src')})"
            out.extend(_span("md-image", source))
        elif token.type == "link_open":
            href = str(token.attrGet("href") or "")
            scheme = _SCHEME.match(href)
            is_link = not scheme or scheme.group(1).lower() in URL_SCHEMES
            if is_link:
                out.append(token)
            links.append((token, len(out), is_link))
        elif token.type == "link_close" and links:
            opener, start, is_link = links.pop()
            href = str(opener.attrGet("href") or "")
            shown = "".join(t.content for t in out[start:] if t.type in ("text", "code_inline"))
            if is_link:
                out.append(token)
            if not is_link or opener.attrGet("title") or shown.strip() not in _same(href):
                out.append(Token("text", "", 0, content=" "))
                out.extend(_span("md-dest", f"({_destination(opener, 'href')})"))
            if "title" in opener.attrs:
                del opener.attrs["title"]
        else:
            out.append(token)
    return out


def _destination(token: Token, attr: str) -> str:
    url = str(token.attrGet(attr) or "")
    title = token.attrGet("title")
    return f'{url} "{title}"' if title else url


def _same(href: str) -> set[str]:
    """Link texts that say where the link goes, so that it need not be said again."""
    return {href, href.removeprefix("mailto:")}


def _span(css_class: str, text: str) -> list[Token]:
    return [
        Token("span_open", "span", 1, attrs={"class": css_class}),
        Token("text", "", 0, content=text),
        Token("span_close", "span", -1),
    ]
