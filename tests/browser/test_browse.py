"""Browse's search in a real browser, on a phone: find prompts by a word of their context, page
through the results with the search kept, clear a search that found nothing, and see a bad
filter's error next to its field."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from pytest_django.live_server_helper import LiveServer

from tests.browser.conftest import PHONE, TIMEOUT_MS, horizontal_overflow
from tests.browser.test_pages import UNLABELLED_CONTROLS
from tests.factories import PromptFactory

pytestmark = pytest.mark.browser


def test_searching_browse_on_a_phone(browser: Browser, live_server: LiveServer, shot):
    for n in range(22):
        PromptFactory(
            category="closed_qa",
            instruction=f"When did crossing number {n} open?",
            context=f"The Øresund Bridge number {n} opened in July.",
        )
    PromptFactory(instruction="Why is the sky blue?")
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    js_errors: list[str] = []
    tab.on("pageerror", lambda exc: js_errors.append(str(exc)))

    tab.goto("/browse/")
    search = tab.get_by_role("search").get_by_role("searchbox", name="Search")
    search.fill("BRIDGE july")
    search.press("Enter")
    expect(tab.get_by_role("status")).to_have_text("22 prompts match “BRIDGE july”")
    expect(tab.locator(".prompt-list > li")).to_have_count(20)
    shot(tab, "results")
    assert horizontal_overflow(tab) == 0
    assert tab.evaluate(UNLABELLED_CONTROLS) == []

    tab.get_by_role("link", name="Next →").tap()
    expect(tab.locator(".prompt-list > li")).to_have_count(2)
    expect(search).to_have_value("BRIDGE july")

    search.fill("zeppelin")
    tab.get_by_role("button", name="Search").tap()
    expect(tab.get_by_text("No prompts match “zeppelin”.")).to_be_visible()
    shot(tab, "nothing-found")
    tab.get_by_role("link", name="Clear the search").tap()
    expect(search).to_have_value("")
    expect(tab.get_by_role("status")).to_have_text("23 prompts")

    tab.goto("/browse/?language=english!")
    language = tab.get_by_role("combobox", name="Language")
    expect(language).to_have_attribute("aria-invalid", "true")
    expect(language).to_have_accessible_description(
        re.compile(r"“english!” is not a valid BCP-47 language tag")
    )
    expect(tab.get_by_role("alert")).to_contain_text("Nothing is listed")
    shot(tab, "invalid-filter")
    assert horizontal_overflow(tab) == 0
    context.close()
    assert js_errors == []
