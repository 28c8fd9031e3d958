"""The scale-out path, with real processes: gunicorn (``gunicorn.conf.py``) with several workers
on PostgreSQL and Redis, and nginx (``deploy/nginx.conf``) in front.

Races are made, not hoped for: every signature is confirmed two or three times at once from many
threads, and the count must still be exact. No test here measures speed (see ``bench/``).
"""

from __future__ import annotations

import getpass
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from widget import create_app
from widget.abuse import ip_hash
from widget.campaigns import load_campaign_file
from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.counter import tally
from widget.extensions import db
from widget.models import Base, Campaign, Signature
from widget.outbox import Mail
from widget.recount import recount
from widget.signing import CONSENT_VERSION, SignatureEntry, submit_signature
from widget.tokens import link_payload, verify_tokens

from .conftest import DEMO, POSTGRES_URL, SECRET, form_token, free_port, make_settings, unavailable

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
CAMPAIGN = "ua-109-23"
COUNT_PATH = f"/api/v1/campaigns/{CAMPAIGN}/count"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
FORM = {**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}
PLENTY = "100000 per minute"
CONFIRMED = "Your signature is confirmed."
ALREADY = "Your signature was already confirmed."


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def wait_for(
    port: int, path: str, process: subprocess.Popen[bytes], log: Path, host: str | None = None
) -> None:
    """Poll until ``path`` answers 200, the process dies, or 30 seconds pass."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode}:\n{log.read_text()}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", path, headers={"Host": host} if host else {})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    pytest.fail(f"nothing answered {path} on port {port} within 30 s:\n{log.read_text()}")


def stop(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait(timeout=10)


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Starts ``gunicorn -c gunicorn.conf.py 'widget:create_app()'``; stops all at the end."""
    if not GUNICORN.exists():
        unavailable(f"gunicorn is not installed in {GUNICORN.parent} (pip install -e '.[dev]')")
    started: list[Served] = []

    def start(env: dict[str, str], *args: str) -> Served:
        port = free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("WIDGET_", "GUNICORN"))}
        settings = {
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WIDGET_SECRET_KEY": SECRET,
            "WIDGET_PUBLIC_URL": "http://127.0.0.1",
            "WIDGET_MIN_FILL_SECONDS": "0",  # forms are sent at once
            **env,
        }
        command = [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), *args]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*command, "widget:create_app()"],
                env={**clean, **settings},
                cwd=tmp_path,
                stdout=output,
                stderr=output,
            )
        served = Served(port, process, log)
        started.append(served)
        wait_for(port, "/healthz", process, log)
        return served

    yield start
    for served in started:
        stop(served)


@pytest.fixture(scope="module")
def postgres_server_database() -> Iterator[str]:
    """A database of this module's own on the PostgreSQL server, migrated, dropped at the end."""
    admin_url = make_url(POSTGRES_URL)
    name = f"widget_scale_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # the driver's errors vary: no server, no auth, no psycopg
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        app = create_app(make_settings(url, Path("/nonexistent")))
        upgrade_database(app)
        db.engine(app).dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def fresh_postgres(postgres_server_database: str) -> str:
    """That database emptied, with the demo campaign: each test starts from nothing."""
    engine = create_engine(postgres_server_database)
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_server_database


def prepared(database_url: str, tmp_path: Path) -> int:
    """Migrate (if need be) and load the demo campaign; returns its id."""
    app = create_app(make_settings(database_url, tmp_path))
    upgrade_database(app)
    with app.app_context():
        campaign, _created = load_campaign_file(db.session, DEMO, utcnow())
        db.session.close()
    db.engine(app).dispose()
    return campaign.id


def call(
    port: int,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, dict[str, str]]:
    """One request on a connection of its own: status, body, headers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read().decode()
        return response.status, data, dict(response.getheaders())
    finally:
        connection.close()


def sign_body(token: str, email: str) -> str:
    return urllib.parse.urlencode(
        {"csrf_token": token, "name": "A", "email": email, "country": "PK", "consent": "y"}
    )


# --- PostgreSQL: exact counts under concurrent confirmations ------------------------------------


class NoMail:
    """Notices for signatures made straight in the database: ``may_mail`` says no to all."""

    def ask_to_confirm(self, signature: Signature) -> Mail:
        raise AssertionError("no mail expected")

    already_signed = ask_to_confirm


@pytest.mark.postgres
def test_concurrent_and_repeated_confirmations_count_each_signature_once(
    gunicorn: Callable[..., Served], redis_url: str, fresh_postgres: str, tmp_path: Path
) -> None:
    signatures = 300
    campaign_id = prepared(fresh_postgres, tmp_path)
    choices = (["letter"], ["email"], ["letter", "email"], ["call", "fax", "social"], [])
    app = create_app(make_settings(fresh_postgres, tmp_path))
    with app.app_context():
        campaign = load_campaign_file(db.session, DEMO, utcnow())[0]
        for n in range(signatures):
            entry = SignatureEntry(
                name=f"Supporter {n}",
                email=f"supporter{n}@example.org",
                country="PK",
                consent_version=CONSENT_VERSION,
                language="en",
                actions=choices[n % len(choices)],
            )
            now = utcnow()
            submit_signature(
                db.session, campaign, entry, now=now, notices=NoMail(), may_mail=lambda _k: False
            )
        claims_of = [
            link_payload(row.id, row.link_secret, c=CAMPAIGN)
            for row in db.session.execute(
                select(Signature.id, Signature.link_secret).order_by(Signature.id)
            )
        ]
        db.session.close()
    db.engine(app).dispose()
    assert len(claims_of) == signatures
    expected = Counter(a for n in range(signatures) for a in choices[n % len(choices)])

    served = gunicorn(
        {
            "WIDGET_DATABASE_URL": fresh_postgres,
            "WIDGET_RATELIMIT_STORAGE_URL": redis_url,
            "WIDGET_RATELIMIT_IP": PLENTY,
            "WIDGET_RATELIMIT_LINKS": PLENTY,
            "GUNICORN_WORKERS": "2",
        }
    )
    links = verify_tokens((SECRET,))
    # Each signature's link two or three times in a row: neighbouring jobs run at the same
    # moment on different threads, so the copies race each other in both workers.
    jobs = [links.dumps(claims) for n, claims in enumerate(claims_of) for _copy in range(2 + n % 2)]
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()
    pending = iter(jobs)

    def confirm_many() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        try:
            while True:
                with lock:
                    token = next(pending, None)
                if token is None:
                    return
                connection.request("POST", f"/v/{token}", headers=SAME_ORIGIN)
                response = connection.getresponse()
                body = response.read().decode()
                with lock:
                    answers.append((response.status, body))
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm_many) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert len(answers) == len(jobs)
    assert Counter(status for status, _body in answers) == {200: len(jobs)}
    assert sum(CONFIRMED in body for _status, body in answers) == signatures
    assert sum(ALREADY in body for _status, body in answers) == len(jobs) - signatures

    # What the database holds, summed over the shards, without any cache in between...
    engine = create_engine(fresh_postgres)
    with engine.connect() as connection:
        verified = connection.scalar(
            text("SELECT count(*) FROM signature WHERE verified_at IS NOT NULL")
        )
    with Session(engine) as session:
        counted = tally(session, campaign_id, ["letter", "email", "call", "fax", "social"])
        recounted = recount(
            session, session.get_one(Campaign, campaign_id), now=utcnow(), actor="t"
        )
    engine.dispose()
    assert recounted.agreed, recounted.drift
    assert verified == signatures
    assert counted.count == signatures
    assert counted.by_action == {a: expected.get(a, 0) for a in counted.by_action}

    # ...and what the public count endpoint says. It may be cached for a few seconds, so it is
    # polled; a cached count can only lag behind, so any figure above the truth fails at once.
    deadline = time.monotonic() + 15
    while True:
        status, body, _headers = call(served.port, "GET", COUNT_PATH)
        assert status == 200
        public = json.loads(body)
        assert public["count"] <= signatures, public
        if public["count"] == signatures or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert public["count"] == signatures
    assert public["by_action"] == {a: expected.get(a, 0) for a in public["by_action"]}


@pytest.mark.postgres
def test_rate_limits_hold_across_both_workers_through_redis(
    gunicorn: Callable[..., Served], redis_url: str, fresh_postgres: str, tmp_path: Path
) -> None:
    prepared(fresh_postgres, tmp_path)
    # Sync workers serve one request at a time each. A sign POST whose headers are only half sent
    # keeps one worker waiting on it, so the next five posts are all served by the other worker;
    # when the held post is finished, its worker has counted nothing itself and must still refuse
    # it: only a limit kept in Redis knows about the other worker's five.
    served = gunicorn(
        {
            "WIDGET_DATABASE_URL": fresh_postgres,
            "WIDGET_RATELIMIT_STORAGE_URL": redis_url,
            "WIDGET_RATELIMIT_SIGN": "5 per minute",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "1",
            "GUNICORN_ACCESS_LOG": "-",
        },
        "--access-logformat",
        "served-by %(p)s %(m)s %(U)s %(s)s",
    )
    tokens = [form_token(call(served.port, "GET", f"/w/{CAMPAIGN}")[1]) for _ in range(6)]
    held_body = sign_body(tokens[5], "limit-held@example.org").encode()
    held = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    try:
        held.sendall(f"POST /w/{CAMPAIGN} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        statuses = [
            call(
                served.port,
                "POST",
                f"/w/{CAMPAIGN}",
                sign_body(tokens[n], f"limit{n}@ex.org"),
                FORM,
            )[0]
            for n in range(5)
        ]
        rest = {**FORM, "Content-Length": str(len(held_body)), "Connection": "close"}
        held.sendall("".join(f"{k}: {v}\r\n" for k, v in rest.items()).encode() + b"\r\n")
        held.sendall(held_body)
        answer = b""
        while chunk := held.recv(65536):
            answer += chunk
    finally:
        held.close()
    stop(served)

    assert statuses == [200] * 5
    assert answer.startswith(b"HTTP/1.1 429 ")
    served_by = re.findall(r"served-by <(\d+)> POST /w/\S+ (\d+)", served.log.read_text())
    assert [status for _pid, status in served_by] == ["200"] * 5 + ["429"]
    pids = [pid for pid, _status in served_by]
    assert len(set(pids[:5])) == 1, "the five were served while the held post kept a worker busy"
    assert pids[5] != pids[0], "the refused post was served by the other worker"


# --- nginx in front (deploy/nginx.conf) -------------------------------------------------------


NGINX_HOST = "actions.example.org"


def nginx_copy(tmp_path: Path, port: int, app_port: int, redirect_port: int) -> Path:
    """deploy/nginx.conf with its ports and paths moved into ``tmp_path``, and plain HTTP on
    ``port`` where it says TLS (no certificate here); every replaced line must be found, so the
    test fails (rather than tests something else) if the example changes."""
    folder = tmp_path / "nginx"
    (folder / "cache").mkdir(parents=True)
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    temp_paths = "".join(
        f"\n    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy")
    ) + "".join(f"\n    {kind}_temp_path {folder / kind};" for kind in ("fastcgi", "uwsgi", "scgi"))
    replacements = {
        "user www-data;": user,
        "worker_processes auto;": "worker_processes 1;",
        "pid /run/nginx-action-widget.pid;": f"pid {folder / 'nginx.pid'};",
        "error_log /var/log/nginx/action-widget.error.log crit;": "error_log stderr crit;",
        "http {": "http {" + temp_paths,
        "/var/cache/nginx/action-widget": str(folder / "cache"),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 80 default_server;": f"listen 127.0.0.1:{port} default_server;",
        "listen 443 ssl default_server;": "",
        "listen 80;": f"listen 127.0.0.1:{redirect_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{port};",
        f"ssl_certificate /etc/letsencrypt/live/{NGINX_HOST}/fullchain.pem;": "",
        f"ssl_certificate_key /etc/letsencrypt/live/{NGINX_HOST}/privkey.pem;": "",
    }
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in replacements.items():
        assert config.count(old) == 1, f"deploy/nginx.conf no longer has {old!r} once"
        config = config.replace(old, new)
    path = folder / "nginx.conf"
    path.write_text(config)
    return path


@pytest.fixture
def nginx_binary() -> str:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
    )
    if binary is None:
        unavailable("nginx is not installed (Debian: apt-get install nginx)")
    assert binary is not None
    return binary


def test_nginx_caches_the_count_and_passes_the_real_client_address(
    gunicorn: Callable[..., Served], nginx_binary: str, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'nginx.db'}"
    prepared(database, tmp_path)
    app = gunicorn(
        {"WIDGET_DATABASE_URL": database, "WIDGET_TRUSTED_PROXIES": "1", "GUNICORN_WORKERS": "2"}
    )
    port, redirect_port = free_port(), free_port()
    config = nginx_copy(tmp_path, port, app.port, redirect_port)
    log = tmp_path / "nginx.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                nginx_binary,
                "-c",
                str(config),
                "-p",
                str(config.parent),
                "-e",
                "stderr",
                "-g",
                "daemon off;",
            ],
            stdout=output,
            stderr=output,
        )
    proxy = Served(port, process, log)
    host = {"Host": NGINX_HOST}
    try:
        wait_for(port, "/healthz", process, log, host=NGINX_HOST)

        # The count: fetched once from the app, then served from nginx's cache.
        first = call(port, "GET", COUNT_PATH, headers=host)
        second = call(port, "GET", COUNT_PATH, headers=host)
        assert first[0] == second[0] == 200
        assert first[2]["X-Cache-Status"] in ("MISS", "EXPIRED")
        assert second[2]["X-Cache-Status"] == "HIT"
        assert json.loads(second[1])["campaign"] == CAMPAIGN
        etag = second[2]["ETag"]
        assert call(port, "GET", COUNT_PATH, headers={**host, "If-None-Match": etag})[0] == 304
        hsts = "max-age=63072000; includeSubDomains"
        assert first[2]["Strict-Transport-Security"] == hsts
        assert (
            call(port, "GET", f"/w/{CAMPAIGN}", headers=host)[2]["Strict-Transport-Security"]
            == hsts
        )

        # An unknown Host name gets no answer at all; plain HTTP is sent to HTTPS.
        for unknown in ({"Host": "evil.example"}, {}):
            with pytest.raises(http.client.RemoteDisconnected):
                call(port, "GET", f"/w/{CAMPAIGN}", headers=unknown)
        redirect = call(redirect_port, "GET", f"/w/{CAMPAIGN}?lang=ur", headers=host)
        assert redirect[0] == 301
        assert redirect[2]["Location"] == f"https://{NGINX_HOST}/w/{CAMPAIGN}?lang=ur"

        # The client address: nginx appends it to X-Forwarded-For and the app trusts only that
        # last entry, so a client's forged header changes nothing.
        for n, forged in enumerate((None, "203.0.113.9", "198.51.100.7, 192.0.2.1")):
            token = form_token(call(port, "GET", f"/w/{CAMPAIGN}", headers=host)[1])
            headers = {**FORM, **host, **({"X-Forwarded-For": forged} if forged else {})}
            body = sign_body(token, f"proxied{n}@example.org")
            assert call(port, "POST", f"/w/{CAMPAIGN}", body, headers)[0] == 200
    finally:
        stop(proxy)
    engine = create_engine(database)
    with engine.connect() as connection:
        hashes = connection.scalars(text("SELECT ip_hash FROM signature ORDER BY id")).all()
    engine.dispose()
    assert hashes == [ip_hash(SECRET, "127.0.0.1")] * 3


def test_a_worker_takes_what_it_loaded_out_of_the_collectors_passes() -> None:
    import gc
    import runpy

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    before = gc.get_freeze_count()
    try:
        config["post_worker_init"](object())
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
