"""Download your data (``/profile/export/``, ``GET /api/v1/me/export/``), streamed: the same
text as when the whole export was built in memory, read from the database a chunk of rows at
a time, in as many queries however many rows there are."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.http import JsonResponse
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from apps.accounts import selectors
from apps.collection.models import Prompt
from apps.feedback.models import Ranking, Review
from apps.moderation.models import Flag
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory
from tests.query_counts import web

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """A few rows per fetch, so that the tests' rows take several."""
    monkeypatch.setattr(selectors, "EXPORT_CHUNK_ROWS", 2)


def add_work(user: Any, other: Any, n: int, first: int = 0) -> None:
    """``n`` of each kind of work by ``user`` (numbered from ``first``), in words that JSON
    escapes, and some by ``other`` that the export leaves out."""
    for i in range(first, first + n):
        mine = PromptFactory(
            author=user, instruction=f'Café {i}: «quote» "marks"\nand a line\u2028break'
        )
        theirs = PromptFactory(author=other)
        answer = ResponseFactory(prompt=theirs, author=user, text=f"Answer {i}\twith a tab ✓")
        ResponseFactory(prompt=mine, author=other)
        Review.objects.create(reviewer=user, response=answer, quality=1 + i % 5, spam=i % 2 == 0)
        Review.objects.create(reviewer=other, response=answer, quality=3)
        Ranking.objects.create(ranker=user, prompt=theirs, order=[answer.pk])
        Flag.objects.create(reporter=user, prompt=theirs, reason="spam", note=f"ad {i}")


def read(response: Any) -> bytes:
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content)


def built_in_memory(user: Any, exported_at: str) -> dict[str, Any]:
    """``account_export`` as it was returned before it streamed: every list whole."""
    data = selectors.account_export(user=user)
    data["exported_at"] = exported_at
    return {k: list(v) if isinstance(v, Iterator) else v for k, v in data.items()}


def test_the_download_is_the_text_it_was_when_built_in_memory(volunteer, volunteer2):
    add_work(volunteer, volunteer2, 5)
    r = web(volunteer).get("/profile/export/")
    body = read(r)
    data = built_in_memory(volunteer, json.loads(body)["exported_at"])
    assert len(data["prompts"]) == len(data["answers"]) == len(data["rankings"]) == 5
    before = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 1})
    assert body == before.content
    assert json.loads(body) == data
    assert r["Content-Type"] == "application/json"
    assert r["Content-Disposition"].startswith('attachment; filename="hearth-data-')
    assert r["Cache-Control"] == "no-store"


def test_the_api_sends_the_text_its_renderer_wrote(volunteer, volunteer2):
    add_work(volunteer, volunteer2, 5)
    r = client_for(volunteer).get("/api/v1/me/export/")
    body = read(r)
    data = built_in_memory(volunteer, json.loads(body)["exported_at"])
    assert body == JSONRenderer().render(data)
    assert b"\\u2028" in body  # escaped, as the renderer does
    assert json.loads(body) == data
    assert r["Content-Type"] == "application/json"
    assert r["Cache-Control"] == "no-store"


def test_a_person_with_nothing_gets_empty_lists(volunteer):
    r = client_for(volunteer).get("/api/v1/me/export/")
    data = json.loads(read(r))
    assert data["prompts"] == data["answers"] == data["reviews"] == data["flags"] == []
    assert data["account"]["email"] == volunteer.email


@pytest.mark.parametrize("path", ["/profile/export/", "/api/v1/me/export/"])
def test_more_rows_take_no_more_queries(volunteer, volunteer2, path):
    client = web(volunteer)

    def counted() -> int:
        with CaptureQueriesContext(connection) as captured:
            read(client.get(path))
        return len(captured.captured_queries)

    add_work(volunteer, volunteer2, 1)
    client.get(path)  # the session and the like, read once
    few = counted()
    add_work(volunteer, volunteer2, 9, first=1)
    assert counted() == few


def test_the_rows_are_not_all_held_in_memory_at_once(volunteer):
    """A power user's 13,700 answers were 12.9 MB of JSON, built whole, with a dict per row,
    before a byte was sent: here 4 MB of prompts pass through a fraction of that."""
    big = "x" * 20_000
    Prompt.objects.bulk_create(
        PromptFactory.build(author=volunteer, instruction=f"{i} {big}") for i in range(200)
    )
    client = web(volunteer)
    client.get("/profile/")  # the session and the like, read once
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in client.get("/profile/export/").streaming_content)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 4_000_000
    assert peak < size / 4
