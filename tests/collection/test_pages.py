"""The HTML pages: Write, My contributions, Browse, prompt page, edit and withdraw."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from apps.collection.forms import WriteForm
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

WRITE = {
    "category": "summarization",
    "instruction": "Summarise the paragraph in one sentence.",
    "context": "The council met on Tuesday and voted to build cycle lanes next spring.",
    "response": "The council voted for cycle lanes next spring.",
    "language": "en",
    "idempotency_key": "form-key-1",
}


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


@pytest.fixture
def web2(volunteer2) -> Client:
    client = Client()
    client.force_login(volunteer2)
    return client


def test_write_needs_a_login(client):
    r = client.get("/write/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_write_asks_for_the_licence_first(outsider):
    client = Client()
    client.force_login(outsider)
    r = client.get("/write/")
    assert r.status_code == 302
    assert r["Location"] == "/licence/?next=%2Fwrite%2F"
    r = client.post("/licence/", {"agree": "on", "next": "/write/"})
    assert r.status_code == 302 and r["Location"] == "/write/"
    assert client.get("/write/").status_code == 200


def test_the_licence_page_refuses_an_offsite_next(outsider):
    client = Client()
    client.force_login(outsider)
    r = client.post("/licence/", {"agree": "on", "next": "https://evil.example/"})
    assert r["Location"] == "/write/"


def test_the_write_page_shows_every_category_with_guidance(web):
    html = web.get("/write/").content.decode()
    for category in (
        "open_qa",
        "general_qa",
        "closed_qa",
        "classification",
        "brainstorming",
        "information_extraction",
        "summarization",
        "creative_writing",
    ):
        assert f'value="{category}"' in html
    assert "Example" in html


@pytest.mark.parametrize(
    ("languages", "site_language", "expected"),
    [([], "es", "es"), ([], "en", "en"), (["de", "en"], "es", "de")],
)
def test_a_new_prompt_is_tagged_with_the_writers_language_until_they_pick_another(
    make_volunteer, languages, site_language, expected
):
    """A volunteer with no languages on their profile who reads the site in Spanish most
    likely writes in Spanish: the Write page once offered "en" whatever they read."""
    client = Client()
    client.force_login(make_volunteer(languages=languages))
    r = client.get("/write/", HTTP_ACCEPT_LANGUAGE=site_language)
    assert r.context["form"]["language"].value() == expected


def test_writing_creates_a_prompt_and_the_authors_answer(web, volunteer):
    r = web.post("/write/", WRITE)
    assert r.status_code == 302 and r["Location"] == "/mine/"
    prompt = Prompt.objects.get()
    assert (prompt.author, prompt.category, prompt.state) == (volunteer, "summarization", "review")
    assert prompt.responses.get().text == WRITE["response"]


def test_a_double_submitted_form_creates_one_prompt(web):
    web.post("/write/", WRITE)
    r = web.post("/write/", WRITE)
    assert r.status_code == 302
    assert Prompt.objects.count() == 1
    assert Response.objects.count() == 1


def test_a_page_sent_again_with_other_text_is_a_new_prompt_not_the_first_replayed(web):
    """Back, edit, send: the same hidden key with other content. It once showed "Thank you!"
    and kept only the first prompt."""
    web.post("/write/", WRITE)
    other = {**WRITE, "instruction": "Summarise the paragraph in five words."}
    r = web.post("/write/", other, follow=True)
    assert r.redirect_chain == [("/mine/", 302)]
    assert sorted(Prompt.objects.values_list("instruction", flat=True)) == [
        "Summarise the paragraph in five words.",
        "Summarise the paragraph in one sentence.",
    ]
    # Each of the two, sent again as it was, is still one prompt.
    web.post("/write/", WRITE)
    web.post("/write/", other)
    assert Prompt.objects.count() == 2


def test_a_key_used_on_another_page_does_not_replay_that_page(web, volunteer2):
    """The same hidden key on the answer form and on Write (a replayed or crafted form) was a
    500: each page's key is its own."""
    prompt = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    answered = web.post(
        f"/prompts/{prompt.pk}/answer/",
        {"text": "An answer of my own.", "idempotency_key": WRITE["idempotency_key"]},
    )
    assert answered.status_code == 302
    r = web.post("/write/", WRITE)
    assert r.status_code == 302 and r["Location"] == "/mine/"
    assert Prompt.objects.filter(instruction=WRITE["instruction"]).exists()


@pytest.mark.parametrize("key", [None, "", "k" * 201, "tab\there"])
def test_a_form_without_a_usable_key_says_so_and_comes_back_with_a_new_one(web, key):
    """A page from before the key, or a cut or tampered one: it once came back with no word
    of why nothing was saved."""
    data = {k: v for k, v in WRITE.items() if k != "idempotency_key"}
    if key is not None:
        data["idempotency_key"] = key
    r = web.post("/write/", data)
    assert r.status_code == 200
    html = r.content.decode()
    assert "This page was out of date. Check it and send it again." in html
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', html)
    assert WRITE["instruction"] in html  # what was typed comes back
    assert not Prompt.objects.exists()


def test_every_field_that_is_too_long_is_named_in_one_round(web):
    """A too-long instruction once hid the too-long answer until it was fixed."""
    r = web.post("/write/", {**WRITE, "instruction": "x" * 4001, "response": "y" * 20001})
    html = r.content.decode()
    assert "The instruction is too long: at most 4,000 characters, got 4,001." in html
    assert "The answer is too long: at most 20,000 characters, got 20,001." in html
    assert not Prompt.objects.exists()


def test_a_missing_context_shows_the_message_and_keeps_the_text(web):
    r = web.post("/write/", {**WRITE, "context": ""})
    assert r.status_code == 200
    html = r.content.decode()
    assert "needs a context" in html
    # Once: the category's own note ("This category needs a context.") would only repeat it.
    assert "This category needs a context." not in html
    assert WRITE["instruction"] in html
    assert WRITE["response"] in html
    assert Prompt.objects.count() == 0


def test_a_duplicate_instruction_links_to_the_existing_prompt(web):
    existing = PromptFactory(instruction=WRITE["instruction"], context=WRITE["context"])
    r = web.post("/write/", {**WRITE, "idempotency_key": "other"})
    assert r.status_code == 200
    url = f"/prompts/{existing.pk}/"
    assert (
        f'<ul class="errorlist" id="id_instruction_error"><li>This instruction, with this '
        f'context, is already in Hearth as prompt #{existing.pk}: <a href="{url}">{url}</a>'
        "</li></ul>"
    ) in r.content.decode()
    assert Prompt.objects.count() == 1


def test_a_duplicate_instruction_links_the_prompt_in_spanish_too(web):
    existing = PromptFactory(instruction=WRITE["instruction"], context=WRITE["context"])
    r = web.post("/write/", {**WRITE, "idempotency_key": "other"}, HTTP_ACCEPT_LANGUAGE="es")
    url = f"/prompts/{existing.pk}/"
    assert (
        f"Esta instrucción, con este contexto, ya está en Hearth como instrucción #{existing.pk}: "
        f'<a href="{url}">{url}</a>'
    ) in r.content.decode()


def test_only_the_duplicate_refusal_becomes_a_link_and_nothing_typed_becomes_markup():
    """A message is linked only when it is the service's duplicate refusal (its code, and the
    address it names in its params); its text is escaped around the link, and any other
    message on the field, however alike, stays escaped text."""
    from django.core.exceptions import ValidationError

    form = WriteForm(WRITE)
    assert form.is_valid()
    form.add_error(
        "instruction",
        [
            ValidationError(
                "Already in Hearth as prompt #7 <i>: /prompts/7/",
                code="duplicate",
                params={"prompt_id": 7, "url": "/prompts/7/"},
            ),
            "This instruction is already in Hearth as prompt #8: /prompts/8/",
            ValidationError(
                "Someone else wrote it (#9).", code="duplicate", params={"prompt_id": 9}
            ),
        ],
    )
    html = render_to_string("_field.html", {"field": form["instruction"]})
    assert re.findall(r"<li>.*?</li>", html) == [
        '<li>Already in Hearth as prompt #7 &lt;i&gt;: <a href="/prompts/7/">/prompts/7/</a></li>',
        "<li>This instruction is already in Hearth as prompt #8: /prompts/8/</li>",
        "<li>Someone else wrote it (#9).</li>",
    ]


def test_the_edit_page_links_a_duplicate_instruction_too(web, volunteer):
    existing = PromptFactory(instruction="Name three rivers in Africa.")
    own = PromptFactory(author=volunteer, state=PromptState.REVIEW, instruction="Mine.")
    r = web.post(
        f"/prompts/{own.pk}/edit/",
        {
            "category": own.category,
            "instruction": existing.instruction,
            "context": "",
            "language": "en",
        },
    )
    assert r.status_code == 200
    url = f"/prompts/{existing.pk}/"
    assert f'<a href="{url}">{url}</a>' in r.content.decode()


def test_a_duplicate_of_someone_elses_prompt_in_review_does_not_link_a_page_they_cannot_open(
    web, volunteer2
):
    existing = PromptFactory(
        author=volunteer2,
        state=PromptState.REVIEW,
        instruction=WRITE["instruction"],
        context=WRITE["context"],
    )
    r = web.post("/write/", {**WRITE, "idempotency_key": "other"})
    assert r.status_code == 200
    html = r.content.decode()
    assert f"/prompts/{existing.pk}/" not in html and f"#{existing.pk}" not in html
    assert "Someone else has already written this instruction with this context. It is" in html
    assert r.context["form"]["response"].value() == WRITE["response"]  # the work is kept
    assert Prompt.objects.count() == 1


def test_my_contributions_lists_prompts_and_answers_with_state(web, volunteer):
    own = PromptFactory(
        author=volunteer, state=PromptState.REVIEW, instruction="My own prompt text"
    )
    ResponseFactory(author=volunteer, text="My answer elsewhere", state=ResponseState.REJECTED)
    PromptFactory(instruction="Someone else's prompt")
    html = web.get("/mine/").content.decode()
    assert "My own prompt text" in html
    assert "In review" in html
    assert "My answer elsewhere" in html
    assert "Rejected" in html
    assert "Someone else" not in html
    assert f"/prompts/{own.pk}/edit/" in html


def test_my_contributions_has_an_empty_state(web):
    assert "You have not written anything yet" in web.get("/mine/").content.decode()


def test_withdrawing_from_the_page(web, volunteer):
    prompt = PromptFactory(author=volunteer)
    r = web.post(f"/prompts/{prompt.pk}/withdraw/")
    assert r.status_code == 302
    prompt.refresh_from_db()
    assert prompt.withdrawn_at is not None
    assert "Withdrawn" in web.get("/mine/").content.decode()


def test_withdrawing_someone_elses_prompt_from_the_page_is_403(web2):
    prompt = PromptFactory()
    assert web2.post(f"/prompts/{prompt.pk}/withdraw/").status_code == 403
    prompt.refresh_from_db()
    assert prompt.withdrawn_at is None


def test_editing_someone_elses_prompt_page_is_403_or_404(web2):
    visible = PromptFactory(state=PromptState.COLLECTING)
    hidden = PromptFactory(state=PromptState.REVIEW)
    assert web2.get(f"/prompts/{visible.pk}/edit/").status_code == 403
    assert web2.get(f"/prompts/{hidden.pk}/edit/").status_code == 404


def test_editing_own_prompt_in_review(web, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    r = web.post(
        f"/prompts/{prompt.pk}/edit/",
        {
            "category": "open_qa",
            "instruction": "A clearer instruction",
            "context": "",
            "language": "en",
        },
    )
    assert r.status_code == 302
    prompt.refresh_from_db()
    assert prompt.instruction == "A clearer instruction"


def test_the_edit_page_of_a_withdrawn_prompt_sends_the_author_back_with_why(web, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    assert web.post(f"/prompts/{prompt.pk}/withdraw/").status_code == 302
    r = web.get(f"/prompts/{prompt.pk}/edit/", follow=True)
    assert r.redirect_chain == [(f"/prompts/{prompt.pk}/", 302)]
    assert "This prompt was withdrawn." in r.content.decode()
    # A form loaded before withdrawing (another tab, the back button) is not saved; its
    # changes come back with why.
    r = web.post(
        f"/prompts/{prompt.pk}/edit/",
        {"category": "open_qa", "instruction": "Too late an edit", "language": "en"},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert "This prompt was withdrawn." in html and "Too late an edit" in html
    prompt.refresh_from_db()
    assert prompt.instruction != "Too late an edit"


def test_the_edit_page_of_an_accepted_prompt_says_it_no_longer_changes(web, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.COLLECTING)
    r = web.get(f"/prompts/{prompt.pk}/edit/", follow=True)
    assert r.redirect_chain == [(f"/prompts/{prompt.pk}/", 302)]
    assert "A prompt can be edited only while it is in review." in r.content.decode()


def test_the_edit_page_of_a_withdrawn_answer_keeps_the_changes_and_says_why(web, volunteer):
    response = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    assert web.post(f"/responses/{response.pk}/withdraw/").status_code == 302
    r = web.post(f"/responses/{response.pk}/edit/", {"text": "Too late an edit"})
    assert r.status_code == 409
    html = r.content.decode()
    assert "This answer was withdrawn." in html and "Too late an edit" in html
    response.refresh_from_db()
    assert response.text != "Too late an edit"


@pytest.mark.parametrize("kind", ["prompt", "answer"])
def test_an_edit_sent_after_reviewers_accepted_the_work_comes_back_unsaved_not_lost(
    web, volunteer, kind
):
    """Reviewers may accept the work while its author is still typing: the Save once led to
    My contributions with only "can be edited only while it is in review", the new text gone."""
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    answer = ResponseFactory(prompt=prompt, author=volunteer, state=ResponseState.REVIEW)
    if kind == "prompt":
        url = f"/prompts/{prompt.pk}/edit/"
        data = {"category": "open_qa", "instruction": "My rewritten instruction", "language": "en"}
        typed = "My rewritten instruction"
    else:
        url = f"/responses/{answer.pk}/edit/"
        data = {"text": "My rewritten answer, ten minutes of work."}
        typed = data["text"]
    assert web.get(url).status_code == 200
    Prompt.objects.filter(pk=prompt.pk).update(state=PromptState.COLLECTING)
    Response.objects.filter(pk=answer.pk).update(state=ResponseState.ACCEPTED)

    r = web.post(url, data)
    assert r.status_code == 409
    html = r.content.decode()
    assert "edited only while it is in review." in html
    assert "Your changes were not saved. They are below" in html
    assert typed in html
    assert ">Save</button>" not in html
    assert '<a class="button secondary" href="/mine/">My contributions</a>' in html
    prompt.refresh_from_db()
    answer.refresh_from_db()
    assert typed not in (prompt.instruction, answer.text)


def test_browse_filters_by_category_and_language(client):
    PromptFactory(category="brainstorming", language="de", instruction="Ideen für einen Geburtstag")
    PromptFactory(category="open_qa", language="en", instruction="Why is the sky blue?")
    PromptFactory(state=PromptState.REVIEW, instruction="Not yet accepted prompt")
    html = client.get("/browse/").content.decode()
    assert "Ideen für einen Geburtstag" in html and "Why is the sky blue?" in html
    assert "Not yet accepted" not in html
    html = client.get("/browse/", {"category": "brainstorming", "language": "de"}).content.decode()
    assert "Ideen für einen Geburtstag" in html and "Why is the sky blue?" not in html


def test_the_prompt_page_renders_markdown_safely(client):
    prompt = PromptFactory(instruction="Explain **bold** <script>alert(1)</script>")
    ResponseFactory(prompt=prompt, text="[x](javascript:alert(1)) and *fine*")
    html = client.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "<strong>bold</strong>" in html
    assert "<script>alert(1)</script>" not in html
    assert 'href="javascript' not in html
    assert "<em>fine</em>" in html


def test_a_prompt_in_review_is_404_for_others_on_the_page(client):
    prompt = PromptFactory(state=PromptState.REVIEW)
    assert client.get(f"/prompts/{prompt.pk}/").status_code == 404


def test_authors_see_why_their_work_was_rejected(web, volunteer, make_volunteer):
    from apps.feedback.models import Review

    prompt = PromptFactory(author=volunteer, state=PromptState.REJECTED)
    Review.objects.create(reviewer=make_volunteer(), prompt=prompt, spam=True, quality=1)
    Review.objects.create(reviewer=make_volunteer(), prompt=prompt, spam=True, pii=True, quality=1)
    html = web.get("/mine/").content.decode()
    assert "Reviewers said: spam (2 of 2), personal information (1 of 2)" in html


def test_the_author_can_edit_and_withdraw_their_work_from_its_prompt_page(web, web2, volunteer):
    """A volunteer who opens their own prompt (from Write's thank-you, or a link) once found
    no way there to fix or withdraw it: only My contributions offered that."""
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    own = ResponseFactory(prompt=prompt, author=volunteer, state=ResponseState.REVIEW)
    html = web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert f'<a href="/prompts/{prompt.pk}/edit/">Edit prompt</a>' in html
    assert f'action="/prompts/{prompt.pk}/withdraw/"' in html
    assert f'<a href="/responses/{own.pk}/edit/">Edit answer</a>' in html
    assert f'action="/responses/{own.pk}/withdraw/"' in html

    r = web.post(f"/prompts/{prompt.pk}/withdraw/")
    assert r.status_code == 302 and r["Location"] == "/mine/"
    html = web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "Withdraw prompt" not in html and "Edit prompt" not in html


def test_an_accepted_prompt_page_offers_its_author_withdraw_but_no_edit(web, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.COLLECTING)
    html = web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "Withdraw prompt" in html
    assert "Edit prompt" not in html and f"/prompts/{prompt.pk}/edit/" not in html


def test_the_prompt_page_offers_no_edit_or_withdraw_to_others(web2, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.COLLECTING)
    ResponseFactory(prompt=prompt, author=volunteer, state=ResponseState.ACCEPTED)
    html = web2.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "withdraw/" not in html and "edit/" not in html


def test_the_prompt_page_offers_an_answer_to_someone_who_has_not_answered(web2):
    prompt = PromptFactory()
    html = web2.get(f"/prompts/{prompt.pk}/").content.decode()
    assert f'href="/prompts/{prompt.pk}/answer/"' in html
    assert 'data-testid="answered"' not in html
    assert 'name="text"' in web2.get(f"/prompts/{prompt.pk}/answer/").content.decode()


def test_someone_who_answered_sees_a_link_to_their_answer_not_the_button(web, volunteer):
    prompt = PromptFactory()
    own = ResponseFactory(prompt=prompt, author=volunteer, state=ResponseState.REVIEW)
    html = web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert f"/prompts/{prompt.pk}/answer/" not in html
    assert "Write an answer" not in html
    assert f'<li class="card response" id="response-{own.pk}">' in html
    assert f'You answered this prompt: <a href="/prompts/{prompt.pk}/#response-{own.pk}">' in html


def test_the_writer_of_a_prompt_sees_that_they_answered_it(web, volunteer):
    web.post("/write/", WRITE)
    prompt = Prompt.objects.get()
    Prompt.objects.filter(pk=prompt.pk).update(state=PromptState.COLLECTING)
    html = web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "Write an answer" not in html
    assert "You answered this prompt" in html


def test_the_answer_page_says_so_instead_of_showing_the_form(web, volunteer):
    prompt = PromptFactory()
    own = ResponseFactory(prompt=prompt, author=volunteer, state=ResponseState.REVIEW)
    r = web.get(f"/prompts/{prompt.pk}/answer/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'name="text"' not in html and "Submit for review" not in html
    assert f'href="/prompts/{prompt.pk}/#response-{own.pk}"' in html
    r = web.post(f"/prompts/{prompt.pk}/answer/", {"text": "Again.", "idempotency_key": "k"})
    assert "You have already answered this prompt." in r.content.decode()
    assert Response.objects.filter(prompt=prompt, author=volunteer).count() == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"state": PromptState.RANKING}, "This prompt is not collecting answers."),
        ({"open_slots": 0}, "This prompt has all the answers it needs for now."),
    ],
)
def test_a_prompt_that_takes_no_answer_now_offers_no_form(web2, changes, reason):
    """The refusal comes before anyone writes, not after they submit."""
    prompt = PromptFactory()
    Prompt.objects.filter(pk=prompt.pk).update(**changes)
    html = web2.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "Write an answer" not in html
    if "open_slots" in changes:  # still collecting: the page says why there is no button
        assert reason in html
    r = web2.get(f"/prompts/{prompt.pk}/answer/", follow=True)
    assert r.redirect_chain == [(f"/prompts/{prompt.pk}/", 302)]
    assert [str(m) for m in r.context["messages"]] == [reason]
    assert 'name="text"' not in r.content.decode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"state": PromptState.RANKING}, "This prompt is not collecting answers."),
        ({"open_slots": 0}, "This prompt has all the answers it needs for now."),
    ],
)
def test_an_answer_sent_after_the_prompt_stopped_taking_answers_comes_back_to_copy(
    web2, changes, reason
):
    """Others may fill the prompt while this volunteer writes: the submit once led to the
    prompt's page with only the reason, the answer gone."""
    prompt = PromptFactory()
    page = web2.get(f"/prompts/{prompt.pk}/answer/")
    assert page.status_code == 200
    Prompt.objects.filter(pk=prompt.pk).update(**changes)
    typed = "An answer I spent a while on, with care."
    r = web2.post(
        f"/prompts/{prompt.pk}/answer/",
        {"text": typed, "idempotency_key": page.context["form"]["idempotency_key"].value()},
    )
    assert r.status_code == 409
    html = r.content.decode()
    assert reason in html
    assert "Your answer was not saved. It is below" in html
    assert typed in html
    assert "Submit for review" not in html
    assert (
        f'<a class="button secondary" href="/prompts/{prompt.pk}/">Back to the prompt</a>' in html
    )
    assert not Response.objects.filter(prompt=prompt, text=typed).exists()


def test_a_withdrawn_answer_still_counts_as_the_one_answer(web, volunteer):
    prompt = PromptFactory()
    ResponseFactory(prompt=prompt, author=volunteer, withdrawn_at="2026-01-01T00:00:00Z")
    for path in (f"/prompts/{prompt.pk}/", f"/prompts/{prompt.pk}/answer/"):
        html = web.get(path).content.decode()
        assert "You answered this prompt and withdrew your answer." in html
        assert 'name="text"' not in html and "Write an answer" not in html


def test_an_empty_write_form_says_once_what_each_field_needs(web):
    r = web.post("/write/", {"idempotency_key": "form-key-2"})
    assert r.status_code == 200
    assert r.context["form"].errors == {
        "category": ["Choose a category."],
        "instruction": ["The instruction is required and cannot be only whitespace."],
        "response": ["Write your own answer too: every prompt comes with one."],
        "language": ["Give a language as a BCP-47 tag, e.g. en or pt-BR."],
    }
    html = r.content.decode()
    assert "This field is required." not in html
    assert html.count("Write your own answer too: every prompt comes with one.") == 1
    assert html.count("Choose a category.") == 1
    assert "open_qa, general_qa" not in html


def test_a_bad_category_on_edit_is_one_plain_message(web, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    r = web.post(
        f"/prompts/{prompt.pk}/edit/",
        {
            "category": "zzz",
            "instruction": "A clearer instruction",
            "context": "",
            "language": "en",
        },
    )
    assert r.status_code == 200
    assert r.context["form"].errors == {"category": ["Choose a category."]}
    html = r.content.decode()
    assert "Select a valid choice" not in html
    assert html.count("Choose a category.") == 1


def test_the_preview_renders_no_more_than_the_field_can_hold(web, settings) -> None:
    """Text past the field's limit would never be saved, and some Markdown costs the server
    quadratic time to parse: the preview stops at the limit; an unknown field renders nothing."""
    limit = settings.HEARTH_INSTRUCTION_MAX_CHARS
    text = "a" * (limit - 8) + " **in** **past**"
    shown = web.post("/preview/", {"field": "instruction", "instruction": text})
    assert shown.status_code == 200
    assert "<strong>in</strong>" in shown.content.decode()
    assert "past" not in shown.content.decode()
    other = web.post("/preview/", {"field": "title", "title": "**bold**"})
    assert other.status_code == 200 and "bold" not in other.content.decode()


def test_short_previews_cut_letters_not_escaped_entities(web, volunteer):
    """Titles and previews are shortened as plain text: "Q&A" once counted as "Q&amp;A" and
    could be cut inside the entity ("&am…"), shorter than asked."""
    instruction = "Ideas for Q&A sessions at R&D meetings: " + " & ".join(
        f"topic {n}" for n in range(40)
    )
    prompt = PromptFactory(author=volunteer, instruction=instruction)

    page = web.get(f"/prompts/{prompt.pk}/").content.decode()
    title = re.search(r"<title>(.*?) · Hearth</title>", page, re.S)
    assert title is not None
    # truncatechars:60 keeps 59 letters and an ellipsis, escaped as it is printed.
    assert title.group(1) == instruction[:59].replace("&", "&amp;") + "…"

    mine = web.get("/mine/").content.decode()
    preview = re.search(rf'id="mine-prompt-{prompt.pk}" dir="auto"><a [^>]*>(.*?)</a>', mine)
    assert preview is not None
    assert preview.group(1) == instruction[:159].replace("&", "&amp;") + "…"
    assert not re.search(r"&[a-z]*…", mine)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"state": PromptState.COLLECTING}, "No accepted answers yet."),
        ({"state": PromptState.REVIEW}, "Answers open once reviewers accept this prompt."),
        ({"state": PromptState.REJECTED}, "Reviewers turned this prompt down"),
        ({"state": PromptState.HALTED}, "A moderator halted this prompt"),
        ({"state": PromptState.COLLECTING, "withdrawn": True}, "This prompt was withdrawn"),
        ({"state": PromptState.COLLECTING, "hidden": True}, "This prompt is hidden"),
    ],
)
def test_a_prompt_without_answers_says_why_it_has_none(web, volunteer, fields, says):
    """UX QA: a withdrawn prompt's page said "No accepted answers yet.", as if some might come."""
    withdrawn, hidden = fields.pop("withdrawn", False), fields.pop("hidden", False)
    prompt = PromptFactory(author=volunteer, **fields)
    Prompt.objects.filter(pk=prompt.pk).update(
        withdrawn_at=timezone.now() if withdrawn else None,
        hidden_at=timezone.now() if hidden else None,
    )
    page = web.get(f"/prompts/{prompt.pk}/").content.decode()
    assert says in page
    assert ("No accepted answers yet." in page) == (says == "No accepted answers yet.")


def test_an_empty_answer_is_told_which_text_is_missing(web, volunteer2):
    """UX QA: an empty answer got Django's "This field is required." (browsers stop an empty
    textarea, but not every client is a browser)."""
    page = web.post("/write/", {**WRITE, "response": ""}).content.decode()
    assert "Write your own answer too: every prompt comes with one." in page
    assert "This field is required." not in page
    prompt = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    page = web.post(
        f"/prompts/{prompt.pk}/answer/", {"text": "", "idempotency_key": "k-empty"}
    ).content.decode()
    assert "Write your answer before sending it." in page
    assert "This field is required." not in page
    assert not Response.objects.filter(prompt=prompt).exists()


def test_a_prompt_with_many_answers_shows_them_a_page_at_a_time(client):
    """Scale QA: a prompt with 455 answers rendered them all, 1.8 s and 830 KB a visit."""
    from apps.collection.views import ANSWERS_PER_PAGE

    prompt = PromptFactory(state=PromptState.COLLECTING)
    answers = ResponseFactory.create_batch(
        2 * ANSWERS_PER_PAGE + 5, prompt=prompt, state=ResponseState.ACCEPTED
    )
    html = client.get(f"/prompts/{prompt.pk}/").content.decode()
    assert f'<h2 id="answers">{len(answers)} answers</h2>' in html
    assert html.count('class="card response"') == ANSWERS_PER_PAGE
    assert f'id="response-{answers[0].pk}"' in html  # oldest first
    assert f'id="response-{answers[ANSWERS_PER_PAGE].pk}"' not in html
    assert 'aria-label="Pages of the answers"' in html and "Page 1 of 3" in html
    assert 'href="?page=3#answers"' in html
    html = client.get(f"/prompts/{prompt.pk}/?page=3").content.decode()
    assert html.count('class="card response"') == 5
    assert f'<ol class="responses" start="{2 * ANSWERS_PER_PAGE + 1}">' in html
    assert f'id="response-{answers[-1].pk}"' in html
