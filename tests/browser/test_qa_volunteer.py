"""A volunteer on a phone whose work meets a change made by others meanwhile: the work stays
on the screen, the reason above it, and the page still fits; and the prompt page offers its
author the edit and withdraw that My contributions does."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.browser.conftest import PHONE, horizontal_overflow
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.browser

ANSWER = "An answer I spent a while on, with care and a few examples."


def test_an_answer_sent_to_a_prompt_filled_meanwhile_stays_on_a_phone_screen(
    page: Page, login, shot, volunteer, make_volunteer
):
    prompt = PromptFactory(
        author=make_volunteer(),
        instruction="Why do leaves change colour in autumn?",
        context="Chlorophyll breaks down in autumn. " * 40,  # a long card above the form
    )
    page.set_viewport_size(PHONE)
    login(page, volunteer)
    page.goto(f"/prompts/{prompt.pk}/answer/")
    page.get_by_label("Your answer").fill(ANSWER)
    Prompt.objects.filter(pk=prompt.pk).update(state=PromptState.RANKING)

    page.get_by_role("button", name="Submit for review").click()
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("This prompt is not collecting answers.")
    expect(notice).to_contain_text("Your answer was not saved.")
    expect(notice).to_be_in_viewport()  # above the long prompt card, not below it
    expect(page.get_by_label("Your answer")).to_have_value(ANSWER)
    expect(page.get_by_role("button", name="Submit for review")).to_have_count(0)
    assert horizontal_overflow(page) == 0
    shot(page, "answer-refused-phone")
    assert not Response.objects.filter(prompt=prompt, author=volunteer).exists()


def test_an_author_fixes_their_answer_from_the_prompt_page_on_a_phone(
    page: Page, login, shot, volunteer, make_volunteer
):
    prompt = PromptFactory(author=make_volunteer(), instruction="What is a haiku?")
    answer = ResponseFactory(
        prompt=prompt, author=volunteer, state=ResponseState.REVIEW, text="A short poem."
    )
    page.set_viewport_size(PHONE)
    login(page, volunteer)
    page.goto(f"/prompts/{prompt.pk}/")
    expect(page.get_by_role("button", name="Withdraw answer")).to_be_visible()
    assert horizontal_overflow(page) == 0
    shot(page, "prompt-page-own-answer-phone")
    page.get_by_role("link", name="Edit answer").click()
    page.get_by_label("Answer").fill("A three-line poem of five, seven and five syllables.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("Saved.")
    answer.refresh_from_db()
    assert answer.text == "A three-line poem of five, seven and five syllables."
