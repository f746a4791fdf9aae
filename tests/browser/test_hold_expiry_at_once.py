"""The hold's end on time (QA): the countdown ticked every 15 seconds, so when a hold ran out
the page still said "(1 minute left)", and a review's Submit stayed on, for up to 15 seconds.
The notice and the turned-off Submit now come at the hold's end."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.collection.models import PromptState
from tests.browser.test_contribute import hold_ending_in
from tests.factories import PromptFactory

pytestmark = pytest.mark.browser


def ended(page: Page) -> dict[str, bool]:
    """Whether the page shows the hold's end now: its notice, and Submit turned off."""
    state: dict[str, bool] = page.evaluate(
        """() => ({
            notice: !document.querySelector("[data-expired]").hidden,
            submit_off: document.querySelector(".review-form .actions button[type=submit]")
                .disabled,
        })"""
    )
    return state


def test_the_notice_and_the_disabled_submit_come_when_the_hold_ends(
    page: Page, login, shot, volunteer, make_volunteer
):
    PromptFactory(author=make_volunteer(), state=PromptState.REVIEW)
    login(page, volunteer)
    # 20 seconds: between two of the countdown's 15-second ticks.
    hold_ending_in(page, volunteer, "review", seconds=20)
    seconds = int(page.locator("[data-expiry]").get_attribute("data-seconds-left") or "0")
    assert 15 < seconds <= 20
    submit = page.get_by_role("button", name="Submit review")
    notice = page.locator("[data-expired]")
    page.get_by_label("Spam").check()

    page.clock.run_for(seconds * 1000 - 2000)  # two seconds before the end
    assert ended(page) == {"notice": False, "submit_off": False}
    on_colour = submit.evaluate("b => getComputedStyle(b).backgroundColor")
    expect(page.locator(".task-expiry")).to_contain_text("(1 minute left)")

    page.clock.run_for(2500)  # half a second past it
    # Read at once, not waited for: by now, not at the next tick.
    assert ended(page) == {"notice": True, "submit_off": True}
    expect(page.locator(".task-expiry")).to_be_hidden()
    expect(notice).to_be_visible()
    expect(page.locator("[data-expired-here]")).to_contain_text("Your time on this task ran out")
    expect(submit).to_be_disabled()
    # And looks it: not the colour of a button that sends (QA: it kept its full colour).
    assert submit.evaluate("b => getComputedStyle(b).backgroundColor") != on_colour
    assert submit.evaluate("b => getComputedStyle(b).cursor") == "not-allowed"
    # Spoken: the minute once, then only the end (by the Submit button's own region).
    expect(page.locator("[data-expiry-live]")).to_have_text("One minute left to send this task.")
    shot(page, "ran-out-on-time", full_page=False)
