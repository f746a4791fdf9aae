#!/usr/bin/env python
"""Drive Hearth's task dispatcher over HTTP: simulated volunteers looping next → submit.

``make bench-tasks`` runs this against the real stack: gunicorn (``apps.wsgi``, DEBUG off),
PostgreSQL and Redis (the cache, so DRF's per-user throttles count there). DATABASE_URL names
a scratch database whose name must contain "bench" (default ``hearth_bench_tasks``; the script
drops and re-creates it), REDIS_URL the Redis database for the cache. By itself it

1. drops and creates the database, runs the migrations and seeds it: ``--volunteers`` users
   (64) who accepted the licence, work in English and hold API tokens, a few seed authors, and
   a starting pool of work in every state (``--pool`` prompts each: in review; collecting, with
   the author's answer waiting for review; ranking, with three accepted answers by other
   people), so that every task type occurs from the first second;
2. starts gunicorn with the deploy config (apps/gunicorn.conf.py; ``--workers``, ``--threads``
   and ``--worker-class`` override it) and raises the per-user task rate limits
   (HEARTH_RATE_TASKS_NEXT / HEARTH_RATE_TASKS_SUBMIT, unless already set): 64 simulated users
   doing several loops a second each are far above any human's pace, and the default 120/min
   would throttle them. The report says so;
3. warms up, then runs two modes, each followed by a check of the dispatcher's invariants in
   the database:

   * closed loop: every volunteer loops next → submit with no think time for ``--duration``
     seconds (60): reports loops/s;
   * open loop: loops start on a fixed schedule at ``--rate`` loops/s (100) for ``--duration``
     seconds, each by an idle volunteer (a volunteer never runs two loops at once); reports
     p50/p95/p99 per endpoint. Latency counts from the loop's scheduled start for ``next``
     (and for the whole loop), so a server that falls behind cannot hide its queue
     (no coordinated omission); ``submit`` counts from when it was sent, right after ``next``.

Each loop is ``GET /api/v1/tasks/next/`` (type any), then ``POST /api/v1/tasks/{id}/submit/``
with an ``Idempotency-Key`` and valid work for the task type: write → a unique instruction,
category, language and answer; review_prompt / review_response → ``{"labels": [], "quality":
4}`` mostly, a blocking label now and then; respond → a text; rank → the answers' ids
shuffled. A 409 on submit whose message says the target moved on (or the task expired) is a
legitimate outcome: it is counted separately and the volunteer skips the task, as the message
asks. Any other status, a 5xx or a dropped connection is an error.

Each mode also reports the CPU it took per loop (gunicorn, this database's PostgreSQL
backends, the generator) from /proc: other work on the machine moves that figure far less
than loops/s, so it is the one to compare between runs. In an open loop the server cannot
keep up with, loops that still found no free volunteer 30 s after the schedule ended are
dropped and count as errors.

Targets (2-core machine, load generator included): closed loop ≥ 150 loops/s; open loop p99
under 150 ms for each endpoint, every scheduled loop started; zero errors and zero invariant
violations in both modes. Exit status 1 when a target fails. ``--quick`` runs 10 s per mode
on a smaller pool; ``--mode closed|open`` runs one mode.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hearth_bench_tasks \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python tests/bench/bench_tasks.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import (  # noqa: E402
    CpuMeter,
    HttpConnection,
    Server,
    database_name,
    gunicorn_shape,
    latency_row,
    log,
    print_cpu,
    print_latency_table,
    print_targets,
    reset_database,
    sentence,
    server_version,
    start_gunicorn,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hearth_bench_tasks"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Per volunteer: far above a human's pace, so the bench measures the server, not the limit.
BENCH_RATE = "100000/min"
TARGET_LOOPS_PER_S = 150.0
TARGET_P99_MS = 150.0
REQUEST_TIMEOUT_S = 30.0
OPEN_LOOP_GRACE_S = 30.0
SEED_AUTHORS = 8
BLOCKING_SHARE = 0.05  # reviews that raise a blocking label

NEXT = "GET /tasks/next/"
SUBMIT = "POST /tasks/{id}/submit/"
SKIP = "POST /tasks/{id}/skip/"
LOOP = "loop (next + submit)"
TASK_TYPES = ("write", "review_prompt", "review_response", "respond", "rank")
CATEGORIES = (
    "open_qa",
    "general_qa",
    "closed_qa",
    "classification",
    "brainstorming",
    "information_extraction",
    "summarization",
    "creative_writing",
)
CONTEXT_REQUIRED = ("closed_qa", "information_extraction", "summarization")
# A 409 on submit is legitimate only when the server says the target moved on or expired.
MOVED_ON = ("moved on", "expired")


# --- seeding --------------------------------------------------------------------------------


@dataclass
class Seeded:
    tokens: list[str]
    volunteer_ids: list[int]
    pool: dict[str, int]
    policy: dict[str, Any]


def seed(*, volunteers: int, pool: int, rng_seed: int) -> Seeded:
    """Create the volunteers (licence accepted, languages ["en"], one API token each), seed
    authors, and ``pool`` prompts in each open state with consistent open slots.

    Runs in this process with Django set up from os.environ; closes its connections after.
    """
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection, connections, transaction

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.collection.models import Prompt, PromptState, Response, ResponseState, Source
    from apps.collection.policy import current_policy
    from apps.core.text import dedupe_key

    rng = random.Random(rng_seed)
    licence = settings.HEARTH_LICENCE_NAME
    policy = current_policy()
    tokens: list[str] = []
    ids: list[int] = []
    with transaction.atomic():
        people: list[Any] = []
        for i in range(volunteers):
            user = User.objects.create_user(
                f"volunteer{i}@bench.invalid", display_name=f"Volunteer {i}", languages=["en"]
            )
            accounts.user_setup_volunteer(user=user)
            accounts.licence_accept(user=user)
            _token, key = accounts.api_token_create(user=user, name="bench")
            tokens.append(key)
            ids.append(user.pk)
        for i in range(SEED_AUTHORS):
            user = User.objects.create_user(
                f"author{i}@bench.invalid", display_name=f"Author {i}", languages=["en"]
            )
            accounts.user_setup_volunteer(user=user)
            accounts.licence_accept(user=user)
            people.append(user)

        states = (PromptState.REVIEW, PromptState.COLLECTING, PromptState.RANKING)
        rows: list[Any] = []
        for n in range(pool * len(states)):
            state = states[n % len(states)]
            category = CATEGORIES[n % len(CATEGORIES)]
            instruction = f"Seed {n}: {sentence(rng, 8, 30)}"
            # Mostly English; some regional English (matched by prefix) and some German,
            # which these volunteers never get.
            language = rng.choices(["en", "en-GB", "de"], weights=[8, 1, 1])[0]
            slots = {
                PromptState.REVIEW: policy.prompt_reviews_required,
                PromptState.COLLECTING: policy.responses_to_collect - 1,
                PromptState.RANKING: policy.rankings_required,
            }[state]
            rows.append(
                Prompt(
                    author=people[n % len(people)],
                    instruction=instruction,
                    context=sentence(rng, 30, 80) if category in CONTEXT_REQUIRED else "",
                    category=category,
                    language=language,
                    state=state,
                    origin="bench",
                    licence=licence,
                    instruction_key=dedupe_key(instruction),
                    open_slots=slots,
                )
            )
        prompts = Prompt.objects.bulk_create(rows, batch_size=1000)
        answers: list[Any] = []
        for prompt in prompts:
            if prompt.state == PromptState.COLLECTING:
                # The author's own first answer, waiting for its reviews.
                answers.append(
                    Response(
                        prompt=prompt,
                        author_id=prompt.author_id,
                        text=sentence(rng, 15, 60),
                        state=ResponseState.REVIEW,
                        source=Source.HUMAN,
                        origin="bench",
                        licence=licence,
                        open_slots=policy.response_reviews_required,
                    )
                )
            elif prompt.state == PromptState.RANKING:
                others = [p for p in people if p.pk != prompt.author_id]
                for author in rng.sample(others, k=policy.responses_to_collect):
                    answers.append(
                        Response(
                            prompt=prompt,
                            author=author,
                            text=sentence(rng, 15, 60),
                            state=ResponseState.ACCEPTED,
                            source=Source.HUMAN,
                            origin="bench",
                            licence=licence,
                        )
                    )
        Response.objects.bulk_create(answers, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # User ids restart with the fresh database: forget throttle counts of an earlier run.
    cache.delete_many(
        [f"throttle_{scope}_{pk}" for pk in ids for scope in ("tasks_next", "tasks_submit")]
    )
    policy_fields = {
        name: getattr(policy, name)
        for name in (
            "prompt_reviews_required",
            "response_reviews_required",
            "responses_to_collect",
            "rankings_required",
            "max_pending_assignments",
            "weight_rank",
            "weight_review",
            "weight_respond",
            "weight_write",
        )
    }
    connections.close_all()
    return Seeded(
        tokens=tokens,
        volunteer_ids=ids,
        pool={str(s): pool for s in states},
        policy=policy_fields,
    )


# --- invariants -----------------------------------------------------------------------------


def check_invariants(seeded: Seeded, client_submits: Counter[str]) -> list[dict[str, Any]]:
    """Check the dispatcher's invariants in the database; one row per check."""
    from django.db import connections
    from django.db.models import Count, F, Q

    from apps.assignments.models import Assignment, AssignmentState, TaskType
    from apps.collection.models import Prompt, PromptState, Response
    from apps.collection.models import ResponseState as RS
    from apps.feedback.models import PromptConsensus, Ranking, Review

    p = seeded.policy
    live = Q(responses__state__in=[RS.REVIEW, RS.ACCEPTED])
    checks: list[dict[str, Any]] = []

    def check(name: str, bad: int, detail: str = "", *, core: bool = True) -> None:
        checks.append({"name": name, "violations": bad, "detail": detail, "core": core})

    def active(task_type: str) -> Count:
        return Count(
            "assignments",
            filter=Q(assignments__task_type=task_type, assignments__state=AssignmentState.ACTIVE),
            distinct=True,
        )

    check(
        f"no prompt has more than {p['prompt_reviews_required']} reviews",
        Prompt.objects.annotate(n=Count("reviews"))
        .filter(n__gt=p["prompt_reviews_required"])
        .count(),
    )
    check(
        f"no prompt has more than {p['responses_to_collect']} live answers",
        Prompt.objects.annotate(n=Count("responses", filter=live))
        .filter(n__gt=p["responses_to_collect"])
        .count(),
    )
    check(
        f"no prompt has more than {p['rankings_required']} rankings",
        Prompt.objects.annotate(n=Count("rankings")).filter(n__gt=p["rankings_required"]).count(),
    )
    check(
        f"no answer has more than {p['response_reviews_required']} reviews",
        Response.objects.annotate(n=Count("reviews"))
        .filter(n__gt=p["response_reviews_required"])
        .count(),
    )

    # Every submitted assignment made exactly one row, and every row came from one.
    volunteers = seeded.volunteer_ids
    submitted = Counter(
        Assignment.objects.filter(state=AssignmentState.SUBMITTED).values_list(
            "task_type", flat=True
        )
    )
    result_key = {
        TaskType.WRITE: "prompt_id",
        TaskType.REVIEW_PROMPT: "review_id",
        TaskType.REVIEW_RESPONSE: "review_id",
        TaskType.RESPOND: "response_id",
        TaskType.RANK: "ranking_id",
    }
    made = {
        TaskType.WRITE: Prompt.objects.filter(author_id__in=volunteers),
        TaskType.REVIEW_PROMPT: Review.objects.filter(prompt__isnull=False),
        TaskType.REVIEW_RESPONSE: Review.objects.filter(response__isnull=False),
        # Answers by volunteers to other people's prompts (a write's own answer is not one).
        TaskType.RESPOND: Response.objects.filter(author_id__in=volunteers).exclude(
            author_id=F("prompt__author_id")
        ),
        TaskType.RANK: Ranking.objects.all(),
    }
    for task_type, rows in made.items():
        ids = set(rows.values_list("id", flat=True))
        results = [
            (r or {}).get(result_key[task_type])
            for r in Assignment.objects.filter(
                state=AssignmentState.SUBMITTED, task_type=task_type
            ).values_list("result", flat=True)
        ]
        mismatch = len(ids ^ set(results)) + (len(results) - len(set(results)))
        client = client_submits.get(str(task_type), 0)
        mismatch += abs(submitted[task_type] - client)
        check(
            f"{task_type}: submitted assignments == rows made == client's 200s",
            mismatch,
            f"{submitted[task_type]} submitted, {len(ids)} rows, {client} confirmed to the client",
        )

    check(
        "open_slots never negative",
        Prompt.objects.filter(open_slots__lt=0).count()
        + Response.objects.filter(open_slots__lt=0).count(),
    )
    in_review = (
        Prompt.objects.filter(state=PromptState.REVIEW)
        .annotate(reviews_n=Count("reviews", distinct=True), held=active(TaskType.REVIEW_PROMPT))
        .exclude(open_slots=p["prompt_reviews_required"] - F("reviews_n") - F("held"))
    )
    check(
        "prompts in review: reviews + held tasks + open slots == required",
        in_review.count(),
        f"of {Prompt.objects.filter(state=PromptState.REVIEW).count()} in review",
    )

    # Further checks of the same slot accounting, and of who may do what.
    collecting = (
        Prompt.objects.filter(state=PromptState.COLLECTING)
        .annotate(live_n=Count("responses", filter=live, distinct=True), held=active("respond"))
        .exclude(open_slots=p["responses_to_collect"] - F("live_n") - F("held"))
    )
    check(
        "prompts collecting: live answers + held tasks + open slots == to collect",
        collecting.count(),
        core=False,
    )
    answers = (
        Response.objects.filter(state=RS.REVIEW, prompt__state=PromptState.COLLECTING)
        .annotate(
            reviews_n=Count("reviews", distinct=True),
            held=active(TaskType.REVIEW_RESPONSE),
        )
        .exclude(open_slots=p["response_reviews_required"] - F("reviews_n") - F("held"))
    )
    check(
        "answers in review: reviews + held tasks + open slots == required",
        answers.count(),
        core=False,
    )
    ranking = (
        Prompt.objects.filter(state=PromptState.RANKING)
        .annotate(rankings_n=Count("rankings", distinct=True), held=active(TaskType.RANK))
        .exclude(open_slots=p["rankings_required"] - F("rankings_n") - F("held"))
    )
    check(
        "prompts ranking: rankings + held tasks + open slots == required",
        ranking.count(),
        core=False,
    )
    complete = Prompt.objects.filter(state=PromptState.COMPLETE)
    check(
        "every complete prompt has its consensus",
        complete.count() - PromptConsensus.objects.filter(prompt__in=complete).count(),
        f"{complete.count()} complete",
        core=False,
    )
    own = (
        Review.objects.filter(
            Q(prompt__author=F("reviewer")) | Q(response__author=F("reviewer"))
        ).count()
        + Ranking.objects.filter(
            Q(prompt__author=F("ranker")) | Q(prompt__responses__author=F("ranker"))
        )
        .distinct()
        .count()
    )
    check("nobody reviewed or ranked their own work", own, core=False)
    repeats = (
        Assignment.objects.exclude(task_type=TaskType.WRITE)
        .values("user_id", "task_type", "prompt_id", "response_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    check("nobody got the same target of the same type twice", repeats, core=False)
    foreign_language = Assignment.objects.filter(prompt__language="de").count()
    check("nobody got a task outside their languages", foreign_language, core=False)
    connections.close_all()
    return checks


def database_summary() -> dict[str, Any]:
    from django.db import connections
    from django.db.models import Count

    from apps.assignments.models import Assignment
    from apps.collection.models import Prompt

    summary = {
        "prompts": dict(Prompt.objects.values_list("state").annotate(n=Count("id"))),
        "assignments": dict(Assignment.objects.values_list("state").annotate(n=Count("id"))),
    }
    connections.close_all()
    return summary


# --- the volunteers -------------------------------------------------------------------------


class Volunteer:
    """One simulated volunteer: a token, a keep-alive connection and a random source."""

    def __init__(self, index: int, token: str, port: int, run_tag: str, seed: int) -> None:
        self.index = index
        self.auth = f"Authorization: Bearer {token}\r\n"
        self.conn = HttpConnection(port)
        self.rng = random.Random(seed * 100_003 + index)
        self.run_tag = run_tag
        self.serial = 0

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.auth}Accept: application/json\r\n"
        if key:
            head += f"Idempotency-Key: {key}\r\n"
        if body is None:
            return (head + "\r\n").encode()
        data = json.dumps(body).encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        return head.encode() + data

    def work(self, task: dict[str, Any]) -> dict[str, Any]:
        """Valid work for the task."""
        kind = task["type"]
        rng = self.rng
        self.serial += 1
        stamp = f"{self.run_tag} {self.index} {self.serial}"
        if kind == "write":
            category = rng.choice(CATEGORIES)
            payload = {
                "instruction": f"Bench {stamp}: {sentence(rng, 6, 24)}",
                "category": category,
                "language": "en",
                "response": sentence(rng, 15, 60),
            }
            if category in CONTEXT_REQUIRED:
                payload["context"] = sentence(rng, 30, 80)
            return payload
        if kind in ("review_prompt", "review_response"):
            if rng.random() < BLOCKING_SHARE:
                return {"labels": [rng.choice(["spam", "fails_task"])], "quality": 1}
            return {"labels": [], "quality": 4}
        if kind == "respond":
            return {"text": f"Answer {stamp}: {sentence(rng, 15, 60)}"}
        if kind == "rank":
            order = [r["id"] for r in task["responses"]]
            rng.shuffle(order)
            return {"order": order}
        raise ValueError(f"unknown task type {kind!r}")

    async def send(self, raw: bytes) -> tuple[int | None, bytes, str | None]:
        """(status, body, transport error)."""
        try:
            status, body = await asyncio.wait_for(self.conn.request(raw), REQUEST_TIMEOUT_S)
        except TimeoutError:
            self.conn.close()
            return None, b"", f"no answer in {REQUEST_TIMEOUT_S:.0f} s"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.conn.close()
            return None, b"", f"{type(exc).__name__}: {exc}"
        return status, body, None

    async def loop(self, rec: Recorder, scheduled: float | None = None) -> None:
        """One next → submit loop; ``scheduled`` is the open loop's planned start."""
        clock = asyncio.get_running_loop().time
        start = clock() if scheduled is None else scheduled
        status, body, error = await self.send(self._request("GET", "/api/v1/tasks/next/"))
        done = clock()
        rec.latency(NEXT, done - start)
        if error or status != 200:
            rec.error(NEXT, error or f"HTTP {status}: {body[:300].decode(errors='replace')}")
            return
        try:
            task = json.loads(body)
            payload = self.work(task)
        except (ValueError, KeyError, TypeError) as exc:
            rec.error(NEXT, f"unusable task {body[:200]!r}: {exc}")
            return
        kind = str(task["type"])
        rec.types[kind] += 1
        sent = clock()
        raw = self._request(
            "POST", f"/api/v1/tasks/{task['id']}/submit/", payload, key=uuid.uuid4().hex
        )
        status, body, error = await self.send(raw)
        done = clock()
        rec.latency(SUBMIT, done - sent)
        rec.latency(f"  submit {kind}", done - sent)
        if error is None and status == 200:
            rec.latency(LOOP, done - start)
            rec.submitted[kind] += 1
            return
        text = body[:300].decode(errors="replace")
        if status == 409 and any(marker in text for marker in MOVED_ON):
            # The target moved on while the task was held: a clean refusal. Skip the task as
            # the message asks, so it does not linger as one of the volunteer's open tasks.
            rec.latency(LOOP, done - start)
            rec.conflicts[kind] += 1
            if len(rec.conflict_samples) < 4:
                rec.conflict_samples.append(f"{kind}: {text}")
            sent = clock()
            skip = self._request(
                "POST", f"/api/v1/tasks/{task['id']}/skip/", {}, key=uuid.uuid4().hex
            )
            status, body, error = await self.send(skip)
            rec.latency(SKIP, clock() - sent)
            if error or status != 200:
                rec.error(SKIP, error or f"HTTP {status}: {body[:300].decode(errors='replace')}")
            return
        rec.error(SUBMIT, f"{kind}: {error or f'HTTP {status}: {text}'}")


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    types: Counter[str] = field(default_factory=Counter)
    submitted: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)
    conflict_samples: list[str] = field(default_factory=list)
    dropped: int = 0

    def latency(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 8:
            self.error_samples.append(f"{kind}: {message}")


async def closed_loop(volunteers: list[Volunteer], *, duration: float, rec: Recorder) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    stop_at = start + duration

    async def run(volunteer: Volunteer) -> None:
        while loop.time() < stop_at:
            await volunteer.loop(rec)

    await asyncio.gather(*(run(v) for v in volunteers))
    return loop.time() - start


async def open_loop(
    volunteers: list[Volunteer], *, rate: float, duration: float, rec: Recorder
) -> tuple[float, float, int]:
    """Start loops on a fixed schedule, each by an idle volunteer; returns (elapsed, worst
    dispatch lag, most loops in flight)."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[Volunteer] = asyncio.Queue()
    for volunteer in volunteers:
        idle.put_nowait(volunteer)
    tasks: set[asyncio.Task[None]] = set()
    total = int(rate * duration)
    start = loop.time() + 0.05
    worst_lag = 0.0
    in_flight = max_in_flight = 0

    # A server that cannot keep up would make the backlog (and the run) grow without end:
    # loops that found no free volunteer by the end of the schedule plus a grace period are
    # dropped, and count as errors.
    give_up = start + duration + OPEN_LOOP_GRACE_S

    async def fire(scheduled: float) -> None:
        nonlocal in_flight
        try:
            # Waiting for a free volunteer counts as latency: it is part of the backlog.
            volunteer = await asyncio.wait_for(idle.get(), max(0.0, give_up - loop.time()))
        except TimeoutError:
            in_flight -= 1
            rec.latency(NEXT, loop.time() - scheduled)
            rec.dropped += 1
            rec.error(NEXT, f"dropped: no volunteer free {OPEN_LOOP_GRACE_S:.0f} s after the end")
            return
        try:
            await volunteer.loop(rec, scheduled)
        finally:
            in_flight -= 1
            idle.put_nowait(volunteer)

    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        worst_lag = max(worst_lag, loop.time() - scheduled)
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        task = asyncio.create_task(fire(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return loop.time() - start, worst_lag, max_in_flight


# --- reporting ------------------------------------------------------------------------------


def summarise(rec: Recorder, elapsed: float) -> dict[str, Any]:
    order = [NEXT, SUBMIT, *(f"  submit {t}" for t in TASK_TYPES), SKIP, LOOP]
    error_of = {NEXT: rec.errors[NEXT], SUBMIT: rec.errors[SUBMIT], SKIP: rec.errors[SKIP]}
    rows = {
        kind: latency_row(rec.latencies.get(kind, []), error_of.get(kind, 0), elapsed)
        for kind in order
        if kind in rec.latencies or kind in (NEXT, SUBMIT)
    }
    loops = sum(rec.submitted.values())
    return {
        "elapsed_s": elapsed,
        "loops": loops,
        "loops_per_s": loops / elapsed if elapsed else 0.0,
        "conflicts": sum(rec.conflicts.values()),
        "conflicts_by_type": dict(rec.conflicts),
        "errors": sum(rec.errors.values()),
        "dropped": rec.dropped,
        "tasks_by_type": dict(rec.types),
        "submitted_by_type": dict(rec.submitted),
        "endpoints": rows,
        "error_samples": rec.error_samples,
        "conflict_samples": rec.conflict_samples,
    }


def cpu_per_loop(mode: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per completed loop of each part; a figure other load on the machine
    disturbs much less than loops/s, plus the loops/s it would allow with the machine alone."""
    loops = mode["loops"] + mode["conflicts"]
    if not loops:
        return {}
    cpu, elapsed = mode["cpu"], mode["elapsed_s"]
    per = {k: 1000 * cpu[k] * elapsed / loops for k in ("gunicorn", "postgres", "generator")}
    per["loops_per_s_if_alone"] = 1000 * (os.cpu_count() or 1) / max(sum(per.values()), 1e-9)
    return per


def print_mode(title: str, mode: dict[str, Any]) -> None:
    print(f"\n{title}")
    types = ", ".join(f"{k} {v}" for k, v in sorted(mode["tasks_by_type"].items()))
    print(
        f"  {mode['loops']} loops submitted in {mode['elapsed_s']:.1f} s = "
        f"{mode['loops_per_s']:.1f} loops/s; {mode['conflicts']} clean 409s (target moved on, "
        f"task skipped); {mode['errors']} errors"
    )
    print(f"  tasks handed out: {types}")
    print_latency_table(mode["endpoints"])
    print_cpu(mode["cpu"])
    per = mode["cpu_ms_per_loop"]
    if per:
        print(
            f"  CPU per loop: gunicorn {per['gunicorn']:.1f} ms, postgres {per['postgres']:.1f} ms, "
            f"generator {per['generator']:.1f} ms; on {os.cpu_count()} otherwise idle cores "
            f"that would allow about {per['loops_per_s_if_alone']:.0f} loops/s (estimate)"
        )
    if "dispatch_lag_ms" in mode:
        print(
            f"  generator kept the schedule within {mode['dispatch_lag_ms']:.1f} ms; "
            f"at most {mode['max_in_flight']} loops in flight"
        )
    for sample in mode["error_samples"]:
        print(f"  error: {sample}")
    for sample in mode["conflict_samples"]:
        print(f"  409: {sample}")
    print("  invariants:")
    for row in mode["invariants"]:
        mark = "ok  " if row["violations"] == 0 else "FAIL"
        detail = f" ({row['detail']})" if row["detail"] else ""
        extra = "" if row["core"] else " [extra]"
        print(f"    {mark} {row['name']}: {row['violations']} violations{detail}{extra}")


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per mode [60]")
    parser.add_argument("--volunteers", type=int, default=64, help="simulated volunteers [64]")
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop loops/s [100]")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 s per mode")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument(
        "--mode", choices=("both", "closed", "open"), default="both", help="which modes [both]"
    )
    parser.add_argument(
        "--pool", type=int, default=300, help="seeded prompts in each open state [300]"
    )
    parser.add_argument(
        "--workers", type=int, help="gunicorn workers [as apps/gunicorn.conf.py says]"
    )
    parser.add_argument("--worker-class", help="gunicorn worker class [as the config says]")
    parser.add_argument("--threads", type=int, help="threads per worker [as the config says]")
    parser.add_argument(
        "--preload", action="store_true", help="load the app before forking workers"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed [1]")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 10.0
        args.pool = min(args.pool, 100)
    if args.volunteers < 2:
        parser.error("--volunteers must be at least 2")
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    return args


async def run_modes(
    args: argparse.Namespace, server: Server, seeded: Seeded, meter: CpuMeter
) -> dict[str, Any]:
    run_tag = uuid.uuid4().hex[:8]
    volunteers = [
        Volunteer(i, token, server.port, run_tag, args.seed)
        for i, token in enumerate(seeded.tokens)
    ]
    totals: Counter[str] = Counter()
    results: dict[str, Any] = {}

    warm = Recorder()
    await closed_loop(volunteers[:16], duration=1.0 if args.quick else 3.0, rec=warm)
    totals.update(warm.submitted)
    if warm.errors:
        log(f"warm-up saw {sum(warm.errors.values())} errors, e.g. {warm.error_samples[:2]}")

    if args.mode in ("both", "closed"):
        log(f"closed loop: {len(volunteers)} volunteers for {args.duration:.0f} s")
        rec = Recorder()
        meter.start()
        elapsed = await closed_loop(volunteers, duration=args.duration, rec=rec)
        closed = summarise(rec, elapsed)
        closed["cpu"] = meter.stop()
        closed["cpu_ms_per_loop"] = cpu_per_loop(closed)
        totals.update(rec.submitted)
        log("checking invariants")
        closed["invariants"] = await asyncio.to_thread(check_invariants, seeded, totals)
        results["closed_loop"] = closed
        await asyncio.sleep(1.0)

    if args.mode in ("both", "open"):
        log(f"open loop: {args.rate:g} loops/s for {args.duration:.0f} s")
        rec = Recorder()
        meter.start()
        elapsed, lag, max_in_flight = await open_loop(
            volunteers, rate=args.rate, duration=args.duration, rec=rec
        )
        opened = summarise(rec, elapsed)
        opened["cpu"] = meter.stop()
        opened["cpu_ms_per_loop"] = cpu_per_loop(opened)
        opened["dispatch_lag_ms"] = lag * 1000
        opened["max_in_flight"] = max_in_flight
        totals.update(rec.submitted)
        log("checking invariants")
        opened["invariants"] = await asyncio.to_thread(check_invariants, seeded, totals)
        results["open_loop"] = opened

    for volunteer in volunteers:
        volunteer.conn.close()
    return results


def targets_for(args: argparse.Namespace, results: dict[str, Any]) -> list[tuple[str, bool, str]]:
    targets: list[tuple[str, bool, str]] = []
    for key, label in (("closed_loop", "closed loop"), ("open_loop", "open loop")):
        mode = results.get(key)
        if mode is None:
            continue
        if key == "closed_loop":
            targets.append(
                (
                    f"closed loop: at least {TARGET_LOOPS_PER_S:.0f} loops/s",
                    mode["loops_per_s"] >= TARGET_LOOPS_PER_S,
                    f"{mode['loops_per_s']:.1f} loops/s",
                )
            )
        else:
            worst = max(mode["endpoints"][k]["p99_ms"] for k in (NEXT, SUBMIT))
            detail = ", ".join(
                f"{k} p99 {mode['endpoints'][k]['p99_ms']:.1f} ms" for k in (NEXT, SUBMIT)
            )
            targets.append(
                (f"open loop: p99 under {TARGET_P99_MS:.0f} ms", worst < TARGET_P99_MS, detail)
            )
            expected = int(args.rate * args.duration)
            targets.append(
                (
                    "open loop: every scheduled loop started",
                    mode["dropped"] == 0,
                    f"{expected - mode['dropped']} of {expected}; "
                    f"{mode['loops'] + mode['conflicts']} completed",
                )
            )
        targets.append((f"{label}: zero errors", mode["errors"] == 0, f"{mode['errors']} errors"))
        bad = sum(row["violations"] for row in mode["invariants"])
        failed = [row["name"] for row in mode["invariants"] if row["violations"]]
        targets.append(
            (
                f"{label}: zero invariant violations",
                bad == 0,
                f"{len(mode['invariants'])} checks" + (f"; failed: {failed}" if failed else ""),
            )
        )
    return targets


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    data_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-tasks-"))
    env = dict(os.environ)
    raised = {
        name: env.get(name) or BENCH_RATE
        for name in ("HEARTH_RATE_TASKS_NEXT", "HEARTH_RATE_TASKS_SUBMIT")
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="false",
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(48),
        HEARTH_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="apps.settings",
        **raised,
    )
    server: Server | None = None
    try:
        log(f"resetting {database_name(database_url)}")
        reset_database(database_url)
        log("migrating")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        log(f"seeding {args.volunteers} volunteers and {args.pool} prompts in each open state")
        os.environ.update(env)
        seeded = seed(volunteers=args.volunteers, pool=args.pool, rng_seed=args.seed)
        shape = gunicorn_shape(
            workers=args.workers,
            worker_class=args.worker_class,
            threads=args.threads,
            preload=args.preload,
        )
        server = start_gunicorn(env, shape=shape, log_dir=data_dir, access_log=False)
        log(f"{server.description} on port {server.port}")
        meter = CpuMeter(server, database_url)
        started = time.monotonic()
        results = asyncio.run(run_modes(args, server, seeded, meter))
        wall = time.monotonic() - started
        summary = database_summary()
    finally:
        if server is not None:
            server.stop()
            tail = server.log_tail(20)
            if tail.strip():
                log(f"gunicorn log (last lines):\n{tail}")
        shutil.rmtree(data_dir, ignore_errors=True)

    targets = targets_for(args, results)
    print(
        f"\nHearth task benchmark: {server.description if server else 'gunicorn'}, "
        f"{server_version(database_url)}, Redis cache, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(
        f"{args.volunteers} volunteers (languages en); seeded {args.pool} prompts each in "
        f"review, collecting and ranking; policy {seeded.policy}"
    )
    print(
        "per-user task rate limits raised for the bench: "
        + ", ".join(f"{k}={v}" for k, v in raised.items())
        + f" (the default is 120/min; {args.volunteers} simulated users doing several loops a "
        "second each are far above a human's pace)"
    )
    print(f"load average now {os.getloadavg()[0]:.2f} (other work on the machine skews figures)")
    if "closed_loop" in results:
        closed = results["closed_loop"]
        print_mode(
            f"closed loop: {args.volunteers} volunteers, no think time, "
            f"{closed['elapsed_s']:.1f} s -> {closed['loops_per_s']:.1f} loops/s",
            closed,
        )
    if "open_loop" in results:
        print_mode(
            f"open loop: {args.rate:g} loops/s on a fixed schedule, "
            f"{results['open_loop']['elapsed_s']:.1f} s (next and loop latency from each "
            "loop's scheduled start)",
            results["open_loop"],
        )
    print(f"\ndatabase after the run: {summary}")
    passed = print_targets(targets)
    print(f"\n{'PASS' if passed else 'FAIL'} ({wall:.0f} s of load)")
    if args.json:
        report = {
            "config": {
                "server": server.description if server else None,
                "duration_s": args.duration,
                "volunteers": args.volunteers,
                "rate": args.rate,
                "pool": args.pool,
                "policy": seeded.policy,
                "rate_limits": raised,
                "cpus": os.cpu_count(),
            },
            **results,
            "database": summary,
            "targets": [{"name": n, "pass": ok, "detail": d} for n, ok, d in targets],
            "pass": passed,
        }
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
