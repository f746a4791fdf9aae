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
    assert_unique_ids(page.content.decode())
    return Assignment.objects.get(pk=match.group(1)), page


def assert_unique_ids(html: str) -> None:
    """The task's form and the skip form share a page: no id may appear twice on it."""
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


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


def test_a_write_task_tags_the_prompt_with_the_language_the_site_is_read_in(make_volunteer):
    """No languages on the profile: the site's language, not always "en"."""
    client = client_for(make_volunteer(languages=[]))
    r = client.get(CONTRIBUTE, {"type": "write"}, HTTP_ACCEPT_LANGUAGE="es", follow=True)
    assert r.context["assignment"].task_type == TaskType.WRITE
    assert r.context["form"]["language"].value() == "es"


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
    html = r.content.decode()
    assert "Summarise the text in one sentence." in html
    # Said once, as the context's error, not again as the category's note.
    assert html.count("needs a context") == 1
    assert not Prompt.objects.exists()


def test_a_write_task_links_the_prompt_a_duplicate_instruction_is_already_in(
    volunteer, make_volunteer
):
    existing = PromptFactory(author=make_volunteer(), instruction="List three uses for a brick.")
    client = client_for(volunteer)
    assignment, page = open_task(client, "write")
    r = client.post(
        f"/contribute/{assignment.pk}/?type=write",
        {
            "idempotency_key": key_of(page),
            "category": "brainstorming",
            "instruction": existing.instruction,
            "response": "A doorstop, a bookend, a step.",
            "language": "en",
        },
    )
    assert r.status_code == 200
    url = f"/prompts/{existing.pk}/"
    assert (
        f'This instruction is already in Hearth as prompt #{existing.pk}: <a href="{url}">{url}</a>'
    ) in r.content.decode()
    assert Prompt.objects.count() == 1


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
    assert "Text copied from a chatbot is not allowed." in html
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


def test_a_whitespace_only_answer_is_marked_on_its_field_like_an_empty_one(
    volunteer, make_volunteer
):
    PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "respond")
    r = client.post(
        f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "response": " \n\t "}
    )
    assert r.status_code == 200
    form = r.context["form"]
    assert form.errors == {"response": ["The answer is required and cannot be only whitespace."]}
    html = r.content.decode()
    assert '<div class="field has-error">' in html
    assert re.search(r'<textarea name="response"[^>]*aria-invalid="true"', html)
    assert 'role="alert"' not in html
    assert not Response.objects.exists()


@pytest.mark.parametrize("field", ["instruction", "response"])
def test_a_whitespace_only_text_on_a_write_task_is_marked_on_its_field(volunteer, field):
    client = client_for(volunteer)
    assignment, page = open_task(client, "write")
    data = {
        "idempotency_key": key_of(page),
        "category": "brainstorming",
        "instruction": "List three uses for a paperclip.",
        "response": "Hold papers, reset a router, make a tiny hook.",
        "language": "en",
    }
    r = client.post(f"/contribute/{assignment.pk}/", {**data, field: "   "})
    assert r.status_code == 200
    assert list(r.context["form"].errors) == [field]
    assert re.search(rf'<textarea name="{field}"[^>]*aria-invalid="true"', r.content.decode())
    assert not Prompt.objects.exists()


def test_the_task_page_counts_down_from_the_servers_seconds_and_says_what_expiry_means(
    volunteer, make_volunteer
):
    PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    assignment, _page = open_task(client, "respond")
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() + timedelta(minutes=9, seconds=30)
    )
    html = client.get(f"/contribute/{assignment.pk}/").content.decode()
    seconds = int(re.search(r'data-seconds-left="(\d+)"', html).group(1))  # type: ignore[union-attr]
    assert 560 <= seconds <= 570
    assert 'data-held="Held for you until {time} ({left} left)"' in html
    # The server's words stay for a page without its script.
    assert re.search(r"\(9\s+minutes left\)", html)
    assert "Send your answer anyway: the next page keeps it" in html
    assert 'data-warning="One minute left to send this task."' in html


@pytest.mark.parametrize(
    ("kind", "listed", "unlisted"),
    [
        ("review", "Rate the quality, from 1 (poor) to 5 (excellent)", "Pick up the focused"),
        ("respond", "Submit the answer", "Rate the quality"),
        ("write", "Submit the prompt and its answer", "Rate the quality"),
    ],
)
def test_every_kind_of_task_lists_its_own_keyboard_shortcuts(
    volunteer, make_volunteer, kind, listed, unlisted
):
    prompt_in_review(make_volunteer())
    PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    _assignment, page = open_task(client, kind)
    html = page.content.decode()
    assert html.count("data-shortcuts-open") == 1 and '<dialog class="shortcuts"' in html
    assert listed in html and unlisted not in html


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

    beyond = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key, "order": "", f"rank_{a}": "1", f"rank_{b}": "2", f"rank_{c}": "9"},
    )
    # A number out of range was marked on its box and said nowhere.
    assert "Give each answer a different rank from 1 (best) to 3 (worst)." in beyond.text
    box = re.search(rf'<input[^>]*name="rank_{c}" value="9"[^>]*>', beyond.text)
    assert box is not None and 'min="1" max="3" aria-invalid="true"' in box.group(0)
    assert f'<span class="errorlist" id="id_rank_{c}_error">From 1 to 3.</span>' in beyond.text
    assert not Ranking.objects.exists()

    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key, "order": "", f"rank_{a}": "2", f"rank_{b}": "3", f"rank_{c}": "1"},
    )
    assert r.status_code == 302
    assert Ranking.objects.get(prompt=prompt).order == [c, a, b]


def test_a_ranking_can_mark_every_answer_unusable(volunteer, make_volunteer):
    prompt, responses = prompt_in_ranking(make_volunteer, answers=2)
    client = client_for(volunteer)
    assignment, page = open_task(client, "rank")
    # The rank numbers are not read then: one left out of range does not block it.
    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key_of(page), "unusable": "on", f"rank_{responses[0].pk}": "7"},
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


def test_skipping_a_write_task_says_what_it_does_and_moves_on_from_writing(volunteer):
    """It once offered reasons about a prompt's topic and language, said "You will not get
    that one again" and handed over the same empty Write form at once."""
    client = client_for(volunteer)
    assignment, page = open_task(client, "write")
    html = page.content.decode()
    assert "Skipping lets this form go, with anything typed in it" in html
    assert "Someone else will get it" not in html
    assert 'name="reason"' not in html and "I don&#x27;t read this language" not in html

    r = client.post(
        f"/contribute/{assignment.pk}/skip/?type=write",
        {"idempotency_key": page.context["skip_form"]["idempotency_key"].value()},
    )
    assert r.status_code == 302 and r["Location"] == CONTRIBUTE
    assert message_texts(r) == ["Skipped."]
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SKIPPED


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


def expire(assignment) -> None:
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


LONG_ANSWER = (
    "Rivers wash salts out of rocks and carry them to the sea.\n\n"
    "The water evaporates; the salt stays behind, and over millions of years it builds up. "
    "Vents on the sea floor add more. <That> is why the sea is salty & rivers are not."
)


def test_an_expired_review_is_shown_again_with_what_was_chosen_and_not_saved(
    volunteer, make_volunteer
):
    prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    expire(assignment)
    r = client.post(
        f"/contribute/{assignment.pk}/?type=review",
        {"idempotency_key": key_of(page), "labels": ["pii"], "quality": "4"},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task expired and went back to the pool; take a new one." in html
    assert "What you chose is below; it was not saved." in html
    assert 'value="pii" id="id_labels_pii" aria-describedby="id_labels_pii_help" checked' in html
    assert re.search(r'<input type="radio" name="quality" value="4"[^>]* checked', html)
    assert '<fieldset class="unsent-work" disabled>' in html
    assert "Submit review" not in html
    assert '<a class="button secondary" href="/contribute/?type=review">Take a new task</a>' in html
    assert message_texts(r) == []  # said on the page, not again on the next one
    assert not Review.objects.exists()
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.EXPIRED  # its slot given back at once


def test_an_expired_ranking_is_shown_again_in_the_order_given(volunteer, make_volunteer):
    _prompt, responses = prompt_in_ranking(make_volunteer)
    client = client_for(volunteer)
    assignment, page = open_task(client, "rank")
    expire(assignment)
    order = [responses[2].pk, responses[0].pk, responses[1].pk]
    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key_of(page), "order": ",".join(map(str, order))},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task expired and went back to the pool; take a new one." in html
    shown = [int(i) for i in re.findall(r'class="rank-item card" data-id="(\d+)"', html)]
    assert shown == order
    assert "Submit ranking" not in html
    assert not Ranking.objects.exists()


def test_an_expired_answer_is_shown_again_and_sent_through_the_prompts_answer_page(
    volunteer, make_volunteer
):
    prompt = PromptFactory(author=make_volunteer(), instruction="Why is the sea *salty*?")
    client = client_for(volunteer)
    assignment, page = open_task(client, "respond")
    prompt.refresh_from_db()
    assert prompt.open_slots == 2  # the task holds the third
    expire(assignment)

    r = client.post(
        f"/contribute/{assignment.pk}/?type=respond",
        {"idempotency_key": key_of(page), "response": LONG_ANSWER},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task expired before it was sent." in html
    assert "take a new one" not in html  # the page offers where to send it
    assert (
        "Nothing was saved yet, but your answer is below and this prompt still takes answers: "
        "send it from here."
    ) in html
    assert "<em>salty</em>" in html  # the prompt, to answer it against
    assert f'action="/prompts/{prompt.pk}/answer/"' in html
    textarea = re.search(r'<textarea name="text"[^>]*>\n?(.*?)</textarea>', html, re.S)
    assert textarea and textarea.group(1) == (
        LONG_ANSWER.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    )
    # The draft script keeps the text under the Answer page's address at once.
    assert f'data-draft="answer" data-draft-user="{volunteer.pk}"' in html
    assert f'data-draft-path="/prompts/{prompt.pk}/answer/" data-draft-unsent' in html
    assert not Response.objects.exists()
    # The expired task's slot is back before the volunteer sends the answer on.
    assignment.refresh_from_db()
    prompt.refresh_from_db()
    assert (assignment.state, prompt.open_slots) == (AssignmentState.EXPIRED, 3)

    form = r.context["answer_form"]
    sent = client.post(
        f"/prompts/{prompt.pk}/answer/",
        {"idempotency_key": form["idempotency_key"].value(), "text": LONG_ANSWER},
    )
    assert sent.status_code == 302 and sent["Location"] == f"/prompts/{prompt.pk}/"
    assert message_texts(sent) == ["Thank you! Your answer is now in review."]
    response = Response.objects.get(author=volunteer)
    assert (response.prompt, response.text) == (prompt, LONG_ANSWER)
    prompt.refresh_from_db()
    assert prompt.open_slots == 2  # one slot for one answer, as through the task


def test_an_expired_answer_to_a_full_prompt_is_shown_to_copy(volunteer, make_volunteer):
    prompt = PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "respond")
    expire(assignment)
    # Meanwhile others answered: every slot of the prompt is taken again.
    Prompt.objects.filter(pk=prompt.pk).update(open_slots=0)
    Assignment.objects.filter(pk=assignment.pk).update(state=AssignmentState.EXPIRED)

    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key_of(page), "response": LONG_ANSWER},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert_unique_ids(html)
    assert (
        "This prompt has all the answers it needs for now. Your answer was not saved: it is "
        "below, copy it to keep it."
    ) in html
    assert '<label for="unsent-answer">Your answer (not saved)</label>' in html
    assert "Vents on the sea floor add more. &lt;That&gt; is why the sea is salty" in html
    assert "/answer/" not in html
    assert not Response.objects.exists()
    prompt.refresh_from_db()
    assert prompt.open_slots == 0


def test_an_answer_to_a_prompt_withdrawn_meanwhile_is_shown_with_the_skip(
    volunteer, make_volunteer
):
    author = make_volunteer()
    prompt = PromptFactory(author=author)
    client = client_for(volunteer)
    assignment, page = open_task(client, "respond")
    collection_services.prompt_withdraw(prompt=prompt, user=author)

    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key_of(page), "response": LONG_ANSWER},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This prompt has moved on (withdrawn, hidden or complete); take a new task." in html
    assert "This prompt is not collecting answers. Your answer was not saved" in html
    assert "Vents on the sea floor add more." in html
    # The task is still held: the way on is to skip it.
    assert f'action="/contribute/{assignment.pk}/skip/"' in html
    assert "Take a new task" not in html
    assert not Response.objects.exists()


def test_an_answer_to_a_task_skipped_in_another_tab_can_still_be_sent(volunteer, make_volunteer):
    prompt = PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "respond")
    client.post(
        f"/contribute/{assignment.pk}/skip/",
        {"idempotency_key": page.context["skip_form"]["idempotency_key"].value()},
    )
    r = client.post(
        f"/contribute/{assignment.pk}/",
        {"idempotency_key": key_of(page), "response": LONG_ANSWER},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task was skipped before it was sent." in html
    assert "take a new one" not in html  # the page offers where to send it
    assert f'action="/prompts/{prompt.pk}/answer/"' in html
    assert "Vents on the sea floor add more." in html


def test_an_expired_write_task_is_shown_again_and_sent_through_the_write_page(volunteer):
    client = client_for(volunteer)
    assignment, page = open_task(client, "write")
    expire(assignment)
    data = {
        "category": "brainstorming",
        "instruction": "List three uses for a paperclip.",
        "context": "",
        "response": "Hold papers, reset a router, make a tiny hook.",
        "language": "en",
    }
    r = client.post(
        f"/contribute/{assignment.pk}/?type=write", {"idempotency_key": key_of(page), **data}
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task expired before it was sent." in html
    assert "take a new one" not in html  # the page offers where to send it
    assert "The Write page takes them without a task: send them from here." in html
    assert 'action="/write/"' in html
    assert re.search(r'value="brainstorming"[^>]* checked', html)
    assert ">\nList three uses for a paperclip.</textarea>" in html
    assert ">\nHold papers, reset a router, make a tiny hook.</textarea>" in html
    assert 'data-draft="write"' in html and 'data-draft-path="/write/" data-draft-unsent' in html
    assert not Prompt.objects.exists()

    sent = client.post(
        "/write/", {"idempotency_key": r.context["form"]["idempotency_key"].value(), **data}
    )
    assert sent.status_code == 302
    assert Prompt.objects.get(author=volunteer).instruction == data["instruction"]


# --- opening a task that is gone ---------------------------------------------------------------
# The volunteer comes back to their own task's address after it expired or was skipped (a tab
# that slept, history): the page the work can still go to, filled by the browser's draft.


def skip(client: Client, assignment, page) -> None:
    r = client.post(
        f"/contribute/{assignment.pk}/skip/",
        {"idempotency_key": page.context["skip_form"]["idempotency_key"].value()},
    )
    assert r.status_code == 302


def test_opening_an_expired_answer_task_offers_the_answer_page_for_its_draft(
    volunteer, make_volunteer
):
    prompt = PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    assignment, _page = open_task(client, "respond")
    expire(assignment)

    r = client.get(f"/contribute/{assignment.pk}/?type=respond")
    assert r.status_code == 410
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task expired before it was sent." in html
    assert "take a new one" not in html  # the page offers where to send it
    assert (
        "Your draft, if this browser kept one, is below, and this prompt still takes answers: "
        "send it from here."
    ) in html
    assert f'action="/prompts/{prompt.pk}/answer/"' in html
    assert re.search(r'<textarea name="text"[^>]*>\n?</textarea>', html)
    # The draft script fills the form from the task page's draft, renaming its field.
    assert (
        f'data-draft="answer" data-draft-user="{volunteer.pk}" '
        f'data-draft-path="/prompts/{prompt.pk}/answer/" '
        f'data-draft-replaces="respond:/contribute/{assignment.pk}/" '
        'data-draft-renames="response:text"'
    ) in html
    assert "data-draft-unsent" not in html
    assert (
        '<a class="button secondary" href="/contribute/?type=respond">Take a new task</a>' in html
    )
    assert message_texts(r) == []
    assignment.refresh_from_db()
    prompt.refresh_from_db()
    assert (assignment.state, prompt.open_slots) == (AssignmentState.EXPIRED, 3)


def test_opening_a_skipped_write_task_offers_the_write_page_for_its_draft(volunteer):
    client = client_for(volunteer)
    assignment, page = open_task(client, "write")
    skip(client, assignment, page)

    r = client.get(f"/contribute/{assignment.pk}/")
    assert r.status_code == 410
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task was skipped before it was sent." in html
    assert "take a new one" not in html  # the page offers where to send it
    assert "Your draft, if this browser kept one, is below. The Write page takes it" in html
    assert 'action="/write/"' in html
    assert (
        'data-draft-path="/write/" '
        f'data-draft-replaces="write:/contribute/{assignment.pk}/" data-draft-restored'
    ) in html
    assert r.context["form"].initial["language"] == "en"
    assert "errorlist" not in html
    assert not Prompt.objects.exists()


def test_opening_an_expired_answer_task_for_a_full_prompt_shows_its_draft_to_copy(
    volunteer, make_volunteer
):
    prompt = PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    assignment, _page = open_task(client, "respond")
    expire(assignment)
    Prompt.objects.filter(pk=prompt.pk).update(open_slots=0)
    Assignment.objects.filter(pk=assignment.pk).update(state=AssignmentState.EXPIRED)

    r = client.get(f"/contribute/{assignment.pk}/")
    assert r.status_code == 410
    html = r.content.decode()
    assert (
        "This prompt has all the answers it needs for now. Your draft, if this browser kept "
        "one, is below: copy it to keep it."
    ) in html
    assert "/answer/" not in html
    # On the task's own address and under the task page's name: the same draft comes back.
    assert f'data-draft="respond" data-draft-user="{volunteer.pk}" data-draft-restored' in html
    assert '<textarea id="unsent-answer" name="response" rows="10" dir="auto"></textarea>' in html


def test_opening_an_expired_review_says_nothing_was_kept(volunteer, make_volunteer):
    prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, _page = open_task(client, "review")
    expire(assignment)

    r = client.get(f"/contribute/{assignment.pk}/")
    assert r.status_code == 410
    html = r.content.decode()
    assert_unique_ids(html)
    assert "This task expired before it was sent." in html
    assert "take a new one" not in html  # the page offers where to send it
    assert (
        "Nothing from it was saved, and this browser keeps no draft of a review or a ranking."
    ) in html
    assert '<fieldset class="unsent-work" disabled>' in html
    assert " checked" not in html and "errorlist" not in html
    assert "Submit review" not in html
    assert not Review.objects.exists()


def test_opening_a_submitted_task_goes_to_contribute_with_a_message(volunteer, make_volunteer):
    prompt_in_review(make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "review")
    client.post(f"/contribute/{assignment.pk}/", {"idempotency_key": key_of(page), "quality": "4"})

    r = client.get(f"/contribute/{assignment.pk}/?type=review")
    assert r.status_code == 302 and r["Location"] == "/contribute/?type=review"
    assert message_texts(r)[-1] == (
        "That task is no longer open to you: it was submitted, skipped or it expired."
    )


@pytest.mark.parametrize("gone", ["expired", "skipped"])
def test_opening_someone_elses_gone_task_shows_nothing_of_it(
    gone, volunteer, volunteer2, make_volunteer
):
    PromptFactory(author=make_volunteer(), instruction="A prompt only Grace was given.")
    theirs_client = client_for(volunteer2)
    theirs, page = open_task(theirs_client, "respond")
    if gone == "expired":
        expire(theirs)
    else:
        skip(theirs_client, theirs, page)

    r = client_for(volunteer).get(f"/contribute/{theirs.pk}/")
    assert r.status_code == 302 and r["Location"] == CONTRIBUTE
    assert message_texts(r) == [
        "That task is no longer open to you: it was submitted, skipped or it expired."
    ]
    theirs.refresh_from_db()
    assert theirs.state == (
        AssignmentState.ACTIVE if gone == "expired" else AssignmentState.SKIPPED
    )


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


def test_a_first_task_says_how_contributing_goes_until_one_is_sent(volunteer):
    """QA: a new volunteer landed in a review with "You can contribute now" and nothing else."""
    PromptFactory(state=PromptState.REVIEW)
    PromptFactory(state=PromptState.REVIEW)
    client = client_for(volunteer)
    first, page = open_task(client, "review")
    welcome = page.content.decode()
    assert 'data-testid="first-task"' in welcome
    assert "Hearth gives you one small task at a time" in welcome
    assert 'the <a href="/guidelines/#' in welcome.replace("The <a", "the <a")
    Assignment.objects.filter(pk=first.pk).update(state=AssignmentState.SUBMITTED)
    _second, page = open_task(client, "review")
    assert 'data-testid="first-task"' not in page.content.decode()


def test_the_task_kinds_are_verbs_in_spanish_too(volunteer):
    """UX QA: the Spanish tabs read "Revisión · Respuesta · Clasificación · Escribir", three
    nouns and a verb, where the English are all verbs."""
    page = client_for(volunteer).get(CONTRIBUTE, HTTP_ACCEPT_LANGUAGE="es", follow=True)
    page = page.content.decode()
    nav = page[page.index('<nav class="task-kinds"') :]
    nav = nav[: nav.index("</nav>")]
    labels = re.findall(r">([^<>]+)</a>", nav)
    assert labels == ["Cualquier tarea", "Revisar", "Responder", "Clasificar", "Escribir"]


def test_the_report_toggle_is_a_verb_in_spanish(volunteer):
    """UX QA: it read "Reporte" (a noun) where it is an action."""
    prompt = PromptFactory(state=PromptState.COLLECTING)
    page = client_for(volunteer).get(f"/prompts/{prompt.pk}/", HTTP_ACCEPT_LANGUAGE="es")
    assert re.search(r"<summary[^>]*>\s*Reportar\s*</summary>", page.content.decode())


def test_a_sent_task_sent_again_with_other_content_says_so_and_shows_it_back(
    volunteer, make_volunteer
):
    """Crash QA: the same form sent again with the answer changed (a response lost on the
    way, then an edit) replayed "Thank you!" and dropped the edit without a word."""
    prompt = PromptFactory(author=make_volunteer())
    client = client_for(volunteer)
    assignment, page = open_task(client, "respond")
    url = f"/contribute/{assignment.pk}/"
    sent = {"idempotency_key": key_of(page), "response": "Rivers carry minerals into it."}
    assert client.post(url, sent).status_code == 302
    # The very same form again: the first result, replayed.
    again = client.post(url, sent)
    assert again.status_code == 302
    assert message_texts(again)[-1] == "Thank you! Your answer is now in review."
    edited = client.post(url, {**sent, "response": "Rivers carry dissolved salts into it."})
    assert edited.status_code == 409
    html = edited.content.decode()
    assert "This task was sent before, as it was then: what is below was not saved." in html
    assert "Rivers carry dissolved salts into it." in html
    assert list(Response.objects.filter(prompt=prompt).values_list("text", flat=True)) == [
        "Rivers carry minerals into it."
    ]
