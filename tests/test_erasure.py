"""Withdrawal and erasure take the supporter's mails with them at once (issue 17, item 18): no
queued or sent mail keeps their name, address or a live link, but for the goodbye a supporter's
own withdrawal sends, which carries no link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.models import Campaign, OutboxMessage
from widget.privacy import Retention, purge

from .conftest import SmtpServer, StaffActions, Supporter, erase_search, form_token

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
HTTPS = {"base_url": "https://localhost"}


@pytest.fixture
def settings_env(smtp_server: SmtpServer) -> dict[str, str]:
    return {"WIDGET_MAIL_URL": smtp_server.url}


def deliver(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output


def mails_naming(session: Session, *texts: str) -> list[OutboxMessage]:
    """Outbox rows whose address, subject or body holds any of ``texts``."""
    session.expire_all()
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [
        row
        for row in rows
        if any(
            text.lower() in f"{row.recipient} {row.subject} {row.text_body} {row.html_body}".lower()
            for text in texts
        )
    ]


def a_history(app: Flask, client: FlaskClient, supporter: Supporter, session: Session) -> str:
    """Ayesha signs, signs again, confirms and signs once more: sent and queued mails, each
    with her name and her links; a bystander signs too. Returns her manage link."""
    supporter.sign()
    supporter.sign()
    supporter.sign(email="bystander@example.org", name="Bina Bystander")
    deliver(app)
    first = mails_naming(session, "ayesha@example.org")[0]
    verify = re.search(r"https?://[^/\s]+(/v/\S+)", first.text_body)
    manage = re.search(r"https?://[^/\s]+(/m/\S+)", first.text_body)
    assert verify and manage
    assert client.post(verify.group(1), headers=SAME_ORIGIN).status_code == 200
    supporter.sign()  # "already signed", still queued
    kinds = [(m.kind, m.sent_at is not None) for m in mails_naming(session, "Ayesha")]
    assert kinds == [("confirm", True), ("confirm", True), ("already_signed", False)]
    return manage.group(1)


def assert_bystander_untouched(session: Session) -> None:
    [kept] = mails_naming(session, "bystander@example.org")
    assert (kept.kind, kept.recipient, "/v/" in kept.text_body) == (
        "confirm",
        "bystander@example.org",
        True,
    )


def test_a_supporters_withdrawal_leaves_only_the_goodbye_without_links(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    manage = a_history(app, client, supporter, session)
    assert client.post(manage, headers=SAME_ORIGIN).status_code == 200
    [goodbye] = mails_naming(session, "ayesha", "Ayesha Khan")
    assert (goodbye.kind, goodbye.recipient, goodbye.sent_at) == (
        "withdrawn",
        "ayesha@example.org",
        None,
    )
    for body in (goodbye.text_body, goodbye.html_body):
        assert "/m/" not in body and "/v/" not in body
        assert "Ayesha Khan" not in body
    assert_bystander_untouched(session)


def test_staff_erasure_from_the_command_leaves_no_mail_of_the_supporter(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    a_history(app, client, supporter, session)
    result = app.test_cli_runner().invoke(args=["erase", "Ayesha@example.org", "--apply"])
    assert result.output == "Erased 1 signature (campaigns: ua-109-23).\n"
    assert mails_naming(session, "ayesha", "Ayesha Khan") == []
    assert_bystander_untouched(session)


def test_staff_erasure_from_the_browser_leaves_no_mail_of_the_supporter(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    session: Session,
    staff: StaffActions,
) -> None:
    a_history(app, client, supporter, session)
    admin = staff.signed_in()
    found = erase_search(admin, "ayesha@example.org").get_data(as_text=True)
    response = admin.post(
        "/staff/erase/confirm",
        data={"csrf_token": form_token(found), "email": "ayesha@example.org"},
        **HTTPS,
    )
    assert "1 signature erased; the counts were corrected." in response.get_data(as_text=True)
    assert mails_naming(session, "ayesha", "Ayesha Khan") == []
    assert_bystander_untouched(session)


def test_anonymising_a_closed_campaign_deletes_its_mails_sent_or_not(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    a_history(app, client, supporter, session)
    now = utcnow()
    session.execute(update(Campaign).values(closes_at=now - timedelta(days=181)))
    session.commit()
    report = purge(session, Retention(), now=now, actor="test", apply=True)
    assert (report.anonymised, report.mail_deleted) == (2, 4)
    session.expire_all()
    assert session.scalars(select(OutboxMessage)).all() == []
