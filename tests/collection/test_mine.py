"""My contributions (/mine/) for a suspended author: one notice saying why, in the Write
page's words; no Edit link that would only lead to a refusal; Withdraw still works."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from apps.collection import selectors
from apps.collection.models import PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

NOTICE = "Your account is suspended from contributing: copied answers from a chatbot"


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _ban(user, reason="copied answers from a chatbot"):
    user.banned_at = timezone.now()
    user.ban_reason = reason
    user.save()


@pytest.fixture
def work(volunteer, volunteer2):
    """Ada's prompt and her answer to it, and her answer to Grace's prompt, all in review."""
    own = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    own_answer = ResponseFactory(author=volunteer, prompt=own, state=ResponseState.REVIEW)
    theirs = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    answer = ResponseFactory(author=volunteer, prompt=theirs, state=ResponseState.REVIEW)
    return own, own_answer, answer


def test_an_author_in_good_standing_gets_edit_links_and_no_notice(volunteer, work):
    own, own_answer, answer = work
    html = _web(volunteer).get("/mine/").content.decode()
    assert "suspended" not in html
    assert f'href="/prompts/{own.pk}/edit/"' in html
    assert f'href="/responses/{own_answer.pk}/edit/"' in html
    assert f'href="/responses/{answer.pk}/edit/"' in html


def test_a_suspended_author_gets_one_notice_and_no_edit_links(volunteer, work):
    own, own_answer, answer = work
    _ban(volunteer)
    r = _web(volunteer).get("/mine/")
    assert r.status_code == 200
    html = r.content.decode()
    assert html.count("suspended from contributing") == 1
    assert f"<p>{NOTICE}</p>" in html
    assert "you can still withdraw them." in html
    assert "/edit/" not in html
    assert ">Edit" not in html
    for action in (
        f'action="/prompts/{own.pk}/withdraw/"',
        f'action="/responses/{own_answer.pk}/withdraw/"',
        f'action="/responses/{answer.pk}/withdraw/"',
    ):
        assert action in html


def test_the_notice_without_a_reason_says_whom_to_ask(volunteer):
    _ban(volunteer, reason="")
    html = _web(volunteer).get("/mine/").content.decode()
    assert "Your account is suspended from contributing: contact the moderators." in html
    # Nothing written yet, but no invitation to write either: the Write page would refuse.
    assert "You have not written anything yet." in html
    assert 'href="/write/"' not in html.split("<main", 1)[1]


def test_a_suspended_author_withdraws_their_work_from_the_page(volunteer, work):
    own, _own_answer, answer = work
    _ban(volunteer)
    web = _web(volunteer)
    for url in (f"/responses/{answer.pk}/withdraw/", f"/prompts/{own.pk}/withdraw/"):
        r = web.post(url, follow=True)
        assert r.redirect_chain == [("/mine/", 302)]
        assert "Withdrawn. It is hidden now and will never enter a release." in r.content.decode()
    own.refresh_from_db()
    answer.refresh_from_db()
    assert own.withdrawn_at is not None and answer.withdrawn_at is not None
    html = web.get("/mine/").content.decode()
    assert f'action="/prompts/{own.pk}/withdraw/"' not in html
    assert f'action="/responses/{answer.pk}/withdraw/"' not in html


def test_the_page_reads_only_the_authors_own_answers_to_their_prompts(volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer, state=PromptState.COLLECTING)
    own = ResponseFactory(author=volunteer, prompt=prompt, state=ResponseState.ACCEPTED)
    ResponseFactory(author=volunteer2, prompt=prompt, state=ResponseState.REJECTED)

    (listed,) = selectors.prompt_list_with_own_answers(user=volunteer)

    assert list(listed.responses.all()) == [own]
    page = _web(volunteer).get("/mine/")
    assert page.status_code == 200
    assert [r for p in page.context["prompts"] for r in p.responses.all()] == [own]
