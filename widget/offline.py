"""Actions taken offline: paper letters from a vigil, a street stall's sheets, a delivered box.

They are counted apart from the verified online signatures (``widget.counter``) and never
mixed into them: the count JSON gives ``count`` (online), ``offline`` and ``total``, and the
report lists every entry with its note, so an official can see where each number came from.
A wrong entry is removed (kept, marked, audited) and entered again, never edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import counter
from .campaigns import CampaignFileError, check_characters
from .clock import iso
from .models import Audit, Campaign, OfflineAction

#: the most one entry may stand for: a typo of extra zeros is refused, not counted
MAX_COUNT = 1_000_000
MAX_NOTE = 500


class OfflineError(ValueError):
    """An entry cannot be made as given; ``field`` names which input is wrong. Staff read the
    message (in English, like the rest of the staff area's code)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class OfflineTally:
    """A campaign's offline actions: the sum, and per action those entered with one."""

    count: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None


def parse_count(value: str | None) -> int | None:
    """A count as typed: digits only, in any script (Urdu or Persian digits too); None for
    anything else ("1,200", "1_200", "-5", "1e3", "twelve"), which ``check_entry`` refuses."""
    value = (value or "").strip()
    if not value or not value.isdecimal() or len(value) > 12:
        return None
    return int(value)


def check_entry(campaign: Campaign, count: object, action: str | None, note: str | None) -> str:
    """Refuse a count that is not a whole number from 1 to ``MAX_COUNT``, an action the
    campaign does not offer, and a missing or overlong note; returns the note, trimmed."""
    if not isinstance(count, int) or isinstance(count, bool):
        raise OfflineError("count", "Give the number as a whole number, e.g. 120.")
    if count < 1:
        raise OfflineError("count", "The number must be at least 1.")
    if count > MAX_COUNT:
        raise OfflineError("count", f"The number must be at most {MAX_COUNT:,} per entry.")
    if action and action not in campaign.actions:
        raise OfflineError(
            "action",
            f"{action!r} is not an action of this campaign (it offers "
            f"{', '.join(campaign.actions)}).",
        )
    note = (note or "").strip()
    if not note:
        raise OfflineError(
            "note", "Say where these actions come from, e.g. “Vigil at the embassy, 3 Dec”."
        )
    if len(note) > MAX_NOTE:
        raise OfflineError("note", f"The note must be at most {MAX_NOTE} characters.")
    try:
        check_characters("note", note, multiline=True)
    except CampaignFileError:
        raise OfflineError("note", "The note holds a control character; remove it.") from None
    return note


def add_offline_action(
    session: Session,
    campaign: Campaign,
    *,
    count: object,
    action: str | None,
    note: str | None,
    now: datetime,
    actor: str,
) -> OfflineAction:
    """Enter offline actions, audited in the same transaction."""
    note = check_entry(campaign, count, action, note)
    entry = OfflineAction(
        campaign_id=campaign.id,
        count=count,
        action=action or None,
        note=note,
        created_at=now,
        created_by=actor,
    )
    session.add(entry)
    session.flush()
    session.add(
        Audit(
            at=now,
            actor=actor,
            action="offline.add",
            details={
                "campaign": campaign.slug,
                "entry": entry.id,
                "count": count,
                "action": entry.action,
            },
        )
    )
    session.commit()
    counter.changes_in_process += 1
    return entry


def remove_offline_action(
    session: Session, campaign: Campaign, entry_id: int, *, now: datetime, actor: str
) -> bool:
    """Take a mistaken entry out of the count; False if there is no such live entry."""
    removed = session.execute(
        update(OfflineAction)
        .where(OfflineAction.id == entry_id, OfflineAction.campaign_id == campaign.id)
        .where(OfflineAction.removed_at.is_(None))
        .values(removed_at=now, removed_by=actor)
        .returning(OfflineAction.count)
        .execution_options(synchronize_session=False)
    ).first()
    if removed is None:
        session.rollback()
        return False
    session.add(
        Audit(
            at=now,
            actor=actor,
            action="offline.remove",
            details={"campaign": campaign.slug, "entry": entry_id, "count": removed.count},
        )
    )
    session.commit()
    counter.changes_in_process += 1
    return True


def offline_entries(
    session: Session, campaign: Campaign, *, removed: bool = False
) -> list[OfflineAction]:
    """The campaign's entries, oldest first; the removed ones only when asked for."""
    query = select(OfflineAction).where(OfflineAction.campaign_id == campaign.id)
    if not removed:
        query = query.where(OfflineAction.removed_at.is_(None))
    return list(session.scalars(query.order_by(OfflineAction.created_at, OfflineAction.id)))


def offline_tally(session: Session, campaign: Campaign) -> OfflineTally:
    """The live entries summed, per action too (every offered action appears, 0 if none).
    ``updated_at`` is the last entry or removal, so a removal changes the count's time too."""
    live = OfflineAction.removed_at.is_(None)
    rows = session.execute(
        select(OfflineAction.action, func.sum(OfflineAction.count))
        .where(OfflineAction.campaign_id == campaign.id, live)
        .group_by(OfflineAction.action)
    ).all()
    created, removed = session.execute(
        select(func.max(OfflineAction.created_at), func.max(OfflineAction.removed_at)).where(
            OfflineAction.campaign_id == campaign.id
        )
    ).one()
    by_action = dict.fromkeys(campaign.actions, 0)
    total = 0
    for action, value in rows:
        total += int(value)
        if action is not None:
            by_action[action] = by_action.get(action, 0) + int(value)
    changes = [moment for moment in (created, removed) if moment is not None]
    return OfflineTally(total, by_action, max(changes, default=None))


def offline_in_widget(session: Session, campaign: Campaign) -> int | None:
    """What the widget shows beside its online count: the offline sum if the campaign chose
    to show it (``count_offline_in_widget``), else None (no line at all)."""
    return offline_tally(session, campaign).count if campaign.count_offline_in_widget else None


def count_fields(session: Session, campaign: Campaign) -> dict[str, object]:
    """The count as the public JSON (``/api/v1/campaigns/<c>/count``) and webhooks show it:
    ``count`` and ``by_action`` are the verified online signatures, as they always were;
    ``offline`` and ``offline_by_action`` the staff's offline entries; ``total`` both."""
    counts = counter.tally(session, campaign.id, campaign.actions)
    offline = offline_tally(session, campaign)
    changes = [moment for moment in (counts.updated_at, offline.updated_at) if moment]
    return {
        "count": counts.count,
        "offline": offline.count,
        "total": counts.count + offline.count,
        "goal": campaign.goal,
        "by_action": counts.by_action,
        "offline_by_action": offline.by_action,
        "updated_at": iso(max(changes, default=None)),
    }
