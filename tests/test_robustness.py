"""The app as a whole under bad requests and real faults: malformed bodies and URLs, a database
that fails or goes away, oversize bodies, and what reaches the logs meanwhile."""

from __future__ import annotations

import io
import logging
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from widget import public_facts
from widget.campaigns import load_campaign_file
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Signature

from .conftest import Supporter, form_token, make_app, make_settings
from .test_scale import gunicorn  # noqa: F401  (the fixture)

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
NAME, EMAIL = "Ayesha Khan", "ayesha@example.org"


def signatures(session: Session) -> list[Signature]:
    session.expire_all()
    return list(session.scalars(select(Signature)))


# --- 10: malformed requests are the widget's 4xx, never a 500 ---------------------------------


def test_an_unparsable_referer_or_source_is_no_source(
    supporter: Supporter, session: Session
) -> None:
    page = supporter.client.get("/w/ua-109-23", headers={"Referer": "http://[::1"})
    assert page.status_code == 200
    response = supporter.sign(source="http://[::1")
    assert response.status_code == 200
    assert [s.source_url for s in signatures(session)] == [None]


@pytest.mark.parametrize("body", ["5", "true", "[1, 2]", '"a string"', '{"name": ["x"]}'])
@pytest.mark.parametrize("path", ["/w/ua-109-23", "/v/x.y.z", "/m/x.y.z"])
def test_a_json_body_to_a_form_is_refused_with_the_widgets_page(
    client: FlaskClient, session: Session, path: str, body: str
) -> None:
    response = client.post(path, data=body, content_type="application/json", headers=SAME_ORIGIN)
    assert response.status_code == 415
    assert "We could not read what was sent" in response.get_data(as_text=True)
    assert signatures(session) == []


def test_a_file_in_a_text_field_is_refused(supporter: Supporter, session: Session) -> None:
    fields = {**supporter.form(), "name": (io.BytesIO(b"Ayesha"), "name.txt")}
    response = supporter.client.post("/w/ua-109-23", data=fields, headers=SAME_ORIGIN)
    assert response.status_code == 415
    assert "We could not read what was sent" in response.get_data(as_text=True)
    assert signatures(session) == []


@pytest.mark.parametrize(
    ("path", "query", "fields"),
    [
        ("/w/ua%00", {}, {}),
        ("/w/ua-109-23", {"partner": "amnesty\x00"}, {}),
        ("/w/ua-109-23", {"lang\x00": "ur"}, {}),
        ("/w/ua-109-23", {}, {"source": "https://news.example/\x00"}),
        ("/w/ua-109-23", {}, {"name": "Ayesha\x00"}),
    ],
)
def test_a_nul_byte_anywhere_is_a_400_on_both_databases(
    supporter: Supporter, session: Session, path: str, query: dict, fields: dict
) -> None:
    response = supporter.client.post(
        path, query_string=query, data=supporter.form(**fields), headers=SAME_ORIGIN
    )
    assert response.status_code == 400
    assert "We could not read what was sent" in response.get_data(as_text=True)
    assert supporter.client.get(path, query_string=query).status_code == (200 if fields else 400)
    assert signatures(session) == []


def test_an_oversize_body_while_rate_limited_is_a_413(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, WIDGET_RATELIMIT_SIGN="1 per minute")
    supporter = Supporter(app.test_client())
    assert supporter.sign().status_code == 200
    assert supporter.sign(email="other@example.org").status_code == 429
    response = supporter.sign(email="third@example.org", name="x" * 20_000)
    assert response.status_code == 413
    assert "That was too much text" in response.get_data(as_text=True)
    db.engine(app).dispose()


# --- 29 and 5: a database that fails, through HTTP ---------------------------------------------


@contextmanager
def signatures_refused(engine: Engine) -> Iterator[None]:
    """A real fault in the database: every new signature row is refused by a trigger (on
    PostgreSQL its message even carries the address, as a constraint's DETAIL would)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON signature "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused % %', NEW.name, NEW.email; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON signature "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "DROP TRIGGER refuse"
                    + ("" if engine.dialect.name == "sqlite" else " ON signature")
                )
            )
            if engine.dialect.name != "sqlite":
                connection.execute(text("DROP FUNCTION refuse()"))


def test_a_database_error_on_signing_shows_the_form_again_in_its_language(
    app: Flask, supporter: Supporter, database_url: str, session: Session
) -> None:
    engine = create_engine(database_url)
    token = form_token(supporter.open_widget(lang="ur"))
    with signatures_refused(engine):
        response = supporter.client.post(
            "/w/ua-109-23?lang=ur",
            data={**supporter.form(), "csrf_token": token, "actions": ["call"]},
            headers=SAME_ORIGIN,
        )
    engine.dispose()
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert '<html lang="ur" dir="rtl"' in page
    # what they typed is kept
    assert f'value="{NAME}"' in page and f'value="{EMAIL}"' in page
    assert 'checked id="actions-2" name="actions" type="checkbox" value="call"' in page
    assert "ہماری طرف کچھ خرابی ہوئی اور آپ کا دستخط محفوظ نہیں ہوا" in page  # the failure, in Urdu
    assert signatures(session) == []


def test_a_database_error_logs_no_personal_data(
    app: Flask, supporter: Supporter, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(database_url)
    with signatures_refused(engine), caplog.at_level(logging.DEBUG):
        assert supporter.sign().status_code == 500
    engine.dispose()
    logged = "\n".join(
        record.getMessage() + (caplog.handler.format(record) if record.exc_info else "")
        for record in caplog.records
    )
    assert "database error in widget.sign" in logged
    assert "INSERT INTO signature" in logged  # the statement, without its values
    assert NAME not in logged and EMAIL not in logged and "ayesha" not in logged
    assert not re.search(r"[0-9a-f]{32}", logged), "an IP hash (or a token) was logged"


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_database_gone_read_only_answers_503_and_keeps_the_form(
    app: Flask, supporter: Supporter, database_url: str
) -> None:
    """PostgreSQL made read-only with every connection cut, as a failover would (SQLite: see
    the next test; as root, file modes do not stop its writes)."""
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    token = form_token(supporter.open_widget())
    name = admin.url.database
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    try:
        response = supporter.client.post(
            "/w/ua-109-23", data={**supporter.form(), "csrf_token": token}, headers=SAME_ORIGIN
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()
        db.engine(app).dispose()
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert f'value="{NAME}"' in page and f'value="{EMAIL}"' in page
    assert "our system is briefly unavailable" in page


def test_a_lost_sqlite_database_answers_503_with_the_widgets_page(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "widget.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", tmp_path)
    client = app.test_client()
    assert client.get("/w/ua-109-23").status_code == 200
    # the disk it was on is gone: where the file was, nothing can be opened
    db.engine(app).dispose()
    path.unlink()
    path.mkdir()
    # once what the process kept of the campaign is due to be read again (widget.public_facts)
    later = time.monotonic() + public_facts.FACTS_REUSE + 1
    monkeypatch.setattr(public_facts.time, "monotonic", lambda: later)
    page = client.get("/w/ua-109-23?lang=ur", headers={"Accept-Language": "ur"})
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "30"
    assert '<html lang="ur" dir="rtl"' in page.get_data(as_text=True)
    api = client.get("/api/v1/campaigns/ua-109-23")
    assert (api.status_code, api.json["error"]) == (503, "unavailable")
    assert api.headers["Retry-After"] == "30"
    db.engine(app).dispose()


# --- 12: the dev mailbox only with outbox:// mail in debug -------------------------------------


@pytest.mark.parametrize(
    ("debug", "mail_url", "status"),
    [("1", "outbox://", 200), ("1", "smtp://127.0.0.1:2525", 404), ("0", "outbox://", 404)],
)
def test_the_dev_mailbox_exists_only_for_outbox_mail_in_debug(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    debug: str,
    mail_url: str,
    status: int,
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", debug)
    app = make_app(database_url, tmp_path, WIDGET_MAIL_URL=mail_url)
    assert app.debug is (debug == "1")
    assert app.test_client().get("/dev/mail").status_code == status
    db.engine(app).dispose()


# --- 20: every route has a body limit ----------------------------------------------------------


def test_a_30_mb_body_to_the_staff_login_is_a_413(client: FlaskClient) -> None:
    body = b"email=a%40example.org&password=" + b"x" * (30 * 1024 * 1024)
    response = client.post(
        "/staff/login",
        data=body,
        content_type="application/x-www-form-urlencoded",
        base_url="https://localhost",
    )
    assert response.status_code == 413


def test_a_campaign_upload_may_be_bigger_than_other_staff_forms(app: Flask) -> None:
    from widget import LARGER_BODIES, MAX_CONTENT_LENGTH

    with app.test_request_context("/staff/campaigns/new", method="POST"):
        app.preprocess_request()
        from flask import request

        assert request.max_content_length == LARGER_BODIES["staff.new_campaign"]
    with app.test_request_context("/staff/login", method="POST"):
        app.preprocess_request()
        assert request.max_content_length == MAX_CONTENT_LENGTH


# --- 22: campaigns not open yet, security.txt --------------------------------------------------


def test_a_campaign_that_has_not_opened_is_unknown_to_the_public(
    client: FlaskClient, staff, tmp_path: Path
) -> None:
    from widget.paths import CAMPAIGNS

    later = tmp_path / "later.toml"
    later.write_text(
        (CAMPAIGNS / "ua-109-23.toml")
        .read_text()
        .replace('slug = "ua-109-23"', 'slug = "later"')
        .replace("[[targets]]", "opens_at = 2999-01-01T00:00:00Z\n\n[[targets]]", 1)
    )
    with staff.app.app_context():
        load_campaign_file(db.session, later, utcnow())
        db.session.close()
    for path in ("/w/later", "/api/v1/campaigns/later", "/api/v1/campaigns/later/count"):
        assert client.get(path).status_code == 404, path
    assert client.post("/w/later", headers=SAME_ORIGIN).status_code == 404
    # the privacy notice names no such campaign either (its link back would give it away)
    privacy = client.get("/privacy?campaign=later").get_data(as_text=True)
    assert "/w/later" not in privacy
    assert "/w/ua-109-23" in client.get("/privacy?campaign=ua-109-23").get_data(as_text=True)
    admin = staff.signed_in()
    assert admin.get("/staff/campaigns/later", base_url="https://localhost").status_code == 200


def test_security_txt_names_a_contact_and_expires_within_a_year(
    database_url: str, tmp_path: Path
) -> None:
    from datetime import datetime, timedelta

    app = make_app(database_url, tmp_path, WIDGET_MAIL_FROM="Amnesty <actions@example.org>")
    response = app.test_client().get("/.well-known/security.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    lines = dict(line.split(": ", 1) for line in response.get_data(as_text=True).splitlines())
    assert lines["Contact"] == "mailto:actions@example.org"
    assert lines["Preferred-Languages"] == "en"
    expires = datetime.fromisoformat(lines["Expires"].removesuffix("Z"))
    assert timedelta(days=364) < expires - utcnow() <= timedelta(days=365)
    db.engine(app).dispose()
    app = make_app(database_url, tmp_path, WIDGET_SECURITY_CONTACT="https://example.org/security")
    body = app.test_client().get("/.well-known/security.txt").get_data(as_text=True)
    assert "Contact: https://example.org/security\n" in body
    db.engine(app).dispose()


# --- 21: configuration errors never print a password -------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WIDGET_MAIL_URL", "smtp://u:s3cr3t-pw@h:bad"),
        ("WIDGET_MAIL_URL", "smtp://u:s3cr3t-pw@[::1"),
        ("WIDGET_MAIL_URL", "smpt://u:s3cr3t-pw@mail.example"),
        ("WIDGET_MAIL_URL", "smtp://u:s3cr3t-pw@mail.example?timeout=soon"),
        # unencoded characters in a password are what most often breaks such a URL
        ("WIDGET_MAIL_URL", "smtp://user:s3cr3t-pw#1@host:587"),
        ("WIDGET_MAIL_URL", "smtp://user:s3cr3t-pw/x@host:587"),
        ("WIDGET_MAIL_URL", "smtp://user:s3cr3t-pw?x@host:587"),
        ("WIDGET_MAIL_URL", "smtp://us@er:s3cr3t-pw@host:bad"),
        ("WIDGET_RATELIMIT_STORAGE_URL", "redis://:s3cr3t-pw#@redis.example:port/0"),
        ("WIDGET_RATELIMIT_STORAGE_URL", "reddis://:s3cr3t-pw@redis.example:6379/0"),
        ("WIDGET_RATELIMIT_STORAGE_URL", "redis://:s3cr3t-pw@[::1"),
        ("WIDGET_DATABASE_URL", "postgresql://widget:s3cr3t-pw@db.example:port/widget"),
        ("WIDGET_DATABASE_URL", "not a url at all s3cr3t-pw@"),
    ],
)
def test_a_configuration_error_never_prints_a_password(
    tmp_path: Path, name: str, value: str
) -> None:
    from widget import ConfigurationError

    with pytest.raises(ConfigurationError) as error:
        make_settings("sqlite://", tmp_path, **{name: value})
    message = str(error.value)
    assert name in message
    assert "s3cr3t-pw" not in message
    if "@" in value and "://" in value and name != "WIDGET_DATABASE_URL":
        assert "***" in message


# --- 31: a hung Redis falls back to memory, it does not hold the site --------------------------


@pytest.fixture
def hung_redis() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _address = server.accept()
            except TimeoutError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0", accepted
    stop.set()
    thread.join(timeout=10)
    for connection in accepted:
        connection.close()
    server.close()


def test_a_hung_redis_falls_back_to_memory_and_signing_goes_on(
    database_url: str,
    tmp_path: Path,
    hung_redis: tuple[str, list[socket.socket]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, accepted = hung_redis
    app = make_app(database_url, tmp_path, WIDGET_RATELIMIT_STORAGE_URL=url)
    supporter = Supporter(app.test_client())
    answers: list[int] = []
    signing = threading.Thread(target=lambda: answers.append(supporter.sign().status_code))
    with caplog.at_level(logging.WARNING, logger="widget.limits"):
        signing.start()
        signing.join(timeout=120)  # a generous bound; the point is that it answers at all
    assert not signing.is_alive(), "a hung Redis held the sign request"
    assert answers == [200]
    assert accepted, "the limiter never reached the hung server"
    # redis-py 5 waits forever on a silent server and 6+ waits 5 s per read and retries: the
    # client the limiter uses gives up after one read of REDIS_TIMEOUT, with no retry.
    from widget.limits import REDIS_TIMEOUT, store

    redis = store(app).redis
    assert redis is not None
    client = redis.get_connection()
    assert client.connection_pool.connection_kwargs["socket_timeout"] == REDIS_TIMEOUT
    assert client.get_retry().get_retries() == 0
    assert "falling back to in-memory storage" in caplog.text
    db.engine(app).dispose()


# --- 13 and 32: what gunicorn's log says --------------------------------------------------------


def test_gunicorn_warns_that_memory_limits_with_two_workers_are_per_worker(
    gunicorn,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    from .test_scale import prepared

    database = f"sqlite:///{tmp_path / 'memory.db'}"
    prepared(database, tmp_path)
    served = gunicorn({"WIDGET_DATABASE_URL": database, "GUNICORN_WORKERS": "2"})
    log = served.log.read_text()
    assert "WIDGET_RATELIMIT_STORAGE_URL is memory:// with 2 workers" in log
    assert "every limit is 2 times what it says" in log


def test_gunicorn_logs_the_fallback_when_redis_is_unreachable(
    gunicorn,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    from .conftest import free_port
    from .test_scale import FORM, call, prepared, sign_body

    database = f"sqlite:///{tmp_path / 'fallback.db'}"
    prepared(database, tmp_path)
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    served = gunicorn(
        {
            "WIDGET_DATABASE_URL": database,
            "WIDGET_RATELIMIT_STORAGE_URL": nothing_there,
            "GUNICORN_WORKERS": "1",
        }
    )
    token = form_token(call(served.port, "GET", "/w/ua-109-23")[1])
    body = sign_body(token, "fallback@example.org")
    assert call(served.port, "POST", "/w/ua-109-23", body, FORM)[0] == 200
    deadline = time.monotonic() + 30
    while "falling back to in-memory storage" not in served.log.read_text():
        assert time.monotonic() < deadline, served.log.read_text()
        time.sleep(0.05)
    log = served.log.read_text()
    assert "[WARNING] widget.limits: Rate limit storage unreachable" in log
    assert "fallback@example.org" not in log
