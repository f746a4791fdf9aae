"""Drafts in a real browser: what a volunteer types on a long-text form is kept in this
browser (localStorage) until the site confirms it saved it, so a reload, a closed tab or a
session that expired before the submit loses nothing; a task that expired before its answer
was sent shows the answer again and sends it through the prompt's Answer page, even when the
volunteer comes back to the task's address later; and signing out forgets every draft."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.browser.conftest import open_menu
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.browser

INSTRUCTION = "List five things to pack for a day of hiking in the mountains."
RESPONSE = "Water, a map, a warm layer, sun cream and something to eat."
ANSWER = (
    "Sea water is salty because rivers wash minerals out of rocks and carry them to the sea; "
    "the water evaporates, and the salt stays behind."
)


def draft_keys(page: Page) -> list[str]:
    keys: list[str] = page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('hearth:draft:')).sort()"
    )
    return keys


def wait_for_draft(page: Page, text: str) -> None:
    """Until a stored draft holds ``text`` (it is saved a moment after the typing stops)."""
    page.wait_for_function(
        """text => Object.keys(localStorage).some(
            k => k.startsWith('hearth:draft:') && localStorage.getItem(k).includes(text))""",
        arg=text,
    )


def restored_notice(page: Page) -> Locator:
    return page.get_by_role("status").filter(has_text="Restored your unsent draft.")


def type_a_prompt(page: Page) -> None:
    page.get_by_role("radio", name="Brainstorming").check()
    page.get_by_label("Instruction").fill(INSTRUCTION)
    page.get_by_label("Your answer").fill(RESPONSE)
    wait_for_draft(page, RESPONSE)


def expect_the_prompt_restored(page: Page) -> None:
    expect(restored_notice(page)).to_be_visible()
    expect(page.get_by_label("Instruction")).to_have_value(INSTRUCTION)
    expect(page.get_by_label("Your answer")).to_have_value(RESPONSE)
    expect(page.get_by_role("radio", name="Brainstorming")).to_be_checked()


def test_text_typed_on_write_comes_back_after_a_reload_and_goes_once_it_is_saved(
    page, login, volunteer, shot
):
    login(page, volunteer)
    page.goto("/write/")
    expect(restored_notice(page)).to_have_count(0)
    type_a_prompt(page)
    assert draft_keys(page) == [f"hearth:draft:{volunteer.pk}:write:/write/"]

    page.reload()
    expect_the_prompt_restored(page)
    # Restoring the category also shows what it asks for, as choosing it does.
    expect(page.get_by_text("This category needs a context.")).to_be_hidden()
    shot(page, "restored")

    page.get_by_role("button", name="Submit for review").click()
    expect(page).to_have_url(re.compile(r"/mine/$"))
    expect(page.get_by_role("main").get_by_role("status").first).to_contain_text(
        "Your prompt and answer are now in review."
    )
    assert draft_keys(page) == []
    assert Prompt.objects.get(author=volunteer).instruction == INSTRUCTION

    page.goto("/write/")
    expect(page.get_by_label("Instruction")).to_have_value("")
    expect(restored_notice(page)).to_have_count(0)


def test_a_submit_refused_for_a_lost_session_keeps_the_draft_for_after_signing_in(
    page, login, volunteer, shot
):
    login(page, volunteer)
    page.goto("/write/")
    type_a_prompt(page)

    # The session (and its cookies) are gone by the time the form is sent.
    page.context.clear_cookies()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("heading", level=1)).not_to_have_text(re.compile("Write"))
    shot(page, "refused")
    assert not Prompt.objects.exists()
    assert draft_keys(page) == [f"hearth:draft:{volunteer.pk}:write:/write/"]

    login(page, volunteer)
    page.goto("/write/")
    expect_the_prompt_restored(page)
    shot(page, "restored-after-sign-in")


def test_a_form_too_large_to_send_gets_a_page_saying_so_and_the_text_comes_back(
    page, login, volunteer, settings, shot
):
    settings.HEARTH_MAX_BODY_BYTES = 4096
    too_long = "Pack more water than you think you need. " * 150
    login(page, volunteer)
    page.goto("/write/")
    page.get_by_role("radio", name="Brainstorming").check()
    page.get_by_label("Instruction").fill(INSTRUCTION)
    page.get_by_label("Your answer").fill(too_long)
    wait_for_draft(page, "Pack more water")

    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What you sent was too large")
    expect(page.get_by_role("main")).to_contain_text("Nothing was saved.")
    expect(page.get_by_role("main")).to_contain_text("What you typed is not lost")
    shot(page, "too-large")
    assert not Prompt.objects.exists()

    page.get_by_role("link", name="Go back to the form").click()
    expect(page).to_have_url(re.compile(r"/write/$"))
    expect(restored_notice(page)).to_be_visible()
    expect(page.get_by_label("Your answer")).to_have_value(too_long)


def test_discard_empties_the_form_and_forgets_the_draft(page, login, volunteer):
    login(page, volunteer)
    page.goto("/write/")
    type_a_prompt(page)
    page.reload()
    expect(restored_notice(page)).to_be_visible()

    page.get_by_role("button", name="Discard").click()
    expect(page.get_by_role("status").filter(has_text="Draft discarded.")).to_be_visible()
    expect(page.get_by_label("Instruction")).to_have_value("")
    expect(page.get_by_label("Instruction")).to_be_focused()
    expect(page.get_by_role("radio", name="Brainstorming")).not_to_be_checked()
    assert draft_keys(page) == []
    page.reload()
    expect(restored_notice(page)).to_have_count(0)


def test_two_people_on_one_browser_never_see_each_others_drafts(page, login, volunteer, volunteer2):
    login(page, volunteer)
    page.goto("/write/")
    type_a_prompt(page)

    page.context.clear_cookies()
    login(page, volunteer2)
    page.goto("/write/")
    expect(restored_notice(page)).to_have_count(0)
    expect(page.get_by_label("Instruction")).to_have_value("")

    page.context.clear_cookies()
    login(page, volunteer)
    page.goto("/write/")
    expect_the_prompt_restored(page)


def test_an_edit_page_brings_back_unsaved_changes_over_the_saved_text(
    page, login, volunteer, make_volunteer
):
    prompt = PromptFactory(author=make_volunteer(), state=PromptState.COLLECTING)
    answer = ResponseFactory(
        prompt=prompt, author=volunteer, state=ResponseState.REVIEW, text="The first version."
    )
    login(page, volunteer)
    page.goto(f"/responses/{answer.pk}/edit/")
    page.get_by_label("Answer").fill("A better, second version.")
    wait_for_draft(page, "A better, second version.")

    page.goto(f"/responses/{answer.pk}/edit/")
    expect(restored_notice(page)).to_be_visible()
    expect(page.get_by_label("Answer")).to_have_value("A better, second version.")
    page.get_by_role("button", name="Discard").click()
    expect(page.get_by_label("Answer")).to_have_value("The first version.")


def test_an_answer_typed_into_a_task_that_expired_is_sent_through_the_answer_page(
    page, login, volunteer, make_volunteer, shot
):
    prompt = PromptFactory(author=make_volunteer(), instruction="Why is the sea salty?")
    login(page, volunteer)
    page.goto("/contribute/?type=respond")
    expect(page.get_by_role("heading", level=1)).to_have_text("Answer this prompt")
    assignment = Assignment.objects.get(user=volunteer)
    page.get_by_label("Your answer").fill(ANSWER)
    wait_for_draft(page, "the salt stays behind")
    assert draft_keys(page) == [f"hearth:draft:{volunteer.pk}:respond:/contribute/{assignment.pk}/"]

    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page.get_by_role("button", name="Submit answer").click()
    expect(page.get_by_role("alert")).to_contain_text("This task expired before it was sent.")
    expect(page.get_by_label("Your answer")).to_have_value(ANSWER)
    shot(page, "expired")
    # Kept at once under the Answer page's address, in place of the task's draft.
    assert draft_keys(page) == [f"hearth:draft:{volunteer.pk}:answer:/prompts/{prompt.pk}/answer/"]

    page.get_by_role("button", name="Send this answer to the prompt").click()
    expect(page).to_have_url(re.compile(rf"/prompts/{prompt.pk}/$"))
    expect(page.get_by_role("main").get_by_role("status").first).to_contain_text(
        "Your answer is now in review."
    )
    assert Response.objects.get(author=volunteer).text == ANSWER
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.EXPIRED
    assert draft_keys(page) == []


def test_an_expired_task_opened_again_brings_its_draft_to_the_answer_page(
    page, login, volunteer, make_volunteer, shot
):
    prompt = PromptFactory(author=make_volunteer(), instruction="Why is the sea salty?")
    login(page, volunteer)
    page.goto("/contribute/?type=respond")
    assignment = Assignment.objects.get(user=volunteer)
    page.get_by_label("Your answer").fill(ANSWER)
    wait_for_draft(page, "the salt stays behind")

    # The tab sleeps past the task's time; the volunteer comes back and reloads it.
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    reloaded = page.reload()
    assert reloaded is not None and reloaded.status == 410
    expect(page.get_by_role("alert")).to_contain_text("This task expired before it was sent.")
    expect(restored_notice(page)).to_be_visible()
    expect(page.get_by_label("Your answer")).to_have_value(ANSWER)
    shot(page, "expired-reopened")
    assert draft_keys(page) == [f"hearth:draft:{volunteer.pk}:answer:/prompts/{prompt.pk}/answer/"]

    page.get_by_role("button", name="Send this answer to the prompt").click()
    expect(page).to_have_url(re.compile(rf"/prompts/{prompt.pk}/$"))
    expect(page.get_by_role("main").get_by_role("status").first).to_contain_text(
        "Your answer is now in review."
    )
    assert Response.objects.get(author=volunteer).text == ANSWER
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.EXPIRED
    assert draft_keys(page) == []


def test_signing_out_forgets_every_draft_in_this_browser(page, login, volunteer, volunteer2):
    login(page, volunteer)
    page.goto("/write/")
    type_a_prompt(page)

    open_menu(page, "Account:")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert draft_keys(page) == []
    login(page, volunteer2)
    page.goto("/write/")
    expect(restored_notice(page)).to_have_count(0)
    expect(page.get_by_label("Instruction")).to_have_value("")

    # The same through the sign-out page, and for the one who typed it.
    page.context.clear_cookies()
    login(page, volunteer)
    page.goto("/write/")
    type_a_prompt(page)
    page.goto("/accounts/logout/")
    page.get_by_role("main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert draft_keys(page) == []
    login(page, volunteer)
    page.goto("/write/")
    expect(restored_notice(page)).to_have_count(0)
    expect(page.get_by_label("Instruction")).to_have_value("")
