"""The report form under each prompt and answer counts against the API's per-user limit on
reports (HEARTH_RATE_FLAGS, the same counter): over it, a 429 page says so and nothing is
stored. Until now only the API was limited, and reports through the page went on."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.moderation.models import Flag
from tests.conftest import assert_429_says_when, client_for
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def test_reports_on_the_page_and_through_the_api_share_one_limit(volunteer, volunteer2, limits):
    limits(flags="2/hour")
    prompts = [PromptFactory(author=volunteer2) for _ in range(4)]
    answer = ResponseFactory(prompt=prompts[3], author=volunteer2)
    api = client_for(volunteer)
    web = Client()
    web.force_login(volunteer)
    flag = {"prompt_id": prompts[0].pk, "reason": "spam"}
    assert api.post("/api/v1/flags/", flag, format="json").status_code == 201
    assert web.post(f"/flag/prompt/{prompts[1].pk}/", {"reason": "spam"}).status_code == 302

    for url in (f"/flag/prompt/{prompts[2].pk}/", f"/flag/response/{answer.pk}/"):
        html = assert_429_says_when(web.post(url, {"reason": "pii", "note": "an address"}))
        assert "Your report was not sent." in html
    assert f'href="/prompts/{prompts[3].pk}/"' in html
    flag = {"prompt_id": prompts[2].pk, "reason": "spam"}
    assert api.post("/api/v1/flags/", flag, format="json").status_code == 429
    assert Flag.objects.count() == 2
