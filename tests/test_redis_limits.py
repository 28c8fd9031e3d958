"""Two app processes sharing one Redis share one rate-limit budget (the scale-out path)."""

from __future__ import annotations

import http.client
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from widget import create_app
from widget.campaigns import load_campaign_file
from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.extensions import db

from .conftest import DEMO, SECRET, form_token, free_port, make_settings

SERVE = (
    "import sys; from werkzeug.serving import run_simple; from widget import create_app; "
    "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)"
)


def wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # a loaded machine may take long to import the app
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the app on port {port} did not start")


@pytest.fixture
def two_processes(redis_url: str, tmp_path: Path) -> Iterator[list[int]]:
    database = f"sqlite:///{tmp_path}/shared.db"
    app = create_app(make_settings(database, tmp_path))
    upgrade_database(app)
    with app.app_context():
        load_campaign_file(db.session, DEMO, utcnow())
        db.session.close()
    db.engine(app).dispose()
    env = {
        **os.environ,
        "WIDGET_SECRET_KEY": SECRET,
        "WIDGET_DATABASE_URL": database,
        "WIDGET_PUBLIC_URL": "http://127.0.0.1",
        "WIDGET_RATELIMIT_STORAGE_URL": redis_url,
        "WIDGET_RATELIMIT_SIGN": "5 per minute",
        "WIDGET_MIN_FILL_SECONDS": "0",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_until_serving(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
            if process.stderr:
                process.stderr.close()


def sign(port: int, n: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/w/ua-109-23")
    token = form_token(connection.getresponse().read().decode())
    body = urllib.parse.urlencode(
        {
            "csrf_token": token,
            "name": "A",
            "email": f"p{n}@example.org",
            "country": "PK",
            "consent": "y",
        }
    )
    connection.request(
        "POST",
        "/w/ua-109-23",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def test_two_processes_sharing_redis_share_one_budget(two_processes: list[int]) -> None:
    first, second = two_processes
    statuses = [sign(first if n % 2 == 0 else second, n) for n in range(8)]
    assert statuses == [200] * 5 + [429] * 3


def post_form(port: int, body: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/w/ua-109-23",
        body=urllib.parse.urlencode(body),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    response = connection.getresponse()
    page = response.read().decode()
    connection.close()
    return response.status, page


def test_a_form_token_spent_in_one_process_is_spent_in_the_other(
    two_processes: list[int], tmp_path: Path
) -> None:
    first, second = two_processes
    connection = http.client.HTTPConnection("127.0.0.1", first, timeout=10)
    connection.request("GET", "/w/ua-109-23")
    token = form_token(connection.getresponse().read().decode())
    connection.close()
    body = {"csrf_token": token, "name": "A", "email": "a@example.org", "country": "PK"}
    body["consent"] = "y"
    assert post_form(first, body)[0] == 200
    status, page = post_form(second, {**body, "email": "b@example.org"})
    assert status == 400
    assert "<li>This form was already sent. Please sign again.</li>" in page
    with sqlite3.connect(tmp_path / "shared.db") as database:
        assert database.execute("SELECT email FROM signature").fetchall() == [("a@example.org",)]
