"""Keeping the count trustworthy: bot signs, throw-away addresses, hashed client IPs, and the
staff's tools to look at unusual signing and to take fake signatures out of the count.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib.resources import files

from publicsuffixlist import PublicSuffixList
from sqlalchemy import Select, exists, or_, select, update
from sqlalchemy.orm import Session

from . import counter, webhook_events
from .addresses import domain_key
from .kdf import derive_key
from .models import Audit, Campaign, Partner, Signature
from .networks import client_network

log = logging.getLogger(__name__)

#: big providers whose share of signatures says nothing about abuse
COMMON_PROVIDERS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com",
        "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru",
    }
)  # fmt: skip
#: an IP hash with this many signatures in the window is highlighted
UNUSUAL_PER_IP = 5
#: a less common email domain with this many, and this share of the window, is highlighted
UNUSUAL_PER_DOMAIN = 10
UNUSUAL_DOMAIN_SHARE = 0.25
#: a partner with this many, and this share of the window, is highlighted
UNUSUAL_PER_PARTNER = 20
UNUSUAL_PARTNER_SHARE = 0.5


@cache
def disposable_domains() -> frozenset[str]:
    """The shipped list of throw-away mail services (``widget/data/disposable_domains.txt``)."""
    text = files("widget").joinpath("data/disposable_domains.txt").read_text(encoding="utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_blocked_domain(email: str, extra: Iterable[str] = ()) -> bool:
    """Whether the address is at a blocked domain or one of its subdomains, however spelled."""
    domain = domain_key(email.rpartition("@")[2])
    blocked = disposable_domains() | frozenset(extra)
    labels = domain.split(".")
    return any(".".join(labels[i:]) in blocked for i in range(len(labels) - 1))


def bot_signal(
    honeypot: str | None, seconds_to_fill: float | None, min_seconds: float
) -> str | None:
    """Why a submission looks automated (``honeypot``, ``too-fast``), or None.

    A person never sees the honeypot field and needs more than a few seconds for the form."""
    if honeypot:
        return "honeypot"
    if seconds_to_fill is not None and seconds_to_fill < min_seconds:
        return "too-fast"
    return None


def ip_hash(secret_key: str, ip: str | None, ipv6_prefix: int = 64) -> str | None:
    """A keyed hash of the client's network (``widget.networks``): enough to group signatures,
    useless to recover the IP. Its key is derived for this purpose alone (``widget.kdf``), so
    it is the same in every process and reveals nothing of the key that signs tokens."""
    network = client_network(ip, ipv6_prefix)
    if not network:
        return None
    key = derive_key(secret_key, "ip-hash/v1")
    return hmac.new(key, network.encode(), hashlib.sha256).hexdigest()[:32]


@cache
def public_suffixes() -> PublicSuffixList:
    """The public suffix list bundled with ``publicsuffixlist`` (never fetched at run time)."""
    return PublicSuffixList()


def registrable_domain(domain: str) -> str:
    """``a1.spam.example`` -> ``spam.example``: a catch-all's subdomains are one sender."""
    return public_suffixes().privatesuffix(domain) or domain


@dataclass(frozen=True)
class Group:
    key: str
    signatures: int
    unusual: bool


@dataclass(frozen=True)
class Activity:
    """Signatures made in a window, grouped three ways, the unusual groups marked."""

    since: datetime
    until: datetime
    total: int
    by_ip: list[Group] = field(default_factory=list)
    by_domain: list[Group] = field(default_factory=list)
    by_partner: list[Group] = field(default_factory=list)


#: the domain column's entry for sealed signatures, whose address key is a keyed hash
SEALED_DOMAIN = "(sealed)"


def _key_domain(key: str) -> str:
    """The registrable domain of an address key; sealed mode keeps no domain in clear."""
    if key.startswith("hmac:"):
        return SEALED_DOMAIN
    return registrable_domain(key.rpartition("@")[2])


def recent_activity(
    session: Session, campaign: Campaign, since: datetime, until: datetime
) -> Activity:
    rows = session.execute(
        select(Signature.ip_hash, Signature.email_key, Partner.slug)
        .outerjoin(Partner, Signature.partner_id == Partner.id)
        .where(Signature.campaign_id == campaign.id)
        .where(Signature.created_at >= since, Signature.created_at < until)
        .where(Signature.invalidated_at.is_(None))
    ).all()
    total = len(rows)
    by_ip = Counter(ip or "(none)" for ip, _email, _partner in rows)
    by_domain = Counter(_key_domain(key) for _ip, key, _partner in rows)
    by_partner = Counter(partner or "(direct)" for _ip, _email, partner in rows)

    def share(count: int) -> float:
        return count / total if total else 0.0

    return Activity(
        since,
        until,
        total,
        by_ip=[Group(k, n, k != "(none)" and n >= UNUSUAL_PER_IP) for k, n in by_ip.most_common()],
        by_domain=[
            Group(
                k,
                n,
                # every sealed address is "(sealed)": always the whole window, never a sign
                k not in COMMON_PROVIDERS
                and k != SEALED_DOMAIN
                and n >= UNUSUAL_PER_DOMAIN
                and share(n) >= UNUSUAL_DOMAIN_SHARE,
            )
            for k, n in by_domain.most_common()
        ],
        by_partner=[
            Group(
                k,
                n,
                k != "(direct)" and n >= UNUSUAL_PER_PARTNER and share(n) >= UNUSUAL_PARTNER_SHARE,
            )
            for k, n in by_partner.most_common()
        ],
    )


@dataclass(frozen=True)
class Selection:
    """Which signatures to invalidate: every given criterion must match."""

    ip_hash: str | None = None
    domain: str | None = None
    partner: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def is_empty(self) -> bool:
        return not any((self.ip_hash, self.domain, self.partner, self.since, self.until))

    def describe(self) -> dict[str, str]:
        return {k: str(v) for k, v in vars(self).items() if v is not None}


class SelectionError(ValueError):
    """A selection refused before anything is read: empty, malformed, or so wide that a slip
    of a date would take out honest signatures by the thousand."""


#: a time window alone (no IP hash, domain or partner) may span at most this: a bot's burst,
#: never "everything since the campaign opened"
MAX_WINDOW_ALONE = timedelta(hours=48)
IP_HASH = re.compile(r"[0-9a-f]{32}")
#: a domain in its ASCII spelling (``domain_key``): letters, digits and hyphens, two labels or more
DOMAIN = re.compile(r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


def check_selection(selection: Selection) -> Selection:
    """The selection with its domain in its one ASCII spelling, or a ``SelectionError``."""
    if selection.is_empty():
        raise SelectionError("Give at least one of: IP hash, domain, partner, time window.")
    if selection.ip_hash and not IP_HASH.fullmatch(selection.ip_hash):
        raise SelectionError("An IP hash is 32 characters 0-9 and a-f, as the monitor shows it.")
    domain = domain_key(selection.domain) if selection.domain else None
    if domain is not None and not DOMAIN.fullmatch(domain):
        raise SelectionError("Give the domain as in an address, e.g. mail.example.")
    since, until = selection.since, selection.until
    if since and until and since >= until:
        raise SelectionError("The time window must start before it ends.")
    if not (selection.ip_hash or domain or selection.partner):
        if since is None or until is None:
            raise SelectionError("A time window alone needs both its start and its end.")
        if until - since > MAX_WINDOW_ALONE:
            hours = int(MAX_WINDOW_ALONE.total_seconds() // 3600)
            raise SelectionError(
                f"A time window alone may span at most {hours} hours; "
                "add an IP hash, a domain or a partner for a wider one."
            )
    return Selection(selection.ip_hash, domain, selection.partner, since, until)


@dataclass(frozen=True)
class Invalidation:
    pending: int
    verified: int
    by_action: dict[str, int]
    applied: bool
    #: the campaign's verified count before, and after (or, dry, as it would be after)
    count_before: int = 0
    count_after: int = 0
    #: each action's count before
    actions_before: dict[str, int] = field(default_factory=dict)
    #: ``selection_digest`` of the signatures it takes (or, dry, would take) out
    digest: str = ""


def selection_digest(signature_ids: Iterable[int]) -> str:
    """Which signatures a dry run showed, in 64 characters: a confirm takes out exactly these."""
    joined = ",".join(str(n) for n in sorted(signature_ids))
    return hashlib.sha256(joined.encode()).hexdigest()


class PreviewOutdated(Exception):
    """The signatures matching the selection changed since the preview the admin confirmed:
    nothing was done; ``preview`` is what the selection matches now."""

    def __init__(self, preview: Invalidation) -> None:
        super().__init__("the selection matches other signatures than the preview showed")
        self.preview = preview


def invalidate(
    session: Session,
    campaign: Campaign,
    selection: Selection,
    *,
    now: datetime,
    actor: str,
    apply: bool,
    expect: str | None = None,
) -> Invalidation:
    """Take the selected signatures out of the count (or, without ``apply``, say what would
    change). Counts are corrected and the audit entry written in the same transaction. With
    ``expect`` (the preview's ``digest``) nothing is done unless the selection matches exactly
    the signatures the preview did, read in this transaction.

    The one implementation behind the ``invalidate`` command and the abuse monitor's button."""
    selection = check_selection(selection)
    if selection.partner and not session.scalar(
        select(exists().where(Partner.slug == selection.partner))
    ):
        raise SelectionError(f"No partner {selection.partner[:64]!r}.")
    signatures = session.scalars(_selected(campaign, selection)).all()
    before = counter.tally(session, campaign.id)
    preview = _summary(signatures, before, applied=False)
    if not apply or (expect is not None and not hmac.compare_digest(expect, preview.digest)):
        session.rollback()
        if apply:
            raise PreviewOutdated(preview)
        return preview
    marked = []
    for signature in signatures:
        # Conditional, so a withdrawal or another invalidation at the same moment never makes
        # the count drop twice.
        row = session.execute(
            update(Signature)
            .where(Signature.id == signature.id)
            .where(Signature.invalidated_at.is_(None), Signature.withdrawn_at.is_(None))
            .values(invalidated_at=now, updated_at=now)
            .returning(Signature.verified_at)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            continue
        marked.append(signature)
        # receivers told of it are told it no longer stands; what they were not yet sent
        # is not sent
        webhook_events.queue_withdrawn(session, signature, now, reason="invalidated")
        if row.verified_at is not None:
            counter.add(
                session, campaign.id, signature.actions, shard_key=signature.id, now=now, delta=-1
            )
    result = _summary(marked, before, applied=True)
    session.add(
        Audit(
            at=now,
            actor=actor,
            action="invalidate",
            details={
                "campaign": campaign.slug,
                "selection": selection.describe(),
                "pending": result.pending,
                "verified": result.verified,
            },
        )
    )
    session.commit()
    log.warning(
        "%s invalidated %d verified and %d pending signatures of %s (%s)",
        actor,
        result.verified,
        result.pending,
        campaign.slug,
        selection.describe(),
    )
    return result


def _selected(campaign: Campaign, selection: Selection) -> Select[tuple[Signature]]:
    query = (
        select(Signature)
        .where(Signature.campaign_id == campaign.id)
        .where(Signature.invalidated_at.is_(None), Signature.withdrawn_at.is_(None))
    )
    if selection.ip_hash:
        query = query.where(Signature.ip_hash == selection.ip_hash)
    if selection.domain:
        # the domain and its subdomains (``check_selection`` gave its one spelling)
        query = query.where(
            or_(
                Signature.email_key.endswith("@" + selection.domain, autoescape=True),
                Signature.email_key.endswith("." + selection.domain, autoescape=True),
            )
        )
    if selection.partner:
        query = query.join(Partner).where(Partner.slug == selection.partner)
    if selection.since:
        query = query.where(Signature.created_at >= selection.since)
    if selection.until:
        query = query.where(Signature.created_at < selection.until)
    return query.order_by(Signature.id)


def _summary(
    signatures: Iterable[Signature], before: counter.Tally, *, applied: bool
) -> Invalidation:
    """What taking ``signatures`` out does to counts that stood at ``before`` (verified ones
    count; pending ones never did)."""
    signatures = list(signatures)
    verified = [s for s in signatures if s.verified_at is not None]
    by_action = Counter(action for s in verified for action in s.actions)
    pending = len(signatures) - len(verified)
    after = before.count - len(verified)
    return Invalidation(
        pending,
        len(verified),
        dict(by_action),
        applied,
        before.count,
        after,
        before.by_action,
        selection_digest(s.id for s in signatures),
    )
