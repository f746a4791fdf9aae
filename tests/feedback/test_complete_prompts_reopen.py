"""A complete prompt that no longer stands on work that counts reopens (spam QA: a banned
ring's answers and rankings left prompts complete on its terms, shipped in the next release):
with fewer than two answers left to rank it collects again (its rankings retired when it ranks
again); with fewer
rankings by rankers not banned than the policy asks for it ranks again for those it lacks.
Either way its consensus goes until it completes again."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.collection.models import Prompt, PromptState, Response
from apps.feedback.models import PromptConsensus, Ranking
from apps.moderation import services as moderation
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.releases.helpers import World, ranked_prompt

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/tasks/next/"


def submit(client, task_id, payload):
    return client.post(f"/api/v1/tasks/{task_id}/submit/", payload, format="json")


def complete_prompt(world, name, *, rankers, answerers=None):
    answerers = answerers or [UserFactory() for _ in range(3)]
    return ranked_prompt(world, name, author=UserFactory(), answerers=answerers, rankers=rankers)


def test_a_banned_rankers_complete_prompt_ranks_again_and_completes_with_a_new_ranking(
    moderator, make_volunteer
):
    world = World()
    spammer, honest1, honest2 = (UserFactory() for _ in range(3))
    prompt = complete_prompt(world, "p", rankers=[spammer, honest1, honest2])
    assert PromptConsensus.objects.get(prompt=prompt).rankers == 3

    moderation.user_ban(moderator=moderator, user=spammer, reason="ring")
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 1)
    assert not PromptConsensus.objects.filter(prompt=prompt).exists()
    assert Ranking.objects.filter(prompt=prompt, retired_at__isnull=True).count() == 3
    assert not Response.objects.filter(prompt=prompt, consensus_rank__isnull=False).exists()

    # One slot: a new ranker gets it, and the prompt completes again with a consensus.
    ranker = client_for(make_volunteer())
    task = ranker.get(NEXT, {"type": "rank"}).json()
    order = [world.responses[f"p.{i}"].pk for i in range(3)]
    assert submit(ranker, task["id"], {"order": order}).status_code == 200
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COMPLETE
    consensus = PromptConsensus.objects.get(prompt=prompt)
    assert consensus.rankers == 3 and consensus.order == order
    assert client_for(make_volunteer()).get(NEXT, {"type": "rank"}).status_code == 404


def test_two_banned_rankers_need_two_new_rankings_before_it_completes(moderator, make_volunteer):
    world = World()
    spam1, spam2, honest = (UserFactory() for _ in range(3))
    prompt = complete_prompt(world, "p", rankers=[spam1, spam2, honest])
    moderation.user_ban(moderator=moderator, user=spam1, reason="ring")
    moderation.user_ban(moderator=moderator, user=spam2, reason="ring")
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 2)
    order = [world.responses[f"p.{i}"].pk for i in range(3)]
    for expected in (PromptState.RANKING, PromptState.COMPLETE):
        ranker = client_for(make_volunteer())
        task = ranker.get(NEXT, {"type": "rank"}).json()
        assert submit(ranker, task["id"], {"order": order}).status_code == 200
        prompt.refresh_from_db()
        assert prompt.state == expected
    assert PromptConsensus.objects.get(prompt=prompt).rankers == 3


def test_a_complete_prompt_with_its_answers_hidden_down_to_one_collects_again(moderator):
    world = World()
    prompt = complete_prompt(world, "p", rankers=[UserFactory() for _ in range(3)])
    for i in (1, 2):
        moderation.content_hide(moderator=moderator, target=world.responses[f"p.{i}"], reason="x")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING
    assert prompt.open_slots == 2  # the policy's responses_to_collect (3) less the one left
    assert not PromptConsensus.objects.filter(prompt=prompt).exists()
    assert not Response.objects.filter(prompt=prompt, consensus_rank__isnull=False).exists()
    # Its rankings are kept, to be retired when it ranks again (as for a prompt that went
    # back to collecting from ranking: tests/feedback/test_rank_sets.py).
    assert Ranking.objects.filter(prompt=prompt, retired_at__isnull=True).count() == 3


def test_a_banned_answer_authors_complete_prompt_collects_again(moderator):
    world = World()
    spam1, spam2 = UserFactory(), UserFactory()
    prompt = complete_prompt(
        world,
        "p",
        rankers=[UserFactory() for _ in range(3)],
        answerers=[UserFactory(), spam1, spam2],
    )
    moderation.user_ban(moderator=moderator, user=spam1, reason="ring")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COMPLETE  # two answers left: still a rank set
    moderation.user_ban(moderator=moderator, user=spam2, reason="ring")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING and prompt.open_slots == 2
    assert not PromptConsensus.objects.filter(prompt=prompt).exists()


def test_a_complete_prompt_the_ban_leaves_standing_keeps_its_consensus(moderator):
    world = World()
    spammer = UserFactory()
    other = complete_prompt(world, "a", rankers=[spammer, UserFactory(), UserFactory()])
    # Four rankings, one by the spammer: three still count.
    kept = complete_prompt(world, "b", rankers=[spammer, *(UserFactory() for _ in range(3))])
    before = PromptConsensus.objects.get(prompt=kept)
    moderation.user_ban(moderator=moderator, user=spammer, reason="ring")
    kept.refresh_from_db()
    assert kept.state == PromptState.COMPLETE
    after = PromptConsensus.objects.get(prompt=kept)
    assert after.pk == before.pk and after.rankers == 3
    other.refresh_from_db()
    assert other.state == PromptState.RANKING


def test_a_ranking_prompt_gets_back_the_slot_of_a_banned_rankers_ranking(moderator, make_volunteer):
    world = World()
    spammer = UserFactory()
    prompt = ranked_prompt(
        world,
        "p",
        author=UserFactory(),
        answerers=[UserFactory() for _ in range(3)],
        rankers=[spammer, UserFactory()],
        complete=False,
    )
    Prompt.objects.filter(pk=prompt.pk).update(open_slots=1)
    moderation.user_ban(moderator=moderator, user=spammer, reason="ring")
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 2)
    order = [world.responses[f"p.{i}"].pk for i in range(3)]
    ranker = client_for(make_volunteer())
    task = ranker.get(NEXT, {"type": "rank"}).json()
    assert submit(ranker, task["id"], {"order": order}).status_code == 200
    prompt.refresh_from_db()
    assert prompt.state == PromptState.RANKING  # two rankings count of three
    assert not PromptConsensus.objects.filter(prompt=prompt).exists()


def _ban_queries(moderator, prompts: int) -> int:
    world = World()
    spammer = UserFactory()
    for i in range(prompts):
        if i % 2:
            complete_prompt(world, f"r{i}", rankers=[spammer, UserFactory(), UserFactory()])
        else:
            complete_prompt(
                world,
                f"c{i}",
                rankers=[UserFactory() for _ in range(3)],
                answerers=[UserFactory(), spammer, UserFactory()],
            )
            # One answer hidden already: the spammer's leaves one to rank.
            Response.objects.filter(pk=world.responses[f"c{i}.2"].pk).update(
                hidden_at="2026-01-01T00:00:00Z"
            )
    # A fresh copy of the moderator each time: a user caches its permissions.
    moderator = User.objects.get(pk=moderator.pk)
    with CaptureQueriesContext(connection) as queries:
        moderation.user_ban(moderator=moderator, user=spammer, reason="ring")
    states = set(
        Prompt.objects.filter(pk__in=[p.pk for p in world.prompts.values()]).values_list(
            "state", flat=True
        )
    )
    assert states == {PromptState.RANKING, PromptState.COLLECTING}
    assert not PromptConsensus.objects.filter(prompt__in=world.prompts.values()).exists()
    return len(queries)


def test_the_bans_queries_do_not_grow_with_the_prompts_it_reopens(moderator):
    assert _ban_queries(moderator, 2) == _ban_queries(moderator, 10)


@pytest.mark.django_db(transaction=True)
def test_the_next_release_leaves_a_reopened_prompts_pairs_out(settings, tmp_path, moderator):
    """Spam QA: release v3 shipped pairs of prompts complete on banned rankers' rankings."""
    from tests.releases.helpers import all_rows, build

    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    world = World()
    spammer = UserFactory()
    reopened = complete_prompt(world, "r", rankers=[spammer, UserFactory(), UserFactory()])
    kept = complete_prompt(world, "k", rankers=[UserFactory() for _ in range(3)])
    before = {row["prompt_id"] for row in all_rows(build(), "preferences")}
    assert before == {reopened.pk, kept.pk}
    moderation.user_ban(moderator=moderator, user=spammer, reason="ring")
    release = build()
    assert {row["prompt_id"] for row in all_rows(release, "preferences")} == {kept.pk}
    # Its rankings that still count are published, as those of any prompt ranking.
    ranked = {(row["prompt_id"], row["ranker"]) for row in all_rows(release, "rankings")}
    assert len([1 for prompt_id, _ in ranked if prompt_id == reopened.pk]) == 2
