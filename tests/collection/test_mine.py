"""My contributions (/mine/): for a suspended author, one notice saying why, in the Write
page's words, no Edit link that would only lead to a refusal, and Withdraw still works; and
both lists (the author's prompts, their answers to other people's prompts) paged and filtered
by state, each on its own."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from apps.collection import selectors
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.community.selectors import impact_for_user
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


def _answers_to_others(author, other, n: int, **fields) -> list[Response]:
    """``n`` answers by ``author`` to ``other``'s prompts, oldest first."""
    return [
        ResponseFactory(author=author, prompt=PromptFactory(author=other), **fields)
        for _ in range(n)
    ]


def _listed_answers(html: str) -> list[int]:
    section = html.split('id="your-answers"', 1)[1]
    return [int(pk) for pk in section.split('data-response-id="')[1:] for pk in [pk.split('"')[0]]]


def _listed_prompts(html: str) -> list[int]:
    section = html.split('id="your-prompts"', 1)[1].split('id="your-answers"', 1)[0]
    return [int(pk) for pk in section.split('data-prompt-id="')[1:] for pk in [pk.split('"')[0]]]


def test_every_answer_to_other_peoples_prompts_is_on_a_page_newest_first(volunteer, volunteer2):
    answers = _answers_to_others(volunteer, volunteer2, 30)
    newest_first = [a.pk for a in reversed(answers)]
    web = _web(volunteer)

    first = web.get("/mine/").content.decode()
    assert _listed_answers(first) == newest_first[:25]
    assert '<nav class="pagination" aria-label="Pages of your answers">' in first
    assert 'href="/mine/?answer_page=2#your-answers" rel="next"' in first
    assert "Page 1 of 2" in first

    second = web.get("/mine/", {"answer_page": 2}).content.decode()
    assert _listed_answers(second) == newest_first[25:]
    assert 'href="/mine/?answer_page=1#your-answers" rel="prev"' in second
    # Past the last page: the last page, as the prompts' list does.
    assert (
        _listed_answers(web.get("/mine/", {"answer_page": 9}).content.decode())
        == (newest_first[25:])
    )


def test_the_two_lists_page_on_their_own(volunteer, volunteer2):
    prompts = [PromptFactory(author=volunteer, state=PromptState.REVIEW) for _ in range(27)]
    answers = _answers_to_others(volunteer, volunteer2, 27)
    web = _web(volunteer)

    html = web.get("/mine/", {"page": 2}).content.decode()
    assert _listed_prompts(html) == [p.pk for p in reversed(prompts[:2])]
    assert _listed_answers(html) == [a.pk for a in reversed(answers[2:])]
    # Paging the answers keeps the prompts' page, and the other way round.
    assert 'href="/mine/?page=2&amp;answer_page=2#your-answers" rel="next"' in html
    assert '<nav class="pagination" aria-label="Pages of your prompts">' in html
    assert 'href="/mine/?page=1#your-prompts" rel="prev"' in html

    both = web.get("/mine/", {"page": 2, "answer_page": 2}).content.decode()
    assert _listed_prompts(both) == [p.pk for p in reversed(prompts[:2])]
    assert _listed_answers(both) == [a.pk for a in reversed(answers[:2])]


@pytest.fixture
def answers_in_every_state(volunteer, volunteer2) -> dict[str, Response]:
    now = timezone.now()
    return {
        "review": ResponseFactory(
            author=volunteer, prompt=PromptFactory(author=volunteer2), state=ResponseState.REVIEW
        ),
        "accepted": ResponseFactory(author=volunteer, prompt=PromptFactory(author=volunteer2)),
        "rejected": ResponseFactory(
            author=volunteer, prompt=PromptFactory(author=volunteer2), state=ResponseState.REJECTED
        ),
        "withdrawn": ResponseFactory(
            author=volunteer, prompt=PromptFactory(author=volunteer2), withdrawn_at=now
        ),
        "hidden": ResponseFactory(
            author=volunteer, prompt=PromptFactory(author=volunteer2), hidden_at=now
        ),
    }


def test_the_answers_are_filtered_by_the_state_their_badge_shows(volunteer, answers_in_every_state):
    web = _web(volunteer)
    for state in ("review", "accepted", "rejected", "withdrawn"):
        html = web.get("/mine/", {"answer_state": state}).content.decode()
        assert _listed_answers(html) == [answers_in_every_state[state].pk], state
    # Hidden work shows under All only (and All is every answer, newest first).
    everything = [a.pk for a in reversed(answers_in_every_state.values())]
    assert _listed_answers(web.get("/mine/").content.decode()) == everything
    assert _listed_answers(web.get("/mine/", {"answer_state": "nonsense"}).content.decode()) == (
        everything
    )


def test_the_prompts_are_filtered_by_the_state_their_badge_shows(volunteer):
    now = timezone.now()
    review = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    accepted = [
        PromptFactory(author=volunteer, state=state)
        for state in (PromptState.COLLECTING, PromptState.RANKING, PromptState.COMPLETE)
    ]
    rejected = PromptFactory(author=volunteer, state=PromptState.REJECTED)
    withdrawn = PromptFactory(author=volunteer, state=PromptState.REVIEW, withdrawn_at=now)
    halted = PromptFactory(author=volunteer, state=PromptState.HALTED)
    hidden = PromptFactory(author=volunteer, hidden_at=now)
    web = _web(volunteer)

    def listed(state: str) -> list[int]:
        return _listed_prompts(web.get("/mine/", {"prompt_state": state}).content.decode())

    assert listed("review") == [review.pk]
    assert listed("accepted") == [p.pk for p in reversed(accepted)]
    assert listed("rejected") == [rejected.pk]
    assert listed("withdrawn") == [withdrawn.pk]
    assert listed("") == [p.pk for p in Prompt.objects.filter(author=volunteer)]
    assert {halted.pk, hidden.pk} <= set(listed(""))


def test_the_accepted_filter_says_which_badges_it_covers(volunteer):
    PromptFactory(author=volunteer, state=PromptState.COLLECTING)
    web = _web(volunteer)
    note = 'data-testid="accepted-prompts-note"'
    accepted = web.get("/mine/", {"prompt_state": "accepted"}).content.decode()
    assert note in accepted
    assert "collecting answers, being ranked or complete" in accepted
    assert note not in web.get("/mine/").content.decode()
    assert note not in web.get("/mine/", {"prompt_state": "review"}).content.decode()


def test_a_filter_link_keeps_the_other_lists_place_and_starts_its_own_list_again(
    volunteer, answers_in_every_state
):
    PromptFactory(author=volunteer, state=PromptState.REVIEW)
    html = (
        _web(volunteer)
        .get("/mine/", {"page": 1, "prompt_state": "review", "answer_page": 1})
        .content.decode()
    )
    assert '<nav class="state-filter" aria-label="Show your answers">' in html
    assert (
        '<a href="/mine/?page=1&amp;prompt_state=review&amp;answer_state=rejected#your-answers">'
        "Rejected</a>" in html
    )
    assert (
        '<a href="/mine/?page=1&amp;prompt_state=review#your-answers" aria-current="true">All</a>'
        in html
    )
    assert '<nav class="state-filter" aria-label="Show your prompts">' in html
    assert (
        '<a href="/mine/?answer_page=1&amp;prompt_state=review#your-prompts" aria-current="true">'
        "In review</a>" in html
    )
    assert '<a href="/mine/?answer_page=1#your-prompts">All</a>' in html


def test_a_filter_that_matches_nothing_says_so_and_offers_everything(volunteer, volunteer2):
    PromptFactory(author=volunteer, state=PromptState.REVIEW)
    _answers_to_others(volunteer, volunteer2, 1, state=ResponseState.REVIEW)
    web = _web(volunteer)

    html = web.get("/mine/", {"answer_state": "rejected"}).content.decode()
    assert "None of your answers is in this state." in html
    assert '<a href="/mine/#your-answers">Show all your answers</a>' in html
    assert "You have not written anything yet." not in html

    html = web.get("/mine/", {"prompt_state": "withdrawn"}).content.decode()
    assert "None of your prompts is in this state." in html
    assert '<a href="/mine/#your-prompts">Show all your prompts</a>' in html


def test_someone_without_answers_to_others_gets_no_answers_list(volunteer):
    PromptFactory(author=volunteer, state=PromptState.REVIEW)
    html = _web(volunteer).get("/mine/").content.decode()
    assert 'id="your-prompts"' in html
    assert 'id="your-answers"' not in html
    assert "Answers to other people&#x27;s prompts" not in html


def test_withdrawing_from_a_page_comes_back_to_the_same_pages_and_filters(volunteer, volunteer2):
    answers = _answers_to_others(volunteer, volunteer2, 27, state=ResponseState.REVIEW)
    web = _web(volunteer)
    html = web.get("/mine/", {"answer_page": 2, "answer_state": "review"}).content.decode()
    action = f'action="/responses/{answers[0].pk}/withdraw/?answer_page=2&amp;answer_state=review"'
    assert action in html

    r = web.post(
        f"/responses/{answers[0].pk}/withdraw/?answer_page=2&answer_state=review&next=//evil",
        follow=True,
    )
    assert r.redirect_chain == [("/mine/?answer_page=2&answer_state=review", 302)]
    page = r.content.decode()
    assert "Withdrawn. It is hidden now and will never enter a release." in page
    # Withdrawn, it left the "in review" list; the one after it is still on page 2.
    assert _listed_answers(page) == [answers[1].pk]


def test_each_edit_and_withdraw_is_described_by_the_work_it_acts_on(volunteer, work):
    """Many "Withdraw" buttons on one page: each points (aria-describedby) at the text of
    its own prompt or answer, so a screen reader can tell them apart."""
    own, own_answer, answer = work
    html = _web(volunteer).get("/mine/").content.decode()
    described = re.findall(
        r'<(?:a|button)[^>]*aria-describedby="([^"]+)"[^>]*>\s*(Edit answer|Edit prompt|Edit|Withdraw answer|Withdraw prompt|Withdraw)<',
        html,
    )
    assert sorted(described) == sorted(
        [
            (f"mine-answer-{own_answer.pk}", "Edit answer"),
            (f"mine-answer-{own_answer.pk}", "Withdraw answer"),
            (f"mine-prompt-{own.pk}", "Edit prompt"),
            (f"mine-prompt-{own.pk}", "Withdraw prompt"),
            (f"mine-answer-{answer.pk}", "Edit"),
            (f"mine-answer-{answer.pk}", "Withdraw"),
        ]
    )
    for target, _label in described:
        assert html.count(f'id="{target}"') == 1


def _leave(prompt: Prompt, how: str) -> None:
    """Take ``prompt`` out of public view: withdrawn, hidden, or its author banned."""
    if how == "withdrawn":
        Prompt.objects.filter(pk=prompt.pk).update(withdrawn_at=timezone.now())
    elif how == "hidden":
        Prompt.objects.filter(pk=prompt.pk).update(hidden_at=timezone.now())
    else:
        _ban(prompt.author)


@pytest.mark.parametrize("leaves", ["withdrawn", "hidden", "author banned"])
def test_an_answer_to_a_prompt_that_left_no_longer_shows_that_prompt(volunteer, volunteer2, leaves):
    """Security QA: My contributions went on showing the first 100 characters of another
    person's prompt after they withdrew it (or deleted their account), linked to a 404."""
    prompt = PromptFactory(
        author=volunteer2, state=PromptState.COLLECTING, instruction="Grace's private musing?"
    )
    answer = ResponseFactory(author=volunteer, prompt=prompt, state=ResponseState.ACCEPTED)
    page = _web(volunteer).get("/mine/").content.decode()
    assert "Grace&#x27;s private musing?" in page
    _leave(prompt, leaves)
    page = _web(volunteer).get("/mine/").content.decode()
    assert "private musing" not in page and f'href="/prompts/{prompt.pk}/"' not in page
    assert "A prompt that is no longer public" in page
    assert answer.text in page  # their own answer stays theirs


@pytest.mark.parametrize(
    ("leaves", "badge"),
    [
        ("withdrawn", "Not reviewed: its prompt was withdrawn"),
        ("hidden", "On hold: its prompt is not public now"),
        ("author banned", "On hold: its prompt is not public now"),
    ],
)
def test_an_answer_in_review_under_a_prompt_that_left_says_why_and_is_not_pending(
    volunteer, volunteer2, leaves, badge
):
    """UX QA: an answer in review whose prompt its author withdrew stayed "In review", and
    counted on the author's panel as waiting for reviewers, for ever (no reviewer is given
    an answer under a prompt that is withdrawn, hidden or by a banned author)."""
    prompt = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    answer = ResponseFactory(author=volunteer, prompt=prompt, state=ResponseState.REVIEW)
    page = _web(volunteer).get("/mine/").content.decode()
    assert "In review" in page and badge not in page
    assert "1 more is in review" in page
    _leave(prompt, leaves)
    page = _web(volunteer).get("/mine/").content.decode()
    assert badge in page
    assert "more is in review" not in page
    assert answer.text in page
    impact = impact_for_user(user=volunteer)
    assert impact.answers_in_review == 0
    # Writing it still showed up that day: the chart and the streak keep it.
    assert impact.days[-1].count == 1 and impact.current_streak == 1
