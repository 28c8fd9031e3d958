"""``make bench``: how far one small machine carries a viral campaign, as one table.

Every figure comes from real processes on loopback: the app under the production gunicorn
profile (``gunicorn.conf.py``), load from another process (``wrk``, or the threaded client in
``bench/load.py``), the export through the real ``flask --app widget export`` command. Each
figure that has a baseline is set beside it from the same run, since these machines are shared
and noisy: a ratio says more than a number. Nothing here passes or fails; the targets are
printed next to what was measured.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import bare_app
import embed_size
import nginx
from load import WrkResult, request, wrk
from nacl.public import PrivateKey
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from widget import Settings, create_app
from widget.campaigns import load_campaign_file
from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Signature
from widget.paths import CAMPAIGNS
from widget.public_facts import COUNT_REUSE
from widget.tokens import form_tokens, link_payload, verify_tokens

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
SECRET = "bench-secret-key-0123456789"
CAMPAIGN = "ua-109-23"
#: not WIDGET_*: the app refuses settings it does not know, and these reach its environment
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
#: limits no benchmark client reaches: what is measured is the work, not the refusals
UNLIMITED = "10000000 per minute"
FORM_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
#: the goals of issue 16, each a ratio to its baseline in the same run
PAGE_GOAL, COUNT_GOAL, FORM_GOAL, EXPORT_GOAL, EXPORT_MB = 0.5, 0.9, 0.4, 1.3, 100
#: the gunicorn master's process id by the port it serves
MASTERS: dict[int, int] = {}


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without a developer's own WIDGET_*/GUNICORN_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIDGET_", "GUNICORN_"))}
    return {**env, **extra}


@contextmanager
def gunicorn(
    app: str, env: dict[str, str], folder: Path, *, workers: int | None = None
) -> Iterator[int]:
    """The app under the production profile on a free port; yields the port once it answers."""
    port = free_port()
    log = folder / f"gunicorn-{port}.log"
    settings = {"GUNICORN_BIND": f"127.0.0.1:{port}"}
    if workers:
        settings["GUNICORN_WORKERS"] = str(workers)
    command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")]
    # this checkout first: an editable install elsewhere must not be what is measured
    command += ["--pythonpath", f"{ROOT},{BENCH}", app]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=clean_env(**env, **settings), cwd=folder, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 30
        while not answers(port, "/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        MASTERS[port] = process.pid
        yield port
    finally:
        process.terminate()
        process.wait(timeout=60)


def worker_rss(port: int) -> str:
    """Each gunicorn worker's resident memory now, in MB (Linux ``/proc``)."""
    master = MASTERS[port]
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        sizes.append(f"{int(found.group(1)) / 1024:.0f}" if found else "?")
    return " + ".join(sizes) + " MB"


def answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        return request(connection, "GET", path).status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float


#: Runs a command as its own child and prints that child's peak RSS (KiB) and exit code. A
#: child forked straight from this (big) process would count our memory as its own: the kernel
#: keeps the high-water mark of the memory a process had before exec.
MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_pid, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure_process(command: list[str], env: dict[str, str]) -> Measured:
    """Wall time and peak resident memory of one command, run from a small launcher."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-S", "-c", MEASURE, *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_kib, returncode = (int(n) for n in done.stdout.split())
    if returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({returncode}):\n{done.stderr}")
    return Measured(seconds, peak_kib / 1024)


# --- databases ---------------------------------------------------------------------------------


def app_env(database_url: str, storage_url: str) -> dict[str, str]:
    return {
        "WIDGET_SECRET_KEY": SECRET,
        "WIDGET_DATABASE_URL": database_url,
        "WIDGET_PUBLIC_URL": "http://127.0.0.1",
        "WIDGET_RATELIMIT_STORAGE_URL": storage_url,
        "WIDGET_RATELIMIT_SIGN": UNLIMITED,
        "WIDGET_RATELIMIT_IP": UNLIMITED,
        "WIDGET_RATELIMIT_LINKS": UNLIMITED,
        "WIDGET_MIN_FILL_SECONDS": "0",
    }


def prepare(database_url: str, folder: Path) -> int:
    """Migrate, load the demo campaign; returns its id."""
    settings = Settings.from_env(app_env(database_url, "memory://"), instance_path=folder)
    app = create_app(settings)
    upgrade_database(app)
    with app.app_context():
        campaign, _created = load_campaign_file(
            db.session, CAMPAIGNS / f"{CAMPAIGN}.toml", utcnow()
        )
        campaign_id = campaign.id
        db.session.close()
    db.engine(app).dispose()
    return campaign_id


@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of the benchmark's own, dropped afterwards."""
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"widget_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_reachable() -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    try:
        engine = create_engine(make_url(POSTGRES_URL))
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # no server, no driver: the figures say so
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return None


def rate_limit_storage() -> str:
    """Redis (db 14, emptied) as in production when it answers; else each process's memory."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.flushdb()
        client.close()
    except Exception:
        return "memory://"
    return REDIS_URL


def fill(database_url: str, campaign_id: int, rows: int) -> float:
    """``rows`` verified signatures, bulk-inserted straight into the table; returns seconds."""
    engine = create_engine(database_url)
    started = time.perf_counter()
    base = datetime(2026, 11, 1)
    countries = ("PK", "AF", "DE", "US", "GB", "FR", "IR", "IN")
    batch = 10_000
    with engine.begin() as connection:
        for start in range(0, rows, batch):
            connection.execute(
                insert(Signature),
                [
                    {
                        "campaign_id": campaign_id,
                        "email": f"supporter{n}@example.org",
                        "email_key": f"supporter{n}@example.org",
                        "name": f"Supporter Number {n}",
                        "country": countries[n % len(countries)],
                        "actions": ["letter", "email"] if n % 3 else ["call"],
                        "consent_version": "2026-11",
                        "opt_in": n % 2 == 0,
                        "language": "en",
                        "created_at": base + timedelta(seconds=n),
                        "verified_at": base + timedelta(seconds=n, minutes=5),
                    }
                    for n in range(start, min(rows, start + batch))
                ],
            )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE signature"))
    engine.dispose()
    return time.perf_counter() - started


# --- the measurements --------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    result: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def form_token_file(folder: Path, seconds: float) -> Path:
    """Form tokens are single-use, so every sign POST needs its own: made here as the widget
    page makes them (signed with the server's key, each with its own nonce), one a line."""
    tokens = form_tokens((SECRET,))
    issued = int(time.time())
    path = folder / "form-tokens.txt"
    count = int(seconds * 2_000)  # more than the server can take in that time
    # nonces unique to this file: a second sign run (sealed mode) against the same Redis
    # would find the first run's spent
    run = uuid.uuid4().hex[:6]
    lines = (
        tokens.dumps({"c": CAMPAIGN, "n": f"bench{run}{n}", "t": issued}) for n in range(count)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def ratio_row(measure: str, result: WrkResult, baseline: WrkResult, goal: float, what: str) -> Row:
    """A wrk figure beside its baseline of the same run, with the goal's ratio."""
    row = wrk_row(measure, result)
    ratio = result.requests_per_second / baseline.requests_per_second
    row.baseline = f"{what} {baseline.requests_per_second:,.0f}/s, p99 {baseline.p99:.0f} ms"
    row.ratio = f"{ratio:.2f}"
    row.target = f">= {goal:g} x {what}, 0 errors"
    row.met = verdict(ratio >= goal and result.errors == 0 and baseline.errors == 0)
    return row


def sign(
    port: int, bare_port: int, options: argparse.Namespace, label: str, folder: Path
) -> tuple[list[Row], WrkResult, WrkResult]:
    """The widget page against bare Flask's JSON, then sign POSTs with a unique address and
    form token each (``sign.lua``) against bare Flask inserting one row, all from ``wrk``: its
    C loop leaves the 2 cores to the server, where a Python client took a share. Returns the
    rows, the sign figure and the bare insert figure."""
    seconds, connections = options.sign_seconds, options.concurrency
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    match = FORM_TOKEN.search(request(connection, "GET", f"/w/{CAMPAIGN}").body.decode())
    connection.close()
    assert match, "no form token in the widget page"
    bare_json = wrk(bare_port, "/count", seconds=seconds, connections=connections, latency=True)
    pages = wrk(port, f"/w/{CAMPAIGN}", seconds=seconds, connections=connections, latency=True)
    bare_insert = sign_posts(bare_port, seconds, connections, folder, path="/insert")
    signs = sign_posts(port, seconds, connections, folder)
    rows = [
        ratio_row(f"widget page GET, {label}", pages, bare_json, PAGE_GOAL, "bare JSON"),
        ratio_row(f"sign POST, {label}", signs, bare_insert, FORM_GOAL, "bare insert"),
    ]
    return rows, signs, bare_insert


def sign_posts(
    port: int, seconds: float, connections: int, folder: Path, path: str = f"/w/{CAMPAIGN}"
) -> WrkResult:
    return wrk(
        port,
        path,
        seconds=seconds,
        connections=connections,
        latency=True,
        script=BENCH / "sign.lua",
        env={
            "BENCH_FORM_TOKENS": str(form_token_file(folder, seconds)),
            "BENCH_RUN": uuid.uuid4().hex[:6],
        },
    )


def sealed_sign(
    database_url: str,
    label: str,
    folder: Path,
    options: argparse.Namespace,
    storage: str,
    plain: WrkResult,
) -> Row:
    """The same sign POSTs against a fresh database and a server in sealed mode
    (``WIDGET_DATA_PUBLIC_KEY``), beside the same load in clear mode from this run."""
    prepare(database_url, folder)
    public_key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    env = {**app_env(database_url, storage), "WIDGET_DATA_PUBLIC_KEY": public_key}
    with gunicorn("widget:create_app()", env, folder, workers=options.workers) as port:
        progress(f"{label}: sign POSTs in sealed mode, {options.sign_seconds:g} s")
        sealed = sign_posts(port, options.sign_seconds, options.concurrency, folder)
    row = wrk_row(f"sign POST, {label}, sealed mode", sealed)
    row.baseline = f"clear mode {plain.requests_per_second:,.0f}/s, p50 {plain.p50:.0f} ms"
    row.ratio = f"{sealed.requests_per_second / plain.requests_per_second:.2f}"
    return row


def wrk_row(measure: str, result: WrkResult, target: float | None = None) -> Row:
    row = Row(
        f"{measure} (wrk)",
        f"{result.requests_per_second:,.0f}/s, p50 {result.p50:.0f} ms, p99 {result.p99:.0f} ms, "
        f"{result.errors} errors ({result.requests:,} in {result.seconds:.1f} s)",
    )
    if target is not None:
        row.target = f">= {target:g}/s, 0 errors"
        row.met = verdict(result.requests_per_second >= target and result.errors == 0)
    return row


def confirm_all(
    database_url: str,
    port: int,
    ids: list[tuple[int, str | None]],
    options: argparse.Namespace,
    label: str,
    folder: Path,
    bare_insert: WrkResult,
) -> list[Row]:
    """Confirm the signatures through their links (POST /v/<token>), as the mail's button
    does, from ``wrk`` (``confirm.lua``) for half the signing time, so that the links last
    (wrk runs its whole duration even once a script stops); then the public count must equal
    the verified rows."""
    links = verify_tokens((SECRET,))
    paths = folder / "confirm-paths.txt"
    paths.write_text(
        "".join(f"/v/{links.dumps(link_payload(n, secret, c=CAMPAIGN))}\n" for n, secret in ids)
    )
    confirms = wrk(
        port,
        "/",
        seconds=options.sign_seconds / 2,
        connections=options.concurrency,
        latency=True,
        script=BENCH / "confirm.lua",
        env={"BENCH_CONFIRM_PATHS": str(paths)},
    )
    # Each worker reuses the count it read for COUNT_REUSE seconds (a confirm in the other
    # worker does not clear it), and a confirm wrk gave up on may still be committing.
    time.sleep(COUNT_REUSE + 0.5)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    counted = json.loads(request(connection, "GET", f"/api/v1/campaigns/{CAMPAIGN}/count").body)
    connection.close()
    row = ratio_row(f"confirm POST, {label}", confirms, bare_insert, FORM_GOAL, "bare insert")
    verified = verified_rows(database_url)
    exact = counted["count"] == verified
    row.result += f"; count after: {counted['count']:,}, verified rows {verified:,} of {len(ids):,}"
    if verified == len(ids):
        row.result += " (every link used: the rate includes repeated links, already confirmed)"
    row.target += ", count exact"
    row.met = verdict(row.met == "yes" and exact)
    return [row]


def verified_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM signature WHERE verified_at IS NOT NULL")
        ).scalar_one()
    engine.dispose()
    return int(count)


def signature_ids(database_url: str, campaign_id: int) -> list[tuple[int, str | None]]:
    """Each signature's id and link secret: a confirm link needs both."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, link_secret FROM signature WHERE campaign_id = :c ORDER BY id"),
            {"c": campaign_id},
        ).all()
    engine.dispose()
    return [(row.id, row.link_secret) for row in rows]


def count_versus_bare(app_port: int, bare_port: int, seconds: float, rounds: int) -> list[Row]:
    """The count endpoint against bare Flask, fresh (200) and unchanged (304), best of rounds."""
    app_path, bare_path = f"/api/v1/campaigns/{CAMPAIGN}/count", "/count"
    etags = {}
    for port, path in ((app_port, app_path), (bare_port, bare_path)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        etags[port] = response.getheader("ETag") or ""
        connection.close()
        # the 304 path must really be a 304, or its figure would measure something else
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answer = request(connection, "GET", path, headers={"If-None-Match": etags[port]})
        connection.close()
        assert answer.status == 304, (port, answer.status)
    rows = []
    for label, conditional in (("200", False), ("304 If-None-Match", True)):
        best: dict[int, float] = {app_port: 0.0, bare_port: 0.0}
        errors = 0
        for _ in range(rounds):
            for port, path in ((bare_port, bare_path), (app_port, app_path)):
                headers = {"If-None-Match": etags[port]} if conditional else None
                result = wrk(port, path, seconds=seconds, headers=headers)
                best[port] = max(best[port], result.requests_per_second)
                errors += result.errors
        ratio = best[app_port] / best[bare_port]
        rows.append(
            Row(
                f"count GET, {label} (wrk, 16 connections)",
                f"{best[app_port]:,.0f} req/s" + (f", {errors} errors" if errors else ""),
                f"bare Flask {best[bare_port]:,.0f} req/s",
                f"{ratio:.2f}",
                f">= {COUNT_GOAL:g} x bare",
                verdict(ratio >= COUNT_GOAL and not errors),
            )
        )
    return rows


def export_versus_bare(database_url: str, campaign_id: int, folder: Path, label: str) -> Row:
    """The export command against a bare SELECT dumped with the csv module, same rows."""
    env = clean_env(
        WIDGET_SECRET_KEY=SECRET,
        WIDGET_DATABASE_URL=database_url,
        WIDGET_PUBLIC_URL="http://127.0.0.1",
    )
    exported, dumped = folder / f"export-{label}.csv", folder / f"bare-{label}.csv"
    export = measure_process(
        [str(BIN / "flask"), "--app", "widget", "export", CAMPAIGN, "--output", str(exported)], env
    )
    bare = measure_process(
        [sys.executable, str(BENCH / "bare_dump.py"), database_url, str(campaign_id), str(dumped)],
        env,
    )
    lines = sum(1 for _ in exported.open("rb")) - 1
    bare_lines = sum(1 for _ in dumped.open("rb"))
    ok = lines == bare_lines
    ratio = export.seconds / bare.seconds
    row = Row(
        f"export {lines:,} rows, {label}",
        f"{export.seconds:.1f} s, peak RSS {export.peak_rss_mb:.0f} MB",
        f"bare dump {bare.seconds:.1f} s, {bare.peak_rss_mb:.0f} MB",
        f"{ratio:.2f}",
        f"<= {EXPORT_GOAL:g} x bare, < {EXPORT_MB} MB",
        verdict(ok and ratio <= EXPORT_GOAL and export.peak_rss_mb < EXPORT_MB),
    )
    exported.unlink()
    dumped.unlink()
    return row


def behind_nginx(app_port: int, options: argparse.Namespace, folder: Path) -> list[Row]:
    """The widget page and the count through ``deploy/nginx.conf`` (plain HTTP on loopback),
    beside the page straight from gunicorn measured just before."""
    straight = wrk(
        app_port, f"/w/{CAMPAIGN}", seconds=options.seconds, connections=16, latency=True
    )
    with nginx.in_front(app_port, folder) as port:
        host = {"Host": nginx.HOST}
        page = wrk(port, f"/w/{CAMPAIGN}", seconds=options.seconds, headers=host, latency=True)
        count_path = f"/api/v1/campaigns/{CAMPAIGN}/count"
        count = wrk(port, count_path, seconds=options.seconds, headers=host, latency=True)
    rows = [wrk_row("widget page GET, nginx in front, 16 connections", page)]
    rows[0].baseline = f"straight to gunicorn {straight.requests_per_second:,.0f}/s"
    rows[0].ratio = f"{page.requests_per_second / straight.requests_per_second:.2f}"
    rows.append(wrk_row("count GET, nginx in front (its cache), 16 connections", count))
    return rows


def transfer(port: int) -> list[Row]:
    """What a partner's reader downloads, over HTTP from the served app (gzip as a CDN would)."""
    sizes = {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for path in ("/embed.js", f"/w/{CAMPAIGN}", "/static/widget.css", "/static/widget.js"):
        sizes[path] = embed_size.gzipped(request(connection, "GET", path).body)
    connection.close()
    embed = sizes["/embed.js"]
    return [
        Row(
            "embed.js, gzipped",
            f"{embed:,} B",
            f"budget {embed_size.GOAL:,} B",
            f"{embed / embed_size.GOAL:.2f}",
            "<= budget",
            verdict(embed <= embed_size.GOAL),
        ),
        Row("widget transfer (page + CSS + JS + embed.js), gzipped", f"{sum(sizes.values()):,} B"),
    ]


# --- the whole run -----------------------------------------------------------------------------


def progress(message: str) -> None:
    """What is running now, on stderr: the table alone goes to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def forms(
    database_url: str, label: str, folder: Path, options: argparse.Namespace, storage: str
) -> list[Row]:
    """Pages, signs and confirms through gunicorn on this database beside bare Flask's; on
    SQLite (the default) also the count endpoint against bare Flask, the same with nginx in
    front, the bytes a reader downloads, and signing in sealed mode beside signing in clear."""
    campaign_id = prepare(database_url, folder)
    rows: list[Row] = []
    env = app_env(database_url, storage)
    sealed_db = f"sqlite:///{folder / 'sealed.db'}"
    bare_db = database_url if label != "SQLite" else f"sqlite:///{folder / 'bare.db'}"
    bare_app.create_table(bare_db)
    bare_env = {"BARE_DATABASE_URL": bare_db}
    with (
        gunicorn("widget:create_app()", env, folder, workers=options.workers) as port,
        gunicorn("bare_app:app", bare_env, folder, workers=options.workers) as bare_port,
    ):
        rss_before = worker_rss(port)
        progress(f"{label}: widget pages, then sign POSTs, {options.sign_seconds:g} s each")
        signed, plain, bare_insert = sign(port, bare_port, options, label, folder)
        rows += signed
        if not options.only_sealed:
            progress(f"{label}: confirming them")
            ids = signature_ids(database_url, campaign_id)
            rows += confirm_all(database_url, port, ids, options, label, folder, bare_insert)
        if label == "SQLite" and not options.only_sealed:
            progress(f"{label}: count endpoint against bare Flask (wrk)")
            rows += count_versus_bare(port, bare_port, options.seconds, options.rounds)
            progress(f"{label}: the widget page and the count with nginx in front")
            rows += behind_nginx(port, options, folder)
            rows += transfer(port)
        rows.append(Row(f"worker RSS, {label}", f"{rss_before} before, {worker_rss(port)} after"))
    if label == "SQLite":
        rows.append(sealed_sign(sealed_db, label, folder, options, storage, plain))
    return rows


def export(database_url: str, label: str, folder: Path, rows: int, notes: list[str]) -> Row:
    campaign_id = prepare(database_url, folder)
    progress(f"{label}: bulk-inserting {rows:,} verified signatures")
    seconds = fill(database_url, campaign_id, rows)
    notes.append(f"{rows:,} rows bulk-inserted into {label} in {seconds:.0f} s (not timed above)")
    progress(f"{label}: export command and bare dump")
    return export_versus_bare(database_url, campaign_id, folder, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sign-seconds", type=float, default=10, help="widget page GETs, then sign POSTs"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="connections for forms, threads to confirm"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (= cores)")
    parser.add_argument("--seconds", type=float, default=5, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per figure, best kept")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to export")
    parser.add_argument("--no-export", action="store_true", help="skip the export rows")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--only-sealed",
        action="store_true",
        help="only sign POSTs on SQLite, in clear and in sealed mode (a short check)",
    )
    options = parser.parse_args()

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    storage = rate_limit_storage()
    postgres_problem = "--no-postgres given" if options.no_postgres else postgres_reachable()
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="widget-bench-") as tmp:
        folder = Path(tmp)
        rows += forms(f"sqlite:///{folder / 'forms.db'}", "SQLite", folder, options, storage)
        if options.only_sealed:
            postgres_problem = "--only-sealed given"
        if postgres_problem is None:
            with postgres_database() as url:
                rows += forms(url, "PostgreSQL", folder, options, storage)
        if options.no_export:
            notes.append("export skipped: --no-export given")
        if not options.only_sealed and not options.no_export:
            rows.append(
                export(f"sqlite:///{folder / 'export.db'}", "SQLite", folder, options.rows, notes)
            )
        if postgres_problem is None and not options.no_export:
            with postgres_database() as url:
                rows.append(export(url, "PostgreSQL", folder, options.rows, notes))
    if postgres_problem:
        notes.append(f"PostgreSQL skipped: {postgres_problem}")
    if storage.startswith("redis"):
        rate_limit_storage()  # empty db 14 again
    notes.append(
        f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after: "
        "other work on the machine makes every figure lower, ratios less so"
    )
    print_table(rows, storage, options, notes, time.perf_counter() - started)


def print_table(
    rows: list[Row], storage: str, options: argparse.Namespace, notes: list[str], seconds: float
) -> None:
    print(
        f"\naction-widget benchmark, {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"gunicorn.conf.py with {options.workers} sync workers; rate limits in {storage}; "
        f"{options.concurrency} connections for forms\n"
    )
    header = ("measure", "result", "baseline (same run)", "ratio", "target", "met")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---", "---", "---", "---:", "---", "---"]) + "|")
    for row in rows:
        cells = (row.measure, row.result, row.baseline, row.ratio, row.target, row.met)
        print("| " + " | ".join(cells) + " |")
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- whole run {seconds:.0f} s")


if __name__ == "__main__":
    main()
