"""Your data on the profile: download it, and delete the account."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from apps.accounts.models import User
from tests.factories import PromptFactory

pytestmark = pytest.mark.browser


def test_a_volunteer_downloads_their_data_then_deletes_the_account(page, login, shot, volunteer):
    PromptFactory(author=volunteer, instruction="Why do cats purr?")
    login(page, volunteer)
    page.goto("/profile/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download your data").click()
    saved = download.value
    assert saved.suggested_filename.startswith("hearth-data-")
    data = json.loads(saved.path().read_text(encoding="utf-8"))
    assert [p["instruction"] for p in data["prompts"]] == ["Why do cats purr?"]

    page.get_by_role("link", name="Delete your account").click()
    expect(page.get_by_role("heading", name="Delete your account")).to_be_visible()
    page.get_by_label("Your email address").fill("not-me@example.org")
    page.get_by_label("Your password").fill("correct horse battery staple")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("This is not the email address of your account.")).to_be_visible()
    shot(page, "delete-account-refused")
    assert User.objects.get(pk=volunteer.pk).deleted_at is None

    page.get_by_label("Your email address").fill(volunteer.email)
    page.get_by_label("Your password").fill("correct horse battery staple")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Your account is deleted")).to_be_visible()
    assert urlparse(page.url).path == "/"
    assert User.objects.get(pk=volunteer.pk).deleted_at is not None
    page.goto("/profile/")
    assert "/accounts/login/" in page.url
