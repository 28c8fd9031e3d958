"""Webhook endpoints: the organisation's (or a partner's) systems that hear of events, signed
as Standard Webhooks. Adding, pausing, rotating the secret and replaying failed deliveries live
here; what is queued is in ``widget.webhook_events``, how it goes out in
``widget.webhook_delivery``.

Every function takes a ``scope``: None for the organisation's staff and the CLI (every
endpoint), a partner's id for a partner account (only that partner's endpoints; anything else
is "no such endpoint", so ids of others' endpoints tell nothing).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook as Signer

from . import webhook_address
from .models import Audit, Partner, Webhook, WebhookDelivery, WebhookEvent
from .sealed_partners import WEBHOOK_REFUSED, partner_output_refused

#: the events an endpoint may ask for (``--event``); none asked means all of them
EVENT_TYPES = ("signature.verified", "signature.withdrawn", "campaign.closed")
SECRET_PREFIX = "whsec_"
#: random bytes in a secret (Standard Webhooks asks for 24 to 64)
SECRET_BYTES = 32
#: after a rotation the old secret keeps signing beside the new one this long, so a receiver
#: can switch over without losing a delivery
ROTATION_OVERLAP = timedelta(hours=24)
URL_LONGEST = 2000
#: batching bounds: at most this many events per delivery, and this long a wait
BATCH_MAX_LIMIT = 1000
#: a partner's endpoints delivering at once (paused ones do not count): every event goes to
#: each of them, so a partner account cannot multiply our deliveries without bound
MAX_PARTNER_ENDPOINTS = 5
BATCH_SECONDS_LIMIT = 3600
#: what a receiver gets as ``webhook-id``: unique per delivery, the same on its retries
MESSAGE_ID_PREFIX = "msg_"


class WebhookError(ValueError):
    """A value staff gave cannot be used; the message says what to give instead."""


class NoSuchWebhook(WebhookError):
    pass


def new_secret() -> str:
    """``whsec_`` and base64 of fresh random bytes, as Standard Webhooks libraries expect."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_url(url: str, *, allow_plain_http: bool, private_ok: bool = True) -> str:
    """An endpoint address we may POST supporters' data to: ``https://`` (``http://`` only to
    a loopback host, or anywhere in debug), ASCII (an IDN host in its ``xn--`` form), no
    user name or password in it (they would be shown on the staff page), no fragment.
    Without ``private_ok`` (a partner account's), a host that is plainly not public
    (``localhost``, a private address) is refused here; names are checked at delivery
    (``widget.webhook_address``)."""
    if not url:
        raise WebhookError("Give the endpoint's URL, e.g. https://crm.example.org/hooks.")
    if len(url) > URL_LONGEST:
        raise WebhookError(f"The URL is too long (at most {URL_LONGEST} characters).")
    if not url.isascii() or any(char <= " " or char == "\x7f" for char in url):
        raise WebhookError(
            "The URL must be plain ASCII without spaces (write a non-ASCII host in its xn-- form)."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookError("That is not a URL (check the host and port).") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError("The URL must start with https:// (or http:// for a local receiver).")
    if not parts.hostname or "\\" in url:
        raise WebhookError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookError("Leave the user name and password out of the URL.")
    if parts.fragment or url.endswith("#"):
        raise WebhookError("Leave the #fragment out of the URL.")
    if port == 0:
        raise WebhookError("That is not a URL (check the host and port).")
    if not private_ok and webhook_address.literal_private(parts.hostname):
        raise WebhookError("The URL must reach a public address on the internet.")
    if parts.scheme == "http" and not (allow_plain_http or is_loopback(parts.hostname)):
        raise WebhookError(
            "Use https:// so supporters' data is encrypted on the way "
            "(http:// only to a receiver on this machine)."
        )
    return url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(
            f"Unknown event type {unknown[0]!r}; the types are: {', '.join(EVENT_TYPES)}."
        )
    return sorted(set(events))


def check_batch(batch_max: int | None, batch_seconds: int | None) -> None:
    if (batch_max is None) != (batch_seconds is None):
        raise WebhookError("Batching needs both a maximum size and a longest wait, or neither.")
    if batch_max is not None and not 2 <= batch_max <= BATCH_MAX_LIMIT:
        raise WebhookError(f"A batch holds 2 to {BATCH_MAX_LIMIT} events.")
    if batch_seconds is not None and not 1 <= batch_seconds <= BATCH_SECONDS_LIMIT:
        raise WebhookError(f"A batch waits 1 to {BATCH_SECONDS_LIMIT} seconds.")


def add_webhook(
    session: Session,
    url: str,
    *,
    partner: str | None = None,
    events: Sequence[str] = (),
    batch_max: int | None = None,
    batch_seconds: int | None = None,
    allow_plain_http: bool = False,
    sealed: bool = False,
    partner_account: bool = False,
    actor: str,
    now: datetime,
) -> tuple[Webhook, str]:
    """Register an endpoint; returns it with its secret, which is shown this once (audited).
    In sealed mode (``sealed``) a partner's endpoint is refused (``widget.sealed_partners``);
    a partner account's (``partner_account``) never reaches a non-public address."""
    if partner_output_refused(sealed=sealed, partner=partner):
        raise WebhookError(WEBHOOK_REFUSED)
    check_url(url, allow_plain_http=allow_plain_http, private_ok=not partner_account)
    chosen = check_events(events)
    check_batch(batch_max, batch_seconds)
    partner_id = None
    if partner is not None:
        partner_id = session.scalar(select(Partner.id).where(Partner.slug == partner))
        if partner_id is None:
            raise WebhookError(f"No partner {partner!r}. Add it first with: partner add SLUG")
        check_room(session, partner_id)
    secret = new_secret()
    webhook = Webhook(
        url=url,
        partner_id=partner_id,
        events=chosen,
        secret=secret,
        batch_max=batch_max,
        batch_seconds=batch_seconds,
        created_at=now,
        created_by=actor,
        private_ok=not partner_account,
    )
    session.add(webhook)
    session.flush()
    _audit(session, "webhook-add", webhook, actor, now, events=chosen, partner=partner)
    session.commit()
    return webhook, secret


def check_room(session: Session, partner_id: int | None) -> None:
    """``WebhookError`` when the partner already has ``MAX_PARTNER_ENDPOINTS`` delivering."""
    if partner_id is None:
        return
    delivering = session.scalar(
        select(func.count())
        .select_from(Webhook)
        .where(Webhook.partner_id == partner_id, Webhook.paused_at.is_(None))
    )
    if (delivering or 0) >= MAX_PARTNER_ENDPOINTS:
        raise WebhookError(
            f"A partner has at most {MAX_PARTNER_ENDPOINTS} endpoints delivering at once: "
            "pause one first."
        )


def find_webhook(session: Session, webhook_id: int, scope: int | None) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or (scope is not None and webhook.partner_id != scope):
        raise NoSuchWebhook(f"No webhook {webhook_id}.")
    return webhook


def list_webhooks(session: Session, scope: int | None) -> list[Webhook]:
    query = select(Webhook).order_by(Webhook.id)
    if scope is not None:
        query = query.where(Webhook.partner_id == scope)
    return list(session.scalars(query))


def pause_webhook(
    session: Session, webhook_id: int, *, scope: int | None, actor: str, now: datetime
) -> Webhook:
    """Stop delivering; events keep being queued and go out, in order, once resumed."""
    webhook = find_webhook(session, webhook_id, scope)
    if webhook.paused_at is None:
        webhook.paused_at = now
        _audit(session, "webhook-pause", webhook, actor, now)
    session.commit()
    return webhook


def resume_webhook(
    session: Session, webhook_id: int, *, scope: int | None, actor: str, now: datetime
) -> Webhook:
    webhook = find_webhook(session, webhook_id, scope)
    if webhook.paused_at is not None:
        check_room(session, webhook.partner_id)
        webhook.paused_at = None
        _audit(session, "webhook-resume", webhook, actor, now)
    session.commit()
    return webhook


def rotate_secret(
    session: Session, webhook_id: int, *, scope: int | None, actor: str, now: datetime
) -> str:
    """A new secret, shown this once; the current one signs beside it for ``ROTATION_OVERLAP``
    (a second rotation within that time drops the oldest)."""
    webhook = find_webhook(session, webhook_id, scope)
    secret = new_secret()
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_until = now + ROTATION_OVERLAP
    webhook.secret = secret
    _audit(session, "webhook-rotate", webhook, actor, now)
    session.commit()
    return secret


def signing_secrets(webhook: Webhook, now: datetime) -> list[str]:
    """The secrets a delivery at ``now`` is signed with: the current one, and the previous one
    while its overlap lasts."""
    current = [webhook.secret]
    until = webhook.previous_secret_until
    if webhook.previous_secret and until is not None and now < until:
        current.append(webhook.previous_secret)
    return current


def signature_header(secrets_: Sequence[str], message_id: str, at: datetime, body: str) -> str:
    """``v1,<base64>`` per secret, space-separated (Standard Webhooks: a receiver accepts the
    delivery when any one of them matches its secret)."""
    return " ".join(Signer(secret).sign(message_id, at, body) for secret in secrets_)


def replay_failed(
    session: Session, ids: Sequence[int] | None, *, scope: int | None, actor: str, now: datetime
) -> list[int]:
    """Queue failed deliveries (``None``: every failed one in scope) to go again now, with the
    same ``webhook-id`` and body and a fresh set of attempts (audited). Returns their ids."""
    chosen = WebhookDelivery.failed_at.is_not(None)
    if ids is not None:
        chosen = WebhookDelivery.id.in_(list(ids))
    query = (
        update(WebhookDelivery)
        .where(chosen, WebhookDelivery.delivered_at.is_(None))
        .where(or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now))
        .values(failed_at=None, next_attempt_at=now, attempts=0)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    if scope is not None:
        query = query.where(
            WebhookDelivery.webhook_id.in_(select(Webhook.id).where(Webhook.partner_id == scope))
        )
    replayed = sorted(session.scalars(query))
    details: dict[str, object] = {"deliveries": len(replayed)}
    details |= {"all_failed": True} if ids is None else {"ids": replayed}
    session.add(Audit(at=now, actor=actor, action="webhook-replay", details=details))
    session.commit()
    return replayed


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    webhook_id: int
    message_id: str
    created_at: datetime
    attempts: int
    last_status: int | None
    last_error: str
    delivered_at: datetime | None
    failed_at: datetime | None
    events: int

    @property
    def state(self) -> str:
        if self.delivered_at:
            return "delivered"
        return "failed" if self.failed_at else "retrying" if self.attempts else "queued"


def recent_deliveries(session: Session, scope: int | None, limit: int = 50) -> list[DeliveryRow]:
    """The newest deliveries in scope, with how many events each carried (never their data)."""
    events = (
        select(func.count(WebhookEvent.id))
        .where(WebhookEvent.delivery_id == WebhookDelivery.id)
        .scalar_subquery()
    )
    query = select(
        WebhookDelivery.id,
        WebhookDelivery.webhook_id,
        WebhookDelivery.message_id,
        WebhookDelivery.created_at,
        WebhookDelivery.attempts,
        WebhookDelivery.last_status,
        WebhookDelivery.last_error,
        WebhookDelivery.delivered_at,
        WebhookDelivery.failed_at,
        events,
    ).order_by(WebhookDelivery.id.desc())
    if scope is not None:
        query = query.join(Webhook, Webhook.id == WebhookDelivery.webhook_id).where(
            Webhook.partner_id == scope
        )
    return [DeliveryRow(*row) for row in session.execute(query.limit(limit))]


def _audit(
    session: Session, action: str, webhook: Webhook, actor: str, now: datetime, **details: object
) -> None:
    """The audit names the endpoint, never a secret."""
    session.add(
        Audit(
            at=now,
            actor=actor,
            action=action,
            details={"webhook": webhook.id, "url": webhook.url, **details},
        )
    )
