"""The mail sender through database faults: the database itself refuses writes for a while
(SQLite ``query_only``, a PostgreSQL read-only session), or PostgreSQL drops every connection
mid-batch. The sender never stops and never sends a mail twice."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.orm import Session

from widget import sender
from widget.clock import utcnow
from widget.extensions import db
from widget.models import OutboxMessage
from widget.outbox import Mail, deliver_due, enqueue
from widget.relay import SmtpTransport
from widget.settings import parse_mail_url

from .conftest import SmtpServer


@dataclass
class WriteSwitch:
    """While ``refusing``, every connection the app's engine hands out is read-only at the
    database: SQLite answers "attempt to write a readonly database", PostgreSQL 25006."""

    engine: Engine
    refusing: bool = False

    def __post_init__(self) -> None:
        event.listen(self.engine, "checkout", self._apply)

    def _apply(self, dbapi_connection, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        if self.engine.dialect.name == "sqlite":
            cursor.execute(f"PRAGMA query_only = {int(self.refusing)}")
        else:
            mode = "READ ONLY" if self.refusing else "READ WRITE"
            cursor.execute(f"SET SESSION CHARACTERISTICS AS TRANSACTION {mode}")
        cursor.close()
        dbapi_connection.commit()

    def remove(self) -> None:
        event.remove(self.engine, "checkout", self._apply)


@pytest.fixture
def switch(app: Flask) -> Iterator[WriteSwitch]:
    switch = WriteSwitch(db.engine(app))
    yield switch
    switch.remove()


def transport(server: SmtpServer) -> SmtpTransport:
    return SmtpTransport(parse_mail_url(server.url + "?timeout=15"), "actions@example.org")


def queue(app: Flask, count: int) -> None:
    with db.sessionmaker(app)() as session:
        for number in range(count):
            enqueue(session, Mail(f"p{number}@example.org", f"M {number}", "t", "h"), utcnow())
        session.commit()


def rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def received(server: SmtpServer) -> list[str]:
    return sorted(m["To"] for m in server.mailbox.messages)


def test_a_sent_mail_is_recorded_once_the_database_takes_writes_again_and_never_resent(
    app: Flask,
    smtp_server: SmtpServer,
    session: Session,
    switch: WriteSwitch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue(app, 5)
    real = transport(smtp_server)
    waits: list[float] = []

    class RefuseWritesAfterTheSecond:
        def send(self, message: OutboxMessage) -> None:
            real.send(message)
            if message.recipient == "p1@example.org":
                switch.refusing = True

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            switch.refusing = False

    with caplog.at_level(logging.ERROR, logger="widget"):
        report = deliver_due(db.sessionmaker(app), RefuseWritesAfterTheSecond(), sleep=sleep)
    assert report.sent == 5
    assert waits == [0.5, 1.0, 2.0]
    assert received(smtp_server) == [f"p{n}@example.org" for n in range(5)]
    assert all(m.sent_at is not None and m.claimed_until is None for m in rows(session))
    assert deliver_due(db.sessionmaker(app), real).handled == 0
    assert len(smtp_server.mailbox.messages) == 5
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert all("was sent but recording it failed" in m for m in messages)
    assert not any("@" in m or "[SQL:" in m or "parameters" in m for m in messages)


def test_a_second_sender_leaves_a_sent_mail_alone_through_a_long_recording_outage(
    app: Flask, smtp_server: SmtpServer, session: Session, switch: WriteSwitch
) -> None:
    """The database refuses writes for ten minutes (of a clock the test moves) right after the
    relay accepted a mail; a second sender runs as it comes back, before the first retries."""
    queue(app, 1)
    real = transport(smtp_server)
    clock = [utcnow()]
    accepted_at = clock[0]
    second: list[Any] = []

    class RefuseWritesAfterSending:
        def send(self, message: OutboxMessage) -> None:
            real.send(message)
            switch.refusing = True

    def sleep(_seconds: float) -> None:
        clock[0] += timedelta(minutes=10)
        switch.refusing = False
        second.append(deliver_due(db.sessionmaker(app), real, lambda: clock[0]))

    first = deliver_due(
        db.sessionmaker(app), RefuseWritesAfterSending(), lambda: clock[0], sleep=sleep
    )
    assert (first.sent, second[0].handled) == (1, 0)
    assert received(smtp_server) == ["p0@example.org"]
    [message] = rows(session)
    assert (message.sent_at, message.claimed_until) == (accepted_at, None)  # not when recorded


def test_the_sender_loop_outlives_a_database_that_refuses_writes(
    app: Flask,
    smtp_server: SmtpServer,
    switch: WriteSwitch,
    session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue(app, 3)
    switch.refusing = True
    waits: list[float] = []
    passes = iter([True] * 4 + [False])

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        switch.refusing = len(waits) < 2

    with caplog.at_level(logging.ERROR, logger="widget"):
        sender.run(
            db.sessionmaker(app),
            transport(smtp_server),
            interval=1.0,
            sleep=sleep,
            keep_going=passes.__next__,
        )
    assert waits[:2] == [2.0, 4.0]  # two passes met the fault, each pausing longer
    assert received(smtp_server) == ["p0@example.org", "p1@example.org", "p2@example.org"]
    assert all(m.sent_at is not None for m in rows(session))
    errors = [r.getMessage() for r in caplog.records if r.name == "widget.sender"]
    assert len(errors) == 2
    assert all(e.startswith("outbox: database error, retrying in") for e in errors)


@pytest.mark.postgres
def test_postgres_dropping_every_connection_mid_batch_loses_and_repeats_nothing(
    postgres_database: str, tmp_path, smtp_server: SmtpServer
) -> None:  # type: ignore[no-untyped-def]
    from widget import create_app

    from .conftest import make_settings

    app = create_app(make_settings(postgres_database, tmp_path))
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    try:
        queue(app, 6)
        real = transport(smtp_server)

        class Restart:
            """After the third mail, PostgreSQL terminates every other session (a restart)."""

            def send(self, message: OutboxMessage) -> None:
                real.send(message)
                if message.recipient == "p2@example.org":
                    with admin.connect() as connection:
                        connection.execute(
                            text(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                            )
                        )

        report = deliver_due(db.sessionmaker(app), Restart(), sleep=lambda _s: None)
        assert report.sent == 6
        assert received(smtp_server) == [f"p{n}@example.org" for n in range(6)]
        with db.sessionmaker(app)() as session:
            assert all(m.sent_at is not None for m in rows(session))
    finally:
        admin.dispose()
        db.engine(app).dispose()
        cleanup = create_engine(postgres_database)
        with cleanup.begin() as connection:
            connection.execute(text("TRUNCATE outbox_message RESTART IDENTITY CASCADE"))
        cleanup.dispose()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_the_sender_never_logs_the_database_message_it_may_quote_values_from(
    app: Flask, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL quotes the input it refused ("invalid input syntax ...: "<the subject>""):
    the sender logs the error's kind and statement only, as the app does."""
    with db.sessionmaker(app)() as writer:
        enqueue(writer, Mail("p@example.org", "Sara Ahmadi signed", "t", "h"), utcnow())
        writer.commit()
    trigger = text(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM NEW.subject::integer; RETURN NEW; END $$; "
        "CREATE TRIGGER refuse BEFORE UPDATE ON outbox_message "
        "FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    with db.engine(app).begin() as connection:
        connection.execute(trigger)
    try:
        with caplog.at_level(logging.ERROR, logger="widget"):
            sender.run(
                db.sessionmaker(app),
                transport(smtp_server),
                sleep=lambda _s: None,
                keep_going=iter([True, False]).__next__,
            )
    finally:
        with db.engine(app).begin() as connection:
            connection.execute(
                text("DROP TRIGGER refuse ON outbox_message; DROP FUNCTION refuse()")
            )
    [record] = caplog.records
    assert record.getMessage().startswith(
        "outbox: database error, retrying in 4 s: DataError from "
        "psycopg.errors.InvalidTextRepresentation (22P02) in: UPDATE outbox_message SET"
    )
    assert "Sara" not in caplog.text and "invalid input" not in caplog.text
    assert smtp_server.mailbox.messages == []
