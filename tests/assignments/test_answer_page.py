"""A prompt's own Answer page (/prompts/<id>/answer/) against the respond task it mirrors: the
same prompt card, guidance, preview and hint (templates/assignments/), the same field-level
errors, and back to the prompt once sent."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apps.collection.models import PromptState, Response
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


@pytest.fixture
def prompt(make_volunteer):
    return PromptFactory(
        author=make_volunteer(),
        state=PromptState.COLLECTING,
        instruction="Why is the sea *salty*?",
        category="open_qa",
        language="en",
    )


def test_it_shows_the_respond_tasks_guidance_preview_category_line_and_hint(web, prompt):
    html = web.get(f"/prompts/{prompt.pk}/answer/").content.decode()
    assert "Answer as a helpful expert would, in your own words: no chatbot output." in html
    assert re.search(r'<textarea name="text"[^>]*aria-describedby="id_text_helptext"', html)
    assert 'hx-include="[name=text]"' in html and ">Preview answer</button>" in html
    assert 'id="text-preview"' in html
    assert "· Open Q&amp;A · en</span>" in html
    assert "<kbd>Ctrl</kbd>+<kbd>Enter</kbd> submits" in html
    assert "<em>salty</em>" in html


def test_a_whitespace_only_answer_is_marked_on_its_field(web, prompt):
    r = web.post(f"/prompts/{prompt.pk}/answer/", {"idempotency_key": "k1", "text": "  \n "})
    assert r.status_code == 200
    assert r.context["form"].errors == {
        "text": ["The answer is required and cannot be only whitespace."]
    }
    html = r.content.decode()
    assert re.search(r'<textarea name="text"[^>]*aria-invalid="true"', html)
    assert 'role="alert"' not in html
    assert not Response.objects.exists()


def test_a_sent_answer_goes_back_to_the_prompt_with_the_message(web, prompt, volunteer):
    r = web.post(
        f"/prompts/{prompt.pk}/answer/",
        {"idempotency_key": "k2", "text": "Rivers carry minerals into it."},
    )
    assert r.status_code == 302 and r["Location"] == f"/prompts/{prompt.pk}/"
    assert [str(m) for m in get_messages(r.wsgi_request)] == [
        "Thank you! Your answer is now in review."
    ]
    answer = Response.objects.get(author=volunteer)
    page = web.get(r["Location"]).content.decode()
    assert f'id="response-{answer.pk}"' in page
