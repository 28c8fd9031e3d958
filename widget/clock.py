"""The one clock. Domain functions take ``now`` as an argument so tests never sleep."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC, the form every table stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(moment: datetime | None) -> str | None:
    """A stored time as the JSON we publish shows it: ``2026-12-02T00:40:00Z``."""
    return moment.isoformat(timespec="seconds") + "Z" if moment else None
