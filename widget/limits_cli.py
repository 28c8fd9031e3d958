"""``flask --app widget limits list|reset NAME``: the run-time limits (``widget.runtime_limits``)
from the command line, for when the staff page itself is out of reach (a sign-in limit set so
low that no admin gets in to undo it)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from . import widget_state
from .actors import cli_actor
from .clock import utcnow
from .extensions import db
from .models import RuntimeLimit
from .runtime_limits import LIMITS, reset_limit

limits_group = AppGroup("limits", help="The run-time rate limits set at /staff/limits.")


@limits_group.command("list")
def list_limits() -> None:
    """Each limit in force: name, value, and whether it is the setting or who changed it."""
    settings = widget_state().settings
    overrides = {row.name: row for row in db.session.scalars(select(RuntimeLimit))}
    for name in LIMITS:
        row = overrides.get(name)
        if row is None:
            click.echo(f"{name}\t{getattr(settings, f'ratelimit_{name}')}\tsetting")
        else:
            changed = row.updated_at.strftime("%Y-%m-%d %H:%M")
            click.echo(f"{name}\t{row.value}\tset by {row.updated_by}, {changed} UTC")


@limits_group.command("reset")
@click.argument("name", type=click.Choice(list(LIMITS)))
def reset_command(name: str) -> None:
    """Back to the setting (audited); in force in every process within seconds."""
    if reset_limit(db.session, name, now=utcnow(), actor=cli_actor()):
        click.echo(f"{name}: back to the setting")
    else:
        click.echo(f"{name}: the setting holds already")
