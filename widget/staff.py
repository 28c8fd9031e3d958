"""Staff accounts: hashed passwords, two roles, nothing that tells an attacker which part was
wrong."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .models import Staff
from .staff_sessions import end_all_sessions

ROLES = ("admin", "viewer")
MIN_PASSWORD_LENGTH = 12
#: hashing a password costs time; a megabyte-long one should not cost more
MAX_PASSWORD_LENGTH = 1024


@cache
def _dummy_hash() -> str:
    """Checked when the address is unknown, so a wrong address costs as long as a wrong
    password; made on first use, as hashing takes a tenth of a second of every start-up."""
    return generate_password_hash("not a real password, only for timing")


class StaffError(ValueError):
    """An account cannot be created as asked."""


class WrongPassword(StaffError):
    """The current password given to change it is not right: a guess, counted like a sign-in."""


def create_staff(session: Session, email: str, password: str, role: str, now: datetime) -> Staff:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise StaffError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise StaffError(f"role must be one of: {', '.join(ROLES)}")
    check_new_password(password)
    if session.scalar(select(Staff).where(Staff.email == email)):
        raise StaffError(f"{email} already has an account")
    staff = Staff(
        email=email,
        password_hash=generate_password_hash(password),
        role=role,
        active=True,
        created_at=now,
    )
    session.add(staff)
    session.commit()
    return staff


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")


def authenticate(session: Session, email: str, password: str, now: datetime) -> Staff | None:
    """The active account with this address and password, or None (same cost either way)."""
    email = email.strip().lower()
    usable = len(email) <= 254 and len(password) <= MAX_PASSWORD_LENGTH
    staff = session.scalar(select(Staff).where(Staff.email == email)) if usable else None
    if staff is None or not staff.active:
        check_password_hash(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        return None
    if not check_password_hash(staff.password_hash, password):
        return None
    staff.last_login_at = now
    session.commit()
    return staff


def change_password(session: Session, staff: Staff, current: str, new: str) -> None:
    """Set a new password and sign the account out everywhere (the caller signs this browser
    in again): whoever else held a session, or learnt the old password, is out."""
    if len(current) > MAX_PASSWORD_LENGTH or not check_password_hash(staff.password_hash, current):
        raise WrongPassword("the current password is not right")
    check_new_password(new)
    staff.password_hash = generate_password_hash(new)
    end_all_sessions(session, staff.id)
    session.commit()
