"""What counts in a prompt's consensus follows moderation: a banned ranker's votes stop
counting (and count again after an unban), and a hidden or withdrawn answer drops out."""

from __future__ import annotations

import pytest

from apps.collection.services import response_withdraw
from apps.feedback.models import PromptConsensus
from apps.moderation import services
from tests.factories import UserFactory
from tests.releases.helpers import World, ranked_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt_and_people(moderator):
    world = World()
    author, a0, a1, a2, honest1, honest2, spammer = (UserFactory() for _ in range(7))
    prompt = ranked_prompt(
        world,
        "p",
        author=author,
        answerers=[a0, a1, a2],
        rankers=[honest1, honest2, spammer],
        orders=[[0, 1, 2], [0, 1, 2], [2, 1, 0]],
    )
    return world, prompt, spammer, [a0, a1, a2]


def consensus(prompt):
    return PromptConsensus.objects.get(prompt=prompt)


def test_a_banned_rankers_votes_stop_counting_and_count_again_after_an_unban(
    moderator, prompt_and_people
):
    world, prompt, spammer, _ = prompt_and_people
    before = consensus(prompt)
    assert before.rankers == 3 and before.agreement < 1
    services.user_ban(moderator=moderator, user=spammer, reason="random rankings")
    after = consensus(prompt)
    assert after.rankers == 2 and after.agreement == pytest.approx(1.0)
    assert after.order == [world.responses[f"p.{i}"].pk for i in range(3)]
    services.user_unban(moderator=moderator, user=spammer)
    assert consensus(prompt).rankers == 3
    assert consensus(prompt).agreement == pytest.approx(before.agreement)


def test_a_hidden_answer_drops_out_of_the_consensus_and_comes_back_when_restored(
    moderator, prompt_and_people
):
    world, prompt, _, _ = prompt_and_people
    best = world.responses["p.0"]
    services.content_hide(moderator=moderator, target=best, reason="copied from a chatbot")
    assert best.pk not in consensus(prompt).order
    best.refresh_from_db()
    second = world.responses["p.1"]
    second.refresh_from_db()
    assert best.consensus_rank is None and second.consensus_rank == 1
    services.content_restore(moderator=moderator, target=best)
    best.refresh_from_db()
    assert consensus(prompt).order[0] == best.pk and best.consensus_rank == 1


def test_a_withdrawn_answer_drops_out_of_the_consensus(prompt_and_people):
    world, prompt, _, answerers = prompt_and_people
    response_withdraw(response=world.responses["p.2"], user=answerers[2])
    order = consensus(prompt).order
    assert world.responses["p.2"].pk not in order and len(order) == 2
