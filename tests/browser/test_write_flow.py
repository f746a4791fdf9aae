"""A newcomer's whole first visit, in a real browser: sign up, verify the email address,
accept the licence, write a closed Q&A prompt with its answer, see it in review, withdraw it.
And the Write form's refusal: a missing context is named on the page and nothing typed is lost.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from playwright.sync_api import Dialog, Request, expect

from apps.accounts import selectors as account_selectors
from apps.accounts.models import User
from apps.collection.models import Prompt, PromptState, Response
from tests.browser.conftest import open_menu

pytestmark = pytest.mark.browser

EMAIL = "newcomer@example.org"
PASSWORD = "a long and unusual passphrase 42"
INSTRUCTION = "According to the text, how long is the Øresund Bridge?"
CONTEXT = "The Øresund Bridge is a combined railway and motorway bridge, 7.8 km long, between Denmark and Sweden."
RESPONSE = "The bridge is **7.8 km** long."


def _verification_path() -> str:
    assert len(mail.outbox) == 1, [m.subject for m in mail.outbox]
    message = mail.outbox[0]
    assert message.to == [EMAIL]
    match = re.search(r"https?://\S+/accounts/confirm-email/[-:\w]+/", str(message.body))
    assert match, message.body
    return urlsplit(match.group(0)).path


def test_a_newcomer_signs_up_writes_a_closed_qa_prompt_and_withdraws_it(page, shot):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Write the data")
    shot(page, "home")

    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    shot(page, "signup")
    page.get_by_role("button", name="Sign up").click()

    # Verification is mandatory: the site says so, and the link arrives by email.
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify your email address")
    shot(page, "verification-sent")
    page.goto(_verification_path())
    shot(page, "confirm-email")
    page.get_by_role("button", name="Confirm").click()
    expect(page).not_to_have_url(re.compile(r"/confirm-email/"))
    expect(page.get_by_role("status")).to_contain_text("You have confirmed")
    # ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION signs the newcomer in; log in only if it did not.
    open_menu(page, "Account:")
    logout = page.get_by_role("button", name="Sign out")
    if not logout.is_visible():
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
    expect(logout).to_be_visible()
    assert EmailAddress.objects.get(email=EMAIL).verified

    # Write needs the licence first, and comes back to Write after it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Write").click()
    expect(page).to_have_url(re.compile(r"/licence/\?next=%2Fwrite%2F$"))
    shot(page, "licence")
    page.get_by_label("I agree to contribute under this licence").check()
    page.get_by_role("button", name="Accept and continue").click()
    expect(page).to_have_url(re.compile(r"/write/$"))
    assert account_selectors.licence_accepted(user=User.objects.get(email=EMAIL))

    page.get_by_role("radio", name="Closed Q&A").check()
    expect(page.get_by_text("This category needs a context.")).to_be_visible()
    page.get_by_label("Instruction").fill(INSTRUCTION)
    page.get_by_label("Context").fill(CONTEXT)
    page.get_by_label("Your answer").fill(RESPONSE)
    page.get_by_label("Language").fill("en")
    shot(page, "write-filled")
    page.get_by_role("button", name="Submit for review").click()

    expect(page).to_have_url(re.compile(r"/mine/$"))
    expect(page.get_by_role("status")).to_contain_text("now in review")
    prompt = Prompt.objects.get(author__email=EMAIL)
    card = page.locator(f'[data-prompt-id="{prompt.pk}"]')
    expect(card).to_contain_text(INSTRUCTION)
    expect(card.locator(".badge").first).to_have_text("In review")
    shot(page, "mine-in-review")

    # Cancelling the confirmation sends nothing.
    posts: list[str] = []

    def record_post(request: Request) -> None:
        if request.method == "POST":
            posts.append(request.url)

    page.on("request", record_post)
    page.once("dialog", lambda dialog: dialog.dismiss())
    card.get_by_role("button", name="Withdraw prompt", exact=True).click()
    page.wait_for_timeout(300)
    page.remove_listener("request", record_post)
    assert posts == []
    expect(card.locator(".badge").first).to_have_text("In review")

    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    card.get_by_role("button", name="Withdraw prompt", exact=True).click()
    expect(card.locator(".badge").first).to_have_text("Withdrawn")
    expect(page.get_by_role("status")).to_contain_text("Withdrawn.")
    assert dialogs == [
        "Withdraw this prompt, with your own answer to it? It will be hidden and never enter a "
        "release."
    ]
    # A withdrawn prompt can no longer be edited or withdrawn again.
    expect(card.get_by_role("button", name="Withdraw prompt", exact=True)).to_have_count(0)
    shot(page, "mine-withdrawn")

    prompt.refresh_from_db()
    assert prompt.withdrawn_at is not None
    assert (prompt.category, prompt.context, prompt.language) == ("closed_qa", CONTEXT, "en")
    assert prompt.state == PromptState.REVIEW
    assert list(Response.objects.filter(prompt=prompt).values_list("text", flat=True)) == [RESPONSE]
    assert Prompt.objects.count() == 1


def test_a_closed_qa_prompt_without_context_is_refused_with_the_typed_text_kept(
    page, login, shot, volunteer
):
    login(page, volunteer)
    page.goto("/write/")
    page.get_by_role("radio", name="Closed Q&A").check()
    page.get_by_label("Instruction").fill(INSTRUCTION)
    page.get_by_label("Your answer").fill(RESPONSE)
    page.get_by_role("button", name="Submit for review").click()

    expect(page).to_have_url(re.compile(r"/write/$"))
    context = page.get_by_label("Context")
    error = page.locator("#id_context_error")
    expect(error).to_have_text(re.compile("needs a context"))
    expect(context).to_have_attribute("aria-invalid", "true")
    expect(context).to_have_attribute("aria-describedby", re.compile(r"\bid_context_error\b"))
    expect(context).to_be_focused()
    # Everything typed comes back, including the chosen category.
    expect(page.get_by_role("radio", name="Closed Q&A")).to_be_checked()
    expect(page.get_by_label("Instruction")).to_have_value(INSTRUCTION)
    expect(page.get_by_label("Your answer")).to_have_value(RESPONSE)
    expect(page.locator(".has-error")).to_have_count(1)
    shot(page, "context-missing")
    assert not Prompt.objects.exists()


def test_a_shown_preview_follows_the_text_and_headings_stay_below_the_title(page, login, volunteer):
    login(page, volunteer)
    page.goto("/write/")
    answer = page.get_by_label("Your answer")
    preview = page.locator("#response-preview")
    answer.fill("**first**")
    expect(preview).to_be_empty()  # nothing is fetched before the button asks for it
    page.get_by_role("button", name="Preview answer").click()
    expect(preview.locator("strong")).to_have_text("first")
    # Typing after that re-renders it: it never shows words that are gone.
    answer.fill("# A heading\n\n**second**")
    expect(preview.locator("strong")).to_have_text("second")
    expect(preview).to_have_attribute("aria-live", "off")  # not read out at every pause
    heading = preview.locator("h3")  # user headings start below the page's (h1 → h3)
    expect(heading).to_have_text("A heading")
    title = page.get_by_role("heading", level=1, name="Write")
    assert _font_px(heading) < _font_px(title)
    page.get_by_role("button", name="Preview answer").click()
    expect(preview).to_have_attribute("aria-live", "polite")


def _font_px(locator) -> float:
    return float(locator.evaluate("el => getComputedStyle(el).fontSize").removesuffix("px"))
