"""What the widget page reads of the database, reused by each process for a moment.

Every reader of an article loads the widget page, and it shows the same campaign, partners and
count to all of them: each process reads them again at most every ``FACTS_REUSE`` seconds (the
count every ``COUNT_REUSE``), or at once after a change made in the same process (a flush that
touches a campaign or a partner; a confirmation or withdrawal in ``widget.counter``). A change
made in another process (the staff editor, ``campaign load``) shows within that time.

The campaign and partners handed out are detached from any session and must be read only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from . import counter, partners
from .campaigns import SLUG
from .counter import Tally
from .models import Campaign, Partner
from .offline import offline_in_widget

#: seconds a process reuses a campaign and the partners it read
FACTS_REUSE = 2.0
#: seconds a process reuses a count it read (as the count endpoint does, ``views.api``)
COUNT_REUSE = 1.0
#: bumped by every flush or ORM statement of this process that changes a campaign or partner
changes_in_process = 0
WATCHED = (Campaign, Partner)
WATCHED_TABLES = frozenset(model.__table__ for model in WATCHED)  # type: ignore[attr-defined]


@event.listens_for(Session, "before_flush")
def _note_flush(session: Session, _context: Any, _instances: Any) -> None:
    global changes_in_process
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(instance, WATCHED) for instance in changed):
        changes_in_process += 1


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    global changes_in_process
    if (state.is_update or state.is_delete) and state.statement.table in WATCHED_TABLES:  # type: ignore[attr-defined]
        changes_in_process += 1


@dataclass(frozen=True)
class CampaignFacts:
    campaign: Campaign
    #: the ``frame-ancestors`` source list (``views.embed.allow_framing``)
    frame_ancestors: str
    #: the active partners by slug
    partners: dict[str, Partner]


@dataclass(frozen=True)
class Counts:
    tally: Tally
    #: the offline sum shown beside it, or None (``widget.offline.offline_in_widget``)
    offline: int | None


class PublicFacts:
    """One process's reused reads (``app.extensions["widget.facts"]``)."""

    def __init__(self) -> None:
        self._campaigns: dict[str, tuple[float, int, CampaignFacts]] = {}
        self._counts: dict[int, tuple[float, int, Counts]] = {}

    def campaign(self, session: Session, slug: str, *, now: datetime) -> CampaignFacts | None:
        """The campaign with ``slug`` as ``find_campaign`` gives it to the public pages (None
        if there is none or it has not opened yet), with its framing and the partners."""
        if not SLUG.fullmatch(slug):
            return None
        clock, changes = time.monotonic(), changes_in_process
        kept = self._campaigns.get(slug)
        if kept is None or kept[0] < clock or kept[1] != changes:
            facts = _read(session, slug)
            if facts is None:
                # nothing kept for a slug that does not exist: a junk slug costs a query
                self._campaigns.pop(slug, None)
                return None
            kept = (clock + FACTS_REUSE, changes, facts)
            self._campaigns[slug] = kept
        opens = kept[2].campaign.opens_at
        return None if opens is not None and now < opens else kept[2]

    def counts(self, session: Session, campaign: Campaign) -> Counts:
        clock, changes = time.monotonic(), counter.changes_in_process
        kept = self._counts.get(campaign.id)
        if kept is None or kept[0] < clock or kept[1] != changes:
            counts = Counts(
                counter.tally(session, campaign.id, campaign.actions),
                offline_in_widget(session, campaign),
            )
            kept = (clock + COUNT_REUSE, changes, counts)
            self._counts[campaign.id] = kept
        return kept[2]


def _read(session: Session, slug: str) -> CampaignFacts | None:
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None:
        return None
    origins = partners.frame_ancestors(session, campaign)
    active = session.scalars(select(Partner).where(Partner.active.is_(True))).all()
    facts = CampaignFacts(
        campaign=campaign,
        frame_ancestors="*" if origins == ["*"] else " ".join(["'self'", *origins]),
        partners={partner.slug: partner for partner in active},
    )
    # Detached with everything loaded: a later commit of this session cannot expire them.
    for instance in (campaign, *active):
        session.expunge(instance)
    return facts


def public_facts(app: Flask) -> PublicFacts:
    facts: PublicFacts | None = app.extensions.get("widget.facts")
    if facts is None:
        facts = app.extensions["widget.facts"] = PublicFacts()
    return facts
