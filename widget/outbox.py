"""Queued mail: stored with what caused it, delivered later over SMTP with retries.

A signature and its mail are written in one transaction, so an SMTP outage loses nothing; the
sender claims each message with an atomic update, so two senders never send the same one. No
single message, relay outage or database error stops the sender (see ``deliver_due``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Protocol

from sqlalchemy import Boolean, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .clock import utcnow
from .logs import summary
from .models import OutboxMessage, Signature

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
#: how long a sender may hold a message before another may take it over: a delivery's own
#: deadline (``SmtpTransport.deadline``, 1 min) plus the time a sender that got its mail
#: accepted keeps retrying to record that before anyone else may send it (a database outage);
#: a sender killed mid-send delays that one message this long
CLAIM_LEASE = timedelta(minutes=15)
#: after SMTP accepted a message, recording that is retried this often, at most this far apart
RECORD_RETRY_FIRST = 0.5
RECORD_RETRY_LONGEST = 30.0
#: mails that hold the address of someone who asked to be erased: deleted once sent
DELETED_WHEN_SENT = frozenset({"withdrawn"})

#: mails whose delivery marks their signature's ``mailed_at`` and whose bounce its
#: ``mail_bounced_at`` (the funnel; no reminder after a bounce)
BOUNCE_MARKED = frozenset({"confirm", "reminder"})

#: what a sent message keeps of its recipient and text in sealed mode
WIPED = {"recipient": "", "text_body": "", "html_body": ""}

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


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


class DeliveryFailure(Exception):
    """A delivery did not happen; ``reason`` is safe to store and show (no addresses)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = stored_text(reason)


class PermanentFailure(DeliveryFailure):
    """This message can never go (no such mailbox, cannot be composed): fail it now."""


class Bounced(PermanentFailure):
    """The receiving server refused this recipient for good (a 5xx at RCPT): the mail
    bounced, and the signature it was about is marked so (``BOUNCE_MARKED``)."""


class TemporaryFailure(DeliveryFailure):
    """This message did not go this time (mailbox busy, too slow): retry it, up to a limit."""


class RelayRefused(DeliveryFailure):
    """The relay refused *us* (authentication, connection, TLS, policy): no message is at
    fault, so none is given up; the sender pauses instead of burning the whole queue."""


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
    #: why the pass stopped early: the relay refused us (already logged as an error)
    relay_refused: str | None = None

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


def deliver_due(
    make_session: sessionmaker[Session],
    transport: Transport,
    clock: Clock = utcnow,
    limit: int = 100,
    sleep: Sleep = time.sleep,
    *,
    wipe_sent: bool = False,
) -> DeliveryReport:
    """Send the messages that are due, each claimed first with a lease from the clock's time
    *then*, so a slow batch never writes claims that are already over.

    A failing message is recorded and the pass goes on; a refusal of us stops the pass. Database
    errors before a send propagate (nothing was sent; ``sender.run`` backs off and retries);
    after SMTP accepted a message, recording it is retried until it lands, never released.

    ``wipe_sent`` (sealed mode): a sent message keeps its kind, times and Message-ID but no
    longer its recipient or text, so the address is in clear only until the mail is gone.
    """
    report = DeliveryReport()
    with make_session() as session:
        now = clock()
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.next_attempt_at <= now)
            .where(or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        ).all()
    for message_id in due:
        message = claim(make_session, OutboxMessage, message_id, clock())
        if message is None:
            continue
        try:
            transport.send(message)
        except RelayRefused as error:
            log.error("outbox: the relay refused us, pausing: %s", error.reason)
            _record_refusal(make_session, message, error.reason, clock())
            report.retrying += 1
            report.relay_refused = error.reason
            break
        except Exception as error:  # any single message, whatever went wrong, must not stop us
            gave_up = _fail(make_session, message, error, clock())
            if gave_up:
                report.failed += 1
            else:
                report.retrying += 1
        else:
            _record_sent(make_session, message, clock(), sleep, wipe=wipe_sent)
            report.sent += 1
    return report


def claim(make_session: sessionmaker[Session], model: Any, row_id: int, now: datetime) -> Any:
    """The row (a queued mail or a webhook delivery), loaded once this sender holds it until
    ``now + CLAIM_LEASE``; else None (not due, or another sender holds it)."""
    with make_session() as session:
        claimed = session.execute(
            update(model)
            .where(model.id == row_id)
            .where(model.next_attempt_at <= now)
            .where(or_(model.claimed_until.is_(None), model.claimed_until < now))
            .values(claimed_until=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(model, row_id, populate_existing=True)


def _fail(
    make_session: sessionmaker[Session], message: OutboxMessage, error: Exception, now: datetime
) -> bool:
    """Record a message-level failure; True when the message is given up."""
    reason = error_text(error)
    permanent = not isinstance(error, TemporaryFailure)
    gave_up = permanent or message.attempts + 1 >= MAX_ATTEMPTS
    log.warning(
        "outbox: message %s (%s) %s: %s",
        message.id,
        message.kind or "mail",
        "failed for good" if gave_up else "will be retried",
        type(error).__name__,
    )
    bounced = isinstance(error, Bounced) and message.kind in BOUNCE_MARKED
    _record_failure(make_session, message, reason, now, give_up=gave_up, bounced=bounced)
    return gave_up


def _record_failure(
    make_session: sessionmaker[Session],
    message: OutboxMessage,
    reason: str,
    now: datetime,
    *,
    give_up: bool,
    bounced: bool = False,
) -> None:
    """The failure on the message and, for a bounce, the mark on its signature, in one
    transaction (the first bounce's time is kept)."""
    with make_session() as session:
        values = failure_values(message.attempts + 1, reason, now, give_up)
        session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(values))
        if bounced and message.signature_id is not None:
            session.execute(
                update(Signature)
                .where(Signature.id == message.signature_id)
                .where(Signature.mail_bounced_at.is_(None))
                .values(mail_bounced_at=now)
                .execution_options(synchronize_session=False)
            )
        session.commit()


def failure_values(attempts: int, reason: str, now: datetime, give_up: bool) -> dict[str, Any]:
    """What a failed attempt (the ``attempts``-th) leaves on its row: released, and either
    given up or due again after ``retry_delay``."""
    values: dict[str, Any] = {"attempts": attempts, "last_error": reason, "claimed_until": None}
    if give_up:
        return values | {"failed_at": now, "next_attempt_at": None}
    return values | {"next_attempt_at": now + retry_delay(attempts)}


def error_text(error: Exception) -> str:
    """Why an attempt failed, as we store, log and show it."""
    if isinstance(error, DeliveryFailure):
        return error.reason
    return stored_text(f"{type(error).__name__}: {error}")


def _record_refusal(
    make_session: sessionmaker[Session], message: OutboxMessage, reason: str, now: datetime
) -> None:
    """The relay refused us, not this message: its attempts stay as they were (the pass backs
    off instead). It goes behind the messages due now, so a refusal that was about it after all
    cannot hold the others back."""
    _update(
        make_session,
        message.id,
        {"last_error": reason, "claimed_until": None, "next_attempt_at": now},
    )


def _update(make_session: sessionmaker[Session], message_id: int, values: dict[str, Any]) -> None:
    with make_session() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(values))
        session.commit()


def _record_sent(
    make_session: sessionmaker[Session],
    message: OutboxMessage,
    sent_at: datetime,
    sleep: Sleep,
    *,
    wipe: bool = False,
) -> None:
    """SMTP accepted it: record that, however long the database takes; this sender never
    releases it unrecorded, so it never sends it twice. Other senders stay off it for the
    rest of the claim (``CLAIM_LEASE``); after a longer outage one may send it again, with
    the same Message-ID, so receivers can drop the duplicate."""
    wait = RECORD_RETRY_FIRST
    while True:
        try:
            with make_session() as session:
                if message.kind in DELETED_WHEN_SENT:
                    statement: Any = delete(OutboxMessage)
                else:
                    statement = update(OutboxMessage).values(
                        sent_at=sent_at,
                        next_attempt_at=None,
                        claimed_until=None,
                        attempts=OutboxMessage.attempts + 1,
                        **(WIPED if wipe else {}),
                    )
                session.execute(statement.where(OutboxMessage.id == message.id))
                if message.kind in BOUNCE_MARKED and message.signature_id is not None:
                    session.execute(first_mailed(message.signature_id, sent_at))
                session.commit()
            return
        except SQLAlchemyError as error:
            log.error(
                "outbox: message %s was sent but recording it failed (%s); retrying in %.1f s",
                message.id,
                database_problem(error),
                wait,
            )
            sleep(wait)
            wait = min(wait * 2, RECORD_RETRY_LONGEST)


def first_mailed(signature_id: int, now: datetime) -> Any:
    """The funnel's "mail sent" mark on the signature, set by its first delivered mail."""
    return (
        update(Signature)
        .where(Signature.id == signature_id, Signature.mailed_at.is_(None))
        .values(mailed_at=now)
        .execution_options(synchronize_session=False)
    )


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... up to an hour: a short outage costs minutes, a long one no storm."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


def message_id_header(message: OutboxMessage, sender: str) -> str:
    """``<outbox.ID@sender-domain>``: the same for every attempt at one message."""
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return f"<outbox.{message.message_id or message.id}@{domain}>"


_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")


def without_addresses(text: str) -> str:
    """Servers echo the recipient in their replies; what we store and log must not hold it."""
    return _ADDRESS.sub("[address]", text)


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def stored_text(text: str) -> str:
    """A relay's reply as we store, log and show it: PostgreSQL refuses a NUL (which would abort
    every pass that meets the message) and a line break would forge log lines, so each run of
    control characters becomes one space; and no address."""
    return without_addresses(_CONTROLS.sub(" ", text)).strip()[:2000]


def database_problem(error: SQLAlchemyError) -> str:
    """What failed, told as every log line tells it (``logs.summary``): the driver's message
    can carry values (PostgreSQL quotes the input it refused), so it is never included."""
    return summary(error)
