"""The People page: moderators find any account and ban or unban it there, without a flagged
item (operator QA: a ban was only offered from the queue)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.services import model_author
from apps.moderation.models import ModerationAction
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def people(html: str) -> list[str]:
    return re.findall(
        r'data-testid="person">\s*<p class="row">\s*<strong dir="auto">([^<]+)<', html
    )


def test_moderators_find_people_by_name_email_or_id_and_see_their_work(moderator):
    spammer = UserFactory(display_name="Pill Seller", email="pills@spam.example")
    PromptFactory(author=spammer)
    ResponseFactory(author=spammer)
    ResponseFactory(author=spammer)
    UserFactory(display_name="Grace Hopper", email="grace@example.org")
    model_author()  # the account model-written answers are filed under is nobody to ban
    client = web(moderator)
    everyone = client.get("/moderation/people/").content.decode()
    assert "Pill Seller" in people(everyone) and "Grace Hopper" in people(everyone)
    assert not any("model" in name.lower() for name in people(everyone))

    for search in ("pill", "SPAM.example", f"#{spammer.pk}"):
        html = client.get("/moderation/people/", {"q": search}).content.decode()
        assert people(html) == ["Pill Seller"], search
        assert "1 prompt · 2 answers" in html
    html = client.get("/moderation/people/", {"q": "nobody-like-this"}).content.decode()
    assert people(html) == [] and "No account matches “nobody-like-this”." in html


def test_a_ban_and_an_unban_from_the_page_come_back_to_the_same_search(moderator):
    spammer = UserFactory(display_name="Pill Seller")
    client = web(moderator)
    r = client.post(
        f"/moderation/user/{spammer.pk}/ban/?q=pill",
        {"reason": "Spam links in every answer", "back": "people"},
    )
    assert r.status_code == 302 and r["Location"] == "/moderation/people/?q=pill"
    assert (
        "Pill Seller is banned; it is in the audit log."
        in client.get(r["Location"]).content.decode()
    )
    spammer.refresh_from_db()
    assert spammer.banned_at is not None and spammer.ban_reason == "Spam links in every answer"
    html = client.get("/moderation/people/?q=pill").content.decode()
    assert "Banned" in html and "Spam links in every answer" in html and ">Unban<" in html
    assert ModerationAction.objects.filter(subject=spammer, action="ban").exists()

    r = client.post(f"/moderation/user/{spammer.pk}/unban/?q=pill", {"back": "people"})
    assert r.status_code == 302
    spammer.refresh_from_db()
    assert spammer.banned_at is None


def test_no_ban_is_offered_that_could_only_be_refused_and_roles_are_shown(moderator, maintainer):
    client = web(moderator)
    html = client.get("/moderation/people/").content.decode()
    assert f'id="ban-reason-{maintainer.pk}"' not in html
    assert f'id="ban-reason-{moderator.pk}"' not in html
    assert "Only an administrator may ban a moderator or a maintainer." in html
    assert "This is you." in html
    assert '<span class="badge">Maintainer</span>' in html
    # Sent anyway, the service refuses it, and the page says why.
    r = client.post(f"/moderation/user/{maintainer.pk}/ban/", {"reason": "Nope", "back": "people"})
    assert r.status_code == 403
    assert "Only an administrator may ban a maintainer." in r.content.decode()
    maintainer.refresh_from_db()
    assert maintainer.banned_at is None


def test_a_ban_without_a_reason_comes_back_with_its_field_marked(moderator):
    someone = UserFactory()
    r = web(moderator).post(f"/moderation/user/{someone.pk}/ban/", {"reason": "", "back": "people"})
    assert r.status_code == 400
    field = re.search(rf'<input[^>]*id="ban-reason-{someone.pk}"[^>]*>', r.content.decode())
    assert field is not None and 'aria-invalid="true"' in field[0]
    someone.refresh_from_db()
    assert someone.banned_at is None


def test_only_moderators_open_it(volunteer):
    assert web(volunteer).get("/moderation/people/").status_code == 403
    r = Client().get("/moderation/people/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
