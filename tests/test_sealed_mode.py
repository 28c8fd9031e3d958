"""Sealed mode end to end, on SQLite and PostgreSQL: after signing, confirming and the mail
going out, the database holds no name or address in clear; the organisation's key gives them
back; duplicates, the mail budget, withdrawal and erasure work without it."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from widget import widget_state
from widget.clock import utcnow
from widget.counter import tally
from widget.extensions import db
from widget.models import Base, OutboxMessage, Signature
from widget.outbox_status import resend
from widget.sealing import (
    AddressHasher,
    Sealer,
    fingerprint,
    generate_key_file,
    load_private_key,
    open_box,
    public_key_text,
    rekey,
)

from .conftest import (
    SECRET,
    SmtpServer,
    StaffActions,
    Supporter,
    erase_search,
    make_app,
    text_part,
)

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
HTTPS = {"base_url": "https://localhost"}
NAME = "Zarmina Qaderi"
EMAIL = "Zarmina.Q+petition@qaderi-family.org"
SOURCE = "https://news.example.net/refugee-appeal"
#: what a dump must not hold, in any case
SECRETS = ("zarmina", "qaderi", "news.example.net", "refugee-appeal")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "data.key"
    path.parent.mkdir()
    generate_key_file(path)
    return path


@pytest.fixture
def settings_env(smtp_server: SmtpServer, key_file: Path) -> dict[str, str]:
    public_key = public_key_text(load_private_key(key_file).public_key)
    return {"WIDGET_MAIL_URL": smtp_server.url, "WIDGET_DATA_PUBLIC_KEY": public_key}


def deliver(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output


def sign(supporter: Supporter, **fields: object) -> None:
    data = {"name": NAME, "email": EMAIL, "source": SOURCE, **fields}
    assert supporter.sign(**data).status_code == 200


def path_of(link: str) -> str:
    match = re.match(r"https?://[^/\s]+(/\S+)", link)
    assert match, link
    return match.group(1)


def links_mailed(smtp_server: SmtpServer, path: str) -> list[str]:
    found = []
    for message in smtp_server.mailbox.messages:
        found += re.findall(rf"https?://\S+?{re.escape(path)}\S+", text_part(message))
    return [path_of(link) for link in found]


def signed_and_confirmed(app: Flask, client: FlaskClient, supporter: Supporter, smtp) -> None:  # type: ignore[no-untyped-def]
    sign(supporter)
    deliver(app)
    [verify] = links_mailed(smtp, "/v/")
    assert client.post(verify, headers=SAME_ORIGIN).status_code == 200


def database_dump(app: Flask) -> str:
    """Every row of every table as text: SQLite's own dump of the file, or PostgreSQL's
    text form of each row."""
    url = make_url(widget_state(app).settings.database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(str(url.database))
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            lines = []
            for table in Base.metadata.sorted_tables:
                rows = connection.execute(text(f'SELECT t::text FROM "{table.name}" t'))
                lines += [f"{table.name}: {row[0]}" for row in rows]
            return "\n".join(lines)
    finally:
        engine.dispose()


def export(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["export", "ua-109-23", *args])


def test_the_database_holds_no_name_or_address_after_signing_confirming_and_mailing(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    session: Session,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    [mail] = smtp_server.mailbox.messages
    assert mail["To"] == EMAIL
    dump = database_dump(app).lower()
    assert "ua-109-23" in dump  # the dump is real
    for secret in SECRETS:
        assert secret not in dump, secret
    signature = session.scalars(select(Signature)).one()
    assert (signature.name, signature.email, signature.source_url) == ("", "", None)
    assert signature.email_key.startswith("hmac:")
    assert (signature.country, signature.actions) == ("PK", ["letter", "email"])
    assert signature.verified_at is not None
    sent = session.scalars(select(OutboxMessage)).one()
    assert (sent.kind, sent.recipient, sent.text_body, sent.html_body) == ("confirm", "", "", "")
    assert sent.sent_at is not None and sent.message_id
    assert tally(session, signature.campaign_id, ["letter", "email"]).count == 1


def test_export_with_the_key_gives_the_names_and_addresses_back_exactly(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    key_file: Path,
    tmp_path: Path,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    output = tmp_path / "out.csv"
    result = export(app, "--key", str(key_file), "--output", str(output))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote 1 signature to {output}.\n"
    rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    assert [row[2:9] for row in rows] == [
        ["name", "email", "country", "actions", "opt_in", "partner", "language"],
        [NAME, EMAIL, "PK", "letter email", "no", "", "en"],
    ]
    assert not (tmp_path / "out.csv.partial").exists()
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


def test_exported_sealed_names_are_formula_safe(
    app: Flask, client: FlaskClient, supporter: Supporter, smtp_server: SmtpServer, key_file: Path
) -> None:
    sign(supporter, name="+1 Zarmina")
    deliver(app)
    [verify] = links_mailed(smtp_server, "/v/")
    client.post(verify, headers=SAME_ORIGIN)
    result = export(app, "--key", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert '"\'+1 Zarmina"' in result.stdout


def test_export_without_the_key_says_how_and_prints_no_names(
    app: Flask, client: FlaskClient, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    result = export(app)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: Names and email addresses are sealed: this server cannot read them, so it "
        "cannot export them. On a computer that holds the private key, run: flask --app "
        "widget export ua-109-23 --key FILE\n"
    )


def test_export_with_another_key_is_refused_before_any_output(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    key_file: Path,
    tmp_path: Path,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    other = tmp_path / "other.key"
    generate_key_file(other)
    output = tmp_path / "out.csv"
    result = export(app, "--key", str(other), "--output", str(output))
    assert result.exit_code == 1
    assert result.stdout == ""
    ours = fingerprint(load_private_key(key_file).public_key)[:12]
    theirs = fingerprint(load_private_key(other).public_key)[:12]
    assert result.stderr == (
        f"Error: {other}: this private key (public key {theirs}…) did not seal 1 of these "
        f"signatures (1 by key {ours}…). Use the key that did, or re-seal them with: "
        "flask --app widget rekey --old-key FILE.\n"
    )
    assert list(tmp_path.glob("out.csv*")) == []


def test_export_with_a_missing_or_shared_key_file_is_refused(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    key_file: Path,
    tmp_path: Path,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    missing = export(app, "--key", str(tmp_path / "nowhere.key"))
    assert (missing.exit_code, missing.stdout) == (1, "")
    assert missing.stderr.endswith("nowhere.key: no such key file.\n")
    key_file.chmod(0o644)
    shared = export(app, "--key", str(key_file))
    assert (shared.exit_code, shared.stdout) == (1, "")
    assert shared.stderr.endswith(f"run chmod 600 {key_file} first.\n")


def test_a_second_signature_of_the_same_mailbox_counts_once(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    session: Session,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    sign(supporter, email="ZARMINA.Q+again@Qaderi-Family.org", name="Z. Qaderi")
    deliver(app)
    assert session.scalar(select(Signature.id).where(Signature.id > 1)) is None
    [row] = session.scalars(select(Signature)).all()
    assert tally(session, row.campaign_id, []).count == 1
    # the second mail went to the spelling typed the second time: the same mailbox
    assert [m["To"] for m in smtp_server.mailbox.messages] == [
        EMAIL,
        "ZARMINA.Q+again@Qaderi-Family.org",
    ]
    assert "already" in smtp_server.mailbox.messages[1]["Subject"].lower()


def test_the_mail_budget_is_spent_by_the_address_hash(
    app: Flask, supporter: Supporter, smtp_server: SmtpServer, session: Session
) -> None:
    for spelling in ("a@qaderi-family.org", "A+1@qaderi-family.org", "a+2@QADERI-family.org"):
        sign(supporter, email=spelling)
    sign(supporter, email="a+4@qaderi-family.org")  # past 3 per hour: no mail
    deliver(app)
    assert len(smtp_server.mailbox.messages) == 3
    assert session.scalar(select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None))) is None


def test_the_confirm_and_manage_pages_say_the_name_and_address_are_sealed(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
) -> None:
    sign(supporter)
    deliver(app)
    [verify] = links_mailed(smtp_server, "/v/")
    [manage] = links_mailed(smtp_server, "/m/")
    for link in (verify, manage):
        page = client.get(link).get_data(as_text=True)
        assert "Your name and email address are sealed" in page
        assert "Pakistan" in page and "English" in page
        assert "Zarmina" not in page and "qaderi" not in page.lower()


def test_the_supporter_withdraws_from_the_manage_page(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    session: Session,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    [manage] = links_mailed(smtp_server, "/m/")
    page = client.post(manage, headers=SAME_ORIGIN).get_data(as_text=True)
    assert "Your signature is withdrawn" in page
    row = session.scalars(select(Signature)).one()
    assert row.withdrawn_at is not None and row.anonymised_at is not None
    assert (row.sealed, row.sealed_key, row.email_key) == (None, None, f"erased:{row.id}")
    assert tally(session, row.campaign_id, []).count == 0
    # no address left to write a goodbye to: no mail queued
    assert session.scalars(select(OutboxMessage)).all() == []
    deliver(app)
    assert len(smtp_server.mailbox.messages) == 1


@pytest.mark.parametrize(
    "spelling", ["zarmina.q@QADERI-FAMILY.ORG", "Zarmina.Q+other@qaderi-family.org"]
)
def test_staff_erase_a_sealed_supporter_by_any_spelling(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    session: Session,
    spelling: str,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["erase", spelling])
    assert dry.output.startswith("Would erase 1 signature (campaigns: ua-109-23).")
    done = runner.invoke(args=["erase", spelling, "--apply"])
    assert done.output == "Erased 1 signature (campaigns: ua-109-23).\n"
    row = session.scalars(select(Signature)).one()
    assert (row.sealed, row.withdrawn_at is not None) == (None, True)
    assert runner.invoke(args=["erase", spelling]).output.startswith("Would erase 0 signatures")


def test_staff_erase_page_finds_a_sealed_supporter(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    staff: StaffActions,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    admin = staff.signed_in()
    page = erase_search(admin, "ZARMINA.Q@qaderi-family.org")
    assert page.status_code == 200
    assert "Erase 1 signature" in page.get_data(as_text=True)


def test_the_staff_download_is_refused_and_the_page_says_how_to_export(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    staff: StaffActions,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    admin = staff.signed_in()
    note = "flask --app widget export ua-109-23 --key FILE"
    campaign_page = admin.get("/staff/campaigns/ua-109-23", **HTTPS).get_data(as_text=True)
    assert "Names and email addresses are sealed" in campaign_page and note in campaign_page
    assert "Download CSV" not in campaign_page
    refused = admin.get("/staff/campaigns/ua-109-23/signatures.csv", **HTTPS)
    assert refused.status_code == 409
    assert refused.mimetype == "text/html"
    assert note in refused.get_data(as_text=True)
    assert "Zarmina" not in refused.get_data(as_text=True)


def test_a_sent_and_wiped_mail_cannot_be_resent_and_the_mail_page_says_so(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    staff: StaffActions,
    session: Session,
) -> None:
    sign(supporter)
    deliver(app)
    sent = session.scalars(select(OutboxMessage)).one()
    assert resend(session, [sent.id], actor="test", now=sent.created_at) == []
    page = staff.signed_in().get("/staff/mail", **HTTPS).get_data(as_text=True)
    assert "so a sent mail cannot be sent again" in page


def test_rekey_reseals_for_the_new_public_key(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    smtp_server: SmtpServer,
    key_file: Path,
    database_url: str,
    tmp_path: Path,
    session: Session,
) -> None:
    signed_and_confirmed(app, client, supporter, smtp_server)
    new_key = tmp_path / "keys" / "new.key"
    new_public = public_key_text(generate_key_file(new_key))
    stranger = tmp_path / "keys" / "stranger.key"
    generate_key_file(stranger)
    rotated = make_app(
        database_url, tmp_path, WIDGET_MAIL_URL=smtp_server.url, WIDGET_DATA_PUBLIC_KEY=new_public
    )
    # the next signature is sealed with the new key at once
    Supporter(rotated.test_client()).sign(email="second@example.org", name="Second Signer")
    runner = rotated.test_cli_runner()

    wrong = runner.invoke(args=["rekey", "--old-key", str(stranger)])
    assert wrong.exit_code == 1
    assert "Error: no signature is sealed with this key (public key" in wrong.stderr
    old_fingerprint = fingerprint(load_private_key(key_file).public_key)
    assert f"were sealed by: {old_fingerprint[:12]}…." in wrong.stderr

    done = runner.invoke(args=["rekey", "--old-key", str(key_file)])
    assert (done.exit_code, done.stdout) == (
        0,
        "Re-sealed 1 signature for the current public key.\n",
    )
    again = runner.invoke(args=["rekey", "--old-key", str(key_file)])
    assert (again.exit_code, again.stdout) == (
        0,
        "Re-sealed 0 signatures for the current public key.\n",
    )
    same = runner.invoke(args=["rekey", "--old-key", str(new_key)])
    assert same.exit_code == 1 and "set the new public key first" in same.stderr

    new_fingerprint = fingerprint(load_private_key(new_key).public_key)
    session.expire_all()
    assert set(session.scalars(select(Signature.sealed_key))) == {new_fingerprint}
    with_new = export(rotated, "--key", str(new_key))
    assert with_new.exit_code == 0, with_new.stderr
    assert f'"{NAME}","{EMAIL}"' in with_new.stdout
    with_old = export(rotated, "--key", str(key_file))
    assert with_old.exit_code == 1 and "did not seal 1 of these" in with_old.stderr
    db.engine(rotated).dispose()


def test_rekey_moves_updated_at_forward_never_back(
    app: Flask, supporter: Supporter, key_file: Path, session: Session
) -> None:
    sign(supporter, email="past@qaderi-family.org")
    sign(supporter, email="future@qaderi-family.org")
    now = utcnow()
    past, future = now - timedelta(hours=1), now + timedelta(minutes=5)
    for email, moment in (("past", past), ("future", future)):
        session.execute(
            update(Signature)
            .where(Signature.id == id_of(session, f"{email}@qaderi-family.org"))
            .values(updated_at=moment)
        )
    session.commit()
    new_key = PrivateKey.generate()
    new_sealer = Sealer.from_settings(
        public_key_text(new_key.public_key), AddressHasher.from_secret_keys((SECRET,))
    )
    # the computer with the key runs ``now``; the row changed after that by the server's clock
    assert rekey(session, load_private_key(key_file), new_sealer, now=now).resealed == 2
    session.expire_all()
    stamps = {row.id: row.updated_at for row in session.scalars(select(Signature))}
    assert stamps == {
        id_of(session, "past@qaderi-family.org"): now,
        id_of(session, "future@qaderi-family.org"): future,
    }


def id_of(session: Session, email: str) -> int:
    keys = AddressHasher.from_secret_keys((SECRET,)).stored_forms(email)
    return session.scalars(select(Signature.id).where(Signature.email_key.in_(keys))).one()


def test_rekey_without_the_mode_on_says_what_to_set(
    database_url: str, tmp_path: Path, key_file: Path
) -> None:
    plain = make_app(database_url, tmp_path)
    result = plain.test_cli_runner().invoke(args=["rekey", "--old-key", str(key_file)])
    assert result.exit_code == 1
    assert "WIDGET_DATA_PUBLIC_KEY is not set: set it to the new public key first." in result.output
    db.engine(plain).dispose()


def test_keys_generate_prints_the_public_key_and_refuses_to_overwrite(
    app: Flask, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    path = tmp_path / "fresh.key"
    made = runner.invoke(args=["keys", "generate", "--output", str(path)])
    assert made.exit_code == 0, made.stderr
    assert made.stdout == public_key_text(load_private_key(path).public_key) + "\n"
    assert "Keep it off the server" in made.stderr
    before = path.read_bytes()
    again = runner.invoke(args=["keys", "generate", "--output", str(path)])
    assert again.exit_code == 1
    assert again.stderr == f"Error: {path} exists: a key file is never overwritten.\n"
    assert path.read_bytes() == before


def test_the_abuse_monitor_shows_sealed_addresses_as_one_sealed_domain(
    app: Flask, supporter: Supporter
) -> None:
    sign(supporter)
    sign(supporter, email="other@elsewhere.example.org")
    result = app.test_cli_runner().invoke(args=["activity", "ua-109-23"])
    assert result.exit_code == 0, result.output
    by_domain = result.output.split("by email domain:\n")[1].split("\n\n")[0]
    assert by_domain == "         2  (sealed)"
    assert "hmac:" not in result.output and "qaderi" not in result.output


def test_the_privacy_notice_says_names_are_sealed_only_in_sealed_mode(
    client: FlaskClient, database_url: str, tmp_path: Path
) -> None:
    said = "are stored sealed: locked with a key that is kept away from this server"
    assert said in client.get("/privacy").get_data(as_text=True)
    plain = make_app(database_url, tmp_path)
    assert said not in plain.test_client().get("/privacy").get_data(as_text=True)
    db.engine(plain).dispose()


def test_rekey_goes_in_batches_and_keeps_every_box_whole(
    app: Flask, supporter: Supporter, key_file: Path, session: Session
) -> None:
    for n in range(3):
        sign(supporter, email=f"signer{n}@qaderi-family.org", name=f"Signer {n}")
    new_key = PrivateKey.generate()
    new_sealer = Sealer.from_settings(
        public_key_text(new_key.public_key), AddressHasher.from_secret_keys((SECRET,))
    )
    report = rekey(session, load_private_key(key_file), new_sealer, now=utcnow(), batch=1)
    assert (report.resealed, report.other_keys) == (3, {})
    session.expire_all()
    rows = session.scalars(select(Signature).order_by(Signature.id)).all()
    assert [open_box(new_key, row.sealed)["name"] for row in rows] == [
        "Signer 0",
        "Signer 1",
        "Signer 2",
    ]
    assert {row.sealed_key for row in rows} == {new_sealer.fingerprint}
    assert all(row.updated_at >= row.created_at for row in rows)
