"""``flask --app widget ...`` and ``action-widget ...``: database, campaigns, mail sender."""

from __future__ import annotations

import time
from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup

from . import paths, widget_state
from .campaigns import CampaignFileError, load_campaign_file
from .clock import utcnow
from .extensions import db
from .outbox import SmtpTransport, deliver_due
from .partners import PartnerError, save_partner

db_group = AppGroup("db", help="The database schema (Alembic migrations).")
campaign_group = AppGroup("campaign", help="Campaigns.")
outbox_group = AppGroup("outbox", help="Queued mail.")
partner_group = AppGroup("partner", help="Partner sites that embed the widget.")


def alembic_config(app: Flask) -> Config:
    config = Config()
    config.set_main_option("script_location", str(paths.MIGRATIONS))
    config.attributes["engine"] = db.engine(app)
    return config


def upgrade_database(app: Flask, revision: str = "head") -> None:
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
                campaign, created = load_campaign_file(session, file, utcnow())
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
            partner, created = save_partner(session, slug, name, list(origins), utcnow())
        except PartnerError as error:
            raise click.ClickException(str(error)) from None
        verb = "Added" if created else "Updated"
        sites = ", ".join(partner.origins) or "no origins"
        click.echo(f"{verb} partner {partner.slug} ({partner.name}): {sites}")


@outbox_group.command("work")
@click.option("--once", is_flag=True, help="Send what is due, then exit.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
def outbox_work(once: bool, interval: float) -> None:
    """Deliver queued mail over WIDGET_MAIL_URL, retrying with backoff; safe to run twice."""
    settings = widget_state().settings
    if not settings.mail.delivers:
        raise click.ClickException(
            "WIDGET_MAIL_URL is outbox://, so mail stays in the database (see /dev/mail). "
            "Set it to smtp://... to deliver."
        )
    transport = SmtpTransport(settings.mail, settings.mail_from)
    while True:
        report = deliver_due(db.sessionmaker(), transport, utcnow())
        if report.handled:
            click.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
        if once:
            return
        if not report.handled:
            time.sleep(interval)


def register(app: Flask) -> None:
    for group in (db_group, campaign_group, outbox_group, partner_group):
        app.cli.add_command(group)


def main() -> None:
    from . import create_app

    FlaskGroup(create_app=create_app, help="action-widget commands.")()
