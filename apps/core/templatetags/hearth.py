from django import template
from django.utils.safestring import SafeString, mark_safe

from apps.core import markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render user text; safe because markdown.render sanitises with an allow-list."""
    return mark_safe(markdown.render(text or ""))


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
