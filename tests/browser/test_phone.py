"""On a 360 px phone the pages a volunteer uses most fit the screen, and the menu opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.collection.models import Prompt
from tests.browser.conftest import PHONE
from tests.factories import PromptFactory, ResponseFactory

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
    expect(menu.get_by_text(f"Signed in as {volunteer}")).to_be_visible()
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
