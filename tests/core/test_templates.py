"""Template source checks that Django's own loader does not make."""

from __future__ import annotations

from django.conf import settings


def test_no_template_spreads_a_short_comment_over_lines():
    """Django ends a ``{# … #}`` comment on its own line only; one spread over two lines is
    printed on the page as text (it once showed on every training run page)."""
    found = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}"
        for path in sorted((settings.BASE_DIR / "templates").rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _opens_without_closing(line)
    ]
    assert found == []


def _opens_without_closing(line: str) -> bool:
    start = line.find("{#")
    return start >= 0 and "#}" not in line[start:]


def test_the_check_sees_a_comment_spread_over_lines():
    assert _opens_without_closing("<p>{# one line")
    assert not _opens_without_closing("<p>{# one line #}</p>")
