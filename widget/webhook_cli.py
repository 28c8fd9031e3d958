"""``flask --app widget webhook ...``: endpoints, their secrets, replaying failed deliveries.

Bad input exits 2 with a message that says what to give instead."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import ngettext

from . import webhooks, widget_state
from .actors import cli_actor
from .clock import utcnow
from .extensions import db

webhook_group = AppGroup("webhook", help="Endpoints that hear of signatures (Standard Webhooks).")


def webhook_failure(error: webhooks.WebhookError) -> click.UsageError:
    """Bad input exits 2 (click's usage error), with the message saying what to give."""
    return click.UsageError(str(error))


@webhook_group.command("add")
@click.argument("url")
@click.option("--partner", help="A partner's endpoint: it hears only of its consenting supporters.")
@click.option(
    "--event",
    "events",
    multiple=True,
    help=f"An event type to send (repeatable; default all): {', '.join(webhooks.EVENT_TYPES)}.",
)
@click.option("--batch-max", type=int, help="Batch: at most N events per delivery ...")
@click.option("--batch-seconds", type=int, help="... waiting at most S seconds for more.")
def webhook_add(
    url: str,
    partner: str | None,
    events: tuple[str, ...],
    batch_max: int | None,
    batch_seconds: int | None,
) -> None:
    """Send events to URL; prints its signing secret (whsec_...) this once."""
    with db.sessionmaker()() as session:
        try:
            webhook, secret = webhooks.add_webhook(
                session,
                url,
                partner=partner,
                events=events,
                batch_max=batch_max,
                batch_seconds=batch_seconds,
                allow_plain_http=current_app.debug,
                sealed=widget_state().settings.sealed,
                actor=cli_actor(),
                now=utcnow(),
            )
        except webhooks.WebhookError as error:
            raise webhook_failure(error) from None
        click.echo(f"Added webhook {webhook.id}: {webhook.url}")
    click.echo(f"Signing secret (shown once, keep it in the receiver): {secret}")


@webhook_group.command("list")
def webhook_list() -> None:
    """Every endpoint: id, state, partner, events, URL."""
    with db.sessionmaker()() as session:
        for webhook in webhooks.list_webhooks(session, None):
            state = "paused" if webhook.paused_at else "active"
            partner = webhook.partner.slug if webhook.partner else "-"
            events = ",".join(webhook.events) or "all"
            batching = f" batch {webhook.batch_max}/{webhook.batch_seconds}s" * bool(
                webhook.batch_max
            )
            click.echo(f"{webhook.id}\t{state}\t{partner}\t{events}{batching}\t{webhook.url}")


def _webhook_change(webhook_id: int, change: Any) -> Any:
    with db.sessionmaker()() as session:
        try:
            return change(session, webhook_id, scope=None, actor=cli_actor(), now=utcnow())
        except webhooks.WebhookError as error:
            raise webhook_failure(error) from None


@webhook_group.command("pause")
@click.argument("webhook_id", type=int)
def webhook_pause(webhook_id: int) -> None:
    """Stop sending to it; its events stay queued until it is resumed."""
    _webhook_change(webhook_id, webhooks.pause_webhook)
    click.echo(f"Paused webhook {webhook_id}; its events wait until: webhook resume {webhook_id}")


@webhook_group.command("resume")
@click.argument("webhook_id", type=int)
def webhook_resume(webhook_id: int) -> None:
    """Send to it again, the waiting events first."""
    _webhook_change(webhook_id, webhooks.resume_webhook)
    click.echo(f"Resumed webhook {webhook_id}.")


@webhook_group.command("rotate")
@click.argument("webhook_id", type=int)
def webhook_rotate(webhook_id: int) -> None:
    """A new secret, printed once; the old one keeps signing beside it for 24 hours."""
    secret = _webhook_change(webhook_id, webhooks.rotate_secret)
    click.echo(f"New signing secret for webhook {webhook_id} (shown once): {secret}")
    click.echo("The previous secret keeps signing beside it for 24 hours.")


@webhook_group.command("retry")
@click.option("--all-failed", is_flag=True, help="Every delivery that failed for good.")
@click.argument("ids", nargs=-1, type=int)
def webhook_retry(all_failed: bool, ids: tuple[int, ...]) -> None:
    """Replay failed deliveries (their ids are on /staff/webhooks): the same webhook-id and
    body, with fresh attempts (audited)."""
    if all_failed == bool(ids):
        raise click.UsageError("Give delivery IDs or --all-failed (one of them).")
    with db.sessionmaker()() as session:
        replayed = webhooks.replay_failed(
            session, None if all_failed else ids, scope=None, actor=cli_actor(), now=utcnow()
        )
    click.echo(
        ngettext(
            "Queued %(num)d delivery to send again: %(ids)s",
            "Queued %(num)d deliveries to send again: %(ids)s",
            len(replayed),
            ids=" ".join(map(str, replayed)),
        )
    )
    missing = sorted(set(ids) - set(replayed))
    if missing:
        raise click.ClickException(
            f"Not queued (delivered, unknown or being sent now): {' '.join(map(str, missing))}"
        )
