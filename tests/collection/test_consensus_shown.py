"""A ranked prompt's page shows moderators and maintainers its consensus ranking, and no one
else (ML QA: checking released preference pairs against the rankings took the database)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.collection.models import PromptState
from apps.feedback.models import PromptConsensus
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def page(user, prompt) -> str:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(f"/prompts/{prompt.pk}/").content.decode()


def test_moderators_see_the_answers_in_consensus_order_with_the_agreement(
    moderator, maintainer, volunteer
):
    prompt = PromptFactory(state=PromptState.COMPLETE)
    first, second, third = (ResponseFactory(prompt=prompt, text=t) for t in "ABC")
    PromptConsensus.objects.create(
        prompt=prompt,
        order=[third.pk, first.pk, second.pk],
        agreement=0.778,
        rankers=3,
        pairwise_wins={},
    )
    for user in (moderator, maintainer):
        html = page(user, prompt)
        section = re.search(r'data-testid="consensus">(.*?)</section>', html, re.S)
        assert section is not None
        assert re.findall(r'href="#response-(\d+)"', section[1]) == [
            str(third.pk),
            str(first.pk),
            str(second.pk),
        ]
        assert "Merged from 3 rankings by ranked pairs." in section[1]
        assert "Agreement among rankers (Kendall's W): 0.78." in section[1]
    for user in (volunteer, None):
        assert 'data-testid="consensus"' not in page(user, prompt)


def test_an_unusable_set_says_it_gives_no_pairs(moderator):
    prompt = PromptFactory(state=PromptState.COMPLETE)
    ResponseFactory(prompt=prompt)
    PromptConsensus.objects.create(
        prompt=prompt, order=[], agreement=None, rankers=1, unusable_rankers=2, pairwise_wins={}
    )
    html = page(moderator, prompt)
    assert "2 rankers marked the answers unusable." in html
    assert "the prompt gives no preference pairs" in html


def test_no_section_while_a_prompt_has_no_consensus(moderator):
    prompt = PromptFactory(state=PromptState.RANKING)
    ResponseFactory(prompt=prompt)
    assert 'data-testid="consensus"' not in page(moderator, prompt)
