"""One reminder to each supporter who signed but did not confirm (``remind``, from cron).

Never twice: each reminder is claimed with one conditional update (``reminded_at IS NULL``)
in the transaction that queues its mail, so two runs at once send it once. Never to a
signature that cannot count any more (campaign closed, past the pending retention that
``privacy.purge`` applies), that was withdrawn, invalidated, erased, or whose first mail
bounced; never beyond the address's mail budget, the same one the sign form spends.

In sealed mode (``widget.sealing``) the address is kept only sealed (and wiped from the outbox
once its first mail went), so no reminder can be written: they are counted, not sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from . import outbox
from .models import Signature

#: why a signature old enough got no reminder, as the summary line names it
CLOSED = "campaign closed"
RETENTION = "past retention"
BOUNCED = "mail bounced"
SEALED = "sealed"
BUDGET = "mail budget spent"
TAKEN = "reminded by another run"


class ReminderNotices(Protocol):
    """Writes the reminder (``widget.notices.MailNotices``)."""

    def remind(self, signature: Signature) -> outbox.Mail: ...


@dataclass
class RemindReport:
    #: reminders queued (with ``dry_run``: that would be)
    reminded: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def summary(self) -> str:
        """One line for cron mail: what was done, and every reason something was not."""
        verb = "would remind" if self.dry_run else "reminded"
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items()))
        return f"{verb} {self.reminded}; skipped {self.skipped.total()}" + (
            f" ({reasons})" if reasons else ""
        )


def remind_unconfirmed(
    session: Session,
    *,
    now: datetime,
    older_than: timedelta,
    pending_days: int,
    notices: ReminderNotices,
    may_mail: Callable[[str], bool],
    sealed_mode: bool,
    dry_run: bool,
) -> RemindReport:
    """Queue one reminder per unconfirmed signature older than ``older_than``.

    ``may_mail(address key)`` spends the address's mail budget (``widget.limits.may_mail``);
    a dry run spends none and writes nothing."""
    report = RemindReport(dry_run=dry_run)
    retention_cutoff = now - timedelta(days=pending_days)
    candidates = session.scalars(
        select(Signature)
        .options(joinedload(Signature.campaign))
        .where(Signature.created_at <= now - older_than)
        # the first mail went (or bounced, told below): a reminder never overtakes a confirm
        # mail still queued or failed
        .where(or_(Signature.mailed_at.is_not(None), Signature.mail_bounced_at.is_not(None)))
        .where(Signature.reminded_at.is_(None), Signature.verified_at.is_(None))
        .where(Signature.withdrawn_at.is_(None), Signature.invalidated_at.is_(None))
        .where(Signature.anonymised_at.is_(None))
        .order_by(Signature.id)
    ).all()
    # Kept as loaded, and no transaction (no SQLite read snapshot) held into the claims.
    session.expunge_all()
    session.rollback()
    for signature in candidates:
        reason = _why_not(signature, now, retention_cutoff, sealed_mode)
        if reason is not None:
            report.skipped[reason] += 1
        elif dry_run:
            report.reminded += 1
        elif not may_mail(signature.email_key):
            report.skipped[BUDGET] += 1
        elif _claim_and_queue(session, signature, now, notices):
            report.reminded += 1
        else:
            report.skipped[TAKEN] += 1
    return report


def _why_not(
    signature: Signature, now: datetime, retention_cutoff: datetime, sealed_mode: bool
) -> str | None:
    if not signature.campaign.is_open(now):
        return CLOSED
    if signature.created_at < retention_cutoff:
        return RETENTION
    if signature.mail_bounced_at is not None:
        return BOUNCED
    if sealed_mode or signature.sealed is not None or not signature.email:
        return SEALED
    return None


def _claim_and_queue(
    session: Session, signature: Signature, now: datetime, notices: ReminderNotices
) -> bool:
    """The claim and the mail in one transaction: only the run whose update matched sends."""
    claimed = session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.mailed_at.is_not(None))
        .where(Signature.reminded_at.is_(None), Signature.verified_at.is_(None))
        .where(Signature.withdrawn_at.is_(None), Signature.invalidated_at.is_(None))
        .where(Signature.anonymised_at.is_(None), Signature.mail_bounced_at.is_(None))
        .values(reminded_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    outbox.enqueue(session, notices.remind(signature), now)
    session.commit()
    return True
