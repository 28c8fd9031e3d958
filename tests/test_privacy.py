"""The supporter's data lifecycle: see and withdraw, erase on request, retention, no raw IPs."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from unittest import mock

import itsdangerous.timed
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, String, Text, func, select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.counter import tally
from widget.models import Audit, Base, Campaign, OutboxMessage, Signature
from widget.paths import CAMPAIGNS
from widget.privacy import Retention, purge
from widget.tokens import manage_tokens, verify_tokens

from .conftest import SECRET, Supporter, link_claims, recount_agrees

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def manage_link(session: Session, email: str = "ayesha@example.org") -> str:
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id)
    ).first()
    assert message is not None
    match = re.search(r"https?://[^/\s]+(/m/\S+)", message.text_body)
    assert match, message.text_body
    return match.group(1)


def confirm(client: FlaskClient, session: Session, email: str = "ayesha@example.org") -> None:
    signature_id = session.scalars(select(Signature.id).where(Signature.email == email)).one()
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    assert client.post(f"/v/{token}", headers=SAME_ORIGIN).status_code == 200


def count(session: Session) -> int:
    session.expire_all()
    return tally(session, session.scalars(select(Campaign.id)).first()).count  # type: ignore[arg-type]


# --- the manage link ---------------------------------------------------------------------------


def test_every_mail_carries_the_manage_link_and_it_shows_what_we_hold(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign(opt_in="y")
    link = manage_link(session)
    response = client.get(link)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for shown in ("Ayesha Khan", "ayesha@example.org", "Pakistan", "I wrote a letter", "2026-11"):
        assert shown in page
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert session.scalars(select(Signature.withdrawn_at)).one() is None


def test_withdrawing_erases_at_once_and_counts_down_exactly_once(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    supporter.sign(email="other@example.org")
    confirm(client, session)
    confirm(client, session, "other@example.org")
    assert count(session) == 2
    link = manage_link(session)

    first = client.post(link, headers=SAME_ORIGIN)
    assert first.status_code == 200
    assert "Your signature is withdrawn" in first.get_data(as_text=True)
    session.expire_all()
    signature = session.scalars(select(Signature).where(Signature.email_key.like("erased:%"))).one()
    assert (signature.name, signature.email, signature.ip_hash, signature.source_url) == (
        "",
        "",
        None,
        None,
    )
    assert signature.email_key == f"erased:{signature.id}"
    assert signature.withdrawn_at is not None
    campaign_id = signature.campaign_id
    counts = tally(session, campaign_id, ["letter", "email"])
    assert (counts.count, counts.by_action) == (1, {"letter": 1, "email": 1})
    goodbye = session.scalars(
        select(OutboxMessage).where(OutboxMessage.subject.startswith("Your signature was"))
    ).one()
    assert goodbye.recipient == "ayesha@example.org"

    # The link died with the signature: it shows nothing and changes nothing.
    for again in (client.get(link), client.post(link, headers=SAME_ORIGIN)):
        assert again.status_code == 404
        assert "This signature no longer exists" in again.get_data(as_text=True)
        assert "ayesha" not in again.get_data(as_text=True).lower()
    assert count(session) == 1
    # her confirmation mail went with her; the other's mail and her goodbye remain
    assert session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all() == [
        "confirm",
        "withdrawn",
    ]


def test_withdrawing_a_pending_signature_changes_no_count(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    client.post(manage_link(session), headers=SAME_ORIGIN)
    assert count(session) == 0
    assert session.scalars(select(Signature.name)).one() == ""


def test_after_withdrawing_one_may_sign_again(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    client.post(manage_link(session), headers=SAME_ORIGIN)
    assert supporter.sign().status_code == 200
    names = sorted(session.scalars(select(Signature.name)))
    assert names == ["", "Ayesha Khan"]


def test_a_get_never_withdraws(client: FlaskClient, supporter: Supporter, session: Session) -> None:
    supporter.sign()
    link = manage_link(session)
    for method in ("GET", "HEAD", "OPTIONS"):
        client.open(link, method=method)
    session.expire_all()
    assert session.scalars(select(Signature.withdrawn_at)).one() is None


@pytest.mark.parametrize(
    "forge",
    [
        lambda sid: manage_tokens(("an-attacker-key-012345",)).dumps({"s": sid}),
        lambda sid: verify_tokens((SECRET,)).dumps({"s": sid, "c": "ua-109-23"}),
        lambda sid: "garbage",
    ],
)
def test_a_forged_manage_link_changes_nothing(
    client: FlaskClient, supporter: Supporter, session: Session, forge
) -> None:  # type: ignore[no-untyped-def]
    supporter.sign()
    signature_id = session.scalars(select(Signature.id)).one()
    response = client.post(f"/m/{forge(signature_id)}", headers=SAME_ORIGIN)
    assert response.status_code == 400
    session.expire_all()
    assert session.scalars(select(Signature.name)).one() == "Ayesha Khan"


def test_an_expired_manage_link_says_so(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    signature_id = session.scalars(select(Signature.id)).one()
    long_ago = time.time() - 366 * 24 * 3600
    with mock.patch.object(itsdangerous.timed.time, "time", return_value=long_ago):
        old = manage_tokens((SECRET,)).dumps({"s": signature_id})
    response = client.post(f"/m/{old}", headers=SAME_ORIGIN)
    assert response.status_code == 410
    assert "Links to see or withdraw a signature work for a year." in response.get_data(
        as_text=True
    )


def test_withdrawing_from_another_site_is_refused(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    response = client.post(manage_link(session), headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    session.expire_all()
    assert session.scalars(select(Signature.withdrawn_at)).one() is None


# --- consent and IPs ---------------------------------------------------------------------------


def test_the_consent_version_is_stored_and_opt_in_is_separate(
    supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    supporter.sign(email="b@example.org", opt_in="y")
    rows = session.execute(
        select(Signature.consent_version, Signature.opt_in).order_by(Signature.id)
    )
    assert [tuple(r) for r in rows] == [("2026-11", False), ("2026-11", True)]


def test_no_raw_ip_anywhere_in_the_database_after_a_full_flow(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    ip = "203.0.113.77"
    for email in ("a@example.org", "b@example.org"):
        client.post(
            "/w/ua-109-23",
            data=supporter.form(email=email),
            headers={**SAME_ORIGIN, "X-Forwarded-For": "198.51.100.200"},
            environ_base={"REMOTE_ADDR": ip},
        )
    confirm(client, session, "a@example.org")
    client.post(manage_link(session, "b@example.org"), headers=SAME_ORIGIN)
    app.test_cli_runner().invoke(args=["activity", "ua-109-23"])
    session.expire_all()
    for table in Base.metadata.sorted_tables:
        texts = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        if not texts:  # e.g. runtime_limits_version: numbers only
            continue
        for row in session.execute(select(*texts)):
            for value in row:
                assert ip not in str(value), f"{table.name} holds the raw IP"
                assert "198.51.100.200" not in str(value)


# --- retention ---------------------------------------------------------------------------------


def test_purge_removes_exactly_what_the_rules_say_and_keeps_counts(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign(email="kept@example.org", actions=["letter", "call"], country="DE")
    confirm(client, session, "kept@example.org")
    supporter.sign(email="pending@example.org")
    campaign = session.scalars(select(Campaign)).one()
    before = tally(session, campaign.id, campaign.actions)
    now = utcnow()
    rules = Retention(pending_days=14, closed_days=180, mail_days=7)

    # Day 13: nothing is due yet (mail is unsent: the outbox never ran).
    early = purge(session, rules, now=now + timedelta(days=13), actor="test", apply=True)
    assert (early.pending_deleted, early.anonymised, early.mail_deleted) == (0, 0, 0)

    # Day 15: the unconfirmed signature goes; the confirmed one stays whole.
    dry = purge(session, rules, now=now + timedelta(days=15), actor="test", apply=False)
    assert (dry.pending_deleted, dry.anonymised, dry.applied) == (1, 0, False)
    assert session.scalar(select(func.count()).select_from(Signature)) == 2
    done = purge(session, rules, now=now + timedelta(days=15), actor="test", apply=True)
    assert done.pending_deleted == 1
    session.expire_all()
    assert session.scalars(select(Signature.email)).all() == ["kept@example.org"]
    # its unsent mail (with its live link) went with it
    assert session.scalars(select(OutboxMessage.recipient)).all() == ["kept@example.org"]

    # The campaign closes; 181 days later its personal data goes, its counts stay.
    campaign = session.scalars(select(Campaign)).one()
    campaign.closes_at = now + timedelta(days=16)
    session.commit()
    for message in session.scalars(select(OutboxMessage)):
        message.sent_at, message.next_attempt_at = now, None
    session.commit()
    late = purge(session, rules, now=now + timedelta(days=16 + 181), actor="test", apply=True)
    assert (late.pending_deleted, late.anonymised, late.mail_deleted) == (0, 1, 1)
    session.expire_all()
    kept = session.scalars(select(Signature)).one()
    assert (kept.name, kept.email, kept.ip_hash, kept.country, kept.actions) == (
        "",
        "",
        None,
        "DE",
        ["letter", "call"],
    )
    assert kept.withdrawn_at is None
    assert tally(session, campaign.id, campaign.actions) == before
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    again = purge(session, rules, now=now + timedelta(days=400), actor="test", apply=True)
    assert (again.pending_deleted, again.anonymised, again.mail_deleted) == (0, 0, 0)
    audits = session.scalars(select(Audit.details).where(Audit.action == "purge")).all()
    assert audits == [
        {"pending_deleted": 1, "anonymised": 0, "mail_deleted": 0, "deliveries_deleted": 0},
        {"pending_deleted": 0, "anonymised": 1, "mail_deleted": 1, "deliveries_deleted": 0},
    ]


def test_purge_command_dry_run_changes_nothing(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    result = app.test_cli_runner().invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0
    assert result.output.startswith("Would delete 0 unconfirmed signatures (older than 14 days)")
    assert session.scalar(select(func.count()).select_from(Signature)) == 1


# --- erasure on request ------------------------------------------------------------------------


def test_staff_erasure_covers_every_campaign_and_is_audited(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    second = tmp_path / "second.toml"
    second.write_text(
        (CAMPAIGNS / "ua-109-23.toml").read_text().replace('slug = "ua-109-23"', 'slug = "ua-2"')
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["campaign", "load", str(second)]).exit_code == 0
    supporter.sign(email="Ayesha+news@Example.org")
    Supporter(client, "ua-2").sign(email="ayesha@example.org")
    supporter.sign(email="someone.else@example.org")
    confirm(client, session, "Ayesha+news@Example.org")

    dry = runner.invoke(args=["erase", "ayesha@example.org"])
    assert dry.output == (
        "Would erase 2 signatures (campaigns: ua-109-23, ua-2).\n"
        "Nothing was changed. Run again with --apply to do it.\n"
    )
    done = runner.invoke(args=["erase", "AYESHA@example.org", "--apply"])
    assert done.output == "Erased 2 signatures (campaigns: ua-109-23, ua-2).\n"
    session.expire_all()
    assert sorted(session.scalars(select(Signature.email))) == ["", "", "someone.else@example.org"]
    assert count(session) == 0
    [audit] = session.scalars(select(Audit).where(Audit.action == "erase")).all()
    assert audit.details == {"signatures": 2, "campaigns": ["ua-109-23", "ua-2"]}
    assert "ayesha" not in str(audit.details).lower()


# --- the notice --------------------------------------------------------------------------------


@pytest.mark.parametrize("settings_env", [{"WIDGET_RETENTION_PENDING_DAYS": "10"}])
def test_the_privacy_notice_is_written_from_the_settings(client: FlaskClient) -> None:
    page = client.get("/privacy?campaign=ua-109-23").get_data(as_text=True)
    assert "A signature that is not confirmed is deleted after 10 days." in page
    assert "erased 180 days later" in page
    assert "deleted from our system 7 days after sending" in page
    assert 'href="/w/ua-109-23"' in page


def test_the_widget_links_to_the_notice(client: FlaskClient) -> None:
    page = client.get("/w/ua-109-23").get_data(as_text=True)
    assert 'href="/privacy?lang=en&amp;campaign=ua-109-23" target="_blank" rel="noopener"' in page


def test_concurrent_withdrawals_count_down_once(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    import threading

    from widget.extensions import db
    from widget.privacy import withdraw_signature

    supporter.sign()
    supporter.sign(email="other@example.org")
    confirm(client, session)
    confirm(client, session, "other@example.org")
    signature_id = session.scalars(
        select(Signature.id).where(Signature.email == "ayesha@example.org")
    ).one()
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def withdraw() -> None:
        with db.sessionmaker(app)() as own:
            start.wait()
            outcomes.append(withdraw_signature(own, signature_id, now=utcnow()).value)

    threads = [threading.Thread(target=withdraw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already-withdrawn"] * 3 + ["withdrawn"]
    assert count(session) == 1
    assert recount_agrees(session)
