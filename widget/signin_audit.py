"""The audit of staff sign-ins: every success and failure, with the keyed hash of the client's
network (``widget.abuse.ip_hash``), never the IP. A failure names the address tried only when
it is an account's: an address typed by mistake, or a stranger's guess, is nobody's data to
keep. The sign-in page itself says the same for every failure (no enumeration).

Actions: ``signin`` (``with``: password, totp or recovery-code), ``signin.failed`` (the
password step) and ``signin.code-failed`` (the second step). The wrong codes of the last
quarter of an hour also bound the second step and every other page that asks for a code
(``code_attempt``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import Audit, Staff
from .two_factor import FAILURE_SPAN, MAX_CODE_FAILURES

#: the actor of a failure for an address that is no account's
UNKNOWN = "(no such account)"


def _details(ip_hash: str | None) -> dict[str, object]:
    return {"ip_hash": ip_hash or "unknown"}


def signed_in(session: Session, staff: Staff, how: str, ip_hash: str | None, now: datetime) -> None:
    details = _details(ip_hash) | {"with": how}
    session.add(Audit(at=now, actor=staff.email, action="signin", details=details))
    session.commit()


def password_failed(session: Session, email: str, ip_hash: str | None, now: datetime) -> None:
    email = email.strip().lower()
    known = len(email) <= 254 and session.scalar(select(Staff.id).where(Staff.email == email))
    actor = email if known else UNKNOWN
    session.add(Audit(at=now, actor=actor, action="signin.failed", details=_details(ip_hash)))
    session.commit()


def code_attempt(session: Session, staff: Staff, ip_hash: str | None, now: datetime) -> int | None:
    """Record a code about to be judged as a failure first (committed), then count the
    failures including it: the id of the row if the code may be judged, or None (the row goes)
    when that makes more than ``MAX_CODE_FAILURES``. Requests racing each see the others' rows,
    so no more than the limit are ever judged. A code that turns out right, or is not judged
    after all, takes its row away (``code_attempt_passed``)."""
    row = Audit(at=now, actor=staff.email, action="signin.code-failed", details=_details(ip_hash))
    session.add(row)
    session.commit()
    if code_failures(session, staff, now) <= MAX_CODE_FAILURES:
        return row.id
    code_attempt_passed(session, row.id)
    return None


def code_attempt_passed(session: Session, attempt: int) -> None:
    session.execute(delete(Audit).where(Audit.id == attempt))
    session.commit()


def code_failures(session: Session, staff: Staff, now: datetime) -> int:
    """Wrong second-step codes for the account in the last ``FAILURE_SPAN``, from any client."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Audit)
            .where(
                Audit.action == "signin.code-failed",
                Audit.actor == staff.email,
                Audit.at > now - FAILURE_SPAN,
            )
        )
        or 0
    )
