import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django import template
from django.utils.html import escape, strip_tags
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
