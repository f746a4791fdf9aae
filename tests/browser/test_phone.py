"""On a 360 px phone the pages a volunteer uses most fit the screen, and the menu opens; a
moderator reads the audit log there without scrolling sideways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import cast

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.collection.models import Prompt
from tests.browser.conftest import PHONE
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.browser

LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def _scroll_width(tab: Page) -> int:
    return int(tab.evaluate("document.documentElement.scrollWidth"))


def _within_the_screen(element: Locator) -> bool:
    box = element.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_write_and_my_contributions_fit_a_phone_without_sideways_scrolling(
    phone, login, shot, volunteer
):
    # Long unbroken words and a wide Markdown table are the usual culprits.
    prompt = cast(
        Prompt,
        PromptFactory(
            author=volunteer, state="review", instruction=f"Explain {LONG_WORD} to a child."
        ),
    )
    ResponseFactory(
        prompt=prompt,
        author=volunteer,
        state="review",
        text=f"| a | b | c | d | e | f |\n|---|---|---|---|---|---|\n| {LONG_WORD} | 2 | 3 | 4 | 5 | 6 |",
    )
    login(phone, volunteer)

    phone.goto("/write/")
    phone.get_by_role("radio", name="Summarization").check()
    phone.get_by_label("Instruction").fill(f"Summarise this in one line: {LONG_WORD}")
    shot(phone, "write")
    assert _scroll_width(phone) <= PHONE["width"]

    phone.goto("/mine/")
    expect(phone.get_by_role("heading", level=1)).to_have_text("My contributions")
    shot(phone, "mine")
    assert _scroll_width(phone) <= PHONE["width"]

    phone.goto(f"/prompts/{prompt.pk}/")
    shot(phone, "prompt")
    assert _scroll_width(phone) <= PHONE["width"]


def test_the_menu_opens_and_closes_on_a_phone(phone, login, shot, volunteer):
    login(phone, volunteer)
    phone.goto("/")
    menu = phone.get_by_role("navigation", name="Main")
    mine = menu.get_by_role("link", name="My contributions")
    toggle = phone.locator("label[for=nav-toggle]")

    expect(toggle).to_be_visible()
    expect(mine).to_be_hidden()
    toggle.tap()
    expect(mine).to_be_visible()
    expect(menu.get_by_role("button", name="Sign out")).to_be_visible()
    # Who is signed in, said in the menu (a wide screen's account button says it instead).
    expect(menu.get_by_text(f"Signed in as {volunteer.email}")).to_be_visible()
    shot(phone, "menu-open")
    assert _scroll_width(phone) <= PHONE["width"]

    toggle.tap()
    expect(mine).to_be_hidden()

    # It works from the keyboard too: Space opens it, Escape closes it.
    phone.locator("#nav-toggle").focus()
    phone.keyboard.press("Space")
    expect(mine).to_be_visible()
    phone.keyboard.press("Escape")
    expect(mine).to_be_hidden()
    expect(phone.locator("#nav-toggle")).to_be_focused()

    toggle.tap()
    mine.tap()
    expect(phone.get_by_role("heading", level=1)).to_have_text("My contributions")


def test_a_moderator_reads_the_audit_log_on_a_phone_without_scrolling_sideways(
    phone, login, shot, moderator, volunteer
):
    """The log was a five-column table in a sideways scroller: the Reason column off-screen,
    each date wrapped onto four lines and a banned user's e-mail address cut mid-word. Each
    entry is now a card: every value beside or under its column's name."""
    from apps.moderation import services

    reason = "Advertises a paid course in every answer, after two warnings in the comments."
    services.content_hide(
        moderator=moderator, target=PromptFactory(author=volunteer), reason=reason
    )
    banned = UserFactory(email="qa-ban-13468@example.com")
    services.user_ban(moderator=moderator, user=banned, reason="Spam account")
    services.user_unban(moderator=moderator, user=banned)  # no reason given
    login(phone, moderator)
    phone.goto("/moderation/log/")
    entries = phone.get_by_test_id("moderation-log").locator("tbody tr")
    expect(entries).to_have_count(3)
    shot(phone, "log")

    assert _scroll_width(phone) <= PHONE["width"]
    wrap = phone.locator(".table-wrap")
    assert wrap.evaluate("w => w.scrollWidth - w.clientWidth") == 0  # nothing to scroll to
    cell = entries.locator("td", has_text=reason)
    assert _within_the_screen(cell)
    # Its column's name says what it is, on a line above the reason, which reads from the left.
    assert cell.evaluate("td => getComputedStyle(td, '::before').content") == '"Reason"'
    assert cell.evaluate("td => getComputedStyle(td).textAlign") in ("left", "start")
    for entry in entries.all():
        # Each date on one line, and the address whole.
        assert entry.locator("time").evaluate("t => t.getClientRects().length") == 1

    def action(name: str) -> Locator:
        return phone.locator("td", has_text=re.compile(f"^{name}$"))

    address = entries.filter(has=action("Banned")).locator(".email")
    expect(address).to_have_text("qa-ban-13468@example.com")
    assert address.evaluate("a => a.getClientRects().length") == 1
    assert _within_the_screen(address)
    # An entry without a reason shows no empty "Reason" line.
    unbanned = entries.filter(has=action("Unbanned"))
    expect(unbanned.locator("td.prose")).to_be_hidden()
