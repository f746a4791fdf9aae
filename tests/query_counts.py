"""Query-count checks shared by the test_query_counts files: a page or API list is fetched
with a few rows and with a page's worth, and must run the same number of queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

FEW, MANY = 3, 25


def queries(fetch: Callable[[], Any]) -> int:
    """How many queries one request runs (it must succeed)."""
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200, response.content[:500]
    return len(captured.captured_queries)


def assert_flat(
    fetch: Callable[[], Any], add_rows: Callable[[int], object], few: int = FEW, many: int = MANY
) -> None:
    """The request runs as many queries with ``many`` rows as with ``few``."""
    add_rows(few)
    fetch()  # warm: the first request may fill caches (policy, sessions)
    counted = queries(fetch)
    add_rows(many - few)
    assert queries(fetch) == counted, f"{counted} queries with {few} rows, not with {many}"


def web(user: Any) -> Client:
    """A browser-like client, signed in as ``user`` unless it is None."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client
