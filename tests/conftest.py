"""A fresh world per test: a migrated database (SQLite, and PostgreSQL where it runs), the demo
campaign, a test client, a real SMTP server.

Without PostgreSQL, Redis or Chromium the tests that need them are skipped with the reason;
with ``ACTION_WIDGET_TEST_REQUIRE_SERVICES=1`` (CI) a missing service fails them instead.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from widget import Settings, create_app, public_facts
from widget.campaigns import load_campaign_file
from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Base, Campaign, Signature
from widget.paths import CAMPAIGNS
from widget.tokens import link_payload

REQUIRE_SERVICES = os.environ.get("ACTION_WIDGET_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "ACTION_WIDGET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ACTION_WIDGET_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "test-secret-key-0123456789"
DEMO = CAMPAIGNS / "ua-109-23.toml"


def unavailable(reason: str) -> None:
    """Skip locally; fail where every real part must be proven (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ACTION_WIDGET_TEST_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def make_settings(database_url: str, tmp_path: Path, **env: str) -> Settings:
    """Settings for a test app; forms may be sent at once (the bot tests set a fill time)."""
    return Settings.from_env(
        {
            "WIDGET_SECRET_KEY": SECRET,
            "WIDGET_DATABASE_URL": database_url,
            # the test client's own origin; links in mails come only from this setting
            "WIDGET_PUBLIC_URL": "http://localhost",
            "WIDGET_MIN_FILL_SECONDS": "0",
            **env,
        },
        instance_path=tmp_path / "instance",
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test copies the file."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    app = create_app(make_settings(f"sqlite:///{path}", folder))
    upgrade_database(app)
    db.engine(app).dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of our own on the PostgreSQL server, migrated once, dropped at the end."""
    admin_url = make_url(POSTGRES_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"widget_test_{uuid.uuid4().hex[:10]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # the driver's errors vary: no server, no auth, no psycopg
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    app = create_app(make_settings(url, Path("/nonexistent")))
    upgrade_database(app)
    db.engine(app).dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "widget.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Extra ``WIDGET_*`` values for the app; override in a test module to change them."""
    return {}


def make_app(database_url: str, tmp_path: Path, **env: str) -> Flask:
    """A test app on a migrated database, with the demo campaign loaded."""
    app = create_app(make_settings(database_url, tmp_path, **env))
    app.config["TESTING"] = True
    with app.app_context():
        load_campaign_file(db.session, DEMO, utcnow())
        db.session.close()
    return app


@pytest.fixture
def app(database_url: str, tmp_path: Path, settings_env: dict[str, str]) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path, **settings_env)
    yield app
    db.engine(app).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A database session beside the app's, to look at what requests wrote."""
    with db.sessionmaker(app)() as session:
        yield session


@dataclass
class Mailbox:
    """What the SMTP server received, as parsed messages."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    controller: Controller
    running: bool = True

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname=self.host, port=self.port)
        self.controller.start()
        self.running = True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    server = SmtpServer("127.0.0.1", port, mailbox, controller)
    yield server
    server.stop()


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def link_in(message: EmailMessage, path: str = "/v/") -> str:
    """The first link in the mail's text part whose path starts with ``path``."""
    match = re.search(rf"https?://\S+?{re.escape(path)}\S+", text_part(message))
    assert match, text_part(message)
    return match.group(0)


def link_claims(session: Session, signature_id: int, **claims: object) -> dict[str, object]:
    """What a mailed link to the signature carries: its id and its current link secret."""
    secret = session.scalar(select(Signature.link_secret).where(Signature.id == signature_id))
    return link_payload(signature_id, secret, **claims)


def recount_agrees(session: Session, slug: str = "ua-109-23") -> bool:
    """Concurrency tests end with this: the counts recomputed from the signatures agree."""
    from widget.recount import recount

    campaign = session.scalars(select(Campaign).where(Campaign.slug == slug)).one()
    return recount(session, campaign, now=utcnow(), actor="test").agreed


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*? value="([^"]+)"')

#: what differs between two answers to a sign by design: what was typed (shown back, and
#: carried in hidden fields), the receipt and the fresh form token (random), the live count
PER_ANSWER = re.compile(
    r'<input type="hidden" name="[^"]+" value="[^"]*">|data-receipt="[^"]*"'
    r'|<strong class="typed-address" dir="ltr">[^<]*</strong>|<div class="counter".*?</div>',
    re.S,
)


def sign_answer(data: bytes) -> str:
    """A sign's answer without ``PER_ANSWER``: what must be the same in every state."""
    return PER_ANSWER.sub("", data.decode())


def form_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no sign form"
    return match.group(1)


def erase_search(client: FlaskClient, email: str):  # type: ignore[no-untyped-def]
    """The staff erase page's search, as the page sends it: a POST with its CSRF token."""
    page = client.get("/staff/erase", base_url="https://localhost").get_data(as_text=True)
    data = {"csrf_token": form_token(page), "email": email}
    return client.post("/staff/erase", data=data, base_url="https://localhost")


def freeze_reuse(monkeypatch: pytest.MonkeyPatch, app: Flask | None = None) -> None:
    """Stop the clocks that let a process's reused reads lapse, so a slow machine adds no read
    between two requests: ``widget.public_facts`` (the campaign 2 s, the count 1 s) and, with
    ``app``, its run-time limits' version check (2 s, a clock bound when they were made). A
    change made in the process still clears them (``changes_in_process``, ``expire``)."""
    monkeypatch.setattr(public_facts, "time", SimpleNamespace(monotonic=lambda: 1000.0))
    if app is not None:
        limits = app.extensions["widget.runtime_limits"]
        monkeypatch.setattr(limits, "_clock", lambda: 1000.0)


@dataclass
class Supporter:
    """A person using the widget through the test client."""

    client: FlaskClient
    campaign: str = "ua-109-23"

    def open_widget(self, **query: str) -> str:
        response = self.client.get(f"/w/{self.campaign}", query_string=query)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def form(self, **fields: object) -> dict[str, object]:
        data: dict[str, object] = {
            "csrf_token": form_token(self.open_widget()),
            "name": "Ayesha Khan",
            "email": "ayesha@example.org",
            "country": "PK",
            "actions": ["letter", "email"],
            "consent": "y",
        }
        data.update(fields)
        return {key: value for key, value in data.items() if value is not None}

    def sign(self, headers: dict[str, str] | None = None, **fields: object):  # type: ignore[no-untyped-def]
        return self.client.post(
            f"/w/{self.campaign}",
            data=self.form(**fields),
            headers={"Sec-Fetch-Site": "same-origin", **(headers or {})},
        )


@pytest.fixture
def supporter(client: FlaskClient) -> Supporter:
    return Supporter(client)


STAFF_PASSWORD = "correct horse battery staple"


@dataclass
class StaffActions:
    """Staff accounts and signing in, over HTTPS as in production (the cookie is Secure)."""

    app: Flask

    def create(self, email: str, role: str = "admin") -> None:
        from widget.staff import create_staff

        with db.sessionmaker(self.app)() as session:
            create_staff(session, email, STAFF_PASSWORD, role, utcnow())

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def login(self, email: str, password: str = STAFF_PASSWORD, client: FlaskClient | None = None):  # type: ignore[no-untyped-def]
        client = client or self.client()
        page = client.get("/staff/login", base_url="https://localhost").get_data(as_text=True)
        token = form_token(page)
        response = client.post(
            "/staff/login",
            data={"csrf_token": token, "email": email, "password": password},
            base_url="https://localhost",
        )
        return client, response

    def signed_in(self, role: str = "admin") -> FlaskClient:
        email = f"{role}@example.org"
        self.create(email, role)
        client, response = self.login(email)
        assert response.status_code == 302
        return client


@pytest.fixture
def staff(app: Flask) -> StaffActions:
    return StaffActions(app)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The tests' own Redis database (15 by default), emptied before and after."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.flushdb()
    except Exception as error:  # no package, no server
        unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")
    yield REDIS_URL
    client.flushdb()
    client.close()
