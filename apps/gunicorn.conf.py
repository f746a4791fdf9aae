"""Gunicorn settings for the web container: ``gunicorn -c apps/gunicorn.conf.py apps.wsgi``.

Gunicorn reads this file itself; Django never imports it. Gunicorn's own environment
variables keep working: WEB_CONCURRENCY (worker processes) and FORWARDED_ALLOW_IPS (the
proxies trusted to say a request came in over HTTPS). See .env.example.
"""

import multiprocessing
import os

bind = ["0.0.0.0:8000"]

# Sync workers: each request is short and the database is the bottleneck. Without
# WEB_CONCURRENCY, two per core plus one, capped so a big host does not exhaust PostgreSQL's
# connection limit (each worker keeps a connection for DB_CONN_MAX_AGE seconds).
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 9))

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
