"""What the dispatcher's open-slot counters cost on a large collection: task take-and-skip
cycles, policy raises and an expiry sweep, each in time, WAL and HOT updates.

    REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python tests/bench/bench_slots.py [--prompts 20000] [--cycles 60] [--overdue 1500]

Drops and re-creates a scratch database (``hearth_bench_slots``, or BENCH_DATABASE_URL; its
name must contain "bench"), migrates it and seeds ``--prompts`` prompts in QA's mix of states
(a year of use: about three answers a prompt, texts of Dolly's lengths, the search's trigram
indexes built after the load, then ``VACUUM FULL``, which packs the two tables as a load
does, to their fillfactor). Then, in this process:

- runs ``--cycles`` take-and-skip cycles (``task_next`` then ``task_skip``) of each kind;
- raises each count of the policy that tops up work already at its step
  (``policy_update``), one after the other;
- expires ``--overdue`` overdue tasks with ``assignments_expire``, call after call.

For each it prints the wall time, the queries, the WAL written to this database (read back
with pg_walinspect, so the rest of the server's traffic does not count) and the share of the
prompts' and answers' row updates that were HOT (no index touched). Run it on the code before
and after a change: each run seeds its own database with that code's migrations.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_api import DollyText  # noqa: E402
from tests.bench.common import in_process_settings, log, reset_database  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hearth_bench_slots"
TABLES = ("collection_prompt", "collection_response")
# QA's year of use (qa-reports/scale.md): the share of prompts in each state.
STATE_SHARES = {
    "review": 0.074,
    "collecting": 0.366,
    "ranking": 0.086,
    "complete": 0.388,
    "rejected": 0.060,
    "halted": 0.026,
}
AUTHORS = 300
CLAIMERS = 30


def seed(*, prompts: int, rng: random.Random) -> list[int]:
    """Seed the collection; returns the ids of the volunteers who take tasks."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.collection.models import CONTEXT_REQUIRED, Category, Prompt, Response
    from apps.collection.policy import current_policy
    from apps.core.text import dedupe_key

    policy = current_policy()
    text = DollyText(rng)
    licence = settings.HEARTH_LICENCE_NAME
    categories = list(Category.values)
    with transaction.atomic():
        authors = [
            User(email=f"author{i}@bench.invalid", display_name=f"Author {i}")
            for i in range(AUTHORS)
        ]
        User.objects.bulk_create(authors)
        claimers = []
        for i in range(CLAIMERS):
            user = User.objects.create_user(
                f"claimer{i}@bench.invalid", display_name=f"Claimer {i}", languages=["en"]
            )
            accounts.user_setup_volunteer(user=user)
            accounts.licence_accept(user=user)
            claimers.append(user.pk)
    with connection.cursor() as cursor:
        # The trigram indexes are built after the load, as QA did (a row at a time through
        # their pending lists would take most of the run).
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexdef LIKE '%%gin_trgm_ops%%'",
            [list(TABLES)],
        )
        trigram = cursor.fetchall()
        for name, _definition in trigram:
            cursor.execute(f'DROP INDEX "{name}"')
    states = list(STATE_SHARES)
    weights = list(STATE_SHARES.values())
    now = timezone.now()
    rows: list[Any] = []
    for n in range(prompts):
        category = categories[n % len(categories)]
        state = rng.choices(states, weights)[0]
        gone = rng.random()
        instruction = f"{text.sentence(5, 25)[:-1]} ({n})?"
        rows.append(
            Prompt(
                author=authors[rng.randrange(AUTHORS)],
                instruction=instruction,
                context=text.sentence(30, 200) if category in CONTEXT_REQUIRED else "",
                category=category,
                language="en" if rng.random() < 0.9 else "de",
                state=state,
                origin="bench",
                licence=licence,
                instruction_key=dedupe_key(instruction),
                withdrawn_at=now if gone < 0.02 else None,
                hidden_at=now if 0.02 <= gone < 0.03 else None,
                open_slots={
                    "review": rng.randint(1, policy.prompt_reviews_required),
                    "ranking": rng.randint(1, policy.rankings_required),
                }.get(state, 0),
            )
        )
    with transaction.atomic():
        created = Prompt.objects.bulk_create(rows, batch_size=1000)
        answers: list[Any] = []
        collecting: dict[int, int] = {}
        for prompt in created:
            if prompt.state == "review":
                # The author's first answer waits for the prompt's review, without slots.
                kinds = ["review"]
            elif prompt.state == "collecting":
                kinds = rng.choices(
                    ["review", "accepted", "rejected"], [40, 45, 15], k=rng.randint(1, 5)
                )
                live = sum(kind != "rejected" for kind in kinds)
                collecting[prompt.pk] = max(0, policy.responses_to_collect - live)
            elif prompt.state in ("ranking", "complete"):
                kinds = ["accepted"] * rng.randint(3, 6)
            else:
                kinds = ["rejected"] * rng.randint(0, 1)
            writers = rng.sample(range(AUTHORS), k=len(kinds))
            for kind, writer in zip(kinds, writers, strict=True):
                answers.append(
                    Response(
                        prompt=prompt,
                        author=authors[writer],
                        text=text.sentence(10, 120),
                        state=kind,
                        origin="bench",
                        licence=licence,
                        open_slots=(
                            rng.randint(1, policy.response_reviews_required)
                            if kind == "review" and prompt.state == "collecting"
                            else 0
                        ),
                    )
                )
        Response.objects.bulk_create(answers, batch_size=2000)
        for pk, slots in collecting.items():
            if slots:
                Prompt.objects.filter(pk=pk).update(open_slots=slots)
        with connection.cursor() as cursor:
            # A year of use, oldest first; answers a few hours after their prompt.
            top = max(p.pk for p in created)
            cursor.execute(
                "UPDATE collection_prompt SET created_at = now() - (%s - id) * %s * interval '1 second'",
                [top, 365 * 86400 / max(1, prompts)],
            )
            cursor.execute(
                "UPDATE collection_response r SET created_at = p.created_at "
                "+ (r.id %% 48) * interval '1 hour' FROM collection_prompt p "
                "WHERE p.id = r.prompt_id",
                [],
            )
    log(f"seeded {len(created)} prompts and {len(answers)} answers; rebuilding the trigram indexes")
    with connection.cursor() as cursor:
        for _name, definition in trigram:
            cursor.execute(definition)
    # The table now as it would be after a load and a vacuum: the updates above left dead rows.
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (FULL, ANALYZE) collection_prompt")
        cursor.execute("VACUUM (FULL, ANALYZE) collection_response")
        cursor.execute("VACUUM ANALYZE")
    return claimers


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Measure:
    seconds: float = 0.0
    queries: int = 0
    wal_bytes: int = 0
    wal_records: int = 0
    updates: dict[str, tuple[int, int]] = field(default_factory=dict)

    def hot(self) -> str:
        parts = []
        for table, (updated, hot) in self.updates.items():
            share = f"{100 * hot / updated:.0f}%" if updated else "-"
            parts.append(f"{table.split('_')[1]} {updated} upd, {share} HOT")
        return "; ".join(parts)


def _scalar(sql: str, params: list[Any] | None = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def _table_updates() -> dict[str, tuple[int, int]]:
    """Updates and HOT updates of the two tables so far (this backend's stats flushed)."""
    from django.db import connection

    _scalar("SELECT pg_stat_force_next_flush()")
    # The flush happens when the backend goes idle, between these two statements.
    _scalar("SELECT pg_stat_clear_snapshot()")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
            "WHERE relname = ANY(%s)",
            [list(TABLES)],
        )
        return {name: (int(upd), int(hot)) for name, upd, hot in cursor.fetchall()}


@contextmanager
def measured() -> Iterator[Measure]:
    """Time the block, count its queries, and read back the WAL it wrote to this database
    and its tables' updates (HOT or not). Runs outside any transaction."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result = Measure()
    before = _table_updates()
    start_lsn = _scalar("SELECT pg_current_wal_insert_lsn()")
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        yield result
        result.seconds = time.perf_counter() - started
    result.queries = len(queries)
    end_lsn = _scalar("SELECT pg_current_wal_flush_lsn()")
    after = _table_updates()
    result.updates = {t: (after[t][0] - before[t][0], after[t][1] - before[t][1]) for t in TABLES}
    database = _scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
    if _scalar("SELECT %s::pg_lsn >= %s::pg_lsn", [start_lsn, end_lsn]):
        return  # nothing written
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), COALESCE(sum(record_length), 0) "
            "FROM pg_get_wal_records_info(%s, %s) WHERE block_ref LIKE %s",
            [start_lsn, end_lsn, f"%/{database}/%"],
        )
        records, size = cursor.fetchone()
    result.wal_records, result.wal_bytes = int(records), int(size)


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def policy_raises() -> None:
    from apps.collection.policy import current_policy, policy_update

    for name, added in (
        ("response_reviews_required", 1),
        ("responses_to_collect", 2),
        ("prompt_reviews_required", 1),
        ("rankings_required", 1),
    ):
        value = getattr(current_policy(), name)
        with measured() as m:
            policy_update(changes={name: value + added})
        print(
            f"policy {name} {value} -> {value + added}: {m.seconds * 1000:.0f} ms, "
            f"{m.queries} queries, WAL {mb(m.wal_bytes)}; {m.hot()}"
        )


def cycles(claimers: list[int], count: int) -> None:
    from apps.accounts.models import User
    from apps.assignments.services import NoTaskAvailable, task_next, task_skip

    users = list(User.objects.filter(pk__in=claimers))
    for kind in ("review", "respond", "rank"):
        took: list[float] = []
        with measured() as m:
            for i in range(count):
                user = users[i % len(users)]
                started = time.perf_counter()
                try:
                    task = task_next(user=user, kind=kind)
                except NoTaskAvailable:
                    continue
                took.append(time.perf_counter() - started)
                task_skip(user=user, assignment_id=task.pk)
        done = max(1, len(took))
        print(
            f"{len(took)} {kind} take+skip cycles: next p50 "
            f"{statistics.median(took) * 1000 if took else 0:.1f} ms, max "
            f"{max(took, default=0) * 1000:.1f} ms; per cycle {m.queries / done:.1f} queries, "
            f"WAL {mb(m.wal_bytes // done)}; {m.hot()}"
        )


def expiry(claimers: list[int], overdue: int, rng: random.Random) -> None:
    """Hold ``overdue`` tasks (slots taken as the dispatcher takes them), make them overdue,
    then sweep."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from apps.assignments.models import Assignment, TaskType
    from apps.assignments.services import assignments_expire
    from apps.collection.models import Prompt, Response

    targets: list[Assignment] = []
    past = timezone.now() - timedelta(minutes=1)
    kinds = {
        TaskType.REVIEW_PROMPT: "review",
        TaskType.RESPOND: "collecting",
        TaskType.RANK: "ranking",
    }
    with transaction.atomic():
        share = overdue // 4
        for task_type, state in kinds.items():
            ids = list(
                Prompt.objects.filter(state=state, open_slots__gt=0, withdrawn_at=None)
                .order_by("?")
                .values_list("pk", flat=True)[:share]
            )
            Prompt.objects.filter(pk__in=ids).update(open_slots=F("open_slots") - 1)
            targets += [
                Assignment(
                    user_id=rng.choice(claimers),
                    task_type=task_type,
                    prompt_id=pk,
                    phase=state,
                    expires_at=past,
                )
                for pk in ids
            ]
        answers = list(
            Response.objects.filter(state="review", open_slots__gt=0, prompt__state="collecting")
            .order_by("?")
            .values_list("pk", "prompt_id")[: overdue - len(targets)]
        )
        Response.objects.filter(pk__in=[a for a, _ in answers]).update(
            open_slots=F("open_slots") - 1
        )
        targets += [
            Assignment(
                user_id=rng.choice(claimers),
                task_type=TaskType.REVIEW_RESPONSE,
                prompt_id=prompt_id,
                response_id=pk,
                phase="review",
                expires_at=past,
            )
            for pk, prompt_id in answers
        ]
        Assignment.objects.bulk_create(targets)
    while True:
        with measured() as m:
            expired = assignments_expire()
        if not expired:
            break
        print(
            f"assignments_expire: {expired} expired in {m.seconds * 1000:.0f} ms, "
            f"{m.queries} queries, WAL {mb(m.wal_bytes)}; {m.hot()}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=20000, help="prompts seeded [20000]")
    parser.add_argument("--cycles", type=int, default=60, help="take+skip cycles a kind [60]")
    parser.add_argument("--overdue", type=int, default=1500, help="overdue tasks expired [1500]")
    parser.add_argument("--seed", type=int, default=1, help="random seed [1]")
    args = parser.parse_args()
    in_process_settings(DATABASE_URL, "hearth-bench-slots-")
    database_url = os.environ["DATABASE_URL"]
    reset_database(database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    import django

    django.setup()
    from django.db import connection

    rng = random.Random(args.seed)
    started = time.perf_counter()
    claimers = seed(prompts=args.prompts, rng=rng)
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        cursor.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relname = ANY(%s) ORDER BY relname",
            [list(TABLES)],
        )
        sizes = ", ".join(f"{name} {size}" for name, size in cursor.fetchall())
    log(f"seeded in {time.perf_counter() - started:.0f} s ({sizes})")
    steps: list[Callable[[], None]] = [
        lambda: cycles(claimers, args.cycles),
        policy_raises,
        lambda: expiry(claimers, args.overdue, rng),
    ]
    for step in steps:
        step()
    print(f"(load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
