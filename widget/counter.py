"""Verified counts per campaign and action, kept current by confirmations and read cheaply.

No ``COUNT(*)`` per request: a confirmation adds to a ``Count`` shard in its own transaction,
and a read sums at most ``SHARDS`` rows per action.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Executable, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import Count

SHARDS = 8
#: the action name under which verified signatures are counted
TOTAL = "*"
#: bumped by every change this process makes to a count, so caches of counts kept in this
#: process (``widget.views.api``) never outlive one of its own changes
changes_in_process = 0


@dataclass(frozen=True)
class Tally:
    """A campaign's verified total and its breakdown by action."""

    count: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None


def add(
    session: Session,
    campaign_id: int,
    actions: Iterable[str],
    *,
    shard_key: int,
    now: datetime,
    delta: int = 1,
) -> None:
    """Add ``delta`` (+1 on confirmation, -1 on withdrawal or invalidation) to the total and to
    each action; the caller commits. ``shard_key`` must be the same for both directions."""
    global changes_in_process
    changes_in_process += 1
    shard = shard_key % SHARDS
    if delta > 0:
        _increment(session, campaign_id, (TOTAL, *actions), shard, delta, now)
        return
    for action in (TOTAL, *actions):
        session.execute(
            update(Count)
            .where(Count.campaign_id == campaign_id)
            .where(Count.action == action, Count.shard == shard)
            .values(value=Count.value + delta, updated_at=now)
        )


def _increment(
    session: Session,
    campaign_id: int,
    actions: tuple[str, ...],
    shard: int,
    delta: int,
    now: datetime,
) -> None:
    """Insert each action's shard row or add to it: one upsert statement, sent for all of them
    at once (no read-then-write race)."""
    session.execute(
        _upsert_for(session),
        [
            {
                "campaign_id": campaign_id,
                "action": action,
                "shard": shard,
                "value": delta * times,
                "updated_at": now,
            }
            # an action listed twice adds twice, as a withdrawal takes it away twice
            for action, times in collections.Counter(actions).items()
        ],
    )


_UPSERTS: dict[str, Executable] = {}


def _upsert_for(session: Session) -> Executable:
    """``INSERT … ON CONFLICT (campaign, action, shard) DO UPDATE`` adding the new value, in the
    session's dialect: built once (building it was a fifth of a confirmation)."""
    dialect = session.get_bind().dialect.name
    if dialect not in _UPSERTS:
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Count)
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[Count.campaign_id, Count.action, Count.shard],
            set_={
                "value": Count.value + statement.excluded.value,
                "updated_at": statement.excluded.updated_at,
            },
        )
    return _UPSERTS[dialect]


def tally(session: Session, campaign_id: int, offered: Iterable[str] = ()) -> Tally:
    """The current counts; every offered action appears, with 0 if nobody reported it."""
    rows = session.execute(
        select(Count.action, func.sum(Count.value), func.max(Count.updated_at))
        .where(Count.campaign_id == campaign_id)
        .group_by(Count.action)
    ).all()
    by_action = dict.fromkeys(offered, 0)
    total, updated_at = 0, None
    for action, value, changed in rows:
        if action == TOTAL:
            total, updated_at = int(value), changed
        else:
            by_action[action] = int(value)
    return Tally(total, by_action, updated_at)
