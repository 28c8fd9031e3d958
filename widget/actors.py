"""Who an audit row names: a staff member's email, or ``cli:<user>`` for a command."""

from __future__ import annotations

import getpass


def cli_actor() -> str:
    """The command line's actor: the operating-system user who ran the command."""
    return f"cli:{getpass.getuser()}"
