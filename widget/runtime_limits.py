"""Rate limits and an allow-list of shared networks, changed by admins while the app runs.

In the middle of a spike nobody should have to edit environment variables and restart. An
admin sets a limit (the ``limits`` package's syntax) or adds a network of shared addresses (a
campus, a mobile carrier's NAT, where hundreds of people sign from one address) in the staff
area; the values live in the database, every change audited, and raise one version number.

Each process keeps the values in memory and looks at the version number at most every
``CHECK_SECONDS`` (one primary-key read), reloading only when it moved: a request costs a
dictionary lookup, never a query, and a change is in force everywhere within seconds. Without
an override the ``WIDGET_RATELIMIT_*`` setting holds; if the database cannot be read, the last
values (at first the settings) stay.

A client in an allowed network gets the per-client limits (sign, the per-IP ceiling, links)
raised by its network's multiplier (``raised``), never lifted: a campus signs at twenty times the
pace of one address, a bot behind it is still stopped. The bot checks, form tokens, the mail
budget per address, and the sign-in and API limits hold unchanged.

A limit is bounded (``check_limit``): a period of at most ``MAX_PERIOD`` (Redis refuses an
expiry past its range, and every request would then be refused), at most
``MAX_AMOUNT`` per period (more is no limit at all), and the sign-in limits at least
``LOGIN_FLOOR_PER_HOUR`` an hour, so a slip cannot lock every admin out of this very page
(``flask --app widget limits reset NAME`` undoes one from the command line).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from limits import RateLimitItem, parse_many
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from .models import Audit, LimitAllowance, RuntimeLimit, RuntimeLimitsVersion
from .settings import Settings

log = logging.getLogger(__name__)

#: the limits an admin may change, with what each one limits (the settings' ``ratelimit_*``)
LIMITS = {
    "sign": "Sign attempts per client address per campaign",
    "ip": "Every form sent from one client address (signing, confirming, withdrawing)",
    "links": "Confirm and withdraw links opened from one client address",
    "mail": "Mails to one email address",
    "login": "Staff sign-in attempts from one client address",
    "login_account": "Failed sign-ins to one staff account from all addresses",
    "api": "Signatures API requests per key",
}
#: seconds between two looks at the version number in one process
CHECK_SECONDS = 2.0
MAX_LIMIT_LENGTH = 200
MAX_LIMIT_ITEMS = 4
MAX_NOTE_LENGTH = 200
#: a limit's longest period (its multiple times its granularity), and most requests per period
MAX_PERIOD = timedelta(days=366)
MAX_AMOUNT = 10_000
#: the sign-in limits' floor, in attempts an hour, for each part of their limit string
LOGIN_LIMITS = ("login", "login_account")
LOGIN_FLOOR_PER_HOUR = 10
#: an allowed network's multiplier of the per-client limits: its default, and its bounds
DEFAULT_MULTIPLIER = 20
MIN_MULTIPLIER, MAX_MULTIPLIER = 2, 1000
#: a raised part's most requests per period: a moving window keeps one entry per request
MAX_RAISED_AMOUNT = 100_000
#: the limits an allowed network raises
RAISED_LIMITS = ("sign", "ip", "links")
#: the widest network that may be allowed: a slip must never raise the limits of the whole Internet
MIN_PREFIX = {4: 16, 6: 32}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RuntimeLimitError(ValueError):
    """A value an admin gave cannot be used; the message says what to give instead."""


def check_limit(value: str, name: str | None = None) -> str:
    """A limit string the ``limits`` package parses, each part allowing 1 to ``MAX_AMOUNT``
    requests in at most ``MAX_PERIOD``; for the sign-in limits (``name``), at least their floor."""
    value = value.strip()
    if not value or len(value) > MAX_LIMIT_LENGTH or not value.isascii() or not value.isprintable():
        raise RuntimeLimitError("Give a limit such as “10 per minute;100 per hour”.")
    try:
        items = parse_many(value)
    except ValueError:
        raise RuntimeLimitError(
            "That is not a limit string; give e.g. “10 per minute;100 per hour”."
        ) from None
    if not 1 <= len(items) <= MAX_LIMIT_ITEMS:
        raise RuntimeLimitError(f"Give one to {MAX_LIMIT_ITEMS} limits, separated by “;”.")
    if any(item.amount < 1 or item.multiples < 1 for item in items):
        raise RuntimeLimitError(
            "Each limit must allow at least 1 request; to stop signing, close the campaign."
        )
    days = MAX_PERIOD.days
    if any(_period(item) > MAX_PERIOD.total_seconds() for item in items):
        raise RuntimeLimitError(f"A limit's period may be at most {days} days (e.g. “365 day”).")
    if any(item.amount > MAX_AMOUNT for item in items):
        raise RuntimeLimitError(
            f"A limit may allow at most {MAX_AMOUNT:,} requests per period; "
            "give a shorter period for a higher pace."
        )
    if name in LOGIN_LIMITS and any(
        item.amount * 3600 < LOGIN_FLOOR_PER_HOUR * _period(item) for item in items
    ):
        raise RuntimeLimitError(
            f"A sign-in limit must allow at least {LOGIN_FLOOR_PER_HOUR} attempts an hour in "
            "each part (e.g. “10 per hour”, “240 per day”), so that no admin is locked out."
        )
    return value


def _period(item: RateLimitItem) -> int:
    """A limit's period in seconds: its granularity times its multiple."""
    return int(item.GRANULARITY.seconds * item.multiples)


def check_multiplier(value: object) -> int:
    text = str(value).strip()
    # ASCII digits only: ``int`` takes full-width and other scripts' digits too
    multiplier = int(text) if text.isascii() and text.isdigit() else 0
    if not MIN_MULTIPLIER <= multiplier <= MAX_MULTIPLIER:
        raise RuntimeLimitError(
            f"Give the multiplier as a whole number from {MIN_MULTIPLIER} to {MAX_MULTIPLIER}."
        )
    return multiplier


def raised(value: str, multiplier: int) -> str:
    """``value`` with every part's amount times ``multiplier`` (at most ``MAX_RAISED_AMOUNT``):
    ``5 per minute`` x20 is ``100 per 1 minute``."""
    return ";".join(
        f"{min(item.amount * multiplier, MAX_RAISED_AMOUNT)} per {item.multiples} "
        f"{item.GRANULARITY.name}"
        for item in parse_many(value)
    )


def check_network(value: str) -> str:
    """A CIDR network in its normal form (host bits cleared), no wider than ``MIN_PREFIX``."""
    value = value.strip()
    if not value or len(value) > 50 or not value.isascii():
        raise RuntimeLimitError("Give a network such as 192.0.2.0/24 or 2001:db8::/48.")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise RuntimeLimitError(
            "That is not a network; give it as 192.0.2.0/24 or 2001:db8::/48."
        ) from None
    address = network.network_address
    if isinstance(address, ipaddress.IPv6Address) and (address.scope_id or address.ipv4_mapped):
        # clients are matched by their IPv4 address or their plain IPv6 one (``allowed``)
        raise RuntimeLimitError("Give an IPv4 network as such, and an IPv6 one without a zone.")
    widest = MIN_PREFIX[network.version]
    if network.prefixlen < widest:
        raise RuntimeLimitError(f"A network may be at most a /{widest} for IPv{network.version}.")
    return str(network)


def check_note(value: str) -> str:
    note = " ".join(value.split())
    if not 1 <= len(note) <= MAX_NOTE_LENGTH:
        raise RuntimeLimitError(
            f"Say whose addresses they are, in 1 to {MAX_NOTE_LENGTH} characters."
        )
    return note


# --- the changes (audited, each raising the version) ---------------------------------------------


def _bump(session: Session) -> None:
    raised = session.execute(
        update(RuntimeLimitsVersion)
        .where(RuntimeLimitsVersion.id == 1)
        .values(version=RuntimeLimitsVersion.version + 1)
    )
    if raised.rowcount == 0:  # type: ignore[attr-defined]
        session.add(RuntimeLimitsVersion(id=1, version=1))


def set_limit(session: Session, name: str, value: str, *, now: datetime, actor: str) -> str:
    if name not in LIMITS:
        raise RuntimeLimitError("There is no such limit.")
    value = check_limit(value, name)
    row = session.get(RuntimeLimit, name)
    previous = row.value if row else None
    if row is None:
        session.add(RuntimeLimit(name=name, value=value, updated_at=now, updated_by=actor))
    else:
        row.value, row.updated_at, row.updated_by = value, now, actor
    details = {"limit": name, "value": value, "previous": previous}
    session.add(Audit(at=now, actor=actor, action="limit.set", details=details))
    _bump(session)
    session.commit()
    return value


def reset_limit(session: Session, name: str, *, now: datetime, actor: str) -> bool:
    """Back to the setting's value; False if there was no override."""
    removed = session.execute(delete(RuntimeLimit).where(RuntimeLimit.name == name))
    if not removed.rowcount:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.add(Audit(at=now, actor=actor, action="limit.reset", details={"limit": name}))
    _bump(session)
    session.commit()
    return True


def add_allowance(
    session: Session,
    network: str,
    note: str,
    *,
    now: datetime,
    actor: str,
    multiplier: object = DEFAULT_MULTIPLIER,
) -> LimitAllowance:
    network, note = check_network(network), check_note(note)
    times = check_multiplier(multiplier)
    if session.scalar(select(LimitAllowance.id).where(LimitAllowance.network == network)):
        raise RuntimeLimitError(f"{network} is on the list already.")
    allowance = LimitAllowance(
        network=network, note=note, multiplier=times, created_at=now, created_by=actor
    )
    session.add(allowance)
    details = {"network": network, "note": note, "multiplier": times}
    session.add(Audit(at=now, actor=actor, action="allowance.add", details=details))
    _bump(session)
    session.commit()
    return allowance


def set_multiplier(
    session: Session, allowance_id: int, multiplier: object, *, now: datetime, actor: str
) -> bool:
    """A new multiplier for an allowed network; False if there is no such allowance."""
    times = check_multiplier(multiplier)
    allowance = session.get(LimitAllowance, allowance_id)
    if allowance is None:
        return False
    details = {"network": allowance.network, "multiplier": times, "previous": allowance.multiplier}
    allowance.multiplier = times
    session.add(Audit(at=now, actor=actor, action="allowance.multiplier", details=details))
    _bump(session)
    session.commit()
    return True


def remove_allowance(session: Session, allowance_id: int, *, now: datetime, actor: str) -> bool:
    allowance = session.get(LimitAllowance, allowance_id)
    if allowance is None:
        return False
    details = {"network": allowance.network, "note": allowance.note}
    session.delete(allowance)
    session.add(Audit(at=now, actor=actor, action="allowance.remove", details=details))
    _bump(session)
    session.commit()
    return True


# --- what each process holds -------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    version: int | None
    limits: dict[str, str]
    #: each allowed network with its multiplier
    networks: tuple[tuple[Network, int], ...]


def read_snapshot(session: Session) -> Snapshot:
    version = session.scalar(select(RuntimeLimitsVersion.version))
    limits = {}
    for name, value in session.execute(select(RuntimeLimit.name, RuntimeLimit.value)):
        try:
            limits[name] = check_limit(value, name)
        except RuntimeLimitError:
            # stored before today's bounds: the setting holds until an admin sets it again
            log.warning("run-time limit %s is out of bounds: the setting holds", name)
    networks = tuple(
        (ipaddress.ip_network(network), multiplier)
        for network, multiplier in session.execute(
            select(LimitAllowance.network, LimitAllowance.multiplier).order_by(LimitAllowance.id)
        )
    )
    return Snapshot(version or 0, limits, networks)


#: the one read each process makes every ``CHECK_SECONDS``
VERSION_QUERY = select(RuntimeLimitsVersion.version).where(RuntimeLimitsVersion.id == 1)


class RuntimeLimits:
    """One process's copy, refreshed by whichever request finds it older than CHECK_SECONDS
    (the others go on with the copy they have rather than wait)."""

    def __init__(
        self, settings: Settings, engine: Engine, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._defaults = {name: getattr(settings, f"ratelimit_{name}") for name in LIMITS}
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot = Snapshot(None, {}, ())
        self._checked_at = float("-inf")
        self._failing = False

    def limit(self, name: str) -> str:
        self._refresh()
        return self._snapshot.limits.get(name) or self._defaults[name]

    def default(self, name: str) -> str:
        return self._defaults[name]

    def client_limit(self, name: str, ip: str | None) -> str:
        """The limit ``name`` (one of ``RAISED_LIMITS``) for the client at ``ip``: raised by
        its allowed network's multiplier (the highest, if several hold it), else as it is."""
        value = self.limit(name)
        multiplier = self.multiplier(ip)
        return raised(value, multiplier) if multiplier > 1 else value

    def multiplier(self, ip: str | None) -> int:
        """The multiplier of the allowed network the client's address is in; 1 if none."""
        self._refresh()
        networks = self._snapshot.networks
        if not networks or not ip:
            return 1
        try:
            address: Any = ipaddress.ip_address(ip)
        except ValueError:
            return 1
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return max((times for network, times in networks if address in network), default=1)

    def expire(self) -> None:
        """Look at the version at the next request: the process that made a change has it in
        force at once."""
        self._checked_at = float("-inf")

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._checked_at < CHECK_SECONDS or not self._lock.acquire(blocking=False):
            return
        try:
            self._checked_at = now
            with Session(self._engine) as session:
                version = session.scalar(VERSION_QUERY) or 0
                if version != self._snapshot.version:
                    self._snapshot = read_snapshot(session)
        except Exception:
            # once per outage, not every two seconds of it
            if not self._failing:
                log.exception("run-time limits unreadable: the last known values stay in force")
            self._failing = True
        else:
            self._failing = False
        finally:
            self._lock.release()
