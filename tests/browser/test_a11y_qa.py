"""The accessibility QA pass's findings, in Chromium: a prompt's language on its text, a polled
status that speaks only when it changes, the run charts' legends (their values, no mouse-only
toggle), forced colours, the footer's select on a phone, reduced motion, and the focus on a
page that opens with a message."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.assignments.models import TaskType
from apps.collection import importing
from apps.collection.models import Import, ImportStatus, PromptState
from apps.training.models import RunState, TrainingRun
from tests.browser.conftest import PHONE, TIMEOUT_MS
from tests.factories import PromptFactory, ResponseFactory, held_task
from tests.training.conftest import make_release

pytestmark = pytest.mark.browser


def new_tab(browser: Browser, live_server: LiveServer, **options) -> Page:
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def described_by(page: Page) -> str:
    """The text of what the focused element's aria-describedby names."""
    return page.evaluate(
        """() => (document.activeElement.getAttribute("aria-describedby") || "")
            .split(" ").map(id => document.getElementById(id))
            .filter(Boolean).map(el => el.textContent.trim()).join(" ")"""
    )


def finished_run(**fields) -> TrainingRun:
    """A run with loss, eval loss and learning-rate points: lr 8e-6 at its last step."""
    return TrainingRun.objects.create(
        kind="sft",
        release=make_release(),
        base_model="org/base",
        state=RunState.SUCCEEDED,
        attempt=1,
        step=600,
        total_steps=600,
        finished_at=timezone.now(),
        loss_history=[
            {"step": 300, "loss": 1.5, "lr": 2e-5},
            {"step": 600, "loss": 1.2353, "lr": 8e-6},
        ],
        eval_history=[{"step": 600, "eval_loss": 1.31}],
        metrics={"eval_loss": 1.31},
        **fields,
    )


# --- a prompt's language ------------------------------------------------------------------------


def test_a_german_prompt_on_an_english_page_is_marked_german(page: Page, volunteer):
    prompt = PromptFactory(
        instruction="Wie kann ich im Winter Heizkosten sparen?", language="de", author=volunteer
    )
    ResponseFactory(prompt=prompt, text="Dichte zuerst die Fenster ab.")
    page.goto(f"/prompts/{prompt.pk}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    languages = page.evaluate(
        """() => [".instruction", ".response .markdown"].map(selector => {
            const text = document.querySelector(selector).firstElementChild;
            return text.closest("[lang]").lang;
        })"""
    )
    assert languages == ["de", "de"]


# --- a polled status ---------------------------------------------------------------------------

WATCH_ANNOUNCE = """() => {
  window.polls = 0;
  window.said = [];
  document.addEventListener("htmx:afterSettle", () => { window.polls += 1; });
  const region = document.getElementById("import-announce");
  new MutationObserver(() => window.said.push(region.textContent))
    .observe(region, { childList: true, characterData: true, subtree: true });
}"""


@pytest.mark.slow(seconds=12)
def test_a_polled_import_status_speaks_only_when_it_changes(page: Page, login, maintainer):
    job = Import.objects.create(
        created_by=maintainer,
        file_name="herbs.jsonl",
        file_size=1000,
        options={"source": "garden-tips", "licence": "", "language": "en", "state": "accepted"},
        lines_per_status=importing.REPORT_LINES_PER_STATUS,
    )
    login(page, maintainer)
    page.goto(f"/imports/{job.pk}/")
    expect(page.get_by_test_id("import-status")).to_have_text("Waiting for a worker")
    box = page.locator("#import-status")
    assert box.get_attribute("aria-live") is None and box.get_attribute("role") is None
    expect(page.locator("#import-announce")).to_have_attribute("role", "status")
    page.evaluate(WATCH_ANNOUNCE)

    # Polled every second, unchanged: the live region says nothing.
    page.wait_for_function("() => window.polls >= 4", timeout=15_000)
    assert page.evaluate("() => window.said") == []

    # The import moves: said once, in steps of 10%, however often it is polled.
    Import.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, bytes_done=430)
    expect(page.locator("#import-announce")).to_have_text("Importing: 40% of the file read.")
    polls = page.evaluate("() => window.polls")
    Import.objects.filter(pk=job.pk).update(bytes_done=470)
    page.wait_for_function(f"() => window.polls >= {polls + 3}", timeout=15_000)
    expect(page.locator("#import-status")).to_contain_text("47% of the file read")
    assert page.evaluate("() => window.said") == ["Importing: 40% of the file read."]


# --- the run charts ------------------------------------------------------------------------------


def test_the_learning_rate_legend_writes_the_rate_as_its_axis_does(page: Page, login, maintainer):
    """The legend said "Learning rate: 0" for every real run (four decimals of 8e-6)."""
    run = finished_run()
    login(page, maintainer)
    page.goto(f"/training/runs/{run.pk}/")
    chart = page.locator("figure[data-chart=lr]")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart.locator(".u-legend .u-value")).to_have_text(["600", "8.0e-6"])


def test_a_click_on_a_legend_row_hides_no_curve(page: Page, login, maintainer):
    """uPlot hid a series on a click on its legend row: a control that no keyboard reaches,
    whose state no screen reader hears."""
    run = finished_run()
    login(page, maintainer)
    page.goto(f"/training/runs/{run.pk}/")
    chart = page.locator("figure[data-chart=loss]")
    expect(chart.locator("canvas")).to_have_count(1)
    rows = chart.locator(".u-legend .u-series")
    expect(rows).to_have_count(3)  # step, train loss, eval loss
    for n in (1, 2):
        box = rows.nth(n).bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 10, box["y"] + box["height"] / 2)
    assert rows.evaluate_all("rows => rows.map(row => row.className)") == ["u-series"] * 3


# --- forced colours ----------------------------------------------------------------------------


def test_in_forced_colours_the_menu_icon_and_the_colour_keys_stay_visible(
    browser: Browser, live_server, login, maintainer, volunteer, shot
):
    tab = new_tab(browser, live_server, viewport=PHONE, forced_colors="active")
    tab.goto("/")
    # The hamburger's bars are drawn in the text's colour, not the page's.
    bars = tab.evaluate(
        """() => {
          const icon = document.querySelector(".nav-toggle-icon");
          const text = getComputedStyle(icon.parentElement).color;
          return [null, "::before", "::after"].map(part => {
            const style = getComputedStyle(icon, part);
            return [style.backgroundColor, text];
          });
        }"""
    )
    assert all(bar == text for bar, text in bars), bars
    shot(tab, "forced-menu")

    # The Progress chart's legend: four swatches, in four colours.
    PromptFactory(author=volunteer)
    tab.goto("/community/?view=progress")
    swatches = tab.evaluate(
        """() => [...document.querySelectorAll(".chart-legend .swatch")].map(
            swatch => getComputedStyle(swatch).backgroundColor)"""
    )
    assert len(swatches) == 4 and len(set(swatches)) == 4, swatches

    # The run charts' legend markers: train and eval loss told apart, by their outline's
    # colour (the train loss's is a hollow box; forced, both outlines were the text's colour).
    run = finished_run()
    login(tab, maintainer)
    tab.goto(f"/training/runs/{run.pk}/")
    chart = tab.locator("figure[data-chart=loss]")
    expect(chart.locator(".u-legend .u-series")).to_have_count(3)
    markers = chart.evaluate(
        """figure => [...figure.querySelectorAll(".u-legend .u-series")].slice(1).map(
            row => getComputedStyle(row.querySelector(".u-marker")).borderTopColor)"""
    )
    text = tab.evaluate("() => getComputedStyle(document.body).color")
    assert len(set(markers)) == 2 and text not in markers, (markers, text)
    shot(tab, "forced-run")
    tab.context.close()


# --- phones and motion -------------------------------------------------------------------------


def test_the_footer_language_select_is_16px_on_a_phone(browser: Browser, live_server):
    """iOS zooms into the page when a control under 16px takes the focus."""
    tab = new_tab(browser, live_server, viewport=PHONE)
    tab.goto("/")
    size = tab.evaluate(
        "() => getComputedStyle(document.getElementById('language-select')).fontSize"
    )
    assert float(size.removesuffix("px")) >= 16
    tab.context.close()


def test_reduced_motion_turns_transitions_and_the_ranking_animation_off(
    browser: Browser, live_server, login, volunteer2, make_volunteer
):
    prompt = PromptFactory(state=PromptState.RANKING)
    for text in ("First answer.", "Second answer."):
        ResponseFactory(prompt=prompt, author=make_volunteer(), text=text)
    task = held_task(volunteer2, TaskType.RANK, prompt)
    tab = new_tab(browser, live_server, reduced_motion="reduce")
    login(tab, volunteer2)
    tab.goto(f"/contribute/{task.pk}/")
    expect(tab.locator(".rank-item")).to_have_count(2)
    sortable = "window.Sortable && Sortable.get(document.querySelector('[data-rank-list]'))"
    tab.wait_for_function(f"() => {sortable}")
    assert tab.evaluate(f"() => {sortable}.options.animation") == 0
    durations = tab.evaluate(
        """() => [".nav-toggle-icon", ".nav-menu > summary"].map(selector => {
            const el = document.querySelector(selector);
            return [getComputedStyle(el).transitionDuration,
                    getComputedStyle(el, "::after").transitionDuration];
        })"""
    )
    assert durations == [["0s", "0s"], ["0s", "0s"]], durations
    tab.context.close()


# --- the focus on a page that opens with a message -----------------------------------------------


def test_a_page_that_opens_with_a_message_puts_the_focus_on_its_heading(
    page: Page, login, volunteer
):
    login(page, volunteer)
    page.goto("/profile/")
    expect(page.locator("#page-messages")).to_have_count(0)
    assert page.evaluate("() => document.activeElement === document.body")

    # The site's messages, above the h1.
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#page-messages")).to_contain_text("Profile saved.")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    assert described_by(page) == "Profile saved."

    # A message of its own under a section's heading: the new token's.
    page.get_by_label("Token name").fill("laptop script")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("new-token")).to_be_visible()
    expect(page.get_by_role("heading", name="API tokens")).to_be_focused()
    assert described_by(page).startswith("Your new token")

    # One Tab on, the focus is in what follows the heading, not back in the site's menu.
    page.keyboard.press("Tab")
    assert page.evaluate("() => !document.activeElement.closest('header')")
