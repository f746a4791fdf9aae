"""Profile, tokens and sign-up pages."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from apps.accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


def test_the_profile_saves_name_languages_and_attribution(web, volunteer):
    r = web.post(
        "/profile/", {"display_name": "Ada L", "languages": "en, pt-br", "attribution": "on"}
    )
    assert r.status_code == 302
    volunteer.refresh_from_db()
    assert (volunteer.display_name, volunteer.languages, volunteer.attribution) == (
        "Ada L",
        ["en", "pt-BR"],
        True,
    )


def test_the_profile_shows_the_leaderboard_box_ticked_and_saves_it_unticked(web, volunteer):
    html = web.get("/profile/").content.decode()
    assert (
        '<input type="checkbox" name="on_leaderboard" aria-describedby="id_on_leaderboard_helptext"'
        ' id="id_on_leaderboard" checked>' in html
    )
    assert '<label for="id_on_leaderboard">Show me on the Community leaderboard</label>' in html
    r = web.post("/profile/", {"display_name": "Ada", "languages": "en"})
    assert r.status_code == 302
    volunteer.refresh_from_db()
    assert volunteer.on_leaderboard is False
    web.post("/profile/", {"display_name": "Ada", "languages": "en", "on_leaderboard": "on"})
    volunteer.refresh_from_db()
    assert volunteer.on_leaderboard is True


def test_the_profile_shows_a_bad_language_next_to_the_field(web, volunteer):
    r = web.post("/profile/", {"display_name": "Ada", "languages": "en, zz-!!"})
    assert r.status_code == 200
    assert "BCP-47" in r.content.decode()
    volunteer.refresh_from_db()
    assert volunteer.languages == ["en"]


def test_a_token_created_on_the_profile_is_shown_once(web):
    web.post("/profile/tokens/", {"name": "script"})
    first = web.get("/profile/").content.decode()
    key = re.search(r'data-testid="new-token">(hearth_[^<]+)<', first).group(1)
    assert ApiToken.objects.get().prefix == key[:13]
    second = web.get("/profile/").content.decode()
    assert key not in second


def test_revoking_a_token_from_the_profile(web):
    web.post("/profile/tokens/", {"name": "script"})
    token = ApiToken.objects.get()
    web.post(f"/profile/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_profile_lists_live_tokens_and_only_the_latest_revoked_ones(web, volunteer):
    """Revoked tokens are kept and add up (a script that makes a token for each run and
    revokes it after): the page lists the live ones and the five revoked last, and says how
    many older ones it leaves out, in the same queries however many there are."""
    from django.utils import timezone

    from tests.query_counts import queries

    def token(name: str, revoked: bool) -> None:
        ApiToken.objects.create(
            user=volunteer,
            name=name,
            prefix=f"hearth_{name}"[:13],
            key_hash=name,
            revoked_at=timezone.now() if revoked else None,
        )

    token("live-old", False)
    for n in range(30):
        token(f"gone-{n:02d}", True)
    token("live-new", False)
    counted = queries(lambda: web.get("/profile/"))
    for n in range(30, 60):
        token(f"gone-{n:02d}", True)
    assert queries(lambda: web.get("/profile/")) == counted
    page = web.get("/profile/").content.decode()
    names = re.findall(r'<td data-label="Name">([^<]+)</td>', page)
    assert names == ["live-new", "live-old", "gone-59", "gone-58", "gone-57", "gone-56", "gone-55"]
    assert "55 older revoked tokens are not listed." in page


def test_sign_up_sends_a_verification_email_and_makes_a_volunteer(client):
    r = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.org",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert r.status_code == 302
    user = User.objects.get(email="new@example.org")
    assert list(user.groups.values_list("name", flat=True)) == ["volunteer"]
    assert len(mail.outbox) == 1
    assert "/accounts/confirm-email/" in mail.outbox[0].body


def test_the_account_messages_name_a_person_by_name_or_email_never_a_username(client):
    """QA: "Successfully signed in as qa-newbie-16609" and "…for user qa-newbie-16609" in the
    confirmation e-mail: allauth named people by their address's local part, a username
    that Hearth does not have."""
    client.post(
        "/accounts/signup/",
        {
            "email": "qa-newbie@example.org",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    body = mail.outbox[0].body
    assert "qa-newbie@example.org" in body and "user qa-newbie " not in body
    key = re.search(r"/accounts/confirm-email/([^/\s]+)/", body).group(1)
    confirmed = client.post(f"/accounts/confirm-email/{key}/", follow=True)
    shown = [str(m) for m in confirmed.context["messages"]]
    assert "Successfully signed in as qa-newbie@example.org." in shown
    user = User.objects.get(email="qa-newbie@example.org")
    user.display_name = "Ada"
    user.save()
    client.post("/accounts/logout/")
    signed_in = client.post(
        "/accounts/login/",
        {"login": "qa-newbie@example.org", "password": "a long enough passphrase"},
        follow=True,
    )
    assert "Successfully signed in as Ada." in [str(m) for m in signed_in.context["messages"]]


def test_password_reset_sends_an_email(client, volunteer):
    r = client.post("/accounts/password/reset/", {"email": volunteer.email})
    assert r.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
