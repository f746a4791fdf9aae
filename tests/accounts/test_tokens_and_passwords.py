"""API tokens and the password (QA security #4): a new password, changed or reset, revokes
every token, and the page confirming it says so; a token cannot create another (only a
signed-in browser can), so a leaked one cannot make tokens that outlive its revocation."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import ApiToken

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
NEW = "a brand new long passphrase"
TWO_REVOKED = (
    "Your 2 API tokens were revoked too, since whoever knew the old password could have made "
    "them: create new ones on your Profile page."
)


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def two_tokens(volunteer, volunteer2):
    EmailAddress.objects.create(user=volunteer, email=volunteer.email, verified=True, primary=True)
    keys = [services.api_token_create(user=volunteer, name=n)[1] for n in ("laptop", "bot")]
    _other, other_key = services.api_token_create(user=volunteer2, name="grace's")
    return keys, other_key


def assert_revoked(keys: list[str], other_key: str) -> None:
    for key in keys:
        assert token_client(key).get("/api/v1/me/").status_code == 401
    assert token_client(other_key).get("/api/v1/me/").status_code == 200
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_changing_the_password_revokes_every_token_and_says_so(volunteer, two_tokens):
    keys, other_key = two_tokens
    assert token_client(keys[0]).get("/api/v1/me/").status_code == 200
    web = Client()
    web.force_login(volunteer)

    r = web.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW, "password2": NEW},
        follow=True,
    )

    assert r.status_code == 200
    assert TWO_REVOKED in r.content.decode()
    assert_revoked(keys, other_key)


def test_resetting_the_password_revokes_every_token_and_says_so(volunteer, two_tokens):
    keys, other_key = two_tokens
    web = Client()
    web.post("/accounts/password/reset/", {"email": volunteer.email})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)
    form = web.get(link.group(1), follow=True)
    assert form.status_code == 200

    r = web.post(form.redirect_chain[-1][0], {"password1": NEW, "password2": NEW}, follow=True)

    assert "Your password is now changed." in r.content.decode()
    assert TWO_REVOKED in r.content.decode()
    assert_revoked(keys, other_key)


def test_a_new_password_without_tokens_says_nothing_of_them(volunteer):
    web = Client()
    web.force_login(volunteer)
    r = web.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW, "password2": NEW},
        follow=True,
    )
    assert r.status_code == 200
    assert "API token" not in r.content.decode()


def test_a_token_cannot_create_another(volunteer):
    _token, key = services.api_token_create(user=volunteer, name="laptop")

    r = token_client(key).post("/api/v1/tokens/", {"name": "mine now"}, format="json")

    assert (r.status_code, r.json()) == (
        403,
        {
            "detail": "Create API tokens on your Profile page (/profile/), signed in in a "
            "browser: a token cannot create another."
        },
    )
    assert ApiToken.objects.filter(user=volunteer).count() == 1
    # Listing and revoking still work with a token.
    assert token_client(key).get("/api/v1/tokens/").status_code == 200


def test_a_signed_in_browser_creates_tokens_through_the_api(volunteer):
    web = Client()
    web.force_login(volunteer)
    r = web.post("/api/v1/tokens/", {"name": "laptop"}, content_type="application/json")
    assert r.status_code == 201
    assert r.json()["key"].startswith("hearth_")
    assert ApiToken.objects.filter(user=volunteer, name="laptop").count() == 1
