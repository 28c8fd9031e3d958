"""The events webhooks carry, each stored for each endpoint in the transaction that causes it
(a confirmation, a withdrawal, a closing), so an endpoint that is down loses nothing.

Who hears of a supporter: every organisation endpoint (``partner_id`` NULL), and the endpoint
of the partner the signature was credited to only when the supporter ticked that partner's
box (``partner_opt_in``) and the signature is not sealed. Each event is one ``INSERT …
SELECT`` over the endpoints that want its type, whatever their number: the confirmation costs
one statement more, not one per endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Executable,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from .clock import iso
from .models import Campaign, Partner, Signature, Webhook, WebhookDelivery, WebhookEvent
from .offline import count_fields
from .sealing import personal_fields

VERIFIED = "signature.verified"
WITHDRAWN = "signature.withdrawn"
CLOSED = "campaign.closed"

#: the columns an event row is written with, from the endpoint rows that want it
_COLUMNS = ["webhook_id", "type", "payload", "signature_id", "created_at"]
_VALUES = (
    Webhook.id,
    bindparam("type", type_=String()),
    case(
        (Webhook.partner_id.is_(None), bindparam("org_data", type_=JSON())),
        else_=bindparam("partner_data", type_=JSON()),
    ),
    bindparam("signature_id", type_=Integer()),
    bindparam("now", type_=DateTime()),
)


def wants(event_type: str) -> ColumnElement[bool]:
    """The endpoint asked for this type, or for all (``[]``). ``events`` is a JSON list of
    known type names (``webhooks.check_events``): its text is matched, alike on both
    databases."""
    events = cast(Webhook.events, Text)
    return or_(events == "[]", events.like(f'%"{event_type}"%'))


def switched_on() -> ColumnElement[bool]:
    """The organisation's endpoints, and those of partners not switched off (``partner
    --inactive``): a partner switched off hears of nothing, whatever the event."""
    active = select(Partner.id).where(Partner.active.is_(True))
    return or_(Webhook.partner_id.is_(None), Webhook.partner_id.in_(active))


def audience(signature: Signature) -> int | None:
    """The partner whose endpoints may hear of this supporter beside the organisation's, if
    any. A sealed signature reaches no partner's endpoint (``widget.sealed_partners``):
    neither its verification nor, since the partner never heard of it, its withdrawal."""
    if signature.partner_id is not None and signature.partner_opt_in and not signature.sealed:
        return signature.partner_id
    return None


def queue_verified(session: Session, signature: Signature, now: datetime, *, opt_in: bool) -> None:
    """``signature.verified`` for every endpoint that may hear of it; the caller commits.

    The partner's slug is added when the delivery is composed (``webhook_delivery``), so the
    confirmation needs no query for it."""
    common = {
        "id": signature.id,
        "campaign": signature.campaign.slug,
        **personal_fields(signature),
        "country": signature.country,
        "actions": list(signature.actions or []),
        "language": signature.language,
        "created_at": iso(signature.created_at),
        "verified_at": iso(now),
    }
    organisation = common | {"opt_in": opt_in}
    partner = common | {
        "partner_opt_in": True,
        "partner_consent_version": signature.partner_consent_version,
    }
    _queue(session, VERIFIED, organisation, partner, signature.id, now, audience(signature))


def queue_withdrawn(
    session: Session, signature: Signature, now: datetime, *, reason: str = "withdrawn"
) -> None:
    """``signature.withdrawn`` (only what finds the earlier record, and ``reason``: "withdrawn"
    by the supporter or on request, "invalidated" by staff as abuse) for every endpoint that
    heard, or would have heard, of the verification; and the supporter's data leaves every
    delivery not yet made. Called before the personal fields are wiped; the caller commits."""
    forget_undelivered(session, signature.id)
    if signature.verified_at is None:
        return
    data = {
        "id": signature.id,
        "campaign": signature.campaign.slug,
        "withdrawn_at": iso(now),
        "reason": reason,
    }
    # no signature_id: it carries nothing personal, and must outlive the signature's data
    _queue(session, WITHDRAWN, data, data, None, now, audience(signature))


def forget_undelivered(session: Session, signature_id: int) -> None:
    """Remove the signature's events from everything not yet delivered. A delivery that
    carried it (a batch, failing or failed) is dropped and its other events go back to wait
    for a new one: the receiver gets them under a new ``webhook-id``, without this person."""
    carrying = (
        select(WebhookEvent.delivery_id)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookEvent.delivery_id)
        .where(WebhookEvent.signature_id == signature_id)
        .where(WebhookDelivery.delivered_at.is_(None))
    )
    deliveries = list(session.scalars(carrying.distinct()))
    if deliveries:
        others = or_(WebhookEvent.signature_id.is_(None), WebhookEvent.signature_id != signature_id)
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.delivery_id.in_(deliveries), others)
            .values(delivery_id=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(WebhookEvent)
            .where(WebhookEvent.delivery_id.in_(deliveries))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(WebhookDelivery)
            .where(WebhookDelivery.id.in_(deliveries))
            .execution_options(synchronize_session=False)
        )
    session.execute(
        delete(WebhookEvent)
        .where(WebhookEvent.signature_id == signature_id, WebhookEvent.delivery_id.is_(None))
        .execution_options(synchronize_session=False)
    )


def _closing_unannounced(now: datetime) -> ColumnElement[bool]:
    """Closed by ``now`` and not announced since it last closed (a reopened campaign that
    closes again is announced again)."""
    announced = Campaign.closed_announced_at
    return and_(
        Campaign.closes_at <= now,
        or_(announced.is_(None), announced < Campaign.closes_at),
    )


def announce_closed(session: Session, campaign: Campaign, now: datetime) -> bool:
    """``campaign.closed`` with the final counts, once per closing: a conditional update marks
    it, so staff closing it and ``outbox work`` noticing its deadline announce it once.
    The caller commits. True when this call announced it."""
    marked = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, _closing_unannounced(now))
        .values(closed_announced_at=now)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        return False
    data = {
        "campaign": campaign.slug,
        **count_fields(session, campaign),
        "closed_at": iso(campaign.closes_at),
    }
    _queue(session, CLOSED, data, data, None, now, EVERYONE)
    return True


def announce_deadlines(session: Session, now: datetime) -> int:
    """Announce every campaign whose deadline passed unannounced (run by ``outbox work``)."""
    due = list(session.scalars(select(Campaign).where(_closing_unannounced(now))))
    announced = sum(announce_closed(session, campaign, now) for campaign in due)
    session.commit()
    return announced


#: ``_queue``'s audience for an event every endpoint may hear of (a campaign's closing)
EVERYONE = "everyone"
#: by event type and kind of audience: None, "partner" or ``EVERYONE``
_QUEUES: dict[tuple[str, str | None], Executable] = {}


def _queue(
    session: Session,
    event_type: str,
    organisation: dict[str, Any],
    partner: dict[str, Any],
    signature_id: int | None,
    now: datetime,
    heard_by: int | str | None,
) -> None:
    """The event for every endpoint that wants its type among those that may hear of it:
    the organisation's and partner ``heard_by``'s (an id), the organisation's only (None), or
    all (``EVERYONE``)."""
    session.execute(
        _queue_statement(event_type, heard_by),
        {
            "type": event_type,
            "org_data": organisation,
            "partner_data": partner,
            "signature_id": signature_id,
            "now": now,
            "partner_id": heard_by if isinstance(heard_by, int) else None,
        },
    )


def _queue_statement(event_type: str, heard_by: int | str | None) -> Executable:
    """Built once per event type and kind of audience (building it was a twentieth of a
    confirmation); the partner's id is a parameter."""
    kind = "partner" if isinstance(heard_by, int) else heard_by
    if (event_type, kind) not in _QUEUES:
        organisation = Webhook.partner_id.is_(None)
        partners = Webhook.partner_id == bindparam("partner_id", type_=Integer())
        endpoints = {None: organisation, "partner": or_(organisation, partners), EVERYONE: true()}
        wanting = select(*_VALUES).where(wants(event_type), endpoints[kind], switched_on())
        _QUEUES[event_type, kind] = insert(WebhookEvent.__table__).from_select(_COLUMNS, wanting)
    return _QUEUES[event_type, kind]
