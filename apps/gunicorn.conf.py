"""Gunicorn settings for the web container: ``gunicorn -c apps/gunicorn.conf.py apps.wsgi``.

Gunicorn reads this file itself; Django never imports it. Gunicorn's own environment
variables keep working: WEB_CONCURRENCY (worker processes) and FORWARDED_ALLOW_IPS (the
proxies trusted to say a request came in over HTTPS); GUNICORN_THREADS sets the threads per
process. See .env.example. Empty means the default, as unset does; a value that is not a whole
number of at least 1 stops gunicorn with a message naming the variable. (gunicorn itself reads
WEB_CONCURRENCY as a number before this file, so it fails on an empty or non-numeric value
first: docker-compose.yml's web command drops an empty one and names a bad one.)
"""

import multiprocessing
import os


def _env_int(name: str, default: int) -> int:
    """``name`` from the environment, a whole number of at least 1; empty means ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


bind = ["0.0.0.0:8000"]

# Threaded workers with keep-alive: a client (or a proxy keeping upstream connections) sends
# request after request on one connection. Sync workers close the connection after every
# response, so each request paid a new connection and woke every idle worker; under a steady
# 100 loops/s on 2 cores that put the task endpoints' p99 in seconds instead of under 100 ms
# (make bench-tasks, open loop). Without WEB_CONCURRENCY, two processes per core plus one,
# capped so a big host does not exhaust PostgreSQL's connection limit (each thread keeps a
# connection for DB_CONN_MAX_AGE seconds); two threads each, since requests mostly wait on
# the database and the GIL leaves little to gain from more.
workers = _env_int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 9))
worker_class = "gthread"
threads = _env_int("GUNICORN_THREADS", 2)
keepalive = 5

# Imports upload up to HEARTH_IMPORT_MAX_BYTES in one request; give them time.
timeout = 120
graceful_timeout = 30
# Recycle workers now and then so a slow leak cannot grow without bound.
# Import the app once in the master: recycled workers fork ready instead of re-importing
# Django (about a second of CPU each on 2 cores, seen as latency spikes).
preload_app = True
max_requests = 2000
max_requests_jitter = 200

# The worker heartbeat file lives in memory: a container's overlay filesystem can stall it.
worker_tmp_dir = "/dev/shm"
# Nothing in the container uses gunicornc; do not create a control socket in $HOME.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
