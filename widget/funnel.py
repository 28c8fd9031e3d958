"""Where supporters drop out between signing and confirming, per campaign and per partner.

Counts only, from marks on the signatures themselves (no tracking pixel, nothing per person):
signed, mail sent, mail refused by the receiving server (bounced), link opened (the first GET
of the confirm page), confirmed, reminded, and confirmed after a reminder. Withdrawn,
invalidated and erased signatures stay in the figures as what they went through: the funnel
describes the mail, not the count (the count is ``widget.counter``).

And per source code: the ``ref=`` of the link a supporter came by (``widget.sharing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from .models import Campaign, Partner, Signature

#: the steps, in the order a supporter goes through them
STEPS = (
    "signed",
    "mailed",
    "bounced",
    "opened",
    "confirmed",
    "reminded",
    "confirmed_after_reminder",
)


@dataclass(frozen=True)
class FunnelRow:
    """One partner's figures (``partner`` None: signed directly or through no known partner),
    or one source code's (``ref``; None: came by a link without one)."""

    partner: str | None
    signed: int = 0
    mailed: int = 0
    bounced: int = 0
    opened: int = 0
    confirmed: int = 0
    reminded: int = 0
    confirmed_after_reminder: int = 0
    ref: str | None = None

    def rate(self, step: str) -> str:
        """A step as a share of the step it follows from (``RATE_OF``), one decimal; an en
        dash (``NO_RATE``) when nothing could have reached it."""
        value, base = getattr(self, step), getattr(self, RATE_OF[step])
        return NO_RATE if base == 0 else f"{100 * value / base:.1f}\u00a0%"


#: a rate whose denominator is 0 (an en dash)
NO_RATE = "\u2013"

#: the denominator of each step's rate
RATE_OF = {
    "signed": "signed",
    "mailed": "signed",
    "bounced": "mailed",
    "opened": "mailed",
    "confirmed": "signed",
    "reminded": "signed",
    "confirmed_after_reminder": "reminded",
}


@dataclass(frozen=True)
class Funnel:
    total: FunnelRow
    by_partner: list[FunnelRow] = field(default_factory=list)
    by_ref: list[FunnelRow] = field(default_factory=list)


def campaign_funnel(session: Session, campaign: Campaign) -> Funnel:
    """The campaign's funnel in a ``GROUP BY partner`` and a ``GROUP BY ref`` query; the total
    is the partners' sum."""
    rows = session.execute(
        select(Partner.name, *_steps())
        .select_from(Signature)
        .outerjoin(Partner, Partner.id == Signature.partner_id)
        .where(Signature.campaign_id == campaign.id)
        .group_by(Partner.id, Partner.name)
        .order_by(Partner.name.is_(None), Partner.name)
    ).all()
    by_partner = [FunnelRow(name, *counts) for name, *counts in rows]
    totals = [sum(getattr(row, step) for row in by_partner) for step in STEPS]
    refs = session.execute(
        select(Signature.ref, *_steps())
        .where(Signature.campaign_id == campaign.id)
        .group_by(Signature.ref)
        .order_by(Signature.ref.is_(None), Signature.ref)
    ).all()
    by_ref = [FunnelRow(None, *counts, ref=ref) for ref, *counts in refs]
    return Funnel(total=FunnelRow(None, *totals), by_partner=by_partner, by_ref=by_ref)


def _steps() -> list[object]:
    """The count of each of ``STEPS``, in their order, over the grouped signatures."""
    after_reminder = and_(
        Signature.reminded_at.is_not(None), Signature.verified_at > Signature.reminded_at
    )
    return [
        func.count(),
        _count(Signature.mailed_at.is_not(None)),
        _count(Signature.mail_bounced_at.is_not(None)),
        _count(Signature.link_opened_at.is_not(None)),
        _count(Signature.verified_at.is_not(None)),
        _count(Signature.reminded_at.is_not(None)),
        _count(after_reminder),
    ]


def _count(condition: object) -> object:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
