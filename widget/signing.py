"""The signing rules: submit, confirm. No Flask request in here; views call these.

A signature counts only once its email address is confirmed. Whether an address is new, pending
or already confirmed, the supporter sees the same answer; only the mail differs, so the widget
cannot be used to learn who signed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import counter, outbox, partners
from .addresses import email_key
from .models import Campaign, Signature

CONSENT_VERSION = "2026-11"


@dataclass(frozen=True)
class SignatureEntry:
    """What a supporter typed, already validated by the form."""

    name: str
    email: str
    country: str
    consent_version: str
    language: str
    actions: list[str] = field(default_factory=list)
    opt_in: bool = False
    #: the partner slug from ``data-partner``, as given (unknown ones credit nobody)
    partner: str | None = None
    #: the embedding page, already reduced by ``widget.partners.source_url``
    source_url: str | None = None
    #: the client IP's keyed hash (``widget.abuse.ip_hash``)
    ip_hash: str | None = None


class Notices(Protocol):
    """Writes the mails a submission causes (``widget.notices`` renders the templates)."""

    def ask_to_confirm(self, signature: Signature) -> outbox.Mail: ...

    def already_signed(self, signature: Signature) -> outbox.Mail: ...


class Submitted(enum.Enum):
    NEW = "new"
    PENDING_AGAIN = "pending-again"
    ALREADY_VERIFIED = "already-verified"
    CAMPAIGN_CLOSED = "campaign-closed"


class Confirmed(enum.Enum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already-confirmed"
    CAMPAIGN_CLOSED = "campaign-closed"
    GONE = "gone"


def submit_signature(
    session: Session,
    campaign: Campaign,
    entry: SignatureEntry,
    *,
    now: datetime,
    notices: Notices,
    may_mail: Callable[[str], bool],
) -> Submitted:
    """Store the signature (or refresh a pending one) and queue its mail, in one transaction.

    ``may_mail(address key)`` spends the address's mail budget, so the form cannot be used to
    flood someone's inbox."""
    if not campaign.is_open(now):
        return Submitted.CAMPAIGN_CLOSED
    try:
        return _submit(session, campaign, entry, now, notices, may_mail)
    except IntegrityError:
        # The same address was submitted concurrently: the other request created the row.
        session.rollback()
        return _submit(session, campaign, entry, now, notices, may_mail)


# Table statements, not ORM ones: the session runs them as plain Core, without the ORM's bulk
# insert and result machinery (a tenth of a sign under load).
SIGNATURES = Signature.__table__
INSERT_SIGNATURE = insert(SIGNATURES).returning(SIGNATURES.c.id)
FIND_SIGNATURE = select(
    SIGNATURES.c.id,
    SIGNATURES.c.verified_at,
    SIGNATURES.c.withdrawn_at,
    SIGNATURES.c.invalidated_at,
).where(
    SIGNATURES.c.campaign_id == bindparam("campaign_id"),
    SIGNATURES.c.email_key == bindparam("email_key"),
)


def _submit(
    session: Session,
    campaign: Campaign,
    entry: SignatureEntry,
    now: datetime,
    notices: Notices,
    may_mail: Callable[[str], bool],
) -> Submitted:
    # Core statements, not ORM objects: this is the path a viral campaign runs thousands of
    # times a minute, and the unit of work cost a fifth of it.
    key = email_key(entry.email)
    found = session.execute(FIND_SIGNATURE, {"campaign_id": campaign.id, "email_key": key}).first()
    if found is not None and found.invalidated_at is not None:
        # Taken out of the count as abuse: nothing is mailed, nothing revives it.
        session.rollback()
        return Submitted.ALREADY_VERIFIED
    # Spend the mail budget (a round trip to the limit storage) before the first write: SQLite
    # holds its write lock from there to the commit.
    mailing = may_mail(key)
    values = _values(session, entry)
    if found is None:
        values.update(campaign_id=campaign.id, email_key=key, created_at=now)
        signature_id = session.scalar(INSERT_SIGNATURE, values)
        # the mail needs the signature; built from what was inserted, not read back
        signature = Signature(id=signature_id, campaign=campaign, **values)
        outcome = Submitted.NEW
    else:
        outcome = Submitted.ALREADY_VERIFIED
        if found.verified_at is None and found.withdrawn_at is None:
            # Unconfirmed: the latest submission wins; the confirm page shows what will count.
            # The update only matches while unconfirmed, so a confirmation in between keeps its
            # actions.
            refreshed = session.execute(
                update(Signature)
                .where(Signature.id == found.id)
                .where(Signature.verified_at.is_(None), Signature.withdrawn_at.is_(None))
                .values(values)
            )
            if refreshed.rowcount == 1:  # type: ignore[attr-defined]
                outcome = Submitted.PENDING_AGAIN
        signature = session.get_one(Signature, found.id)
    if mailing:
        if outcome is Submitted.ALREADY_VERIFIED:
            mail = notices.already_signed(signature)
        else:
            mail = notices.ask_to_confirm(signature)
        outbox.enqueue(session, mail, now)
    session.commit()
    return outcome


def _values(session: Session, entry: SignatureEntry) -> dict[str, object]:
    partner = partners.active_partner(session, entry.partner)
    return {
        "name": entry.name,
        "email": entry.email,
        "country": entry.country,
        "actions": list(entry.actions),
        "opt_in": entry.opt_in,
        "consent_version": entry.consent_version,
        "language": entry.language,
        "partner_id": partner.id if partner else None,
        "source_url": entry.source_url,
        "ip_hash": entry.ip_hash,
    }


def confirm_signature(session: Session, signature_id: int, *, now: datetime) -> Confirmed:
    """Mark the signature verified and count it, once: the update only matches while pending."""
    signature = session.get(Signature, signature_id)
    if signature is None or signature.withdrawn_at or signature.invalidated_at:
        return Confirmed.GONE
    if signature.verified_at is not None:
        return Confirmed.ALREADY_CONFIRMED
    if not signature.campaign.is_open(now):
        return Confirmed.CAMPAIGN_CLOSED
    result = session.execute(
        update(Signature)
        .where(Signature.id == signature_id)
        .where(Signature.verified_at.is_(None))
        .where(Signature.withdrawn_at.is_(None))
        .where(Signature.invalidated_at.is_(None))
        .values(verified_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return Confirmed.ALREADY_CONFIRMED
    counter.add(session, signature.campaign_id, signature.actions, shard_key=signature.id, now=now)
    session.commit()
    return Confirmed.CONFIRMED
