"""The 403, 404 and 405 pages in a real browser: the site's layout, one heading, a way home."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, horizontal_overflow, open_menu

pytestmark = pytest.mark.browser


def test_a_volunteer_on_the_moderation_page_gets_a_403_with_a_way_home(
    page, login, shot, volunteer
):
    login(page, volunteer)
    response = page.goto("/moderation/")
    assert response is not None and response.status == 403
    shot(page, "403")
    expect(page.get_by_role("heading", level=1)).to_have_text("This page is not open to you")
    expect(page.get_by_text("Only moderators may open this page.")).to_be_visible()
    open_menu(page, "Account:")
    expect(page.get_by_role("link", name="My contributions")).to_be_visible()
    page.get_by_role("link", name="Go to the home page").click()
    page.wait_for_url("**/")
    assert page.locator("h1").count() == 1 and "/moderation/" not in page.url


def test_the_404_page_fits_a_phone(page, shot):
    page.set_viewport_size(PHONE)
    response = page.goto("/prompts/999999/")
    assert response is not None and response.status == 404
    shot(page, "404-phone")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert horizontal_overflow(page) == 0
    expect(page.get_by_role("link", name="Browse prompts")).to_be_visible()


def test_the_405_page_of_an_action_address_fits_a_phone(page, login, shot, volunteer):
    # What a person sees who lands on a form's action by a link, a reload or a sign-in.
    page.set_viewport_size(PHONE)
    login(page, volunteer)
    response = page.goto("/prompts/1/withdraw/")
    assert response is not None and response.status == 405
    shot(page, "405-phone")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "This address answers a button, not a visit"
    )
    assert horizontal_overflow(page) == 0
    expect(page.get_by_role("link", name="My contributions").last).to_be_visible()
