"""QA fixes on the volunteer's task pages, in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.assignments.models import Assignment
from tests.browser.conftest import DESKTOP, TIMEOUT_MS
from tests.factories import PromptFactory

pytestmark = pytest.mark.browser

# Far from UTC, without daylight saving time: the local clock is UTC+9 all year.
TOKYO = "Asia/Tokyo"
# Short names as Chromium writes them in Spanish ("dom, 6 dic, 16:52"), Monday first.
SPANISH_WEEKDAYS = ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"]
SPANISH_MONTHS = [
    "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
]  # fmt: skip


@pytest.fixture
def tokyo_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, timezone_id=TOKYO, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    js_errors: list[str] = []
    tab.on("pageerror", lambda exc: js_errors.append(str(exc)))
    yield tab
    context.close()
    assert not js_errors, f"JavaScript errors: {js_errors}"


def test_the_hold_is_shown_in_the_volunteers_own_time_with_the_minutes_left(
    tokyo_page: Page, login, volunteer, make_volunteer
):
    PromptFactory(author=make_volunteer())
    login(tokyo_page, volunteer)
    tokyo_page.goto("/contribute/?type=respond")
    assignment = Assignment.objects.get(user=volunteer)
    local = assignment.expires_at.astimezone(ZoneInfo(TOKYO))
    utc = assignment.expires_at.astimezone(ZoneInfo("UTC"))
    assert local.strftime("%H:%M") != utc.strftime("%H:%M")

    expiry = tokyo_page.locator(".task-expiry")
    time = expiry.locator("time")
    # The day too when the hold ends tomorrow, Tokyo time (within its half hour of midnight).
    day = "" if local.date() == datetime.now(ZoneInfo(TOKYO)).date() else rf"{local:%a} .*"
    expect(time).to_have_text(re.compile(rf"^{day}{local:%H:%M}$"))
    expect(time).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    shown = datetime.fromisoformat(time.get_attribute("datetime").replace("Z", "+00:00"))
    assert shown == assignment.expires_at
    expect(expiry).to_have_text(
        re.compile(rf"^Held for you until {day}{local:%H:%M} \(\d+ minutes left\)$")
    )


def test_a_hold_that_ends_on_another_day_names_the_day(
    tokyo_page: Page, login, volunteer, make_volunteer
):
    """A policy may hold tasks for up to a week: "until 09:30" alone would not say which day."""
    from datetime import timedelta

    PromptFactory(author=make_volunteer())
    login(tokyo_page, volunteer)
    tokyo_page.goto("/contribute/?type=respond")
    assignment = Assignment.objects.get(user=volunteer)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=assignment.expires_at + timedelta(days=2)
    )
    tokyo_page.reload()
    local = (assignment.expires_at + timedelta(days=2)).astimezone(ZoneInfo(TOKYO))

    time = tokyo_page.locator(".task-expiry time")

    expect(time).to_have_text(re.compile(rf"^{local:%a} {local.day} {local:%b}, {local:%H:%M}$"))


def test_the_hold_is_written_in_the_pages_language_not_the_browsers(
    browser: Browser, live_server: LiveServer, login, volunteer, make_volunteer
):
    """An English browser on a page set to Spanish said "hasta las 04:52 PM", and another
    day's hold "Sun, Dec 6": the script wrote times in the browser's language."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    PromptFactory(author=make_volunteer())
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, timezone_id=TOKYO, locale="en-US"
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "es", "url": live_server.url}]
    )
    try:
        tab = context.new_page()
        js_errors: list[str] = []
        tab.on("pageerror", lambda exc: js_errors.append(str(exc)))
        login(tab, volunteer)
        tab.goto("/contribute/?type=respond")
        expect(tab.locator("html")).to_have_attribute("lang", "es")
        # 16:52 in Tokyo three days from now, an afternoon time: 04:52 PM in English.
        tokyo = ZoneInfo(TOKYO)
        day = (timezone.now() + timedelta(days=3)).astimezone(tokyo)
        ends = day.replace(hour=16, minute=52, second=0, microsecond=0)
        Assignment.objects.filter(user=volunteer).update(expires_at=ends)
        weekday, month = SPANISH_WEEKDAYS[ends.weekday()], SPANISH_MONTHS[ends.month - 1]
        time = tab.locator(".task-expiry time")

        tab.reload()
        expect(time).to_have_text(f"{weekday}, {ends.day} {month}, 16:52")

        # On the day itself, the time alone, on the Spanish 24-hour clock.
        tab.clock.set_fixed_time(ends - timedelta(hours=2))
        tab.reload()
        expect(time).to_have_text("16:52")
        expect(tab.locator(".task-expiry")).to_contain_text("Reservada para ti hasta las 16:52")
        assert not js_errors, f"JavaScript errors: {js_errors}"
    finally:
        context.close()


def test_without_javascript_the_hold_is_the_servers_time_and_says_its_zone(
    browser: Browser, live_server: LiveServer, login, volunteer, make_volunteer
):
    PromptFactory(author=make_volunteer())
    context = browser.new_context(
        base_url=live_server.url, timezone_id=TOKYO, java_script_enabled=False
    )
    try:
        tab = context.new_page()
        login(tab, volunteer)
        tab.goto("/contribute/?type=respond")
        expires_at = Assignment.objects.get(user=volunteer).expires_at
        expect(tab.locator(".task-expiry")).to_have_text(
            re.compile(rf"^Held for you until {expires_at:%H:%M} UTC \(\d+\sminutes left\)")
        )
    finally:
        context.close()


def test_a_closed_qa_prompt_without_context_says_so_once(page: Page, login, volunteer):
    """On the Write page and on the write task alike: the context's error, not also the
    category's note that it needs one."""
    login(page, volunteer)
    for path in ("/write/", "/contribute/?type=write"):
        page.goto(path)
        page.get_by_role("radio", name="Closed Q&A").check()
        note = page.get_by_text("This category needs a context.")
        expect(note).to_be_visible()  # before sending, the note says it
        page.get_by_label("Instruction").fill("How long is the bridge, according to the text?")
        page.get_by_label("Your answer").fill("It is 7.8 km long.")
        page.get_by_role("combobox", name="Language").fill("en")
        page.get_by_role("button", name="Submit for review").click()

        expect(page.locator("#id_context_error")).to_have_text(
            "The Closed Q&A category needs a context: paste the text the task is about."
        )
        expect(page.get_by_role("radio", name="Closed Q&A")).to_be_checked()
        expect(page.get_by_text(re.compile("needs a context", re.IGNORECASE))).to_have_count(1)
        expect(note).to_have_count(0)


def test_a_duplicate_instructions_prompt_address_is_a_link_to_it(
    page: Page, login, volunteer, make_volunteer
):
    existing = PromptFactory(author=make_volunteer(), instruction="Name three rivers in Asia.")
    login(page, volunteer)
    page.goto("/write/")
    page.get_by_role("radio", name="Open Q&A").check()
    page.get_by_label("Instruction").fill(existing.instruction)
    page.get_by_label("Your answer").fill("The Yangtze, the Ganges and the Mekong.")
    page.get_by_role("combobox", name="Language").fill("en")
    page.get_by_role("button", name="Submit for review").click()

    error = page.locator("#id_instruction_error")
    expect(error).to_contain_text(f"already in Hearth as prompt #{existing.pk}")
    error.get_by_role("link", name=f"/prompts/{existing.pk}/").click()
    expect(page).to_have_url(re.compile(rf"/prompts/{existing.pk}/$"))
    expect(page.get_by_text(existing.instruction).first).to_be_visible()


def test_the_empty_rank_page_keeps_the_held_tasks_line_apart_from_the_empty_box(
    page: Page, login, volunteer
):
    login(page, volunteer)
    page.goto("/contribute/?type=write")  # holds a write task
    page.goto("/contribute/?type=rank")  # nothing to rank
    held = page.locator(".open-tasks")
    expect(held).to_contain_text("You also hold:")
    empty = page.locator(".task-empty")
    expect(empty).to_be_visible()
    above, below = held.bounding_box(), empty.bounding_box()
    assert above and below
    assert below["y"] - (above["y"] + above["height"]) >= 12  # about 1rem, as above the line
