"""Webhook deliveries: events put into POSTs (one each, or batches) and sent by ``outbox work``.

Design: mail and webhooks never wait for each other. ``outbox work`` runs the mail loop
(``sender.run``) in its main thread and a webhook dispatcher in another; the dispatcher hands
each endpoint that has work to a pool of threads, at most one task per endpoint at a time. So
one endpoint's deliveries go in order (the oldest undelivered one first; a later one waits
while it is retried), while different endpoints go in parallel, and a slow or hanging receiver
holds only its own thread, for at most ``TIMEOUT`` per attempt (a deadline on the whole
attempt, not per socket read: a receiver that drips bytes is cut off too).

Retries use the mail's rules (``outbox.retry_delay``, ``outbox.claim`` with its lease,
``outbox.error_text``), with the same ``webhook-id`` and body every time, and give up after
``MAX_ATTEMPTS`` (about 13 hours); staff see it failed and may replay it. Answers: 2xx is
delivered; 410 Gone pauses the endpoint (nothing is lost; resume it when it is back);
anything else (another status, a redirect, which is never followed, no answer in time) is
retried. A delivered body is emptied, so supporters' data does not stay in our tables. If
recording a delivery fails (a database outage), the claim keeps other workers off it for
``outbox.CLAIM_LEASE``; then it is sent again with the same ``webhook-id``, which the
receiver drops as a duplicate.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from . import webhook_address, webhook_events
from .clock import iso, utcnow
from .logs import describe
from .models import Partner, Signature, Webhook, WebhookDelivery, WebhookEvent
from .outbox import (
    Clock,
    TemporaryFailure,
    claim,
    database_problem,
    error_text,
    failure_values,
    stored_text,
)
from .relay import Deadline
from .webhook_address import UNREACHABLE
from .webhooks import MESSAGE_ID_PREFIX, signature_header, signing_secrets

log = logging.getLogger(__name__)

#: the longest one attempt may take, connect to the last byte of the answer
TIMEOUT = 10.0
MAX_ATTEMPTS = 20
#: endpoints delivered to at the same time
WORKERS = 8
#: events per delivery when not batching are 1; per pass, at most this many new deliveries
DELIVERIES_PER_PASS = 100
USER_AGENT = "action-widget-webhooks"


class Transport(Protocol):
    def post(self, url: str, headers: dict[str, str], body: str, *, private_ok: bool) -> int: ...


#: seconds after the attempt's deadline at which the socket's own timeout would stop a read
BACKSTOP = 2.0


class _Pinned(http.client.HTTPConnection):
    """Connects to an address already resolved and checked (``webhook_address``), within
    what is left of the attempt's time; the Host header stays the URL's."""

    def __init__(self, host: str, port: int | None, address: str, connect_within: float) -> None:
        super().__init__(host, port, timeout=connect_within)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        # From here the attempt's ``Deadline`` cuts a slow answer; the socket's own timeout
        # stays only as a backstop a little later, so the deadline is what the record says.
        self.sock.settimeout(self.timeout + BACKSTOP)


class _PinnedTLS(_Pinned):
    default_port = http.client.HTTPS_PORT
    context = ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)


class HttpTransport:
    """One POST; returns the status code. Trouble on the way raises ``TemporaryFailure``.
    ``allow_private`` is ``WIDGET_WEBHOOK_ALLOW_PRIVATE``: only then may an endpoint the
    organisation added (``private_ok``) reach a non-public address."""

    def __init__(self, timeout: float = TIMEOUT, *, allow_private: bool = False) -> None:
        self.timeout = timeout
        self.allow_private = allow_private

    def post(self, url: str, headers: dict[str, str], body: str, *, private_ok: bool) -> int:
        parts = urlsplit(url)
        kind = _PinnedTLS if parts.scheme == "https" else _Pinned
        port = parts.port or kind.default_port
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        started = time.monotonic()
        with Deadline(self.timeout) as deadline:
            try:
                addresses = webhook_address.resolve(
                    parts.hostname or "", port, private_ok=private_ok and self.allow_private
                )
                left = self.timeout - (time.monotonic() - started)
                if left <= 0:
                    raise TimeoutError("timed out")
                # the first checked address only: another would need time the attempt lacks
                connection = kind(parts.hostname or "", port, addresses[0], left)
            except OSError as error:
                raise TemporaryFailure(deadline.explain(error) or UNREACHABLE) from error
            deadline.watch(connection)
            try:
                connection.request("POST", path, body=body.encode(), headers=headers)
                response = connection.getresponse()
                response.read(64 * 1024)
                return response.status
            except ConnectionRefusedError as error:
                raise TemporaryFailure(UNREACHABLE) from error
            except (OSError, http.client.HTTPException) as error:
                late = deadline.explain(error)
                raise TemporaryFailure(late or f"{type(error).__name__}: {error}") from error
            finally:
                connection.close()


@dataclass
class WebhookReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, other: WebhookReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.failed += other.failed

    @property
    def handled(self) -> int:
        return self.delivered + self.retrying + self.failed


def endpoints_with_work(session: Session, now: datetime) -> list[int]:
    """Endpoints not paused, nor of a partner switched off, with events waiting for a
    delivery, or a delivery due."""
    waiting = select(WebhookEvent.webhook_id).where(WebhookEvent.delivery_id.is_(None))
    due = select(WebhookDelivery.webhook_id).where(
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
    )
    return list(
        session.scalars(
            select(Webhook.id)
            .where(Webhook.paused_at.is_(None), webhook_events.switched_on())
            .where(or_(Webhook.id.in_(waiting), Webhook.id.in_(due)))
            .order_by(Webhook.id)
        )
    )


def make_deliveries(session: Session, webhook: Webhook, now: datetime) -> int:
    """Put waiting events into deliveries, oldest first: one event each, or (batching) up to
    ``batch_max`` once that many wait or the oldest has waited ``batch_seconds``. The body and
    its membership are fixed here. The caller commits. Returns how many were made."""
    size = webhook.batch_max or 1
    made = 0
    while made < DELIVERIES_PER_PASS:
        rows = session.execute(
            select(WebhookEvent, Partner.slug)
            .outerjoin(Signature, Signature.id == WebhookEvent.signature_id)
            .outerjoin(Partner, Partner.id == Signature.partner_id)
            .where(WebhookEvent.webhook_id == webhook.id, WebhookEvent.delivery_id.is_(None))
            .order_by(WebhookEvent.id)
            .limit(size)
        ).all()
        if not rows:
            break
        waited = now - rows[0][0].created_at
        if len(rows) < size and waited < timedelta(seconds=webhook.batch_seconds or 0):
            break  # a batch that is neither full nor old enough waits for more
        events = [_event(event, slug) for event, slug in rows]
        body = events[0] if not webhook.batch_max else batch(events, now)
        delivery = WebhookDelivery(
            webhook_id=webhook.id,
            message_id=MESSAGE_ID_PREFIX + uuid.uuid4().hex,
            body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
            last_error="",
        )
        session.add(delivery)
        session.flush()
        ids = [event.id for event, _slug in rows]
        taken = session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(ids), WebhookEvent.delivery_id.is_(None))
            .values(delivery_id=delivery.id)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != len(ids):  # type: ignore[attr-defined]
            session.rollback()  # another worker took some of them first
            return made
        made += 1
    return made


def _event(event: WebhookEvent, partner: str | None) -> dict[str, Any]:
    """``{"type", "timestamp", "data"}``: the time is the event's own."""
    data = dict(event.payload)
    if event.type == webhook_events.VERIFIED:
        data["partner"] = partner
    return {"type": event.type, "timestamp": iso(event.created_at), "data": data}


def batch(events: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """A batching endpoint's body: the events, oldest first, each as it would come alone."""
    return {"type": "batch", "timestamp": iso(now), "data": events}


def deliver_endpoint(
    make_session: sessionmaker[Session], transport: Transport, webhook_id: int, clock: Clock
) -> WebhookReport:
    """Make the endpoint's deliveries, then send them in order until one fails or none is
    due."""
    report = WebhookReport()
    with make_session() as session:
        webhook = session.get(Webhook, webhook_id)
        if webhook is None or webhook.paused_at is not None:
            return report
        make_deliveries(session, webhook, clock())
        session.commit()
    while True:
        with make_session() as session:
            head = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .where(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.failed_at.is_(None))
                .order_by(WebhookDelivery.id)
                .limit(1)
            ).first()
            if head is None or head.next_attempt_at is None or head.next_attempt_at > clock():
                return report
        delivery = claim(make_session, WebhookDelivery, head.id, clock())
        if delivery is None:
            return report
        outcome = attempt(make_session, transport, delivery, clock())
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome != "delivered":
            return report


def attempt(
    make_session: sessionmaker[Session],
    transport: Transport,
    delivery: WebhookDelivery,
    now: datetime,
) -> str:
    """POST it once, signed at ``now``; record the outcome: delivered, retrying or failed."""
    with make_session() as session:
        webhook = session.get_one(Webhook, delivery.webhook_id)
        url, secrets_ = webhook.url, signing_secrets(webhook, now)
        private_ok = webhook.private_ok
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.replace(tzinfo=UTC).timestamp())),
        "webhook-signature": signature_header(secrets_, delivery.message_id, now, delivery.body),
    }
    status = None
    try:
        status = transport.post(url, headers, delivery.body, private_ok=private_ok)
        if not 200 <= status < 300:
            raise TemporaryFailure(f"the receiver answered {status}")
    except Exception as error:  # whatever went wrong with this one, the others go on
        return _record_failure(make_session, delivery, status, error, now)
    with make_session() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(
                delivered_at=now,
                next_attempt_at=None,
                claimed_until=None,
                attempts=delivery.attempts + 1,
                last_status=status,
                last_error="",
                body="",
            )
        )
        session.execute(
            update(WebhookEvent).where(WebhookEvent.delivery_id == delivery.id).values(payload={})
        )
        session.commit()
    return "delivered"


def _record_failure(
    make_session: sessionmaker[Session],
    delivery: WebhookDelivery,
    status: int | None,
    error: Exception,
    now: datetime,
) -> str:
    attempts = delivery.attempts + 1
    reason = stored_text(error_text(error))
    with make_session() as session:
        if status == 410:
            # the receiver says the endpoint is gone: pause it rather than burn the retries
            session.execute(
                update(Webhook).where(Webhook.id == delivery.webhook_id).values(paused_at=now)
            )
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_error": "the receiver answered 410 Gone: the endpoint was paused",
                "claimed_until": None,
                "next_attempt_at": now,
            }
            gave_up = False
        else:
            gave_up = attempts >= MAX_ATTEMPTS
            values = failure_values(attempts, reason, now, gave_up)
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(values | {"last_status": status})
        )
        session.commit()
    log.warning(
        "webhooks: delivery %s to endpoint %s %s (%s)",
        delivery.id,
        delivery.webhook_id,
        "failed for good" if gave_up else "will be retried",
        status or type(error).__name__,
    )
    return "failed" if gave_up else "retrying"


class Dispatcher:
    """Hands endpoints with work to a pool, at most one task per endpoint at a time."""

    def __init__(
        self,
        make_session: sessionmaker[Session],
        transport: Transport,
        clock: Clock = utcnow,
        workers: int = WORKERS,
    ) -> None:
        self.make_session = make_session
        self.transport = transport
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self.running: dict[int, Future[WebhookReport]] = {}
        self.lock = threading.Lock()

    def dispatch(self) -> list[Future[WebhookReport]]:
        """Start work for every endpoint that has some and is not being worked on."""
        with self.make_session() as session:
            webhook_events.announce_deadlines(session, self.clock())
            endpoints = endpoints_with_work(session, self.clock())
        started = []
        with self.lock:
            self.running = {key: job for key, job in self.running.items() if not job.done()}
            for webhook_id in endpoints:
                if webhook_id not in self.running:
                    job = self.pool.submit(self._deliver, webhook_id)
                    self.running[webhook_id] = job
                    started.append(job)
        return started

    def _deliver(self, webhook_id: int) -> WebhookReport:
        try:
            return deliver_endpoint(self.make_session, self.transport, webhook_id, self.clock)
        except SQLAlchemyError as error:
            log.error(
                "webhooks: database error for endpoint %s: %s", webhook_id, database_problem(error)
            )
        except Exception as error:  # a bug must not end this endpoint's deliveries for good
            log.error("webhooks: endpoint %s failed, retrying:\n%s", webhook_id, describe(error))
        return WebhookReport()

    def run_once(self) -> WebhookReport:
        """One pass over every endpoint, waiting for all of them (``outbox work --once``)."""
        report = WebhookReport()
        for job in self.dispatch():
            report.add(job.result())
        return report

    def run(
        self,
        *,
        interval: float,
        keep_going: Callable[[], bool],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Dispatch every ``interval`` until ``keep_going()`` is false; outlives database
        outages (logged, retried)."""
        while keep_going():
            try:
                self.dispatch()
            except SQLAlchemyError as error:
                log.error("webhooks: database error, retrying: %s", database_problem(error))
            except Exception as error:  # the thread beside the mail sender must not die quietly
                log.error("webhooks: dispatch failed, retrying:\n%s", describe(error))
            sleep(interval)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
