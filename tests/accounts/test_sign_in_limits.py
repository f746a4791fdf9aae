"""allauth's per-client limits behind the reverse proxy (QA security #1, #8). Behind a proxy
every request came from the proxy's address, so ten failed sign-ins a minute by anyone locked
everyone out; with HEARTH_TRUSTED_PROXY_COUNT (ALLAUTH_TRUSTED_PROXY_COUNT) each client is
counted by the address the proxy saw. Over a limit the answer is 429 with Retry-After and a
page that says when to try again, not the form again with a 200."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from apps.core.throttling import wait_in_words
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.2"  # every request arrives from the proxy


def signed_up(email: str):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def sign_in(client: Client, email: str, password: str, *, client_ip: str, sent: str = ""):
    """A sign-in through the proxy, which appends the address it saw to what the client sent
    in X-Forwarded-For (nginx's $proxy_add_x_forwarded_for)."""
    forwarded = f"{sent}, {client_ip}" if sent else client_ip
    return client.post(
        "/accounts/login/",
        {"login": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.fixture
def behind_one_proxy(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1


def test_one_clients_failed_sign_ins_do_not_lock_out_another(behind_one_proxy):
    signed_up("ada@example.org")
    attacker = Client()
    for n in range(10):
        r = sign_in(attacker, f"nobody{n}@x.test", "wrong", client_ip="203.0.113.5")
        assert r.status_code == 200  # the form again: wrong address or password
    assert sign_in(attacker, "nobody@x.test", "wrong", client_ip="203.0.113.5").status_code == 429

    r = sign_in(Client(), "ada@example.org", PASSWORD, client_ip="198.51.100.7")
    assert r.status_code == 302


def test_without_the_setting_everyone_behind_the_proxy_is_one_client():
    """What QA saw: the site's default (no proxy, make run) counts the connection's address."""
    signed_up("ada@example.org")
    for n in range(10):
        sign_in(Client(), f"nobody{n}@x.test", "wrong", client_ip="203.0.113.5")
    r = sign_in(Client(), "ada@example.org", PASSWORD, client_ip="198.51.100.7")
    assert r.status_code == 429


def test_a_client_cannot_pick_the_address_it_is_counted_as(behind_one_proxy):
    signed_up("ada@example.org")
    for n in range(10):
        sent = f"192.0.2.{n}"  # written by the client: the proxy's own entry comes last
        sign_in(Client(), f"nobody{n}@x.test", "wrong", client_ip="203.0.113.5", sent=sent)
    r = sign_in(Client(), "x@x.test", "wrong", client_ip="203.0.113.5", sent="192.0.2.99")
    assert r.status_code == 429


def test_the_lockout_of_one_address_is_a_429_that_says_when_and_how_to_get_in(behind_one_proxy):
    signed_up("grace@example.org")
    for n in range(5):  # five wrong passwords for one address, from anywhere
        sign_in(Client(), "grace@example.org", "wrong", client_ip=f"203.0.113.{n}")

    web = Client()
    r = sign_in(web, "grace@example.org", PASSWORD, client_ip="198.51.100.7")

    assert r.status_code == 429
    retry_after = int(r["Retry-After"])
    assert 280 <= retry_after <= 300
    html = r.content.decode()
    assert f"Too many failed sign-in attempts. Try again {wait_in_words(retry_after)}." in html
    assert "in about 5 minutes" in html
    assert "You are not signed in: the password was not checked this time." in html
    assert 'href="/accounts/password/reset/"' in html
    assert 'href="/accounts/login/">Back to sign in</a>' in html
    assert "_auth_user_id" not in web.session


def test_allauths_other_limits_answer_with_the_same_page(settings):
    """allauth answers its other limits (sign-ups, sign-ins, password resets per client)
    through the root URLconf's handler429: named, it says when and leads back."""
    settings.ACCOUNT_RATE_LIMITS = {"signup": "1/m/ip"}
    web = Client()
    new = {
        "email": "new@example.org",
        "password1": "a long passphrase",
        "password2": "a long passphrase",
    }
    assert web.post("/accounts/signup/", new).status_code == 302

    r = Client().post("/accounts/signup/", {**new, "email": "other@example.org"})

    assert r.status_code == 429
    retry_after = int(r["Retry-After"])
    assert 1 <= retry_after <= 60
    html = r.content.decode()
    assert f"Too many requests. Try again {wait_in_words(retry_after)}." in html
    assert "Nothing was done: send it again then." in html
    assert 'href="/accounts/signup/">Back</a>' in html


def test_a_password_reset_over_its_limit_per_address_says_when(settings):
    settings.ACCOUNT_RATE_LIMITS = {"reset_password": "20/m/ip,1/m/key"}
    signed_up("ada@example.org")
    assert (
        Client().post("/accounts/password/reset/", {"email": "ada@example.org"}).status_code == 302
    )
    r = Client().post("/accounts/password/reset/", {"email": " ADA@example.org"})
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 60
    assert len(mail.outbox) == 1
    assert re.search(r"Try again in \d+ seconds?\.", r.content.decode())
