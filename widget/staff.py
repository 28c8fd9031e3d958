"""Staff accounts: hashed passwords, three roles, nothing that tells an attacker which part was
wrong. A partner account (role ``partner``) belongs to one registered, active partner and sees
only that partner's pages."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .models import Audit, Partner, Staff
from .staff_sessions import end_all_sessions

ROLES = ("admin", "viewer", "partner")
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


def create_staff(
    session: Session,
    email: str,
    password: str,
    role: str,
    now: datetime,
    *,
    partner: str | None = None,
    actor: str | None = None,
) -> Staff:
    """Create an account; a partner account needs the slug of a registered, active partner,
    and only a partner account takes one. With ``actor`` the creation is audited."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise StaffError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise StaffError(f"role must be one of: {', '.join(ROLES)}")
    account_partner = partner_for_account(session, role, partner)
    check_new_password(password)
    if session.scalar(select(Staff).where(Staff.email == email)):
        raise StaffError(f"{email} already has an account")
    staff = Staff(
        email=email,
        password_hash=generate_password_hash(password),
        role=role,
        partner_id=account_partner.id if account_partner else None,
        active=True,
        created_at=now,
    )
    session.add(staff)
    if actor is not None:
        details = {"account": email, "role": role}
        if account_partner is not None:
            details["partner"] = account_partner.slug
        session.add(Audit(at=now, actor=actor, action="staff.create", details=details))
    session.commit()
    return staff


class PartnerAccountError(StaffError):
    """``--role partner`` and ``--partner`` do not go together as given: a usage error."""


def partner_for_account(session: Session, role: str, slug: str | None) -> Partner | None:
    """The partner a new account of ``role`` belongs to: one for a partner account (registered
    and active: an account for a partner that may not embed would be a login to nothing), none
    for the organisation's own staff."""
    if role != "partner":
        if slug is not None:
            raise PartnerAccountError("--partner is only for --role partner")
        return None
    if not slug:
        raise PartnerAccountError("--role partner needs --partner SLUG")
    found = session.scalar(select(Partner).where(Partner.slug == slug))
    if found is None:
        raise PartnerAccountError(
            f"no partner {slug[:70]!r}; register it first with: partner add SLUG --name NAME"
        )
    if not found.active:
        raise PartnerAccountError(f"partner {slug!r} is inactive; activate it first")
    return found


def deactivate_staff(session: Session, staff: Staff, now: datetime, *, actor: str) -> None:
    """The account can no longer sign in, and every browser signed in to it is out (audited)."""
    staff.active = False
    end_all_sessions(session, staff.id)
    details = {"account": staff.email, "role": staff.role}
    if staff.partner is not None:
        details["partner"] = staff.partner.slug
    session.add(Audit(at=now, actor=actor, action="staff.deactivate", details=details))
    session.commit()


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
    if staff is None or not may_sign_in(staff):
        check_password_hash(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        return None
    if not check_password_hash(staff.password_hash, password):
        return None
    staff.last_login_at = now
    session.commit()
    return staff


def may_sign_in(staff: Staff) -> bool:
    """An active account; a partner account also needs its partner active (a partner that was
    switched off keeps its supporters' data from its former account)."""
    return staff.active and (staff.partner is None or staff.partner.active)


def change_password(session: Session, staff: Staff, current: str, new: str) -> None:
    """Set a new password and sign the account out everywhere (the caller signs this browser
    in again): whoever else held a session, or learnt the old password, is out."""
    if len(current) > MAX_PASSWORD_LENGTH or not check_password_hash(staff.password_hash, current):
        raise WrongPassword("the current password is not right")
    check_new_password(new)
    staff.password_hash = generate_password_hash(new)
    end_all_sessions(session, staff.id)
    session.commit()
