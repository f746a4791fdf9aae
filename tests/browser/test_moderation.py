"""The moderation pages in the browser: Enter in a reason field takes no action (every action
needs a click on its own button)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.moderation.models import Flag, ModerationAction
from tests.factories import PromptFactory

pytestmark = pytest.mark.browser


def test_enter_in_the_reason_field_hides_nothing(
    page: Page, login, shot, moderator, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer2, instruction="Is this an advert?")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    login(page, moderator)
    page.goto("/moderation/")
    item = page.get_by_test_id("queue-item")

    reason = item.get_by_label("Reason")
    reason.fill("not sure yet")
    reason.press("Enter")
    shot(page, "after-enter")
    # Had Enter submitted the form, the page would have reloaded without this item (hiding
    # closes its flags) and the click below would find no button.
    expect(reason).to_have_value("not sure yet")
    item.get_by_role("button", name="Dismiss flags").click()
    expect(page.get_by_text("Done; it is in the audit log.")).to_be_visible()

    prompt.refresh_from_db()
    assert prompt.hidden_at is None
    assert list(ModerationAction.objects.values_list("action", "reason")) == [
        ("dismiss", "not sure yet")
    ]
