"""A form sent back with errors (QA): "Restored your unsent draft" showed on the server's error
page, and put the draft back over the fields it had filled with what was sent (there a NUL
came back as U+FFFD, so the draft differed from what was shown). A form on the answer to its
POST now shows what was sent as the server has it, and the draft stays kept."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_drafts import (
    INSTRUCTION,
    draft_keys,
    restored_notice,
    wait_for_draft,
)

pytestmark = pytest.mark.browser


def test_a_form_sent_back_with_errors_is_not_covered_by_its_draft(page: Page, login, volunteer):
    login(page, volunteer)
    page.goto("/write/")
    page.get_by_role("radio", name="Brainstorming").check()
    page.get_by_label("Instruction").fill(INSTRUCTION)
    page.get_by_label("Your answer").fill("Water\x00 and a map.")
    wait_for_draft(page, "and a map.")

    page.get_by_role("button", name="Submit for review").click()
    answer = page.get_by_label("Your answer")
    expect(page.locator("#id_response_error")).to_have_text(
        "The answer contains a control character (U+0000); remove it."
    )
    page.wait_for_timeout(300)
    expect(restored_notice(page)).to_have_count(0)
    # What the server sent back (the page's parser shows the NUL as U+FFFD).
    expect(answer).to_have_value("Water\ufffd and a map.")
    expect(page.get_by_label("Instruction")).to_have_value(INSTRUCTION)
    # The draft is still kept, as it was sent.
    assert draft_keys(page) == [f"hearth:draft:{volunteer.pk}:write:/write/"]

    # Opened again later, the page has no work of its own: the draft comes back.
    page.goto("/write/")
    expect(restored_notice(page)).to_be_visible()
    expect(page.get_by_label("Instruction")).to_have_value(INSTRUCTION)
