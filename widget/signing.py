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

from sqlalchemy import Executable, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import counter, outbox, partners, webhook_events
from .addresses import email_key
from .models import Campaign, Signature
from .sealing import AddressHasher, Sealer
from .tokens import new_link_secret

CONSENT_VERSION = "2026-11"
#: the wording of the separate box "Also let <partner> contact me"; stored only with a yes
PARTNER_CONSENT_VERSION = "partner-2026-12"


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
    #: the box "Also let <partner> contact me"; kept only for a registered, active partner
    partner_opt_in: bool = False
    #: the embedding page, already reduced by ``widget.partners.source_url``
    source_url: str | None = None
    #: the client IP's keyed hash (``widget.abuse.ip_hash``)
    ip_hash: str | None = None
    #: the source code of the link it came by, already checked (``widget.sharing``)
    ref: str | None = None


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
    sealer: Sealer | None = None,
    addresses: AddressHasher | None = None,
    on_stored: Callable[[Signature, Submitted], None] | None = None,
) -> Submitted:
    """Store the signature and queue its mail, in one transaction.

    A pending signature is kept as first submitted: a re-sign only sends its link again (within
    the mail budget) and changes nothing stored, so whoever knows an address cannot rewrite its
    name, language or opt-in before the owner confirms (the confirm page shows all of it).

    Every state of an address (new, pending, confirmed, withdrawn, invalidated; mail budget
    left or spent) runs the same statements in the same order and renders a mail alike, so the
    time of the answer does not tell who signed. ``may_mail(address key)`` spends the address's
    mail budget, so the form cannot be used to flood someone's inbox.

    With a ``sealer`` (sealed mode) the personal fields are stored only sealed, for every
    state alike, and the address key is its keyed hash; the mail is written from the values
    typed, held in memory only.

    With ``addresses`` (every secret key's address hash) a row stored in another form of the
    same address (signed before a key rotation, or before sealed mode was turned on or off)
    is found first and taken as the repeat, so nobody counts twice; the lookup runs in every
    state alike. ``on_stored`` runs in the transaction in every state too (the sign receipt,
    ``widget.receipts``)."""
    if not campaign.is_open(now):
        return Submitted.CAMPAIGN_CLOSED
    key = sealer.address_key(entry.email) if sealer else email_key(entry.email)
    if addresses is not None:
        key = _stored_key(session, campaign, key, addresses.stored_forms(entry.email))
    # Spend the mail budget (a round trip to the limit storage) before the first write: SQLite
    # holds its write lock from there to the commit.
    mailing = may_mail(key)
    secret = new_link_secret()
    values = _values(session, entry)
    values.update(campaign_id=campaign.id, email_key=key, created_at=now, link_secret=secret)
    if sealer is not None:
        values = sealer.sealed_values(values)
    # One upsert, whatever the state: it inserts, or rewrites the existing row unchanged; either
    # way the row comes back, and only our fresh secret on it says that it is new.
    row = session.execute(_upsert_for(session), values).one()
    signature = Signature(campaign=campaign, **row._asdict())
    if sealer is not None:
        # Nothing in clear was stored or came back: the mail goes to the mailbox as typed now.
        signature.name, signature.email = entry.name, entry.email
    outcome = _outcome(signature, secret)
    if mailing:
        if outcome is Submitted.PENDING_AGAIN or outcome is Submitted.NEW:
            mail = notices.ask_to_confirm(signature)
        else:
            mail = notices.already_signed(signature)
        # A withdrawn or invalidated signature is mailed nothing, nothing revives it; its mail
        # is rendered and the same statement run all the same, storing nothing.
        unmailed = signature.withdrawn_at is not None or signature.invalidated_at is not None
        outbox.enqueue(session, mail, now, store=not unmailed)
    if on_stored is not None:
        on_stored(signature, outcome)
    session.commit()
    return outcome


# Table statements, not ORM ones: the session runs them as plain Core, without the ORM's bulk
# insert and result machinery (a tenth of a sign under load).
SIGNATURES = Signature.__table__
#: what the upsert hands back: what the mail and the outcome need, as stored
RETURNED = [
    SIGNATURES.c[name]
    for name in (
        "id",
        "name",
        "email",
        "country",
        "actions",
        "opt_in",
        "consent_version",
        "language",
        "partner_id",
        "created_at",
        "verified_at",
        "withdrawn_at",
        "invalidated_at",
        "link_secret",
    )
]
_UPSERTS: dict[str, Executable] = {}


def _upsert_for(session: Session) -> Executable:
    """``INSERT … ON CONFLICT (campaign_id, email_key) DO UPDATE … RETURNING`` in the session's
    dialect (SQLite 3.35+, PostgreSQL). The update rewrites the key with itself: a write in
    every state, that changes nothing of what the first submission stored."""
    dialect = session.get_bind().dialect.name
    if dialect not in _UPSERTS:
        dialects = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
        if dialect not in dialects:
            raise NotImplementedError(f"signing needs SQLite or PostgreSQL, not {dialect}")
        statement = dialects[dialect](SIGNATURES)
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[SIGNATURES.c.campaign_id, SIGNATURES.c.email_key],
            set_={"email_key": statement.excluded.email_key},
        ).returning(*RETURNED)
    return _UPSERTS[dialect]


#: the address's other stored forms: built once (building it was a third of its time)
_STORED_KEY = (
    select(SIGNATURES.c.email_key)
    .where(
        SIGNATURES.c.campaign_id == bindparam("campaign_id"),
        SIGNATURES.c.email_key.in_(bindparam("others", expanding=True)),
    )
    .limit(1)
)


def _stored_key(session: Session, campaign: Campaign, key: str, forms: list[str]) -> str:
    """The form this address is already stored in for the campaign, else ``key``."""
    others = [form for form in forms if form != key]
    found = session.scalar(_STORED_KEY, {"campaign_id": campaign.id, "others": others})
    return found or key


def _outcome(signature: Signature, secret: str) -> Submitted:
    if signature.link_secret == secret:
        return Submitted.NEW
    taken = signature.verified_at or signature.withdrawn_at or signature.invalidated_at
    return Submitted.ALREADY_VERIFIED if taken else Submitted.PENDING_AGAIN


def _values(session: Session, entry: SignatureEntry) -> dict[str, object]:
    """The row to insert. The partner box counts only for the partner the form showed it for:
    posted without one (or for an unknown or inactive one), it is ignored."""
    partner = partners.active_partner(session, entry.partner)
    partner_opt_in = partner is not None and entry.partner_opt_in
    return {
        "name": entry.name,
        "email": entry.email,
        "country": entry.country,
        "actions": list(entry.actions),
        "opt_in": entry.opt_in,
        "consent_version": entry.consent_version,
        "language": entry.language,
        "partner_id": partner.id if partner else None,
        "partner_opt_in": partner_opt_in,
        "partner_consent_version": PARTNER_CONSENT_VERSION if partner_opt_in else None,
        "source_url": entry.source_url,
        "ip_hash": entry.ip_hash,
        "ref": entry.ref,
        "sealed": None,
        "sealed_key": None,
    }


def confirm_signature(
    session: Session,
    signature_id: int,
    *,
    now: datetime,
    keep_opt_in: bool = True,
    keep_partner_opt_in: bool = True,
) -> Confirmed:
    """Mark the signature verified and count it, once: the update only matches while pending.

    The owner's choice at confirmation is the last word on the opt-ins: ``keep_opt_in=False``
    or ``keep_partner_opt_in=False`` (the box unticked on the confirm page) stores no; nothing
    here can turn a no into a yes."""
    changes: dict[str, object] = {"verified_at": now, "updated_at": now}
    if not keep_opt_in:
        changes["opt_in"] = False
    if not keep_partner_opt_in:
        changes.update(partner_opt_in=False, partner_consent_version=None)
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
        .values(**changes)
        # "evaluate": the loaded object takes the stored values too, so the event below (its
        # opt-ins and who hears of it, ``webhook_events.audience``) is what the owner confirmed
        .execution_options(synchronize_session="evaluate")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return Confirmed.ALREADY_CONFIRMED
    counter.add(session, signature.campaign_id, signature.actions, shard_key=signature.id, now=now)
    webhook_events.queue_verified(session, signature, now, opt_in=signature.opt_in)
    session.commit()
    return Confirmed.CONFIRMED


def record_link_opened(session: Session, signature_id: int, *, now: datetime) -> bool:
    """The first GET of the confirm page for a valid link: the funnel's "link opened" (no
    tracking pixel). One conditional update, so a second look or a mail scanner changes
    nothing more; True when this was the first."""
    result = session.execute(
        update(Signature)
        .where(Signature.id == signature_id, Signature.link_opened_at.is_(None))
        .values(link_opened_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]
