"""The Contribute page (/contribute/) through Django's test client on real PostgreSQL: every
task type renders and submits, skipping, the empty state, refusals shown as messages, the
licence gate, and a double submit that does its work once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from apps.assignments import forms as task_forms
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection import services as collection_services
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy
from apps.feedback.models import LABELS, Ranking, Review
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

CONTRIBUTE = "/contribute/"
TASK_URL = re.compile(r"^/contribute/(\d+)/(\?type=\w+)?$")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def open_task(client: Client, kind: str = "any"):
    """Follow /contribute/ to the task page: (assignment, its page's response)."""
    r = client.get(CONTRIBUTE, {"type": kind} if kind != "any" else {})
    assert r.status_code == 302, r.content[:500]
    match = TASK_URL.match(r["Location"])
    assert match, r["Location"]
    page = client.get(r["Location"])
    assert page.status_code == 200
    # The task's form and the skip form share a page: no id may appear twice on it.
    ids = re.findall(r'\sid="([^"]+)"', page.content.decode())
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    return Assignment.objects.get(pk=match.group(1)), page


def key_of(page) -> str:
    return page.context["form"]["idempotency_key"].value()


def message_texts(response) -> list[str]:
    """The messages queued so far (those not yet shown on a page)."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def prompt_in_review(author, instruction="Explain **photosynthesis** to a ten-year-old."):
    return collection_services.prompt_create(
        author=author,
        instruction=instruction,
        category="open_qa",
        language="en",
        response="Plants make food from light, water and air.",
    )


def prompt_in_ranking(make_volunteer, answers=3):
    prompt = PromptFactory(author=make_volunteer(), state=PromptState.RANKING)
    responses = [
        ResponseFactory(prompt=prompt, author=make_volunteer(), text=f"Answer *number* {n}.")
        for n in range(answers)
    ]
    return prompt, responses


# --- showing a task ---------------------------------------------------------------------------


def test_the_page_goes_to_the_open_task_instead_of_taking_another(volunteer):
    client = client_for(volunteer)
    first, _page = open_task(client, "write")
    again, page = open_task(client)
    assert again == first
    assert Assignment.objects.filter(user=volunteer).count() == 1
    assert "Held for you until" in page.content.decode()
    assert first.expires_at.strftime("%H:%M") in page.content.decode()


def test_every_review_label_has_its_one_line_explanation():
    assert {name for name, _label, _help in task_forms.LABEL_CHOICES} == set(LABELS)


# --- write -----------------------------------------------------------------------------------


def test_a_write_task_shows_the_write_page_cards_and_submits_a_prompt(volunteer):
    client = client_for(volunteer)
    assignment, page = open_task(client, "write")
    html = page.content.decode()
    assert assignment.task_type == TaskType.WRITE
    assert html.count('name="category"') == 8
    assert "needs context" in html and 'class="category-card"' in html
    assert "Skip this task" in html

    r = client.post(
        page.request["PATH_INFO"] + "?type=write",
        {
            "idempotency_key": key_of(page),
            "category": "brainstorming",
            "instruction": "List three uses for a paperclip.",
            "context": "",
            "response": "Hold papers, reset a router, make a tiny hook.",
            "language": "en",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/contribute/?type=write"
    assert message_texts(r) == ["Thank you! Your prompt and answer are now in review."]
    prompt = Prompt.objects.get(author=volunteer)
    assert prompt.state == PromptState.REVIEW
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SUBMITTED
    assert assignment.result == {"prompt_id": prompt.pk}


def test_a_write_task_with_a_missing_context_keeps_the_text_and_names_the_field(volunteer):
    client = client_for(volunteer)
    assignment, page = open_task(client, "write")
    r = client.post(
        f"/contribute/{assignment.pk}/",
        {
            "idempotency_key": key_of(page),
            "category": "summarization",
            "instruction": "Summarise the text in one sentence.",
            "response": "It is short.",
            "language": "en",
        },
    )
    assert r.status_code == 200
    assert "context" in r.context["form"].errors
    assert "Summarise the text in one sentence." in r.content.decode()
    assert not Prompt.objects.exists()


# --- reviews ---------------------------------------------------------------------------------


def test_a_prompt_review_shows_markdown_labels_quality_and_the_rule_and_submits(
    volunteer, make_volunteer
):
    prompt = prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    assert (assignment.task_type, assignment.prompt_id) == (TaskType.REVIEW_PROMPT, prompt.pk)
    html = page.content.decode()
    assert "<strong>photosynthesis</strong>" in html
    for name in LABELS:
        assert f'name="labels" value="{name}"' in html
    assert "Answers copied from a chatbot are not allowed." in html
    assert html.count('name="quality"') == 5
    assert "it is accepted when more than 60% of its reviews tick none of these problems" in html
    assert "<legend>" in html and "Overall quality" in html

    r = client.post(
        f"/contribute/{assignment.pk}/?type=review",
        {"idempotency_key": key_of(page), "labels": ["pii", "wrong_category"], "quality": "3"},
    )
    assert r.status_code == 302 and r["Location"] == "/contribute/?type=review"
    assert message_texts(r) == ["Thank you! Your review is saved."]
    review = Review.objects.get(prompt=prompt)
    assert (review.reviewer, review.pii, review.wrong_category, review.spam, review.quality) == (
        volunteer,
        True,
        True,
        False,
        3,
    )


def test_a_review_without_a_quality_shows_the_error_and_keeps_the_ticked_labels(
    volunteer, make_volunteer
):
    prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    r = client.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "labels": ["spam"]}
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert "Rate the quality from 1 (poor) to 5 (excellent)." in html
    assert 'value="spam" id="id_labels_spam" aria-describedby="id_labels_spam_help" checked' in html
    assert not Review.objects.exists()
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.ACTIVE


def test_an_answer_review_shows_the_prompt_and_the_answer_and_submits(volunteer, make_volunteer):
    prompt = PromptFactory(author=make_volunteer(), instruction="Name a **blue** fruit.")
    answer = ResponseFactory(
        prompt=prompt,
        author=make_volunteer(),
        state=ResponseState.REVIEW,
        open_slots=2,
        text="The _blueberry_.",
    )
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    assert (assignment.task_type, assignment.response_id) == (TaskType.REVIEW_RESPONSE, answer.pk)
    html = page.content.decode()
    assert "<strong>blue</strong>" in html and "<em>blueberry</em>" in html
    assert "The answer to review" in html

    r = client.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "quality": "5"}
    )
    assert r.status_code == 302
    review = Review.objects.get(response=answer)
    assert (review.reviewer, review.quality, review.blocking_labels) == (volunteer, 5, [])


# --- respond ---------------------------------------------------------------------------------


def test_a_respond_task_takes_an_answer(volunteer, make_volunteer):
    prompt = PromptFactory(author=make_volunteer(), instruction="Why is the sea *salty*?")
    client = client_for(volunteer)
    assignment, page = open_task(client, "respond")
    assert (assignment.task_type, assignment.prompt_id) == (TaskType.RESPOND, prompt.pk)
    assert "<em>salty</em>" in page.content.decode()

    empty = client.post(f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page)})
    assert empty.status_code == 200 and "response" in empty.context["form"].errors

    r = client.post(
        f"/contribute/{assignment.pk}/?type=respond",
        {"idempotency_key": key_of(page), "response": "Rivers carry minerals into it."},
    )
    assert r.status_code == 302 and r["Location"] == "/contribute/?type=respond"
    assert message_texts(r) == ["Thank you! Your answer is now in review."]
    response = Response.objects.get(author=volunteer)
    assert (response.prompt, response.text, response.state) == (
        prompt,
        "Rivers carry minerals into it.",
        ResponseState.REVIEW,
    )


# --- rank ------------------------------------------------------------------------------------


def test_a_rank_task_lists_every_answer_and_takes_the_order_from_the_hidden_field(
    volunteer, make_volunteer
):
    prompt, responses = prompt_in_ranking(make_volunteer)
    client = client_for(volunteer)
    assignment, page = open_task(client, "rank")
    assert (assignment.task_type, assignment.prompt_id) == (TaskType.RANK, prompt.pk)
    html = page.content.decode()
    for response in responses:
        assert f'name="rank_{response.pk}"' in html
    assert html.count("<em>number</em>") == 3
    assert 'type="hidden" name="order"' in html
    assert "These answers are all unusable" in html
    assert "Keyboard shortcuts" in html and "<dialog" in html
    assert re.search(r"Rank of answer A", html)

    best_first = [r.pk for r in reversed(responses)]
    r = client.post(
        f"/contribute/{assignment.pk}/?type=rank",
        {"idempotency_key": key_of(page), "order": ",".join(map(str, best_first))},
    )
    assert r.status_code == 302, r.content[:2000]
    assert message_texts(r) == ["Thank you! Your ranking is saved."]
    ranking = Ranking.objects.get(prompt=prompt)
    assert (ranking.ranker, ranking.order, ranking.unusable) == (volunteer, best_first, False)


def test_without_javascript_the_rank_numbers_give_the_order(volunteer, make_volunteer):
    prompt, responses = prompt_in_ranking(make_volunteer)
    a, b, c = (r.pk for r in responses)
    client = client_for(volunteer)
    assignment, page = open_task(client, "rank")
    key = key_of(page)

    twice = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key, "order": "", f"rank_{a}": "1", f"rank_{b}": "1", f"rank_{c}": "3"},
    )
    assert twice.status_code == 200
    assert "Give each answer a different rank from 1 (best) to 3 (worst)." in twice.content.decode()
    assert not Ranking.objects.exists()

    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key, "order": "", f"rank_{a}": "2", f"rank_{b}": "3", f"rank_{c}": "1"},
    )
    assert r.status_code == 302
    assert Ranking.objects.get(prompt=prompt).order == [c, a, b]


def test_a_ranking_can_mark_every_answer_unusable(volunteer, make_volunteer):
    prompt, _responses = prompt_in_ranking(make_volunteer, answers=2)
    client = client_for(volunteer)
    assignment, page = open_task(client, "rank")
    r = client.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "unusable": "on"}
    )
    assert r.status_code == 302
    ranking = Ranking.objects.get(prompt=prompt)
    assert (ranking.order, ranking.unusable) == ([], True)


def test_an_order_that_leaves_out_an_answer_is_refused_on_the_page(volunteer, make_volunteer):
    _prompt, responses = prompt_in_ranking(make_volunteer)
    client = client_for(volunteer)
    assignment, page = open_task(client, "rank")
    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key_of(page), "order": f"{responses[0].pk},{responses[1].pk}"},
    )
    assert r.status_code == 200
    assert "Order every answer exactly once" in r.content.decode()
    assert not Ranking.objects.exists()


def test_an_answer_withdrawn_while_the_page_was_open_leaves_the_rest_of_the_order(
    volunteer, make_volunteer
):
    prompt, responses = prompt_in_ranking(make_volunteer)
    client = client_for(volunteer)
    assignment, page = open_task(client, "rank")
    gone = responses[1]
    collection_services.response_withdraw(response=gone, user=gone.author)
    best_first = [r.pk for r in reversed(responses)]
    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key_of(page), "order": ",".join(map(str, best_first))},
    )
    assert r.status_code == 302
    assert message_texts(r) == ["Thank you! Your ranking is saved."]
    assert Ranking.objects.get(prompt=prompt).order == [responses[2].pk, responses[0].pk]


# --- skip and nothing to do ------------------------------------------------------------------


def test_a_skipped_task_is_given_back_and_not_offered_again(volunteer, make_volunteer):
    prompt = prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    assert assignment.prompt_id == prompt.pk
    assert f'action="/contribute/{assignment.pk}/skip/?type=review"' in page.content.decode()

    r = client.post(
        f"/contribute/{assignment.pk}/skip/?type=review",
        {
            "idempotency_key": page.context["skip_form"]["idempotency_key"].value(),
            "reason": "unfamiliar",
            "note": "Too much biology for me.",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/contribute/?type=review"
    assert message_texts(r) == ["Skipped. You will not get that one again."]
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SKIPPED
    assert assignment.skip_reason == "unfamiliar: Too much biology for me."
    prompt.refresh_from_db()
    assert prompt.open_slots == 2

    # The only prompt waiting was the skipped one: nothing is offered.
    empty = client.get(r["Location"])
    assert empty.status_code == 200
    assert "Nothing is waiting for review right now." in empty.content.decode()
    assert Assignment.objects.filter(user=volunteer).count() == 1


def test_nothing_waiting_shows_an_empty_state_with_a_link_to_write(volunteer):
    r = client_for(volunteer).get(CONTRIBUTE, {"type": "rank"})
    assert r.status_code == 200
    html = r.content.decode()
    assert "No answers are waiting to be ranked right now." in html
    assert 'href="/write/"' in html and "Write a new prompt" in html
    assert not Assignment.objects.exists()


def test_an_unknown_kind_is_treated_as_any(volunteer):
    r = client_for(volunteer).get(CONTRIBUTE, {"type": "nonsense"})
    assert r.status_code == 302 and TASK_URL.match(r["Location"])


def test_holding_too_many_tasks_is_explained_with_links_to_them(volunteer, make_volunteer):
    policy = current_policy()
    policy.max_pending_assignments = 1
    policy.save()
    prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    held, _page = open_task(client, "review")
    r = client.get(CONTRIBUTE, {"type": "write"})
    assert r.status_code == 200
    assert message_texts(r) == ["You hold 1 open task: submit or skip it before taking another."]
    assert f'href="/contribute/{held.pk}/"' in r.content.decode()


# --- refusals --------------------------------------------------------------------------------


def test_someone_elses_task_gives_a_message_not_an_error(volunteer, volunteer2, make_volunteer):
    prompt_in_review(make_volunteer())
    theirs, _page = open_task(client_for(volunteer2), "review")
    client = client_for(volunteer)

    shown = client.get(f"/contribute/{theirs.pk}/")
    assert shown.status_code == 302 and shown["Location"] == CONTRIBUTE
    assert message_texts(shown) == [
        "That task is no longer open to you: it was submitted, skipped or it expired."
    ]
    r = client.post(f"/contribute/{theirs.pk}/", {"idempotency_key": "mine-1", "quality": "4"})
    assert r.status_code == 302
    assert message_texts(r)[-1] == "This task is not yours, or does not exist."
    skipped = client.post(f"/contribute/{theirs.pk}/skip/", {"idempotency_key": "mine-2"})
    assert skipped.status_code == 302
    assert message_texts(skipped)[-1] == "This task is not yours, or does not exist."
    assert not Review.objects.exists()
    theirs.refresh_from_db()
    assert theirs.state == AssignmentState.ACTIVE


def test_an_expired_task_gives_a_message(volunteer, make_volunteer):
    prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = client.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "quality": "4"}
    )
    assert r.status_code == 302
    assert message_texts(r) == ["This task expired and went back to the pool; take a new one."]
    assert not Review.objects.exists()


def test_a_submitted_task_gives_a_message(volunteer, make_volunteer):
    prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    first = client.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "quality": "4"}
    )
    assert first.status_code == 302
    again = client.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": "a-new-key", "quality": "2"}
    )
    assert again.status_code == 302
    assert message_texts(again)[-1] == "This task was already submitted."
    assert Review.objects.get().quality == 4


def test_a_double_submit_creates_one_review(volunteer, make_volunteer):
    prompt = prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    data = {"idempotency_key": key_of(page), "labels": [], "quality": "4"}
    first = client.post(f"/contribute/{assignment.pk}/", data)
    second = client.post(f"/contribute/{assignment.pk}/", data)
    assert first.status_code == second.status_code == 302
    # The retry replays the first success; nothing is created twice.
    assert message_texts(second)[-1] == "Thank you! Your review is saved."
    assert Review.objects.filter(prompt=prompt).count() == 1


# --- who may contribute ----------------------------------------------------------------------


def test_the_licence_comes_first(outsider):
    r = client_for(outsider).get(CONTRIBUTE, {"type": "review"})
    assert r.status_code == 302
    assert r["Location"] == "/licence/?next=%2Fcontribute%2F%3Ftype%3Dreview"
    assert not Assignment.objects.exists()


def test_visitors_are_sent_to_log_in():
    r = Client().get(CONTRIBUTE)
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/?next=")
