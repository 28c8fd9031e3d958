"""Where the shipped files are: inside the package in a wheel, beside it in a source checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """``static``, ``templates``, ``migrations`` or ``campaigns``."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name


STATIC = resource("static")
TEMPLATES = resource("templates")
MIGRATIONS = resource("migrations")
CAMPAIGNS = resource("campaigns")
