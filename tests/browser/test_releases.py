"""A maintainer cuts a release in the browser: a refused form keeps what was typed with each
error by its field, and the release page shows the finished release without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.releases.building import release_build
from apps.releases.services import release_create
from tests.factories import ResponseFactory

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()


def test_a_refused_release_form_keeps_the_input_and_focuses_the_first_error(
    page: Page, login, shot, maintainer
):
    ResponseFactory()
    login(page, maintainer)
    page.goto("/releases/")
    page.get_by_label("Languages").fill("en, de")
    page.get_by_label("Brainstorming").check()
    page.get_by_label("Minimum agreement").fill("abc")
    page.get_by_label("Test share").fill("0.2")
    page.get_by_label("Include model-written answers").check()
    page.get_by_role("button", name="Build release").click()
    shot(page, "refused")
    agreement = page.get_by_label("Minimum agreement")
    expect(agreement).to_be_focused()
    expect(agreement).to_have_value("abc")
    expect(agreement).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_min_agreement_error")).to_have_text("Give a number.")
    expect(page.get_by_label("Languages")).to_have_value("en, de")
    expect(page.get_by_label("Brainstorming")).to_be_checked()
    expect(page.get_by_label("Test share")).to_have_value("0.2")
    expect(page.get_by_label("Include model-written answers")).to_be_checked()

    page.get_by_label("Minimum agreement").fill("")
    page.get_by_label("Languages").fill("sw")
    page.get_by_label("Brainstorming").uncheck()
    page.get_by_role("button", name="Build release").click()
    expect(page.get_by_role("alert")).to_have_text(
        "No accepted answer matches this filter (languages: sw)."
    )
    expect(page.get_by_label("Languages")).to_have_value("sw")


def test_the_release_page_shows_the_release_when_its_build_finishes(
    page: Page, login, shot, maintainer
):
    ResponseFactory()
    release = release_create(user=None, enqueue=False)
    login(page, maintainer)
    page.goto("/releases/v1/")
    status = page.locator("#release-status")
    expect(status).to_contain_text("Counting rows…")
    # Polled, but not a live region: what changes is said in #release-announce (a11y QA).
    expect(status).not_to_have_attribute("aria-live", "polite")
    shot(page, "building")
    release_build(release.pk)  # as the exports worker would, while the page is open
    expect(page.get_by_role("link", name="data/sft/train-00000-of-00001.parquet")).to_be_visible(
        timeout=15_000
    )
    expect(page.locator("#release-status")).to_contain_text("Ready")
    expect(page.locator("#release-status")).not_to_contain_text("Counting rows")
    expect(page.locator("#release-announce")).to_have_text("Ready.")
    expect(page.get_by_role("heading", name="Downloads")).to_be_visible()
    expect(page.locator(".messages")).to_have_count(0)
    shot(page, "ready")
    # The poll stopped once the build was done: nothing asks for the page any more.
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_timeout(2500)
    assert not [url for url in requests if "/releases/v1/" in url]
