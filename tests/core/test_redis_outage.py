"""With Redis unreachable, pages are computed without the cache instead of failing, and the
cache is used again once Redis answers. (Operator QA: the home page, Browse, Community,
Releases, the API's lists and signing in all answered 500 while Redis was down.)"""

from __future__ import annotations

import logging
import time

import pytest
import redis
from django.core.cache import cache, caches
from django.test import Client

from apps.core import cache as resilient
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

# Nothing listens there: every connection is refused at once.
DEAD = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.ResilientRedisCache",
            "LOCATION": DEAD,
            "KEY_PREFIX": "outage-test",
        }
    }
    settings.REDIS_URL = DEAD
    resilient.outage.__init__()  # type: ignore[misc]
    yield
    resilient.outage.__init__()  # type: ignore[misc]


def test_pages_and_the_api_answer_while_redis_is_down(redis_down, volunteer, caplog):
    ResponseFactory(prompt=PromptFactory(instruction="# A heading, and a long text. " * 100))
    anonymous = Client()
    with caplog.at_level(logging.WARNING, logger="apps.core.cache"):
        for path in ("/", "/browse/", "/community/", "/community/?view=progress", "/releases/"):
            assert anonymous.get(path).status_code == 200, path
        prompt_page = anonymous.get(f"/prompts/{ResponseFactory().prompt_id}/")
        assert prompt_page.status_code == 200
        signin = anonymous.post("/accounts/login/", {"login": volunteer.email, "password": "no"})
        assert signin.status_code == 200 and "not correct" in signin.content.decode()
        api = client_for(volunteer)
        assert api.get("/api/v1/prompts/").status_code == 200
        # A throttled write: its window cannot be counted, so it passes.
        created = api.post(
            "/api/v1/prompts/",
            {
                "instruction": "Name a river in Spain.",
                "category": "open_qa",
                "language": "en",
                "response": "The Ebro.",
            },
            format="json",
        )
        assert created.status_code == 201, created.content
    # One warning for the outage, not one per call.
    warnings = [r for r in caplog.records if r.name == "apps.core.cache"]
    assert len(warnings) == 1 and "Redis is unreachable" in warnings[0].getMessage()
    assert resilient.outage.ongoing()


def test_the_cache_is_used_again_once_redis_answers(monkeypatch, caplog):
    """The real Redis of the test settings: a failure keeps the cache out of the way for
    RETRY_AFTER_SECONDS, then it is read and written as before."""
    monkeypatch.setattr(resilient, "RETRY_AFTER_SECONDS", 0.2)
    resilient.outage.__init__()  # type: ignore[misc]
    assert isinstance(caches["default"], resilient.ResilientRedisCache)
    cache.set("outage-key", "kept")
    assert cache.get("outage-key") == "kept"

    def refused() -> None:
        raise redis.ConnectionError("refused")

    with caplog.at_level(logging.WARNING, logger="apps.core.cache"):
        assert resilient.guarded(refused, "fallback") == "fallback"
        assert resilient.outage.ongoing()
        # Meanwhile the cache is not asked at all: a miss, and writes dropped.
        assert cache.get("outage-key") is None
        cache.set("outage-key", "dropped")
        time.sleep(0.25)
        assert not resilient.outage.ongoing()
        assert cache.get("outage-key") == "kept"
    messages = [r.getMessage() for r in caplog.records if r.name == "apps.core.cache"]
    assert len(messages) == 2 and "answers again" in messages[1]
