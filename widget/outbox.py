"""Queued mail: stored with what caused it, delivered later over SMTP with retries.

A signature and its mail are written in one transaction, so an SMTP outage loses nothing; the
sender claims each message with an atomic update, so two senders never send the same one.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from sqlalchemy import Boolean, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from .models import OutboxMessage
from .settings import MailURL

MAX_ATTEMPTS = 12
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
#: how long a sender may hold a message before another may take it over
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Mail:
    recipient: str
    subject: str
    text: str
    html: str
    #: which mail it is: ``confirm``, ``already_signed``, ``withdrawn``, ...
    kind: str = ""
    #: the signature it is about, so its mails can go when the signature does
    signature_id: int | None = None


class PermanentFailure(Exception):
    """The server refused the message for good (e.g. no such mailbox): do not retry."""


class Transport(Protocol):
    def send(self, message: OutboxMessage) -> None: ...


#: the columns ``enqueue`` writes, as an ``INSERT … SELECT`` of parameters
_QUEUED = (
    "recipient",
    "subject",
    "text_body",
    "html_body",
    "message_id",
    "kind",
    "signature_id",
    "created_at",
    "next_attempt_at",
    "attempts",
    "last_error",
)
_OUTBOX = OutboxMessage.__table__
ENQUEUE = insert(_OUTBOX).from_select(
    _QUEUED,
    select(*(bindparam(name, type_=_OUTBOX.c[name].type) for name in _QUEUED)).where(
        bindparam("store", type_=Boolean())
    ),
)


def enqueue(session: Session, mail: Mail, now: datetime, *, store: bool = True) -> None:
    """Queue ``mail``; it is sent once the caller's transaction commits. Its Message-ID is fixed
    here (unique even when SQLite ids were reused), so every attempt carries the same one.

    ``store=False`` runs the very same statement and keeps nothing: the sign path uses it for
    a mail it will not send, so that no state of an address costs less time than another."""
    session.execute(
        ENQUEUE,
        {
            "store": store,
            "recipient": mail.recipient,
            "subject": mail.subject,
            "text_body": mail.text,
            "html_body": mail.html,
            "message_id": uuid.uuid4().hex,
            "kind": mail.kind,
            "signature_id": mail.signature_id,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
            "last_error": "",
        },
    )


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


def deliver_due(
    make_session: sessionmaker[Session], transport: Transport, now: datetime, limit: int = 100
) -> DeliveryReport:
    """Send the messages that are due; each one is claimed first, so senders never overlap."""
    report = DeliveryReport()
    with make_session() as session:
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.next_attempt_at <= now)
            .where(or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        ).all()
        for message_id in due:
            if not _claim(session, message_id, now):
                continue
            message = session.get_one(OutboxMessage, message_id, populate_existing=True)
            try:
                transport.send(message)
            except (PermanentFailure, smtplib.SMTPException, OSError) as error:
                permanent = isinstance(error, PermanentFailure)
                _record_failure(message, error, now, permanent=permanent)
                if message.failed_at is None:
                    report.retrying += 1
                else:
                    report.failed += 1
            else:
                message.sent_at = now
                message.next_attempt_at = None
                message.attempts += 1
                report.sent += 1
            message.claimed_until = None
            session.commit()
    return report


def _claim(session: Session, message_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .where(OutboxMessage.next_attempt_at <= now)
        .where(or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
        .values(claimed_until=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined]


def _record_failure(
    message: OutboxMessage, error: Exception, now: datetime, *, permanent: bool
) -> None:
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:2000]
    if permanent or message.attempts >= MAX_ATTEMPTS:
        message.failed_at = now
        message.next_attempt_at = None
    else:
        message.next_attempt_at = now + retry_delay(message.attempts)


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... up to an hour: a short outage costs minutes, a long one no storm."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


def message_id_header(message: OutboxMessage, sender: str) -> str:
    """``<outbox.ID@sender-domain>``: the same for every attempt at one message."""
    domain = sender.rpartition("@")[2]
    return f"<outbox.{message.message_id or message.id}@{domain}>"


class SmtpTransport:
    """Delivers over ``smtp://`` (optionally STARTTLS) or ``smtps://``, with auth if given."""

    def __init__(self, url: MailURL, sender: str) -> None:
        self.url = url
        self.sender = sender

    def send(self, message: OutboxMessage) -> None:
        mail = self.compose(message)
        try:
            with self._connect() as smtp:
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentFailure(str(error.recipients)) from error
        except smtplib.SMTPResponseException as error:
            if 500 <= error.smtp_code < 600:
                raise PermanentFailure(f"{error.smtp_code} {error.smtp_error!r}") from error
            raise

    def compose(self, message: OutboxMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(message.created_at.replace(tzinfo=UTC), usegmt=True)
        mail["Message-ID"] = message_id_header(message, self.sender)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text_body)
        mail.add_alternative(message.html_body, subtype="html")
        return mail

    def _connect(self) -> smtplib.SMTP:
        url = self.url
        smtp: smtplib.SMTP
        if url.scheme == "smtps":
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(url.host, url.port, timeout=url.timeout, context=context)
        else:
            smtp = smtplib.SMTP(url.host, url.port, timeout=url.timeout)
            if url.starttls:
                smtp.starttls(context=ssl.create_default_context())
        if url.username:
            smtp.login(url.username, url.password or "")
        return smtp
