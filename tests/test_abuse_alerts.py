"""Abuse alerts (issue 13): active admins get a mail through the outbox when an IP hash, a
domain or a partner turns unusual by the monitor's rules, at most once an hour per cause; the
mail holds what the monitor shows and no supporter's data."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.alerts import send_alerts
from widget.clock import utcnow
from widget.extensions import db
from widget.models import AbuseAlert, OutboxMessage, Staff
from widget.outbox import deliver_due
from widget.staff import create_staff

from .conftest import STAFF_PASSWORD, SmtpServer, text_part
from .partners_helpers import PARTNER, add_partners, add_signature
from .test_outbox import transport

BAD_IP = "c" * 32


@pytest.fixture(autouse=True)
def world(app: Flask, session: Session) -> None:
    add_partners(app)
    now = utcnow()
    for email, role in [
        ("admin@example.org", "admin"),
        ("second@example.org", "admin"),
        ("viewer@example.org", "viewer"),
        ("gone@example.org", "admin"),
    ]:
        create_staff(session, email, STAFF_PASSWORD, role, now)
    create_staff(session, "desk@news.example", STAFF_PASSWORD, "partner", now, partner=PARTNER)
    session.scalars(select(Staff).where(Staff.email == "gone@example.org")).one().active = False
    session.commit()


def bots(session: Session, n: int, at: datetime, *, ip: str = BAD_IP, start: int = 0) -> None:
    for i in range(start, start + n):
        add_signature(session, f"bot@d{i}.example", ip_hash=ip, partner=None, at=at, updated_at=at)


def link(slug: str) -> str:
    return f"https://actions.example/staff/campaigns/{slug}/activity"


def mails(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "abuse_alert")
            .order_by(OutboxMessage.id)
        )
    )


def test_admins_are_mailed_once_an_hour_per_cause(session: Session) -> None:
    now = utcnow()
    bots(session, 5, now - timedelta(minutes=10))
    report = send_alerts(session, now, link)
    cause = f"ua-109-23/ip/{BAD_IP}"
    assert (report.sent, report.quiet, report.recipients) == ([cause], [], 2)
    sent = mails(session)
    assert sorted(m.recipient for m in sent) == ["admin@example.org", "second@example.org"]
    assert sent[0].subject == "Unusual signing: 1 new cause in the last hour"
    assert f"IP hash {BAD_IP}: 5 of the 5 signatures in the last hour" in sent[0].text_body
    assert link("ua-109-23") in sent[0].text_body
    assert f'<a href="{link("ua-109-23")}">' in sent[0].html_body
    for mail in sent:  # nothing of the supporters: no address, no name
        assert "bot@" not in mail.text_body + mail.html_body
        assert "Ayesha" not in mail.text_body + mail.html_body

    # the bot goes on: within the hour, no more mail about it
    bots(session, 5, now + timedelta(minutes=20), start=10)
    later = send_alerts(session, now + timedelta(minutes=30), link)
    assert (later.sent, later.quiet) == ([], [cause])
    assert len(mails(session)) == 2
    # an hour after the last mail, and still unusual: one more
    again = send_alerts(session, now + timedelta(minutes=61), link)
    assert again.sent == [cause]
    assert len(mails(session)) == 4
    [alert] = session.scalars(select(AbuseAlert)).all()
    assert (alert.cause, alert.last_sent_at) == (cause, now + timedelta(minutes=61))


def test_nothing_is_sent_when_nothing_is_unusual(session: Session) -> None:
    now = utcnow()
    bots(session, 4, now - timedelta(minutes=10))  # one below the monitor's rule
    bots(session, 5, now - timedelta(minutes=70), ip="d" * 32, start=20)  # out of the hour
    report = send_alerts(session, now, link)
    assert (report.sent, report.quiet) == ([], [])
    assert mails(session) == []
    assert session.scalars(select(AbuseAlert)).all() == []


def test_a_domain_and_a_partner_are_causes_of_their_own(session: Session) -> None:
    now = utcnow()
    for i in range(20):
        add_signature(
            session,
            f"p{i}@spam.bücher.example",
            ip_hash=f"{i:032x}",
            at=now - timedelta(minutes=5),
            updated_at=now - timedelta(minutes=5),
        )
    report = send_alerts(session, now, link)
    assert report.sent == [
        "ua-109-23/domain/xn--bcher-kva.example",
        "ua-109-23/partner/news-site",
    ]
    [first, _second] = mails(session)
    assert first.subject == "Unusual signing: 2 new causes in the last hour"
    assert "email domain xn--bcher-kva.example: 20 of the 20" in first.text_body
    assert "partner news-site: 20 of the 20" in first.text_body


def test_two_runs_at_once_mail_once(app: Flask, session: Session) -> None:
    now = utcnow()
    bots(session, 6, now - timedelta(minutes=1))
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        with app.app_context(), db.sessionmaker(app)() as own:
            barrier.wait()
            reports.append(send_alerts(own, now, link))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(report.sent) for report in reports) == [0, 1]
    assert len(mails(session)) == 2


def test_the_command_is_safe_from_cron_and_the_mail_goes_out(
    app: Flask, session: Session, smtp_server: SmtpServer
) -> None:
    bots(session, 5, utcnow() - timedelta(minutes=1))
    runner = app.test_cli_runner()
    first = runner.invoke(args=["alerts"])
    assert (first.exit_code, first.output) == (
        0,
        "Unusual: 1 new, mailed to 2 admins; 0 mailed within the hour.\n",
    )
    second = runner.invoke(args=["alerts"])
    assert (second.exit_code, second.output) == (
        0,
        "Unusual: none new; 1 mailed within the hour.\n",
    )
    with app.app_context():
        assert deliver_due(db.sessionmaker(app), transport(smtp_server)).sent == 2
    [received] = smtp_server.mailbox.to("admin@example.org")
    assert received["Subject"] == "Unusual signing: 1 new cause in the last hour"
    assert "http://localhost/staff/campaigns/ua-109-23/activity" in text_part(received)
