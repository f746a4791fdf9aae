"""Findings of the QA pass of the contribution tasks, in the browser: the hold's end is said
by the Submit button too (and a review that cannot be sent any more cannot be submitted), and
"?" lists the shortcuts on the standalone Write page as on the write task."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.collection.models import PromptState
from apps.feedback.models import Review
from tests.browser.test_contribute import hold_ending_in

pytestmark = pytest.mark.browser

RAN_OUT = "Your time on this task ran out: it went back to the pool and can't be sent."


def test_a_review_whose_hold_ran_out_says_so_by_submit_and_cannot_be_sent(
    page: Page, login, shot, volunteer, make_volunteer
):
    from tests.factories import PromptFactory

    PromptFactory(author=make_volunteer(), state=PromptState.REVIEW)
    login(page, volunteer)
    hold_ending_in(page, volunteer, "review", seconds=30)
    page.get_by_label("Spam").check()
    submit = page.get_by_role("button", name="Submit review")
    expect(submit).to_be_enabled()
    here = page.locator("[data-expired-here]")
    expect(here).to_have_attribute("aria-live", "assertive")
    expect(here).to_be_empty()

    page.clock.run_for(45_000)
    expect(here).to_contain_text(RAN_OUT)
    expect(here.get_by_role("link", name="Take a new task")).to_have_attribute(
        "href", "/contribute/?type=review"
    )
    expect(page.locator("[data-expired]")).to_contain_text(RAN_OUT)
    # It sits right after Submit, where the volunteer is.
    assert page.evaluate(
        "() => document.querySelector('.review-form .actions').nextElementSibling"
        ".hasAttribute('data-expired-here')"
    )
    expect(submit).to_be_disabled()
    expect(page.get_by_label("Spam")).to_be_checked()  # what was chosen stays on the page
    shot(page, "review-ran-out", full_page=False)

    # Ctrl+Enter sends nothing either: the page stays, and no review is made.
    url = page.url
    page.get_by_label("Spam").focus()
    page.keyboard.press("Control+Enter")
    page.get_by_role("heading", level=1).focus()
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(500)
    expect(here).to_contain_text(RAN_OUT)
    assert page.url == url
    assert not Review.objects.exists()


def test_an_answer_whose_hold_ran_out_can_still_be_sent_and_says_so_by_submit(
    page: Page, login, volunteer, make_volunteer
):
    from tests.factories import PromptFactory

    PromptFactory(author=make_volunteer())
    login(page, volunteer)
    hold_ending_in(page, volunteer, "respond", seconds=30)
    page.get_by_label("Your answer").fill("Rivers carry salt into it.")
    page.clock.run_for(45_000)
    here = page.locator("[data-expired-here]")
    expect(here).to_contain_text("Send your answer anyway: the next page keeps it")
    expect(page.get_by_role("button", name="Submit answer")).to_be_enabled()
    expect(page.get_by_label("Your answer")).to_have_value("Rivers carry salt into it.")


def test_question_mark_lists_the_shortcuts_on_the_write_page(page: Page, login, shot, volunteer):
    login(page, volunteer)
    page.goto("/write/")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_hidden()
    page.locator("body").press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Submit the prompt and its answer")
    expect(dialog).not_to_contain_text("Rate the quality")
    shot(page, "write-shortcuts", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # And from its button, as on the task pages.
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(dialog).to_be_visible()
