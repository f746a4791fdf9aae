"""apps.core.paging: IdsFirst pages a QuerySet as the QuerySet would page itself, reading each
page's ids first; and an author's own prompts and answers are found in order from the
author_recent indexes rather than sorted."""

from __future__ import annotations

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Prefetch, Value

from apps.collection import selectors
from apps.collection.models import Prompt, Response
from apps.core.paging import IdsFirst
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def answers():
    author = UserFactory()
    rows = ResponseFactory.create_batch(7, author=author)
    ResponseFactory.create_batch(3)  # someone else's
    return author, rows


def test_pages_hold_the_querysets_rows_in_its_order(answers):
    author, _rows = answers
    newest_first = Response.objects.filter(author=author).order_by("-created_at", "-id")
    pages = IdsFirst(newest_first)
    assert pages.count() == len(pages) == 7
    assert [r.pk for r in pages[2:5]] == [r.pk for r in newest_first[2:5]]
    assert [r.pk for r in pages] == [r.pk for r in newest_first]
    assert pages[0].pk == newest_first[0].pk
    assert pages[-1].pk == newest_first[6].pk
    with pytest.raises(IndexError):
        pages[7]
    with pytest.raises(IndexError):
        pages[-8]
    paged = Paginator(pages, 3).get_page(3)
    assert [r.pk for r in paged] == [newest_first[6].pk]
    assert paged.has_previous() and not paged.has_next()


def test_rows_keep_their_annotations_joins_and_prefetches(answers, django_assert_num_queries):
    author, _rows = answers
    prompts = Prompt.objects.filter(responses__author=author).order_by("id")
    pages = IdsFirst(
        prompts.select_related("author")
        .annotate(marker=Value(7))
        .prefetch_related(Prefetch("responses", queryset=Response.objects.filter(author=author)))
    )
    # The ids, the rows (with their authors), their answers: three queries for a page.
    with django_assert_num_queries(3):
        page = pages[:4]
        assert [p.marker for p in page] == [7] * 4
        assert all(p.author.email for p in page)
        assert all(len(p.responses.all()) == 1 for p in page)


def test_a_row_gone_between_its_id_and_its_row_is_left_out(answers, monkeypatch):
    author, rows = answers
    pages = IdsFirst(Response.objects.filter(author=author).order_by("id"))
    ids = [r.pk for r in rows]
    real_in_bulk = type(pages.rows).in_bulk

    def in_bulk_after_a_delete(queryset, id_list, *args, **kwargs):
        Response.objects.filter(pk=ids[1]).delete()
        return real_in_bulk(queryset, id_list, *args, **kwargs)

    monkeypatch.setattr(type(pages.rows), "in_bulk", in_bulk_after_a_delete)
    assert [r.pk for r in pages[:3]] == [ids[0], ids[2]]


def _plan(queryset) -> str:
    with connection.cursor() as cursor:
        # A test database is small enough to read whole; the plan a large one gets is asked for.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    return queryset.explain()


@pytest.mark.parametrize("kind", ["prompts", "answers"])
def test_an_authors_page_is_read_in_order_from_an_index(kind):
    from tests.missing import missing

    if connection.vendor != "postgresql":
        missing("needs PostgreSQL (DATABASE_URL)")
    author = UserFactory()
    if kind == "prompts":
        PromptFactory.create_batch(3, author=author)
        rows = selectors.prompt_list_with_own_answers(user=author)
        index = "prompt_author_recent"
    else:
        ResponseFactory.create_batch(3, author=author)
        rows = selectors.response_list_on_others_prompts(user=author)
        index = "response_author_recent"
    plan = _plan(rows.values_list("pk", flat=True)[40:60])
    assert index in plan
    assert "Sort" not in plan, plan
