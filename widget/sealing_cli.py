"""``flask --app widget keys generate`` and ``rekey``: the sealed mode's keys
(``widget.sealing``).
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext
from flask_babel import ngettext

from . import widget_state
from .clock import utcnow
from .extensions import db
from .sealing import SealingError, generate_key_file, load_private_key, public_key_text, rekey
from .settings import Names

keys_group = AppGroup("keys", help="The sealed mode's key pair (WIDGET_DATA_PUBLIC_KEY).")


@keys_group.command("generate")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (mode 0600; never overwritten). Keep it off the server.",
)
def keys_generate(output: Path) -> None:
    """Make an X25519 key pair: the private key into --output, the public key printed."""
    try:
        public_key = generate_key_file(output)
    except SealingError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Wrote the private key to {output} (mode 600). Keep it off the server.", err=True)
    click.echo(f"Set this on the server: {Names.DATA_PUBLIC_KEY}=", err=True, nl=False)
    click.echo(public_key_text(public_key))


@click.command("rekey")
@click.option(
    "--old-key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file of the public key being replaced.",
)
@with_appcontext
def rekey_command(old_key: Path) -> None:
    """Re-seal every signature the old key sealed for the current WIDGET_DATA_PUBLIC_KEY, in
    batches (each one transaction); safe to run again."""
    sealer = widget_state().sealer
    if sealer is None:
        raise click.ClickException(
            f"{Names.DATA_PUBLIC_KEY} is not set: set it to the new public key first."
        )
    try:
        key = load_private_key(old_key)
        with db.sessionmaker()() as session:
            report = rekey(session, key, sealer, now=utcnow())
    except SealingError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        ngettext(
            "Re-sealed %(num)d signature for the current public key.",
            "Re-sealed %(num)d signatures for the current public key.",
            report.resealed,
        )
    )
    for fingerprint, count in report.other_keys.items():
        click.echo(
            ngettext(
                "Still sealed with another key (%(key)s…): %(num)d signature.",
                "Still sealed with another key (%(key)s…): %(num)d signatures.",
                count,
                key=fingerprint[:12],
            )
        )
