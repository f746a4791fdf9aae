"""Every main page, at desktop and phone width: it renders, fits the screen without
sideways scrolling, every form control has a label, axe-core finds no serious or critical
WCAG 2.1 A/AA violation, and the browser reports no Content-Security-Policy violation.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.accounts import services as account_services
from apps.collection import import_jobs, importing
from apps.collection.models import Import
from apps.core import workers
from apps.feedback.models import Ranking, Review
from apps.moderation.models import Flag
from apps.releases.building import release_build
from apps.releases.services import release_create
from tests.browser.conftest import DESKTOP, PHONE, TIMEOUT_MS, horizontal_overflow, open_menu
from tests.browser.csp import csp_violations
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from worker import heartbeat

pytestmark = pytest.mark.browser

UNLABELLED_CONTROLS = """
() => [...document.querySelectorAll('input, textarea, select')]
  .filter(el => el.type !== 'hidden' && !el.closest('[hidden]'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)
"""

# axe-core's rules for WCAG 2.0 and 2.1, levels A and AA: what Hearth promises. Its
# "best-practice" rules (one <main>, region, heading order) are advice, not the standard.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
BLOCKING_IMPACTS = {"serious", "critical"}
AXE = Axe()  # injects the axe.min.js bundled in the wheel with page.evaluate: no network


def accessibility_violations(tab: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it stands, one
    line per rule: its id, what it asks, and the selectors of the elements that break it."""
    results = AXE.run(tab, options=AXE_OPTIONS).response
    return [
        f"{rule['id']} ({rule['impact']}: {rule['help']}) at "
        + ", ".join(" >> ".join(map(str, node["target"])) for node in rule["nodes"])
        for rule in results["violations"]
        if rule["impact"] in BLOCKING_IMPACTS
    ]


@pytest.fixture
def site(volunteer, volunteer2):
    """A small populated site: public prompts with answers, and the volunteer's own work."""
    public = PromptFactory(
        author=volunteer2,
        category="closed_qa",
        instruction="According to the text, when did the **bridge** open to traffic?",
        context="The Øresund Bridge, linking Copenhagen and Malmö, opened on 1 July 2000.",
    )
    ResponseFactory(prompt=public, author=volunteer2, text="On *1 July 2000*.")
    ResponseFactory(prompt=public, author=UserFactory(), text="It opened in July 2000.")
    unanswered = [
        PromptFactory(author=volunteer2, instruction=f"Name three uses of baking soda, take {n}.")
        for n in range(3)
    ]
    own = PromptFactory(
        author=volunteer, state="review", instruction="Why is the sky blue during the day?"
    )
    ResponseFactory(prompt=own, author=volunteer, state="review", text="Rayleigh scattering.")
    ResponseFactory(prompt=public, author=volunteer, state="review", text="1 July 2000.")
    account_services.api_token_create(user=volunteer, name="laptop script")
    return {"public": public, "own": own, "unanswered": unanswered[0]}


@pytest.fixture
def ready_release(settings, tmp_path, site):
    """v1 of the site's accepted answers, built: its page lists files and code that loads
    them from this site, with the live server's address in every long URL."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return release_build(release_create(user=None, enqueue=False).pk)


def _import(maintainer, *, fail: bool) -> Import:
    """An import of three lines, one of them rejected: done with its report, or failed with
    the reason and its Resume button."""
    lines = [
        {"instruction": f"Suggest a name for a {pet} that likes the sun.", "response": "Sunny.",
         "category": "brainstorming", "context": ""}
        for pet in ("cat", "tortoise")
    ]  # fmt: skip
    body = "".join(json.dumps(line) + "\n" for line in [*lines, {**lines[0], "category": "?"}])
    job = import_jobs.import_start(
        author=maintainer,
        upload=SimpleUploadedFile("pets.jsonl", body.encode()),
        options=importing.check_import_options(source="pets"),
    )
    if fail:
        import_jobs.import_path(job.pk).unlink()
    return import_jobs.import_run(job.pk)


def _busy_account() -> Any:
    """An account with one item of every kind its moderators' page lists, on work of its
    own or rejected work nobody else's page shows: a prompt, an answer, a review, a ranking,
    a report it sent and one on its work (both resolved, so the queue stays empty)."""
    now = timezone.now()
    person = UserFactory(display_name="Deals9", banned_at=now, ban_reason="Spam ring")
    own = PromptFactory(author=person, state="rejected", instruction="Buy followers now.")
    other = UserFactory(display_name="Honest")
    theirs = [
        PromptFactory(author=other, state="rejected", instruction=f"A question, take {n}.")
        for n in range(3)
    ]
    ResponseFactory(prompt=theirs[0], author=person, state="rejected", text="Buy now.")
    Review.objects.create(reviewer=person, prompt=theirs[1], spam=True, quality=1)
    Ranking.objects.create(ranker=person, prompt=theirs[2], order=[], unusable=True)
    Flag.objects.create(reporter=person, prompt=theirs[1], reason="spam", resolved_at=now)
    Flag.objects.create(reporter=other, prompt=own, reason="spam", note="An ad.", resolved_at=now)
    return person


PAGES = [
    # (name, path or a key of the paths made from the site fixture, who is signed in)
    ("home", "/", None),
    ("signup", "/accounts/signup/", None),
    ("login", "/accounts/login/", None),
    ("licence", "/licence/?next=/write/", "outsider"),
    ("write", "/write/", "volunteer"),
    ("mine", "/mine/", "volunteer"),
    ("browse", "/browse/", None),
    ("prompt", "public", None),
    ("profile", "/profile/", "volunteer"),
    ("delete-account", "/profile/delete/", "volunteer"),
    ("answer", "answer", "volunteer"),
    ("answered", "answered", "volunteer"),
    ("mine-empty", "/mine/", "newcomer"),
    ("browse-empty", "/browse/?category=summarization", None),
    ("browse-search", "/browse/?q=bridge+JULY&category=closed_qa", None),
    ("browse-search-empty", "/browse/?q=zeppelin", None),
    ("browse-invalid", "/browse/?category=nonsense&language=english!", None),
    ("edit", "edit", "volunteer"),
    ("email", "/accounts/email/", "volunteer"),
    ("password-reset", "/accounts/password/reset/", None),
    ("password-change", "/accounts/password/change/", "volunteer"),
    ("imports", "/imports/", "maintainer"),
    ("import-done", "import-done", "maintainer"),
    ("import-failed", "import-failed", "maintainer"),
    ("policy", "/policy/", "maintainer"),
    ("policy-read-only", "/policy/", "volunteer"),
    ("releases", "/releases/", "maintainer"),
    ("release", "/releases/v1/", None),
    ("training-empty", "/training/", "maintainer"),
    ("moderation-empty", "/moderation/", "moderator"),
    ("moderation-hidden", "/moderation/hidden/", "moderator"),
    ("moderation-log", "/moderation/log/", "moderator"),
    ("moderation-people", "/moderation/people/", "moderator"),
    ("moderation-person", "person", "moderator"),
    ("community", "/community/", None),
    ("community-signed-in", "/community/?period=all", "volunteer"),
    ("community-progress", "/community/?view=progress", None),
    ("guidelines", "/guidelines/", None),
    ("system", "/system/", "maintainer"),
]


@pytest.fixture
def visitors(
    site, ready_release, volunteer, outsider, maintainer, moderator
) -> tuple[dict, dict[str, str]]:
    """For PAGES: the user each visitor name signs in as, and the paths named by a key."""
    users = {
        "volunteer": volunteer,
        "outsider": outsider,
        "newcomer": UserFactory(),
        "maintainer": maintainer,
        "moderator": moderator,
    }
    paths = {
        "public": f"/prompts/{site['public'].pk}/",
        "answer": f"/prompts/{site['unanswered'].pk}/answer/",
        "answered": f"/prompts/{site['public'].pk}/answer/",
        "edit": f"/prompts/{site['own'].pk}/edit/",
        "import-done": f"/imports/{_import(maintainer, fail=False).pk}/",
        "import-failed": f"/imports/{_import(maintainer, fail=True).pk}/",
        "person": f"/moderation/people/{_busy_account().pk}/",
    }
    # The System page with a table of workers: one busy, one online, one long silent.
    now = timezone.now()
    for name, queues, busy, seen in [
        ("gpu@node-1", ["gpu"], {"task": "worker.train_run", "run_id": 1}, now),
        ("web@host", ["default", "exports"], None, now),
        ("gpu@node-2", ["gpu"], None, now - timedelta(hours=3)),
    ]:
        workers.record(
            {
                "version": heartbeat.VERSION, "hostname": name, "state": "online",
                "queues": queues, "device": "NVIDIA H100 80GB HBM3", "pid": 7, "node": "n",
                "started_at": (now - timedelta(days=1)).isoformat(),
                "sent_at": seen.isoformat(), "interval": 30, "busy": busy,
            }
        )  # fmt: skip
    return users, paths


@pytest.mark.slow(seconds=40)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_fits_the_screen_labels_every_control_and_passes_axe(
    browser, live_server, login, shot, visitors, viewport
):
    users, paths = visitors
    problems: list[str] = []
    for name, target, who in PAGES:
        # One browser context per visitor, so each page is seen signed in as the right person.
        context = browser.new_context(base_url=live_server.url, viewport=viewport)
        violations = csp_violations(context)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        if who:
            login(tab, users[who])
        response = tab.goto(paths.get(target, target))
        shot(tab, f"{name}-{viewport['width']}")
        if response is None or not response.ok:
            problems.append(f"{name}: HTTP {response and response.status}")
        if overflow := horizontal_overflow(tab):
            problems.append(f"{name}: {overflow}px wider than the screen")
        if unlabelled := tab.evaluate(UNLABELLED_CONTROLS):
            problems.append(f"{name}: controls without a label: {unlabelled}")
        problems += [f"{name}: {violation}" for violation in accessibility_violations(tab)]
        if (headings := tab.locator("h1").count()) != 1:
            problems.append(f"{name}: {headings} <h1> elements")
        if errors:
            problems.append(f"{name}: JavaScript errors {errors}")
        if violations:
            problems.append(f"{name}: Content-Security-Policy violations {violations}")
        context.close()
    assert problems == []


def test_form_errors_the_open_phone_menu_and_a_message_pass_axe(
    browser, live_server, login, shot, maintainer
):
    """What a plain visit never shows: forms sent back with their errors, the menu opened on a
    phone, and the message after an action."""
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    violations = csp_violations(context)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    login(tab, maintainer)
    problems: list[str] = []

    tab.goto("/write/")
    tab.get_by_role("button", name="Submit for review").click()
    expect(tab.get_by_label("Instruction")).to_have_attribute("aria-invalid", "true")
    shot(tab, "write-errors")
    problems += [f"write errors: {v}" for v in accessibility_violations(tab)]

    # A filter no answer matches: the release form comes back with an error above its fields.
    tab.goto("/releases/")
    tab.get_by_label("Languages").fill("sw")
    tab.get_by_role("button", name="Build release").click()
    expect(tab.get_by_role("alert")).to_contain_text("No accepted answer matches this filter")
    problems += [f"release form errors: {v}" for v in accessibility_violations(tab)]

    tab.locator("label[for=nav-toggle]").click()
    expect(tab.get_by_role("link", name="My contributions")).to_be_visible()
    shot(tab, "menu-open", full_page=False)
    problems += [f"open menu: {v}" for v in accessibility_violations(tab)]

    tab.get_by_role("button", name="Sign out").click()
    expect(tab.get_by_role("status")).to_have_text("You have signed out.")
    shot(tab, "signed-out")
    problems += [f"signed out: {v}" for v in accessibility_violations(tab)]
    context.close()
    assert problems == []
    assert errors == []
    assert violations == []


# Menu entries laid out taller than one line (their text broke over two).
BROKEN_MENU_ENTRIES = """() => [...document.querySelectorAll(".nav-links a, .nav-links button.link")]
  .filter((el) => el.getBoundingClientRect().height > 45)
  .map((el) => el.textContent.trim())"""


@pytest.mark.parametrize("width", [800, 1024, 1280])
def test_the_longest_menu_stays_on_one_row(browser, live_server, login, maintainer, width):
    """A staff maintainer sees every entry; the work of maintainers, moderators and admins
    and the person's own pages sit in two drop-down menus, so the bar keeps one row."""
    maintainer.is_staff = True
    maintainer.save(update_fields=["is_staff"])
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 800}
    )
    tab = context.new_page()
    login(tab, maintainer)
    tab.goto("/")
    nav = tab.get_by_role("navigation", name="Main")
    brand = tab.locator(".brand").bounding_box()
    links = tab.locator(".nav-links").bounding_box()
    assert brand is not None and links is not None
    # The links keep one row, as tall as an entry (44 px): beside the brand from 1,024 px,
    # under it on a narrower window.
    assert links["height"] < 50
    assert (links["y"] < brand["y"] + brand["height"]) == (width >= 1024)

    admin = nav.get_by_role("link", name="Admin")
    expect(admin).to_be_hidden()
    open_menu(tab, "Manage")
    for name in ("Training", "Import", "Policy", "Moderation", "Admin"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    assert tab.evaluate(BROKEN_MENU_ENTRIES) == []
    assert horizontal_overflow(tab) == 0
    open_menu(tab, "Account:")
    expect(admin).to_be_hidden()  # one menu open at a time
    expect(nav.get_by_text("Signed in as")).to_be_hidden()  # the button says it here
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()
    assert tab.evaluate(BROKEN_MENU_ENTRIES) == []
    assert horizontal_overflow(tab) == 0
    context.close()


def test_a_moderator_reaches_moderation_in_one_click_and_a_volunteer_has_no_manage_menu(
    page, login, moderator, volunteer
):
    nav = page.get_by_role("navigation", name="Main")
    login(page, moderator)
    page.goto("/")
    expect(nav.locator("summary", has_text="Account:")).to_be_visible()
    expect(nav.locator("summary", has_text="Manage")).to_have_count(0)
    nav.get_by_role("link", name="Moderation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Moderation queue")

    page.context.clear_cookies()
    login(page, volunteer)
    page.goto("/")
    expect(nav.locator("summary", has_text="Account:")).to_be_visible()
    expect(nav.locator("summary", has_text="Manage")).to_have_count(0)
    expect(nav.get_by_role("link", name="Moderation")).to_have_count(0)


def test_the_drop_down_menus_close_on_escape_and_on_a_click_elsewhere(page, login, maintainer):
    login(page, maintainer)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    training = nav.get_by_role("link", name="Training")
    manage = page.locator("summary", has_text="Manage")

    manage.focus()
    page.keyboard.press("Enter")
    expect(training).to_be_visible()
    page.keyboard.press("Escape")
    expect(training).to_be_hidden()
    expect(manage).to_be_focused()

    manage.click()
    expect(training).to_be_visible()
    assert accessibility_violations(page) == []  # open, in light and in dark
    page.emulate_media(color_scheme="dark")
    assert accessibility_violations(page) == []
    page.emulate_media(color_scheme="light")
    page.get_by_role("heading", level=1).click()
    expect(training).to_be_hidden()

    # Tabbing out of an open menu closes it, so it covers nothing the focus moves to.
    account = page.locator("summary", has_text="Account:")
    manage.focus()
    page.keyboard.press("Enter")
    expect(training).to_be_visible()
    for _ in range(6):  # Training, Import, Policy, System, Moderation, Admin: then the account
        page.keyboard.press("Tab")
    expect(account).to_be_focused()
    expect(training).to_be_hidden()
    page.keyboard.press("Enter")
    log_out = page.get_by_role("button", name="Sign out")
    expect(log_out).to_be_visible()
    log_out.focus()
    page.keyboard.press("Tab")
    expect(log_out).to_be_hidden()

    # The menu says which of its pages is open: its button is bold there.
    open_menu(page, "Manage")
    training.click()
    expect(page.get_by_role("heading", name="Training", level=1)).to_be_visible()
    expect(manage).to_have_css("font-weight", "600")
    expect(page.locator("summary", has_text="Account:")).to_have_css("font-weight", "400")
