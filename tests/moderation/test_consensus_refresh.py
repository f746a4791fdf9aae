"""What counts in a prompt's consensus follows moderation: a banned ranker's votes stop
counting (and count again after an unban), and a hidden or withdrawn answer, or one whose
author is banned, drops out."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.collection.models import CollectionPolicy, PromptState, Response
from apps.collection.policy import current_policy
from apps.collection.services import response_withdraw
from apps.feedback.models import PromptConsensus, Ranking
from apps.feedback.services import consensus_run
from apps.moderation import services
from apps.moderation.models import Flag
from tests.factories import UserFactory, reporter
from tests.locks import require_row_locks
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
    # Two rankings that count are enough: the ban leaves the prompt complete (with fewer it
    # ranks again: tests/feedback/test_complete_prompts_reopen.py).
    CollectionPolicy.objects.filter(pk=current_policy().pk).update(rankings_required=2)
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


def test_a_banned_answerers_answer_drops_out_and_comes_back_after_an_unban(
    moderator, prompt_and_people
):
    world, prompt, _, answerers = prompt_and_people
    best = world.responses["p.0"]
    services.user_ban(moderator=moderator, user=answerers[0], reason="copied from a chatbot")
    assert consensus(prompt).order == [world.responses["p.1"].pk, world.responses["p.2"].pk]
    best.refresh_from_db()
    assert best.consensus_rank is None
    services.user_unban(moderator=moderator, user=answerers[0])
    assert consensus(prompt).order[0] == best.pk
    best.refresh_from_db()
    assert best.consensus_rank == 1


def test_when_every_ranker_is_banned_the_prompt_ranks_again_without_a_consensus(
    moderator, prompt_and_people
):
    _world, prompt, spammer, _ = prompt_and_people
    rankers = list(User.objects.filter(rankings__prompt=prompt))
    for ranker in rankers:
        services.user_ban(moderator=moderator, user=ranker, reason="a ring of fake rankers")
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 3)
    assert not PromptConsensus.objects.filter(prompt=prompt).exists()
    assert not Response.objects.filter(prompt=prompt, consensus_rank__isnull=False).exists()
    # An unban makes that ranking count again toward the three it needs; the prompt goes on
    # ranking (a consensus is run when it completes).
    services.user_unban(moderator=moderator, user=spammer)
    prompt.refresh_from_db()
    assert prompt.state == PromptState.RANKING
    assert not PromptConsensus.objects.filter(prompt=prompt).exists()


def test_an_answer_restored_after_rankings_made_without_it_stays_out_of_the_vote(moderator):
    """Rankers who never saw it cannot have ordered it: it gets no consensus rank (until now
    the restore failed, every ranking having to order every answer)."""
    world = World()
    author, a0, a1, a2, *rankers = (UserFactory() for _ in range(7))
    prompt = ranked_prompt(
        world, "p", author=author, answerers=[a0, a1, a2], rankers=[], complete=False
    )
    late = world.responses["p.0"]
    services.content_hide(moderator=moderator, target=late, reason="looks copied")
    kept = [world.responses["p.2"].pk, world.responses["p.1"].pk]
    for ranker in rankers:
        Ranking.objects.create(ranker=ranker, prompt=prompt, order=kept)
    consensus_run(prompt=prompt)
    services.content_restore(moderator=moderator, target=late, reason="it was not copied")
    assert consensus(prompt).order == kept
    assert consensus(prompt).rankers == 3
    late.refresh_from_db()
    assert late.consensus_rank is None


@pytest.mark.parametrize("action", ["flag", "hide", "restore"])
def test_moderating_an_answer_locks_its_prompt_first(moderator, prompt_and_people, action):
    """The dispatcher's order (prompt, then its answers): an answer locked first could wait on
    its prompt while a volunteer's submission holds the prompt and waits on the answer."""
    require_row_locks()
    world, _, _, _ = prompt_and_people
    answer = world.responses["p.0"]
    if action == "restore":
        services.content_hide(moderator=moderator, target=answer, reason="spam")
    with CaptureQueriesContext(connection) as captured:
        if action == "flag":
            services.flag_create(reporter=UserFactory(), target=answer, reason="spam")
        elif action == "hide":
            services.content_hide(moderator=moderator, target=answer, reason="spam")
        else:
            services.content_restore(moderator=moderator, target=answer)
    locked = [
        q["sql"].split(" FROM ", 1)[1].split()[0].strip('"')
        for q in captured.captured_queries
        if q["sql"].endswith("FOR NO KEY UPDATE")
    ]
    assert locked[:2] == ["collection_prompt", "collection_response"], locked


def test_an_answer_hidden_by_flags_drops_out_of_the_consensus(prompt_and_people):
    """The automatic hide changes the rank set as a moderator's does (until now the answer
    kept its consensus rank 1 while hidden)."""
    world, prompt, _, _ = prompt_and_people
    best, second = world.responses["p.0"], world.responses["p.1"]
    for _ in range(3):  # the policy's auto_hide_flags
        services.flag_create(reporter=reporter(), target=best, reason="spam")
    best.refresh_from_db()
    second.refresh_from_db()
    assert best.hidden_at is not None
    assert best.pk not in consensus(prompt).order
    assert best.consensus_rank is None and second.consensus_rank == 1


def test_keeping_an_auto_hidden_answer_hidden_leaves_it_out_of_the_consensus(
    moderator, prompt_and_people
):
    """Keeping hidden an answer the flags hid refreshes the consensus too: one hidden before
    the automatic hide refreshed it still held its rank."""
    world, prompt, _, _ = prompt_and_people
    best = world.responses["p.0"]
    # Hidden by flags before the automatic hide refreshed the consensus.
    for _ in range(3):
        Flag.objects.create(reporter=UserFactory(), response=best, reason="spam")
    Response.objects.filter(pk=best.pk).update(hidden_at=timezone.now())
    assert services.content_hide(moderator=moderator, target=best, reason="spam") is not None
    best.refresh_from_db()
    assert best.consensus_rank is None
    assert best.pk not in consensus(prompt).order


def test_restoring_an_answer_hidden_by_flags_brings_it_back_into_the_consensus(
    moderator, prompt_and_people
):
    world, prompt, _, _ = prompt_and_people
    best = world.responses["p.0"]
    for _ in range(3):
        services.flag_create(reporter=reporter(), target=best, reason="spam")
    services.content_restore(moderator=moderator, target=best, reason="not spam")
    best.refresh_from_db()
    assert consensus(prompt).order[0] == best.pk and best.consensus_rank == 1
