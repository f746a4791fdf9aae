"""A maintainer imports a Dolly JSONL file from the Import page and reads the report; a file
over the limit is refused in the page, before anything is uploaded."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from apps.collection.models import Prompt
from tests.browser.conftest import PHONE, horizontal_overflow, open_menu

pytestmark = pytest.mark.browser


def record(n: int, **changes: str) -> dict[str, str]:
    return {
        "instruction": f"Name a herb that grows well on a windowsill, number {n}.",
        "context": "",
        "response": f"Chives: they like light and forgive a missed watering ({n}).",
        "category": "brainstorming",
        **changes,
    }


def test_a_maintainer_uploads_a_file_and_reads_the_report(
    page: Page, login, shot, maintainer, settings
):
    settings.HEARTH_IMPORT_MAX_BYTES = 4096
    body = "".join(
        json.dumps(line) + "\n"
        for line in (record(1), record(2, category="poetry", response=""), record(3))
    ).encode()
    login(page, maintainer)
    page.goto("/")
    open_menu(page, "Manage")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import a Dolly JSONL file")).to_be_visible()

    # Too large: the page says so and sends nothing.
    posts: list[str] = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    file_input = page.get_by_label("JSONL file")
    file_input.set_input_files(
        {"name": "big.jsonl", "mimeType": "application/x-ndjson", "buffer": b"x" * 5000}
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#id_file_error")).to_have_text(
        "The file is larger than 4.0\xa0KB, the largest file this site takes."
    )
    expect(file_input).to_be_focused()
    expect(file_input).to_have_attribute("aria-invalid", "true")
    assert posts == []

    file_input.set_input_files(
        {"name": "herbs.jsonl", "mimeType": "application/x-ndjson", "buffer": body}
    )
    expect(page.locator("#id_file_error")).to_have_count(0)
    page.get_by_role("textbox", name="Source", exact=True).fill("windowsill-herbs")
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_role("heading", name="Report")).to_be_visible()
    expect(page.get_by_test_id("count-imported")).to_have_text("2")
    expect(page.get_by_test_id("count-duplicates")).to_have_text("0")
    expect(page.get_by_test_id("count-rejected")).to_have_text("1")
    rows = page.locator(".import-report tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("2")
    expect(rows.first).to_contain_text(
        "response: The answer is required and cannot be only whitespace."
    )
    expect(rows.first).to_contain_text("category: Choose one of the categories:")
    shot(page, "report")
    assert Prompt.objects.filter(origin="windowsill-herbs").count() == 2

    page.set_viewport_size(PHONE)
    assert horizontal_overflow(page) == 0
    # A reason runs over several lines on a phone: it reads from the left, under its label,
    # not ragged against the right edge with its bullet left behind at the other side.
    reason = rows.first.locator(".import-errors li").first
    assert reason.evaluate("li => getComputedStyle(li).textAlign") in ("left", "start")
    label_box = rows.first.locator("td").last.bounding_box()
    reason_box = reason.bounding_box()
    assert label_box and reason_box
    assert reason_box["x"] - label_box["x"] < 32
    shot(page, "report-phone")

    page.get_by_text("The 2 imported lines").click()
    first = Prompt.objects.get(origin="windowsill-herbs", instruction__endswith="number 1.")
    page.get_by_role("link", name=f"Line 1: prompt #{first.pk}").click()
    expect(page).to_have_url(re.compile(rf"/prompts/{first.pk}/$"))
    expect(
        page.get_by_text("Name a herb that grows well on a windowsill, number 1.")
    ).to_be_visible()


@pytest.mark.slow(seconds=10)
def test_a_long_import_shows_how_far_it_has_got_while_it_runs(
    page: Page, login, shot, maintainer, settings
):
    """The import runs inside the upload's request, a minute or more for a large file: the
    page asks for its progress meanwhile and says how much of the file is read and how many
    lines are checked, instead of one fixed line."""
    lines = 4000
    body = "".join(json.dumps(record(n)) + "\n" for n in range(lines)).encode()
    settings.HEARTH_IMPORT_MAX_BYTES = len(body) + 64 * 1024  # the form around the file too
    login(page, maintainer)
    page.goto("/imports/")
    page.get_by_label("JSONL file").set_input_files(
        {"name": "herbs.jsonl", "mimeType": "application/x-ndjson", "buffer": body}
    )

    # What the status line says, kept where the report's page can read it (Playwright waits
    # for a navigation under way before it reads the page).
    page.evaluate(
        """() => {
        const busy = document.getElementById("import-busy");
        const bar = document.getElementById("import-progress");
        new MutationObserver(() => {
          const said = JSON.parse(sessionStorage.getItem("said") || "[]");
          said.push([busy.textContent, !bar.hidden]);
          sessionStorage.setItem("said", JSON.stringify(said));
        }).observe(busy, { childList: true, characterData: true, subtree: true });
      }"""
    )
    # Clicked from the page: Playwright's own click would wait for the navigation it starts,
    # that is for the whole import.
    page.get_by_role("button", name="Import").evaluate("button => button.click()")

    expect(page.locator("#report-title")).to_be_visible(timeout=60_000)
    said = page.evaluate("() => JSON.parse(sessionStorage.getItem('said') || '[]')")
    assert said[0] == ["Importing… a large file can take a few minutes.", False]
    counted = [
        (int(percent), int(checked.replace(",", "")))
        for text, bar_shown in said
        if bar_shown
        and (
            found := re.fullmatch(
                r"Importing… (\d+)% of the file read, ([\d,]+) lines checked\.", text
            )
        )
        for percent, checked in [found.groups()]
    ]
    assert counted, said
    assert all(0 <= percent <= 100 and 0 < checked <= lines for percent, checked in counted)
    assert Prompt.objects.count() == lines
