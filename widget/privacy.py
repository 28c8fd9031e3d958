"""The supporter's data lifecycle: the least we need, kept the shortest time, theirs to take back.

- ``withdraw_signature``: the supporter's own "take my signature back" (and staff erasure on
  request): personal fields and the mails that carried them wiped at once, every link to it
  dead, the count down by one in the same transaction.
- ``purge``: the retention rules, safe to run from cron (idempotent, with a dry run): pending
  signatures deleted, closed campaigns anonymised (counts and breakdowns survive), old mail gone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from . import counter, receipts, webhook_events
from .models import Audit, Campaign, OutboxMessage, Signature, WebhookDelivery, WebhookEvent
from .sealing import AddressHasher
from .tokens import VERIFY_MAX_AGE, new_link_secret

#: what an erased signature's country becomes: CLDR's "unknown region"
ERASED_COUNTRY = "ZZ"


class Withdrawn(enum.Enum):
    WITHDRAWN = "withdrawn"
    ALREADY_WITHDRAWN = "already-withdrawn"


def wipe_personal_fields(session: Session, signature: Signature, now: datetime) -> None:
    """Keep only what the counts need (campaign, actions, country, dates); nothing that names
    or reaches a person, here or in a webhook event not yet delivered."""
    webhook_events.forget_undelivered(session, signature.id)
    receipts.forget_receipts(session, signature.id)
    signature.name = ""
    signature.email = ""
    # Unique per campaign, so a placeholder: the person may sign again later if they wish.
    signature.email_key = f"erased:{signature.id}"
    signature.ip_hash = None
    signature.source_url = None
    signature.sealed = None
    signature.sealed_key = None
    signature.opt_in = False
    signature.partner_opt_in = False
    signature.partner_consent_version = None
    signature.anonymised_at = now
    signature.updated_at = now
    # A fresh secret: every link mailed for this signature stops working.
    signature.link_secret = new_link_secret()


def withdraw_signature(session: Session, signature_id: int, *, now: datetime) -> Withdrawn:
    """Take a signature back: it stops counting and its personal fields are erased, at once.

    One conditional update marks it and reads its state, so two withdrawals (or a withdrawal
    and an invalidation) at the same moment count down once."""
    marked = session.execute(
        update(Signature)
        .where(Signature.id == signature_id, Signature.withdrawn_at.is_(None))
        .values(withdrawn_at=now, updated_at=now)
        .returning(Signature.verified_at, Signature.invalidated_at)
        .execution_options(synchronize_session=False)
    ).first()
    if marked is None:
        session.rollback()
        return Withdrawn.ALREADY_WITHDRAWN
    signature = session.get_one(Signature, signature_id, populate_existing=True)
    webhook_events.queue_withdrawn(session, signature, now)
    if marked.verified_at is not None and marked.invalidated_at is None:
        counter.add(
            session,
            signature.campaign_id,
            signature.actions,
            shard_key=signature.id,
            now=now,
            delta=-1,
        )
    # Its mails name the person and carry links: they go too, queued or sent, but for the
    # goodbye a supporter's own withdrawal queues (``kind`` withdrawn, without links).
    session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.signature_id == signature_id)
        .where(OutboxMessage.kind != "withdrawn")
        .execution_options(synchronize_session=False)
    )
    wipe_personal_fields(session, signature, now)
    session.commit()
    return Withdrawn.WITHDRAWN


def find_by_email(session: Session, email: str, addresses: AddressHasher) -> list[Signature]:
    """Every signature an address made, in every campaign: its duplicate-detection form and its
    keyed hash under every secret key, whether sealed mode is on now or not, so no private key
    is needed and no sealed row is missed."""
    return list(
        session.scalars(
            select(Signature)
            .where(Signature.email_key.in_(addresses.stored_forms(email)))
            .order_by(Signature.created_at)
        )
    )


def erase_supporter(
    session: Session, email: str, *, now: datetime, actor: str, addresses: AddressHasher
) -> int:
    """A supporter asked staff to erase them: withdraw every signature of the address, audited.

    Returns how many signatures were erased."""
    signatures = find_by_email(session, email, addresses)
    ids = [s.id for s in signatures]
    campaigns = sorted({s.campaign.slug for s in signatures})
    for signature_id in ids:
        withdraw_signature(session, signature_id, now=now)
    # The audit names no address: it records that an erasure happened, not whose.
    session.add(
        Audit(
            at=now,
            actor=actor,
            action="erase",
            details={"signatures": len(ids), "campaigns": campaigns},
        )
    )
    session.commit()
    return len(ids)


@dataclass(frozen=True)
class Retention:
    """How long we keep what (days); from the ``WIDGET_RETENTION_*`` settings."""

    pending_days: int = 14
    closed_days: int = 180
    mail_days: int = 7


@dataclass(frozen=True)
class PurgeReport:
    pending_deleted: int
    anonymised: int
    mail_deleted: int
    applied: bool
    #: webhook deliveries (delivered or failed) older than the mail's days, with their events
    deliveries_deleted: int = 0


def purge(
    session: Session, retention: Retention, *, now: datetime, actor: str, apply: bool
) -> PurgeReport:
    """Apply the retention rules once; running it again changes nothing more."""
    pending_cutoff = now - timedelta(days=retention.pending_days)
    pending = (
        select(Signature.id)
        .where(Signature.verified_at.is_(None), Signature.withdrawn_at.is_(None))
        .where(Signature.created_at < pending_cutoff)
    )
    closed_cutoff = now - timedelta(days=retention.closed_days)
    closed_campaigns = select(Campaign.id).where(Campaign.closes_at < closed_cutoff)
    to_anonymise = (
        select(Signature)
        .where(Signature.campaign_id.in_(closed_campaigns))
        .where(Signature.anonymised_at.is_(None))
    )
    mail_cutoff = now - timedelta(days=retention.mail_days)
    # Sent mail past its days, and every mail of a signature about to be anonymised.
    old_mail = or_(
        OutboxMessage.sent_at < mail_cutoff,
        OutboxMessage.failed_at < mail_cutoff,
        OutboxMessage.signature_id.in_(to_anonymise.with_only_columns(Signature.id)),
    )

    # Webhook deliveries are kept as long as mail: a failed one still holds its body.
    old_deliveries = select(WebhookDelivery.id).where(
        or_(WebhookDelivery.delivered_at < mail_cutoff, WebhookDelivery.failed_at < mail_cutoff)
    )

    def count(query: object) -> int:
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0  # type: ignore[attr-defined]

    report = PurgeReport(
        pending_deleted=count(pending),
        anonymised=count(to_anonymise),
        mail_deleted=session.scalar(select(func.count()).where(old_mail)) or 0,
        applied=apply,
        deliveries_deleted=count(old_deliveries),
    )
    if not apply:
        session.rollback()
        return report
    session.execute(delete(Signature).where(Signature.id.in_(pending)))
    receipts.delete_expired(session, now=now, lifetime=VERIFY_MAX_AGE)
    session.execute(
        delete(OutboxMessage).where(old_mail).execution_options(synchronize_session=False)
    )
    for signature in session.scalars(to_anonymise):
        wipe_personal_fields(session, signature, now)
    session.execute(
        delete(WebhookEvent)
        .where(WebhookEvent.delivery_id.in_(old_deliveries))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.id.in_(old_deliveries))
        .execution_options(synchronize_session=False)
    )
    if (
        report.pending_deleted
        or report.anonymised
        or report.mail_deleted
        or report.deliveries_deleted
    ):
        session.add(
            Audit(
                at=now,
                actor=actor,
                action="purge",
                details={
                    "pending_deleted": report.pending_deleted,
                    "anonymised": report.anonymised,
                    "mail_deleted": report.mail_deleted,
                    "deliveries_deleted": report.deliveries_deleted,
                },
            )
        )
    session.commit()
    return report
