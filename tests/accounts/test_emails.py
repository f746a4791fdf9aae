"""Hearth's e-mails never carry a display name (QA security #2): the name is text any user
chooses, and adding an e-mail address sends Hearth's mail to any address, so "user Hearth
Security. Act now: http://evil.example/r has given your email address…" made the site a
phishing relay. A mail names the account by the address it goes to, when that is the
account's own, else as "Volunteer #12". A suspended account adds no addresses and has no
confirmation sent."""

from __future__ import annotations

import re
from pathlib import Path

import allauth
import pytest
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.core import context
from django.core import mail
from django.test import Client, RequestFactory
from django.utils import timezone

from apps.accounts.models import User

pytestmark = pytest.mark.django_db

LURE = "Act now http://evil.example/r"


@pytest.fixture
def lurer(volunteer):
    """A confirmed account whose display name was set (directly: the profile's checks are
    not what is tested here) to a lure."""
    User.objects.filter(pk=volunteer.pk).update(display_name=LURE)
    volunteer.refresh_from_db()
    EmailAddress.objects.create(user=volunteer, email=volunteer.email, verified=True, primary=True)
    return volunteer


def web_for(user) -> Client:
    web = Client()
    web.force_login(user)
    return web


def add_address(web: Client, email: str):
    return web.post("/accounts/email/", {"email": email, "action_add": ""})


def test_adding_an_address_names_the_account_by_its_number_only(lurer):
    r = add_address(web_for(lurer), "victim@example.org")
    assert r.status_code == 302

    [sent] = mail.outbox
    assert sent.to == ["victim@example.org"]
    assert f"because user Volunteer #{lurer.pk} has given your email address" in sent.body
    assert LURE not in sent.body + sent.subject
    assert lurer.email not in sent.body  # a stranger learns no address either


def test_the_page_the_link_opens_names_the_account_the_same_way(lurer):
    add_address(web_for(lurer), "victim@example.org")
    path = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[0].body).group(0)

    page = Client().get(path).content.decode()

    assert f"is an email address for user Volunteer #{lurer.pk}." in page
    assert LURE not in page


def test_a_sign_up_confirmation_names_the_account_by_the_address_it_goes_to(client):
    password = "a long enough passphrase"
    sent = {"email": "new@example.org", "password1": password, "password2": password}
    client.post("/accounts/signup/", sent)
    assert "because user new@example.org has given your email address" in mail.outbox[0].body


def every_mail_allauth_can_send() -> list[str]:
    root = Path(allauth.__file__).parent / "templates"
    found = []
    for folder in ("account/email", "socialaccount/email"):
        for path in sorted((root / folder).glob("*_message.txt")):
            if not path.name.startswith("base_"):
                found.append(f"{folder}/{path.name.removesuffix('_message.txt')}")
    return found


@pytest.mark.parametrize("template", every_mail_allauth_can_send())
@pytest.mark.parametrize("recipient", ["own", "stranger@example.org"])
def test_no_mail_allauth_sends_carries_the_display_name(lurer, template, recipient):
    """Every template, with every value allauth's mails are given, to the account's own
    address and to another."""
    request = RequestFactory().get("/")
    request.user = lurer
    values = {
        "user": lurer,
        "activate_url": "https://hearth.example.org/confirm/",
        "key": "k",
        "code": "123456",
        "password_reset_url": "https://hearth.example.org/reset/",
        "signup_url": "https://hearth.example.org/signup/",
        "email": lurer.email,
        "from_email": lurer.email,
        "to_email": "new@example.org",
        "deleted_email": "old@example.org",
        "provider": "Hugging Face",
        "ip": "203.0.113.5",
        "user_agent": "curl",
        "timestamp": timezone.now(),
    }
    with context.request_context(request):
        get_adapter(request).send_mail(
            template, lurer.email if recipient == "own" else recipient, values
        )

    [sent] = mail.outbox
    assert sent.body
    assert LURE not in sent.subject + sent.body


def test_a_suspended_account_cannot_add_an_address(lurer):
    User.objects.filter(pk=lurer.pk).update(banned_at=timezone.now(), ban_reason="spam")

    r = add_address(web_for(lurer), "victim@example.org")

    assert r.status_code == 200
    assert (
        "Your account is suspended: it cannot add email addresses or have confirmations sent."
        in r.content.decode()
    )
    assert mail.outbox == []
    assert not EmailAddress.objects.filter(email="victim@example.org").exists()


def test_a_suspended_account_cannot_have_a_confirmation_sent_again(lurer):
    EmailAddress.objects.create(user=lurer, email="victim@example.org", verified=False)
    User.objects.filter(pk=lurer.pk).update(banned_at=timezone.now(), ban_reason="spam")

    r = web_for(lurer).post("/accounts/email/", {"email": "victim@example.org", "action_send": ""})

    assert r.status_code == 403
    assert "it cannot add email addresses or have confirmations sent." in r.content.decode()
    assert mail.outbox == []


def test_an_account_in_good_standing_may_send_a_confirmation_again(lurer):
    EmailAddress.objects.create(user=lurer, email="second@example.org", verified=False)
    r = web_for(lurer).post("/accounts/email/", {"email": "second@example.org", "action_send": ""})
    assert r.status_code == 302
    assert [m.to for m in mail.outbox] == [["second@example.org"]]
