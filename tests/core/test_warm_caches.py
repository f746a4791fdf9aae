"""The beat task core.warm_caches: it computes the site-wide cached values (home page counts,
Community boards, Progress, the suggested test share) before a visitor would, so a page that
reads them finds each kept and fresh, on a cold cache and when one is about to go stale."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.community.selectors import today_utc
from apps.core import caching
from apps.core.tasks import warm_caches
from apps.releases.models import Release
from tests.community.helpers import contribute
from tests.factories import PromptFactory, ResponseFactory
from tests.query_counts import web

pytestmark = pytest.mark.django_db

# The pages that read a site-wide value, and who visits them.
PAGES = [
    ("anonymous", "/"),
    ("anonymous", "/community/"),
    ("anonymous", "/community/?period=month"),
    ("anonymous", "/community/?period=all"),
    ("anonymous", "/community/?view=progress"),
    ("volunteer", "/mine/"),  # Your impact: the board of each period
    ("maintainer", "/releases/"),  # the form's suggested test share
]


@pytest.fixture
def site(volunteer, volunteer2, maintainer):
    """Some of everything the values count, and a release."""
    contribute(volunteer, prompts=2, answers=1, reviews=2, rankings=1)
    contribute(volunteer2, prompts=1, answers=2, reviews=1)
    ResponseFactory(prompt=PromptFactory(author=volunteer2), author=volunteer)
    Release.objects.create(number=1, version="v1", created_by=maintainer)
    return {"anonymous": None, "volunteer": volunteer, "maintainer": maintainer}


def statements(fetch: Callable[[], Any]) -> list[str]:
    """The SQL one request runs, its literals left out (a session's expiry names the time).
    Counting is not enough: a board read from the cache takes a query of its own too."""
    with CaptureQueriesContext(connection) as captured:
        assert fetch().status_code == 200
    return [re.sub(r"'[^']*'", "?", query["sql"]) for query in captured.captured_queries]


def prompts_counted(client: Any) -> int:
    html = client.get("/").content.decode()
    return int(re.findall(r'data-testid="count-prompts">([\d,]+)<', html)[0].replace(",", ""))


def forget_site_wide_values() -> None:
    """A cold cache for the site-wide values only (sessions, policy and the like stay)."""
    caching.warm_site_wide()  # imports the selectors modules, which name their values
    for values in caching._SITE_WIDE.values():
        for value in values():
            cache.delete(f"cached:{value.key}")


def test_it_warms_each_site_wide_value_visitors_read_and_nothing_per_person(site):
    today = today_utc()
    week_start = (today - dt.timedelta(days=today.weekday())).isoformat()
    assert sorted(warm_caches()) == sorted(
        [
            "collection:site-counts:v1",
            f"community:leaderboard:v1:week:{week_start}",
            f"community:leaderboard:v1:month:{today.replace(day=1).isoformat()}",
            "community:leaderboard:v1:all:all",
            f"community:progress:v2:{today.isoformat()}",
            "releases:suggested-test-share:1:building",
        ]
    )


@pytest.mark.parametrize(("visitor", "path"), PAGES)
def test_after_a_run_on_a_cold_cache_the_next_visit_computes_nothing(site, visitor, path):
    client = web(site[visitor])
    client.get(path)
    kept = statements(lambda: client.get(path))  # every value kept: the page's own queries
    forget_site_wide_values()
    assert statements(lambda: client.get(path)) != kept  # cold: the visit computes them

    forget_site_wide_values()
    warm_caches()
    assert statements(lambda: client.get(path)) == kept


def test_a_value_about_to_go_stale_is_computed_again_and_a_fresh_one_is_left(
    site, client, monkeypatch
):
    warm_caches()
    kept = statements(lambda: client.get("/"))
    before = prompts_counted(client)
    assert warm_caches() == []  # all fresh for a minute: nothing computed again
    PromptFactory()
    almost_stale = time.time() + 60 - caching.WARM_AHEAD_SECONDS + 1
    monkeypatch.setattr(caching.time, "time", lambda: almost_stale)
    assert "collection:site-counts:v1" in warm_caches()
    # Visitors still find the counts fresh, and they show the new prompt without counting.
    assert statements(lambda: client.get("/")) == kept
    assert prompts_counted(client) == before + 1


def test_a_stale_value_is_computed_again(site, client, monkeypatch):
    warm_caches()
    kept = statements(lambda: client.get("/"))
    before = prompts_counted(client)
    PromptFactory()
    stale = time.time() + 61
    monkeypatch.setattr(caching.time, "time", lambda: stale)
    assert "collection:site-counts:v1" in warm_caches()
    assert statements(lambda: client.get("/")) == kept
    assert prompts_counted(client) == before + 1


def test_a_value_another_process_is_refreshing_is_left_to_it(site, monkeypatch):
    warm_caches()
    stale = time.time() + 61
    monkeypatch.setattr(caching.time, "time", lambda: stale)
    assert cache.add("cached:collection:site-counts:v1:refreshing", 1, 30)
    assert "collection:site-counts:v1" not in warm_caches()


def test_a_cache_of_this_process_alone_is_not_warmed(site, settings):
    """The embedded default's LocMemCache: what a worker kept there no web process reads."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert warm_caches() == []


def test_beat_runs_it_in_the_default_queue_within_the_warm_ahead_time(settings):
    from apps.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["warm-site-wide-caches"]
    assert entry["task"] == warm_caches.name
    assert entry["schedule"] < caching.WARM_AHEAD_SECONDS
    assert app.amqp.router.route({}, warm_caches.name)["queue"].name == "default"
