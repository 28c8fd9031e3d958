"""One-time enrolment codes and notice mails for staff second factors.

Where admins must have a second factor (``WIDGET_STAFF_REQUIRE_2FA``), a password alone does
not set one up: whoever knew the password could otherwise enrol their own app first and lock
the real admin out. The first enrolment of such an account also needs a code given out of band:
``flask --app widget staff enrol-code EMAIL``, or another admin on the accounts page. It is
shown once, kept as its SHA-256 hash, good for ``LIFETIME`` and once (a conditional UPDATE, so
two requests racing with it cannot both win); issuing it is audited.

Every enrolment, disabling and reset of an account's second factor is mailed to the account
(through the transactional outbox, in English like the rest of the staff area), so a change it
did not make does not go unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta

from markupsafe import escape
from sqlalchemy import update
from sqlalchemy.orm import Session

from . import outbox
from .models import Audit, Staff

LIFETIME = timedelta(hours=1)


def _hash(code: str) -> str:
    text = unicodedata.normalize("NFKC", code[:64])
    return hashlib.sha256("".join(c for c in text if c not in " -\t").lower().encode()).hexdigest()


def issue(session: Session, staff: Staff, *, actor: str, now: datetime) -> str:
    """A new code for ``staff`` (any earlier one dies), audited; the caller shows it once."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    code = f"{raw[:4]}-{raw[4:8]}-{raw[8:12]}-{raw[12:16]}"
    staff.enrol_code_hash = _hash(code)
    staff.enrol_code_expires_at = now + LIFETIME
    session.add(
        Audit(at=now, actor=actor, action="2fa.enrol-code", details={"account": staff.email})
    )
    session.commit()
    return code


def spend(session: Session, staff: Staff, code: str, now: datetime) -> bool:
    """True once for a good, unexpired code of ``staff``; the caller commits."""
    spent = session.execute(
        update(Staff)
        .where(
            Staff.id == staff.id,
            Staff.enrol_code_hash == _hash(code),
            Staff.enrol_code_expires_at > now,
        )
        .values(enrol_code_hash=None, enrol_code_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(staff)
    return spent.rowcount == 1


_NOTICES = {
    "2fa.enrol": "Two-factor sign-in was set up for your staff account",
    "2fa.disable": "Two-factor sign-in was turned off for your staff account",
    "2fa.reset": "Two-factor sign-in of your staff account was reset",
}


def notify(session: Session, staff: Staff, action: str, now: datetime) -> None:
    """Queue the notice of ``action`` to the account (sent once the caller commits)."""
    subject = _NOTICES[action]
    body = (
        f"{subject} ({now:%Y-%m-%d %H:%M} UTC). Every browser signed in to it was signed out. "
        "If you did not do this, tell another admin at once: they can reset it, and the audit "
        "log says who did."
    )
    mail = outbox.Mail(
        recipient=staff.email,
        subject=subject,
        text=body + "\n",
        html=f"<p>{escape(body)}</p>",
        kind=action,
    )
    outbox.enqueue(session, mail, now)
