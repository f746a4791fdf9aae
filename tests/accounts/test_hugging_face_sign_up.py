"""Signing up with Hugging Face makes a volunteer, as signing up by e-mail does
(test_pages.test_sign_up_sends_a_verification_email_and_makes_a_volunteer): on auto-signup and
through the social sign-up form. allauth's own code runs from the point where the provider has
answered, as in allauth's tests: the SocialLogin is built from an OpenID Connect answer by
the configured provider, then completed, with no network."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.core import context
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.accounts.hugging_face import hugging_face_providers

pytestmark = pytest.mark.django_db

CALLBACK = "/accounts/oidc/huggingface/login/callback/"
LICENCE_THEN_CONTRIBUTE = "/licence/?next=%2Fcontribute%2F"


@pytest.fixture(autouse=True)
def _hugging_face_on(settings):
    settings.SOCIALACCOUNT_PROVIDERS = hugging_face_providers("https://huggingface.co")


def callback_request(session: SessionBase | None = None) -> Any:
    """The callback's request as allauth sees it once the token exchange is done."""
    request = RequestFactory().get(CALLBACK)
    if session is None:
        SessionMiddleware(lambda r: None).process_request(request)
    else:
        request.session = session
    MessageMiddleware(lambda r: None).process_request(request)
    request.user = AnonymousUser()
    return request


def hugging_face_login(request: Any, **userinfo: Any) -> SocialLogin:
    """What Hugging Face's OpenID Connect answer becomes in allauth's provider."""
    provider = get_adapter().get_provider(request, "huggingface")
    claims = {"sub": "hf-1234", "preferred_username": "ada", "name": "Ada", **userinfo}
    return provider.sociallogin_from_response(request, {"userinfo": claims, "id_token": claims})


def complete(request: Any, sociallogin: SocialLogin) -> Any:
    with context.request_context(request):
        return complete_social_login(request, sociallogin)


def roles_shown(user: User) -> list[str]:
    api = APIClient()
    api.force_authenticate(user)
    response = api.get("/api/v1/me/")
    assert response.status_code == 200
    return response.json()["roles"]


def test_auto_signup_with_a_new_verified_email_makes_a_volunteer():
    request = callback_request()
    response = complete(
        request, hugging_face_login(request, email="ada@example.org", email_verified=True)
    )
    # A newcomer's first stop is the licence, then Contribute (test_sign_up_redirects).
    assert (response.status_code, response["Location"]) == (302, LICENCE_THEN_CONTRIBUTE)
    user = User.objects.get(email="ada@example.org")
    assert SocialAccount.objects.get(user=user).uid == "hf-1234"
    assert not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == ["volunteer"]
    assert roles_shown(user) == ["volunteer"]


def test_auto_signup_with_an_unverified_email_makes_a_volunteer_who_must_verify(mailoutbox):
    request = callback_request()
    response = complete(
        request, hugging_face_login(request, email="grace@example.org", email_verified=False)
    )
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email="grace@example.org")
    assert roles_shown(user) == ["volunteer"]
    assert len(mailoutbox) == 1


def test_signing_up_through_the_social_form_makes_a_volunteer():
    """Without an e-mail address from Hugging Face, allauth asks for one on its form."""
    client = Client()
    request = callback_request(session=client.session)
    response = complete(request, hugging_face_login(request))
    request.session.save()
    assert response["Location"] == "/accounts/3rdparty/signup/"
    assert not User.objects.exists()

    response = client.post("/accounts/3rdparty/signup/", {"email": "mei@example.org"})
    assert response.status_code == 302
    user = User.objects.get(email="mei@example.org")
    assert SocialAccount.objects.get(user=user).uid == "hf-1234"
    assert list(user.groups.values_list("name", flat=True)) == ["volunteer"]
    assert roles_shown(user) == ["volunteer"]


def test_signing_in_again_keeps_the_roles_a_maintainer_gave(maintainer):
    """Only a sign-up gives the role: a returning person's groups are left as they are."""
    EmailAddress.objects.create(
        user=maintainer, email=maintainer.email, verified=True, primary=True
    )
    SocialAccount.objects.create(user=maintainer, provider="huggingface", uid="hf-1234")
    request = callback_request()
    response = complete(
        request, hugging_face_login(request, email=maintainer.email, email_verified=True)
    )
    assert (response["Location"], request.user) == ("/", maintainer)
    assert roles_shown(maintainer) == ["volunteer", "maintainer"]
