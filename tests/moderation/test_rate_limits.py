"""The report form under each prompt and answer counts against the API's per-user limit on
reports (HEARTH_RATE_FLAGS, the same counter): over it, a 429 page says so and nothing is
stored. Until now only the API was limited, and reports through the page went on."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from apps.core.throttling import ScopedThrottle
from apps.moderation.models import Flag
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_reports_an_hour():
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    ScopedThrottle.THROTTLE_RATES = {**rates, "flags": "2/hour"}
    yield
    ScopedThrottle.THROTTLE_RATES = rates


def test_reports_on_the_page_and_through_the_api_share_one_limit(
    volunteer, volunteer2, two_reports_an_hour
):
    prompts = [PromptFactory(author=volunteer2) for _ in range(4)]
    answer = ResponseFactory(prompt=prompts[3], author=volunteer2)
    api = client_for(volunteer)
    web = Client()
    web.force_login(volunteer)
    flag = {"prompt_id": prompts[0].pk, "reason": "spam"}
    assert api.post("/api/v1/flags/", flag, format="json").status_code == 201
    assert web.post(f"/flag/prompt/{prompts[1].pk}/", {"reason": "spam"}).status_code == 302

    for url in (f"/flag/prompt/{prompts[2].pk}/", f"/flag/response/{answer.pk}/"):
        r = web.post(url, {"reason": "pii", "note": "an address"})
        assert r.status_code == 429
        html = r.content.decode()
        wait = re.search(r"Too many requests\. Try again in (\d+) seconds?\.", html)
        assert wait and r["Retry-After"] == wait.group(1)
        assert "Your report was not sent." in html
    assert f'href="/prompts/{prompts[3].pk}/"' in html
    flag = {"prompt_id": prompts[2].pk, "reason": "spam"}
    assert api.post("/api/v1/flags/", flag, format="json").status_code == 429
    assert Flag.objects.count() == 2
