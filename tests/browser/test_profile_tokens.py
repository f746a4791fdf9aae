"""The API token section of the profile: create a token, see and copy it once, revoke it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, expect

from apps.accounts.models import ApiToken

pytestmark = pytest.mark.browser


def test_a_volunteer_creates_copies_and_revokes_an_api_token(page, login, shot, volunteer):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, volunteer)
    page.goto("/profile/")
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    page.get_by_label("Token name").fill("laptop script")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_test_id("new-token").inner_text()
    assert key.startswith("hearth_")
    token = ApiToken.objects.get(user=volunteer)
    assert key.startswith(token.prefix) and token.name == "laptop script"
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    shot(page, "token-created")

    # The secret is shown once only.
    page.reload()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    expect(page.get_by_role("row", name="laptop script")).to_be_visible()

    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token revoked.")).to_be_visible()
    expect(page.get_by_role("row", name="laptop script")).to_contain_text("Revoked")
    assert questions == ["Revoke this token? Scripts using it will stop working."]
    token.refresh_from_db()
    assert token.revoked_at is not None
    shot(page, "token-revoked")
