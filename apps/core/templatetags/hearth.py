from django import template
from django.utils.safestring import SafeString, mark_safe

from apps.core import markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render user text; safe because markdown.render sanitises with an allow-list."""
    return mark_safe(markdown.render(text or ""))
