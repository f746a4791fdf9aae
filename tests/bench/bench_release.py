"""Benchmark: building a release against PostgreSQL's own COPY of the same rows.

``make bench-release`` runs this with DATABASE_URL pointing at a scratch database (its name
must contain "bench": the script drops and re-creates it). By itself it

1. drops and creates the database, runs the migrations, and generates (in SQL, with
   ``INSERT … SELECT generate_series``) 1,000,000 accepted answers to complete prompts (four
   per prompt), 250,000 rankings and one consensus row per prompt: everything enters the
   release;
2. in a fresh subprocess, times ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` of the queries the
   build reads (prompts, the sft join with its Dolly line, rankings, consensus), discarding
   the bytes: the floor for reading those rows;
3. in another fresh subprocess (an honest peak RSS), times ``release_build`` of a new release;
4. times the COPY once more, as in 2;
5. prints wall time, rows/s and peak RSS of each, the ratio of the build to the faster COPY,
   and PASS/FAIL against the targets: the build within 3x the COPY time and under 500 MB
   peak RSS.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hearth_bench_release \\
        .venv/bin/python tests/bench/bench_release.py [--quick] [--responses N] \\
        [--rankings N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import (  # noqa: E402
    database_name,
    log,
    print_targets,
    reset_database,
    server_version,
)

# The search's trigram indexes, which a bulk load drops and builds again.
SEARCH_INDEXES = ("prompt_instruction_trgm", "prompt_context_trgm", "response_text_trgm")

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hearth_bench_release"
ANSWERS_PER_PROMPT = 4
USERS = 1_000
TARGET_RATIO = 3.0
TARGET_RSS_MB = 500.0

# --- data ------------------------------------------------------------------------------------

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


def generate(conn: Any, *, responses: int, rankings: int, users: int = USERS) -> dict[str, int]:
    """Insert, in SQL, ``users`` users, ``responses / 4`` complete prompts with four accepted
    human answers each, ``rankings`` rankings spread over the prompts (each ranker at most
    once per prompt) and one consensus row per prompt. Ids continue after any rows already
    there; sequences are moved past them. ``conn`` is a psycopg connection (committed here)."""
    prompts = max(1, -(-responses // ANSWERS_PER_PROMPT))
    per_prompt = -(-rankings // prompts) if rankings else 0
    if per_prompt > users - ANSWERS_PER_PROMPT:
        raise SystemExit(f"bench: {rankings} rankings need more than {users} users")
    with conn.cursor() as cur:
        # As for any load of this size: the search's GIN trigram indexes (collection migration
        # 0004) are dropped and built again after it, several times faster than growing them
        # row by row.
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
            [list(SEARCH_INDEXES)],
        )
        search_indexes = cur.fetchall()
        for name, _definition in search_indexes:
            cur.execute(f'DROP INDEX "{name}"')

        def base(table: str) -> int:
            cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            return int(cur.fetchone()[0])

        u0, p0, r0, k0 = (
            base(t)
            for t in (
                "accounts_user",
                "collection_prompt",
                "collection_response",
                "feedback_ranking",
            )
        )
        tag = secrets.token_hex(4)
        cur.execute(
            """
            INSERT INTO accounts_user (id, password, is_superuser, first_name, last_name,
                is_staff, is_active, date_joined, email, display_name, display_name_key,
                languages, attribution, ban_reason)
            SELECT %(u0)s + g, '!', false, '', '', false, true, now(),
                'bench' || g || '-' || %(tag)s || '@bench.invalid', 'Bench ' || g,
                md5('bench ' || g || %(tag)s), '[]'::jsonb, g %% 10 = 0, ''
            FROM generate_series(1, %(n)s) AS g
            """,
            {"u0": u0, "n": users, "tag": tag},
        )
        cur.execute(
            """
            INSERT INTO collection_prompt (id, created_at, updated_at, instruction, context,
                category, language, state, origin, licence, instruction_key, author_id,
                open_slots)
            SELECT %(p0)s + g, now(), now(),
                'Explain item ' || g || ': ' || md5(g::text) || ' and why the river bends.',
                CASE WHEN g %% 3 = 0 THEN 'Context ' || md5((g * 7)::text)
                     || E'\nwith "quotes", a comma and a second line.' ELSE '' END,
                (%(categories)s::text[])[1 + g %% 8],
                CASE WHEN g %% 5 = 0 THEN 'de' ELSE 'en' END,
                'complete', 'bench', 'CC-BY-SA-4.0', 'bench-' || %(tag)s || '-' || g,
                %(u0)s + 1 + g %% %(users)s, 0
            FROM generate_series(1, %(n)s) AS g
            """,
            {
                "p0": p0,
                "u0": u0,
                "n": prompts,
                "users": users,
                "tag": tag,
                "categories": list(CATEGORIES),
            },
        )
        # Answer k (0..3) of prompt g has id r0 + k * prompts + g, by a distinct author: ids
        # (and the table's physical order) interleave prompts, as answers arriving over time do.
        cur.execute(
            """
            INSERT INTO collection_response (id, created_at, updated_at, text, state, source,
                origin, licence, author_id, prompt_id, open_slots)
            SELECT %(r0)s + k * %(n)s + g, now(), now(),
                'Answer ' || k || ' to item ' || g || ': ' || md5((g * 4 + k)::text)
                || ' ' || md5((g + k)::text) || ' because water finds the lowest path.',
                'accepted', 'human', 'bench', 'CC-BY-SA-4.0',
                %(u0)s + 1 + (g + k) %% %(users)s, %(p0)s + g, 0
            FROM generate_series(0, 3) AS k, generate_series(1, %(n)s) AS g
            WHERE k * %(n)s + g <= %(responses)s
            ORDER BY k, g
            """,
            {"r0": r0, "u0": u0, "p0": p0, "n": prompts, "users": users, "responses": responses},
        )
        # Ranking i is of prompt 1 + i % prompts by ranker j = i / prompts (distinct from the
        # prompt's answerers); rankers alternate between two orders.
        cur.execute(
            """
            INSERT INTO feedback_ranking (id, "order", unusable, created_at, prompt_id, ranker_id)
            SELECT %(k0)s + i + 1,
                CASE WHEN (i / %(n)s) %% 2 = 0
                    THEN jsonb_build_array(b, b + %(n)s, b + 2 * %(n)s, b + 3 * %(n)s)
                    ELSE jsonb_build_array(b + %(n)s, b, b + 3 * %(n)s, b + 2 * %(n)s) END,
                false, now(), %(p0)s + g,
                %(u0)s + 1 + (g + 4 + i / %(n)s) %% %(users)s
            FROM (
                SELECT i, 1 + i %% %(n)s AS g, %(r0)s + 1 + i %% %(n)s AS b
                FROM generate_series(0, %(rankings)s - 1) AS i
            ) AS ranked
            """,
            {"k0": k0, "p0": p0, "r0": r0, "u0": u0, "n": prompts, "users": users,
             "rankings": rankings},
        )  # fmt: skip
        cur.execute(
            """
            INSERT INTO feedback_promptconsensus ("order", agreement, rankers, unusable_rankers,
                pairwise_wins, computed_at, prompt_id)
            SELECT jsonb_build_array(a1, a2, a3, a4), 0.75, n, 0,
                jsonb_build_object(
                    a1 || '>' || a2, (n + 1) / 2, a2 || '>' || a1, n / 2,
                    a1 || '>' || a3, n, a1 || '>' || a4, n,
                    a2 || '>' || a3, n, a2 || '>' || a4, n,
                    a3 || '>' || a4, (n + 1) / 2, a4 || '>' || a3, n / 2),
                now(), %(p0)s + g
            FROM (
                SELECT g, n, %(r0)s + g AS a1, %(r0)s + %(n)s + g AS a2,
                    %(r0)s + 2 * %(n)s + g AS a3, %(r0)s + 3 * %(n)s + g AS a4
                FROM (
                    SELECT g,
                        %(per)s - CASE WHEN g - 1 >= %(rankings)s - (%(per)s - 1) * %(n)s
                                       THEN 1 ELSE 0 END AS n
                    FROM generate_series(1, %(n)s) AS g
                ) AS counted
            ) AS complete
            WHERE n > 0
            """,
            {"p0": p0, "r0": r0, "n": prompts, "per": per_prompt, "rankings": rankings},
        )
        for table in (
            "accounts_user",
            "collection_prompt",
            "collection_response",
            "feedback_ranking",
            "feedback_promptconsensus",
        ):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT MAX(id) FROM {table}))"
            )
    conn.commit()  # the deferred foreign-key checks run; only then may the indexes be built
    with conn.cursor() as cur:
        for _name, definition in search_indexes:
            cur.execute(definition)
    conn.commit()
    return {"users": users, "prompts": prompts, "responses": responses, "rankings": rankings}


# --- the two measured children ----------------------------------------------------------------

_PEAK_RSS = """
def peak_rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

COPY_CHILD = (
    _PEAK_RSS
    + """
import json, time
import django
django.setup()
import psycopg
from django.db import connection
from apps.feedback.models import PromptConsensus, Ranking
from apps.releases.building.queries import (
    consensus_filter, prompts_query, rankings_filter, sft_query)
from apps.releases.models import ReleaseFilter

flt = ReleaseFilter()
queries = {
    "prompts": prompts_query(flt),
    "sft": sft_query(flt, dolly_line=True),
    "rankings": Ranking.objects.filter(rankings_filter(flt)).order_by("prompt_id", "id")
        .values_list("prompt_id", "id", "ranker_id", "order"),
    "consensus": PromptConsensus.objects.filter(consensus_filter(flt)).order_by("prompt_id")
        .values_list("prompt_id", "order", "pairwise_wins", "rankers", "agreement"),
}
compiled = {}
for name, qs in queries.items():
    sql, params = qs.query.get_compiler(connection=connection).as_sql()
    compiled[name] = (sql, tuple(params))
conn = psycopg.connect(**connection.get_connection_params())
conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
conn.read_only = True
out = {"parts": {}}
rows = size = 0
with conn.cursor() as cursor:
    cursor.execute("SET LOCAL jit = off")
    for name, (sql, params) in compiled.items():
        t0 = time.perf_counter()
        part_rows = part_bytes = 0
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
            for data in copy:
                part_bytes += len(data)
        part_s = time.perf_counter() - t0
        # Counted apart (CSV values may hold newlines), outside the timing.
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS counted", params)
        part_rows = cursor.fetchone()[0]
        out["parts"][name] = {"rows": part_rows, "bytes": part_bytes, "wall_s": part_s}
        rows += part_rows
        size += part_bytes
conn.rollback()
conn.close()
out["wall_s"] = sum(p["wall_s"] for p in out["parts"].values())
out["rows"] = rows
out["bytes"] = size
out["peak_rss_mb"] = peak_rss_mb()
print("RESULT " + json.dumps(out))
"""
)

BUILD_CHILD = (
    _PEAK_RSS
    + """
import json, time
import django
django.setup()
from apps.releases.building import release_build
from apps.releases.services import release_create

release = release_create(user=None, enqueue=False)
start = time.perf_counter()
release = release_build(release.pk)
wall = time.perf_counter() - start
print("RESULT " + json.dumps({
    "wall_s": wall,
    "rows": release.progress_total,
    "state": release.state,
    "error": release.error,
    "bytes": sum(f["bytes"] for f in release.files),
    "content_hash": release.content_hash,
    "peak_rss_mb": peak_rss_mb(),
}))
"""
)


def run_child(code: str, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(
        f"bench: child exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--rankings", type=int, default=250_000)
    parser.add_argument("--quick", action="store_true", help="100,000 answers, 25,000 rankings")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.responses, args.rankings = 100_000, 25_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    data_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-release-"))
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # the build runs in-process; no broker needed
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(48),
        HEARTH_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="apps.settings",
        PYTHONPATH=str(ROOT),
    )
    try:
        log(f"resetting {database_name(database_url)}")
        reset_database(database_url)
        log("migrating")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        import psycopg

        log(f"generating {args.responses} answers and {args.rankings} rankings")
        started = time.perf_counter()
        with psycopg.connect(database_url) as conn:
            seeded = generate(conn, responses=args.responses, rankings=args.rankings)
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
        log(f"generated in {time.perf_counter() - started:.1f} s")
        load_before = os.getloadavg()
        log("COPY of the same queries")
        copies = [run_child(COPY_CHILD, env)]
        log("release build")
        build = run_child(BUILD_CHILD, env)
        log("COPY again")
        copies.append(run_child(COPY_CHILD, env))
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    if build["state"] != "ready":
        raise SystemExit(f"bench: the build ended {build['state']}: {build['error']}")
    # COPY runs before and after the build, and the build is held to the faster of the two:
    # on a shared VM one COPY can take a third longer than the next, which would flatter the
    # build.
    copy = min(copies, key=lambda run: run["wall_s"])
    ratio = build["wall_s"] / copy["wall_s"] if copy["wall_s"] else float("inf")
    rows = {
        "COPY 1": (copies[0]["wall_s"], copies[0]["rows"], copies[0]["peak_rss_mb"]),
        "build": (build["wall_s"], build["rows"], build["peak_rss_mb"]),
        "COPY 2": (copies[1]["wall_s"], copies[1]["rows"], copies[1]["peak_rss_mb"]),
    }
    print(
        f"\nHearth release benchmark: {server_version(database_url)}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(
        f"generated {seeded['prompts']} complete prompts, {seeded['responses']} answers, "
        f"{seeded['rankings']} rankings, {seeded['prompts']} consensus rows"
    )
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        "(1 min; other work on the machine skews the figures)"
    )
    print(f"\n  {'':8}{'wall s':>10}{'rows':>12}{'rows/s':>12}{'peak RSS MB':>14}")
    for name, (wall, count, rss) in rows.items():
        rate = count / wall if wall else 0.0
        print(f"  {name:8}{wall:>10.2f}{count:>12,}{rate:>12,.0f}{rss:>14.1f}")
    print(f"  build / faster COPY: {ratio:.2f}x; COPY read {copy['bytes'] / 1e6:.1f} MB, "
          f"the release is {build['bytes'] / 1e6:.1f} MB")  # fmt: skip
    for name, part in copy["parts"].items():
        print(f"    COPY {name:10} {part['rows']:>10,} rows  {part['wall_s']:>7.2f} s")
    targets = [
        (
            f"build within {TARGET_RATIO:g}x the faster COPY's time",
            ratio <= TARGET_RATIO,
            f"{build['wall_s']:.2f} s vs {copy['wall_s']:.2f} s: {ratio:.2f}x",
        ),
        (
            f"build peak RSS under {TARGET_RSS_MB:g} MB",
            build["peak_rss_mb"] < TARGET_RSS_MB,
            f"{build['peak_rss_mb']:.1f} MB",
        ),
    ]
    passed = print_targets(targets)
    if args.json:
        report = {
            "config": {
                "responses": args.responses,
                "rankings": args.rankings,
                "cpus": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            "seeded": seeded,
            "copy": copy,
            "copies": copies,
            "build": build,
            "ratio": ratio,
            "targets": [{"name": n, "pass": ok, "detail": d} for n, ok, d in targets],
            "pass": passed,
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
