"""``flask --app widget remind [--older-than HOURS] [--dry-run]``: the reminders
(``widget.reminders``), safe from cron: idempotent, exit 0, one summary line."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from . import limits, widget_state
from .clock import utcnow
from .extensions import db
from .notices import MailNotices
from .reminders import SEALED, remind_unconfirmed
from .settings import ConfigurationError, reminder_hours
from .views import public_base


def mail_link(endpoint: str, **values: object) -> str:
    """A link for a mail made outside any request: under ``WIDGET_PUBLIC_URL`` as always
    (``views.absolute_url``), the path from the app's URL map."""
    return public_base() + current_app.url_map.bind("localhost").build(endpoint, values)


def older_than_hours(value: str | None) -> int:
    """``--older-than`` as given, else ``WIDGET_REMIND_AFTER_HOURS``; a bad value exits 2."""
    settings = widget_state().settings
    if value is None:
        return settings.remind_after_hours
    try:
        return reminder_hours("--older-than", value, pending_days=settings.retention_pending_days)
    except ConfigurationError as error:
        message = str(error).removeprefix(f"--older-than={value!r}: ")
        raise click.BadParameter(message, param_hint="'--older-than'") from None


@click.command("remind")
@click.option(
    "--older-than",
    "hours_text",
    metavar="HOURS",
    help="Remind signatures unconfirmed for this many hours (default WIDGET_REMIND_AFTER_HOURS).",
)
@click.option("--dry-run", is_flag=True, help="Only count; send nothing, write nothing.")
@with_appcontext
def remind_command(hours_text: str | None, dry_run: bool) -> None:
    """Mail one reminder to each unconfirmed signature older than HOURS: never twice, never
    after the campaign closed or the pending retention, within each address's mail budget."""
    hours = older_than_hours(hours_text)
    state = widget_state()
    if state.settings.ratelimit_storage_url.startswith("memory://"):
        click.echo(
            "Note: WIDGET_RATELIMIT_STORAGE_URL is memory://, so this command cannot see the "
            "mail budget the web processes spent (nor they its own): set it to redis://... "
            "to keep one budget per address.",
            err=True,
        )
    with db.sessionmaker()() as session:
        report = remind_unconfirmed(
            session,
            now=utcnow(),
            older_than=timedelta(hours=hours),
            pending_days=state.settings.retention_pending_days,
            notices=MailNotices(mail_link, state),
            may_mail=limits.may_mail,
            sealed_mode=state.settings.sealed,
            dry_run=dry_run,
        )
    if report.skipped[SEALED]:
        sealed = report.skipped[SEALED]
        # the commands speak English, like the rest of the command line
        click.echo(
            f"{sealed} unconfirmed signature is sealed (WIDGET_DATA_PUBLIC_KEY): its address "
            "is not kept in clear, so no reminder can be sent to it."
            if sealed == 1
            else f"{sealed} unconfirmed signatures are sealed (WIDGET_DATA_PUBLIC_KEY): their "
            "address is not kept in clear, so no reminder can be sent to them."
        )
    click.echo(f"Unconfirmed for over {hours} h: {report.summary()}.")
    if dry_run:
        click.echo("Nothing was sent or changed (--dry-run).")
