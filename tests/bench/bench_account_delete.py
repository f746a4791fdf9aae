"""Time deleting (or banning) a heavy contributor's account, in bulk and one item at a time.

    .venv/bin/python tests/bench/bench_account_delete.py [--answers 1000 --prompts 500] [--ban]

Seeds a scratch database (``hearth_bench_delete``, dropped and re-created) with one person's
``--answers`` answers to others' prompts (most of them complete, ranked and with a consensus,
the rest ranking, collecting or in review; some already withdrawn or rejected) and
``--prompts`` prompts of their own in every state (past review, with an answer by another). Then
runs ``account_delete`` on them with the current code and with the per-item loop it replaced
(``response_withdraw`` on each answer, ``prompt_withdraw`` on each prompt), each in a
transaction rolled back afterwards (so the commit is not timed), and prints wall time and
queries of each; ``--slowest N`` lists the statements that took longest. With ``--ban`` it times
``user_ban`` of the same person instead, against the loop it replaced (each collecting prompt's
place given back, then each prompt's consensus run again on its own, as the consensus was
written then: ``tests/contributions.py``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import in_process_settings, reset_database  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hearth_bench_delete"


class Rollback(Exception):
    pass


def seed(*, answers: int, prompts: int, rng: random.Random) -> int:
    """The person's id, after creating their work and everyone else's around it."""
    from django.conf import settings
    from django.db import transaction

    from apps.accounts.models import User
    from apps.collection.models import Prompt, PromptState, Response, ResponseState
    from apps.core.text import dedupe_key
    from apps.feedback.models import PromptConsensus, Ranking

    licence = settings.HEARTH_LICENCE_NAME
    S, R = PromptState, ResponseState
    with transaction.atomic():
        person = User.objects.create_user("heavy@bench.invalid", display_name="Heavy")
        others = [
            User.objects.create_user(f"other{i}@bench.invalid", display_name=f"Other {i}")
            for i in range(7)
        ]
        authors, answerers, rankers = others[:2], others[2:4], others[4:]

        def prompt(n: int, author: Any, state: str) -> Prompt:
            text = f"Bench prompt {n}: explain idea {rng.random()} in simple words."
            return Prompt(
                author=author,
                instruction=text,
                instruction_key=dedupe_key(text),
                category="open_qa",
                language="en",
                state=state,
                licence=licence,
                open_slots={S.REVIEW: 2, S.COLLECTING: 1, S.RANKING: 2}.get(state, 0),
            )

        # The person's answers: the prompts they are on, by state, and the answer's state.
        kinds = rng.choices(
            [
                (S.COMPLETE, R.ACCEPTED),
                (S.RANKING, R.ACCEPTED),
                (S.COLLECTING, R.ACCEPTED),
                (S.COLLECTING, R.REVIEW),
                (S.COLLECTING, R.REJECTED),
                (S.REVIEW, R.REVIEW),
            ],
            weights=[60, 10, 10, 10, 5, 5],
            k=answers,
        )
        theirs = Prompt.objects.bulk_create(
            prompt(n, authors[n % 2], state) for n, (state, _) in enumerate(kinds)
        )
        mine = Prompt.objects.bulk_create(
            prompt(answers + n, person, (S.REVIEW, S.COLLECTING, S.RANKING, S.COMPLETE)[n % 4])
            for n in range(prompts)
        )
        rows: list[Response] = []
        for n, (p, (_, state)) in enumerate(zip(theirs, kinds, strict=True)):
            withdrawn = rng.random() < 0.02
            rows.append(
                Response(
                    prompt=p,
                    author=person,
                    text=f"My answer {n}.",
                    state=state,
                    licence=licence,
                    withdrawn_at=p.created_at if withdrawn else None,
                )
            )
            if p.state != S.REVIEW:
                rows += [
                    Response(
                        prompt=p, author=a, text=f"Answer {n}.", state=R.ACCEPTED, licence=licence
                    )
                    for a in answerers
                ]
        rows += [
            Response(
                prompt=p, author=answerers[0], text="Theirs.", state=R.ACCEPTED, licence=licence
            )
            for p in mine
            if p.state != S.REVIEW
        ]
        responses = Response.objects.bulk_create(rows)
        by_prompt: dict[int, list[int]] = {}
        for r in responses:
            if r.withdrawn_at is None and r.state == R.ACCEPTED:
                by_prompt.setdefault(r.prompt_id, []).append(r.pk)
        rankings, consensus = [], []
        for p in [*theirs, *mine]:
            if p.state != S.COMPLETE:
                continue
            ids = by_prompt.get(p.pk, [])
            for ranker in rankers:
                rankings.append(Ranking(ranker=ranker, prompt=p, order=rng.sample(ids, len(ids))))
            consensus.append(PromptConsensus(prompt=p, order=ids, agreement=0.5, rankers=3))
        Ranking.objects.bulk_create(rankings)
        PromptConsensus.objects.bulk_create(consensus)
    return person.pk


def banning(ban: Callable[..., Any], moderator_id: int) -> Callable[..., Any]:
    """``ban`` as ``timed`` calls an action: by a moderator, for a reason."""
    from apps.accounts.models import User

    moderator = User.objects.get(pk=moderator_id)
    return lambda *, user: ban(moderator=moderator, user=user, reason="bench")


@contextmanager
def counting() -> Iterator[list[tuple[float, str]]]:
    """Each statement run meanwhile, with its time."""
    from django.db import connection

    statements: list[tuple[float, str]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - start, sql))

    with connection.execute_wrapper(wrapper):
        yield statements


def timed(
    name: str, action: Callable[..., Any], user_id: int, slowest: int = 0, *, ban: bool = False
) -> None:
    """Run ``action`` (a deletion, or a ban) in a transaction that is rolled back, so the next
    run finds the same rows; then vacuum, so it does not find the dead ones either."""
    from django.db import connection, transaction

    from apps.accounts.models import User
    from apps.collection.models import Prompt, Response

    user = User.objects.get(pk=user_id)
    live = Response.objects.filter(author=user, withdrawn_at__isnull=True).count()
    live_prompts = Prompt.objects.filter(author=user, withdrawn_at__isnull=True).count()
    try:
        with transaction.atomic():
            with counting() as statements:
                start = time.perf_counter()
                action(user=user)
                elapsed = time.perf_counter() - start
            if ban:
                assert User.objects.get(pk=user_id).banned_at is not None, f"{name}: not banned"
            else:
                left = Response.objects.filter(author=user, withdrawn_at__isnull=True).count()
                assert left == 0, f"{name}: {left} answers left"
            raise Rollback
    except Rollback:
        pass
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"{name:>9}: {live:,} answers + {live_prompts:,} prompts in {elapsed:.2f} s, "
        f"{len(statements):,} queries ({sum(t for t, _ in statements):.2f} s in them)",
        flush=True,
    )
    for seconds, sql in sorted(statements, reverse=True)[:slowest]:
        print(f"    {seconds:6.3f} s  {sql[:160]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1000, help="the person's answers [1000]")
    parser.add_argument("--prompts", type=int, default=500, help="the person's prompts [500]")
    parser.add_argument("--runs", type=int, default=1, help="runs of each [1]")
    parser.add_argument("--skip-per-item", action="store_true", help="time the bulk path alone")
    parser.add_argument("--slowest", type=int, default=0, help="print the N slowest statements")
    parser.add_argument("--ban", action="store_true", help="time a ban instead of a deletion")
    args = parser.parse_args()
    in_process_settings(DATABASE_URL, "hearth-bench-delete-")
    reset_database(os.environ["DATABASE_URL"])
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    import django

    django.setup()
    from django.db import connection

    from apps.accounts.models import User
    from apps.accounts.services import account_delete
    from apps.moderation.services import user_ban
    from tests.contributions import account_delete_one_by_one, user_ban_one_by_one

    start = time.perf_counter()
    user_id = seed(answers=args.answers, prompts=args.prompts, rng=random.Random(1))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"seeded in {time.perf_counter() - start:.1f} s", flush=True)
    bulk, per_item = account_delete, account_delete_one_by_one
    if args.ban:
        moderator = User.objects.create_superuser("moderator@bench.invalid", display_name="Mod")
        bulk, per_item = banning(user_ban, moderator.pk), banning(user_ban_one_by_one, moderator.pk)
    for _ in range(args.runs):
        timed("bulk", bulk, user_id, args.slowest, ban=args.ban)
        if not args.skip_per_item:
            timed("per item", per_item, user_id, args.slowest, ban=args.ban)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
