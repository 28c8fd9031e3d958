"""Sign receipts: how the widget still open on a partner's page learns that its supporter
confirmed, in another tab or on their phone, without cookies or storage in the browser.

The answer to a sign carries a random receipt that only that page holds. Only the submission
that made the signature (``Submitted.NEW``) gets a receipt we can find again (we keep its
hash); every other answer (a pending, confirmed, withdrawn address signed again) gets one that
is never found, like a bot's, so whoever signs with someone else's address never learns when
its owner confirms. The row is stored all the same, with the hash of a value nobody holds, so
every state runs the same statements (``widget.signing``). The page asks with its receipt
whether the signature was confirmed *after* the receipt was issued. A receipt lasts as long as
the confirm link; erasure and the retention purge remove it.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.orm import Session

from .models import Signature, SignReceipt

#: a receipt longer than this is no receipt of ours (ours are 32 characters)
MAX_RECEIPT = 64


class Progress(enum.Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"


def receipt_hash(receipt: str) -> str:
    return hashlib.sha256(receipt.encode()).hexdigest()


def new_receipt() -> str:
    """24 random bytes; handed out even where nothing is stored (a bot's answer), so every
    answer to a sign looks alike."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Held:
    """A live receipt posted back by the page that holds it, and the signature it is for."""

    receipt: str
    signature_id: int


#: a table statement, not an ORM one: no unit of work to flush at the commit of a sign
ISSUE = insert(SignReceipt.__table__)


def issue_receipt(
    session: Session,
    signature_id: int,
    *,
    now: datetime,
    made_signature: bool,
    held: Held | None = None,
) -> str:
    """The receipt for the page that submitted, with one row stored in the caller's
    transaction whatever the case: a fresh receipt's own hash when the submission made the
    signature, else the hash of another random value, so that the receipt is never found.

    A page that posts back its own live receipt for this very signature ("send the link
    again") keeps it, so "correct it" and the poll go on working; a receipt for another
    signature (a stranger's own) is no help."""
    receipt = new_receipt()
    stored = receipt if made_signature else new_receipt()
    session.execute(
        ISSUE,
        {
            "hash": receipt_hash(stored),
            "signature_id": signature_id,
            "issued_at": now,
            "made_signature": made_signature,
        },
    )
    if not made_signature and held is not None and held.signature_id == signature_id:
        return held.receipt
    return receipt


def _find(
    session: Session, receipt: str | None, campaign_id: int, *, now: datetime, lifetime: timedelta
) -> Row[tuple[datetime, int, datetime | None, datetime | None, datetime | None]] | None:
    """The live receipt's time and its signature's id and state (columns, so that nothing is
    loaded into the session), for this campaign only; None for a forged, expired or malformed
    receipt, one of another campaign, or one whose submission did not make the signature
    (none such is stored now; older rows may still be)."""
    if not receipt or len(receipt) > MAX_RECEIPT:
        return None
    return session.execute(
        select(
            SignReceipt.issued_at,
            Signature.id,
            Signature.verified_at,
            Signature.withdrawn_at,
            Signature.invalidated_at,
        )
        .join(Signature, Signature.id == SignReceipt.signature_id)
        .where(SignReceipt.hash == receipt_hash(receipt))
        .where(SignReceipt.issued_at > now - lifetime)
        .where(SignReceipt.made_signature.is_(True))
        .where(Signature.campaign_id == campaign_id)
    ).first()


def held_receipt(
    session: Session, receipt: str | None, campaign_id: int, *, now: datetime, lifetime: timedelta
) -> Held | None:
    """The page's own receipt as posted back with "send the link again", if it is live."""
    found = _find(session, receipt, campaign_id, now=now, lifetime=lifetime)
    return Held(receipt, found.id) if found and receipt else None


def progress(
    session: Session, receipt: str | None, campaign_id: int, *, now: datetime, lifetime: timedelta
) -> Progress:
    """CONFIRMED only when the signature was confirmed after the receipt was issued and still
    counts; everything else (forged, expired, pending, confirmed before) is PENDING alike."""
    found = _find(session, receipt, campaign_id, now=now, lifetime=lifetime)
    if found is None:
        return Progress.PENDING
    confirmed = found.verified_at is not None and found.verified_at > found.issued_at
    gone = found.withdrawn_at is not None or found.invalidated_at is not None
    return Progress.CONFIRMED if confirmed and not gone else Progress.PENDING


def drop_mistaken(
    session: Session, receipt: str | None, campaign_id: int, *, now: datetime, lifetime: timedelta
) -> None:
    """ "That address was wrong": delete the pending signature this receipt's submission
    stored, with its mails (its link dies with it). Only a signature the submission made new
    and still pending: a receipt for an address signed before is never found.

    The same statements run whatever the receipt's signature (pending, since confirmed,
    withdrawn, invalidated) and whether it is ours at all: the DELETE, matching nothing where
    there is nothing to drop (no signature has id 0; "still pending" is in the statement),
    and the commit."""
    found = _find(session, receipt, campaign_id, now=now, lifetime=lifetime)
    # the outbox rows and receipts go by their foreign keys (ON DELETE CASCADE)
    session.execute(
        delete(Signature)
        .where(
            Signature.id == (found.id if found else 0),
            Signature.verified_at.is_(None),
            Signature.withdrawn_at.is_(None),
            Signature.invalidated_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


def forget_receipts(session: Session, signature_id: int) -> None:
    """Erasure: no receipt outlives the personal fields of its signature."""
    session.execute(
        delete(SignReceipt)
        .where(SignReceipt.signature_id == signature_id)
        .execution_options(synchronize_session=False)
    )


def delete_expired(session: Session, *, now: datetime, lifetime: timedelta) -> None:
    """The retention purge: receipts as old as the confirm link are no use to anyone."""
    session.execute(
        delete(SignReceipt)
        .where(SignReceipt.issued_at <= now - lifetime)
        .execution_options(synchronize_session=False)
    )
