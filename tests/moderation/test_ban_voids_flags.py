"""A ban voids the banned account's reports (spam QA: a ring of 30 accounts whose work was
"accepted" by each other hid 68 items of honest volunteers with 204 flags, and after the bans
those flags stayed open and the items hidden). Its open flags are closed, and what they hid
automatically, with too few flags left from reporters who count, is shown again as a
moderator's restore shows it; what a moderator hid stays hidden. The queue names each flag's
reporter and says whether they are banned."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy
from apps.feedback.models import PromptConsensus
from apps.moderation import services
from apps.moderation.models import Flag, ModerationAction
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory, UserFactory, reporter
from tests.query_counts import web
from tests.releases.helpers import World, ranked_prompt

pytestmark = pytest.mark.django_db

Target = Prompt | Response


def flag_by(reporters: list[User], *targets: Target) -> None:
    for target in targets:
        for person in reporters:
            services.flag_create(reporter=person, target=target, reason="spam")


def fresh(target: Target) -> Target:
    return type(target).objects.get(pk=target.pk)


def is_hidden(target: Target) -> bool:
    return fresh(target).hidden_at is not None


def states(items: list[Target], prompts: list[Prompt]) -> dict[str, Any]:
    """What a restore changes: each item's visibility and consensus rank, each prompt's state
    and open slots, and the prompts' consensus."""
    return {
        "items": [
            (type(t).__name__, t.pk, fresh(t).hidden_at is None, getattr(fresh(t), "state", None))
            for t in items
        ],
        "ranks": sorted(
            Response.objects.filter(prompt__in=prompts).values_list("pk", "consensus_rank")
        ),
        "prompts": sorted(
            Prompt.objects.filter(pk__in=[p.pk for p in prompts]).values_list(
                "pk", "state", "open_slots", "hidden_at"
            )
        ),
        "consensus": sorted(
            PromptConsensus.objects.filter(prompt__in=prompts).values_list(
                "prompt_id", "order", "rankers", "agreement"
            )
        ),
    }


@pytest.fixture
def three_reporters() -> list[User]:
    return [reporter(UserFactory(display_name=f"Deals{i}")) for i in range(3)]


def test_banning_one_reporter_shows_again_what_their_flags_hid_as_a_moderators_restore_would(
    moderator, three_reporters
):
    world = World()
    ranked = ranked_prompt(
        world,
        "p",
        author=UserFactory(),
        answerers=[UserFactory() for _ in range(3)],
        rankers=[UserFactory() for _ in range(3)],
    )
    best = world.responses["p.0"]
    collecting = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    answer = ResponseFactory(prompt=collecting, state=ResponseState.ACCEPTED)
    prompt = PromptFactory(state=PromptState.COMPLETE)
    items: list[Target] = [best, answer, prompt]
    prompts = [ranked, collecting, prompt]
    flag_by(three_reporters, *items)
    assert all(is_hidden(t) for t in items)
    assert fresh(collecting).open_slots == 1  # the hidden answer gave its place back
    assert best.pk not in PromptConsensus.objects.get(prompt=ranked).order

    # What a moderator's restore of each leaves, rolled back.
    with transaction.atomic():
        for target in items:
            services.content_restore(moderator=moderator, target=target)
        restored_by_hand = states(items, prompts)
        transaction.set_rollback(True)
    assert all(is_hidden(t) for t in items)

    banned = three_reporters[0]
    services.user_ban(moderator=moderator, user=banned, reason="spam ring")

    assert states(items, prompts) == restored_by_hand
    assert not any(is_hidden(t) for t in items)
    assert fresh(collecting).open_slots == 0  # the place taken back
    assert PromptConsensus.objects.get(prompt=ranked).order[0] == best.pk
    assert fresh(best).consensus_rank == 1
    # The banned reporter's flags are closed, and say why; the others' stay for a moderator.
    voided = Flag.objects.filter(reporter=banned)
    assert [(f.resolved_by, f.resolution) for f in voided] == [(moderator, "reporter_banned")] * 3
    assert all(f.resolved_at is not None for f in voided)
    assert Flag.objects.filter(resolved_at__isnull=True).count() == 6
    # Each item shown again is logged as the banning moderator's restore, after the ban.
    log = list(ModerationAction.objects.order_by("id").values_list("action", "actor", "reason"))
    reason = "Flags from a banned account no longer count: Deals0"
    assert (
        log[-4:] == [("ban", moderator.pk, "spam ring")] + [("restore", moderator.pk, reason)] * 3
    )
    restored = ModerationAction.objects.filter(action="restore")
    assert {(a.prompt_id, a.response_id) for a in restored} == {
        (None, best.pk),
        (None, answer.pk),
        (prompt.pk, None),
    }

    # An unban reopens none of the flags and hides nothing again.
    services.user_unban(moderator=moderator, user=banned)
    assert not Flag.objects.filter(reporter=banned, resolved_at__isnull=True).exists()
    assert not any(is_hidden(t) for t in items)


def test_an_item_with_enough_flags_left_from_reporters_who_count_stays_hidden(
    moderator, three_reporters
):
    r1, r2, r3 = three_reporters
    r4 = reporter()
    newcomer = UserFactory()  # no accepted work: their flag reaches the queue, hides nothing
    answer = ResponseFactory(state=ResponseState.ACCEPTED)
    prompt = PromptFactory(state=PromptState.COMPLETE)
    flag_by([r1, r2, r3, r4], answer)
    flag_by([newcomer, r1, r2, r3], prompt)
    assert is_hidden(answer) and is_hidden(prompt)
    assert current_policy().auto_hide_flags == 3

    services.user_ban(moderator=moderator, user=r1, reason="spam ring")
    # The answer still has three flags that count (r2, r3, r4): still hidden.
    assert is_hidden(answer)
    assert Flag.objects.get(reporter=r1, response=answer).resolution == "reporter_banned"
    # The prompt has two that count and a newcomer's: shown again.
    assert not is_hidden(prompt)

    services.user_ban(moderator=moderator, user=r2, reason="spam ring")
    assert not is_hidden(answer)


def test_what_a_moderator_hid_or_kept_hidden_stays_hidden(moderator, three_reporters):
    r1, r2, r3 = three_reporters
    # Hidden by a moderator, flagged afterwards.
    hidden_by_hand = ResponseFactory(state=ResponseState.ACCEPTED)
    services.content_hide(moderator=moderator, target=hidden_by_hand, reason="abusive")
    flag_by([r1, r2, r3], hidden_by_hand)
    # Hidden by flags, kept hidden by a moderator, flagged again.
    kept_hidden = PromptFactory(state=PromptState.COMPLETE)
    flag_by([r1, r2, r3], kept_hidden)
    services.content_hide(moderator=moderator, target=kept_hidden, reason="it is spam")
    flag_by([r1, r2], kept_hidden)
    # Hidden by a moderator, restored, then hidden by flags: the latest hide decides.
    hidden_again = PromptFactory(state=PromptState.COMPLETE)
    services.content_hide(moderator=moderator, target=hidden_again, reason="unsure")
    services.content_restore(moderator=moderator, target=hidden_again)
    flag_by([r1, r2, r3], hidden_again)
    assert all(is_hidden(t) for t in (hidden_by_hand, kept_hidden, hidden_again))

    services.user_ban(moderator=moderator, user=r1, reason="spam ring")

    assert is_hidden(hidden_by_hand) and is_hidden(kept_hidden)
    assert not is_hidden(hidden_again)
    assert not Flag.objects.filter(reporter=r1, resolved_at__isnull=True).exists()
    assert set(
        Flag.objects.filter(reporter=r1, resolution="reporter_banned").values_list(
            "prompt_id", "response_id"
        )
    ) == {(None, hidden_by_hand.pk), (kept_hidden.pk, None), (hidden_again.pk, None)}


def test_the_queue_names_each_reporter_and_whether_they_are_banned(moderator, volunteer2):
    old = UserFactory(display_name="Deals9")
    honest = UserFactory(display_name="Honest")
    prompt = PromptFactory(author=volunteer2)
    flag_by([old, honest], prompt)
    # Banned before a ban closed the banned account's flags: its flag is still open.
    User.objects.filter(pk=old.pk).update(banned_at=timezone.now(), ban_reason="spam ring")

    r = client_for(moderator).get("/api/v1/moderation/queue/")
    assert r.status_code == 200
    [item] = r.json()["results"]
    assert item["banned_reporters"] == 1
    assert [f["reporter"] for f in item["flags"]] == [
        {"id": old.pk, "public_name": "Deals9", "banned": True},
        {"id": honest.pk, "public_name": "Honest", "banned": False},
    ]
    flag = Flag.objects.get(reporter=old)
    assert {k: item["flags"][0][k] for k in ("id", "reason", "note")} == {
        "id": flag.pk,
        "reason": "spam",
        "note": "",
    }
    page = web(moderator).get("/moderation/").content.decode()
    assert page.count('data-testid="reporter-banned"') == 1
    assert "from Deals9</span> · <strong" in page

    # A ban now closes the reporter's open flags: they leave the queue.
    services.user_ban(moderator=moderator, user=honest, reason="spam ring")
    [item] = client_for(moderator).get("/api/v1/moderation/queue/").json()["results"]
    assert [f["reporter"]["id"] for f in item["flags"]] == [old.pk]


def _spam_wave(spammer: User, others: list[User], n: int) -> list[Target]:
    """``n`` items, prompts and answers in turn (each answer on a collecting prompt with no
    place open), flagged by ``spammer`` and ``others`` until hidden."""
    items: list[Target] = []
    for i in range(n):
        if i % 2:
            items.append(PromptFactory(state=PromptState.COMPLETE))
        else:
            collecting = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
            items.append(ResponseFactory(prompt=collecting, state=ResponseState.ACCEPTED))
    flag_by([spammer, *others], *items)
    assert all(is_hidden(t) for t in items)
    return items


def _ban_queries(moderator: User, spammer: User) -> int:
    with CaptureQueriesContext(connection) as captured:
        services.user_ban(moderator=moderator, user=spammer, reason="spam ring")
    return len(captured.captured_queries)


def test_a_ban_runs_the_same_queries_for_2_or_20_items_its_flags_hid(moderator):
    others = [reporter(), reporter()]
    spammers = [reporter() for _ in range(3)]
    waves = [_spam_wave(s, others, n) for s, n in zip(spammers, (1, 2, 20), strict=True)]
    _ban_queries(moderator, spammers[0])  # warm
    few, many = _ban_queries(moderator, spammers[1]), _ban_queries(moderator, spammers[2])
    assert few == many
    for items in waves:
        assert not any(is_hidden(t) for t in items)
        for t in items:
            if isinstance(t, Response):
                assert fresh(t).prompt.open_slots == 0
    assert ModerationAction.objects.filter(action="restore").count() == 23
