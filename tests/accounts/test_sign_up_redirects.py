"""Where a newcomer lands after signing up and confirming their e-mail address: the licence
step, which leads on to Contribute. Through allauth's own pages; the confirmation e-mail is
read from Django's mail outbox."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail
from django.test import Client

from apps.accounts import selectors
from apps.accounts.models import User

pytestmark = pytest.mark.django_db

EMAIL = "newcomer@example.org"
PASSWORD = "a long and unusual passphrase 42"
LICENCE_THEN_CONTRIBUTE = "/licence/?next=%2Fcontribute%2F"


def sign_up(client: Client) -> str:
    """Sign up on the page; the path of the confirmation link that arrives by e-mail."""
    r = client.post(
        "/accounts/signup/", {"email": EMAIL, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert (r.status_code, r["Location"]) == (302, "/accounts/confirm-email/")
    assert len(mail.outbox) == 1
    match = re.search(r"https?://\S+(/accounts/confirm-email/[-:\w]+/)", str(mail.outbox[0].body))
    assert match, mail.outbox[0].body
    return urlsplit(match.group(0)).path


def confirm(client: Client, path: str) -> str:
    assert client.get(path).status_code == 200
    r = client.post(path)
    assert r.status_code == 302
    assert EmailAddress.objects.get(email=EMAIL).verified
    return str(r["Location"])


def test_confirming_the_email_leads_to_the_licence_and_then_to_contribute():
    client = Client()
    path = sign_up(client)
    assert confirm(client, path) == LICENCE_THEN_CONTRIBUTE

    page = client.get(LICENCE_THEN_CONTRIBUTE)
    assert page.status_code == 200
    assert page.context["user"].email == EMAIL  # signed in by the confirmation
    assert 'name="next" value="/contribute/"' in page.content.decode()
    r = client.post(LICENCE_THEN_CONTRIBUTE, {"agree": "on", "next": "/contribute/"})
    assert (r.status_code, r["Location"]) == (302, "/contribute/")
    assert selectors.licence_accepted(user=User.objects.get(email=EMAIL))
    # Contribute hands the newcomer a task now, rather than sending them back to the licence.
    assert client.get("/contribute/")["Location"].startswith("/contribute/")


def test_a_sign_up_that_named_a_page_goes_on_to_it():
    client = Client()
    r = client.post(
        "/accounts/signup/?next=/write/",
        {"email": EMAIL, "password1": PASSWORD, "password2": PASSWORD, "next": "/write/"},
    )
    assert r.status_code == 302
    path = re.search(r"/accounts/confirm-email/[-:\w]+/", str(mail.outbox[0].body))
    assert path
    # /write/ then asks for the licence itself, and comes back to Write after it.
    assert confirm(client, path.group(0)) == "/write/"


def test_confirming_in_another_browser_asks_to_sign_in_then_leads_to_the_licence():
    path = sign_up(Client())
    other = Client()
    location = confirm(other, path)
    assert location == "/accounts/login/?next=%2Flicence%2F%3Fnext%3D%252Fcontribute%252F"
    r = other.post(location, {"login": EMAIL, "password": PASSWORD})
    assert (r.status_code, r["Location"]) == (302, LICENCE_THEN_CONTRIBUTE)


def test_a_volunteer_who_accepted_the_licence_goes_straight_to_contribute(volunteer):
    client = Client()
    client.force_login(volunteer)
    address = EmailAddress.objects.create(user=volunteer, email=volunteer.email, primary=True)
    key = EmailConfirmationHMAC(address).key
    r = client.post(f"/accounts/confirm-email/{key}/")
    assert (r.status_code, r["Location"]) == (302, "/contribute/")
