"""The one clock. Domain functions take ``now`` as an argument so tests never sleep."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC, the form every table stores."""
    return datetime.now(UTC).replace(tzinfo=None)
