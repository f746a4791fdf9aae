"""Pages outside the every-page check, under the site's Content-Security-Policy in Chromium:
the API docs (Swagger UI), the admin, and "Sign in with Hugging Face", whose form answers with
a redirect to another origin (form-action)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django_celery_beat.models import CrontabSchedule
from playwright.sync_api import Page, expect

from tests.accounts.hugging_face import hugging_face_providers
from tests.factories import PromptFactory, UserFactory

pytestmark = pytest.mark.browser


def test_the_api_docs_run_swagger_ui_within_their_policy(page: Page, csp_report: list[str]):
    violations = csp_report  # every violation on `page` (tests/browser/conftest.py)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Hearth API")
    # Open an operation: its parameters, responses and icons render now.
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    expect(page.locator(".opblock-body .responses-wrapper").first).to_be_visible()
    assert violations == []


def test_the_api_docs_follow_the_colour_scheme(browser, live_server) -> None:
    """Swagger UI's dark theme for a reader who prefers dark, its light one otherwise, and a
    switch of scheme while the page is open follows."""
    context = browser.new_context(base_url=live_server.url, color_scheme="dark")
    tab = context.new_page()
    tab.goto("/api/docs/")
    ui = tab.locator(".swagger-ui").first
    expect(tab.locator(".swagger-ui .info .title")).to_contain_text("Hearth API")
    expect(tab.locator("html")).to_have_class("dark-mode")
    expect(ui).to_have_css("background-color", "rgb(28, 32, 34)")
    expect(tab.locator("body")).to_have_css("background-color", "rgb(28, 32, 34)")
    tab.emulate_media(color_scheme="light")
    expect(tab.locator("html")).not_to_have_class("dark-mode")
    expect(tab.locator("body")).to_have_css("background-color", "rgb(250, 250, 250)")
    context.close()


def test_the_admin_runs_within_the_site_policy(page: Page, csp_report: list[str], login, volunteer):
    admin = UserFactory(is_staff=True, is_superuser=True)
    prompt = PromptFactory(author=volunteer)
    daily = CrontabSchedule.objects.create(minute="30", hour="4")
    violations = csp_report  # every violation on `page` (tests/browser/conftest.py)
    login(page, admin)
    for path in (
        "/admin/",
        "/admin/collection/prompt/",
        f"/admin/collection/prompt/{prompt.pk}/change/",
        "/admin/accounts/user/",
    ):
        assert (response := page.goto(path)) is not None and response.ok, path
    # django-celery-beat's form shows the chosen crontab in words (its script, moved out of
    # the page so that the policy runs it).
    page.goto("/admin/django_celery_beat/periodictask/add/")
    page.locator("#id_crontab").select_option(str(daily.pk))
    expect(page.locator(".field-crontab .help")).to_contain_text("Translation: At 04:30")
    assert violations == []


class _FakeHuggingFace(BaseHTTPRequestHandler):
    """The two pages of an OpenID Connect issuer that a sign-in reaches before the person
    agrees: the discovery document (fetched by the server) and the authorisation page."""

    def do_GET(self) -> None:
        base = f"http://{self.headers['Host']}"
        if self.path == "/.well-known/openid-configuration":
            body = json.dumps(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/oauth/authorize",
                    "token_endpoint": f"{base}/oauth/token",
                    "userinfo_endpoint": f"{base}/oauth/userinfo",
                    "jwks_uri": f"{base}/oauth/jwks",
                }
            ).encode()
            kind = "application/json"
        elif self.path.startswith("/oauth/authorize?"):
            body = b"<!DOCTYPE html><title>Authorize</title><h1>Authorize Hearth</h1>"
            kind = "text/html"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hugging_face() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHuggingFace)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("listed", [False, True], ids=["origin-not-listed", "origin-listed"])
def test_hugging_face_sign_in_needs_its_origin_in_form_action(
    page: Page, csp_report: list[str], settings, hugging_face, listed
):
    """Chromium applies form-action to the redirect that answers a form, so the sign-in form
    (which posts to Hearth, answered by a redirect to the issuer) is blocked unless the
    issuer's origin is listed, as settings.py lists HF_OAUTH_SERVER_URL's."""
    settings.SOCIALACCOUNT_PROVIDERS = hugging_face_providers(hugging_face, scope=["openid"])
    directives = dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    assert directives["form-action"] == ["'self'"]  # no client id in the tests' environment
    if listed:
        directives["form-action"] = ["'self'", hugging_face]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": directives}
    violations = csp_report  # every violation on `page` (tests/browser/conftest.py)

    page.goto("/accounts/login/")
    page.get_by_role("link", name="Hugging Face").click()
    page.get_by_role("button", name="Continue").click()
    if listed:
        expect(page.get_by_role("heading", name="Authorize Hearth")).to_be_visible()
        assert violations == []
    else:
        expect(page.get_by_role("button", name="Continue")).to_be_visible()
        assert urlsplit(page.url).path == "/accounts/oidc/huggingface/login/"
        # The browser reports the refusal a moment after it (a CI run read the list too soon).
        for _ in range(100):
            if violations:
                break
            page.wait_for_timeout(50)
        assert violations and all("form-action" in v for v in violations), violations
        violations.clear()  # provoked on purpose: seen, so the fixture need not fail on it
