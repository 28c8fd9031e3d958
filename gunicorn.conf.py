"""Gunicorn's production profile: ``gunicorn -c gunicorn.conf.py 'widget:create_app()'``.

Everything the app itself decides (database, Redis, which proxies to trust) stays in the
``WIDGET_*`` settings; this file only says how many processes serve, and how. The ``GUNICORN_*``
variables are read here, not by gunicorn (and are not ``WIDGET_*``: the app refuses settings
it does not know).

| variable | default | meaning |
|---|---|---|
| ``GUNICORN_BIND`` | ``127.0.0.1:8000`` | where to listen; comma-separated for several |
| ``GUNICORN_WORKERS`` | ``WEB_CONCURRENCY``, else 2 x cores + 1 | worker processes |
| ``GUNICORN_THREADS`` | ``1`` (sync workers) | more than 1 switches to gthread workers |
| ``GUNICORN_TIMEOUT`` | ``30`` | seconds a request may take before its worker is restarted |
| ``GUNICORN_ACCESS_LOG`` | off | ``-`` for stdout, or a file: every line holds a client IP |
"""

from __future__ import annotations

import gc
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise SystemExit(f"{name}={value!r}: give a whole number of at least 1.")
    return int(value)


bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]

# Processes, not threads, are what spreads the work over the cores: the app is CPU-bound Python
# (templates, form validation, HMAC tokens). 2 x cores + 1 keeps every core busy while some
# workers wait on a PostgreSQL or Redis on another machine. When the database runs on the same
# small machine, as many workers as cores did best (bench/README.md): set GUNICORN_WORKERS.
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))

# Sync workers, one request at a time each. gthread was measured slower here in every case
# (count endpoint 600 against 1,600 req/s, sign POSTs 190 against 280/s, p99 five times
# worse): threads of one process take turns at the GIL, and a thread that just waited on the
# database waits again for the GIL. Sync workers need a buffering proxy in front for slow
# clients and keep-alive, which is what deploy/nginx.conf is for.
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
keepalive = 5  # gthread only; sync workers close each connection

# A request that takes 30 s is stuck (a lost database connection): restart its worker.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On a deploy or a scale-down, let requests in flight (a signature's transaction) finish.
graceful_timeout = 30
# Recycle workers now and then so that a slow leak in any library cannot grow without bound;
# the jitter keeps them from restarting all at once.
max_requests = 10_000
max_requests_jitter = 1_000

# Which client IP and scheme a request has is the app's decision: WIDGET_TRUSTED_PROXIES
# (werkzeug's ProxyFix) reads X-Forwarded-For and X-Forwarded-Proto as far as the proxies it
# trusts wrote them. Gunicorn's own rule (trust X-Forwarded-Proto from 127.0.0.1) would be a
# second one that can disagree with it, so gunicorn trusts no one.
forwarded_allow_ips = ""

# No access log unless asked for: each line would hold a supporter's IP address beside the time
# they signed, which the app itself never stores (only a keyed hash, widget.abuse.ip_hash).
# Errors still go to stderr; they name no client.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = "info"

# Worker heartbeats in memory rather than on a disk that may stall (containers, network disks).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Gunicorn 25+ opens a control socket at one path per user; several instances on one host
# (blue/green deploys, the tests, the benchmarks) would take it from one another. Unused here.
control_socket_disable = True


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    """Rate limits kept in ``memory://`` are per process: with several workers each has its
    own budget, so every limit is multiplied by the worker count. Warned, not refused, so a
    single machine still starts; production sets WIDGET_RATELIMIT_STORAGE_URL to Redis."""
    storage = os.environ.get("WIDGET_RATELIMIT_STORAGE_URL", "").strip() or "memory://"
    if server.cfg.workers > 1 and storage.startswith("memory"):
        server.log.warning(
            "WARNING: WIDGET_RATELIMIT_STORAGE_URL is %s with %d workers: each worker keeps its "
            "own rate limits, so every limit is %d times what it says. Set "
            "WIDGET_RATELIMIT_STORAGE_URL=redis://host:6379/0 (or GUNICORN_WORKERS=1).",
            storage,
            server.cfg.workers,
            server.cfg.workers,
        )


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    """Everything the worker holds once the app is loaded (modules, templates, the table
    metadata, the compiled statements) lives as long as the worker: ``gc.freeze`` takes it out
    of the collector's passes, so a full collection no longer walks it in the middle of a
    request (one took some 100 ms in a process that had signed 600 times; bench/README.md)."""
    gc.freeze()
