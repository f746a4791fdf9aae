"""A polled status is not a live region (QA): an import's status was role=status, and htmx
replaced what was inside it every second, so a screen reader was likely to read "Waiting for
a worker" again at every poll. The polled box now names a live region that stays empty until
the status's short sentence (data-announce: the state, the progress in steps of 10%) changes
(static/js/hearth.js; tests/browser/test_a11y_qa.py runs it)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from apps.collection import importing
from apps.collection.models import Import, ImportStatus
from apps.core.templatetags.hearth import coarse_percent


def import_of(author, **fields) -> Import:
    return Import.objects.create(
        created_by=author,
        file_name="herbs.jsonl",
        file_size=1000,
        options={"source": "garden-tips", "licence": "", "language": "en", "state": "accepted"},
        lines_per_status=importing.REPORT_LINES_PER_STATUS,
        **fields,
    )


def announced(page: str) -> str:
    """The sentence the polled status would have said."""
    found = re.search(r"<span hidden data-announce>(.*?)</span>", page, re.S)
    assert found is not None, "no data-announce"
    return unescape(found.group(1))


@pytest.fixture
def web(maintainer) -> Client:
    client = Client()
    client.force_login(maintainer)
    return client


@pytest.mark.django_db
def test_the_polled_status_is_not_a_live_region_and_names_the_one_that_is(web, maintainer):
    job = import_of(maintainer)
    page = web.get(f"/imports/{job.pk}/").content.decode()

    box = re.search(r'<div id="import-status"[^>]*>', page)
    assert box is not None
    assert 'hx-trigger="every 1s"' in box.group(0)
    assert "aria-live" not in box.group(0) and "role=" not in box.group(0)
    assert 'data-announce-into="import-announce"' in box.group(0)
    # Empty when the page opens: the page says the status already.
    assert '<p class="visually-hidden" id="import-announce" role="status"></p>' in page
    assert announced(page) == "Waiting for a worker."


@pytest.mark.django_db
def test_the_sentence_moves_in_steps_of_ten_percent(web, maintainer):
    job = import_of(maintainer, status=ImportStatus.RUNNING, bytes_done=430, lines_read=4)
    url = f"/imports/{job.pk}/"
    for response in (web.get(url), web.get(url, HTTP_HX_REQUEST="true")):
        page = response.content.decode()
        assert "43% of the file read" in page  # what the page shows
        assert announced(page) == "Importing: 40% of the file read."

    Import.objects.filter(pk=job.pk).update(bytes_done=499)
    assert announced(web.get(url, HTTP_HX_REQUEST="true").content.decode()) == (
        "Importing: 40% of the file read."
    )
    Import.objects.filter(pk=job.pk).update(bytes_done=500)
    assert announced(web.get(url, HTTP_HX_REQUEST="true").content.decode()) == (
        "Importing: 50% of the file read."
    )


@pytest.mark.django_db
def test_a_stalled_or_failed_import_says_so(web, maintainer):
    stalled = import_of(maintainer, status=ImportStatus.RUNNING, bytes_done=100)
    Import.objects.filter(pk=stalled.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    assert announced(web.get(f"/imports/{stalled.pk}/").content.decode()) == (
        "Importing: 10% of the file read. No progress: the worker importing it may have stopped."
    )

    failed = import_of(maintainer, status=ImportStatus.FAILED, error="The disk is full.")
    assert announced(web.get(f"/imports/{failed.pk}/").content.decode()) == (
        "Failed: The disk is full."
    )


@pytest.mark.parametrize(
    ("done", "total", "percent"),
    [(0, 100, 0), (9.9, 100, 0), (43, 100, 40), (100, 100, 100), (599, 1000, 50), (7, 0, 0)],
)
def test_coarse_percent(done, total, percent):
    assert coarse_percent(done, total) == percent
