"""Time Browse's and the API's search in-process at QA's scale, cold (cache emptied before each
request) and warm (the cache as the previous request left it).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hearth_bench_search \\
    REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python tests/bench/bench_search.py [--seed --prompts 50000] [--requests 5]

With ``--seed`` it drops and re-creates the database (its name must contain "bench"), migrates
and seeds ``--prompts`` prompts in Dolly 15k's shape (bench_api's ``DollyText``: 50,000 give
about 45,000 public prompts and 150,000 answers, as QA measured); without it, it measures the
database as it is, so the code before and after a change can be timed on the same rows. Each
case is requested ``--requests`` times cold (the cache, REDIS_URL's database, emptied first:
what the first visitor to a search waits) and as many times warm, through Django's test client
as an anonymous visitor; it prints the medians and each API case's count ("+" when capped). The cache is emptied
with FLUSHDB: give it a Redis database of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import in_process_settings, log, reset_database  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hearth_bench_search"

CASES = (
    ("water", "/browse/?q=water"),
    ("the", "/browse/?q=the"),
    ("what is the capital", "/browse/?q=what+is+the+capital"),
    ("people music", "/browse/?q=people+music"),
    ("zeppelin", "/browse/?q=zeppelin"),
    ("water, page 50", "/browse/?q=water&page=50"),
    ("water, open_qa", "/browse/?q=water&category=open_qa"),
    ("API water", "/api/v1/prompts/?q=water"),
    ("Browse, no search", "/browse/"),
    ("API, no search", "/api/v1/prompts/"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", action="store_true", help="drop, migrate and seed first")
    parser.add_argument("--prompts", type=int, default=50000, help="--seed: prompts [50000]")
    parser.add_argument("--requests", type=int, default=5, help="requests per case and mode [5]")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL") or DATABASE_URL
    in_process_settings(database_url, "hearth-bench-search-", ALLOWED_HOSTS="testserver")
    if args.seed:
        log(f"resetting the database and seeding {args.prompts} prompts")
        reset_database(database_url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=os.environ, check=True,
        )  # fmt: skip
        from tests.bench.bench_api import search_indexes, seed

        # Seeded without the search indexes and indexed after, as bench_api's --search does:
        # faster than keeping the indexes up to date row by row.
        search_indexes(create=False)
        seeded = seed(users=16, prompts=args.prompts, rng_seed=1, dolly=True)
        search_indexes(create=True)
        log(f"seeded {seeded.prompts} prompts ({seeded.public_total} public)")

    import django

    django.setup()
    from django.core.cache import cache
    from django.test import Client

    client = Client()
    print(f"{'case':<22}{'count':>10}{'cold p50 ms':>14}{'warm p50 ms':>14}")
    for name, path in CASES:
        timings: dict[str, list[float]] = {"cold": [], "warm": []}
        count = ""
        for mode in ("cold", "warm"):
            for _ in range(args.requests):
                if mode == "cold":
                    cache.clear()
                started = time.perf_counter()
                response = client.get(path, HTTP_ACCEPT="application/json, text/html")
                timings[mode].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    log(f"{path}: HTTP {response.status_code}")
                    return 1
                if path.startswith("/api/"):
                    body = response.json()
                    capped = response.headers.get("Hearth-Search-Capped") == "true"
                    count = f"{body['count']}{'+' if capped else ''}"
        cold, warm = (statistics.median(timings[m]) for m in ("cold", "warm"))
        print(f"{name:<22}{count:>10}{cold:>14.0f}{warm:>14.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
