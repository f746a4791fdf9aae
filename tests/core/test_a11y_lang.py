"""Language of parts (QA, WCAG 3.1.2): a German prompt on an English page sat inside
<html lang="en">, so screen readers read it with English pronunciation. Each element that
holds a prompt's text, or one of its answers', now says the prompt's language (``lang``), on
every page that shows them; a prompt of no known language (``und``) reads as the page does."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from apps.assignments.models import TaskType
from apps.collection.models import PromptState, ResponseState
from apps.moderation import services as moderation
from tests.factories import PromptFactory, ResponseFactory, held_task, reporter
from tests.text_holders import holders, signed_in

pytestmark = pytest.mark.django_db

INSTRUCTION = "Wie kann ich im Winter Heizkosten sparen?"
CONTEXT = "Die Wohnung hat alte Fenster und eine Gasheizung."
ANSWER = "Dichte zuerst die Fenster ab und lüfte kurz, aber kräftig."
OTHER_ANSWER = "Stelle die Heizung nachts zwei Grad niedriger."
# What each text starts with: enough to find it where a page cuts it short.
TEXTS = {
    "instruction": INSTRUCTION[:12],
    "context": CONTEXT[:12],
    "answer": ANSWER[:12],
    "other answer": OTHER_ANSWER[:12],
}


def assert_each_text_says_its_language(html: str, lang: str, *expected: str) -> None:
    """Each text says ``lang`` (``<html>``'s at the last). Text in a form field (a textarea
    that holds it for editing) is left out: a field's attributes come from its form."""
    found = holders(html, TEXTS, "lang", skip=("title", "script", "textarea"))
    names = {held.name for held in found}
    assert set(expected) <= names, f"not on the page: {set(expected) - names}"
    wrong = [(held.name, held.value) for held in found if held.value != lang]
    assert not wrong, f"texts not in lang={lang}: {wrong}"


client_for = signed_in


@pytest.fixture
def prompt(volunteer):
    return PromptFactory(
        author=volunteer,
        instruction=INSTRUCTION,
        context=CONTEXT,
        category="closed_qa",
        language="de",
        state=PromptState.COLLECTING,
    )


def test_the_prompt_page_browse_and_my_contributions(prompt, volunteer, volunteer2):
    ResponseFactory(prompt=prompt, author=volunteer, text=ANSWER)
    ResponseFactory(prompt=prompt, author=volunteer2, text=OTHER_ANSWER)
    web = client_for(volunteer)
    page = web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert '<html lang="en">' in page
    assert_each_text_says_its_language(
        page, "de", "instruction", "context", "answer", "other answer"
    )
    assert_each_text_says_its_language(web.get("/browse/").content.decode(), "de", "instruction")
    assert_each_text_says_its_language(
        web.get("/mine/").content.decode(), "de", "instruction", "answer"
    )
    # An answer to someone else's prompt, with the prompt it answers.
    assert_each_text_says_its_language(
        client_for(volunteer2).get("/mine/").content.decode(), "de", "instruction", "other answer"
    )


def test_a_spanish_page_marks_an_english_prompt_as_english(volunteer):
    english = PromptFactory(author=volunteer, instruction=INSTRUCTION, language="en")
    page = client_for(volunteer).get(f"/prompts/{english.pk}/", HTTP_ACCEPT_LANGUAGE="es")
    html = page.content.decode()
    assert '<html lang="es">' in html
    assert_each_text_says_its_language(html, "en", "instruction")


def test_the_task_pages(prompt, volunteer, volunteer2, make_volunteer):
    answers = [
        ResponseFactory(prompt=prompt, author=make_volunteer(), text=text)
        for text in (ANSWER, OTHER_ANSWER)
    ]
    web = client_for(volunteer2)
    respond = held_task(volunteer2, TaskType.RESPOND, prompt)
    html = web.get(f"/contribute/{respond.pk}/").content.decode()
    assert_each_text_says_its_language(html, "de", "instruction", "context")
    # The preview of the answer being written, in the prompt's language.
    assert '<div lang="de" id="response-preview" class="preview"' in html

    answers[0].state = ResponseState.REVIEW
    answers[0].save()
    review = held_task(volunteer2, TaskType.REVIEW_RESPONSE, prompt, answers[0])
    assert_each_text_says_its_language(
        web.get(f"/contribute/{review.pk}/").content.decode(),
        "de",
        "instruction",
        "context",
        "answer",
    )

    prompt.state = PromptState.RANKING
    prompt.save()
    rank = held_task(volunteer2, TaskType.RANK, prompt)
    assert_each_text_says_its_language(
        web.get(f"/contribute/{rank.pk}/").content.decode(),
        "de",
        "instruction",
        "context",
        "other answer",  # the one still in review is not ranked
    )


def test_the_answer_and_edit_pages(prompt, volunteer, volunteer2):
    html = client_for(volunteer2).get(f"/prompts/{prompt.pk}/answer/").content.decode()
    assert_each_text_says_its_language(html, "de", "instruction", "context")
    assert '<div lang="de" id="text-preview" class="preview"' in html

    prompt.state = PromptState.REVIEW
    prompt.save()
    answer = ResponseFactory(prompt=prompt, author=volunteer, text=ANSWER, state="review")
    web = client_for(volunteer)
    # Each names the prompt it is about, cut short, above the form.
    assert_each_text_says_its_language(
        web.get(f"/prompts/{prompt.pk}/edit/").content.decode(), "de", "instruction"
    )
    assert_each_text_says_its_language(
        web.get(f"/responses/{answer.pk}/edit/").content.decode(), "de", "instruction"
    )


def test_the_moderation_pages(prompt, moderator, make_volunteer):
    answer = ResponseFactory(prompt=prompt, author=make_volunteer(), text=ANSWER)
    moderation.flag_create(reporter=reporter(make_volunteer()), target=prompt, reason="spam")
    moderation.flag_create(reporter=reporter(make_volunteer()), target=answer, reason="other")
    web = client_for(moderator)
    assert_each_text_says_its_language(
        web.get("/moderation/").content.decode(), "de", "instruction", "context", "answer"
    )

    moderation.content_hide(moderator=moderator, target=prompt, reason="spam")
    moderation.content_hide(moderator=moderator, target=answer, reason="spam")
    assert_each_text_says_its_language(
        web.get("/moderation/hidden/").content.decode(), "de", "instruction", "answer"
    )


def test_a_prompt_of_no_known_language_reads_as_the_page_does(volunteer):
    unknown = PromptFactory(author=volunteer, instruction=INSTRUCTION, language="und")
    html = client_for(volunteer).get(f"/prompts/{unknown.pk}/").content.decode()
    assert_each_text_says_its_language(html, "en", "instruction")  # <html lang="en">'s


@pytest.mark.parametrize(
    ("tag", "rendered"),
    [
        ("pt-BR", '<p lang="pt-BR">'),
        ("und", "<p>"),
        ("UND", "<p>"),
        ("", "<p>"),
        ('x"><script>', '<p lang="x&quot;&gt;&lt;script&gt;">'),
    ],
)
def test_the_lang_attr_filter(tag, rendered):
    template = Template("{% load hearth %}<p{{ tag|lang_attr }}>")
    assert template.render(Context({"tag": tag})) == rendered
