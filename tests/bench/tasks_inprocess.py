"""The task loop's CPU per loop without gunicorn, HTTP or concurrency, for A/B comparisons.

    .venv/bin/python tests/bench/tasks_inprocess.py [--loops 1500]

Seeds the same scratch database as ``make bench-tasks`` would (64 volunteers, 300 prompts in
each open state; the database is ``hearth_bench_tasks_inprocess``), then runs next -> submit
loops through the WSGI app with Django's test client in one thread, and prints this process's
CPU, its PostgreSQL backend's CPU and the wall time per loop. Much steadier than the HTTP
benchmark on a shared machine (no scheduling between gunicorn workers, PostgreSQL and the
load generator), so it shows the effect of a code change; ``make bench-tasks`` gives the
figures the targets are about.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench import bench_tasks  # noqa: E402
from tests.bench.common import in_process_settings, reset_database  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hearth_bench_tasks_inprocess"


def backend_cpu(pid: int) -> float:
    """CPU seconds so far of a PostgreSQL backend (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, default=1500, help="measured loops [1500]")
    args = parser.parse_args()
    in_process_settings(
        DATABASE_URL,
        "hearth-bench-inprocess-",
        HEARTH_RATE_TASKS_NEXT=bench_tasks.BENCH_RATE,
        HEARTH_RATE_TASKS_SUBMIT=bench_tasks.BENCH_RATE,
    )
    reset_database(os.environ["DATABASE_URL"])
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    seeded = bench_tasks.seed(volunteers=64, pool=300, rng_seed=1)

    from django.db import connection
    from django.test import Client

    client = Client()
    volunteers = [
        bench_tasks.Volunteer(i, token, 0, "inprocess", 1) for i, token in enumerate(seeded.tokens)
    ]

    def loop(i: int) -> None:
        volunteer, token = volunteers[i % 64], seeded.tokens[i % 64]
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        r = client.get("/api/v1/tasks/next/", **auth)
        if r.status_code != 200:
            raise SystemExit(f"next: HTTP {r.status_code}: {r.content[:300]!r}")
        task = json.loads(r.content)
        r = client.post(
            f"/api/v1/tasks/{task['id']}/submit/",
            json.dumps(volunteer.work(task)),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
            **auth,
        )
        if r.status_code not in (200, 409):
            raise SystemExit(f"submit: HTTP {r.status_code}: {r.content[:300]!r}")

    for i in range(200):
        loop(i)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    cpu, database, wall = time.process_time(), backend_cpu(pid), time.perf_counter()
    for i in range(args.loops):
        loop(i)
    cpu, database = time.process_time() - cpu, backend_cpu(pid) - database
    wall = time.perf_counter() - wall
    per = 1000 / args.loops
    print(
        f"{args.loops} loops in one thread: Python {cpu * per:.2f} ms, PostgreSQL "
        f"{database * per:.2f} ms, wall {wall * per:.2f} ms per loop "
        f"(load average {os.getloadavg()[0]:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
