"""``flask --app widget ...`` and ``action-widget ...``: database, campaigns, mail sender."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import paths, sender, widget_state
from .abuse import Selection, invalidate, recent_activity
from .campaigns import CampaignFileError, find_campaign, load_campaign_file
from .clock import utcnow
from .exports import ExportFilter, audit_export, csv_chunks
from .extensions import db
from .models import Campaign
from .outbox import DeliveryReport, database_problem, deliver_due
from .outbox_status import resend
from .partners import PartnerError, save_partner
from .privacy import erase_supporter, find_by_email, purge
from .relay import SmtpTransport
from .staff import ROLES, StaffError, create_staff

if TYPE_CHECKING:
    from alembic.config import Config

db_group = AppGroup("db", help="The database schema (Alembic migrations).")
campaign_group = AppGroup("campaign", help="Campaigns.")
outbox_group = AppGroup("outbox", help="Queued mail.")
partner_group = AppGroup("partner", help="Partner sites that embed the widget.")
staff_group = AppGroup("staff", help="Staff accounts.")


def alembic_config(app: Flask) -> Config:
    """Alembic is imported here, not at the top: every other command starts faster without it."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(paths.MIGRATIONS))
    config.attributes["engine"] = db.engine(app)
    return config


def upgrade_database(app: Flask, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(app), revision)


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Bring the schema up to REVISION (default: the newest)."""
    upgrade_database(current_app, revision)
    click.echo(f"Database is at {revision}.")


@campaign_group.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def campaign_load(files: tuple[Path, ...]) -> None:
    """Create or update campaigns from TOML FILES (each validated whole first)."""
    for file in files:
        with db.sessionmaker()() as session:
            try:
                campaign, created = load_campaign_file(
                    session, file, utcnow(), actor=f"cli:{getpass.getuser()}"
                )
            except CampaignFileError as error:
                raise click.ClickException(f"{file}: {error}") from None
        verb = "Created" if created else "Updated"
        click.echo(f"{verb} campaign {campaign.slug} ({campaign.reference}): {campaign.title}")


@partner_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The partner's name, as staff see it.")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="A site of the partner, e.g. https://news.example.org (repeatable).",
)
def partner_add(slug: str, name: str, origins: tuple[str, ...]) -> None:
    """Register partner SLUG (the data-partner value), or update its name and origins."""
    with db.sessionmaker()() as session:
        try:
            partner, created = save_partner(
                session, slug, name, list(origins), utcnow(), actor=f"cli:{getpass.getuser()}"
            )
        except PartnerError as error:
            raise click.ClickException(str(error)) from None
        verb = "Added" if created else "Updated"
        sites = ", ".join(partner.origins) or "no origins"
        click.echo(f"{verb} partner {partner.slug} ({partner.name}): {sites}")


@staff_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
def staff_create(email: str, role: str) -> None:
    """Create a staff account; the password comes from a prompt, or from stdin when piped."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with db.sessionmaker()() as session:
        try:
            staff = create_staff(session, email, password, role, utcnow())
        except StaffError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"Created {staff.role} {staff.email}.")


@outbox_group.command("work")
@click.option("--once", is_flag=True, help="Send what is due, then exit.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
def outbox_work(once: bool, interval: float) -> None:
    """Deliver queued mail over WIDGET_MAIL_URL, retrying with backoff; safe to run twice.

    Without --once it runs until stopped, through database and relay outages."""
    settings = widget_state().settings
    if not settings.mail.delivers:
        raise click.ClickException(
            "WIDGET_MAIL_URL is outbox://, so mail stays in the database (see /dev/mail). "
            "Set it to smtp://... to deliver."
        )
    transport = SmtpTransport(settings.mail, settings.mail_from)
    if not once:
        sender.run(db.sessionmaker(), transport, interval=interval, on_report=echo_report)
        return
    try:
        report = deliver_due(db.sessionmaker(), transport)
    except SQLAlchemyError as error:
        raise click.ClickException(f"database error: {database_problem(error)}") from None
    echo_report(report)
    if report.relay_refused is not None:
        raise click.ClickException(f"the relay refused us: {report.relay_refused}")


def echo_report(report: DeliveryReport) -> None:
    if report.handled:
        click.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")


@outbox_group.command("retry")
@click.option("--all-failed", is_flag=True, help="Every message that failed for good.")
@click.argument("ids", nargs=-1, type=int)
def outbox_retry(all_failed: bool, ids: tuple[int, ...]) -> None:
    """Send failed (or waiting) messages again now, with fresh attempts (audited)."""
    if all_failed == bool(ids):
        raise click.UsageError("Give message IDs or --all-failed (one of them).")
    actor = f"cli:{getpass.getuser()}"
    with db.sessionmaker()() as session:
        resent = resend(session, None if all_failed else ids, actor=actor, now=utcnow())
    click.echo(f"Queued {len(resent)} messages to send again: {' '.join(map(str, resent))}")
    missing = sorted(set(ids) - set(resent))
    if missing:
        raise click.ClickException(
            f"Not queued (sent, unknown or being sent now): {' '.join(map(str, missing))}"
        )


def campaign_named(session: Session, slug: str) -> Campaign:
    campaign = find_campaign(session, slug)
    if campaign is None:
        raise click.ClickException(f"No campaign {slug!r}. Load it with: campaign load FILE")
    return campaign


@click.command("activity")
@click.argument("campaign_slug")
@click.option("--hours", default=1.0, show_default=True, help="How far back to look.")
@with_appcontext
def activity(campaign_slug: str, hours: float) -> None:
    """Signatures of the last HOURS by IP hash, email domain and partner; '!' marks unusual."""
    now = utcnow()
    with db.sessionmaker()() as session:
        campaign = campaign_named(session, campaign_slug)
        report = recent_activity(session, campaign, now - timedelta(hours=hours), now)
    click.echo(f"{report.total} signatures on {campaign_slug} in the last {hours:g} h")
    for title, groups in (
        ("IP hash", report.by_ip),
        ("email domain", report.by_domain),
        ("partner", report.by_partner),
    ):
        click.echo(f"\nby {title}:")
        for group in groups[:20]:
            click.echo(f"  {'!' if group.unusual else ' '} {group.signatures:>6}  {group.key}")


@click.command("invalidate")
@click.argument("campaign_slug")
@click.option("--ip-hash", help="Signatures from this IP hash (see: activity).")
@click.option("--domain", help="Signatures with an email address at this domain.")
@click.option("--partner", help="Signatures credited to this partner slug.")
@click.option("--since", type=click.DateTime(), help="Made at or after this UTC time.")
@click.option("--until", type=click.DateTime(), help="Made before this UTC time.")
@click.option("--apply", is_flag=True, help="Do it. Without this, only show what would change.")
@with_appcontext
def invalidate_command(campaign_slug: str, apply: bool, **criteria: object) -> None:
    """Take fake signatures out of the count: every given criterion must match.

    Runs dry unless --apply; counts are corrected and the change audited in one transaction."""
    selection = Selection(**criteria)  # type: ignore[arg-type]
    if selection.is_empty():
        raise click.UsageError(
            "Give at least one of --ip-hash, --domain, --partner, --since, --until."
        )
    with db.sessionmaker()() as session:
        campaign = campaign_named(session, campaign_slug)
        result = invalidate(
            session,
            campaign,
            selection,
            now=utcnow(),
            actor=f"cli:{getpass.getuser()}",
            apply=apply,
        )
    actions = ", ".join(f"{k} {v}" for k, v in sorted(result.by_action.items())) or "no actions"
    verb = "Invalidated" if apply else "Would invalidate"
    click.echo(
        f"{verb} {result.verified} verified signatures ({actions}) and {result.pending} pending "
        f"on {campaign_slug}."
    )
    if not apply:
        click.echo("Nothing was changed. Run again with --apply to do it.")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only show what the retention rules would remove.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Apply the retention rules (WIDGET_RETENTION_*): safe to run from cron, again and again."""
    retention = widget_state().retention
    with db.sessionmaker()() as session:
        report = purge(
            session, retention, now=utcnow(), actor=f"cli:{getpass.getuser()}", apply=not dry_run
        )
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {report.pending_deleted} unconfirmed signatures (older than "
        f"{retention.pending_days} days), {'would anonymise' if dry_run else 'anonymised'} "
        f"{report.anonymised} signatures of campaigns closed over {retention.closed_days} days "
        f"ago, {'would delete' if dry_run else 'deleted'} {report.mail_deleted} mails older "
        f"than {retention.mail_days} days."
    )


@click.command("erase")
@click.argument("email")
@click.option("--apply", is_flag=True, help="Do it. Without this, only show what would go.")
@with_appcontext
def erase_command(email: str, apply: bool) -> None:
    """Erase a supporter on request: every signature of EMAIL, in every campaign (audited)."""
    with db.sessionmaker()() as session:
        found = find_by_email(session, email)
        live = [s for s in found if s.withdrawn_at is None]
        campaigns = ", ".join(sorted({s.campaign.slug for s in live})) or "none"
        if not apply:
            click.echo(f"Would erase {len(live)} signatures (campaigns: {campaigns}).")
            click.echo("Nothing was changed. Run again with --apply to do it.")
            return
        erased = erase_supporter(session, email, now=utcnow(), actor=f"cli:{getpass.getuser()}")
    click.echo(f"Erased {erased} signatures (campaigns: {campaigns}).")


@click.command("export")
@click.argument("campaign_slug")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Confirmed on or after this day.")
@click.option("--partner", help="Only signatures credited to this partner.")
@click.option("--opted-in", is_flag=True, help="Only supporters who agreed to be contacted.")
@with_appcontext
def export_command(
    campaign_slug: str,
    output: Path | None,
    since: datetime | None,
    partner: str | None,
    opted_in: bool,
) -> None:
    """Verified signatures of CAMPAIGN as CSV (to stdout, or --output FILE); audited."""
    filters = ExportFilter(since.date() if since else None, partner, opted_in)
    with db.sessionmaker()() as session:
        campaign = campaign_named(session, campaign_slug)
        rows = audit_export(
            session, campaign, filters, actor=f"cli:{getpass.getuser()}", now=utcnow()
        )
        target = output.open("w", encoding="utf-8", newline="") if output else None
        try:
            for chunk in csv_chunks(session, campaign, filters):
                if target:
                    target.write(chunk)
                else:
                    click.echo(chunk, nl=False)
        finally:
            if target:
                target.close()
    if output:
        click.echo(f"Wrote {rows} signatures to {output}.", err=True)


def register(app: Flask) -> None:
    for group in (db_group, campaign_group, outbox_group, partner_group, staff_group):
        app.cli.add_command(group)
    app.cli.add_command(activity)
    app.cli.add_command(invalidate_command)
    app.cli.add_command(purge_command)
    app.cli.add_command(erase_command)
    app.cli.add_command(export_command)


def main() -> None:
    from . import create_app

    FlaskGroup(create_app=create_app, help="action-widget commands.")()
