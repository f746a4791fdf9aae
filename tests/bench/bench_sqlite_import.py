"""Volunteers' writes while a maintainer's import runs, on the embedded default (SQLite).

    .venv/bin/python tests/bench/bench_sqlite_import.py [--lines 20000] [--writers 8]
        [--config old=500:0 --config new=100:50 --config before=500:0@DIR] [--json out.json]

On SQLite one writer at a time holds the database's write lock; the others wait in SQLite's
busy handler, which polls (every 100 ms once it has waited a quarter of a second) rather than
queueing. QA saw a 20,000-line import make volunteers' requests wait 10-20 s, and two end in
"database is locked" after the 20 s busy timeout. This measures that, in one run for each
setting of the import's pacing.

It migrates a scratch SQLite database (in a temporary data folder, no DATABASE_URL or
REDIS_URL: the settings ``make run`` has, DEBUG off) and seeds ``--writers`` volunteers and a
pool of work (tests/bench/bench_tasks.py's seed), a maintainer, and a Dolly file of
``--lines`` lines (tests/bench/bench_api.py's: texts of Dolly's lengths, 1% duplicates, 1%
rejected). Then, for each ``--config NAME=BATCH:PAUSE_MS`` in turn, on a fresh copy of that
database:

* ``--writers`` threads in this process (as the threads of ``manage.py runserver``) loop over
  a volunteer's short write transactions through Hearth's services: ``task_next`` (take a
  task), then ``task_skip`` (give it back), ``--think-ms`` (a range) between calls;
* after ``--warmup`` seconds, a second process (as the exports worker) imports the file as
  the worker does (``import_jobs.import_run``, which commits the Import row's counts with
  each batch), with ``importing.SQLITE_BATCH_SIZE`` = BATCH and ``SQLITE_PAUSE_SECONDS`` =
  PAUSE_MS / 1000;
* the writers stop one second after the import ends.

It prints, for each config: the import's time and batches, and the writers' calls while it
ran: how many, p50 / p95 / max of their time (nearly all of it waiting for the lock: compare
the baseline before the import), and how many failed with "database is locked" (the busy
timeout is the settings' 20 s). A config's ``@DIR`` runs its import with the code of
another checkout (an older commit, for a before/after; the same database schema); the writers
always run this one's. The default configs are the import's pacing before this benchmark (500
lines a batch, no pause: ``old``) and now (``new``: the constants in
apps/collection/importing.py), both with this checkout's code.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import log  # noqa: E402

IMPORTER = "importer@bench.invalid"

# The import, in a process of its own, as on the exports worker: one JSON line on stdout.
CHILD = r"""
import json, os, shutil, time
import django
django.setup()
from apps.accounts.models import User
from apps.collection import import_jobs, importing
from apps.collection.models import Import

if hasattr(importing, "SQLITE_BATCH_SIZE"):
    importing.SQLITE_BATCH_SIZE = int(os.environ["BENCH_BATCH"])
    importing.SQLITE_PAUSE_SECONDS = float(os.environ["BENCH_PAUSE"])
options = {"source": "dolly-bench", "licence": "", "language": "en", "state": "accepted"}
if not hasattr(importing, "SQLITE_BATCH_SIZE"):  # an older checkout: its batch size is asked
    options["batch_size"] = int(os.environ["BENCH_BATCH"])
path = os.environ["BENCH_FILE"]
job = Import.objects.create(
    created_by=User.objects.get(email=os.environ["BENCH_IMPORTER"]),
    file_name="dolly.jsonl",
    file_size=os.path.getsize(path),
    options=options,
    lines_per_status=importing.REPORT_LINES_PER_STATUS,
)
import_jobs.imports_folder().mkdir(parents=True, exist_ok=True)
shutil.copyfile(path, import_jobs.import_path(job.pk))
start = time.time()
job = import_jobs.import_run(job.pk)
end = time.time()
print(json.dumps({
    "start": start, "end": end, "status": job.status, "imported": job.imported,
    "duplicates": job.duplicates, "rejected": job.rejected,
    "batches": job.batches_committed,
}))
"""


@dataclass(frozen=True)
class Config:
    name: str
    batch: int
    pause_ms: float
    tree: Path = ROOT

    @classmethod
    def parse(cls, text: str) -> Config:
        try:
            name, rest = text.split("=", 1)
            rest, _at, tree = rest.partition("@")
            batch, pause = rest.split(":", 1)
            return cls(name, int(batch), float(pause), Path(tree) if tree else ROOT)
        except ValueError:
            raise argparse.ArgumentTypeError(f"NAME=BATCH:PAUSE_MS[@DIR], not {text!r}") from None


@dataclass
class Calls:
    """Each call: (when it started, seconds it took, what, error or "")."""

    rows: list[tuple[float, float, str, str]] = field(default_factory=list)
    lock = threading.Lock()

    def add(self, start: float, seconds: float, kind: str, error: str = "") -> None:
        with self.lock:
            self.rows.append((start, seconds, kind, error))


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        HEARTH_DATA_DIR=str(data_dir),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(48),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="apps.settings",
    )
    return env


def seed(volunteers: int, pool: int) -> list[int]:
    """The volunteers' ids, after seeding them, their work and the importer (a maintainer)."""
    from django.contrib.auth.models import Group
    from django.db import connections

    from apps.accounts import roles
    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from tests.bench import bench_tasks

    seeded = bench_tasks.seed(volunteers=volunteers, pool=pool, rng_seed=1)
    user = User.objects.create_user(IMPORTER, display_name="Importer")
    accounts.user_setup_volunteer(user=user)
    user.groups.add(Group.objects.get(name=roles.MAINTAINER))
    accounts.licence_accept(user=user)
    connections.close_all()
    return seeded.volunteer_ids


def writer(user_id: int, stop: threading.Event, calls: Calls, think: tuple[float, float]) -> None:
    """Take a task and give it back, again and again, as one volunteer."""
    from django.db import OperationalError, connections

    from apps.accounts.models import User
    from apps.assignments import services

    rng = random.Random(user_id)
    user = User.objects.get(pk=user_id)
    try:
        while not stop.is_set():
            start = time.monotonic()
            try:
                task = services.task_next(user=user)
            except OperationalError as exc:
                calls.add(start, time.monotonic() - start, "next", str(exc))
                continue
            except services.TaskError as exc:  # none left of any kind: not a lock's doing
                calls.add(start, time.monotonic() - start, "next", type(exc).__name__)
                time.sleep(0.5)
                continue
            calls.add(start, time.monotonic() - start, "next")
            time.sleep(rng.uniform(*think))
            start = time.monotonic()
            try:
                services.task_skip(user=user, assignment_id=task.pk)
                calls.add(start, time.monotonic() - start, "skip")
            except OperationalError as exc:
                calls.add(start, time.monotonic() - start, "skip", str(exc))
            time.sleep(rng.uniform(*think))
    finally:
        connections.close_all()


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(values)
    at = lambda share: ordered[min(len(ordered) - 1, int(share * len(ordered)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": round(at(0.5) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def run_config(
    config: Config,
    *,
    args: argparse.Namespace,
    env: dict[str, str],
    database: Path,
    pristine: Path,
    dolly: Path,
    volunteers: list[int],
) -> dict[str, Any]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, database)
    calls = Calls()
    stop = threading.Event()
    think = (args.think_ms[0] / 1000, args.think_ms[1] / 1000)
    threads = [
        threading.Thread(target=writer, args=(pk, stop, calls, think), daemon=True)
        for pk in volunteers
    ]
    for thread in threads:
        thread.start()
    time.sleep(args.warmup)
    child_env = {
        **env,
        "BENCH_BATCH": str(config.batch),
        "BENCH_PAUSE": str(config.pause_ms / 1000),
        "BENCH_FILE": str(dolly),
        "BENCH_IMPORTER": IMPORTER,
    }
    log(f"{config.name}: importing {args.lines} lines, {config.batch} a batch, "
        f"{config.pause_ms:g} ms pause, {len(threads)} writers")  # fmt: skip
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=config.tree,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(60)
    if child.returncode != 0:
        raise SystemExit(f"bench: the import failed:\n{child.stderr[-3000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    # The child reports wall-clock times; the calls are on the monotonic clock.
    offset = time.time() - time.monotonic()
    begin, end = result["start"] - offset, result["end"] - offset
    during = [row for row in calls.rows if begin <= row[0] < end]
    before = [row for row in calls.rows if row[0] < begin]
    locked = [row for row in during if "locked" in row[3]]
    other = sorted({row[3] for row in during if row[3] and "locked" not in row[3]})
    ok = [row[1] for row in during if not row[3]]
    return {
        "config": config.name,
        "batch": config.batch,
        "pause_ms": config.pause_ms,
        "code": str(config.tree),
        "import_s": round(result["end"] - result["start"], 2),
        "lines_per_s": round(args.lines / (result["end"] - result["start"])),
        "import_status": result["status"],
        "imported": result["imported"],
        "batches": result["batches"],
        "writes": quantiles(ok),
        "writes_next": quantiles([r[1] for r in during if r[2] == "next" and not r[3]]),
        "writes_skip": quantiles([r[1] for r in during if r[2] == "skip" and not r[3]]),
        "baseline": quantiles([row[1] for row in before if not row[3]]),
        "locked_errors": len(locked),
        "locked_after_s": [round(r[1], 1) for r in locked],
        "other_errors": other,
    }


def print_results(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.lines} lines imported while {args.writers} writers take and skip tasks "
        f"(SQLite, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})"
    )
    header = (
        f"{'config':<8} {'batch':>5} {'pause':>6} {'import':>8} {'lines/s':>8} {'batches':>7} "
        f"{'writes':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'locked':>6}  baseline p50/p95"
    )
    print(header)
    for r in results:
        w, b = r["writes"], r["baseline"]
        print(
            f"{r['config']:<8} {r['batch']:>5} {r['pause_ms']:>4g}ms {r['import_s']:>7.1f}s "
            f"{r['lines_per_s']:>8} {r['batches']:>7} {w['n']:>6} {w['p50_ms']:>8.0f} "
            f"{w['p95_ms']:>8.0f} {w['max_ms']:>8.0f} {r['locked_errors']:>6}  "
            f"{b['p50_ms']:.0f}/{b['p95_ms']:.0f} ms"
        )
        if r["other_errors"]:
            print(f"         other outcomes: {', '.join(r['other_errors'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20_000, help="lines in the file [20000]")
    parser.add_argument("--writers", type=int, default=8, help="volunteer threads [8]")
    parser.add_argument(
        "--pool", type=int, default=1500, help="seeded prompts in each open state [1500]"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        nargs=2,
        default=(40.0, 160.0),
        metavar=("LOW", "HIGH"),
        help="a writer's pause between calls, drawn between these [40 160]",
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of writes before the import [3]"
    )
    parser.add_argument(
        "--config",
        type=Config.parse,
        action="append",
        help="NAME=BATCH:PAUSE_MS[@DIR], repeatable; @DIR: the import runs that checkout's "
        "code [old=500:0, and new= the constants in apps/collection/importing.py]",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the configs this many times, in turn [1]"
    )
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data folder")
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-sqlite-"))
    env = embedded_env(data_dir)
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from apps.collection import importing

    new = Config("new", importing.SQLITE_BATCH_SIZE, importing.SQLITE_PAUSE_SECONDS * 1000)
    configs = args.config or [Config("old", 500, 0), new]
    try:
        log(f"migrating a SQLite database in {data_dir}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
        )
        from tests.bench import bench_api

        volunteers = seed(args.writers, args.pool)
        database = data_dir / "hearth.sqlite3"
        pristine = data_dir / "seeded.sqlite3"
        import sqlite3
        from contextlib import closing

        with (
            closing(sqlite3.connect(database)) as source,
            closing(sqlite3.connect(pristine)) as copy,
        ):
            source.backup(copy)
        dolly = data_dir / "dolly.jsonl"
        dolly.write_bytes(bench_api.dolly_file(args.lines, rng_seed=7).body)
        results = []
        for _round in range(args.rounds):
            for config in configs:
                results.append(
                    run_config(
                        config,
                        args=args,
                        env=env,
                        database=database,
                        pristine=pristine,
                        dolly=dolly,
                        volunteers=volunteers,
                    )
                )
        print_results(results, args)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        bad = [r for r in results if r["import_status"] != "done"]
        return 1 if bad else 0
    finally:
        if args.keep:
            log(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
