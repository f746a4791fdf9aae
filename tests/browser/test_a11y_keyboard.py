"""What axe-core cannot see, for a person on the keyboard or a screen reader: where the focus
lands after a form is refused as a whole, and the single-key shortcuts of the task pages,
which can be turned off (WCAG 2.1.4)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.collection import services as collection_services
from apps.feedback.models import Review

pytestmark = pytest.mark.browser


def test_a_wrong_password_puts_the_focus_on_the_error_then_tab_reaches_the_form(
    page: Page, volunteer
):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(volunteer.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("main").get_by_role("button", name="Sign in").click()

    # No field is marked: the refusal itself takes the focus, so it is read out, rather than
    # the focus being left at the top of the page.
    error = page.get_by_role("alert")
    expect(error).to_contain_text("not correct")
    expect(error).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()


def test_the_single_key_shortcuts_can_be_turned_off_and_stay_off(
    page: Page, login, shot, volunteer, make_volunteer
):
    for n in range(2):
        collection_services.prompt_create(
            author=make_volunteer(),
            instruction=f"Explain idea number {n} to a ten-year-old.",
            category="open_qa",
            language="en",
            response="It is like a story with a beginning and an end.",
        )
    login(page, volunteer)
    page.goto("/contribute/?type=review")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Review this prompt")

    page.get_by_role("button", name="Keyboard shortcuts").click()
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    switch = dialog.get_by_role("checkbox", name="Use the single-key shortcuts")
    expect(switch).to_be_checked()
    # The dialog opens on its Close button: a Space pressed next turns nothing off.
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    expect(switch).to_have_accessible_description(
        "Turn them off if keys pressed by speech input or another tool set them off by "
        "mistake. Ctrl+Enter and the Keyboard shortcuts button still work."
    )
    switch.uncheck()
    shot(page, "shortcuts-off", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Off: a digit rates nothing and "?" opens nothing, on this page and the next.
    heading.focus()
    page.keyboard.press("4")
    expect(page.get_by_role("radio", name="4 good")).not_to_be_checked()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    page.reload()
    heading.focus()
    page.keyboard.press("4")
    expect(page.get_by_role("radio", name="4 good")).not_to_be_checked()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()

    # The button still opens the list, where the keys can be turned back on.
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(switch).not_to_be_checked()
    switch.check()
    page.keyboard.press("Escape")
    heading.focus()
    page.keyboard.press("4")
    expect(page.get_by_role("radio", name="4 good")).to_be_checked()
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("Your review is saved.")
    assert [r.quality for r in Review.objects.filter(reviewer=volunteer)] == [4]
