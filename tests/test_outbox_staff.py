"""Failed mail is seen and sent again: the staff page ``/staff/mail`` (admins; CSRF-protected,
audited; never a recipient's address or a body) and ``outbox retry``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.extensions import db
from widget.models import Audit, OutboxMessage
from widget.outbox import deliver_due
from widget.relay import SmtpTransport
from widget.settings import parse_mail_url

from .conftest import StaffActions, form_token
from .test_outbox_faults import Relay, queue, running_relay

HTTPS = {"base_url": "https://localhost"}


@pytest.fixture
def relay() -> Iterator[Relay]:
    yield from running_relay()


@pytest.fixture
def failed_mail(app: Flask, relay: Relay, session: Session) -> list[int]:
    """Three mails to addresses the relay refuses for good, one that went, one waiting."""
    for address in ("gone1@example.org", "gone2@example.org", "gone3@example.org"):
        relay.refused[address] = f"550 5.1.1 <{address}>: no such mailbox"
    queue(app, "gone1@example.org", "gone2@example.org", "ok@example.org", "gone3@example.org")
    smtp = SmtpTransport(parse_mail_url(relay.url()), "actions@example.org")
    assert deliver_due(db.sessionmaker(app), smtp).failed == 3
    queue(app, "later@example.org", subject="Waiting")
    failed = session.scalars(select(OutboxMessage.id).where(OutboxMessage.failed_at.is_not(None)))
    return sorted(failed)


def test_admins_see_counts_and_failed_mail_without_addresses_or_bodies(
    staff: StaffActions, failed_mail: list[int]
) -> None:
    page = staff.signed_in().get("/staff/mail", **HTTPS)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<strong>1</strong> queued" in html
    assert "<strong>3</strong> failed" in html
    assert "oldest unsent" in html
    assert html.count("recipient refused: 550 5.1.1 &lt;[address]&gt;: no such mailbox") == 3
    for message_id in failed_mail:
        assert f'name="id" value="{message_id}"' in html
    assert "Resend all failed" in html
    assert "@example.org" not in html.replace("admin@example.org", "")
    assert "<p>html</p>" not in html and "&lt;p&gt;html" not in html
    assert 'href="/staff/mail"' in html


def test_the_mail_page_is_for_admins_only(staff: StaffActions, failed_mail: list[int]) -> None:
    viewer = staff.signed_in("viewer")
    assert viewer.get("/staff/mail", **HTTPS).status_code == 403
    page = viewer.get("/staff/partners", **HTTPS).get_data(as_text=True)
    assert 'href="/staff/mail"' not in page
    token = form_token(page)
    response = viewer.post(
        "/staff/mail/resend", data={"csrf_token": token, "all": "failed"}, **HTTPS
    )
    assert response.status_code == 403


def test_resend_without_the_csrf_token_changes_nothing(
    app: Flask, staff: StaffActions, failed_mail: list[int], session: Session
) -> None:
    admin = staff.signed_in()
    response = admin.post("/staff/mail/resend", data={"all": "failed"}, **HTTPS)
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/mail?resent=0"
    session.expire_all()
    assert (
        len(
            session.scalars(select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None))).all()
        )
        == 3
    )
    assert session.scalars(select(Audit).where(Audit.action == "mail-resend")).all() == []


def test_resend_one_then_all_is_audited_and_the_mail_goes(
    app: Flask,
    staff: StaffActions,
    failed_mail: list[int],
    relay: Relay,
    session: Session,
) -> None:
    admin = staff.signed_in()
    token = form_token(admin.get("/staff/mail", **HTTPS).get_data(as_text=True))
    first = failed_mail[0]
    response = admin.post("/staff/mail/resend", data={"csrf_token": token, "id": first}, **HTTPS)
    assert response.headers["Location"] == "/staff/mail?resent=1"
    page = admin.get(response.headers["Location"], **HTTPS).get_data(as_text=True)
    assert "1 message queued to send again." in page
    assert "<strong>2</strong> failed" in page
    message = session.get_one(OutboxMessage, first, populate_existing=True)
    assert (message.failed_at, message.attempts) == (None, 0)
    assert message.next_attempt_at is not None

    response = admin.post(
        "/staff/mail/resend", data={"csrf_token": token, "all": "failed"}, **HTTPS
    )
    assert response.headers["Location"] == "/staff/mail?resent=2"
    audits = session.scalars(select(Audit).where(Audit.action == "mail-resend").order_by(Audit.id))
    assert [(a.actor, a.details) for a in audits] == [
        ("admin@example.org", {"messages": 1, "ids": [first]}),
        ("admin@example.org", {"messages": 2, "all_failed": True}),
    ]
    relay.refused.clear()  # the cause was fixed
    smtp = SmtpTransport(parse_mail_url(relay.url()), "actions@example.org")
    later = utcnow() + timedelta(minutes=1)
    assert deliver_due(db.sessionmaker(app), smtp, lambda: later).sent == 4
    assert sorted(m["To"] for m in relay.received) == [
        "gone1@example.org",
        "gone2@example.org",
        "gone3@example.org",
        "later@example.org",
        "ok@example.org",
    ]


def test_outbox_retry_command(app: Flask, failed_mail: list[int], session: Session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outbox", "retry"])
    assert result.exit_code == 2
    assert "Give message IDs or --all-failed" in result.output

    result = runner.invoke(args=["outbox", "retry", str(failed_mail[1]), "9999"])
    assert result.exit_code == 1
    assert f"Queued 1 message to send again: {failed_mail[1]}" in result.output
    assert "Not queued (sent, unknown or being sent now): 9999" in result.output

    result = runner.invoke(args=["outbox", "retry", "--all-failed"])
    assert result.exit_code == 0
    assert result.output == (
        f"Queued 2 messages to send again: {failed_mail[0]} {failed_mail[2]}\n"
    )
    session.expire_all()
    assert (
        session.scalars(select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None))).all()
        == []
    )
    actions = session.scalars(select(Audit.action).where(Audit.actor.startswith("cli:"))).all()
    assert actions == ["mail-resend", "mail-resend"]
