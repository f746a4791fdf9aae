"""No page or API list of prompts and answers runs a query per row: each is fetched with a few
rows and with a page's worth, and the number of queries must be the same."""

from __future__ import annotations

import functools
import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.collection import selectors
from apps.collection.importing import check_import_options, prompts_import_jsonl
from apps.collection.models import (
    Import,
    ImportStatus,
    Prompt,
    PromptState,
    Response,
    ResponseState,
)
from apps.collection.views import ANSWERS_PER_PAGE
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


@pytest.fixture
def uncached_search(monkeypatch):
    """Each search searched afresh (kept, the second fetch would list the first one's rows)."""
    monkeypatch.setattr(selectors, "SEARCH_CACHE_SECONDS", 0)


def test_a_browse_search_runs_the_same_queries_for_a_full_page(uncached_search):
    client = web(None)
    assert_flat(lambda: client.get("/browse/", {"q": "idea simple"}), public_prompts)
    page = client.get("/browse/", {"q": "idea simple"}).content.decode()
    assert page.count('class="instruction"') == 20


def test_a_later_browse_page_counts_the_answers_of_its_own_prompts_only():
    """The answer counts are read for the page shown, not for every prompt before it: counted
    in the list query, PostgreSQL counted the answers of each row the OFFSET skipped (page
    1,400 of 28,000 prompts: 0.9 s, most of it those counts)."""
    public_prompts(MANY)
    ResponseFactory(prompt=Prompt.objects.order_by("id").first())  # the oldest: on page 2
    client = web(None)
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/browse/", {"page": 2}).content.decode()
    listing = [q["sql"] for q in captured.captured_queries if "OFFSET" in q["sql"]]
    assert listing and not any("collection_response" in sql for sql in listing), listing
    assert page.count('class="instruction"') == MANY - 20
    assert page.count("· 1 answer ·") == MANY - 21
    assert page.count("· 2 answers ·") == 1


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
    assert page.count('class="card response"') == min(MANY, ANSWERS_PER_PAGE)  # a page of them


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


def test_my_contributions_filtered_and_on_later_pages_runs_the_same_queries(volunteer, volunteer2):
    """Both lists filtered by state and on their second page, behind a first page's worth."""

    def work(n: int) -> None:
        for _ in range(n):
            own = PromptFactory(author=volunteer, state=PromptState.REJECTED)
            Review.objects.create(reviewer=volunteer2, prompt=own, quality=1, spam=True)
            ResponseFactory(prompt=own, author=volunteer, state=ResponseState.REJECTED)
            theirs = PromptFactory(author=volunteer2)
            answer = ResponseFactory(prompt=theirs, author=volunteer, state=ResponseState.REJECTED)
            Review.objects.create(reviewer=volunteer2, response=answer, quality=1, spam=True)
            # Not in the filter: never listed.
            ResponseFactory(prompt=PromptFactory(author=volunteer2), author=volunteer)

    work(25)
    client = web(volunteer)
    query = {"page": 2, "prompt_state": "rejected", "answer_page": 2, "answer_state": "rejected"}
    assert_flat(lambda: client.get("/mine/", query), work)
    page = client.get("/mine/", query).content.decode()
    assert page.count('class="card contribution"') == 25 + 25
    assert page.count("Reviewers said:") == 25 + 25


def test_the_prompts_api_runs_the_same_queries_for_a_full_page(api_anon):
    assert_flat(lambda: api_anon.get("/api/v1/prompts/"), public_prompts)
    assert len(api_anon.get("/api/v1/prompts/").json()["results"]) == API_PAGE


def test_a_prompts_api_search_runs_the_same_queries_for_a_full_page(api_anon, uncached_search):
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


def _basil(n: int) -> str:
    return json.dumps(
        {
            "instruction": f"Give one tip for keeping basil alive indoors, number {n}.",
            "context": "",
            "response": f"Water it from below ({n}).",
            "category": "general_qa",
        }
    )


def _jsonl(lines: int, start: int) -> SimpleUploadedFile:
    body = "".join(_basil(n) + "\n" for n in range(start, start + lines))
    return SimpleUploadedFile("dolly.jsonl", body.encode())


def _mixed_jsonl(lines: int, start: int) -> SimpleUploadedFile:
    """``lines`` new records, then as many lines again that are not imported: each new
    record once more (a duplicate within the file), then record 0 (a duplicate of the first
    import's prompt) and a rejected line."""
    body = [_basil(n) for n in range(start, start + lines)]
    body += [_basil(n) for n in range(start, start + lines)]
    body += [_basil(0), _basil(start).replace("general_qa", "poetry")]
    return SimpleUploadedFile("dolly.jsonl", "".join(f"{line}\n" for line in body).encode())


def test_an_import_runs_the_same_queries_for_more_lines(maintainer, send_import):
    """The Import page's form and the import it sends, and so the API and the command, which
    run the same import: lines are checked for duplicates together and written together, and
    the policy is read once."""
    client = web(maintainer)
    form = {"source": "garden", "licence": "", "language": "en", "state": "accepted"}

    def post(key: str, file: SimpleUploadedFile) -> Any:
        response = send_import(
            client.post, "/imports/", {**form, "idempotency_key": key, "file": file}
        )
        assert response.status_code == 302, response.content[:500]
        return response

    def sent(key: str, file: SimpleUploadedFile) -> int:
        with CaptureQueriesContext(connection) as captured:
            post(key, file)
        return len(captured.captured_queries)

    post("warm", _jsonl(1, 0))  # the first request fills caches (session, policy)
    few = sent("few", _mixed_jsonl(FEW, 100))
    many = sent("many", _mixed_jsonl(MANY, 200))

    assert few == many, f"{few} queries for {FEW} new lines, {many} for {MANY}"
    assert list(Import.objects.values_list("status", "imported").order_by("pk")) == [
        (ImportStatus.DONE, 1),
        (ImportStatus.DONE, FEW),
        (ImportStatus.DONE, MANY),
    ]
    assert Prompt.objects.count() == 1 + FEW + MANY
    assert Response.objects.count() == 1 + FEW + MANY


def test_the_import_api_runs_the_same_queries_for_more_lines(api_maintainer, send_import):
    counts = []
    for lines, start in ((1, 0), (FEW, 100), (MANY, 200)):  # the first warms caches
        with CaptureQueriesContext(connection) as captured:
            response = send_import(
                api_maintainer.post,
                "/api/v1/imports/",
                {"file": _mixed_jsonl(lines, start)},
                format="multipart",
            )
        assert response.status_code == 202, response.content[:500]
        counts.append(len(captured.captured_queries))
        job = api_maintainer.get(response.json()["url"]).json()
        assert job["status"] == "done", job["error"]
        assert job["report"]["imported"] == lines
        assert job["report"]["duplicates"] == lines + 1

    assert counts[1] == counts[2], counts


def test_an_imports_queries_grow_with_its_batches_not_its_lines(maintainer):
    options = check_import_options(source="garden", batch_size=10)

    def run(lines: int, start: int) -> int:
        stream = io.BytesIO(_jsonl(lines, start).read())
        with CaptureQueriesContext(connection) as captured:
            report = prompts_import_jsonl(stream, author=maintainer, options=options)
        assert report.imported == lines
        return len(captured.captured_queries)

    run(1, 0)  # creates the policy with the defaults, on first use
    one_batch = run(2, 1000)
    assert run(9, 2000) == one_batch
    per_batch = run(19, 3000) - one_batch
    assert run(39, 4000) == one_batch + 3 * per_batch
    # The batch's savepoint, the write's, the trigram indexes' pending-list limit lifted for
    # the batch (see collection.search), the importer's account read under its lock (see
    # check_may_contribute_now), the duplicate check, the prompts' insert in a savepoint of its
    # own, the answers' insert, the policy's gate and the policy as the batch commits (see
    # collection.policy.policy_gate): 13 (it was about 12 per line).
    assert per_batch <= 13, per_batch


def test_the_import_pages_report_is_shown_again_in_the_same_queries_for_more_lines(
    maintainer, send_import
):
    """A resent import form goes to the first import's page, which shows its report: reading
    it back does not run a query per line."""
    client = web(maintainer)
    counts = []
    for lines, key in ((FEW, "few"), (MANY, "many")):
        form = {"idempotency_key": key, "source": "garden", "licence": "", "language": "en"}

        def post(form: dict[str, str] = form, lines: int = lines, **kwargs: Any) -> Any:
            return client.post(
                "/imports/", {**form, "state": "accepted", "file": _jsonl(lines, 0)}, **kwargs
            )

        first = send_import(post)
        assert first.status_code == 302
        counts.append(queries(functools.partial(post, follow=True)))
        again = post(follow=True)
        assert again.redirect_chain == [(first["Location"], 302)]
        assert "This file was already sent from this form" in again.content.decode()
        # Lines 0 to FEW - 1 were imported by the first form already: duplicates the second.
        new = lines if key == "few" else MANY - FEW
        assert f'data-testid="count-imported">{new}<' in again.content.decode()
        assert f'data-testid="count-duplicates">{lines - new}<' in again.content.decode()
    assert Import.objects.count() == 2
    assert counts[0] == counts[1], counts


def test_the_home_page_runs_the_same_queries_for_more_prompts(api_anon):
    client = web(None)
    assert_flat(lambda: client.get("/"), public_prompts)
