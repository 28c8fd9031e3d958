"""``offline add|list|remove`` and ``recount``: the commands behind the count for the officials.

Exit codes: 0 done (or the recount agreed, or ``--fix`` mended it); 1 the recount found drift
it did not mend; 2 a bad input (unknown campaign, a count that is not a whole number from 1 to
1,000,000, an action the campaign does not offer, a missing or overlong note), as click's own.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from flask_babel import ngettext
from sqlalchemy.orm import Session

from .actors import cli_actor
from .campaigns import find_campaign
from .clock import utcnow
from .extensions import db
from .models import Campaign
from .offline import (
    OfflineError,
    add_offline_action,
    offline_entries,
    parse_count,
    remove_offline_action,
)
from .recount import recount

offline_group = AppGroup("offline", help="Actions taken offline (paper letters, a vigil...).")


def campaign_argument(session: Session, slug: str) -> Campaign:
    campaign = find_campaign(session, slug)
    if campaign is None:
        raise click.BadParameter(
            f"no campaign {slug!r}. Load it with: campaign load FILE", param_hint="CAMPAIGN"
        )
    return campaign


@offline_group.command("add")
@click.argument("campaign_slug", metavar="CAMPAIGN")
@click.option("--count", required=True, help="How many actions, 1 to 1,000,000.")
@click.option("--action", help="Which of the campaign's actions they were, e.g. letter.")
@click.option("--note", required=True, help="Where they come from, e.g. 'Vigil, 3 Dec'.")
def offline_add(campaign_slug: str, count: str, action: str | None, note: str) -> None:
    """Count actions taken offline for CAMPAIGN (audited); they appear as `offline`."""
    with db.sessionmaker()() as session:
        campaign = campaign_argument(session, campaign_slug)
        try:
            entry = add_offline_action(
                session,
                campaign,
                count=parse_count(count),
                action=action,
                note=note,
                now=utcnow(),
                actor=cli_actor(),
            )
        except OfflineError as error:
            raise click.BadParameter(str(error), param_hint=f"--{error.field}") from None
        kind = entry.action or "actions"
        click.echo(f"Entry {entry.id}: {entry.count} {kind} offline on {campaign.slug}.")


@offline_group.command("list")
@click.argument("campaign_slug", metavar="CAMPAIGN")
@click.option("--removed", is_flag=True, help="Also the entries removed as mistakes.")
def offline_list(campaign_slug: str, removed: bool) -> None:
    """The offline entries of CAMPAIGN, oldest first, and their sum."""
    with db.sessionmaker()() as session:
        campaign = campaign_argument(session, campaign_slug)
        entries = offline_entries(session, campaign, removed=removed)
        for entry in entries:
            gone = (
                f"  (removed {entry.removed_at:%Y-%m-%d} by {entry.removed_by})"
                if entry.removed_at
                else ""
            )
            click.echo(
                f"{entry.id:>5}  {entry.created_at:%Y-%m-%d}  {entry.count:>8}  "
                f"{entry.action or '-':<7} {entry.note}  [{entry.created_by}]{gone}"
            )
        live = sum(e.count for e in entries if e.removed_at is None)
        click.echo(
            ngettext(
                "%(num)d offline action on %(campaign)s.",
                "%(num)d offline actions on %(campaign)s.",
                live,
                campaign=campaign.slug,
            )
        )


@offline_group.command("remove")
@click.argument("campaign_slug", metavar="CAMPAIGN")
@click.argument("entry_id", metavar="ENTRY", type=int)
def offline_remove(campaign_slug: str, entry_id: int) -> None:
    """Take a mistaken entry out of the count (it stays listed with --removed; audited)."""
    with db.sessionmaker()() as session:
        campaign = campaign_argument(session, campaign_slug)
        if not remove_offline_action(session, campaign, entry_id, now=utcnow(), actor=cli_actor()):
            raise click.BadParameter(
                f"{campaign.slug} has no entry {entry_id} that counts", param_hint="ENTRY"
            )
    click.echo(f"Removed entry {entry_id} from {campaign_slug}.")


@click.command("recount")
@click.argument("campaign_slug", metavar="CAMPAIGN")
@click.option("--fix", is_flag=True, help="Mend any drift, in one transaction (audited).")
@with_appcontext
def recount_command(campaign_slug: str, fix: bool) -> None:
    """Recompute every count of CAMPAIGN from its signatures; exit 1 naming any drift."""
    with db.sessionmaker()() as session:
        campaign = campaign_argument(session, campaign_slug)
        result = recount(session, campaign, now=utcnow(), actor=cli_actor(), fix=fix)
    for drift in result.drift:
        click.echo(("mended " if result.fixed else "") + drift.describe(), err=not result.fixed)
    if result.agreed:
        click.echo(f"The counts of {campaign_slug} agree with its signatures.")
    elif result.fixed:
        click.echo(f"The counts of {campaign_slug} now agree with its signatures.")
    else:
        raise click.ClickException(
            f"the counts of {campaign_slug} differ from its signatures; mend them with --fix"
        )


def register(app: Flask) -> None:
    app.cli.add_command(offline_group)
    app.cli.add_command(recount_command)
