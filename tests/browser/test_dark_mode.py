"""Dark mode: with the system set to dark (Playwright's color_scheme="dark", what
`prefers-color-scheme: dark` reads), every page in test_pages.PAGES, and the training and
release pages with runs on them, is drawn light on dark, shows no pale box left over from the
light theme, and passes axe-core's WCAG 2.1 A/AA checks, colour contrast included. One desktop
viewport: the phone layout uses the same colours. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.training.models import TrainingRun
from tests.browser import test_pages
from tests.browser.conftest import DESKTOP, TIMEOUT_MS, Login, Shot, open_menu
from tests.browser.csp import csp_violations
from tests.browser.test_pages import PAGES, accessibility_violations
from tests.training.conftest import make_release

pytestmark = pytest.mark.browser

# test_pages' small populated site, the one PAGES' paths point into, and who visits each page:
# pytest finds a fixture by its name in the test module.
site = test_pages.site
ready_release = test_pages.ready_release
visitors = test_pages.visitors

# The colours that matter, as the browser computed them: the page's own, and every visible
# element that paints a background of its own (the header, cards, buttons, badges, inputs...).
COLOURS = """() => {
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + [...el.classList].map((c) => "." + c).join("");
  const body = getComputedStyle(document.body);
  return {
    background: body.backgroundColor,
    text: body.color,
    painted: [...document.body.querySelectorAll("*")]
      .filter((el) => visible(el) && !el.closest(".visually-hidden"))
      .map((el) => [name(el), getComputedStyle(el).backgroundColor]),
  };
}"""

# Relative luminance above which a background is a light-theme one: white is 1, the light
# theme's palest tints (badges, messages) are 0.8 to 0.95, while the dark theme's brightest
# fill, the light orange of a hovered button or the "You" badge, is 0.57.
PALE = 0.65


def luminance(css_colour: str) -> float:
    """WCAG relative luminance of a computed "rgb(r, g, b)" or "rgba(r, g, b, a)" colour."""
    channels = [float(c) for c in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3]]
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        for c in (value / 255 for value in channels)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def is_transparent(css_colour: str) -> bool:
    return css_colour.startswith("rgba(") and css_colour.endswith(", 0)")


def dark_mode_problems(tab: Page, name: str) -> list[str]:
    """What is wrong with the page as it stands in dark mode, one line per problem."""
    colours: dict[str, Any] = tab.evaluate(COLOURS)
    problems = []
    if luminance(colours["background"]) > 0.05:
        problems.append(f"{name}: the page's background {colours['background']} is not dark")
    if luminance(colours["text"]) < 0.6:
        problems.append(f"{name}: the page's text {colours['text']} is not light")
    pale = sorted(
        {
            f"{element} {colour}"
            for element, colour in colours["painted"]
            if not is_transparent(colour) and luminance(colour) > PALE
        }
    )
    if pale:
        problems.append(f"{name}: light-theme backgrounds left: {pale}")
    problems += [f"{name}: {violation}" for violation in accessibility_violations(tab)]
    return problems


def dark_tab(browser: Browser, live_server: LiveServer) -> tuple[Page, list[str], list[str]]:
    """A new desktop-sized tab whose system setting is dark, with the JavaScript errors and
    Content-Security-Policy violations it meets."""
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, color_scheme="dark")
    context.set_default_timeout(TIMEOUT_MS)
    violations = csp_violations(context)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    return tab, errors, violations


@pytest.fixture
def runs(db) -> dict[str, str]:
    """Training runs and a release, for the pages PAGES shows only empty: badges, charts, logs."""
    release = make_release(hub_repo="hearth-community/hearth-dolly")
    running = TrainingRun.objects.create(
        kind="reward",
        release=release,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        state="running",
        attempt=1,
        step=6,
        total_steps=20,
        loss_history=[{"step": s, "loss": 3.0 - s * 0.1} for s in range(1, 7)],
        eval_history=[{"step": 3, "eval_loss": 0.69, "eval_pairwise_accuracy": 0.55}],
        logs_tail="step 6 loss 2.4\n",
    )
    for state in ("queued", "succeeded", "failed", "cancelled"):
        TrainingRun.objects.create(
            kind="sft",
            release=release,
            base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
            state=state,
            attempt=1,
        )
    return {"run": f"/training/runs/{running.pk}/", "release": f"/releases/{release.version}/"}


@pytest.mark.slow(seconds=45)
def test_every_page_is_dark_and_passes_axe_when_the_system_is_dark(
    browser,
    live_server,
    login: Login,
    shot: Shot,
    visitors,
    runs,
):
    users, paths = visitors
    paths = {**paths, **runs}
    pages = [
        *PAGES,
        ("training", "/training/", "maintainer"),
        ("run", "run", "maintainer"),
        ("releases", "/releases/", "maintainer"),
        ("release", "release", "maintainer"),
    ]
    problems: list[str] = []
    for name, target, who in pages:
        tab, errors, violations = dark_tab(browser, live_server)
        if who:
            login(tab, users[who])
        response = tab.goto(paths.get(target, target))
        if name == "run":
            # uPlot draws once the page's script has run: check the finished page.
            expect(tab.locator("figure[data-chart=loss] canvas")).to_have_count(1)
        shot(tab, f"{name}-dark")
        if response is None or not response.ok:
            problems.append(f"{name}: HTTP {response and response.status}")
        problems += dark_mode_problems(tab, name)
        if errors:
            problems.append(f"{name}: JavaScript errors {errors}")
        if violations:
            problems.append(f"{name}: Content-Security-Policy violations {violations}")
        tab.context.close()
    assert problems == []


def test_form_errors_and_a_message_are_readable_in_the_dark(
    browser, live_server, login: Login, shot: Shot, volunteer
):
    """What a plain visit never shows: a form sent back with its errors, and the message after
    an action."""
    tab, errors, violations = dark_tab(browser, live_server)
    login(tab, volunteer)
    tab.goto("/write/")
    tab.get_by_role("button", name="Submit for review").click()
    expect(tab.get_by_label("Instruction")).to_have_attribute("aria-invalid", "true")
    shot(tab, "write-errors-dark")
    problems = dark_mode_problems(tab, "write errors")

    open_menu(tab, "Account:")
    tab.get_by_role("button", name="Sign out").click()
    expect(tab.get_by_role("status")).to_have_text("You have signed out.")
    shot(tab, "signed-out-dark")
    problems += dark_mode_problems(tab, "signed out")
    tab.context.close()
    assert problems == []
    assert errors == []
    assert violations == []


MARKER_COLOURS = """() => [...document.querySelectorAll("figure[data-chart=loss] .u-legend .u-marker")]
  .slice(1).map((el) => getComputedStyle(el).borderColor)"""


def test_the_run_charts_take_the_themes_colours_and_redraw_when_it_changes(
    browser, live_server, login: Login, runs, maintainer
):
    """uPlot draws on a canvas, which CSS cannot recolour: training.js reads the series
    colours from the stylesheet and draws again when the system switches theme."""
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    tab = context.new_page()
    login(tab, maintainer)
    tab.goto(runs["run"])
    expect(tab.locator("figure[data-chart=loss] canvas")).to_have_count(1)

    def legend_shows(colours: list[str]) -> None:
        """Wait (up to the default timeout) for the legend's markers to have these colours.
        Polled from here: the page's Content-Security-Policy forbids evaluating strings."""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while (shown := tab.evaluate(MARKER_COLOURS)) != colours and time.monotonic() < deadline:
            tab.wait_for_timeout(50)
        assert shown == colours

    # Train loss, then eval loss: the light theme's orange and blue, then the dark theme's.
    legend_shows(["rgb(194, 65, 12)", "rgb(29, 78, 216)"])
    tab.emulate_media(color_scheme="dark")
    legend_shows(["rgb(251, 146, 60)", "rgb(96, 165, 250)"])
    expect(tab.locator("figure[data-chart=loss] canvas")).to_have_count(1)
    context.close()
