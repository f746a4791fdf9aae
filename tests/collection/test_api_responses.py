"""/api/v1/prompts/{id}/responses/, /api/v1/responses/ and /api/v1/responses/{id}/."""

from __future__ import annotations

import pytest

from apps.collection.models import PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def test_a_volunteer_answers_a_collecting_prompt(api, volunteer):
    prompt = PromptFactory()
    r = api.post(
        f"/api/v1/prompts/{prompt.pk}/responses/", {"text": "Paris is the capital."}, format="json"
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    response = Response.objects.get()
    assert body["id"] == response.pk
    assert body["prompt_id"] == prompt.pk
    assert body["state"] == "review"
    assert body["author_name"] == "Ada"
    assert response.author == volunteer


def test_nobody_answers_the_same_prompt_twice(api):
    prompt = PromptFactory()
    api.post(f"/api/v1/prompts/{prompt.pk}/responses/", {"text": "First answer."}, format="json")
    r = api.post(
        f"/api/v1/prompts/{prompt.pk}/responses/", {"text": "Second answer."}, format="json"
    )
    assert r.status_code == 400
    assert r.json() == {"text": ["You have already answered this prompt."]}
    assert Response.objects.count() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", "The answer is required and cannot be only whitespace."),
        ("x" * 20001, "The answer is too long: at most 20,000 characters, got 20,001."),
    ],
)
def test_a_refused_answer_names_the_text_field_it_was_sent_in(api, volunteer, text, message):
    """The services call it "response" (the Write form's field); these endpoints' is "text"."""
    prompt = PromptFactory()
    r = api.post(f"/api/v1/prompts/{prompt.pk}/responses/", {"text": text}, format="json")
    assert (r.status_code, r.json()) == (400, {"text": [message]})
    mine = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    r = api.patch(f"/api/v1/responses/{mine.pk}/", {"text": text}, format="json")
    assert (r.status_code, r.json()) == (400, {"text": [message]})


def test_answering_a_prompt_that_is_not_collecting_is_409(api, volunteer):
    prompt = PromptFactory(state=PromptState.RANKING)
    r = api.post(f"/api/v1/prompts/{prompt.pk}/responses/", {"text": "Late answer."}, format="json")
    assert r.status_code == 409
    assert Response.objects.count() == 0


def test_answering_a_prompt_in_review_is_404_for_others(api2):
    prompt = PromptFactory(state=PromptState.REVIEW)
    r = api2.post(f"/api/v1/prompts/{prompt.pk}/responses/", {"text": "An answer."}, format="json")
    assert r.status_code == 404


def test_the_public_sees_only_accepted_answers(api_anon):
    prompt = PromptFactory()
    shown = ResponseFactory(prompt=prompt)
    ResponseFactory(prompt=prompt, state=ResponseState.REVIEW)
    ResponseFactory(prompt=prompt, withdrawn_at="2026-01-01T00:00:00Z")
    r = api_anon.get(f"/api/v1/prompts/{prompt.pk}/responses/")
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["results"]] == [shown.pk]


def test_my_responses_lists_only_mine(api, volunteer):
    mine = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    ResponseFactory()
    r = api.get("/api/v1/responses/")
    assert [x["id"] for x in r.json()["results"]] == [mine.pk]


def test_the_author_edits_an_answer_in_review(api, volunteer):
    response = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    r = api.patch(f"/api/v1/responses/{response.pk}/", {"text": "Better answer."}, format="json")
    assert r.status_code == 200
    response.refresh_from_db()
    assert response.text == "Better answer."


def test_editing_an_accepted_answer_is_409(api, volunteer):
    response = ResponseFactory(author=volunteer, state=ResponseState.ACCEPTED)
    r = api.patch(f"/api/v1/responses/{response.pk}/", {"text": "Changed."}, format="json")
    assert r.status_code == 409


def test_editing_someone_elses_visible_answer_is_403(api2):
    response = ResponseFactory()
    r = api2.patch(f"/api/v1/responses/{response.pk}/", {"text": "Vandalism."}, format="json")
    assert r.status_code == 403


def test_editing_someone_elses_answer_in_review_is_404(api2):
    response = ResponseFactory(state=ResponseState.REVIEW)
    r = api2.patch(f"/api/v1/responses/{response.pk}/", {"text": "Vandalism."}, format="json")
    assert r.status_code == 404


def test_the_author_withdraws_an_answer(api, volunteer):
    response = ResponseFactory(author=volunteer)
    r = api.post(f"/api/v1/responses/{response.pk}/withdraw/")
    assert r.status_code == 200
    response.refresh_from_db()
    assert response.withdrawn_at is not None


def test_withdrawing_someone_elses_answer_is_403(api2):
    response = ResponseFactory()
    r = api2.post(f"/api/v1/responses/{response.pk}/withdraw/")
    assert r.status_code == 403
    response.refresh_from_db()
    assert response.withdrawn_at is None
