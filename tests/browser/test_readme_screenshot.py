"""The README's picture of the Write page, taken from the real page.

Every run saves it as test-artifacts/write-page.png; with HEARTH_UPDATE_SCREENSHOTS=1 it also
replaces static/docs/write-page.png (then commit it):

    HEARTH_UPDATE_SCREENSHOTS=1 pytest tests/browser/test_readme_screenshot.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import ViewportSize, expect

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

DOCS_PNG = Path(__file__).resolve().parents[2] / "static" / "docs" / "write-page.png"
SIZE: ViewportSize = {"width": 1280, "height": 1000}
MAX_BYTES = 300 * 1024


def test_the_write_page_screenshot_for_the_readme(browser, live_server, login, volunteer):
    context = browser.new_context(base_url=live_server.url, viewport=SIZE)
    page = context.new_page()
    login(page, volunteer)
    page.goto("/write/")
    page.get_by_role("radio", name="Closed Q&A").check()
    page.get_by_label("Instruction").fill(
        "According to the text, when did the Øresund Bridge open to traffic?"
    )
    page.get_by_label("Context").fill(
        "The Øresund Bridge links Copenhagen and Malmö. Construction finished in August 1999, "
        "and the bridge opened to road and rail traffic on 1 July 2000."
    )
    page.get_by_label("Your response").fill("It opened to traffic on **1 July 2000**.")
    expect(page.get_by_text("This category needs a context.")).to_be_visible()
    # No focus ring or caret in the picture, and it starts at the top of the page.
    page.evaluate("document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "write-page.png"
    page.screenshot(path=shot, animations="disabled", caret="hide")
    context.close()
    assert shot.stat().st_size < MAX_BYTES
    if os.environ.get("HEARTH_UPDATE_SCREENSHOTS") == "1":
        DOCS_PNG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_PNG)
