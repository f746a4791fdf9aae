"""The Contribute task pages from the keyboard: after a submit or a skip the focus is on the
next task (its heading, described by the message), so one Tab reaches its first field; a
review's quality takes the keys 1 to 5; every kind lists its own shortcuts behind "?"."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.collection import services as collection_services
from apps.feedback.models import Review

pytestmark = pytest.mark.browser


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def described_by(page: Page) -> str:
    """The text of what the focused element's aria-describedby names."""
    return page.evaluate(
        """() => (document.activeElement.getAttribute("aria-describedby") || "")
            .split(" ").map(id => document.getElementById(id))
            .filter(Boolean).map(el => el.textContent.trim()).join(" ")"""
    )


def test_after_a_skip_or_a_review_the_focus_is_on_the_next_task_and_keys_rate_it(
    page, login, shot, volunteer, make_volunteer
):
    for n in range(3):
        collection_services.prompt_create(
            author=make_volunteer(),
            instruction=f"Explain idea number {n} to a ten-year-old.",
            category="open_qa",
            language="en",
            response="It is like a story with a beginning and an end.",
        )
    login(page, volunteer)
    page.goto("/contribute/?type=review")
    expect(heading(page)).to_have_text("Review this prompt")
    # Arriving from the menu moves nothing: the page starts at its top, as every page does.
    expect(heading(page)).not_to_be_focused()

    # A skip: the next task comes with the focus on its heading, the message describing it.
    page.locator(".skip > summary").click()
    page.get_by_role("button", name="Skip and get another").click()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("Skipped.")
    expect(heading(page)).to_be_focused()
    assert "Skipped. You will not get that one again." in described_by(page)

    # "4" rates the quality (checked and focused), Ctrl+Enter sends the review.
    page.keyboard.press("4")
    good = page.get_by_role("radio", name="4 good")
    expect(good).to_be_checked()
    expect(good).to_be_focused()
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("Your review is saved.")
    expect(heading(page)).to_be_focused()
    assert "Thank you! Your review is saved." in described_by(page)
    shot(page, "focus-on-next-task", full_page=False)

    # One Tab reaches the task's first field, not the site's menu.
    page.keyboard.press("Tab")
    spam = page.get_by_role("checkbox", name="Spam")
    expect(spam).to_be_focused()

    # "?" lists this kind's shortcuts, and only those; Escape gives the focus back.
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Rate the quality, from 1 (poor) to 5 (excellent)")
    expect(dialog).to_contain_text("Submit the review")
    expect(dialog).not_to_contain_text("Pick up")
    shot(page, "review-shortcuts", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(spam).to_be_focused()

    # A digit on a ticked problem still rates; Ctrl+Enter sends from the heading too.
    page.keyboard.press("Space")
    page.keyboard.press("2")
    expect(page.get_by_role("radio", name="2 weak")).to_be_checked()
    heading(page).focus()
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("Your review is saved.")
    reviews = Review.objects.filter(reviewer=volunteer).order_by("created_at")
    assert [(r.quality, r.spam) for r in reviews] == [(4, False), (2, True)]


@pytest.mark.parametrize(
    ("kind", "listed"), [("respond", "Submit the answer"), ("write", "Submit the prompt")]
)
def test_the_text_tasks_show_their_keyboard_shortcuts_too(
    page, login, volunteer, make_volunteer, kind, listed
):
    from tests.factories import PromptFactory

    PromptFactory(author=make_volunteer())
    login(page, volunteer)
    page.goto(f"/contribute/?type={kind}")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_contain_text(listed)
    expect(dialog).not_to_contain_text("Rate the quality")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
