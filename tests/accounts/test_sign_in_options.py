from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from tests.accounts.hugging_face import hugging_face_providers

pytestmark = pytest.mark.django_db


def test_hugging_face_sign_in_appears_when_configured(client, settings):
    assert "Hugging Face" not in client.get("/accounts/login/").content.decode()
    settings.SOCIALACCOUNT_PROVIDERS = hugging_face_providers("https://huggingface.co")
    html = client.get("/accounts/login/").content.decode()
    assert "Hugging Face" in html
    assert "/accounts/oidc/huggingface/login/" in html


def test_staff_can_manage_every_model_in_admin():
    ours = [m for m in apps.get_models() if m.__module__.startswith("apps.")]
    assert ours, "no models found"
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert missing == []


def test_admin_pages_open_for_staff(admin_client):
    for path in (
        "/admin/",
        "/admin/collection/prompt/",
        "/admin/collection/import/",
        "/admin/accounts/user/",
        "/admin/accounts/apitoken/",
    ):
        assert admin_client.get(path).status_code == 200, path
