"""Queued mail over a real SMTP server: nothing lost in an outage, nothing sent twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.extensions import db
from widget.models import OutboxMessage, Signature
from widget.outbox import MAX_ATTEMPTS, Mail, deliver_due, enqueue, retry_delay
from widget.relay import SmtpTransport
from widget.settings import parse_mail_url

from .conftest import SmtpServer, Supporter, text_part


@pytest.fixture
def settings_env(smtp_server: SmtpServer) -> dict[str, str]:
    return {"WIDGET_MAIL_URL": smtp_server.url}


def transport(server: SmtpServer) -> SmtpTransport:
    return SmtpTransport(parse_mail_url(server.url + "?timeout=15"), "actions@example.org")


def at(now: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``now``."""
    return lambda: now


def queue(app: Flask, count: int) -> None:
    with db.sessionmaker(app)() as session:
        for number in range(count):
            mail = Mail(f"p{number}@example.org", f"Message {number}", f"text {number}", "<p>h</p>")
            enqueue(session, mail, utcnow())
        session.commit()


def messages(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_smtp_down_while_signing_keeps_the_signature_and_sends_later_once(
    app: Flask, supporter: Supporter, smtp_server: SmtpServer, session: Session
) -> None:
    smtp_server.stop()
    assert supporter.sign().status_code == 200
    now = utcnow()
    report = deliver_due(db.sessionmaker(app), transport(smtp_server), at(now))
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    [message] = messages(session)
    assert message.attempts == 0  # a relay that is down is no fault of the message
    assert message.sent_at is None
    assert message.next_attempt_at == now  # the sender's pause, not the message, backs off
    assert "ConnectionRefusedError" in message.last_error
    assert session.scalars(select(Signature.email)).all() == ["ayesha@example.org"]

    smtp_server.start()
    later = now + timedelta(seconds=31)
    assert deliver_due(db.sessionmaker(app), transport(smtp_server), at(later)).sent == 1
    assert deliver_due(db.sessionmaker(app), transport(smtp_server), at(later)).handled == 0
    assert len(smtp_server.mailbox.messages) == 1
    assert "/v/" in text_part(smtp_server.mailbox.messages[0])
    [message] = messages(session)
    assert (message.attempts, message.sent_at, message.next_attempt_at) == (1, later, None)


def test_two_senders_at_once_send_each_message_exactly_once(
    app: Flask, smtp_server: SmtpServer, session: Session
) -> None:
    queue(app, 30)
    start = threading.Barrier(2)
    reports = []

    def sender() -> None:
        start.wait()
        reports.append(deliver_due(db.sessionmaker(app), transport(smtp_server)))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in reports) == 30
    subjects = sorted(m["Subject"] for m in smtp_server.mailbox.messages)
    assert subjects == sorted(f"Message {n}" for n in range(30))
    assert all(m.sent_at is not None for m in messages(session))


def test_a_claimed_message_is_not_taken_by_another_sender_until_the_lease_ends(
    app: Flask, smtp_server: SmtpServer, session: Session
) -> None:
    queue(app, 1)
    now = utcnow()
    [message] = messages(session)
    message.claimed_until = now + timedelta(minutes=5)
    session.commit()
    assert deliver_due(db.sessionmaker(app), transport(smtp_server), at(now)).handled == 0
    after_lease = now + timedelta(minutes=6)
    assert deliver_due(db.sessionmaker(app), transport(smtp_server), at(after_lease)).sent == 1


def test_a_mailbox_that_stays_busy_backs_off_and_is_given_up(
    app: Flask, smtp_server: SmtpServer, session: Session
) -> None:
    class Busy:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            return "452 4.2.2 Mailbox full, try later"

    smtp_server.stop()
    smtp_server.mailbox = Busy()  # type: ignore[assignment]
    smtp_server.start()
    queue(app, 1)
    now = utcnow()
    for _attempt in range(MAX_ATTEMPTS):
        deliver_due(db.sessionmaker(app), transport(smtp_server), at(now))
        now += timedelta(hours=2)
    [message] = messages(session)
    assert message.attempts == MAX_ATTEMPTS
    assert message.failed_at is not None
    assert message.next_attempt_at is None
    assert message.last_error == "recipient refused: 452 4.2.2 Mailbox full, try later"
    assert deliver_due(db.sessionmaker(app), transport(smtp_server), at(now)).handled == 0


def test_retry_delays_grow_to_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_a_refused_recipient_is_not_retried(
    app: Flask, smtp_server: SmtpServer, session: Session
) -> None:
    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            return "550 5.1.1 No such mailbox"

    smtp_server.stop()
    smtp_server.mailbox = Refusing()  # type: ignore[assignment]
    smtp_server.start()
    queue(app, 1)
    report = deliver_due(db.sessionmaker(app), transport(smtp_server))
    assert (report.sent, report.retrying, report.failed) == (0, 0, 1)
    [message] = messages(session)
    assert message.failed_at is not None
    assert "550" in message.last_error


def test_mail_has_text_and_html_parts_and_headers(
    app: Flask, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    supporter.sign(name="Zainab بی بی")
    deliver_due(db.sessionmaker(app), transport(smtp_server))
    [mail] = smtp_server.mailbox.messages
    assert mail["From"] == "actions@example.org"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"].endswith("@example.org>")
    assert "Zainab" not in text_part(mail)  # no text a supporter typed goes into our mail
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    assert "Confirm my signature" in html.get_content()
    assert "Zainab" not in html.get_content()


def test_outbox_work_without_smtp_keeps_the_mail_and_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from widget import create_app

    from .conftest import make_settings

    app = create_app(make_settings(f"sqlite:///{tmp_path}/w.db", tmp_path))
    upgrade_database(app)
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0
    assert result.output == (
        "WIDGET_MAIL_URL is outbox://, so mail stays in the database (see /dev/mail): "
        "delivering webhook events only. Set it to smtp://... to deliver mail too.\n"
    )
    db.engine(app).dispose()
