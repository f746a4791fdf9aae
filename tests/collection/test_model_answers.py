"""Model-written answers: a finished SFT run's answers join collecting prompts on top of the
answers people write, never twice, never after the prompt has moved on, and blind in ranking."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.hashers import is_password_usable
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import MODEL_AUTHOR_EMAIL, model_author
from apps.collection import flow
from apps.collection.models import Prompt, PromptState, Response, ResponseState, Source
from apps.collection.policy import current_policy
from apps.collection.services import (
    model_answers_add,
    prompts_for_model_answers,
    prompts_for_model_answers_count,
)
from apps.community.selectors import leaderboard
from apps.feedback import services as feedback
from apps.moderation import services as moderation
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db

CLEAN = {"labels": [], "quality": 4}


def _answer(prompt, text="A model's answer, in a few words."):
    return {"prompt_id": prompt.pk, "text": text}


def test_the_model_account_cannot_sign_in_and_is_made_once():
    author = model_author()
    assert author.email == MODEL_AUTHOR_EMAIL
    assert not author.is_active and not author.on_leaderboard
    assert not is_password_usable(author.password)
    assert model_author().pk == author.pk
    assert User.objects.filter(email=MODEL_AUTHOR_EMAIL).count() == 1


def test_nobody_signs_up_with_a_reserved_invalid_address(client):
    for email in (MODEL_AUTHOR_EMAIL, "someone@Example.INVALID"):
        r = client.post(
            "/accounts/signup/",
            {"email": email, "password1": "a long passphrase", "password2": "a long passphrase"},
        )
        assert r.status_code == 200
        assert "Use an email address that can receive mail." in r.content.decode()
    assert not User.objects.filter(email__iendswith="invalid").exists()


def test_a_model_answer_joins_on_top_of_the_answers_people_write(make_volunteer):
    policy = current_policy()
    prompt = PromptFactory(state=PromptState.COLLECTING)
    assert prompt.open_slots == policy.responses_to_collect == 3

    done = model_answers_add(answers=[_answer(prompt)], origin="run-7")

    assert (done.added, done.skipped) == (1, 0)
    answer = Response.objects.get(prompt=prompt)
    assert (answer.source, answer.state, answer.open_slots) == (
        Source.MODEL,
        ResponseState.ACCEPTED,
        0,
    )
    assert answer.author == model_author() and answer.origin == "run-7"
    assert answer.licence == prompt.licence
    prompt.refresh_from_db()
    # It took no person's place: three answers by people are still wanted.
    assert prompt.open_slots == 3 and flow.live_responses(prompt) == 0

    people = [
        ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=2) for _ in range(3)
    ]
    for person in people[:2]:
        for _ in range(2):
            feedback.response_review_create(
                reviewer=make_volunteer(), response=person, payload=CLEAN, policy=policy
            )
    prompt.refresh_from_db()
    # Two accepted answers by people and the model's: still collecting.
    assert prompt.state == PromptState.COLLECTING
    for _ in range(2):
        feedback.response_review_create(
            reviewer=make_volunteer(), response=people[2], payload=CLEAN, policy=policy
        )
    prompt.refresh_from_db()
    assert prompt.state == PromptState.RANKING
    ranked = [r.pk for r in feedback.rankable_responses(prompt)]
    assert ranked == sorted([answer.pk, *(p.pk for p in people)])


def test_the_same_answers_again_or_another_models_add_nothing():
    prompt = PromptFactory(state=PromptState.COLLECTING)
    assert model_answers_add(answers=[_answer(prompt)], origin="run-1").added == 1
    again = model_answers_add(answers=[_answer(prompt)], origin="run-1")
    other = model_answers_add(answers=[_answer(prompt, "Another model's words.")], origin="run-2")
    assert (again.added, again.skipped, other.added, other.skipped) == (0, 1, 0, 1)
    assert Response.objects.filter(prompt=prompt).count() == 1


def test_only_a_collecting_live_prompt_takes_one_and_bad_answers_are_skipped(settings):
    waiting = PromptFactory(state=PromptState.COLLECTING)
    ranking = PromptFactory(state=PromptState.RANKING)
    halted = PromptFactory(state=PromptState.HALTED)
    hidden = PromptFactory(state=PromptState.COLLECTING, hidden_at=timezone.now())
    withdrawn = PromptFactory(state=PromptState.COLLECTING, withdrawn_at=timezone.now())
    banned = PromptFactory(
        state=PromptState.COLLECTING, author=UserFactory(banned_at=timezone.now())
    )
    answers = [
        _answer(ranking),
        _answer(halted),
        _answer(hidden),
        _answer(withdrawn),
        _answer(banned),
        {"prompt_id": 10**9, "text": "No such prompt."},
        {"prompt_id": True, "text": "Not an id."},
        "not an object",
        _answer(waiting, "   "),
        _answer(waiting, waiting.instruction),
        _answer(waiting, "x" * (settings.HEARTH_RESPONSE_MAX_CHARS + 1)),
        _answer(waiting, 42),
        _answer(waiting),
    ]
    done = model_answers_add(answers=answers, origin="run-3")
    assert (done.added, done.skipped) == (1, len(answers) - 1)
    assert list(Response.objects.values_list("prompt_id", "text")) == [
        (waiting.pk, "A model's answer, in a few words.")
    ]


def test_hiding_a_model_answer_gives_no_place_back(moderator):
    prompt = PromptFactory(state=PromptState.COLLECTING)
    model_answers_add(answers=[_answer(prompt)], origin="run-4")
    person = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    prompt.open_slots = 2  # the person's answer took one
    prompt.save(update_fields=["open_slots"])

    model_answer = Response.objects.get(prompt=prompt, source=Source.MODEL)
    moderation.content_hide(moderator=moderator, target=model_answer, reason="Off topic.")
    prompt.refresh_from_db()
    assert prompt.open_slots == 2
    moderation.content_hide(moderator=moderator, target=person, reason="Spam.")
    prompt.refresh_from_db()
    assert prompt.open_slots == 3


def test_the_model_account_cannot_be_banned_a_moderator_hides_an_answer_instead(moderator, client):
    """A ban would hide every model-written answer, and each later run's, in silence."""
    from django.core.exceptions import ValidationError

    from apps.moderation.models import Flag

    prompt = PromptFactory(state=PromptState.COLLECTING)
    model_answers_add(answers=[_answer(prompt)], origin="run-5")
    answer = Response.objects.get(prompt=prompt, source=Source.MODEL)
    with pytest.raises(ValidationError, match="This account is not a person"):
        moderation.user_ban(moderator=moderator, user=model_author(), reason="Junk answers.")
    assert model_author().banned_at is None
    prompt.refresh_from_db()
    assert prompt.open_slots == 3
    assert feedback.rankable_responses(prompt) == [answer]

    # The queue says the answer is a model's and offers no ban of its "author".
    Flag.objects.create(reporter=UserFactory(), response=answer, reason="spam")
    client.force_login(moderator)
    page = client.get("/moderation/").content.decode()
    assert "written by a model (run-5), not a person" in page
    assert f"/moderation/user/{answer.author_id}/ban/" not in page
    assert f"/moderation/response/{answer.pk}/hide/" in page  # hiding it is offered


def test_prompts_waiting_for_a_model_answer_longest_waiting_first_in_the_languages():
    now = timezone.now()

    def waiting_since(days, **fields):
        prompt = PromptFactory(**fields)
        Prompt.objects.filter(pk=prompt.pk).update(created_at=now - dt.timedelta(days=days))
        return prompt

    answered = waiting_since(4, language="en")
    german = waiting_since(3, language="de")
    older = waiting_since(2, language="en")
    newer = waiting_since(0, language="en")
    waiting_since(5, language="en", state=PromptState.RANKING)
    model_answers_add(answers=[_answer(answered)], origin="run-6")

    assert prompts_for_model_answers(limit=10) == [german, older, newer]
    assert prompts_for_model_answers(limit=2, languages=["en"]) == [older, newer]
    assert prompts_for_model_answers(limit=1, languages=["en"]) == [older]
    assert prompts_for_model_answers_count() == 3
    assert prompts_for_model_answers_count(["de"]) == 1


def test_model_answers_count_for_nobody_on_the_leaderboard():
    prompt = PromptFactory(state=PromptState.COLLECTING)
    model_answers_add(answers=[_answer(prompt)], origin="run-8")
    board = leaderboard(period="all")
    assert model_author().pk not in {row.user_id for row in board}
