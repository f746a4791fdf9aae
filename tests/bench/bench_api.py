#!/usr/bin/env python
"""Drive Hearth's API over HTTP: gunicorn + PostgreSQL, a mix of prompt creation and listing.

``make bench-api`` runs this with DATABASE_URL pointing at a scratch database (its name must
contain "bench": the script drops and re-creates it). By itself it

1. drops and creates the database, runs the migrations, and seeds it: bench users who have
   accepted the licence and hold API tokens, and a few thousand prompts (nine in ten of them
   public, with accepted answers) so that listing walks real pages;
2. starts gunicorn (``apps.wsgi``, DEBUG off) on a free 127.0.0.1 port and waits for /healthz;
3. warms the workers up, then runs two phases with the same request mix (by default 20%
   ``POST /api/v1/prompts/`` with an answer, 60% ``GET /api/v1/prompts/?page=N``, 20% the same
   filtered by category; every request authenticates with ``Authorization: Bearer``):

   * closed loop: ``--clients`` clients (16), each sending its next request as soon as the
     previous one is answered, for ``--duration`` seconds (30): reports requests/s;
   * open loop: requests scheduled at a fixed ``--rate`` (50/s) for ``--duration`` seconds; each
     fires at its scheduled time whatever happened to the earlier ones, and its latency counts
     from the scheduled time (no coordinated omission): reports p50/p95/p99;

4. stops gunicorn and prints a table, then PASS/FAIL per target: zero errors in both phases
   (every answer is the expected 201 or 200) and open-loop p95 under 100 ms. Exit status 1 when
   a target fails.

``--search`` measures Browse's search instead of the mix: it seeds 16,700 prompts (15,000 or
so public) in Dolly 15k's shape (``DollyText``), drops the search indexes (collection
migration 0004, with its own functions), and sends SEARCH_CASES one request at a time, each
``--search-requests`` times (30); then it creates the indexes and sends them again, on the
same gunicorn. It reports p50/p95 per search before and after, and fails when a request
fails or a search's count or first page differs between the two.

``--import`` measures a maintainer's Dolly import instead, which runs in the background: it
needs Redis (REDIS_URL; exit status 2 without it), starts one Celery worker for the exports
queue (``celery -A apps worker -Q exports --pool=solo``, in its own process group, with
gunicorn's environment) beside gunicorn, and generates ``--import-lines`` (5,000) Dolly
records in Dolly 15k's shape, one in a hundred a duplicate of an earlier line and one in a
hundred rejected. For each of ``--import-runs`` runs (3) it empties the collection, posts the
file to ``POST /api/v1/imports/`` and then posts it once more (every line a duplicate: a
retried import). Each post must answer 202 with the queued import; the bench then polls
``GET /api/v1/imports/{id}/`` every 0.2 s until its status is ``done`` (or ``failed``, or
IMPORT_TIMEOUT_S passes). It reports each import's wall time (from the post to ``done``),
lines/s and the CPU seconds of the Celery worker (which does the import), gunicorn and
PostgreSQL (steadier than wall time on a shared machine), with the medians, and fails when a
request fails, an import fails, or a report's counts, or the rows written, are not what the
file holds. The worker is stopped at the end (its process group killed); on a failure the
tail of its log is shown. No other worker may consume the exports queue of that Redis
database meanwhile: its work would go unmeasured.

The load generator is one asyncio process with a small HTTP/1.1 client on the standard
library, so it takes little of the CPU the server needs; the report shows how much CPU the
generator, gunicorn, PostgreSQL (this database's backends) and everything else on the machine
used in each phase.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hearth_bench \\
        .venv/bin/python tests/bench/bench_api.py [--quick] [--json out.json]

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hearth_bench \\
    REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python tests/bench/bench_api.py --import [--import-lines N] [--import-runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    log_tail,
    print_cpu,
    print_latency_table,
    print_targets,
    reset_database,
    sentence,
    server_version,
    start_gunicorn,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hearth_bench"
TARGET_P95_MS = 100.0
REQUEST_TIMEOUT_S = 30.0

# --- setup: seed data -----------------------------------------------------------------------


@dataclass
class Seeded:
    tokens: list[str]
    page_size: int
    public_total: int
    public_by_category: dict[str, int]
    categories: list[str]
    context_required: list[str]
    prompts: int
    responses: int


DEMO_PROMPTS = ROOT / "apps" / "collection" / "demo_prompts.jsonl"
# Words the demo prompts never use; DollyText puts one in about one text in 300, so each is in
# roughly one prompt in 700: the rare words a search looks for.
RARE_WORDS = (
    "zeppelin", "marzipan", "quokka", "sextant", "narwhal",
    "obsidian", "tamarind", "gondola", "kestrel", "vellum",
)  # fmt: skip


class DollyText:
    """Texts in the demo prompts' words (apps/collection/demo_prompts.jsonl) drawn at the
    frequencies they have there, so a few words are in most prompts and most words in few, as
    in Dolly; now and then one of RARE_WORDS."""

    RARE_SHARE = 1 / 300

    def __init__(self, rng: random.Random) -> None:
        counts: dict[str, int] = {}
        with DEMO_PROMPTS.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                for key in ("instruction", "context", "response", "second_response"):
                    for word in re.findall(r"[^\W\d_]+", (record.get(key) or "").lower()):
                        counts[word] = counts.get(word, 0) + 1
        self.rng = rng
        self.words = sorted(counts, key=lambda w: (-counts[w], w))
        self.cum_weights = list(itertools.accumulate(counts[w] for w in self.words))

    def sentence(self, low: int, high: int) -> str:
        n = self.rng.randint(low, high)
        words = self.rng.choices(self.words, cum_weights=self.cum_weights, k=n)
        if self.rng.random() < self.RARE_SHARE:
            words[self.rng.randrange(n)] = self.rng.choice(RARE_WORDS)
        return " ".join(words).capitalize() + "."


def seed(*, users: int, prompts: int, rng_seed: int, dolly: bool = False) -> Seeded:
    """Create bench users (licence accepted, one API token each) and ``prompts`` prompts.

    By default the texts come from a small vocabulary and public prompts have 0-4 answers,
    four in five accepted. ``dolly`` seeds in Dolly 15k's shape for the search benchmark
    (``DollyText``): texts of Dolly's lengths in the demo prompts' words at their frequencies,
    and every public prompt has 2-4 accepted answers (3 on average), one in five another
    still in review.

    Runs in this process with Django set up from os.environ; closes its connections after.
    """
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, connections, transaction
    from django.db.models import Count
    from django.utils import timezone

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.collection.models import (
        ACCEPTED_PROMPT_STATES,
        CONTEXT_REQUIRED,
        Category,
        Prompt,
        PromptState,
        Response,
        ResponseState,
        Source,
    )
    from apps.collection.selectors import PUBLIC_PROMPT
    from apps.core.text import dedupe_key

    rng = random.Random(rng_seed)
    dolly_text = DollyText(rng) if dolly else None
    licence = settings.HEARTH_LICENCE_NAME
    tokens: list[str] = []
    with transaction.atomic():
        people: list[Any] = []
        for i in range(users):
            user = User.objects.create_user(f"bench{i}@bench.invalid", display_name=f"Bench {i}")
            accounts.user_setup_volunteer(user=user)
            accounts.licence_accept(user=user)
            _token, key = accounts.api_token_create(user=user, name="bench")
            people.append(user)
            tokens.append(key)

        categories = list(Category.values)
        rows: list[Any] = []
        for n in range(prompts):
            category = categories[n % len(categories)]
            if dolly_text is not None:
                instruction = f"{dolly_text.sentence(5, 25)[:-1]} ({n})?"
                context = dolly_text.sentence(30, 200) if category in CONTEXT_REQUIRED else ""
            else:
                instruction = f"Seed {n}: {sentence(rng, 8, 40)}"
                context = sentence(rng, 60, 200) if category in CONTEXT_REQUIRED else ""
            kind = rng.random()
            state = rng.choice(ACCEPTED_PROMPT_STATES)
            withdrawn = hidden = None
            if kind < 0.04:
                state = PromptState.REVIEW
            elif kind < 0.06:
                state = PromptState.REJECTED
            elif kind < 0.08:
                withdrawn = timezone.now()
            elif kind < 0.10:
                hidden = timezone.now()
            rows.append(
                Prompt(
                    author=people[n % len(people)],
                    instruction=instruction,
                    context=context,
                    category=category,
                    language="en" if n % 5 else "de",
                    state=state,
                    origin="bench",
                    licence=licence,
                    instruction_key=dedupe_key(instruction),
                    withdrawn_at=withdrawn,
                    hidden_at=hidden,
                )
            )
        created = Prompt.objects.bulk_create(rows, batch_size=1000)
        answers: list[Any] = []
        accepted = ResponseState.ACCEPTED

        def answer(prompt: Any, author: Any, text: str, state: str) -> Any:
            return Response(
                prompt=prompt,
                author=author,
                text=text,
                state=state,
                source=Source.HUMAN,
                origin="bench",
                licence=licence,
            )

        for prompt in created:
            if prompt.state not in ACCEPTED_PROMPT_STATES:
                continue
            others = [p for p in people if p.pk != prompt.author_id]
            if dolly_text is None:
                for author in rng.sample(others, k=min(len(others), rng.randint(0, 4))):
                    text = sentence(rng, 20, 120)
                    state = accepted if rng.random() < 0.8 else ResponseState.REVIEW
                    answers.append(answer(prompt, author, text, state))
                continue
            states = [accepted] * rng.randint(2, 4)
            if rng.random() < 0.2:
                states.append(ResponseState.REVIEW)
            for author, state in zip(rng.sample(others, k=len(states)), states, strict=True):
                answers.append(answer(prompt, author, dolly_text.sentence(10, 120), state))
        Response.objects.bulk_create(answers, batch_size=2000)
        # Spread creation times out (bulk_create stamps them all "now"), newest = highest id.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Prompt._meta.db_table} "
                "SET created_at = now() - (%s - id) * interval '7 minutes', "
                "updated_at = now() - (%s - id) * interval '7 minutes'",
                [max(p.pk for p in created), max(p.pk for p in created)],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    by_category = {
        row["category"]: row["n"]
        for row in Prompt.objects.filter(PUBLIC_PROMPT).values("category").annotate(n=Count("id"))
    }
    connections.close_all()
    return Seeded(
        tokens=tokens,
        page_size=int(str(settings.REST_FRAMEWORK["PAGE_SIZE"])),
        public_total=sum(by_category.values()),
        public_by_category=by_category,
        categories=categories,
        context_required=sorted(str(c) for c in CONTEXT_REQUIRED),
        prompts=len(created),
        responses=len(answers),
    )


# --- the workload ---------------------------------------------------------------------------

CREATE, LIST, LIST_CATEGORY = "POST /prompts/", "GET /prompts/?page", "GET /prompts/?category&page"
KINDS = (CREATE, LIST, LIST_CATEGORY)


@dataclass(frozen=True)
class Request:
    kind: str
    raw: bytes
    expect: int


class Workload:
    """Makes the request mix; every POST instruction is unique in the whole run."""

    def __init__(self, seeded: Seeded, *, mix: dict[str, float], rng: random.Random) -> None:
        self.seeded = seeded
        self.rng = rng
        self.kinds = list(mix)
        self.weights = [mix[k] for k in self.kinds]
        self.run_tag = uuid.uuid4().hex[:10]
        self.serial = 0
        self.categories = [c for c in seeded.categories if seeded.public_by_category.get(c)]

    def _page(self, count: int) -> int:
        pages = max(1, math.ceil(count / self.seeded.page_size))
        # Half the reads stay near the top of the list (where people look), half go anywhere.
        if self.rng.random() < 0.5:
            return self.rng.randint(1, min(pages, 3))
        return self.rng.randint(1, pages)

    def make(self, token: str) -> Request:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        auth = f"Authorization: Bearer {token}\r\n"
        if kind == CREATE:
            self.serial += 1
            category = self.rng.choice(self.seeded.categories)
            payload = {
                "instruction": f"Bench {self.run_tag}-{self.serial}: {sentence(self.rng, 8, 30)}",
                "category": category,
                "language": "en",
                "response": sentence(self.rng, 20, 80),
            }
            if category in self.seeded.context_required:
                payload["context"] = sentence(self.rng, 40, 120)
            body = json.dumps(payload).encode()
            head = (
                "POST /api/v1/prompts/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"{auth}Accept: application/json\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            return Request(kind, head.encode() + body, 201)
        if kind == LIST_CATEGORY and self.categories:
            category = self.rng.choice(self.categories)
            page = self._page(self.seeded.public_by_category[category])
            path = f"/api/v1/prompts/?category={category}&page={page}"
        else:
            kind = LIST
            path = f"/api/v1/prompts/?page={self._page(self.seeded.public_total)}"
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Accept: application/json\r\n\r\n"
        return Request(kind, head.encode(), 200)


# --- measuring ------------------------------------------------------------------------------


class Recorder:
    def __init__(self, kinds: tuple[str, ...] = KINDS) -> None:
        self.latencies: dict[str, list[float]] = {k: [] for k in kinds}
        self.errors: dict[str, int] = {k: 0 for k in kinds}
        self.error_samples: list[str] = []

    def add(self, kind: str, latency: float, error: str | None) -> None:
        self.latencies[kind].append(latency)
        if error is not None:
            self.errors[kind] += 1
            if len(self.error_samples) < 8:
                self.error_samples.append(f"{kind}: {error}")


async def send(conn: HttpConnection, req: Request) -> str | None:
    """Send one request; None when it got the expected status, else what went wrong."""
    try:
        status, body = await asyncio.wait_for(conn.request(req.raw), REQUEST_TIMEOUT_S)
    except TimeoutError:
        conn.close()
        return f"no answer in {REQUEST_TIMEOUT_S:.0f} s"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        conn.close()
        return f"{type(exc).__name__}: {exc}"
    if status != req.expect:
        return f"HTTP {status} (expected {req.expect}): {body[:300].decode(errors='replace')}"
    return None


async def closed_loop(
    port: int, workload: Workload, *, clients: int, duration: float, recorder: Recorder
) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    stop_at = start + duration

    async def client(index: int) -> None:
        conn = HttpConnection(port)
        token = workload.seeded.tokens[index % len(workload.seeded.tokens)]
        while loop.time() < stop_at:
            req = workload.make(token)
            sent = loop.time()
            error = await send(conn, req)
            recorder.add(req.kind, loop.time() - sent, error)
        conn.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return loop.time() - start


async def open_loop(
    port: int, workload: Workload, *, rate: float, duration: float, recorder: Recorder
) -> tuple[float, float, int]:
    """Fire requests on a fixed schedule; returns (elapsed, worst dispatch lag, max in flight)."""
    loop = asyncio.get_running_loop()
    pool: list[HttpConnection] = []
    tasks: set[asyncio.Task[None]] = set()
    total = int(rate * duration)
    start = loop.time() + 0.05
    worst_lag = 0.0
    in_flight = max_in_flight = 0

    async def fire(index: int, scheduled: float) -> None:
        nonlocal in_flight
        conn = pool.pop() if pool else HttpConnection(port)
        req = workload.make(workload.seeded.tokens[index % len(workload.seeded.tokens)])
        error = await send(conn, req)
        # Latency from the scheduled time, so a slow server cannot hide its queue.
        recorder.add(req.kind, loop.time() - scheduled, error)
        in_flight -= 1
        if conn.is_open:
            pool.append(conn)

    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        worst_lag = max(worst_lag, loop.time() - scheduled)
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        task = asyncio.create_task(fire(index, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    for conn in pool:
        conn.close()
    return loop.time() - start, worst_lag, max_in_flight


# --- reporting ------------------------------------------------------------------------------


def serve(
    args: argparse.Namespace, env: dict[str, str], data_dir: Path, extra: Sequence[str] = ()
) -> Server:
    """Hearth under gunicorn in the shape the command line asks for, logging to ``data_dir``."""
    shape = gunicorn_shape(
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        preload=args.preload,
    )
    return start_gunicorn(env, shape=shape, log_dir=data_dir, extra=list(extra))


def summarise(recorder: Recorder, elapsed: float) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    everything: list[float] = []
    for kind in recorder.latencies:
        everything.extend(recorder.latencies[kind])
        rows[kind] = latency_row(recorder.latencies[kind], recorder.errors[kind], elapsed)
    rows["all"] = latency_row(everything, sum(recorder.errors.values()), elapsed)
    return {"elapsed_s": elapsed, "endpoints": rows, "error_samples": recorder.error_samples}


def print_phase(title: str, phase: dict[str, Any]) -> None:
    print(f"\n{title}")
    print_latency_table(phase["endpoints"], name_width=30)
    print_cpu(phase["cpu_cores"], load_average=False)
    if "dispatch_lag_ms" in phase:
        print(
            f"  generator kept the schedule within {phase['dispatch_lag_ms']:.1f} ms; "
            f"at most {phase['max_in_flight']} requests in flight"
        )
    for sample in phase["error_samples"]:
        print(f"  error: {sample}")


# --- search: Browse's q at Dolly scale, without and with the search indexes -------------------

SEARCH_INDEX_MIGRATION = "apps.collection.migrations.0004_search_trigram_indexes"


@dataclass(frozen=True)
class SearchCase:
    name: str
    path: str

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


SEARCH_CASES = (
    SearchCase("common word", "/api/v1/prompts/?q=water"),
    SearchCase("rare word", "/api/v1/prompts/?q=zeppelin"),
    SearchCase("two words", "/api/v1/prompts/?q=people+music"),
    SearchCase("common word, one category", "/api/v1/prompts/?q=water&category=open_qa"),
    SearchCase("question with stopwords", "/api/v1/prompts/?q=what+is+the+capital"),
    SearchCase("Browse page, common word", "/browse/?q=water"),
)


def search_indexes(*, create: bool) -> float | None:
    """Create or drop the search indexes with their migration's own functions; the seconds it
    took, or None when this tree has no such migration (one from before it: nothing to drop).
    Runs in this process with Django set up; closes its connections after."""
    import importlib

    import django

    django.setup()
    from django.apps import apps
    from django.db import connection, connections

    try:
        migration = importlib.import_module(SEARCH_INDEX_MIGRATION)
    except ModuleNotFoundError:
        return None
    started = time.monotonic()
    with connection.schema_editor() as editor:
        if create:
            migration.create_search_indexes(apps, editor)
        else:
            migration.drop_search_indexes(apps, editor)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    elapsed = time.monotonic() - started
    connections.close_all()
    return elapsed


def search_index_sizes(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_am a "
            "ON a.oid = c.relam WHERE c.relkind = 'i' AND a.amname = 'gin'"
        ).fetchall()
    return {str(name): int(size) for name, size in rows}


async def measure_search(
    port: int, token: str, *, requests: int, recorder: Recorder
) -> dict[str, Any]:
    """One client, one request at a time (the latency of a search on an idle server), the
    cases taken in turn so that other work on the machine falls on all of them alike. Returns
    each API case's first answer (count and ids), to check that indexes change no result."""
    conn = HttpConnection(port)
    answers: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    for round_ in range(requests + 1):  # round 0 warms up and is not recorded
        for case in SEARCH_CASES:
            auth = f"Authorization: Bearer {token}\r\n" if case.api else ""
            accept = "application/json" if case.api else "text/html"
            raw = (
                f"GET {case.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Accept: {accept}\r\n\r\n"
            ).encode()
            sent = loop.time()
            try:
                status, body = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT_S)
                error = None if status == 200 else f"HTTP {status}: {body[:200]!r}"
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                conn.close()
                status, body, error = 0, b"", f"{type(exc).__name__}: {exc}"
            if round_:
                recorder.add(case.name, loop.time() - sent, error)
            if case.api and error is None and case.name not in answers:
                page = json.loads(body)
                answers[case.name] = {
                    "count": page["count"],
                    "ids": [p["id"] for p in page["results"]],
                }
    conn.close()
    return answers


def run_search(
    args: argparse.Namespace, env: dict[str, str], database_url: str, data_dir: Path
) -> int:
    """Seed Dolly-sized data, then measure SEARCH_CASES without the search indexes and with
    them, on the same gunicorn; prints a before/after table. Exit status 1 on any failed
    request or any search whose results the indexes changed."""
    log("dropping the search indexes (the baseline is measured without them)")
    had_indexes = search_indexes(create=False) is not None
    log(f"seeding {args.users} users and {args.prompts} prompts in Dolly's shape")
    seeded = seed(users=args.users, prompts=args.prompts, rng_seed=args.seed, dolly=True)
    log(
        f"seeded {seeded.prompts} prompts ({seeded.public_total} public) and "
        f"{seeded.responses} responses"
    )
    accepted = _count_public_answers()
    phases: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    build_s: float | None = None
    server = serve(args, env, data_dir)
    log(f"{server.description} on port {server.port}")
    load = os.getloadavg()
    try:
        for phase in ("without indexes", "with indexes"):
            if phase == "with indexes":
                if not had_indexes:
                    break
                log("creating the search indexes")
                build_s = search_indexes(create=True)
            log(f"{phase}: {args.search_requests} requests per case, one at a time")
            recorder = Recorder(tuple(c.name for c in SEARCH_CASES))
            started = time.monotonic()
            answers[phase] = asyncio.run(
                measure_search(
                    server.port,
                    seeded.tokens[0],
                    requests=args.search_requests,
                    recorder=recorder,
                )
            )
            phases[phase] = summarise(recorder, time.monotonic() - started)
    finally:
        server.stop()
        tail = server.log_tail(20)
        if tail.strip():
            log(f"gunicorn log (last lines):\n{tail}")
    load_after = os.getloadavg()
    sizes = search_index_sizes(database_url) if build_s is not None else {}

    print(
        f"\nHearth search benchmark: {server.description}, {server_version(database_url)}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"seeded {seeded.prompts} prompts ({seeded.public_total} public) in Dolly's shape, "
        f"{seeded.responses} answers ({accepted} of them public); one client, "
        f"{args.search_requests} requests per case"
    )
    print(f"load average before {load[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    if build_s is not None:
        total = sum(sizes.values())
        print(f"search indexes built in {build_s:.1f} s, {total / 2**20:.0f} MiB")
    names = list(phases)
    head = "".join(f"{n + ' p50':>22}{'p95':>8}" for n in names)
    print(f"\n  {'case':<28}{'matches':>8}{head}")
    for case in SEARCH_CASES:
        found = answers[names[0]].get(case.name, {}).get("count", "")
        cells = "".join(
            f"{phases[n]['endpoints'][case.name]['p50_ms']:>22.1f}"
            f"{phases[n]['endpoints'][case.name]['p95_ms']:>8.1f}"
            for n in names
        )
        print(f"  {case.name:<28}{found!s:>8}{cells}")
    errors = sum(phases[n]["endpoints"]["all"]["errors"] for n in names)
    samples = [e for n in names for e in phases[n]["error_samples"]]
    for sample in samples:
        print(f"  error: {sample}")
    same = all(answers[n] == answers[names[0]] for n in names)
    targets = [
        ("zero errors", errors == 0, f"{errors}"),
        ("the indexes change no search's results", same, "same" if same else "DIFFERENT"),
    ]
    passed = print_targets(targets)
    if args.json:
        report = {
            "config": {
                "server": server.description,
                "prompts": seeded.prompts,
                "public_prompts": seeded.public_total,
                "responses": seeded.responses,
                "public_responses": accepted,
                "requests_per_case": args.search_requests,
                "cpus": os.cpu_count(),
                "load_average_before": load,
                "load_average_after": load_after,
                "index_build_s": build_s,
                "index_bytes": sizes,
            },
            "phases": phases,
            "answers": answers,
            "targets": [{"name": n, "pass": ok, "detail": d} for n, ok, d in targets],
            "pass": passed,
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed else 1


# --- import: POST /api/v1/imports/ of a generated Dolly file ---------------------------------

IMPORT_TIMEOUT_S = 900.0  # from the post to done
IMPORT_POLL_S = 0.2
WORKER_START_S = 60.0
EXPORTS_QUEUE = "exports"


@dataclass(frozen=True)
class DollyFile:
    body: bytes
    lines: int
    imported: int
    duplicates: int
    rejected: int


def dolly_file(lines: int, rng_seed: int) -> DollyFile:
    """``lines`` Dolly records with texts of Dolly's lengths (``DollyText``) and a context
    for the categories that need one. In each hundred, line 50 repeats line 10 in capitals (a
    duplicate) and line 100 names a category Hearth does not know (rejected)."""
    import django

    django.setup()
    from apps.collection.models import CONTEXT_REQUIRED, Category

    rng = random.Random(rng_seed)
    text = DollyText(rng)
    records: list[dict[str, str]] = []
    imported = duplicates = rejected = 0
    for n in range(lines):
        if n % 100 == 49:
            records.append(
                {**records[n - 40], "instruction": records[n - 40]["instruction"].upper()}
            )
            duplicates += 1
            continue
        category = str(Category.values[n % len(Category.values)])
        record = {
            "instruction": f"{text.sentence(5, 25)[:-1]} ({n})?",
            "context": text.sentence(30, 200) if category in CONTEXT_REQUIRED else "",
            "response": text.sentence(10, 120),
            "category": category,
        }
        if n % 100 == 99:
            record["category"] = "poetry"
            rejected += 1
        else:
            imported += 1
        records.append(record)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    return DollyFile(body, lines, imported, duplicates, rejected)


def import_maintainer() -> str:
    """A maintainer who has accepted the licence; returns their new API token. Runs in this
    process with Django set up; closes its connections after."""
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.db import connections

    from apps.accounts import roles
    from apps.accounts import services as accounts
    from apps.accounts.models import User

    user = User.objects.create_user("importer@bench.invalid", display_name="Importer")
    accounts.user_setup_volunteer(user=user)
    user.groups.add(Group.objects.get(name=roles.MAINTAINER))
    accounts.licence_accept(user=user)
    _token, key = accounts.api_token_create(user=user, name="bench")
    connections.close_all()
    return key


def collection_rows(url: str, *, empty: bool = False) -> tuple[int, int]:
    """The prompts and responses in the database; with ``empty``, deletes them first."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if empty:
            conn.execute("TRUNCATE collection_response, collection_prompt CASCADE")
        prompts = conn.execute("SELECT count(*) FROM collection_prompt").fetchone()
        responses = conn.execute("SELECT count(*) FROM collection_response").fetchone()
    return (prompts[0] if prompts else 0), (responses[0] if responses else 0)


@dataclass
class Worker:
    """A Celery worker started in its own session (and so its own process group)."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    description: str

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def logged_errors(self) -> bool:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return False
        return "ERROR" in text or "Traceback" in text or "CRITICAL" in text

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL to what is left after 15 s."""
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        self._signal_group(signal.SIGKILL)
        self.proc.wait()


def redacted(url: str) -> str:
    """``url`` without its password, for the log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":**@")))


def check_redis(url: str) -> str | None:
    """None when Redis at ``url`` answers, else why not; logs a warning when the exports queue
    there already holds messages (another run's: this bench's worker will take them too)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        waiting = int(client.llen(EXPORTS_QUEUE))
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if waiting:
        log(
            f"warning: the {EXPORTS_QUEUE!r} queue in {redacted(url)} already holds {waiting} messages; "
            "the bench's worker will run them too (an earlier run that stopped early may have "
            f"left them: `redis-cli -u {redacted(url)} del {EXPORTS_QUEUE}` empties the queue)"
        )
    return None


def start_exports_worker(env: dict[str, str], log_dir: Path) -> Worker:
    """One Celery worker of the exports queue (solo pool, as in ``make dev``) with ``env``, in
    its own session, logging to ``log_dir``; returns once it logs that it is ready."""
    log_path = log_dir / "celery-exports.log"
    command = [
        sys.executable, "-m", "celery", "-A", "apps", "worker",
        "-Q", EXPORTS_QUEUE, "--pool=solo", "--loglevel=info",
        "-n", f"bench-import-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    worker = Worker(proc=proc, log_path=log_path, description="Celery 1 x solo (exports queue)")
    deadline = time.monotonic() + WORKER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            worker.stop()
            raise SystemExit(
                f"bench: the Celery worker exited with {proc.returncode}:\n{worker.log_tail()}"
            )
        if " ready." in log_path.read_text(errors="replace"):
            return worker
        time.sleep(0.2)
    worker.stop()
    raise SystemExit(
        f"bench: the Celery worker was not ready in {WORKER_START_S:.0f} s:\n{worker.log_tail()}"
    )


async def post_import(port: int, token: str, body: bytes) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\nbench-dolly\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="dolly.jsonl"\r\nContent-Type: application/x-ndjson\r\n\r\n'
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    raw = (
        f"POST /api/v1/imports/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(form)}\r\n\r\n"
    ).encode() + form
    conn = HttpConnection(port)
    try:
        return await asyncio.wait_for(conn.request(raw), IMPORT_TIMEOUT_S)
    finally:
        conn.close()


async def import_and_wait(
    port: int, token: str, body: bytes, worker: Worker
) -> tuple[dict[str, Any] | None, str | None]:
    """Post ``body`` (expecting 202), then follow the import every IMPORT_POLL_S until it is
    done or failed. Returns the import as last read (None when the post failed) and what went
    wrong (None when it is done)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IMPORT_TIMEOUT_S
    status, answer = await post_import(port, token, body)
    if status != 202:
        return None, f"POST answered HTTP {status} (expected 202): {answer[:300]!r}"
    job: dict[str, Any] = json.loads(answer)
    path = f"/api/v1/imports/{job['id']}/"
    raw = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    conn = HttpConnection(port)
    try:
        while job["status"] not in ("done", "failed"):
            if loop.time() > deadline:
                return job, (
                    f"import {job['id']} not done in {IMPORT_TIMEOUT_S:.0f} s: {job['status']}, "
                    f"{job['lines_read']} lines read"
                )
            if worker.proc.poll() is not None:
                return job, f"the Celery worker exited with {worker.proc.returncode}"
            await asyncio.sleep(IMPORT_POLL_S)
            status, answer = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT_S)
            if status != 200:
                return job, f"GET {path} answered HTTP {status}: {answer[:300]!r}"
            job = json.loads(answer)
    finally:
        conn.close()
    if job["status"] == "failed":
        return job, f"import {job['id']} failed: {job['error']}"
    return job, None


def measure_import(
    server: Server,
    worker: Worker,
    token: str,
    file: DollyFile,
    meter: CpuMeter,
    expect: tuple[int, int, int],
) -> dict[str, Any]:
    """Import ``file`` once: wall time from the post to ``done``, CPU seconds of the Celery
    worker, gunicorn and PostgreSQL, and what went wrong (None when the post answered 202 and
    the import is done with ``expect`` as its counts and every line in its report)."""
    meter.start()
    started = time.monotonic()
    job: dict[str, Any] | None = None
    try:
        job, error = asyncio.run(import_and_wait(server.port, token, file.body, worker))
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, KeyError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    elapsed = time.monotonic() - started
    cpu = meter.stop()
    if error is None and job is not None:
        report = job["report"]
        counts = (report["imported"], report["duplicates"], report["rejected"])
        if counts != expect or len(report["lines"]) + report["lines_omitted"] != file.lines:
            error = f"counts {counts} for {len(report['lines'])} lines, expected {expect}"
    return {
        "import_id": job["id"] if job else None,
        "wall_s": elapsed,
        "lines_per_s": file.lines / elapsed,
        "celery_cpu_s": cpu["celery"] * elapsed,
        "gunicorn_cpu_s": cpu["gunicorn"] * elapsed,
        "postgres_cpu_s": cpu["postgres"] * elapsed,
        "error": error,
    }


def run_import(
    args: argparse.Namespace, env: dict[str, str], database_url: str, data_dir: Path
) -> int:
    """Import a generated Dolly file ``--import-runs`` times into an empty collection, each
    followed by the same file again, through gunicorn and one exports Celery worker; prints
    each import and the medians. Exit status 1 on a failed request or import, a report with
    the wrong counts, or rows missing or to spare. Needs Redis in ``env["REDIS_URL"]`` (main()
    checks that it answers)."""
    redis_url = env["REDIS_URL"]
    file = dolly_file(args.import_lines, args.seed)
    token = import_maintainer()
    log(
        f"{file.lines} lines ({len(file.body) / 2**20:.1f} MiB): {file.imported} to import, "
        f"{file.duplicates} duplicates, {file.rejected} rejected"
    )
    phases = {
        "into an empty collection": (file.imported, file.duplicates, file.rejected),
        "the same file again": (0, file.imported + file.duplicates, file.rejected),
    }
    results: dict[str, list[dict[str, Any]]] = {phase: [] for phase in phases}
    wrong_rows: list[str] = []
    server = serve(args, env, data_dir)
    log(f"{server.description} on port {server.port}")
    worker: Worker | None = None
    finished = False
    load = os.getloadavg()
    try:
        worker = start_exports_worker(env, data_dir)
        log(f"{worker.description}, pid {worker.proc.pid}, broker {redacted(redis_url)}")
        meter = CpuMeter(
            server, database_url, load_average=False, sessions={"celery": worker.proc.pid}
        )
        warm = dolly_file(20, args.seed + 1)
        warmed = measure_import(
            server, worker, token, warm, meter, (warm.imported, warm.duplicates, warm.rejected)
        )
        if warmed["error"]:
            log(f"warm-up import: {warmed['error']}")
        for run in range(1, args.import_runs + 1):
            collection_rows(database_url, empty=True)
            for phase, expect in phases.items():
                log(f"run {run}/{args.import_runs}: {phase}")
                result = measure_import(server, worker, token, file, meter, expect)
                results[phase].append(result)
                if result["error"]:
                    log(f"  {result['error']}")
            rows = collection_rows(database_url)
            if rows != (file.imported, file.imported):
                wrong_rows.append(f"run {run}: {rows[0]} prompts, {rows[1]} responses")
        finished = True
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
        tail = server.log_tail(20)
        if tail.strip():
            log(f"gunicorn log (last lines):\n{tail}")
        if worker is not None and not finished:
            log(f"Celery worker log (last lines):\n{worker.log_tail()}")
    load_after = os.getloadavg()

    def median(phase: str, key: str) -> float:
        return statistics.median(r[key] for r in results[phase])

    print(
        f"\nHearth import benchmark: POST /api/v1/imports/ (202), then GET /api/v1/imports/{{id}}/ "
        f"every {IMPORT_POLL_S:g} s until done; {server.description}, {worker.description}, "
        f"{server_version(database_url)}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"{file.lines} Dolly lines ({len(file.body) / 2**20:.1f} MiB): {file.imported} new, "
        f"{file.duplicates} duplicates, {file.rejected} rejected; {args.import_runs} runs"
    )
    print(f"load average before {load[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(
        f"\n  {'import (post to done)':<28}{'wall s (each run)':>26}{'median':>9}{'lines/s':>9}"
        f"{'Celery CPU s':>14}{'gunicorn CPU s':>16}{'PostgreSQL CPU s':>18}"
    )
    for phase in phases:
        each = ", ".join(f"{r['wall_s']:.2f}" for r in results[phase])
        print(
            f"  {phase:<28}{each:>26}{median(phase, 'wall_s'):>9.2f}"
            f"{median(phase, 'lines_per_s'):>9.0f}{median(phase, 'celery_cpu_s'):>14.2f}"
            f"{median(phase, 'gunicorn_cpu_s'):>16.2f}{median(phase, 'postgres_cpu_s'):>18.2f}"
        )
    errors = [f"{phase}: {r['error']}" for phase in phases for r in results[phase] if r["error"]]
    for error in [*errors, *wrong_rows][:8]:
        print(f"  error: {error}")
    targets = [
        (
            "every import answered 202 and got to done with the file's counts",
            not errors,
            f"{len(errors)} not",
        ),
        ("each run wrote exactly the new lines", not wrong_rows, "; ".join(wrong_rows) or "yes"),
    ]
    passed = print_targets(targets)
    if not passed or worker.logged_errors():
        log(f"Celery worker log (last lines):\n{worker.log_tail()}")
    if args.json:
        report = {
            "config": {
                "server": server.description,
                "worker": worker.description,
                "poll_s": IMPORT_POLL_S,
                "lines": file.lines,
                "bytes": len(file.body),
                "imported": file.imported,
                "duplicates": file.duplicates,
                "rejected": file.rejected,
                "runs": args.import_runs,
                "cpus": os.cpu_count(),
                "load_average_before": load,
                "load_average_after": load_after,
            },
            "imports": results,
            "targets": [{"name": n, "pass": ok, "detail": d} for n, ok, d in targets],
            "pass": passed,
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed else 1


def _count_public_answers() -> int:
    import django

    django.setup()
    from django.db import connections

    from apps.collection.models import Response
    from apps.collection.selectors import PUBLIC_RESPONSE_ON_PUBLIC_PROMPT

    n = Response.objects.filter(PUBLIC_RESPONSE_ON_PUBLIC_PROMPT).count()
    connections.close_all()
    return n


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase [30]")
    parser.add_argument("--clients", type=int, default=16, help="closed-loop clients [16]")
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop requests/s [50]")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 5 s per phase, 5 requests per search, one import of 500 lines",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--create-share", type=float, default=0.2, help="share of POSTs [0.2]")
    parser.add_argument(
        "--category-share", type=float, default=0.2, help="share of category-filtered lists [0.2]"
    )
    parser.add_argument(
        "--prompts", type=int, help="prompts to seed [5000; with --search 16700, 15000 public]"
    )
    parser.add_argument(
        "--search",
        action="store_true",
        help="instead of the mix: Browse and API searches at Dolly scale, without and with "
        "the search indexes",
    )
    parser.add_argument(
        "--search-requests", type=int, default=30, help="--search: requests per case [30]"
    )
    parser.add_argument(
        "--import",
        dest="import_",
        action="store_true",
        help="instead of the mix: time the import of a generated Dolly file (POST "
        "/api/v1/imports/, done by an exports Celery worker); needs REDIS_URL",
    )
    parser.add_argument(
        "--import-lines", type=int, default=5000, help="--import: lines in the file [5000]"
    )
    parser.add_argument(
        "--import-runs",
        type=int,
        default=3,
        help="--import: imports of the file, each into an empty collection and then once more [3]",
    )
    parser.add_argument("--users", type=int, default=16, help="bench users with tokens [16]")
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
        args.duration = 5.0
        args.search_requests = 5
        args.import_lines, args.import_runs = 500, 1
    if args.search and args.import_:
        parser.error("--search and --import are separate benchmarks: pick one")
    if args.import_lines < 100 or args.import_runs < 1:
        parser.error("--import-lines must be at least 100 and --import-runs at least 1")
    if args.prompts is None:
        args.prompts = 16700 if args.search else 5000
    if args.users < 5:
        parser.error("--users must be at least 5")
    if not 0 <= args.create_share + args.category_share <= 1:
        parser.error("--create-share plus --category-share must be between 0 and 1")
    return args


async def run_phases(
    args: argparse.Namespace, server: Server, seeded: Seeded, meter: CpuMeter
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    mix = {
        CREATE: args.create_share,
        LIST: 1 - args.create_share - args.category_share,
        LIST_CATEGORY: args.category_share,
    }
    workload = Workload(seeded, mix=mix, rng=rng)

    warm = Recorder()
    await closed_loop(
        server.port, workload, clients=8, duration=1.0 if args.quick else 3.0, recorder=warm
    )
    warm_errors = sum(warm.errors.values())
    if warm_errors:
        log(f"warm-up saw {warm_errors} errors, e.g. {warm.error_samples[:2]}")

    log(f"closed loop: {args.clients} clients for {args.duration:.0f} s")
    recorder = Recorder()
    meter.start()
    elapsed = await closed_loop(
        server.port, workload, clients=args.clients, duration=args.duration, recorder=recorder
    )
    closed = summarise(recorder, elapsed)
    closed["cpu_cores"] = meter.stop()

    await asyncio.sleep(1.0)
    log(f"open loop: {args.rate:g} requests/s for {args.duration:.0f} s")
    recorder = Recorder()
    meter.start()
    elapsed, lag, max_in_flight = await open_loop(
        server.port, workload, rate=args.rate, duration=args.duration, recorder=recorder
    )
    opened = summarise(recorder, elapsed)
    opened["cpu_cores"] = meter.stop()
    opened["dispatch_lag_ms"] = lag * 1000
    opened["max_in_flight"] = max_in_flight
    return {"mix": mix, "closed_loop": closed, "open_loop": opened}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.import_ and not os.environ.get("REDIS_URL"):
        log(
            "--import needs Redis: imports run on a Celery worker of the exports queue, and the "
            "bench's worker and gunicorn meet through the broker in REDIS_URL. Set REDIS_URL "
            "(e.g. redis://127.0.0.1:6379/6)."
        )
        return 2
    if args.import_:
        problem = check_redis(os.environ["REDIS_URL"])
        if problem is not None:
            redis_url = redacted(os.environ["REDIS_URL"])
            log(f"--import needs Redis, and {redis_url} does not answer: {problem}")
            return 2
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    data_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(48),
        HEARTH_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="apps.settings",
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
        os.environ.update(env)
        if args.search:
            return run_search(args, env, database_url, data_dir)
        if args.import_:
            return run_import(args, env, database_url, data_dir)
        log(f"seeding {args.users} users and {args.prompts} prompts")
        seeded = seed(users=args.users, prompts=args.prompts, rng_seed=args.seed)
        log(
            f"seeded {seeded.prompts} prompts ({seeded.public_total} public) and "
            f"{seeded.responses} responses"
        )
        server = serve(args, env, data_dir)
        log(f"{server.description} on port {server.port}")
        meter = CpuMeter(server, database_url, load_average=False)
        load_before = os.getloadavg()
        results = asyncio.run(run_phases(args, server, seeded, meter))
        load_after = os.getloadavg()
    finally:
        if server is not None:
            server.stop()
            tail = server.log_tail(20)
            if tail.strip():
                log(f"gunicorn log (last lines):\n{tail}")
        shutil.rmtree(data_dir, ignore_errors=True)

    closed, opened = results["closed_loop"], results["open_loop"]
    p95 = opened["endpoints"]["all"]["p95_ms"]
    targets = [
        (
            "closed loop: zero errors",
            closed["endpoints"]["all"]["errors"] == 0,
            f"{closed['endpoints']['all']['errors']} of {closed['endpoints']['all']['requests']}",
        ),
        (
            "open loop: zero errors",
            opened["endpoints"]["all"]["errors"] == 0,
            f"{opened['endpoints']['all']['errors']} of {opened['endpoints']['all']['requests']}",
        ),
        (f"open loop: p95 under {TARGET_P95_MS:.0f} ms", p95 < TARGET_P95_MS, f"p95 {p95:.1f} ms"),
    ]
    mix = ", ".join(f"{share:.0%} {kind}" for kind, share in results["mix"].items())
    print(
        f"\nHearth API benchmark: {server.description if server else 'gunicorn'}, "
        f"{server_version(database_url)}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"seeded {seeded.prompts} prompts ({seeded.public_total} public, page size "
        f"{seeded.page_size}), {seeded.responses} responses; mix: {mix}"
    )
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        "(1 min; other work on the machine skews the figures)"
    )
    print_phase(
        f"closed loop: {args.clients} clients, no think time, {closed['elapsed_s']:.1f} s "
        f"-> {closed['endpoints']['all']['rps']:.1f} requests/s",
        closed,
    )
    print_phase(
        f"open loop: {args.rate:g} requests/s on a fixed schedule, {opened['elapsed_s']:.1f} s "
        "(latency from each request's scheduled time)",
        opened,
    )
    passed = print_targets(targets)
    if args.json:
        report = {
            "config": {
                "server": server.description if server else None,
                "duration_s": args.duration,
                "clients": args.clients,
                "rate": args.rate,
                "prompts": seeded.prompts,
                "public_prompts": seeded.public_total,
                "cpus": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            **results,
            "targets": [{"name": n, "pass": ok, "detail": d} for n, ok, d in targets],
            "pass": passed,
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
