"""The shapes the widget can take on a partner's page (``data-view`` / ``?view=``).

A plain, validated value, so it can be part of a cache key: anything unknown (a typo, a forged
or overlong value) is the full widget, never an error.
"""

from __future__ import annotations

#: ``full``: the whole action (the default); ``compact``: the form first, the ask folded under
#: it; ``counter``: the count and the goal bar only, linking to the action
VIEWS = ("full", "compact", "counter")
DEFAULT_VIEW = VIEWS[0]


def parse_view(value: str | None) -> str:
    """``value`` if it names a view exactly, else the full widget."""
    return value if value in VIEWS else DEFAULT_VIEW
