"""Two-factor sign-in for staff: a TOTP code from an authenticator app (RFC 6238, ``pyotp``),
or one of ten single-use recovery codes.

The secret is stored encrypted (AES-GCM) with a key derived from the secret key for this purpose
alone, so a copy of the database alone does not give the codes; it is never logged. A code is
good once: the time step it matched is remembered, and only a later step signs in again (a code
seen over a shoulder or in a proxy log is spent). The step is taken by a conditional UPDATE, and
a recovery code is spent the same way, so two requests racing with one code cannot both win.

Between the password and the code the browser holds a *ticket* (``pending_ticket``), not a
session: no ``staff_session`` row exists, so no staff page opens with it. It lives five
minutes and dies with a change of the password or of the second factor, or when a code signs in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from calendar import timegm
from datetime import datetime, timedelta

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from . import enrol_codes
from .kdf import derive_key
from .models import Audit, Staff, StaffRecoveryCode
from .settings import Settings
from .staff import MAX_PASSWORD_LENGTH, WrongPassword, may_sign_in
from .staff_sessions import end_all_sessions

#: codes of the step before and after the current one are accepted too (clock drift)
VALID_WINDOW = 1
RECOVERY_CODES = 10
#: between the password and the code
TICKET_LIFETIME = timedelta(minutes=5)
#: wrong codes per account in ``FAILURE_SPAN``, from all clients; then the code step waits
MAX_CODE_FAILURES = 5
FAILURE_SPAN = timedelta(minutes=15)
ISSUER = "Action widget"
_PURPOSE = "totp-secret/v1"


class SecondFactorError(ValueError):
    """The second factor cannot be changed as asked (the new app's code is wrong, not allowed)."""


class WrongCode(WrongPassword):
    """The account's current code is not right: a guess, counted like a wrong password."""


class WrongEnrolCode(WrongPassword):
    """The one-time enrolment code is missing or not right: a guess, counted the same."""


# --- the secret --------------------------------------------------------------------------------


def new_secret() -> str:
    return pyotp.random_base32()


def _associated(staff_id: int) -> bytes:
    return f"staff:{staff_id}".encode()


def seal_secret(settings: Settings, secret: str, staff_id: int) -> str:
    """Sealed with the first key, bound to the account (AES-GCM associated data): a seal
    copied onto another account's row does not open there."""
    nonce = secrets.token_bytes(12)
    key = derive_key(settings.secret_key, _PURPOSE)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), _associated(staff_id))
    return "v2:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def _open(settings: Settings, sealed: str, staff_id: int) -> tuple[str, bool] | None:
    """The secret, and whether it should be sealed again (an older key opened it, or it is
    a ``v1`` seal, made before seals were bound to their account); None if no key opens it."""
    version, _, body = sealed.partition(":")
    if version not in ("v1", "v2"):
        return None
    raw = base64.urlsafe_b64decode(body)
    associated = _associated(staff_id) if version == "v2" else None
    for index, key in enumerate(settings.secret_keys):
        try:
            opened = AESGCM(derive_key(key, _PURPOSE)).decrypt(raw[:12], raw[12:], associated)
        except InvalidTag:
            continue
        return opened.decode(), index > 0 or version == "v1"
    return None


def open_secret(settings: Settings, sealed: str, staff_id: int) -> str | None:
    """The secret, with the signing key or an older one (rotation); None if none opens it."""
    opened = _open(settings, sealed, staff_id)
    return opened[0] if opened else None


def open_candidate(settings: Settings, sealed: object, staff_id: int) -> str | None:
    """The secret being enrolled, from its seal in the cookie; None if absent or forged."""
    if not (isinstance(sealed, str) and sealed.startswith("v2:") and len(sealed) < 200):
        return None
    try:
        secret = open_secret(settings, sealed, staff_id)
    except (ValueError, UnicodeDecodeError):
        return None
    return secret if secret is not None and len(secret) == 32 else None


def enrolment_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG markup (made here, never fetched)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, title="Enrolment QR code")
    return svg.replace("<svg ", '<svg role="img" aria-label="Enrolment QR code" ', 1)


def secret_for_display(secret: str) -> str:
    """In groups of four, as authenticator apps ask for it by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- checking codes ----------------------------------------------------------------------------


def enrolled(staff: Staff) -> bool:
    return staff.totp_secret is not None


def required(settings: Settings, staff: Staff) -> bool:
    """Admins need a second factor when ``WIDGET_STAFF_REQUIRE_2FA`` is on; others may have one."""
    return settings.staff_require_2fa and staff.role == "admin"


def must_enrol(settings: Settings, staff: Staff) -> bool:
    return required(settings, staff) and not enrolled(staff)


def _normalised(code: str) -> str:
    """Full-width digits and letters as ASCII, without spaces or hyphens, in lower case."""
    text = unicodedata.normalize("NFKC", code[:64])
    return "".join(char for char in text if char not in " -\t").lower()


def _step(now: datetime) -> int:
    return timegm(now.utctimetuple()) // 30


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = _normalised(code)
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = _step(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.at(step * 30), code):
            return step
    return None


def _take_step(session: Session, staff: Staff, step: int) -> bool:
    """Remember ``step`` as used, if it is later than the last one used (atomic)."""
    taken = session.execute(
        update(Staff)
        .where(
            Staff.id == staff.id,
            or_(Staff.totp_last_step.is_(None), Staff.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.refresh(staff)
    return taken.rowcount == 1


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(_normalised(code).encode()).hexdigest()


def _spend_recovery_code(session: Session, staff: Staff, code: str, now: datetime) -> bool:
    spent = session.execute(
        update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_id == staff.id,
            StaffRecoveryCode.code_hash == _recovery_hash(code),
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def check_second_factor(
    session: Session, settings: Settings, staff: Staff, code: str, now: datetime
) -> str | None:
    """``"totp"`` or ``"recovery-code"`` if ``code`` is a good one, now spent; else None.
    The caller commits."""
    if not enrolled(staff):
        return None
    opened = _open(settings, staff.totp_secret or "", staff.id)
    step = _matching_step(opened[0], code, now) if opened else None
    if step is not None:
        if not _take_step(session, staff, step):
            return None
        how = "totp"
    elif _spend_recovery_code(session, staff, code, now):
        how = "recovery-code"
    else:
        return None
    if opened and opened[1]:  # sealed with an older key: sealed again with the first one
        staff.totp_secret = seal_secret(settings, opened[0], staff.id)
    return how


def recovery_codes_left(session: Session, staff: Staff) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffRecoveryCode)
            .where(StaffRecoveryCode.staff_id == staff.id, StaffRecoveryCode.used_at.is_(None))
        )
        or 0
    )


def _new_recovery_codes(session: Session, staff: Staff) -> list[str]:
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        code = f"{raw[:5]}-{raw[5:10]}-{raw[10:15]}"
        session.add(StaffRecoveryCode(staff_id=staff.id, code_hash=_recovery_hash(code)))
        codes.append(code)
    return codes


# --- enrolling, disabling, resetting -----------------------------------------------------------


def _check_password(staff: Staff, password: str) -> None:
    too_long = len(password) > MAX_PASSWORD_LENGTH
    if too_long or not check_password_hash(staff.password_hash, password):
        raise WrongPassword("the password is not right")


def enrol(
    session: Session,
    settings: Settings,
    staff: Staff,
    *,
    secret: str,
    code: str,
    password: str,
    current: str | None,
    enrol_code: str | None,
    now: datetime,
) -> list[str]:
    """Set ``secret`` as the account's second factor once a code from it proves the app has
    it; re-enrolling also needs a current code (or recovery code) of the old one, and a first
    enrolment that is required a one-time enrolment code (``widget.enrol_codes``). Returns the
    new recovery codes (shown once, kept hashed); every session of the account ends (the caller
    signs this browser in again) and the enrolment is audited and mailed to the account."""
    _check_password(staff, password)
    if enrolled(staff) and not check_second_factor(session, settings, staff, current or "", now):
        raise WrongCode("the current code is not right")
    if must_enrol(settings, staff) and not enrol_codes.spend(session, staff, enrol_code or "", now):
        raise WrongEnrolCode("the enrolment code is not right")
    step = _matching_step(secret, code, now)
    if step is None:
        raise SecondFactorError("that code is not the one the app shows; try the next one")
    staff.totp_secret = seal_secret(settings, secret, staff.id)
    staff.totp_last_step = step
    codes = _new_recovery_codes(session, staff)
    end_all_sessions(session, staff.id)
    _audit(session, staff.email, "2fa.enrol", staff, now)
    session.commit()
    return codes


def _audit(session: Session, actor: str, action: str, staff: Staff, now: datetime) -> None:
    session.add(Audit(at=now, actor=actor, action=action, details={"account": staff.email}))
    enrol_codes.notify(session, staff, action, now)


def _remove(session: Session, staff: Staff) -> None:
    staff.totp_secret = None
    staff.totp_last_step = None
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff.id))
    end_all_sessions(session, staff.id)


def disable(
    session: Session, settings: Settings, staff: Staff, *, password: str, code: str, now: datetime
) -> None:
    """Turn the second factor off with the password and a current code; not for an account
    that must have one. Every session of the account ends (audited)."""
    if required(settings, staff):
        raise SecondFactorError("admins must keep a second factor; enrol a new app instead")
    _check_password(staff, password)
    if not check_second_factor(session, settings, staff, code, now):
        raise WrongCode("the code is not right")
    _remove(session, staff)
    _audit(session, staff.email, "2fa.disable", staff, now)
    session.commit()


def reset_by_admin(
    session: Session,
    settings: Settings,
    staff: Staff,
    *,
    admin: Staff,
    password: str,
    code: str,
    now: datetime,
) -> None:
    """``reset`` from the accounts page, after a step-up: the acting admin's own password again
    and, if it has a second factor, a current code of it. Not for the admin's own account
    (``disable`` or re-enrolling keep their rules)."""
    if staff.id == admin.id:
        raise SecondFactorError("this is for other accounts, not your own: move it to a new app")
    _check_password(admin, password)
    if enrolled(admin) and not check_second_factor(session, settings, admin, code, now):
        raise WrongCode("the code is not right")
    reset(session, staff, actor=admin.email, now=now)


def reset(session: Session, staff: Staff, *, actor: str, now: datetime) -> None:
    """An admin (or the command line) takes a locked-out account's second factor away: it
    signs in with its password and enrols again if it must. Its sessions end (audited)."""
    _remove(session, staff)
    _audit(session, actor, "2fa.reset", staff, now)
    session.commit()


# --- between the password and the code ---------------------------------------------------------


def _ticket_mac(session: Session, settings: Settings, staff: Staff, issued: int) -> str:
    """Binds the ticket to the account's current password and second factor, to its last
    code used and to its number of unused recovery codes: every successful second step changes
    one of them, so once a code signs in with it, a copy of the ticket is dead."""
    left = recovery_codes_left(session, staff)
    parts = (staff.id, issued, staff.password_hash, staff.totp_secret, staff.totp_last_step, left)
    message = ":".join(map(str, parts)).encode()
    key = derive_key(settings.secret_key, "2fa-ticket/v1")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def pending_ticket(
    session: Session, settings: Settings, staff: Staff, now: datetime
) -> dict[str, object]:
    """What the browser keeps (in its signed cookie) between the password and the code."""
    issued = timegm(now.utctimetuple())
    return {"id": staff.id, "at": issued, "mac": _ticket_mac(session, settings, staff, issued)}


def pending_staff(
    session: Session, settings: Settings, ticket: object, now: datetime
) -> Staff | None:
    """The account a ticket is for, or None: malformed, expired, or for a password or second
    factor that has changed since, or an account that may no longer sign in."""
    if not isinstance(ticket, dict):
        return None
    staff_id, issued, mac = ticket.get("id"), ticket.get("at"), ticket.get("mac")
    if not (isinstance(staff_id, int) and isinstance(issued, int) and isinstance(mac, str)):
        return None
    if not 0 <= timegm(now.utctimetuple()) - issued < TICKET_LIFETIME.total_seconds():
        return None
    staff = session.get(Staff, staff_id)
    if staff is None or not enrolled(staff):
        return None
    if not may_sign_in(staff):
        return None
    if not hmac.compare_digest(mac, _ticket_mac(session, settings, staff, issued)):
        return None
    return staff
