"""``flask --app widget ...`` and ``action-widget ...``: database, campaigns, mail sender."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import count_commands, enrol_codes, paths, sender, two_factor, widget_state
from .abuse import Selection, SelectionError, invalidate, recent_activity
from .actors import cli_actor
from .alerts_cli import alerts_command
from .apikeys import ApiKeyError, create_key, find_key, list_keys, revoke_key
from .campaigns import CampaignFileError, find_campaign, load_campaign_file
from .clock import utcnow
from .exports import (
    ExportFilter,
    audit_export,
    count_rows,
    csv_chunks,
    in_export,
    sealed_note,
)
from .extensions import db
from .limits_cli import limits_group
from .models import Campaign, Staff
from .outbox import DeliveryReport, database_problem, deliver_due
from .outbox_status import resend
from .partners import PartnerError, save_partner
from .privacy import erase_supporter, find_by_email, purge
from .relay import SmtpTransport
from .remind_cli import remind_command
from .sealing import SealingError, check_opens, load_private_key, open_box
from .sealing_cli import keys_group, rekey_command
from .staff import ROLES, PartnerAccountError, StaffError, create_staff
from .webhook_cli import webhook_group
from .webhook_delivery import Dispatcher, HttpTransport, WebhookReport

if TYPE_CHECKING:
    from alembic.config import Config

db_group = AppGroup("db", help="The database schema (Alembic migrations).")
campaign_group = AppGroup("campaign", help="Campaigns.")
outbox_group = AppGroup("outbox", help="Queued mail.")
partner_group = AppGroup("partner", help="Partner sites that embed the widget.")
staff_group = AppGroup("staff", help="Staff accounts.")
apikey_group = AppGroup("apikey", help="Keys for the signatures API.")


class BadInput(click.ClickException):
    """Input that cannot be used, exiting 2 like click's own usage errors."""

    exit_code = 2


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
                campaign, created = load_campaign_file(session, file, utcnow(), actor=cli_actor())
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
                session, slug, name, list(origins), utcnow(), actor=cli_actor()
            )
        except PartnerError as error:
            raise click.ClickException(str(error)) from None
        verb = "Added" if created else "Updated"
        sites = ", ".join(partner.origins) or "no origins"
        click.echo(f"{verb} partner {partner.slug} ({partner.name}): {sites}")


@staff_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@click.option("--partner", help="For --role partner: the partner's slug (registered, active).")
def staff_create(email: str, role: str, partner: str | None) -> None:
    """Create a staff account; the password comes from a prompt, or from stdin when piped.

    A partner account (--role partner --partner SLUG) sees only that partner's pages."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with db.sessionmaker()() as session:
        try:
            staff = create_staff(
                session,
                email,
                password,
                role,
                utcnow(),
                partner=partner,
                actor=cli_actor(),
            )
        except PartnerAccountError as error:
            raise click.UsageError(str(error)) from None
        except StaffError as error:
            raise click.ClickException(str(error)) from None
        of = f" of partner {staff.partner.slug}" if staff.partner else ""
        click.echo(f"Created {staff.role} {staff.email}{of}.")


@staff_group.command("reset-2fa")
@click.argument("email")
def staff_reset_2fa(email: str) -> None:
    """Take a locked-out account's second factor away (audited); it signs in with its
    password and, if it must have one, sets up a new app first."""
    with db.sessionmaker()() as session:
        staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
        if staff is None:
            raise click.ClickException(f"no account {email[:254]!r}")
        if not two_factor.enrolled(staff):
            raise click.ClickException(f"{staff.email} has no two-factor sign-in to reset")
        two_factor.reset(session, staff, actor=cli_actor(), now=utcnow())
        click.echo(f"Reset two-factor sign-in of {staff.email}; its browsers are signed out.")


@staff_group.command("enrol-code")
@click.argument("email")
def staff_enrol_code(email: str) -> None:
    """Print a one-time code (audited) for an account's first two-factor enrolment where
    admins must have one; give it to the account's owner by another way than its mail."""
    with db.sessionmaker()() as session:
        staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
        if staff is None:
            raise click.ClickException(f"no account {email[:254]!r}")
        if two_factor.enrolled(staff):
            raise click.ClickException(f"{staff.email} has two-factor sign-in already")
        code = enrol_codes.issue(session, staff, actor=cli_actor(), now=utcnow())
        hours = int(enrol_codes.LIFETIME.total_seconds() // 3600)
        click.echo(f"Enrolment code for {staff.email} (single use, {hours} hour): {code}")


@apikey_group.command("create")
@click.argument("name")
@click.option("--partner", help="A partner's slug: the key reads only its consenting supporters.")
def apikey_create(name: str, partner: str | None) -> None:
    """Make a key named NAME and print it, once: only its hash is kept (audited)."""
    with db.sessionmaker()() as session:
        try:
            key, secret = create_key(
                session,
                name,
                partner,
                utcnow(),
                actor=cli_actor(),
                sealed=widget_state().settings.sealed,
            )
        except ApiKeyError as error:
            raise BadInput(str(error)) from None
        scope = f"partner {partner}" if partner else "the organisation"
        click.echo(f"Created key {key.id} ({key.prefix}) {key.name!r} for {scope}.", err=True)
        click.echo("Copy it now; it is not shown again:", err=True)
        click.echo(secret)


@apikey_group.command("list")
def apikey_list() -> None:
    """Every key: id, prefix, partner, created, last used, revoked, name."""
    with db.sessionmaker()() as session:
        keys = list_keys(session, partner_id=None, everyone=True)
        click.echo("id\tprefix\tpartner\tcreated\tlast used\trevoked\tname")
        for key in keys:
            cells = [
                str(key.id),
                key.prefix,
                key.partner.slug if key.partner else "-",
                *(
                    moment.isoformat(sep=" ", timespec="minutes") if moment else "-"
                    for moment in (key.created_at, key.last_used_at, key.revoked_at)
                ),
                key.name,
            ]
            click.echo("\t".join(cells))


@apikey_group.command("revoke")
@click.argument("key")
def apikey_revoke(key: str) -> None:
    """Stop KEY (its id or prefix, from: apikey list) at once; audited."""
    with db.sessionmaker()() as session:
        try:
            found = find_key(session, key, partner_id=None, everyone=True)
            revoke_key(session, found, utcnow(), actor=cli_actor())
        except ApiKeyError as error:
            raise BadInput(str(error)) from None
        click.echo(f"Revoked key {found.id} ({found.prefix}) {found.name!r}.")


@outbox_group.command("work")
@click.option("--once", is_flag=True, help="Send what is due, then exit.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
def outbox_work(once: bool, interval: float) -> None:
    """Deliver queued mail over WIDGET_MAIL_URL and webhook events, retrying with backoff;
    safe to run twice. With WIDGET_MAIL_URL=outbox:// (mail kept for /dev/mail), webhook
    events only.

    Without --once it runs until stopped, through database and relay outages; webhooks go in
    threads of their own, so a slow receiver never holds up mail (widget.webhook_delivery)."""
    settings = widget_state().settings
    transport = None
    if settings.mail.delivers:
        transport = SmtpTransport(settings.mail, settings.mail_from, sender_name=settings.org_name)
    else:
        click.echo(
            "WIDGET_MAIL_URL is outbox://, so mail stays in the database (see /dev/mail): "
            "delivering webhook events only. Set it to smtp://... to deliver mail too.",
            err=True,
        )
    dispatcher = Dispatcher(
        db.sessionmaker(), HttpTransport(allow_private=settings.webhook_allow_private)
    )
    if not once:
        deliver_webhooks = partial(dispatcher.run, interval=interval, keep_going=lambda: True)
        if transport is None:
            deliver_webhooks()
            return
        threading.Thread(target=deliver_webhooks, name="webhook-dispatcher", daemon=True).start()
        sender.run(
            db.sessionmaker(),
            transport,
            interval=interval,
            on_report=echo_report,
            wipe_sent=settings.sealed,
        )
        return
    try:
        report = DeliveryReport()
        if transport is not None:
            report = deliver_due(db.sessionmaker(), transport, wipe_sent=settings.sealed)
        webhook_report = dispatcher.run_once()
    except SQLAlchemyError as error:
        raise click.ClickException(f"database error: {database_problem(error)}") from None
    finally:
        dispatcher.close()
    echo_report(report)
    echo_webhook_report(webhook_report)
    if report.relay_refused is not None:
        raise click.ClickException(f"the relay refused us: {report.relay_refused}")


def echo_report(report: DeliveryReport) -> None:
    if report.handled:
        click.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")


def echo_webhook_report(report: WebhookReport) -> None:
    if report.handled:
        click.echo(
            f"webhooks: delivered {report.delivered}, retrying {report.retrying}, "
            f"failed {report.failed}"
        )


@outbox_group.command("retry")
@click.option("--all-failed", is_flag=True, help="Every message that failed for good.")
@click.argument("ids", nargs=-1, type=int)
def outbox_retry(all_failed: bool, ids: tuple[int, ...]) -> None:
    """Send failed (or waiting) messages again now, with fresh attempts (audited)."""
    if all_failed == bool(ids):
        raise click.UsageError("Give message IDs or --all-failed (one of them).")
    actor = cli_actor()
    with db.sessionmaker()() as session:
        resent = resend(session, None if all_failed else ids, actor=actor, now=utcnow())
    ids_text = " ".join(map(str, resent))
    click.echo(
        ngettext(
            "Queued %(num)d message to send again: %(ids)s",
            "Queued %(num)d messages to send again: %(ids)s",
            len(resent),
            ids=ids_text,
        )
    )
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
    hours_text = f"{hours:g}"
    click.echo(
        ngettext(
            "%(num)d signature on %(campaign)s in the last %(hours)s h",
            "%(num)d signatures on %(campaign)s in the last %(hours)s h",
            report.total,
            campaign=campaign_slug,
            hours=hours_text,
        )
    )
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
        try:
            result = invalidate(
                session, campaign, selection, now=utcnow(), actor=cli_actor(), apply=apply
            )
        except SelectionError as error:
            raise click.UsageError(str(error)) from None
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
        report = purge(session, retention, now=utcnow(), actor=cli_actor(), apply=not dry_run)
    pending = ngettext(
        "%(num)d unconfirmed signature", "%(num)d unconfirmed signatures", report.pending_deleted
    )
    pending_days = ngettext("%(num)d day", "%(num)d days", retention.pending_days)
    anonymised = ngettext(
        "%(num)d signature of campaigns", "%(num)d signatures of campaigns", report.anonymised
    )
    closed_days = ngettext("%(num)d day", "%(num)d days", retention.closed_days)
    mails = ngettext("%(num)d mail", "%(num)d mails", report.mail_deleted)
    deliveries = ngettext(
        "%(num)d webhook delivery", "%(num)d webhook deliveries", report.deliveries_deleted
    )
    mail_days = ngettext("%(num)d day", "%(num)d days", retention.mail_days)
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {pending} (older than {pending_days}), "
        f"{'would anonymise' if dry_run else 'anonymised'} {anonymised} closed over "
        f"{closed_days} ago, {'would delete' if dry_run else 'deleted'} {mails} and "
        f"{deliveries} older than {mail_days}."
    )


@click.command("erase")
@click.argument("email")
@click.option("--apply", is_flag=True, help="Do it. Without this, only show what would go.")
@with_appcontext
def erase_command(email: str, apply: bool) -> None:
    """Erase a supporter on request: every signature of EMAIL, in every campaign (audited)."""
    addresses = widget_state().addresses
    with db.sessionmaker()() as session:
        found = find_by_email(session, email, addresses)
        live = [s for s in found if s.withdrawn_at is None]
        campaigns = ", ".join(sorted({s.campaign.slug for s in live})) or "none"
        if not apply:
            click.echo(
                ngettext(
                    "Would erase %(num)d signature (campaigns: %(campaigns)s).",
                    "Would erase %(num)d signatures (campaigns: %(campaigns)s).",
                    len(live),
                    campaigns=campaigns,
                )
            )
            click.echo("Nothing was changed. Run again with --apply to do it.")
            return
        erased = erase_supporter(
            session, email, now=utcnow(), actor=cli_actor(), addresses=addresses
        )
    click.echo(
        ngettext(
            "Erased %(num)d signature (campaigns: %(campaigns)s).",
            "Erased %(num)d signatures (campaigns: %(campaigns)s).",
            erased,
            campaigns=campaigns,
        )
    )


@click.command("export")
@click.argument("campaign_slug")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Confirmed on or after this day.")
@click.option("--partner", help="Only signatures credited to this partner.")
@click.option("--opted-in", is_flag=True, help="Only supporters who agreed to be contacted.")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file that opens sealed names and addresses (sealed mode).",
)
@with_appcontext
def export_command(
    campaign_slug: str,
    output: Path | None,
    since: datetime | None,
    partner: str | None,
    opted_in: bool,
    key: Path | None,
) -> None:
    """Verified signatures of CAMPAIGN as CSV (to stdout, or --output FILE); audited.

    Sealed names and addresses need --key; a key that does not open them all is refused
    before anything is written."""
    filters = ExportFilter(since.date() if since else None, partner, opted_in)
    with db.sessionmaker()() as session:
        campaign = campaign_named(session, campaign_slug)
        rows, sealed = count_rows(session, campaign, filters)
        opener = export_opener(session, campaign, filters, key, sealed)
        # Into a file beside the target, renamed when complete: never a partial export.
        partial = output.with_name(output.name + ".partial") if output else None
        target = private_file(partial) if partial else None
        try:
            audit_export(session, campaign, filters, rows=rows, actor=cli_actor(), now=utcnow())
            for chunk in csv_chunks(session, campaign, filters, opener):
                if target:
                    target.write(chunk)
                else:
                    click.echo(chunk, nl=False)
        except BaseException:
            if target and partial:
                target.close()
                partial.unlink()
            raise
        if target and partial and output:
            target.close()
            partial.replace(output)
    if output:
        message = ngettext(
            "Wrote %(num)d signature to %(output)s.",
            "Wrote %(num)d signatures to %(output)s.",
            rows,
            output=str(output),
        )
        click.echo(message, err=True)


def private_file(path: Path) -> TextIO:
    """A new file only its owner may read (mode 0600 from its creation, whatever the umask):
    an export holds names and addresses. An existing one is refused, never overwritten."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise click.ClickException(
            f"{path} exists: an earlier export was interrupted, or another is running. "
            "Delete it, then export again."
        ) from None
    except OSError as error:
        raise click.ClickException(f"{path} cannot be created: {error.strerror}.") from None
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def export_opener(
    session: Session, campaign: Campaign, filters: ExportFilter, key: Path | None, sealed: int
) -> Callable[[str], dict[str, Any]] | None:
    """What opens the export's ``sealed`` rows; a clear error, before any output, when some
    are sealed and no key (or the wrong one) is given."""
    if key is None:
        if sealed or widget_state().settings.sealed:
            raise click.ClickException(sealed_note(campaign))
        return None
    try:
        private_key = load_private_key(key)
        check_opens(session, private_key, [in_export(campaign, filters)])
    except SealingError as error:
        raise click.ClickException(f"{key}: {error}") from None
    return lambda sealed: open_box(private_key, sealed)


def register(app: Flask) -> None:
    groups = (
        db_group,
        campaign_group,
        outbox_group,
        partner_group,
        staff_group,
        apikey_group,
        webhook_group,
        limits_group,
    )
    for group in groups:
        app.cli.add_command(group)
    app.cli.add_command(activity)
    app.cli.add_command(invalidate_command)
    app.cli.add_command(alerts_command)
    app.cli.add_command(purge_command)
    app.cli.add_command(remind_command)
    app.cli.add_command(erase_command)
    app.cli.add_command(export_command)
    app.cli.add_command(keys_group)
    app.cli.add_command(rekey_command)
    count_commands.register(app)


def main() -> None:
    from . import create_app

    FlaskGroup(create_app=create_app, help="action-widget commands.")()
