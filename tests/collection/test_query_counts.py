"""No page or API list of prompts and answers runs a query per row: each is fetched with a few
rows and with a page's worth, and the number of queries must be the same."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.collection.models import PromptState, ResponseState
from apps.feedback.models import Review
from tests.factories import PromptFactory, ResponseFactory
from tests.query_counts import FEW, MANY, assert_flat, queries, web

pytestmark = pytest.mark.django_db

# The API's default page (REST_FRAMEWORK["PAGE_SIZE"]), which MANY fills.
API_PAGE = 20


def public_prompts(n: int) -> None:
    """Public prompts by different people, each with an accepted answer by someone else."""
    for _ in range(n):
        ResponseFactory(prompt=PromptFactory())


def test_browse_runs_the_same_queries_for_a_full_page(volunteer):
    client = web(volunteer)
    assert_flat(lambda: client.get("/browse/"), public_prompts)
    assert client.get("/browse/").content.decode().count('class="instruction"') == 20


def test_a_browse_search_runs_the_same_queries_for_a_full_page():
    client = web(None)
    assert_flat(lambda: client.get("/browse/", {"q": "idea simple"}), public_prompts)
    page = client.get("/browse/", {"q": "idea simple"}).content.decode()
    assert page.count('class="instruction"') == 20


@pytest.mark.parametrize("viewer", ["anonymous", "volunteer", "author", "moderator"])
def test_a_prompts_page_runs_the_same_queries_for_many_answers(viewer, request):
    author = request.getfixturevalue("volunteer2")
    prompt = PromptFactory(author=author)
    user = {
        "anonymous": None,
        "volunteer": request.getfixturevalue("volunteer"),
        "author": author,
        "moderator": request.getfixturevalue("moderator"),
    }[viewer]
    client = web(user)

    def answers(n: int) -> None:
        for _ in range(n):
            ResponseFactory(prompt=prompt)

    assert_flat(lambda: client.get(f"/prompts/{prompt.pk}/"), answers)
    page = client.get(f"/prompts/{prompt.pk}/").content.decode()
    assert page.count('class="card response"') == MANY


def test_my_contributions_runs_the_same_queries_for_a_full_page(volunteer, volunteer2):
    """Prompts with the author's own answer, answers to other people's prompts, and rejected
    work whose reviewers' reasons are shown."""

    def work(n: int) -> None:
        for i in range(n):
            state = PromptState.REJECTED if i % 2 else PromptState.REVIEW
            own = PromptFactory(author=volunteer, state=state)
            ResponseFactory(prompt=own, author=volunteer, state=ResponseState.REVIEW)
            theirs = PromptFactory(author=volunteer2)
            answer = ResponseFactory(prompt=theirs, author=volunteer, state=ResponseState.REJECTED)
            Review.objects.create(reviewer=volunteer2, response=answer, quality=1, spam=True)
            if state == PromptState.REJECTED:
                Review.objects.create(reviewer=volunteer2, prompt=own, quality=1, spam=True)

    client = web(volunteer)
    assert_flat(lambda: client.get("/mine/"), work)
    page = client.get("/mine/").content.decode()
    assert page.count('class="card contribution"') == 25 + MANY


def test_the_prompts_api_runs_the_same_queries_for_a_full_page(api_anon):
    assert_flat(lambda: api_anon.get("/api/v1/prompts/"), public_prompts)
    assert len(api_anon.get("/api/v1/prompts/").json()["results"]) == API_PAGE


def test_a_prompts_api_search_runs_the_same_queries_for_a_full_page(api_anon):
    assert_flat(lambda: api_anon.get("/api/v1/prompts/", {"q": "idea"}), public_prompts)
    assert len(api_anon.get("/api/v1/prompts/", {"q": "idea"}).json()["results"]) == API_PAGE


def test_ones_own_prompts_in_the_api_run_the_same_queries_for_a_full_page(api, volunteer):
    def own(n: int) -> None:
        for _ in range(n):
            PromptFactory(author=volunteer, state=PromptState.REVIEW)

    assert_flat(lambda: api.get("/api/v1/prompts/", {"author": "me"}), own)
    assert len(api.get("/api/v1/prompts/", {"author": "me"}).json()["results"]) == API_PAGE


def test_a_prompts_answers_in_the_api_run_the_same_queries_for_a_full_page(api_anon):
    prompt = PromptFactory()

    def answers(n: int) -> None:
        for _ in range(n):
            ResponseFactory(prompt=prompt)

    url = f"/api/v1/prompts/{prompt.pk}/responses/"
    assert_flat(lambda: api_anon.get(url), answers)
    assert len(api_anon.get(url).json()["results"]) == API_PAGE


def test_ones_own_answers_in_the_api_run_the_same_queries_for_a_full_page(api, volunteer):
    def answers(n: int) -> None:
        for _ in range(n):
            ResponseFactory(author=volunteer)

    assert_flat(lambda: api.get("/api/v1/responses/"), answers)
    body = api.get("/api/v1/responses/").json()
    assert len(body["results"]) == API_PAGE
    assert {r["author_name"] for r in body["results"]} == {"Ada"}


def _jsonl(lines: int, start: int) -> SimpleUploadedFile:
    body = "".join(
        json.dumps(
            {
                "instruction": f"Give one tip for keeping basil alive indoors, number {n}.",
                "context": "",
                "response": f"Water it from below ({n}).",
                "category": "general_qa",
            }
        )
        + "\n"
        for n in range(start, start + lines)
    )
    return SimpleUploadedFile("dolly.jsonl", body.encode())


def test_the_import_pages_report_is_shown_again_in_the_same_queries_for_more_lines(maintainer):
    """A resent import form shows the first import's report: reading it back does not run
    a query per line."""
    client = web(maintainer)
    counts = []
    for lines, key in ((FEW, "few"), (MANY, "many")):
        form = {"idempotency_key": key, "source": "garden", "licence": "", "language": "en"}
        first = client.post("/imports/", {**form, "state": "accepted", "file": _jsonl(lines, 0)})
        assert first.status_code == 200
        counts.append(
            queries(
                lambda form=form, lines=lines: client.post(
                    "/imports/", {**form, "state": "accepted", "file": _jsonl(lines, 0)}
                )
            )
        )
    assert counts[0] == counts[1], counts


def test_the_home_page_runs_the_same_queries_for_more_prompts(api_anon):
    client = web(None)
    assert_flat(lambda: client.get("/"), public_prompts)
