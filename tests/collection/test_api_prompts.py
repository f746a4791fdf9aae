"""POST/GET /api/v1/prompts/ and /api/v1/prompts/{id}/."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/prompts/"

CLOSED_QA = {
    "instruction": "When did Virgin Australia start operating?",
    "context": (
        "Virgin Australia, the trading name of Virgin Australia Airlines Pty Ltd, is an "
        "Australian-based airline. It commenced services on 31 August 2000 as Virgin Blue."
    ),
    "category": "closed_qa",
    "language": "en",
    "response": "Virgin Australia commenced services on 31 August 2000 as Virgin Blue.",
}


def test_it_creates_a_prompt_with_the_authors_response(api, volunteer):
    r = api.post(URL, CLOSED_QA, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    prompt = Prompt.objects.get()
    answer = prompt.responses.get()
    assert body == {
        "id": prompt.pk,
        "url": f"http://testserver/api/v1/prompts/{prompt.pk}/",
        "instruction": CLOSED_QA["instruction"],
        "context": CLOSED_QA["context"],
        "category": "closed_qa",
        "language": "en",
        "state": "review",
        "origin": "hearth",
        "licence": "CC BY-SA 3.0",
        "author_name": "Ada",
        "withdrawn_at": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "response": {
            "id": answer.pk,
            "url": f"http://testserver/api/v1/responses/{answer.pk}/",
            "prompt_id": prompt.pk,
            "text": CLOSED_QA["response"],
            "state": "review",
            "source": "human",
            "origin": "hearth",
            "licence": "CC BY-SA 3.0",
            "author_name": "Ada",
            "withdrawn_at": None,
            "created_at": body["response"]["created_at"],
            "updated_at": body["response"]["updated_at"],
        },
    }
    assert prompt.author == volunteer
    assert prompt.responses.get().author == volunteer


def test_it_accepts_a_short_real_dolly_instruction_without_response(api):
    r = api.post(
        URL, {"instruction": "What is CSS?", "category": "open_qa", "language": "en"}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert r.json()["response"] is None
    assert Response.objects.count() == 0


def test_it_accepts_a_long_wikipedia_context(api):
    context = ("The Amazon rainforest covers much of the Amazon basin of South America. " * 250)[
        :19_990
    ]
    r = api.post(URL, {**CLOSED_QA, "context": context}, format="json")
    assert r.status_code == 201, r.json()
    assert len(Prompt.objects.get().context) == len(context.strip())


def test_it_normalises_text_to_nfc_and_canonical_language(api):
    decomposed = "Cafe\u0301 or tea: which has more caffeine?"
    r = api.post(
        URL, {"instruction": decomposed, "category": "open_qa", "language": "pt-br"}, format="json"
    )
    assert r.status_code == 201, r.json()
    prompt = Prompt.objects.get()
    assert prompt.instruction == "Café or tea: which has more caffeine?"
    assert prompt.language == "pt-BR"


def test_it_lists_only_accepted_prompts_with_filters_and_pagination(api_anon, volunteer):
    PromptFactory.create_batch(3, category="brainstorming", language="de")
    PromptFactory(category="open_qa", language="en")
    PromptFactory(state=PromptState.REVIEW)
    PromptFactory(state=PromptState.REJECTED)
    r = api_anon.get(URL)
    assert r.status_code == 200
    assert r.json()["count"] == 4
    r = api_anon.get(URL, {"category": "brainstorming", "language": "de", "page_size": 2})
    body = r.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None
    assert {p["category"] for p in body["results"]} == {"brainstorming"}


def test_it_refuses_an_unknown_category_filter(api_anon):
    r = api_anon.get(URL, {"category": "poetry"})
    assert r.status_code == 400
    assert r.json() == {
        "category": [
            "“poetry” is not a valid choice. Choose one of: open_qa, general_qa, closed_qa, "
            "classification, brainstorming, information_extraction, summarization, creative_writing."
        ]
    }


def test_it_refuses_a_malformed_language_filter(api_anon):
    r = api_anon.get(URL, {"language": "english!"})
    assert r.status_code == 400
    assert r.json() == {
        "language": ["“english!” is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."]
    }


def test_the_language_filter_takes_any_case_of_a_tag(api_anon):
    prompt = PromptFactory(language="pt-BR")
    PromptFactory(language="pt")
    r = api_anon.get(URL, {"language": "PT-br"})
    assert [p["id"] for p in r.json()["results"]] == [prompt.pk]


def test_blank_filters_filter_nothing(api_anon):
    PromptFactory()
    r = api_anon.get(URL, {"q": "", "category": "", "language": ""})
    assert r.status_code == 200
    assert r.json()["count"] == 1


def test_a_blank_author_filters_nothing_as_the_schema_says(api, volunteer):
    """author= was taken as no filter but documented as "me" only."""
    PromptFactory(author=volunteer, state=PromptState.REVIEW)
    public = PromptFactory()
    r = api.get(URL, {"author": ""})
    assert r.status_code == 200
    assert [p["id"] for p in r.json()["results"]] == [public.pk]
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][URL]["get"]
    author = next(p for p in operation["parameters"] if p["name"] == "author")
    assert author["schema"]["enum"] == ["me", ""]


@pytest.mark.parametrize("page_size", ["ten", "0", "-1", "1.5", "null", ""])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_400(api_anon, page_size):
    """DRF paged by the default when it could not read page_size: 20 items, no word why."""
    PromptFactory()
    r = api_anon.get(URL, {"page_size": page_size})
    assert r.status_code == 400
    assert r.json() == {
        "page_size": ["Must be a whole number from 1 (more than 100 is cut to 100)."]
    }


def test_a_huge_page_size_is_cut_to_the_maximum(api_anon):
    PromptFactory.create_batch(21)
    huge = api_anon.get(URL, {"page_size": "9" * 5000})
    assert huge.status_code == 200
    assert len(huge.json()["results"]) == 21


def test_a_blank_page_is_404_like_any_page_that_is_not_a_number(api_anon):
    """DRF read page= as page 1, page=last as the last page and page=２ (full-width) as 2,
    though the README says a page that is not a number is a 404."""
    PromptFactory()
    assert api_anon.get(URL, {"page": "1"}).status_code == 200
    for page in ("", "abc", "last", "\uff11", "\u0661", " 1", "+1"):
        r = api_anon.get(URL, {"page": page})
        assert r.status_code == 404
        assert r.json() == {"detail": "Invalid page."}


def test_it_searches_instruction_context_and_accepted_answers_in_any_case(api_anon):
    by_instruction = PromptFactory(instruction="Name a famous BRIDGE in Denmark.")
    by_context = PromptFactory(
        category="closed_qa", instruction="When did it open?", context="The Øresund bridge..."
    )
    by_answer = PromptFactory(instruction="Name a crossing to Sweden.")
    ResponseFactory(prompt=by_answer, text="The bridge to Malmö.")
    rejected_answer = PromptFactory(instruction="Name a crossing to Norway.")
    ResponseFactory(prompt=rejected_answer, text="A bridge?", state=ResponseState.REJECTED)
    PromptFactory(instruction="A bridge still in review.", state=PromptState.REVIEW)
    PromptFactory(instruction="Why is the sky blue?")
    r = api_anon.get(URL, {"q": "Bridge"})
    assert r.status_code == 200
    assert [p["id"] for p in r.json()["results"]] == [
        by_answer.pk,
        by_context.pk,
        by_instruction.pk,
    ]


def test_the_search_combines_with_the_filters_and_pagination(api_anon):
    for n in range(3):
        PromptFactory(category="brainstorming", instruction=f"Plan a picnic for {n}.")
    PromptFactory(category="open_qa", instruction="Plan a picnic by the sea.")
    r = api_anon.get(URL, {"q": "PICNIC", "category": "brainstorming", "page_size": 2})
    body = r.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert "q=PICNIC" in body["next"] and "category=brainstorming" in body["next"]
    assert api_anon.get(body["next"]).json()["count"] == 3


def test_the_search_applies_to_your_own_prompts(api, volunteer):
    mine = PromptFactory(author=volunteer, state=PromptState.REVIEW, instruction="My bridge draft.")
    PromptFactory(author=volunteer, state=PromptState.REVIEW, instruction="My tunnel draft.")
    r = api.get(URL, {"author": "me", "q": "bridge"})
    assert [p["id"] for p in r.json()["results"]] == [mine.pk]


def test_it_refuses_a_search_over_200_characters(api_anon):
    r = api_anon.get(URL, {"q": "b" * 201})
    assert r.status_code == 400
    assert r.json() == {"q": ["Search for at most 200 characters (this is 201)."]}
    assert api_anon.get(URL, {"q": "b" * 200}).status_code == 200


def test_it_refuses_a_search_of_too_many_words(api_anon):
    r = api_anon.get(URL, {"q": " ".join(f"w{n}" for n in range(13))})
    assert r.status_code == 400
    assert r.json() == {"q": ["Search for at most 12 words (this has 13)."]}


def test_author_me_lists_own_prompts_in_every_state(api, volunteer):
    mine = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    PromptFactory()
    r = api.get(URL, {"author": "me"})
    assert [p["id"] for p in r.json()["results"]] == [mine.pk]


def test_author_me_needs_a_login(api_anon):
    assert api_anon.get(URL, {"author": "me"}).status_code in (401, 403)


def test_it_retrieves_an_accepted_prompt_for_anyone(api_anon):
    prompt = PromptFactory()
    r = api_anon.get(f"{URL}{prompt.pk}/")
    assert r.status_code == 200
    assert r.json()["id"] == prompt.pk


def test_a_prompt_in_review_is_404_for_others_and_visible_to_its_author(api, api2, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    assert api2.get(f"{URL}{prompt.pk}/").status_code == 404
    assert api.get(f"{URL}{prompt.pk}/").status_code == 200


def test_the_author_edits_a_prompt_in_review(api, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    r = api.patch(
        f"{URL}{prompt.pk}/", {"instruction": "Name three rivers in Europe."}, format="json"
    )
    assert r.status_code == 200, r.json()
    prompt.refresh_from_db()
    assert prompt.instruction == "Name three rivers in Europe."


def test_editing_after_review_is_409(api, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.COLLECTING)
    r = api.patch(
        f"{URL}{prompt.pk}/", {"instruction": "Name three rivers in Europe."}, format="json"
    )
    assert r.status_code == 409
    assert "review" in r.json()["detail"]


def test_editing_a_withdrawn_prompt_or_answer_is_409_as_the_schema_says(api, volunteer):
    """Withdrawn is a state the item left editing in, not a permission the author lacks."""
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    api.post(f"{URL}{prompt.pk}/withdraw/")
    r = api.patch(f"{URL}{prompt.pk}/", {"instruction": "Name three lakes."}, format="json")
    assert (r.status_code, r.json()) == (409, {"detail": "This prompt was withdrawn."})
    answer = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    api.post(f"/api/v1/responses/{answer.pk}/withdraw/")
    r = api.patch(f"/api/v1/responses/{answer.pk}/", {"text": "Too late."}, format="json")
    assert (r.status_code, r.json()) == (409, {"detail": "This answer was withdrawn."})


def test_an_edit_that_changes_nothing_leaves_the_time_of_the_last_change(api, volunteer):
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    answer = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    for url, body, item in (
        (f"{URL}{prompt.pk}/", {}, prompt),
        (f"{URL}{prompt.pk}/", {"instruction": prompt.instruction}, prompt),
        (f"/api/v1/responses/{answer.pk}/", {"text": answer.text}, answer),
    ):
        before = type(item).objects.get(pk=item.pk).updated_at
        r = api.patch(url, body, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()["updated_at"] == before.isoformat().replace("+00:00", "Z")
        assert type(item).objects.get(pk=item.pk).updated_at == before


def test_a_new_prompt_with_a_field_it_cannot_set_is_refused_and_not_created(api):
    body = {
        "instruction": "Name three rivers in Europe.",
        "category": "open_qa",
        "language": "en",
        "state": "accepted",
        "extra": 1,
    }
    r = api.post(URL, body, format="json")
    assert r.status_code == 400
    assert set(r.json()) == {"extra", "state"}
    assert r.json()["state"][0].startswith("Not a field of this request; it takes: instruction")
    assert not Prompt.objects.exists()


def test_editing_someone_elses_visible_prompt_is_403(api2):
    prompt = PromptFactory(state=PromptState.COLLECTING)
    before = prompt.instruction
    r = api2.patch(
        f"{URL}{prompt.pk}/", {"instruction": "Hijacked instruction text"}, format="json"
    )
    assert r.status_code == 403
    prompt.refresh_from_db()
    assert prompt.instruction == before


def test_editing_someone_elses_hidden_prompt_is_404(api2):
    prompt = PromptFactory(state=PromptState.REVIEW)
    r = api2.patch(
        f"{URL}{prompt.pk}/", {"instruction": "Hijacked instruction text"}, format="json"
    )
    assert r.status_code == 404


def test_the_author_withdraws_a_prompt_and_it_disappears_from_lists(api, api_anon, volunteer):
    prompt = PromptFactory(author=volunteer)
    r = api.post(f"{URL}{prompt.pk}/withdraw/")
    assert r.status_code == 200
    assert r.json()["withdrawn_at"] is not None
    prompt.refresh_from_db()
    assert prompt.withdrawn_at is not None
    assert api_anon.get(URL).json()["count"] == 0
    assert api_anon.get(f"{URL}{prompt.pk}/").status_code == 404
    # Withdrawing twice is harmless.
    assert api.post(f"{URL}{prompt.pk}/withdraw/").status_code == 200


def test_withdrawing_a_prompt_withdraws_its_authors_own_answer_and_no_one_elses(
    api, volunteer, volunteer2
):
    """UX QA: the author's first answer stayed "In review" beside the withdrawn prompt, and
    Your impact counted it as pending for ever."""
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    own = ResponseFactory(prompt=prompt, author=volunteer, state=ResponseState.REVIEW)
    theirs = ResponseFactory(prompt=prompt, author=volunteer2, state=ResponseState.ACCEPTED)
    assert api.post(f"{URL}{prompt.pk}/withdraw/").status_code == 200
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert own.withdrawn_at is not None and own.open_slots == 0
    assert theirs.withdrawn_at is None
    mine = api.get("/api/v1/responses/").json()["results"]
    assert [(a["id"], a["withdrawn_at"] is not None) for a in mine] == [(own.pk, True)]


def test_withdrawing_someone_elses_prompt_is_403_and_changes_nothing(api2):
    prompt = PromptFactory()
    r = api2.post(f"{URL}{prompt.pk}/withdraw/")
    assert r.status_code == 403
    prompt.refresh_from_db()
    assert prompt.withdrawn_at is None


def test_a_withdrawn_instruction_may_be_written_again(api, volunteer):
    PromptFactory(author=volunteer, instruction="What is CSS?", withdrawn_at="2026-01-01T00:00:00Z")
    r = api.post(
        URL, {"instruction": "What is CSS?", "category": "open_qa", "language": "en"}, format="json"
    )
    assert r.status_code == 201


def test_anonymous_users_cannot_create(api_anon):
    r = api_anon.post(URL, CLOSED_QA, format="json")
    assert r.status_code in (401, 403)
    assert Prompt.objects.count() == 0


def test_users_who_have_not_accepted_the_licence_cannot_create(api_outsider):
    r = api_outsider.post(URL, CLOSED_QA, format="json")
    assert r.status_code == 403
    assert "licence" in r.json()["detail"]
    assert Prompt.objects.count() == 0


def test_a_new_licence_version_asks_again(api, settings):
    settings.HEARTH_LICENCE_VERSION = "cc-by-sa-4.0"
    r = api.post(URL, CLOSED_QA, format="json")
    assert r.status_code == 403
    assert api.post("/api/v1/me/licence/").json()["accepted"] is True
    assert api.post(URL, CLOSED_QA, format="json").status_code == 201


# --- a duplicate names the prompt it matches (API QA F11) ------------------------------------


def _validation_error_schema(operation_id: str):
    from jsonschema import Draft202012Validator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = [
        operation
        for item in schema["paths"].values()
        for operation in item.values()
        if operation["operationId"] == operation_id
    ]
    body = found[0]["responses"]["400"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**body, "components": schema["components"]})


def test_a_duplicate_instruction_names_the_existing_prompt_by_id_and_api_url(api, volunteer):
    """A client that retried a POST that timed out got only prose naming the site's page
    ("… as prompt #53: /prompts/53/"), to read with a regex in the request's language."""
    made = api.post(URL, CLOSED_QA, format="json").json()["id"]
    again = api.post(URL, CLOSED_QA, format="json")
    assert again.status_code == 400
    assert again.json() == {
        "instruction": [
            f"This instruction, with this context, is already in Hearth as prompt #{made}: "
            f"/prompts/{made}/"
        ],
        "existing_prompt": {"id": made, "url": f"http://testserver/api/v1/prompts/{made}/"},
    }
    assert api.get(again.json()["existing_prompt"]["url"]).json()["id"] == made
    # The schema documents it (and would refuse a url that is not text, say).
    validator = _validation_error_schema("prompts_create")
    assert list(validator.iter_errors(again.json())) == []
    assert list(validator.iter_errors({**again.json(), "existing_prompt": {"id": "x"}}))
    # Other refusals are as they were.
    bad = api.post(URL, {**CLOSED_QA, "instruction": "Hi"}, format="json")
    assert bad.status_code == 400 and "existing_prompt" not in bad.json()


def test_a_duplicate_of_a_prompt_the_writer_may_not_see_names_none(api, volunteer2):
    """Someone else's prompt in review is a 404 to the writer: neither its id nor its URL is
    theirs to know."""
    PromptFactory(author=volunteer2, state=PromptState.REVIEW, instruction="What is a hob?")
    r = api.post(
        URL,
        {"instruction": "What is a hob?", "category": "open_qa", "language": "en"},
        format="json",
    )
    assert r.status_code == 400
    assert r.json() == {
        "instruction": [
            "Someone else has already written this instruction. It is not public, so it cannot "
            "be shown: write a different one."
        ]
    }


def test_an_edit_to_an_instruction_already_in_hearth_names_that_prompt(api, volunteer):
    public = PromptFactory(instruction="Name a river in Spain.")
    own = PromptFactory(author=volunteer, state=PromptState.REVIEW, instruction="Name a river.")
    r = api.patch(f"{URL}{own.pk}/", {"instruction": "Name a river in Spain."}, format="json")
    assert r.status_code == 400
    assert r.json()["existing_prompt"] == {
        "id": public.pk,
        "url": f"http://testserver/api/v1/prompts/{public.pk}/",
    }
    validator = _validation_error_schema("prompts_partial_update")
    assert list(validator.iter_errors(r.json())) == []
