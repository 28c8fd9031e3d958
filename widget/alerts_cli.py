"""``flask --app widget alerts``: mail admins about unusual signing (``widget.alerts``); safe
from cron every few minutes: at most one mail an hour per cause, exit 0, one summary line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .alerts import send_alerts
from .clock import utcnow
from .extensions import db
from .remind_cli import mail_link


def monitor_link(slug: str) -> str:
    return mail_link("staff.activity", slug=slug)


@click.command("alerts")
@with_appcontext
def alerts_command() -> None:
    """Mail the active admins about IP hashes, domains and partners that turned unusual in
    the last hour (the abuse monitor's rules); each cause at most once an hour."""
    with db.sessionmaker()() as session:
        report = send_alerts(session, utcnow(), monitor_link)
    sent, quiet = len(report.sent), len(report.quiet)
    if sent:
        click.echo(
            f"Unusual: {sent} new, mailed to {report.recipients} admins; "
            f"{quiet} mailed within the hour."
        )
    else:
        click.echo(f"Unusual: none new; {quiet} mailed within the hour.")
