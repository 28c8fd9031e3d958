"""What the mail queue looks like (for /healthz and staff) and sending failed mail again.

Nothing here reads a recipient's address or a body: staff and monitors see ids, kinds, times,
attempts and the stored reason (kept free of addresses and control characters by
``outbox.stored_text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from .models import Audit, OutboxMessage


@dataclass(frozen=True)
class QueueStatus:
    #: waiting to be sent (due now or after a backoff)
    queued: int
    #: given up: staff must look at them and may send them again
    failed: int
    oldest_unsent_at: datetime | None

    def oldest_unsent_seconds(self, now: datetime) -> int | None:
        if self.oldest_unsent_at is None:
            return None
        return max(0, int((now - self.oldest_unsent_at).total_seconds()))


@dataclass(frozen=True)
class FailedMail:
    id: int
    kind: str
    created_at: datetime
    failed_at: datetime | None
    attempts: int
    last_error: str


def queue_status(session: Session) -> QueueStatus:
    """One aggregate over the unsent rows (sent mail, the bulk of the table, is filtered out)."""
    waiting = OutboxMessage.next_attempt_at.is_not(None)
    queued, failed, oldest = session.execute(
        select(
            func.count(case((waiting, 1))),
            func.count(case((OutboxMessage.failed_at.is_not(None), 1))),
            func.min(case((waiting, OutboxMessage.created_at))),
        ).where(OutboxMessage.sent_at.is_(None))
    ).one()
    return QueueStatus(int(queued), int(failed), oldest)


def failed_mail(session: Session, limit: int = 200) -> list[FailedMail]:
    """The newest failed messages, without who they were for or what they said."""
    rows = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.created_at,
            OutboxMessage.failed_at,
            OutboxMessage.attempts,
            OutboxMessage.last_error,
        )
        .where(OutboxMessage.failed_at.is_not(None))
        .order_by(OutboxMessage.failed_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    return [FailedMail(*row) for row in rows]


def resend(session: Session, ids: Sequence[int] | None, *, actor: str, now: datetime) -> list[int]:
    """Queue the given unsent messages (``None``: every failed one) to go now, with a fresh set
    of attempts; audited. A message a sender holds right now is left to it. Returns the ids.
    A sent message is never resent; in sealed mode it has no recipient left to send to."""
    unsent = OutboxMessage.sent_at.is_(None) & (OutboxMessage.recipient != "")
    free = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)
    chosen = (
        OutboxMessage.failed_at.is_not(None) if ids is None else OutboxMessage.id.in_(list(ids))
    )
    resent = list(
        session.scalars(
            update(OutboxMessage)
            .where(unsent, free, chosen)
            .values(failed_at=None, next_attempt_at=now, attempts=0)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
    )
    resent.sort()
    details: dict[str, object] = {"messages": len(resent)}
    if ids is None:
        details["all_failed"] = True
    else:
        details["ids"] = resent
    session.add(Audit(at=now, actor=actor, action="mail-resend", details=details))
    session.commit()
    return resent
