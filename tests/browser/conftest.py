"""Browser tests: real headless Chromium (Debian's /usr/bin/chromium, never a downloaded one)
driven by Playwright's sync API against pytest-django's live_server.

Run them alone with `pytest tests/browser`; they are skipped where no Chromium is installed
(`apt-get install chromium`, or point HEARTH_CHROMIUM at another binary). Screenshots land in
test-artifacts/ (git-ignored): one per main step, and one of the page when a test fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from pytest_django.live_server_helper import LiveServer

from apps.accounts.models import User
from tests.browser.csp import csp_violations
from tests.missing import missing

CHROMIUM = Path(os.environ.get("HEARTH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 360, "height": 740}
TIMEOUT_MS = 10_000

Shot = Callable[..., Path]
Login = Callable[[Page, User], None]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    # Keep each phase's report on the item so the page fixture knows whether the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses
    # ORM calls from a thread with a running loop. The test thread only sets up and checks
    # rows; the live server answers the browser from its own thread.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _browser_test_settings(settings: Any) -> None:
    # Every test makes several users and signs them in; slow hashing is not what is tested.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1]).strip("_")


@pytest.fixture
def csp_report() -> list[str]:
    """The Content-Security-Policy violations seen on the ``page`` fixture's pages; a test
    that provokes one on purpose takes it out of this list."""
    return []


@pytest.fixture
def page(
    browser: Browser,
    live_server: LiveServer,
    request: pytest.FixtureRequest,
    csp_report: list[str],
) -> Iterator[Page]:
    """A fresh browser context (its own cookies) on the live server, desktop-sized.

    An uncaught JavaScript error or a Content-Security-Policy violation on any page it
    visits fails the test."""
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    csp_violations(context, csp_report)
    tab = context.new_page()
    js_errors: list[str] = []
    tab.on("pageerror", lambda exc: js_errors.append(str(exc)))
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = f"{_artifact_name(request.node.nodeid)}-FAILED.png"
        tab.screenshot(path=ARTIFACTS / name, full_page=True)
    context.close()
    assert not js_errors, f"JavaScript errors: {js_errors}"
    assert not csp_report, f"Content-Security-Policy violations: {csp_report}"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shot:
    """shot(page, "step") saves test-artifacts/<test>-<nn>-<step>.png and returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = _artifact_name(request.node.nodeid)
    counter = iter(range(1, 1000))

    def save(tab: Page, step: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{prefix}-{next(counter):02d}-{step}.png"
        tab.screenshot(path=path, full_page=full_page)
        return path

    return save


@pytest.fixture
def login(live_server: LiveServer) -> Login:
    """login(page, user): sign the browser in as user through a session cookie."""

    def sign_in(tab: Page, user: User) -> None:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        tab.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )

    return sign_in


def horizontal_overflow(tab: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
    return int(
        tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def open_menu(tab: Page, name: str) -> None:
    """Open the header's drop-down menu whose button says ``name`` ("Manage", or "Account:"
    for the signed-in person's); a phone's open menu lists their entries already."""
    menu = tab.locator("details[data-nav-menu]", has=tab.locator("summary", has_text=name))
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
