"""A maintainer sends a Dolly JSONL file from the Import page, lands on the import's own page and
reads the report once the exports worker has imported it; a file over the limit is refused in
the page, before anything is uploaded.

The import runs as in production: a real Celery worker on the exports queue
(``celery -A apps worker -Q exports``, tests/celery_workers.py), on the live server's
database, Redis and data folder; the page follows it with htmx."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from apps.collection.models import Import, ImportStatus, Prompt
from tests.browser.conftest import PHONE, horizontal_overflow, open_menu
from tests.celery_workers import django_env, start_worker, tail, wait_for, workers_on
from tests.missing import missing

pytestmark = pytest.mark.browser


class ExportsWorker:
    """``start()`` a real worker on the exports queue; ``log`` is what it wrote."""

    def __init__(self, workers: list[subprocess.Popen[bytes]], log: Path) -> None:
        self.workers = workers
        self.log = log

    def start(self) -> None:
        self.workers.append(start_worker("apps", ["exports"], django_env(), "imports", self.log))

    def wait_for(self, predicate: Callable[[], object], what: str, timeout: float = 60) -> object:
        return wait_for(predicate, timeout=timeout, what=what, workers=self.workers, log=self.log)

    def expect(self, check: Callable[[], None]) -> None:
        """Run a Playwright expectation; its failure shows the worker's log too."""
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker log:\n{tail(self.log)}") from exc


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    """Uploads wait under the test's own data folder, which the worker is given too."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()


@pytest.fixture
def exports_worker(transactional_db, settings, tmp_path) -> Iterator[ExportsWorker]:
    """Killed, and its queue emptied, before the test's database is flushed."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        missing("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    with workers_on("exports") as workers:
        yield ExportsWorker(workers, tmp_path / "worker.log")


def record(n: int, **changes: str) -> dict[str, str]:
    return {
        "instruction": f"Name a herb that grows well on a windowsill, number {n}.",
        "context": "",
        "response": f"Chives: they like light and forgive a missed watering ({n}).",
        "category": "brainstorming",
        **changes,
    }


IMPORT_PAGE = re.compile(r"/imports/(\d+)/$")


def test_a_maintainer_uploads_a_file_and_reads_the_report(
    page: Page, login, shot, maintainer, settings, exports_worker
):
    exports_worker.start()  # it starts while the maintainer fills in the form
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
    expect(page.get_by_test_id("no-imports")).to_be_visible()

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
    assert not Import.objects.exists()

    file_input.set_input_files(
        {"name": "herbs.jsonl", "mimeType": "application/x-ndjson", "buffer": body}
    )
    expect(page.locator("#id_file_error")).to_have_count(0)
    page.get_by_role("textbox", name="Source", exact=True).fill("windowsill-herbs")
    page.get_by_role("button", name="Import").click()

    # The import's own page, which follows the worker until the report is in.
    expect(page).to_have_url(IMPORT_PAGE)
    job = Import.objects.get()
    landed = IMPORT_PAGE.search(page.url)
    assert landed is not None and landed.group(1) == str(job.pk)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Import #{job.pk}: herbs.jsonl")
    exports_worker.expect(
        lambda: expect(page.get_by_role("heading", name="Report")).to_be_visible(timeout=60_000)
    )
    expect(page.get_by_test_id("import-status")).to_have_text("Done")
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
    job.refresh_from_db()
    assert (job.status, job.created_by, job.imported, job.rejected) == (
        ImportStatus.DONE,
        maintainer,
        2,
        1,
    )

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

    # The Import page lists it among the recent imports, with a link back to it.
    page.goto("/imports/")
    recent = page.get_by_test_id("recent-imports")
    expect(recent.locator("tbody tr")).to_have_count(1)
    expect(recent.locator("tbody tr").first).to_contain_text("Done")
    expect(recent.locator("tbody tr").first).to_contain_text("2 imported, 0 duplicates, 1 rejected")
    recent.get_by_role("link", name="herbs.jsonl").click()
    expect(page).to_have_url(re.compile(rf"/imports/{job.pk}/$"))


# Each change of the status region, as the page saw it: [badge, progress value or null].
WATCH_STATUS = """() => {
  window.stillTheSamePage = true;
  window.seen = [];
  const region = document.getElementById("import-status");
  const note = () => {
    const badge = region.querySelector('[data-testid="import-status"]');
    const bar = region.querySelector("progress");
    window.seen.push([badge ? badge.textContent : null, bar ? Number(bar.value) : null]);
  };
  note();
  new MutationObserver(note).observe(region, { childList: true, subtree: true });
}"""


@pytest.mark.slow(seconds=15)
def test_a_long_import_shows_how_far_it_has_got_while_it_runs(
    page: Page, login, shot, maintainer, settings, exports_worker
):
    """The import page says the import waits for a worker, then how much of the file the
    worker has read and committed, batch by batch, and shows the report when it is done,
    without a reload. To see it part-way for sure, the test holds the import's row locked
    after a batch has committed: the worker waits to commit its next one."""
    import psycopg
    from psycopg import sql

    lines = 10_000  # batches of 500: the row is locked long before the last one
    body = "".join(json.dumps(record(n)) + "\n" for n in range(lines)).encode()
    settings.HEARTH_IMPORT_MAX_BYTES = len(body) + 64 * 1024  # the form around the file too
    login(page, maintainer)
    page.goto("/imports/")
    page.get_by_label("JSONL file").set_input_files(
        {"name": "herbs.jsonl", "mimeType": "application/x-ndjson", "buffer": body}
    )
    # What the form's status line says while the file is sent, kept where the next page
    # can read it.
    page.evaluate(
        """() => {
        const busy = document.getElementById("import-busy");
        new MutationObserver(() => {
          const said = JSON.parse(sessionStorage.getItem("said") || "[]");
          said.push(busy.textContent);
          sessionStorage.setItem("said", JSON.stringify(said));
        }).observe(busy, { childList: true, characterData: true, subtree: true });
      }"""
    )
    page.get_by_role("button", name="Import").click()

    expect(page).to_have_url(IMPORT_PAGE)
    said = page.evaluate("() => JSON.parse(sessionStorage.getItem('said') || '[]')")
    # The upload's progress, from the browser's upload events, to the whole file sent.
    assert said[0] == "Sending the file…"
    assert len(said) >= 2 and said[-1] == "Sending the file… 100% sent.", said
    assert all(re.fullmatch(r"Sending the file… \d+% sent\.", line) for line in said[1:]), said
    job = Import.objects.get()
    status = page.get_by_test_id("import-status")
    expect(status).to_have_text("Waiting for a worker")  # no worker yet
    # Polled into a box that is not a live region; its live region speaks when it changes.
    expect(page.locator("#import-status")).to_have_attribute(
        "data-announce-into", "import-announce"
    )
    expect(page.locator("#import-announce")).to_have_text("")
    page.evaluate(WATCH_STATUS)
    shot(page, "queued")

    exports_worker.start()
    exports_worker.wait_for(
        lambda: Import.objects.filter(
            pk=job.pk, status=ImportStatus.RUNNING, bytes_done__gt=0
        ).exists(),
        "the import's first batch",
    )
    with psycopg.connect(**connection.get_connection_params()) as lock:
        # Waits for the batch under way to commit; the worker's next one then waits for this.
        lock.execute(
            sql.SQL("SELECT id FROM {} WHERE id = %s FOR UPDATE").format(
                sql.Identifier(Import._meta.db_table)
            ),
            [job.pk],
        )
        held = Import.objects.get(pk=job.pk)
        assert held.status == ImportStatus.RUNNING
        assert 0 < held.bytes_done < held.file_size, "the import ended before it was held"
        percent = int(100 * held.bytes_done / held.file_size)
        expect(status).to_have_text("Importing")
        progress = page.get_by_test_id("import-progress")
        expect(progress).to_have_attribute("value", str(percent))
        expect(page.locator("#import-status")).to_contain_text(f"{percent}% of the file read")
        expect(page.locator("#import-status")).to_contain_text(
            f"{held.lines_read:,} lines committed"
        )
        expect(page.get_by_test_id("live-imported")).to_have_text(f"{held.imported:,}")
        expect(page.locator("#report-title")).to_have_count(0)
        shot(page, "running")
        lock.rollback()  # the worker goes on

    exports_worker.expect(
        lambda: expect(page.locator("#report-title")).to_be_visible(timeout=60_000)
    )
    expect(status).to_have_text("Done")
    expect(page.locator("#import-announce")).to_have_text("Done.")
    expect(page.get_by_test_id("import-progress")).to_have_count(0)
    expect(page.get_by_test_id("count-imported")).to_have_text(f"{lines:,}")
    expect(page.get_by_test_id("count-rejected")).to_have_text("0")
    assert page.evaluate("() => window.stillTheSamePage") is True  # htmx, not a reload
    shot(page, "done")
    seen = page.evaluate("() => window.seen")
    badges = [badge for badge, _value in seen]
    assert badges[0] == "Waiting for a worker", seen
    assert badges[-1] == "Done", seen
    values = [value for badge, value in seen if badge == "Importing"]
    assert percent in values, seen
    assert values == sorted(values), seen  # it only moves forward
    assert all(0 <= value <= 100 for value in values), seen
    assert Prompt.objects.count() == lines

    # The poll stopped once the import was done: nothing asks for the page any more.
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_timeout(2500)
    assert not [url for url in requests if f"/imports/{job.pk}/" in url]


def test_a_refused_file_shows_its_error_in_place_and_the_next_file_goes_through(
    page: Page, login, maintainer, exports_worker
):
    """The page sends the form itself (to show the upload's progress): a file the server
    refuses comes back as the form with its error, in place, the file field focused; the
    corrected file, sent from that form, lands on its import's page. (No worker is started:
    the fixture empties the queue the import is sent to.)"""
    login(page, maintainer)
    page.goto("/imports/")
    file_input = page.get_by_label("JSONL file")
    file_input.set_input_files(
        {"name": "notes.csv", "mimeType": "text/csv", "buffer": b"name,answer\nbasil,water\n"}
    )
    page.get_by_role("button", name="Import").click()

    error = page.locator("#id_file_error")
    expect(error).to_contain_text("This does not look like a Dolly JSONL file. Line 1:")
    expect(page).to_have_url(re.compile(r"/imports/$"))
    expect(page.get_by_label("JSONL file")).to_be_focused()
    expect(page.get_by_label("JSONL file")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#import-busy")).to_have_text("")
    assert not Import.objects.exists()

    body = (json.dumps(record(1)) + "\n").encode()
    page.get_by_label("JSONL file").set_input_files(
        {"name": "herbs.jsonl", "mimeType": "application/x-ndjson", "buffer": body}
    )
    page.get_by_role("button", name="Import").click()
    expect(page).to_have_url(IMPORT_PAGE)
    job = Import.objects.get()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Import #{job.pk}: herbs.jsonl")
    expect(page.get_by_test_id("import-status")).to_have_text("Waiting for a worker")


def test_a_field_refused_after_the_upload_keeps_the_file_chosen(
    page: Page, login, maintainer, exports_worker
):
    """QA: a typo in another field cost a fresh choice of the file (and with it, for an
    empty Source, a whole wasted upload). An empty Source is now pointed out before anything
    is sent; a language the server refuses comes back with the file still chosen."""
    login(page, maintainer)
    page.goto("/imports/")
    body = (json.dumps(record(1)) + "\n").encode()
    page.get_by_label("JSONL file").set_input_files(
        {"name": "herbs.jsonl", "mimeType": "application/x-ndjson", "buffer": body}
    )
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.method))
    page.get_by_role("textbox", name="Source").fill("")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("textbox", name="Source")).to_be_focused()
    assert page.get_by_role("textbox", name="Source").evaluate(
        "field => field.validity.valueMissing"
    )
    assert "POST" not in sent

    page.get_by_role("textbox", name="Source").fill("garden-tips")
    page.get_by_label("Language", exact=True).fill("klingon!!")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#id_language_error")).to_be_visible()
    assert "POST" in sent and not Import.objects.exists()
    chosen = page.get_by_label("JSONL file").evaluate("input => [...input.files].map(f => f.name)")
    assert chosen == ["herbs.jsonl"]

    page.get_by_label("Language", exact=True).fill("en")
    page.get_by_role("button", name="Import").click()
    expect(page).to_have_url(IMPORT_PAGE)
    job = Import.objects.get()
    assert (job.file_name, job.options["source"]) == ("herbs.jsonl", "garden-tips")
