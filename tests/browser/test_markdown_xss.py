"""Hostile Markdown renders inert in a real browser: no script runs, no handler survives,
javascript: links lose their href, and ordinary links still work."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.browser

HOSTILE = (
    "Inline <script>window.__xss=1</script> and "
    '<img src=x onerror="window.__xss=1"> and '
    "[click](javascript:window.__xss=1) and <https://example.org/safe>\n\n"
    "<script>window.__xss=1</script>\n\n"
    '<svg onload="window.__xss=1"></svg>\n\n'
    '<a href="javascript:window.__xss=1">raw link</a>\n\n'
    "[encoded](jav&#x61;script:window.__xss=1)"
)

# Every element inside a rendered Markdown block that is a script, an embed, or carries an
# on* handler or a javascript: URL.
DANGEROUS = """
() => [...document.querySelectorAll('.markdown *, .prompt-list *, .contributions *')]
  .filter(el => ['SCRIPT', 'IMG', 'SVG', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName.toUpperCase())
    || [...el.attributes].some(a => a.name.startsWith('on')
      || /^\\s*javascript:/i.test(a.value)))
  .map(el => el.outerHTML)
"""


@pytest.fixture
def hostile_prompt(volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2, instruction=HOSTILE, context=HOSTILE)
    ResponseFactory(prompt=prompt, author=volunteer, text=HOSTILE)
    return prompt


def _hrefs(block: Locator, text: str) -> list[str]:
    """The href of every anchor in block whose text contains text."""
    links = block.locator("a[href]", has_text=text)
    return [links.nth(i).get_attribute("href") or "" for i in range(links.count())]


def _assert_inert(tab: Page) -> None:
    assert tab.evaluate("typeof window.__xss") == "undefined"
    assert tab.evaluate(DANGEROUS) == []


def test_hostile_markdown_on_the_prompt_page_is_inert(page, shot, hostile_prompt, csp_report):
    page.goto(f"/prompts/{hostile_prompt.pk}/")
    markdown = page.locator(".markdown")
    expect(markdown).to_have_count(3)  # instruction, context, one answer
    shot(page, "prompt")
    _assert_inert(page)

    for block in markdown.all():
        # The javascript: links are left as text: no anchor, or an anchor without href.
        expect(block).to_contain_text("click")
        assert _hrefs(block, "click") == [] and _hrefs(block, "encoded") == []
        assert _hrefs(block, "raw link") == []
        safe = block.locator('a[href="https://example.org/safe"]')
        expect(safe).to_have_count(1)
        assert "nofollow" in (safe.get_attribute("rel") or "")
        # Raw HTML is shown as text, not dropped silently and not run.
        expect(block).to_contain_text("<script>window.__xss=1</script>")

    # Clicking the neutralised link text does nothing either.
    markdown.first.get_by_text("click", exact=False).first.click()
    _assert_inert(page)

    # The check itself is not blind: a handler planted in the page is found, and the
    # Content-Security-Policy, a second line of defence, refuses it.
    page.evaluate(
        "document.querySelector('.markdown').insertAdjacentHTML('beforeend', '<b onclick=1>x</b>')"
    )
    assert len(page.evaluate(DANGEROUS)) == 1
    for _ in range(50):
        if csp_report:
            break
        page.wait_for_timeout(100)
    assert [v.split(" refused")[0] for v in csp_report] == [
        f"/prompts/{hostile_prompt.pk}/: script-src-attr"
    ]
    csp_report.clear()


def test_hostile_markdown_in_lists_and_the_live_preview_is_inert(
    page, login, shot, hostile_prompt, volunteer
):
    page.goto("/browse/")
    expect(page.locator(".prompt-list li")).to_have_count(1)
    _assert_inert(page)

    login(page, volunteer)
    page.goto("/mine/")
    expect(page.locator(".contributions li")).to_have_count(1)
    _assert_inert(page)

    page.goto("/write/")
    page.get_by_label("Your answer").fill(HOSTILE)
    page.get_by_role("button", name="Preview answer").click()
    preview = page.locator("#response-preview .markdown")
    expect(preview).to_contain_text("raw link")
    shot(page, "preview")
    _assert_inert(page)
    assert _hrefs(preview, "click") == []
    expect(preview.locator('a[href="https://example.org/safe"]')).to_have_count(1)
