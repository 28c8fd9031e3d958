"""Signed-in staff browsers, kept in the database so that they can be ended.

A signed cookie alone cannot be revoked: a copy keeps working after sign-out and its lifetime
slides with every request. So the cookie carries a random token, the ``staff_session`` table its
SHA-256 hash, and every staff request looks the row up. Signing out deletes the row, a password
change deletes all of the account's rows, and a row is refused 8 hours after sign-in however
busy it is.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import Staff, StaffSession

#: from sign-in, not from the last request: a stolen session dies within a working day
LIFETIME = timedelta(hours=8)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, staff: Staff, now: datetime) -> str:
    """A new session for ``staff``; returns the token for the cookie (never stored)."""
    session.execute(
        delete(StaffSession).where(
            StaffSession.staff_id == staff.id, StaffSession.created_at <= now - LIFETIME
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(staff_id=staff.id, token_hash=token_hash(token), created_at=now))
    session.commit()
    return token


def resume_session(session: Session, token: str, now: datetime) -> Staff | None:
    """The active account the token signs in, or None: unknown, ended, or over its lifetime."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash(token)))
    if row is None:
        return None
    if now >= row.created_at + LIFETIME:
        session.delete(row)
        session.commit()
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        return None
    if staff.partner is not None and not staff.partner.active:
        return None
    return staff


def end_session(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash(token)))
    session.commit()


def end_all_sessions(session: Session, staff_id: int) -> None:
    """Every browser of the account is signed out (the caller commits, with what caused it)."""
    session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
