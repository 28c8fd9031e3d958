"""SMTP delivery of one outbox message, telling whose fault a failure is, within a deadline.

A refusal of one recipient fails that message; a refusal of us (authentication, connection,
TLS, a relay that hangs before MAIL FROM, a policy or relay-wide 5xx) keeps every message
queued; once DATA is accepted the message is sent, whatever QUIT answers. The whole conversation
has a deadline, not each socket read, so a relay that trickles bytes holds one message for a
bounded time and never the queue.
"""

from __future__ import annotations

import http.client
import smtplib
import socket
import ssl
import threading
import time
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType

from .models import OutboxMessage
from .organisation import sender as sender_header
from .outbox import (
    Bounced,
    PermanentFailure,
    RelayRefused,
    TemporaryFailure,
    message_id_header,
)
from .settings import MailURL

#: the longest one delivery may take, connect to QUIT (well inside ``outbox.CLAIM_LEASE``)
DEFAULT_DEADLINE = 60.0
#: enhanced status classes (RFC 3463) that are about the recipient's mailbox or address
RECIPIENT_SUBJECTS = ("1", "2")
#: ... and about security or policy (our authentication, our address, our host): about us
POLICY_SUBJECT = "7"


class SmtpTransport:
    """Delivers over ``smtp://`` (optionally STARTTLS) or ``smtps://``, with auth if given;
    ``sender_name`` (the organisation) is the ``From`` display name."""

    def __init__(
        self,
        url: MailURL,
        sender: str,
        deadline: float = DEFAULT_DEADLINE,
        sender_name: str | None = None,
    ) -> None:
        self.url = url
        self.sender = sender
        self.sender_name = sender_name
        self.deadline = deadline

    def send(self, message: OutboxMessage) -> None:
        try:
            mail = self.compose(message)
        except Exception as error:  # a bad header or body can never be sent: say why, go on
            raise PermanentFailure(f"cannot compose the mail: {type(error).__name__}") from error
        with Deadline(self.deadline) as deadline:
            try:
                smtp = self._connect(deadline)
            except (smtplib.SMTPException, OSError) as error:
                # a relay that is down or hangs before MAIL FROM would hang for every message
                late = deadline.explain(error)
                raise (RelayRefused(late) if late else refusal_of_us(error)) from error
            try:
                smtp.send_message(mail)
            except (smtplib.SMTPException, OSError) as error:
                late = deadline.explain(error)
                raise (TemporaryFailure(late) if late else classify(error)) from error
            finally:
                close_quietly(smtp)

    def compose(self, message: OutboxMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = sender_header(self.sender, self.sender_name)
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(message.created_at.replace(tzinfo=UTC), usegmt=True)
        mail["Message-ID"] = message_id_header(message, self.sender)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text_body)
        mail.add_alternative(message.html_body, subtype="html")
        return mail

    def _connect(self, deadline: Deadline) -> smtplib.SMTP:
        url = self.url
        timeout = min(url.timeout, self.deadline)
        smtp: smtplib.SMTP
        if url.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(timeout=timeout)
        deadline.watch(smtp)
        try:
            smtp.connect(url.host, url.port)
            # EHLO here, not inside ``send_message``: its trouble is the relay's, not a message's
            smtp.ehlo_or_helo_if_needed()
            if url.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo_or_helo_if_needed()
            if url.username:
                smtp.login(url.username, url.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


class Deadline:
    """Shuts the connection's socket down when the time is up, so a blocked read returns.

    ``smtplib`` and ``http.client`` (webhooks) have only a per-read timeout. The socket is
    shut down through a duplicate of its descriptor (``shutdown`` acts on the connection),
    which works alike for plain and TLS sockets without touching the ``ssl`` module's
    internals.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._started = 0.0
        self._connection: smtplib.SMTP | http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._started = time.monotonic()
        self._timer.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self._timer.cancel()
            self._connection = None

    def watch(self, connection: smtplib.SMTP | http.client.HTTPConnection) -> None:
        with self._lock:
            self._connection = connection

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            # neither documents an accessor for its socket; both set ``sock`` from connect on
            connection = self._connection
            sock = getattr(connection, "sock", None) if connection else None
            if sock is None:
                return
            try:
                with socket.socket(fileno=socket.dup(sock.fileno())) as duplicate:
                    duplicate.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing to interrupt

    def explain(self, error: BaseException) -> str | None:
        """What went wrong, if it was our deadline (the caller knows whose fault that is): the
        timer shut the socket, or a per-read timeout no longer than the deadline met it first
        (both run out together when the relay's own timeout is the longer)."""
        if not self.expired and time.monotonic() - self._started < self.seconds:
            return None
        return f"no complete answer within {self.seconds:g} s ({error!r})"


def refusal_of_us(error: BaseException) -> RelayRefused:
    """Anything before MAIL FROM (connect, greeting, TLS, AUTH) is about us, not the message."""
    if isinstance(error, smtplib.SMTPResponseException):
        return RelayRefused(f"{type(error).__name__}: {error.smtp_code} {_text(error.smtp_error)}")
    return RelayRefused(f"{type(error).__name__}: {error}")


def classify(error: BaseException) -> Exception:
    """A failure from MAIL FROM to the end of DATA, sorted by whose fault it is."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        # one recipient per message, so this is about that one recipient's answer
        [(code, reply)] = error.recipients.values() or [(550, b"")]
        return _recipient_answer(code, reply)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return PermanentFailure(f"the relay cannot carry this message: {error}")
    if isinstance(error, smtplib.SMTPDataError):
        return _data_answer(error.smtp_code, error.smtp_error)
    return refusal_of_us(error)


def _data_answer(code: int, reply: bytes | str) -> Exception:
    """A refusal at DATA, after the relay accepted the recipient, is about this message (its
    content, size, or what the mailbox makes of it): 5xx fails it, 4xx retries it. A 5.7.x or
    4.7.x status (security or policy: our authentication, address or host) and 421 (the relay
    closing) are about us. So a plain 554 never pauses the sender each time one message is due."""
    text = f"message refused at DATA: {code} {_text(reply)}"
    if _subject(reply) == POLICY_SUBJECT or code == 421:
        return RelayRefused(text)
    return PermanentFailure(text) if code >= 500 else TemporaryFailure(text)


def _recipient_answer(code: int, reply: bytes) -> Exception:
    """550/551/552/553 (or a 5.1.x/5.2.x status) to RCPT is about the mailbox: the message
    bounced (failed for good); 4xx of that kind is retried; other refusals at RCPT (relay
    denied, 5.7.x) are about us."""
    subject = _subject(reply)
    text = f"recipient refused: {code} {_text(reply)}"
    about_mailbox = subject in RECIPIENT_SUBJECTS or (subject is None and code in range(550, 554))
    if not about_mailbox and not (subject is None and code in (450, 451, 452)):
        return RelayRefused(text)
    return Bounced(text) if code >= 500 else TemporaryFailure(text)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _subject(reply: bytes | str) -> str | None:
    """The subject digit of an RFC 3463 status at the start of a reply (``5.1.1`` -> ``1``)."""
    parts = _text(reply).split(" ", 1)[0].split(".")
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        return parts[1]
    return None


def close_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT politely; once DATA was accepted, what QUIT answers (or a dropped line) changes
    nothing about the message, so no error from here may count as a failure."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()
