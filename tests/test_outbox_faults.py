"""The mail sender against relays that misbehave on purpose (aiosmtpd handlers on loopback):
refusing us, refusing one recipient, answering QUIT oddly, dropping the line, trickling bytes;
and against a message that cannot be composed. No single message and no relay stops the mail."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.extensions import db
from widget.models import OutboxMessage
from widget.outbox import MAX_ATTEMPTS, Mail, deliver_due, enqueue, message_id_header
from widget.relay import SmtpTransport
from widget.settings import parse_mail_url

from .conftest import free_port

SENDER = "actions@example.org"


@dataclass
class Relay:
    """An aiosmtpd server whose answers the test chooses; it keeps what it accepted."""

    port: int = field(default_factory=free_port)
    received: list[EmailMessage] = field(default_factory=list)
    #: answer to MAIL FROM, RCPT TO per address, DATA per attempt, QUIT (None: the normal one)
    mail_answer: str | None = None
    refused: dict[str, str] = field(default_factory=dict)
    data_answers: list[str] = field(default_factory=list)
    quit_answer: str | None = None
    drop_at_quit: bool = False
    password: str = ""
    #: RCPT TO for this address answers a byte at a time, never finishing the line
    trickle_for: str | None = None
    seen_message_ids: list[str] = field(default_factory=list)
    #: EHLO is never answered (the relay hangs after its greeting)
    hang_at_ehlo: bool = False

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        while self.hang_at_ehlo and not server.transport.is_closing():
            await asyncio.sleep(0.05)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if self.mail_answer:
            return self.mail_answer
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if address == self.trickle_for:
            for _ in range(600):  # at most two minutes; the client hangs up long before
                if server.transport.is_closing():
                    break
                server.transport.write(b"2" if _ == 0 else b"5")
                await asyncio.sleep(0.2)
            return "250 OK"
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.seen_message_ids.append(str(message["Message-ID"]))
        if self.data_answers:
            answer = self.data_answers.pop(0)
            if not answer.startswith("250"):
                return answer
        self.received.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.drop_at_quit:
            server.transport.abort()
        return self.quit_answer or "221 Bye"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
        return AuthResult(success=auth_data.password.decode() == self.password, handled=False)

    def url(self, credentials: str = "") -> str:
        return f"smtp://{credentials}127.0.0.1:{self.port}?timeout=15"


@pytest.fixture
def relay() -> Iterator[Relay]:
    yield from running_relay()


def running_relay() -> Iterator[Relay]:
    relay = Relay()
    controller = Controller(
        relay,
        hostname="127.0.0.1",
        port=relay.port,
        authenticator=relay.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield relay
    controller.stop()


def transport(relay: Relay, credentials: str = "", deadline: float = 30.0) -> SmtpTransport:
    return SmtpTransport(parse_mail_url(relay.url(credentials)), SENDER, deadline=deadline)


def at(now: datetime) -> Callable[[], datetime]:
    return lambda: now


def queue(app: Flask, *recipients: str, subject: str = "Please confirm") -> None:
    with db.sessionmaker(app)() as session:
        for number, recipient in enumerate(recipients):
            mail = Mail(recipient, f"{subject} {number}", "text", "<p>html</p>", kind="confirm")
            enqueue(session, mail, utcnow())
        session.commit()


def rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def addresses(count: int) -> list[str]:
    return [f"p{n}@example.org" for n in range(count)]


def test_a_title_with_a_line_break_fails_that_mail_and_the_others_go(
    app: Flask, relay: Relay, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    queue(app, "a@example.org")
    queue(app, "broken@example.org", subject="Stop deporting\nAfghan refugees")
    queue(app, "b@example.org")
    with caplog.at_level(logging.INFO, logger="widget"):
        report = deliver_due(db.sessionmaker(app), transport(relay))
    assert (report.sent, report.retrying, report.failed) == (2, 0, 1)
    assert sorted(m["To"] for m in relay.received) == ["a@example.org", "b@example.org"]
    first, broken, last = rows(session)
    assert (broken.attempts, broken.sent_at, broken.next_attempt_at) == (1, None, None)
    assert broken.failed_at is not None
    assert broken.last_error == "cannot compose the mail: ValueError"
    assert first.sent_at is not None and last.sent_at is not None
    assert [r.getMessage() for r in caplog.records] == [
        f"outbox: message {broken.id} (confirm) failed for good: PermanentFailure"
    ]
    assert deliver_due(db.sessionmaker(app), transport(relay)).handled == 0


def test_a_wrong_relay_password_keeps_every_mail_queued_and_pauses(
    app: Flask, relay: Relay, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    relay.password = "right"
    queue(app, *addresses(5))
    now = utcnow()
    with caplog.at_level(logging.ERROR, logger="widget.outbox"):
        report = deliver_due(db.sessionmaker(app), transport(relay, "u:wrong@"), at(now))
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    assert report.relay_refused is not None and "535" in report.relay_refused
    assert [(m.attempts, m.failed_at) for m in rows(session)] == [(0, None)] * 5
    first = rows(session)[0]
    assert first.next_attempt_at == now
    assert first.last_error.startswith("SMTPAuthenticationError: 535")
    [alert] = caplog.records
    assert alert.levelno == logging.ERROR
    assert "the relay refused us" in alert.getMessage()

    later = now + timedelta(minutes=1)
    report = deliver_due(db.sessionmaker(app), transport(relay, "u:right@"), at(later))
    assert report.sent == 5
    assert sorted(m["To"] for m in relay.received) == addresses(5)


def test_a_long_relay_outage_costs_no_message_its_attempts(
    app: Flask, relay: Relay, session: Session
) -> None:
    """Refusals of us back off the pass, not the message: once the relay takes us again, the
    first ordinary temporary error is the message's first failed attempt, not its last."""
    relay.password = "right"
    queue(app, "a@example.org")
    now = utcnow()
    for _pass in range(MAX_ATTEMPTS + 2):
        report = deliver_due(db.sessionmaker(app), transport(relay, "u:wrong@"), at(now))
        assert report.relay_refused is not None
        now += timedelta(hours=2)
    [message] = rows(session)
    assert (message.attempts, message.failed_at) == (0, None)

    relay.data_answers = ["451 4.3.0 Temporary local problem, try later"]
    report = deliver_due(db.sessionmaker(app), transport(relay, "u:right@"), at(now))
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    [message] = rows(session)
    assert (message.attempts, message.failed_at) == (1, None)
    assert message.next_attempt_at == now + timedelta(seconds=30)
    later = now + timedelta(minutes=1)
    assert deliver_due(db.sessionmaker(app), transport(relay, "u:right@"), at(later)).sent == 1
    assert [m["To"] for m in relay.received] == ["a@example.org"]


def test_a_relay_wide_554_to_mail_from_fails_nothing_even_after_many_tries(
    app: Flask, relay: Relay, session: Session
) -> None:
    relay.mail_answer = "554 5.7.1 Service unavailable; client host blocked"
    queue(app, *addresses(3))
    now = utcnow()
    for _pass in range(MAX_ATTEMPTS * 3 + 2):
        report = deliver_due(db.sessionmaker(app), transport(relay), at(now))
        assert (report.sent, report.failed) == (0, 0)
        now += timedelta(hours=2)
    assert all(m.failed_at is None and m.next_attempt_at is not None for m in rows(session))
    relay.mail_answer = None
    assert deliver_due(db.sessionmaker(app), transport(relay), at(now)).sent == 3
    assert len(relay.received) == 3


def test_a_relay_that_is_down_fails_nothing(app: Flask, session: Session) -> None:
    down = Relay()  # nothing listens on its port
    queue(app, *addresses(2))
    now = utcnow()
    for _pass in range(MAX_ATTEMPTS * 2 + 2):
        assert deliver_due(db.sessionmaker(app), transport(down), at(now)).failed == 0
        now += timedelta(hours=2)
    assert all(m.failed_at is None for m in rows(session))
    assert "ConnectionRefusedError" in rows(session)[0].last_error


@pytest.mark.parametrize("hangs_at", ["greeting", "ehlo"])
def test_a_relay_that_hangs_before_mail_from_is_a_refusal_of_us(
    app: Flask, relay: Relay, session: Session, hangs_at: str
) -> None:
    """A hung relay would hang for every message: the pass stops at the first one and no
    message loses an attempt, instead of each burning its tries on the deadline."""
    queue(app, *addresses(3))
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never says a word
        if hangs_at == "greeting":
            url = f"smtp://127.0.0.1:{silent.getsockname()[1]}?timeout=2"
            smtp = SmtpTransport(parse_mail_url(url), SENDER, deadline=1.0)
        else:
            relay.hang_at_ehlo = True
            smtp = transport(relay, deadline=1.0)
        report = deliver_due(db.sessionmaker(app), smtp)
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    assert report.relay_refused is not None
    assert report.relay_refused.startswith("no complete answer within 1 s")
    assert [(m.attempts, m.failed_at, m.claimed_until) for m in rows(session)] == [
        (0, None, None)
    ] * 3
    assert relay.received == []


def test_one_refused_recipient_fails_alone_and_its_address_is_not_kept(
    app: Flask, relay: Relay, session: Session
) -> None:
    relay.refused["gone@example.org"] = "550 5.1.1 <gone@example.org>: no such mailbox"
    queue(app, "a@example.org", "gone@example.org", "b@example.org")
    report = deliver_due(db.sessionmaker(app), transport(relay))
    assert (report.sent, report.retrying, report.failed, report.relay_refused) == (2, 0, 1, None)
    gone = rows(session)[1]
    assert gone.failed_at is not None
    assert gone.last_error == "recipient refused: 550 5.1.1 <[address]>: no such mailbox"
    assert sorted(m["To"] for m in relay.received) == ["a@example.org", "b@example.org"]


def test_control_characters_in_relay_replies_are_stored_as_spaces(
    app: Flask, relay: Relay, session: Session
) -> None:
    """PostgreSQL refuses a NUL in text: stored as it came, it would abort every pass."""
    relay.refused["gone@example.org"] = "550 5.1.1 no such\x00mailbox\x07\x1b"
    relay.data_answers = ["250 OK", "554 rejected:\x00\x7f\x9bspam"]
    queue(app, "gone@example.org", "a@example.org", "spam@example.org")
    report = deliver_due(db.sessionmaker(app), transport(relay))
    assert (report.sent, report.retrying, report.failed) == (1, 0, 2)
    gone, sent, spam = rows(session)
    assert gone.last_error == "recipient refused: 550 5.1.1 no such mailbox"
    assert spam.last_error == "message refused at DATA: 554 rejected: spam"
    assert sent.sent_at is not None
    assert [m["To"] for m in relay.received] == ["a@example.org"]


def test_relay_access_denied_at_rcpt_is_a_refusal_of_us(
    app: Flask, relay: Relay, session: Session
) -> None:
    relay.refused["a@example.org"] = "554 5.7.1 Relay access denied"
    queue(app, "a@example.org", "b@example.org")
    report = deliver_due(db.sessionmaker(app), transport(relay))
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    assert [m.failed_at for m in rows(session)] == [None, None]


@pytest.mark.parametrize(
    ("answer", "fails_that_mail"),
    [
        ("554 Transaction failed", True),
        ("550 5.0.0 Message rejected", True),
        ("552 5.3.4 Message too big for system", True),
        ("554 5.7.1 Sender address not authorised for this relay", False),
        ("451 4.7.1 Please try again later (rate limit)", False),
        ("421 4.3.2 Service shutting down", False),
    ],
)
def test_a_refusal_at_data_fails_that_mail_unless_it_is_about_us(
    app: Flask, relay: Relay, session: Session, answer: str, fails_that_mail: bool
) -> None:
    relay.data_answers = [answer]
    queue(app, "a@example.org", "b@example.org", "c@example.org")
    now = utcnow()
    report = deliver_due(db.sessionmaker(app), transport(relay), at(now))
    first = rows(session)[0]
    assert first.last_error == f"message refused at DATA: {answer}"
    if fails_that_mail:
        assert (report.sent, report.retrying, report.failed) == (2, 0, 1)
        assert report.relay_refused is None
        assert (first.attempts, first.next_attempt_at) == (1, None)
        assert first.failed_at == now
        assert sorted(m["To"] for m in relay.received) == ["b@example.org", "c@example.org"]
    else:
        assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
        assert report.relay_refused == f"message refused at DATA: {answer}"
        assert (first.attempts, first.failed_at, first.next_attempt_at) == (0, None, now)
        assert relay.received == []


@pytest.mark.parametrize("misbehaviour", ["quit-500", "drop-at-quit"])
def test_an_accepted_mail_is_sent_once_whatever_quit_does(
    app: Flask, relay: Relay, session: Session, misbehaviour: str
) -> None:
    relay.quit_answer = "500 5.5.1 What?" if misbehaviour == "quit-500" else None
    relay.drop_at_quit = misbehaviour == "drop-at-quit"
    queue(app, *addresses(20))
    assert deliver_due(db.sessionmaker(app), transport(relay)).sent == 20
    assert deliver_due(db.sessionmaker(app), transport(relay)).handled == 0
    assert sorted(m["To"] for m in relay.received) == sorted(addresses(20))
    assert all(m.sent_at is not None for m in rows(session))


def test_a_retried_message_keeps_its_message_id(app: Flask, relay: Relay, session: Session) -> None:
    relay.data_answers = ["451 4.3.0 Temporary local problem, try later"]
    queue(app, "a@example.org")
    now = utcnow()
    assert deliver_due(db.sessionmaker(app), transport(relay), at(now)).retrying == 1
    later = now + timedelta(minutes=1)
    assert deliver_due(db.sessionmaker(app), transport(relay), at(later)).sent == 1
    [message] = rows(session)
    expected = message_id_header(message, SENDER)
    assert relay.seen_message_ids == [expected, expected]
    assert [m["Message-ID"] for m in relay.received] == [expected]


def test_a_trickling_relay_holds_one_message_for_its_deadline_and_the_others_go(
    app: Flask, relay: Relay, session: Session
) -> None:
    relay.trickle_for = "slow@example.org"
    queue(app, "a@example.org", "slow@example.org", "b@example.org")
    now = utcnow()
    # 4 s: long enough for a good message on a loaded machine (1 s failed one in CI), far
    # short of the trickle's two minutes
    report = deliver_due(db.sessionmaker(app), transport(relay, deadline=4.0), at(now))
    assert (report.sent, report.retrying, report.failed) == (2, 1, 0)
    slow = rows(session)[1]
    assert slow.last_error.startswith("no complete answer within 4 s")
    assert (slow.failed_at, slow.next_attempt_at) == (None, now + timedelta(seconds=30))
    assert sorted(m["To"] for m in relay.received) == ["a@example.org", "b@example.org"]


def test_withdrawal_notices_leave_the_outbox_once_sent(
    app: Flask, relay: Relay, session: Session
) -> None:
    with db.sessionmaker(app)() as writer:
        enqueue(writer, Mail("gone@example.org", "Withdrawn", "t", "h", kind="withdrawn"), utcnow())
        enqueue(writer, Mail("a@example.org", "Confirm", "t", "h", kind="confirm"), utcnow())
        writer.commit()
    assert deliver_due(db.sessionmaker(app), transport(relay)).sent == 2
    assert [m["To"] for m in relay.received] == ["gone@example.org", "a@example.org"]
    assert [(m.kind, m.recipient) for m in rows(session)] == [("confirm", "a@example.org")]


def test_a_slow_batch_claims_each_message_with_a_fresh_lease(
    app: Flask, relay: Relay, session: Session
) -> None:
    """Each send takes four minutes (of a clock the test moves); a second sender starts while
    the first is on its second message: that message is still held, so nothing goes twice."""
    queue(app, *addresses(3))
    clock = [utcnow()]
    real = transport(relay)
    second_sender: list[Any] = []

    class Slow:
        def send(self, message: OutboxMessage) -> None:
            clock[0] += timedelta(minutes=4)
            if message.recipient == "p1@example.org":
                second_sender.append(deliver_due(db.sessionmaker(app), real, lambda: clock[0]))
            real.send(message)

    start = clock[0]
    first = deliver_due(db.sessionmaker(app), Slow(), lambda: clock[0])
    assert first.sent + second_sender[0].sent == 3
    assert sorted(m["To"] for m in relay.received) == addresses(3)
    sent_at = [m.sent_at for m in rows(session)]
    assert sent_at[0] == start + timedelta(minutes=4)
    assert all(at is not None and at > start for at in sent_at)
