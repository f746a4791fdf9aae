"""Right-to-left text (QA): an Arabic prompt showed left to right, its full stop at the wrong
end, on every page that shows it, and was typed left to right in the forms. Each element that
holds one person's text now says dir="auto", so each text takes its own direction from its
first strong letter; a page's other words keep the page's direction."""

from __future__ import annotations

import pytest

from apps.assignments.models import TaskType
from apps.collection.models import PromptState, ResponseState
from apps.moderation import services as moderation
from tests.factories import PromptFactory, ResponseFactory, held_task, reporter
from tests.text_holders import holders, signed_in

pytestmark = pytest.mark.django_db

INSTRUCTION = "الموقد هو مكان النار في البيت. Hearth!"
CONTEXT = "النار تدفئ البيت في الشتاء كله."
ANSWER = "نعم، الموقد قلب البيت الدافئ."
OTHER_ANSWER = "الموقد يجمع الأهل حول النار."
NOTE = "هذا النص منسوخ."
# What each text starts with: enough to find it where a page cuts it short.
TEXTS = {
    "instruction": INSTRUCTION[:9],
    "context": CONTEXT[:9],
    "answer": ANSWER[:9],
    "other answer": OTHER_ANSWER[:9],
    "note": NOTE[:7],
}


def assert_each_text_has_its_own_direction(html: str, *expected: str) -> None:
    # Not the page's title or scripts, nor a <template>'s copy of a text.
    found = holders(html, TEXTS, "dir", skip=("title", "script", "template"))
    names = {held.name for held in found}
    assert set(expected) <= names, f"not on the page: {set(expected) - names}"
    wrong = [(held.name, held.tag) for held in found if held.value != "auto"]
    assert not wrong, f"texts without dir=auto: {wrong}"
    holds: dict[int | None, set[str]] = {}
    for held in found:
        holds.setdefault(held.number, set()).add(held.name)
    shared = [names for number, names in holds.items() if number is not None and len(names) > 1]
    assert not shared, f"one dir=auto around several texts: {shared}"


client_for = signed_in


@pytest.fixture
def prompt(volunteer):
    return PromptFactory(
        author=volunteer,
        instruction=INSTRUCTION,
        context=CONTEXT,
        category="closed_qa",
        language="ar",
        state=PromptState.COLLECTING,
    )


def test_the_prompt_page_browse_and_my_contributions(prompt, volunteer, volunteer2):
    ResponseFactory(prompt=prompt, author=volunteer, text=ANSWER)
    ResponseFactory(prompt=prompt, author=volunteer2, text=OTHER_ANSWER)
    web = client_for(volunteer)
    assert_each_text_has_its_own_direction(
        web.get(f"/prompts/{prompt.pk}/").content.decode(),
        "instruction",
        "context",
        "answer",
        "other answer",
    )
    assert_each_text_has_its_own_direction(web.get("/browse/").content.decode(), "instruction")
    assert_each_text_has_its_own_direction(
        web.get("/mine/").content.decode(), "instruction", "answer"
    )
    # An answer to someone else's prompt, with the prompt it answers.
    assert_each_text_has_its_own_direction(
        client_for(volunteer2).get("/mine/").content.decode(), "instruction", "other answer"
    )


def test_the_task_pages(prompt, volunteer, volunteer2, make_volunteer):
    answers = [
        ResponseFactory(prompt=prompt, author=make_volunteer(), text=text)
        for text in (ANSWER, OTHER_ANSWER)
    ]
    web = client_for(volunteer2)
    respond = held_task(volunteer2, TaskType.RESPOND, prompt)
    html = web.get(f"/contribute/{respond.pk}/").content.decode()
    assert_each_text_has_its_own_direction(html, "instruction", "context")
    assert '<textarea name="response" cols="40" rows="10" dir="auto"' in html

    answers[0].state = ResponseState.REVIEW
    answers[0].save()
    review = held_task(volunteer2, TaskType.REVIEW_RESPONSE, prompt, answers[0])
    assert_each_text_has_its_own_direction(
        web.get(f"/contribute/{review.pk}/").content.decode(), "instruction", "context", "answer"
    )

    prompt.state = PromptState.RANKING
    prompt.save()
    rank = held_task(volunteer2, TaskType.RANK, prompt)
    assert_each_text_has_its_own_direction(
        web.get(f"/contribute/{rank.pk}/").content.decode(),
        "instruction",
        "context",
        "other answer",
    )


def test_the_forms_type_each_text_in_its_own_direction(prompt, volunteer, volunteer2):
    web = client_for(volunteer)
    html = web.get("/write/").content.decode()
    for name in ("instruction", "context", "response"):
        assert f'name="{name}"' in html
    # Sent back with an error, with the texts typed.
    html = web.post(
        "/write/",
        {
            "category": "closed_qa",
            "instruction": INSTRUCTION + " 2",
            "context": CONTEXT,
            "response": ANSWER,
            "language": "",
            "idempotency_key": "rtl-1",
        },
    ).content.decode()
    assert_each_text_has_its_own_direction(html, "instruction", "context", "answer")

    # The Answer page, and the edit pages of a prompt and an answer in review.
    html = client_for(volunteer2).get(f"/prompts/{prompt.pk}/answer/").content.decode()
    assert_each_text_has_its_own_direction(html, "instruction", "context")
    assert '<textarea name="text" cols="40" rows="8" dir="auto"' in html
    prompt.state = PromptState.REVIEW
    prompt.save()
    answer = ResponseFactory(prompt=prompt, author=volunteer, text=ANSWER, state="review")
    assert_each_text_has_its_own_direction(
        web.get(f"/prompts/{prompt.pk}/edit/").content.decode(), "instruction", "context"
    )
    assert_each_text_has_its_own_direction(
        web.get(f"/responses/{answer.pk}/edit/").content.decode(), "instruction", "answer"
    )

    # The Markdown preview of what is typed.
    preview = web.post("/preview/", {"field": "response", "response": ANSWER})
    assert_each_text_has_its_own_direction(preview.content.decode(), "answer")


def test_the_moderation_pages(prompt, volunteer, moderator, make_volunteer):
    answer = ResponseFactory(prompt=prompt, author=make_volunteer(), text=ANSWER)
    moderation.flag_create(reporter=reporter(make_volunteer()), target=prompt, reason="spam")
    moderation.flag_create(
        reporter=reporter(make_volunteer()), target=answer, reason="other", note=NOTE
    )
    web = client_for(moderator)
    assert_each_text_has_its_own_direction(
        web.get("/moderation/").content.decode(), "instruction", "context", "answer", "note"
    )

    moderation.content_hide(moderator=moderator, target=prompt, reason=NOTE)
    moderation.content_hide(moderator=moderator, target=answer, reason=NOTE)
    assert_each_text_has_its_own_direction(
        web.get("/moderation/hidden/").content.decode(), "instruction", "answer", "note"
    )
    assert_each_text_has_its_own_direction(web.get("/moderation/log/").content.decode(), "note")
