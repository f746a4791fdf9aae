"""The moderation pages in the browser: Enter in a reason field takes no action (every action
needs a click on its own button), Hide asks first, hidden content comes back from the Hidden
page, what flags hid can be kept hidden (on a phone), and an action on the queue's second page
comes back to it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.collection.models import Prompt, PromptState
from apps.collection.policy import current_policy
from apps.moderation import services
from apps.moderation.models import Flag, ModerationAction
from tests.browser.conftest import PHONE, horizontal_overflow
from tests.browser.test_pages import UNLABELLED_CONTROLS, accessibility_violations
from tests.factories import PromptFactory, reporter

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


def test_ctrl_enter_in_the_reason_field_takes_no_action_either(
    page: Page, login, moderator, volunteer, volunteer2
):
    """Ctrl+Enter submits most forms, but not one whose default button is disabled: here it
    would send the form to its own address, which after a refused action was once the
    refused action's, and it would be tried again without a click."""
    prompt = PromptFactory(author=volunteer2, instruction="Is this an advert?")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    login(page, moderator)
    page.goto("/moderation/")
    item = page.get_by_test_id("queue-item")
    # Refused (a blank reason, which the browser lets through): the queue comes back, and
    # the address bar shows the queue's address, not the halt's.
    item.get_by_label("Reason").fill("   ")
    item.get_by_role("button", name="Halt prompt").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Say why, in a few words: it goes to the audit log."
    )
    assert page.url.endswith("/moderation/")

    reason = page.get_by_test_id("queue-item").get_by_label("Reason")
    reason.fill("maybe an advert")
    reason.press("Control+Enter")
    page.wait_for_timeout(500)
    expect(reason).to_have_value("maybe an advert")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING
    assert not ModerationAction.objects.exists()


def test_a_moderator_restores_a_hidden_prompt_from_the_hidden_page(
    page: Page, login, shot, moderator, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer2, instruction="Hidden by mistake")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    login(page, moderator)
    page.goto("/moderation/")
    item = page.get_by_test_id("queue-item")
    item.get_by_label("Reason").fill("advert")
    # Hide asks first: turned down, nothing happens; accepted, the prompt is hidden.
    questions: list[str] = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    item.get_by_role("button", name="Hide").click()
    expect(item.get_by_label("Reason")).to_have_value("advert")
    assert Prompt.objects.get(pk=prompt.pk).hidden_at is None
    page.once("dialog", lambda dialog: answer(dialog, True))
    item.get_by_role("button", name="Hide").click()
    expect(page.get_by_text("Nothing is flagged.")).to_be_visible()
    assert questions == 2 * [
        "Hide it from everyone but its author? You can restore it from the Hidden page."
    ]

    page.get_by_role("link", name="Hidden content and banned users").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hidden content and banned users")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    hidden = page.get_by_test_id("hidden-prompt")
    expect(hidden).to_contain_text("Hidden by mistake")
    expect(page.get_by_text("Nobody is banned.")).to_be_visible()
    shot(page, "hidden-page")
    hidden.get_by_label("Reason (optional)").fill("it was not an advert")
    hidden.get_by_role("button", name=f"Restore prompt #{prompt.pk}").click()

    expect(page.get_by_text("Done; it is in the audit log.")).to_be_visible()
    expect(page.get_by_text("No prompt is hidden.")).to_be_visible()
    assert Prompt.objects.get(pk=prompt.pk).hidden_at is None
    assert ModerationAction.objects.values_list("action", "reason").first() == (
        "restore",
        "it was not an advert",
    )


def test_a_pasted_reason_over_1000_characters_is_refused_whole_not_cut(
    page: Page, login, shot, moderator, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer2, instruction="Buy my pills")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    login(page, moderator)
    page.goto("/moderation/")
    long_reason = "advert " * 170  # 1190 characters
    page.get_by_test_id("queue-item").get_by_label("Reason").fill(long_reason)
    page.get_by_test_id("queue-item").get_by_role("button", name="Dismiss flags").click()

    expect(page.get_by_role("alert")).to_have_text("Keep the reason under 1000 characters.")
    reason = page.get_by_test_id("queue-item").get_by_label("Reason")
    expect(reason).to_have_value(long_reason)
    expect(reason).to_have_attribute("aria-invalid", "true")
    shot(page, "reason-too-long")
    assert accessibility_violations(page) == []
    assert Flag.objects.get().resolved_at is None
    assert not ModerationAction.objects.exists()

    reason.fill("an advert")
    page.get_by_test_id("queue-item").get_by_role("button", name="Dismiss flags").click()
    expect(page.get_by_text("Done; it is in the audit log.")).to_be_visible()
    assert list(ModerationAction.objects.values_list("action", "reason")) == [
        ("dismiss", "an advert")
    ]


def test_a_report_refused_for_its_note_comes_back_open_with_the_note(
    page: Page, login, volunteer, volunteer2
):
    prompt = PromptFactory(
        author=volunteer2, state=PromptState.COLLECTING, instruction="Buy cheap watches?"
    )
    login(page, volunteer)
    page.goto(f"/prompts/{prompt.pk}/")
    page.get_by_text("Report", exact=True).click()
    page.get_by_label("What is wrong?").select_option("spam")
    note = "Links to a shop. " * 60  # 1,020 characters: over the limit, and not cut
    page.get_by_label("Note for the moderators (optional)").fill(note)
    page.get_by_role("button", name="Send report").click()

    expect(page.get_by_text("Keep the note under 1000 characters.")).to_be_visible()
    expect(page.get_by_label("Note for the moderators (optional)")).to_have_value(note)
    expect(page.get_by_label("What is wrong?")).to_have_value("spam")
    expect(page.get_by_text("Restored your unsent draft.")).to_be_visible()
    assert not Flag.objects.exists()

    page.get_by_label("Note for the moderators (optional)").fill("Links to a shop.")
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_text("Thank you. A moderator will look at it.")).to_be_visible()
    assert Flag.objects.get().note == "Links to a shop."
    # Sent, the draft is gone: the form stays folded and empty.
    page.reload()
    expect(page.get_by_label("Note for the moderators (optional)")).to_be_hidden()
    expect(page.get_by_text("Restored your unsent draft.")).to_have_count(0)


def test_on_a_phone_a_moderator_keeps_hidden_what_flags_hid(
    page: Page, login, shot, moderator, make_volunteer
):
    prompt = PromptFactory(instruction="Rude words here")
    for _ in range(current_policy().auto_hide_flags):
        services.flag_create(reporter=reporter(make_volunteer()), target=prompt, reason="harmful")
    page.set_viewport_size(PHONE)
    login(page, moderator)
    page.goto("/moderation/")
    item = page.get_by_test_id("queue-item")
    expect(item).to_contain_text("Hidden until a moderator decides.")
    expect(item.get_by_role("button", name="Dismiss flags")).to_have_count(0)
    # The disabled default button that stops Enter from acting is not shown.
    expect(item.locator("button[disabled]")).to_be_hidden()
    shot(page, "auto-hidden-item")
    assert horizontal_overflow(page) == 0
    assert page.evaluate(UNLABELLED_CONTROLS) == []

    item.get_by_label("Reason").fill("rude, as reported")
    # Keeping it as it is asks nothing first (a dialog would be dismissed and nothing done).
    item.get_by_role("button", name="Keep hidden").click()
    expect(page.get_by_text("Done; it is in the audit log.")).to_be_visible()
    expect(page.get_by_text("Nothing is flagged.")).to_be_visible()
    assert Prompt.objects.get(pk=prompt.pk).hidden_at is not None
    assert not Flag.objects.filter(resolved_at__isnull=True).exists()
    assert ModerationAction.objects.values_list("action", "reason").first() == (
        "hide",
        "rude, as reported",
    )
    page.get_by_role("link", name="Hidden content and banned users").click()
    expect(page.get_by_test_id("hidden-prompt")).to_contain_text("Rude words here")


def test_a_moderator_acts_on_the_queues_second_page_and_stays_there(
    page: Page, login, shot, moderator, volunteer
):
    prompts = [PromptFactory(instruction=f"Flagged prompt {i}") for i in range(22)]
    for prompt in prompts:
        Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    login(page, moderator)
    page.goto("/moderation/")
    expect(page.get_by_test_id("queue-item")).to_have_count(20)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    items = page.get_by_test_id("queue-item")
    expect(items).to_have_count(2)
    first = items.first
    first.get_by_label("Reason").fill("fine")
    first.get_by_role("button", name="Dismiss flags").click()

    expect(page.get_by_text("Done; it is in the audit log.")).to_be_visible()
    assert page.url.endswith("/moderation/?page=2")
    expect(page.get_by_test_id("queue-item")).to_have_count(1)
    shot(page, "queue-page-2")
    assert list(ModerationAction.objects.values_list("action", "reason")) == [("dismiss", "fine")]


def test_hide_with_no_reason_asks_for_one_before_its_question(
    page: Page, login, shot, moderator, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer2, instruction="Is this an advert?")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam", note="a shop link")
    login(page, moderator)
    page.goto("/moderation/?page=1")
    questions: list[str] = []
    accept = False

    def answer(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.on("dialog", answer)
    item = page.get_by_test_id("queue-item")
    reason = item.get_by_label("Reason")

    # The browser stops Hide and Ban on the empty reason: no question, nothing sent.
    for action in ("Hide", "Ban author"):
        item.get_by_role("button", name=action).click()
        assert reason.evaluate("field => field.validity.valueMissing") is True
        expect(reason).to_be_focused()
    page.wait_for_timeout(300)
    assert questions == []
    assert page.url.endswith("/moderation/?page=1")

    # The reports stand apart from the flagged text.
    flags = item.locator("ul.flags")
    assert flags.evaluate("el => getComputedStyle(el).listStyleType") == "none"
    assert flags.evaluate("el => getComputedStyle(el).borderLeftWidth") != "0px"
    flags_box, text_box = flags.bounding_box(), item.locator(".markdown").bounding_box()
    assert flags_box and text_box and text_box["y"] - (flags_box["y"] + flags_box["height"]) > 10
    shot(page, "queue-item-flags")

    # A refused action (a reason over the limit) comes back, under the queue's address.
    reason.fill("advert " * 170)
    accept = True
    item.get_by_role("button", name="Hide").click()
    expect(page.get_by_role("alert")).to_have_text("Keep the reason under 1000 characters.")
    assert page.url.endswith("/moderation/?page=1")
    page.reload()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_test_id("queue-item")).to_have_count(1)

    # Dismiss takes no reason.
    page.get_by_test_id("queue-item").get_by_role("button", name="Dismiss flags").click()
    expect(page.get_by_text("Done; it is in the audit log.")).to_be_visible()
    assert list(ModerationAction.objects.values_list("action", "reason")) == [("dismiss", "")]
    assert Prompt.objects.get(pk=prompt.pk).hidden_at is None


def test_a_report_sends_nothing_until_a_reason_is_chosen(page: Page, login, volunteer, volunteer2):
    prompt = PromptFactory(
        author=volunteer2, state=PromptState.COLLECTING, instruction="Buy cheap watches?"
    )
    login(page, volunteer)
    page.goto(f"/prompts/{prompt.pk}/")
    page.get_by_text("Report", exact=True).click()
    reason = page.get_by_label("What is wrong?")
    expect(reason).to_have_value("")
    expect(reason.locator("option").first).to_have_text("Choose a reason…")
    page.get_by_role("button", name="Send report").click()
    assert reason.evaluate("field => field.validity.valueMissing") is True
    page.wait_for_timeout(300)
    expect(page.get_by_text("Thank you. A moderator will look at it.")).to_have_count(0)
    assert not Flag.objects.exists()

    reason.select_option("pii")
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_text("Thank you. A moderator will look at it.")).to_be_visible()
    assert Flag.objects.get().reason == "pii"
