"""The Community leaderboard and the Your impact panel on a 360 px phone: reached from the
menu, no sideways scrolling (the table's too), every control labelled, no axe violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.collection.models import PromptState
from tests.browser.conftest import PHONE, horizontal_overflow
from tests.browser.test_pages import UNLABELLED_CONTROLS, accessibility_violations
from tests.community.helpers import answer, contribute, prompt

pytestmark = pytest.mark.browser

LONG_NAME = "Pneumonoultramicroscopicsilicovolcanoconiosis" + "x" * 15  # 60, the most
# How far the leaderboard's table is wider than its box (0 when it fits).
TABLE_OVERFLOW = "(() => { const w = document.querySelector('.table-wrap');"
TABLE_OVERFLOW += " return w.scrollWidth - w.clientWidth; })()"


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def page_problems(tab: Page) -> list[str]:
    problems = [f"{v}" for v in accessibility_violations(tab)]
    if overflow := horizontal_overflow(tab):
        problems.append(f"{overflow}px wider than the screen")
    if unlabelled := tab.evaluate(UNLABELLED_CONTROLS):
        problems.append(f"controls without a label: {unlabelled}")
    return problems


def test_the_leaderboard_and_your_impact_on_a_phone(phone, login, shot, volunteer, make_volunteer):
    # A full first page of busier people, one with a name that cannot break at a space, so
    # Ada (one review and one answer, and a prompt in review) is on page 2.
    contribute(make_volunteer(display_name=LONG_NAME), prompts=2, reviews=2)
    for n in range(25):
        contribute(make_volunteer(display_name=f"Volunteer {n}"), answers=1, reviews=2)
    contribute(volunteer, reviews=1)
    answer(volunteer)
    prompt(volunteer, state=PromptState.REVIEW)
    login(phone, volunteer)

    phone.goto("/")
    phone.locator("label[for=nav-toggle]").tap()
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Community").tap()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Community")
    standing = phone.get_by_test_id("own-standing")
    expect(standing).to_contain_text("You are #27 with 2 contributions.")
    shot(phone, "leaderboard")
    assert page_problems(phone) == []
    assert phone.evaluate(TABLE_OVERFLOW) == 0

    # On a phone the four counts are words under the name, and the columns are hidden.
    first = phone.get_by_role("row").nth(1)
    expect(first).to_contain_text("2 prompts · 0 answers · 2 reviews · 0 rankings")
    expect(phone.get_by_role("columnheader", name="Prompts")).to_be_hidden()

    standing.get_by_role("link", name="See your row (page 2)").tap()
    own = phone.locator("tr#you")
    expect(own).to_be_visible()
    expect(own).to_contain_text("Ada")
    expect(own).to_contain_text("you")
    expect(phone.get_by_test_id("own-standing")).to_have_count(0)
    shot(phone, "leaderboard-page-2")
    assert page_problems(phone) == []

    phone.get_by_role("link", name="All time").tap()
    expect(phone.get_by_role("link", name="All time")).to_have_attribute("aria-current", "true")

    phone.goto("/mine/")
    panel = phone.get_by_test_id("impact")
    expect(panel.get_by_role("heading", name="Your impact")).to_be_visible()
    expect(panel.get_by_test_id("impact-total")).to_have_text("2")
    expect(panel.get_by_test_id("impact-in-review")).to_contain_text("1 more is in review")
    expect(panel.get_by_test_id("impact-ranks")).to_contain_text("Rank this week: #27.")
    chart = panel.get_by_role("img", name="The last 8 weeks 3 contributions on 1 of the last")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    shot(phone, "impact")
    assert page_problems(phone) == []


def test_the_leaderboard_signed_out_and_empty_on_a_phone(phone, shot, db):
    phone.goto("/community/?period=month")
    expect(phone.get_by_test_id("leaderboard-empty")).to_be_visible()
    expect(phone.get_by_role("link", name="This month")).to_have_attribute("aria-current", "true")
    shot(phone, "empty")
    assert page_problems(phone) == []
