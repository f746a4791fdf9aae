"""The Write page works from the keyboard: arrow keys pick a category, Ctrl+Enter submits."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.collection.models import Prompt

pytestmark = pytest.mark.browser


def test_ctrl_enter_submits_the_write_form(page, login, shot, volunteer):
    login(page, volunteer)
    page.goto("/write/")

    first = page.get_by_role("radio", name="Open Q&A")
    first.focus()
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("radio", name="General Q&A")).to_be_checked()
    expect(page.get_by_role("radio", name="General Q&A")).to_be_focused()

    page.get_by_label("Instruction").fill("How do I keep basil alive on a windowsill?")
    response = page.get_by_label("Your answer")
    response.click()
    page.keyboard.type("Give it four hours of sun, water when the top of the soil is dry.")
    shot(page, "before-ctrl-enter")
    page.keyboard.press("Control+Enter")

    expect(page).to_have_url(re.compile(r"/mine/$"))
    prompt = Prompt.objects.get(author=volunteer)
    assert prompt.category == "general_qa"
    assert prompt.instruction == "How do I keep basil alive on a windowsill?"
    shot(page, "after-ctrl-enter")


def test_ctrl_enter_on_an_incomplete_form_shows_what_is_missing(page, login, volunteer):
    login(page, volunteer)
    page.goto("/write/")
    page.get_by_label("Instruction").fill("Name three rivers in Africa.")
    page.get_by_label("Instruction").press("Control+Enter")

    expect(page.locator("#id_category_error")).to_be_visible()
    expect(page.locator("#id_response_error")).to_be_visible()
    expect(page.get_by_label("Instruction")).to_have_value("Name three rivers in Africa.")
    assert not Prompt.objects.exists()
