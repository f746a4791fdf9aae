import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import translation
from django.utils.html import escape, format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe

from apps.core import markdown
from apps.core.text import ago

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render user text; safe because markdown.render sanitises with an allow-list."""
    return mark_safe(markdown.render(text or ""))


register.filter("ago", ago)


@register.filter(name="plain")
def plain_filter(text: str) -> str:
    """User text as its reader sees it, without markup: for titles and short previews, so
    that ``|truncatechars`` counts and cuts letters, not the entities of escaped HTML
    (``&amp;`` cut to ``&am…``). Not marked safe: the template escapes it as it prints it."""
    return html.unescape(strip_tags(markdown.render_for_preview(text or ""))).strip()


# Languages that write a month's short name in lower case ("27 nov 2026"), where Django's "M"
# gives it a capital ("27 Nov 2026"). A language added to LANGUAGES that does goes here too.
LOWER_CASE_MONTHS = frozenset({"ca", "es", "fr", "it", "pt"})


@register.filter(expects_localtime=True)
def date_abbr(value: Any, arg: str = "j M Y") -> str:
    """``value|date:arg``, with the month's short name (``M``) as the page's language writes
    it: "27 Nov 2026" in English, "27 nov 2026" in Spanish."""
    language = (translation.get_language() or "").split("-")[0].lower()
    if language in LOWER_CASE_MONTHS:
        arg = re.sub(r"(?<!\\)M", "b", arg)
    return date_filter(value, arg)


@register.filter
def lang_attr(tag: str) -> SafeString:
    """`` lang="…"`` for an element holding text written in ``tag``: a prompt's BCP-47
    language, which its answers share. A screen reader then reads that text in its own
    language's voice, not the page's (WCAG 3.1.2). Nothing for a language not known (empty,
    or ``und``): the text is read as the page is."""
    if not tag or tag.lower() == "und":
        return mark_safe("")
    return format_html(' lang="{}"', tag)


@register.simple_tag(takes_context=True)
def nav_current(context: template.Context, href: str, section: str = "") -> SafeString:
    """The ``aria-current`` of a header link: ``page`` on the page it points to (whatever the
    query), ``true`` on another page of its ``section`` (a URL namespace: a release's page
    under Releases is not the Releases page)."""
    request = context.get("request")
    if request is None:
        return mark_safe("")
    if request.path == href:
        return mark_safe(' aria-current="page"')
    match = request.resolver_match
    if section and match is not None and match.app_name == section:
        return mark_safe(' aria-current="true"')
    return mark_safe("")


@register.filter
def coarse_percent(done: float, total: float = 100) -> int:
    """``done`` of ``total`` in percent, rounded down to a multiple of 10: the progress that a
    polled status says out loud (``data-announce``), which at every 1% would be said at every
    poll."""
    if not total:
        return 0
    return max(0, min(100, int(10 * done // total) * 10))


def svg_coordinate(value: float) -> str:
    """A number for an SVG attribute. A string: a float would be localised ("60,5") in a
    language with a decimal comma."""
    return f"{value:.2f}"


@dataclass(frozen=True)
class CountBar:
    label: str
    count: int
    width: str  # of 100


@register.inclusion_tag("core/_count_bars.html")
def count_bars(rows: list[tuple[str, int]], testid: str) -> dict[str, Any]:
    """A labelled count per row with a bar beside it, the largest at full width."""
    most = max((count for _, count in rows), default=0)
    return {
        "bars": [
            CountBar(label, count, svg_coordinate(100 * count / most if most else 0))
            for label, count in rows
        ],
        "testid": testid,
    }


@register.simple_tag(takes_context=True)
def page_href(
    context: template.Context, number: int, param: str = "page", path: str = "", anchor: str = ""
) -> SafeString:
    """The address of page ``number`` of a paged list: ``path`` (default: this page) with this
    request's query, ``param`` set to ``number``, and ``#anchor`` when given."""
    request = context.get("request")
    kept = request.GET.items() if request is not None else []
    query = "".join(f"{escape(k)}={quote(v, safe='/')}&amp;" for k, v in kept if k != param)
    fragment = f"#{escape(anchor)}" if anchor else ""
    return mark_safe(f"{escape(path)}?{query}{escape(param)}={int(number)}{fragment}")
