"""The Contribute page in a real browser: one prompt goes all the way from review to complete,
every step taken on /contribute/, with one ranking by mouse drag and one by keyboard alone,
and the ranking task checked on a 360-pixel phone screen (touch drag, the `?` dialog)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy
from apps.feedback.models import PromptConsensus, Ranking, Review
from tests.browser.conftest import PHONE, TIMEOUT_MS, horizontal_overflow

pytestmark = pytest.mark.browser

INSTRUCTION = "Why do cats purr, and does it always mean they are happy?"
AUTHOR_ANSWER = "Cats purr by twitching their larynx muscles. Mostly it signals contentment."
LONG_ANSWER = "\n\n".join(
    [
        "Purring is made by the muscles of the larynx opening and closing the glottis about "
        "25 to 150 times a second, on both the in-breath and the out-breath.",
        "Kittens purr while nursing, which tells the mother that all is well; adult cats keep "
        "the habit when they are relaxed and close to people they trust.",
        "But purring is **not always happiness**. Cats also purr when they are hurt, frightened "
        "or giving birth; the low frequencies may even help bones and tissue heal.",
        "So read the purr together with the rest of the cat: soft eyes and a loose body mean "
        "contentment, while flattened ears or hiding mean it is soothing itself.",
        "Some cats also mix a high-pitched cry into the purr when they want food; people find "
        "this *solicitation purr* more urgent and harder to ignore.",
        "Big cats such as cheetahs and cougars purr too, while lions and tigers, which can "
        "roar, cannot purr continuously.",
    ]
)


def switch_user(page: Page, login, user) -> None:
    page.context.clear_cookies()
    login(page, user)


def status(page: Page) -> Locator:
    return page.get_by_role("main").get_by_role("status")


def rank_items(page: Page) -> Locator:
    return page.locator("[data-rank-list] > .rank-item")


def shown_order(page: Page) -> list[int]:
    return [int(i) for i in rank_items(page).evaluate_all("els => els.map(e => e.dataset.id)")]


def hidden_order(page: Page) -> list[int]:
    value = page.locator("input[name=order]").input_value()
    return [int(i) for i in value.split(",") if i]


def review_cleanly(page: Page, heading: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    page.get_by_role("radio", name="4 good").check()
    page.get_by_role("button", name="Submit review").click()
    expect(status(page)).to_contain_text("Your review is saved.")


def test_two_volunteers_and_a_reviewer_take_a_prompt_from_review_to_complete(
    page: Page, browser: Browser, live_server: LiveServer, login, shot, make_volunteer
):
    """Author, answerer, reviewer and ranker are four people; "two volunteers and a reviewer"
    do everything after the writing. To keep it short the policy asks for one review per
    prompt and per answer, two answers and two rankings (the defaults are 2, 2, 3 and 3)."""
    policy = current_policy()
    policy.prompt_reviews_required = 1
    policy.response_reviews_required = 1
    policy.responses_to_collect = 2
    policy.rankings_required = 2
    policy.save()
    author, answerer, reviewer, ranker = (make_volunteer() for _ in range(4))

    # The author writes the prompt and its first answer on the write task.
    login(page, author)
    page.goto("/contribute/?type=write")
    expect(page).to_have_url(re.compile(r"/contribute/\d+/\?type=write$"))
    expect(page.get_by_text("Held for you until")).to_be_visible()
    page.get_by_role("radio", name="Open Q&A").check()
    page.get_by_label("Instruction").fill(INSTRUCTION)
    page.get_by_label("Your answer").fill(AUTHOR_ANSWER)
    page.get_by_role("combobox", name="Language").fill("en")
    shot(page, "write-task")
    page.get_by_role("button", name="Submit for review").click()
    expect(status(page)).to_contain_text("now in review")
    prompt = Prompt.objects.get(author=author)
    assert prompt.state == PromptState.REVIEW

    # The reviewer accepts the prompt, then reviews the author's answer, now reviewable.
    switch_user(page, login, reviewer)
    page.goto("/contribute/?type=review")
    expect(page.locator(".task-prompt")).to_contain_text(INSTRUCTION)
    expect(page.get_by_text("Text copied from a chatbot is not allowed.")).to_be_visible()
    shot(page, "review-prompt")
    review_cleanly(page, "Review this prompt")
    expect(page.locator(".task-answer")).to_contain_text("twitching their larynx")
    shot(page, "review-author-answer")
    review_cleanly(page, "Review this answer")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING

    # A volunteer writes the second answer, a long one.
    switch_user(page, login, answerer)
    page.goto("/contribute/?type=respond")
    expect(page.get_by_role("heading", level=1)).to_have_text("Answer this prompt")
    page.get_by_label("Your answer").fill(LONG_ANSWER)
    shot(page, "respond")
    page.get_by_role("button", name="Submit answer").click()
    expect(status(page)).to_contain_text("Your answer is now in review.")

    # The reviewer accepts it: two accepted answers move the prompt to ranking.
    switch_user(page, login, reviewer)
    page.goto("/contribute/?type=review")
    expect(page.locator(".task-answer")).to_contain_text("not always happiness")
    review_cleanly(page, "Review this answer")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.RANKING
    long_id = Response.objects.get(author=answerer).pk
    short_id = Response.objects.get(author=author).pk

    # The reviewer ranks with the mouse: the second answer is dragged above the first.
    page.goto("/contribute/?type=rank")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rank the answers")
    items = rank_items(page)
    expect(items).to_have_count(2)
    # The long answer is folded behind "Show more".
    more = page.get_by_role("button", name="Show more")
    expect(more).to_have_count(1)
    expect(more).to_have_attribute("aria-expanded", "false")
    more.click()
    expect(page.get_by_role("button", name="Show less")).to_have_attribute("aria-expanded", "true")
    page.get_by_role("button", name="Show less").click()
    before = shown_order(page)
    assert hidden_order(page) == before
    shot(page, "rank-desktop-before")
    handle = items.nth(1).locator(".rank-handle").bounding_box()
    top = items.nth(0).bounding_box()
    assert handle and top
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 8, steps=2)
    page.mouse.move(x, top["y"] + 8, steps=12)
    page.mouse.up()
    dragged = [before[1], before[0]]
    page.wait_for_function(
        "ids => document.querySelector('input[name=order]').value === ids",
        arg=",".join(map(str, dragged)),
    )
    assert shown_order(page) == dragged
    expect(items.nth(0)).to_have_attribute(
        "aria-label", re.compile(r"^Answer [AB], position 1 of 2$")
    )
    expect(items.nth(0).locator("[data-rank-pos]")).to_have_text("1")
    shot(page, "rank-desktop-after-drag")
    page.get_by_role("button", name="Submit ranking").click()
    expect(status(page)).to_contain_text("Your ranking is saved.")
    assert Ranking.objects.get(ranker=reviewer).order == dragged

    # The ranker opens the same task on a phone: it fits 360 px, a touch drag reorders, and
    # "?" lists the shortcuts.
    phone_context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, has_touch=True, is_mobile=True
    )
    phone_context.set_default_timeout(TIMEOUT_MS)
    phone = phone_context.new_page()
    phone_errors: list[str] = []
    phone.on("pageerror", lambda exc: phone_errors.append(str(exc)))
    login(phone, ranker)
    phone.goto("/contribute/?type=rank")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Rank the answers")
    expect(rank_items(phone)).to_have_count(2)
    assert horizontal_overflow(phone) == 0
    shot(phone, "rank-phone")
    phone_before = shown_order(phone)
    touch_drag(phone, rank_items(phone).nth(1).locator(".rank-handle"), rank_items(phone).nth(0))
    phone.wait_for_function(
        "ids => document.querySelector('input[name=order]').value === ids",
        arg=",".join(map(str, phone_before[::-1])),
    )
    assert horizontal_overflow(phone) == 0
    phone.get_by_role("heading", level=1).click()
    phone.keyboard.press("?")
    dialog = phone.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    shot(phone, "rank-phone-shortcuts", full_page=False)
    phone.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    phone_context.close()
    assert not phone_errors, phone_errors

    # The ranker ranks on the desktop with the keyboard alone, ending in the reviewer's order.
    switch_user(page, login, ranker)
    page.goto("/contribute/?type=rank")
    expect(rank_items(page)).to_have_count(2)
    live = page.locator("[data-rank-live]")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('rank-item')"):
            break
    first = rank_items(page).nth(0)
    expect(first).to_be_focused()
    expect(first).to_have_attribute("aria-label", re.compile(r"^Answer [AB], position 1 of 2$"))

    # "?" opens the shortcuts, Escape closes them and gives the focus back.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    shot(page, "rank-shortcuts", full_page=False)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    expect(first).to_be_focused()

    # Pick up, move, and cancel with Escape: nothing changes.
    start = shown_order(page)
    page.keyboard.press("Space")
    expect(live).to_contain_text("picked up, position 1 of 2")
    page.keyboard.press("ArrowDown")
    expect(live).to_contain_text("moved to position 2 of 2")
    shot(page, "rank-keyboard-picked-up")
    page.keyboard.press("Escape")
    expect(live).to_contain_text("Move cancelled")
    assert shown_order(page) == start

    # The best answer (the reviewer's first) goes to the top, with Space and the arrows.
    target = dragged
    if start[0] == target[0]:
        # Already on top: move it down and back up again, so the keys are really used.
        page.keyboard.press("Space")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Space")
        expect(live).to_contain_text("dropped at position 2 of 2")
        assert shown_order(page) == target[::-1]
        page.keyboard.press("Space")
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Space")
    else:
        page.keyboard.press("ArrowDown")
        expect(rank_items(page).nth(1)).to_be_focused()
        page.keyboard.press("Enter")
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Enter")
    expect(live).to_contain_text("dropped at position 1 of 2")
    assert shown_order(page) == hidden_order(page) == target
    shot(page, "rank-keyboard-done")
    page.keyboard.press("Control+Enter")
    expect(status(page)).to_contain_text("Your ranking is saved.")

    # Complete: a consensus, and each answer's consensus rank.
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COMPLETE
    assert Ranking.objects.get(ranker=ranker).order == target
    consensus = PromptConsensus.objects.get(prompt=prompt)
    assert (consensus.order, consensus.rankers, consensus.agreement) == (target, 2, 1.0)
    ranks = dict(Response.objects.filter(prompt=prompt).values_list("id", "consensus_rank"))
    assert ranks == {target[0]: 1, target[1]: 2}
    assert {long_id, short_id} == set(target)
    assert set(Response.objects.values_list("state", flat=True)) == {ResponseState.ACCEPTED}
    assert Review.objects.filter(reviewer=reviewer).count() == 3
    assert not Assignment.objects.filter(state=AssignmentState.ACTIVE, prompt=prompt).exists()
    shot(page, "after-last-ranking")


def touch_drag(page: Page, handle: Locator, onto: Locator) -> None:
    """Drag with a finger (Chrome DevTools touch events): from ``handle`` to the top of
    ``onto``."""
    # Touches land only inside the viewport: bring both ends into it first.
    onto.evaluate("el => el.scrollIntoView({block: 'start'})")
    start = handle.bounding_box()
    end = onto.bounding_box()
    assert start and end
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    goal = end["y"] + 8
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    steps = 12
    for n in range(1, steps + 1):
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchMove", "touchPoints": [{"x": x, "y": y + (goal - y) * n / steps}]},
        )
        page.wait_for_timeout(16)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_without_javascript_a_phone_ranks_with_numbers_and_reviews_fit(
    browser: Browser, live_server: LiveServer, login, shot, make_volunteer
):
    """The no-script fallback on a 360-pixel phone: one rank number per answer. And the review
    task with its skip form open fits the same screen."""
    from tests.factories import PromptFactory, ResponseFactory

    prompt = PromptFactory(author=make_volunteer(), state=PromptState.RANKING)
    answers = [
        ResponseFactory(prompt=prompt, author=make_volunteer(), text=f"Answer number {n}.")
        for n in range(3)
    ]
    PromptFactory(author=make_volunteer(), state=PromptState.REVIEW, instruction=INSTRUCTION)
    volunteer = make_volunteer()
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, java_script_enabled=False
    )
    context.set_default_timeout(TIMEOUT_MS)
    phone = context.new_page()
    login(phone, volunteer)

    phone.goto("/contribute/?type=rank")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Rank the answers")
    expect(phone.get_by_text("Give each answer a rank: 1 is the best")).to_be_visible()
    expect(phone.get_by_role("button", name="Move answer A up")).to_be_hidden()
    assert horizontal_overflow(phone) == 0
    shot(phone, "rank-phone-no-js")
    wanted = [answers[2].pk, answers[0].pk, answers[1].pk]
    letters = {
        int(item.get_attribute("data-id") or 0): item.get_attribute("data-letter")
        for item in rank_items(phone).all()
    }
    for rank, answer_id in enumerate(wanted, start=1):
        phone.get_by_label(f"Rank of answer {letters[answer_id]}").fill(str(rank))
    phone.get_by_role("button", name="Submit ranking").click()
    expect(status(phone)).to_contain_text("Your ranking is saved.")
    assert Ranking.objects.get(ranker=volunteer).order == wanted

    phone.goto("/contribute/?type=review")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Review this prompt")
    phone.locator(".skip > summary").click()
    expect(phone.get_by_label("I don't know enough about this topic")).to_be_visible()
    assert horizontal_overflow(phone) == 0
    shot(phone, "review-phone-skip-open")
    phone.get_by_label("I don't know enough about this topic").check()
    phone.get_by_role("button", name="Skip and get another").click()
    expect(status(phone)).to_contain_text("Skipped.")
    assert Assignment.objects.get(user=volunteer, prompt__state=PromptState.REVIEW).state == (
        AssignmentState.SKIPPED
    )
    context.close()


def test_a_whitespace_only_answer_is_marked_and_focused_like_an_empty_one(
    page: Page, login, shot, volunteer, make_volunteer
):
    from tests.factories import PromptFactory

    PromptFactory(author=make_volunteer())
    login(page, volunteer)
    page.goto("/contribute/?type=respond")
    answer = page.get_by_label("Your answer")
    answer.fill("   \n\t  ")
    page.get_by_role("button", name="Submit answer").click()
    expect(answer).to_be_focused()
    expect(answer).to_have_attribute("aria-invalid", "true")
    expect(answer).to_have_accessible_description(
        re.compile(r"The answer is required and cannot be only whitespace\.")
    )
    expect(page.get_by_role("alert")).to_have_count(0)
    shot(page, "whitespace-answer")
    assert not Response.objects.exists()


def test_the_hold_counts_down_warns_at_a_minute_and_says_when_it_ran_out(
    page: Page, login, shot, volunteer, make_volunteer
):
    """The browser's clock is Playwright's, run forward by hand; the server's is real, so the
    task is expired in the database before the late answer is sent."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import PromptFactory

    prompt = PromptFactory(author=make_volunteer())
    login(page, volunteer)
    assignment = hold_ending_in(page, volunteer, "respond", seconds=90)
    expiry = page.locator(".task-expiry")
    live = page.locator("[data-expiry-live]")
    expect(expiry).to_contain_text(
        # (With the day in front when those 90 seconds cross midnight.)
        re.compile(r"^Held for you until (.+, )?\S+( [AP]M)? \(2 minutes left\)")
    )
    page.get_by_label("Your answer").fill("Rivers carry salt into it.")

    page.clock.run_for(40_000)
    expect(expiry).to_contain_text("(1 minute left)")
    expect(live).to_have_text("One minute left to send this task.")
    page.clock.run_for(20_000)
    expect(live).to_have_text("One minute left to send this task.")  # said once, not each tick

    page.clock.run_for(40_000)
    expect(expiry).to_be_hidden()
    notice = page.locator("[data-expired]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Your time on this task ran out")
    # Said by the Submit button, where the volunteer is (the hidden region said only the minute).
    expect(page.locator("[data-expired-here]")).to_contain_text("Your time on this task ran out")
    expect(notice.get_by_role("link", name="Take a new task")).to_have_attribute(
        "href", "/contribute/?type=respond"
    )
    shot(page, "hold-ran-out", full_page=False)

    # What the notice says: the task refuses it, and the next page offers the prompt instead.
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page.get_by_role("button", name="Submit answer").click()
    expect(page.get_by_role("alert")).to_contain_text("This task expired before it was sent.")
    page.get_by_role("button", name="Send this answer to the prompt").click()
    expect(page).to_have_url(re.compile(rf"/prompts/{prompt.pk}/$"))
    assert Response.objects.get(author=volunteer).text == "Rivers carry salt into it."


def test_the_ctrl_enter_hint_shows_with_a_mouse_and_not_on_a_touch_phone(
    page: Page, browser: Browser, live_server: LiveServer, login, shot, volunteer, make_volunteer
):
    from tests.factories import PromptFactory

    PromptFactory(author=make_volunteer())
    login(page, volunteer)
    page.goto("/contribute/?type=respond")
    expect(page.locator(".kbd-hint")).to_be_visible()
    expect(page.get_by_role("button", name="Keyboard shortcuts")).to_be_visible()

    phone_context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, has_touch=True, is_mobile=True
    )
    phone_context.set_default_timeout(TIMEOUT_MS)
    phone = phone_context.new_page()
    login(phone, volunteer)
    phone.goto("/contribute/?type=respond")
    expect(phone.get_by_role("button", name="Submit answer")).to_be_visible()
    expect(phone.locator(".kbd-hint")).to_be_hidden()
    expect(phone.get_by_role("button", name="Keyboard shortcuts")).to_be_hidden()
    shot(phone, "respond-phone", full_page=False)
    phone_context.close()


def test_a_prompts_answer_page_reads_like_the_answer_task_and_goes_back_to_the_prompt(
    page: Page, login, shot, volunteer, make_volunteer
):
    from tests.factories import PromptFactory

    prompt = PromptFactory(author=make_volunteer(), instruction=INSTRUCTION)
    login(page, volunteer)
    page.goto(f"/prompts/{prompt.pk}/")
    page.get_by_role("link", name="Write an answer").click()
    expect(page.locator(".task-prompt")).to_contain_text("Open Q&A · en")
    answer = page.get_by_label("Your answer")
    expect(answer).to_have_accessible_description(
        re.compile(r"^Answer as a helpful expert would, in your own words")
    )
    expect(page.locator(".kbd-hint")).to_be_visible()

    answer.fill("  ")
    page.get_by_role("button", name="Submit for review").click()
    expect(answer).to_be_focused()
    expect(answer).to_have_attribute("aria-invalid", "true")

    answer.fill(AUTHOR_ANSWER.replace("Mostly", "**Mostly**"))
    page.get_by_role("button", name="Preview answer").click()
    expect(page.locator("#text-preview strong")).to_have_text("Mostly")
    shot(page, "answer-page")
    page.keyboard.press("Control+Enter")
    expect(page).to_have_url(re.compile(rf"/prompts/{prompt.pk}/$"))
    expect(status(page)).to_contain_text("Your answer is now in review.")
    mine = Response.objects.get(author=volunteer)
    expect(page.locator(f"#response-{mine.pk}")).to_contain_text("Mostly it signals")


def hold_ending_in(page: Page, user: Any, kind: str, *, seconds: int) -> Assignment:
    """Take a task of ``kind`` on ``page`` (whose clock is then the test's to move) and make
    its hold end ``seconds`` from now."""
    from datetime import timedelta

    from django.utils import timezone

    page.clock.install()
    page.goto(f"/contribute/?type={kind}")
    assignment = Assignment.objects.get(user=user)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() + timedelta(seconds=seconds)
    )
    page.reload()
    return assignment
