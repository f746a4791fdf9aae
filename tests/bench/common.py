"""Pieces the HTTP benchmarks share: a scratch database, gunicorn, a small asyncio HTTP/1.1
client, percentiles and CPU accounting. Standard library only (plus psycopg for the reset),
so the load generator stays light next to the server it measures.

Used by tests/bench/bench_api.py and tests/bench/bench_tasks.py; the in-process benchmarks
(tasks_inprocess.py, bench_account_delete.py) take their settings from ``in_process_settings``.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = ROOT / "apps" / "gunicorn.conf.py"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CLOSED_UNANSWERED = "the server closed the connection without answering"

_TEXT = (
    "explain why the river bends toward the old mill and what a careful reader would notice "
    "about light water stone memory harvest winter letters bridges language garden market "
    "summarise classify brainstorm compare describe the history of small towns and their "
    "festivals recipes tools songs maps clocks trains ships weather birds numbers questions"
)
WORDS = _TEXT.split()


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


# --- database -------------------------------------------------------------------------------


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def in_process_settings(database_url: str, prefix: str, **extra: str) -> None:
    """Settings for a benchmark that runs Hearth in its own process: ``database_url`` unless
    BENCH_DATABASE_URL names another, a scratch data folder, no debug, a fresh key, and
    ``extra`` (set before Django reads them)."""
    os.environ.update(
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", database_url),
        REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(48),
        HEARTH_DATA_DIR=tempfile.mkdtemp(prefix=prefix),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="apps.settings",
        **extra,
    )


def reset_database(url: str) -> None:
    """Drop and create the database named in ``url`` (connecting to the server's ``postgres``).
    Refuses a name without "bench" in it."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench: DATABASE_URL must be a PostgreSQL URL, got {parts.scheme!r}")
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(
            f"bench: refusing to drop database {name!r}: its name must contain 'bench'"
        )
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL"


# --- gunicorn -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    description: str

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def gunicorn_shape(
    *,
    workers: int | None = None,
    worker_class: str | None = None,
    threads: int | None = None,
    preload: bool = False,
) -> dict[str, Any]:
    """Workers, worker class, threads and preload: the arguments, else the deploy config's."""
    conf: dict[str, Any] = runpy.run_path(str(GUNICORN_CONFIG)) if GUNICORN_CONFIG.exists() else {}
    return {
        "workers": workers or int(conf.get("workers", 1)),
        "worker_class": worker_class or str(conf.get("worker_class", "sync")),
        "threads": threads or int(conf.get("threads", 1)),
        "preload": preload or bool(conf.get("preload_app", False)),
    }


def describe_shape(shape: dict[str, Any]) -> str:
    description = f"gunicorn {shape['workers']} x {shape['worker_class']}"
    if shape["threads"] > 1:
        description += f" x {shape['threads']} threads"
    if shape["preload"]:
        description += ", preloaded"
    return description


def start_gunicorn(
    env: dict[str, str],
    *,
    shape: dict[str, Any],
    log_dir: Path,
    extra: list[str] | None = None,
    access_log: bool = True,
) -> Server:
    """gunicorn with the deploy config (apps/gunicorn.conf.py), bound to a free local port;
    returns once /healthz answers 200."""
    port = free_port()
    log_path = log_dir / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn"]
    if GUNICORN_CONFIG.exists():
        command += ["--config", str(GUNICORN_CONFIG)]
    else:
        command += ["--worker-tmp-dir", "/dev/shm" if Path("/dev/shm").is_dir() else str(log_dir)]
    command += [
        "--bind", f"{HOST}:{port}",
        "--workers", str(shape["workers"]),
        "--worker-class", shape["worker_class"],
        "--threads", str(shape["threads"]),
        "--log-level", "warning",
        "--error-logfile", str(log_path),
        "--access-logfile", str(log_dir / "access.log") if access_log else "/dev/null",
        "--no-control-socket",
        *(["--preload"] if shape["preload"] else []),
        *(extra or []),
        "apps.wsgi:application",
    ]  # fmt: skip
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc=proc, port=port, log_path=log_path, description=describe_shape(shape))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: gunicorn exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"bench: gunicorn did not answer /healthz in 60 s:\n{server.log_tail()}")


# --- a small HTTP/1.1 client ----------------------------------------------------------------


class _NothingReceived(Exception):
    pass


class HttpConnection:
    """One keep-alive connection; reconnects when the server closes it (sync workers do after
    every response, threaded ones after their keep-alive time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self.writer is not None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._exchange(raw)
        except _NothingReceived:
            self.close()
            if not reused:
                raise ConnectionError(CLOSED_UNANSWERED) from None
        # A kept-alive connection the server had already closed: safe to send again once.
        try:
            return await self._exchange(raw)
        except _NothingReceived:
            self.close()
            raise ConnectionError(CLOSED_UNANSWERED) from None

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        reader, writer = self.reader, self.writer
        try:
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                self.close()
                raise
            raise _NothingReceived() from exc
        try:
            lines = head.decode("latin-1").split("\r\n")
            version, code = lines[0].split(" ", 2)[:2]
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._read_chunked(reader)
            else:
                body = await reader.read()
                headers["connection"] = "close"
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()
        return int(code), body

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])


# --- measuring ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_row(values: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    """Requests, errors, rate and p50/p95/p99/max (ms) of one endpoint's latencies (s)."""
    values = sorted(values)
    return {
        "requests": len(values),
        "errors": errors,
        "rps": len(values) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(values, 50) * 1000,
        "p95_ms": percentile(values, 95) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": (values[-1] * 1000) if values else 0.0,
    }


def print_latency_table(
    rows: dict[str, dict[str, Any]], *, indent: str = "  ", name_width: int = 32
) -> None:
    print(
        f"{indent}{'endpoint':<{name_width}}{'requests':>9}{'errors':>8}{'req/s':>9}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for kind, row in rows.items():
        print(
            f"{indent}{kind:<{name_width}}{row['requests']:>9}{row['errors']:>8}{row['rps']:>9.1f}"
            f"{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}"
        )


# --- CPU accounting (Linux /proc) -----------------------------------------------------------


def _scan(
    gunicorn_master: int, database: str, sessions: Mapping[str, int] | None = None
) -> dict[str, dict[int, float]]:
    """CPU seconds so far, by pid, of gunicorn's processes ("gunicorn"), of ``database``'s
    PostgreSQL backends ("postgres") and of every process in each of ``sessions`` (a name: the
    pid of a session leader, such as a process started with ``start_new_session``)."""
    groups: dict[str, dict[int, float]] = {"gunicorn": {}, "postgres": {}}
    leaders: dict[int, str] = {}
    for name, leader in (sessions or {}).items():
        groups[name] = {}
        leaders[leader] = name
    marker = f" {database} "
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            comm, rest = stat.split(" (", 1)[1].rsplit(")", 1)
            fields = rest.split()
            cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
            if pid == gunicorn_master or int(fields[1]) == gunicorn_master:
                groups["gunicorn"][pid] = cpu
            elif int(fields[3]) in leaders:
                groups[leaders[int(fields[3])]][pid] = cpu
            elif comm == "postgres" and marker in (entry / "cmdline").read_text(errors="replace"):
                groups["postgres"][pid] = cpu
        except (OSError, ValueError, IndexError):
            continue
    return groups


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU used during a phase by the generator, gunicorn, this database's PostgreSQL backends,
    and the whole machine (Linux /proc). A thread samples every half second, so processes that
    end during the phase (a backend whose connection aged out) still count. With
    ``load_average`` off, stop() leaves out the load averages around the phase. ``sessions``
    names more processes to measure, each a whole session (its leader's pid, e.g. a Celery
    worker started with ``start_new_session``): stop() reports each under its name."""

    def __init__(
        self,
        server: Server,
        database_url: str,
        *,
        load_average: bool = True,
        sessions: Mapping[str, int] | None = None,
    ) -> None:
        self.master = server.proc.pid
        self.load_average = load_average
        self.database = database_name(database_url)
        self.sessions = dict(sessions or {})
        taken = {"generator", "gunicorn", "postgres", "other", "machine"} & set(self.sessions)
        if taken:
            raise ValueError(f"CpuMeter: session names {sorted(taken)} are taken")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}
        self._t0 = self._gen0 = self._machine0 = 0.0
        self._load0 = (0.0, 0.0, 0.0)

    def _sample(self, *, first: bool = False) -> None:
        for group, values in _scan(self.master, self.database, self.sessions).items():
            for pid, cpu in values.items():
                if first:
                    self._first[group][pid] = cpu
                self._last[group][pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def start(self) -> None:
        groups = ["gunicorn", "postgres", *self.sessions]
        self._first = {group: {} for group in groups}
        self._last = {group: {} for group in groups}
        self._sample(first=True)
        self._t0, self._gen0, self._machine0 = (
            time.monotonic(),
            time.process_time(),
            _machine_busy(),
        )
        self._load0 = os.getloadavg()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """Cores busy on average since start(), per part, and the load averages around it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        generator = (time.process_time() - self._gen0) / elapsed
        machine = (_machine_busy() - self._machine0) / elapsed

        def used(group: str) -> float:
            first = self._first[group]
            return sum(v - first.get(pid, 0.0) for pid, v in self._last[group].items()) / elapsed

        gunicorn, postgres = used("gunicorn"), used("postgres")
        extra = {name: used(name) for name in self.sessions}
        result: dict[str, Any] = {
            "generator": generator,
            "gunicorn": gunicorn,
            "postgres": postgres,
            **extra,
            "other": max(0.0, machine - generator - gunicorn - postgres - sum(extra.values())),
            "machine": machine,
        }
        if self.load_average:
            result["load_before"] = self._load0[0]
            result["load_after"] = os.getloadavg()[0]
        return result


def print_cpu(cpu: dict[str, Any], *, indent: str = "  ", load_average: bool = True) -> None:
    line = (
        f"{indent}CPU (cores busy): generator {cpu['generator']:.2f}, gunicorn "
        f"{cpu['gunicorn']:.2f}, postgres {cpu['postgres']:.2f}, rest of machine "
        f"{cpu['other']:.2f}; machine {cpu['machine']:.2f} of {os.cpu_count()}"
    )
    if load_average:
        line += f"; load average {cpu['load_before']:.2f} -> {cpu['load_after']:.2f}"
    print(line)


def print_targets(targets: list[tuple[str, bool, str]]) -> bool:
    """Print each (target, met, detail) as a PASS or FAIL line; True when all are met."""
    print("\ntargets")
    for name, ok, detail in targets:
        print(f"  {'PASS' if ok else 'FAIL'}  {name} ({detail})")
    return all(ok for _name, ok, _detail in targets)
