"""``remind``: one reminder per unconfirmed signature, never twice, only while it can still
count, within the address's mail budget; safe from cron."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from widget import widget_state
from widget.clock import utcnow
from widget.counter import tally
from widget.extensions import db
from widget.models import Campaign, OutboxMessage, Signature
from widget.notices import MailNotices
from widget.remind_cli import mail_link
from widget.reminders import remind_unconfirmed
from widget.tokens import new_link_secret

from .conftest import Supporter, make_app


def add_signature(session: Session, email: str, hours_ago: float = 72, **columns: object) -> int:
    """A signature as the sign form stores it, ``hours_ago`` old, its confirm mail sent."""
    columns.setdefault("mailed_at", utcnow() - timedelta(hours=hours_ago))
    campaign = session.scalars(select(Campaign).where(Campaign.slug == "ua-109-23")).one()
    created = utcnow() - timedelta(hours=hours_ago)
    signature = Signature(
        campaign_id=campaign.id,
        email=email,
        email_key=email,
        name="Ayesha Khan",
        country="PK",
        actions=["letter"],
        consent_version="2026-11",
        language="en",
        created_at=created,
        link_secret=new_link_secret(),
        **columns,
    )
    session.add(signature)
    session.commit()
    return signature.id


def reminders(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "reminder")
            .order_by(OutboxMessage.signature_id)
        )
    )


def remind(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["remind", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_only_the_unconfirmed_get_one_reminder_with_the_asked_wording(
    app: Flask, session: Session
) -> None:
    now = utcnow()
    waiting = add_signature(session, "waiting@example.org")
    add_signature(session, "young@example.org", hours_ago=10)
    add_signature(session, "confirmed@example.org", verified_at=now)
    add_signature(session, "withdrawn@example.org", withdrawn_at=now)
    add_signature(session, "invalid@example.org", invalidated_at=now)
    add_signature(session, "erased@example.org", anonymised_at=now)
    add_signature(session, "bounced@example.org", mail_bounced_at=now)
    add_signature(session, "old@example.org", hours_ago=15 * 24)
    add_signature(session, "done@example.org", reminded_at=now)

    code, output = remind(app)

    assert code == 0
    assert (
        "Unconfirmed for over 48 h: reminded 1; skipped 2 (mail bounced 1, past retention 1)."
        in output
    )
    [mail] = reminders(session)
    assert (mail.signature_id, mail.recipient) == (waiting, "waiting@example.org")
    assert mail.subject == "Please confirm your signature: Stop deporting Afghan refugees"
    assert "Only confirmed signatures reach the officials we write to" in mail.text_body
    assert "If you did not sign, ignore this mail" in mail.text_body
    assert "Confirm my signature" in mail.html_body
    assert session.get(Signature, waiting).reminded_at is not None


def test_a_second_run_sends_nothing_more(app: Flask, session: Session) -> None:
    add_signature(session, "waiting@example.org")
    assert remind(app)[0] == 0
    code, output = remind(app)
    assert code == 0
    assert "reminded 0; skipped 0." in output
    assert len(reminders(session)) == 1


def test_a_closed_campaign_reminds_no_one(app: Flask, session: Session) -> None:
    add_signature(session, "waiting@example.org")
    session.execute(update(Campaign).values(closes_at=utcnow() - timedelta(hours=1)))
    session.commit()
    code, output = remind(app)
    assert code == 0
    assert "reminded 0; skipped 1 (campaign closed 1)." in output
    assert reminders(session) == []


def test_the_dry_run_writes_nothing_and_spends_no_budget(app: Flask, session: Session) -> None:
    waiting = add_signature(session, "waiting@example.org")
    code, output = remind(app, "--dry-run")
    assert code == 0
    assert "would remind 1; skipped 0." in output
    assert "Nothing was sent or changed (--dry-run)." in output
    assert reminders(session) == []
    assert session.get(Signature, waiting).reminded_at is None
    # the budget (3 an hour) is untouched: three real mails still go
    assert widget_state(app).settings.ratelimit_mail.startswith("3 per hour")
    assert remind(app)[0] == 0
    assert len(reminders(session)) == 1


def test_older_than_chooses_who_is_due(app: Flask, session: Session) -> None:
    add_signature(session, "five@example.org", hours_ago=5)
    add_signature(session, "two@example.org", hours_ago=2)
    code, output = remind(app, "--older-than", "4")
    assert code == 0
    assert "Unconfirmed for over 4 h: reminded 1" in output
    assert [m.recipient for m in reminders(session)] == ["five@example.org"]


@pytest.mark.parametrize(
    "value", ["0", "-3", "two", "1.5", "", " 4", "٤", "336", "99999999999999999999"]
)
def test_a_bad_older_than_exits_2_saying_what_to_give(
    app: Flask, session: Session, value: str
) -> None:
    add_signature(session, "waiting@example.org")
    code, output = remind(app, "--older-than", value)
    assert code == 2
    assert "Invalid value for '--older-than': give a whole number of hours from 1 to 335" in output
    assert reminders(session) == []


def test_the_mail_budget_is_the_one_the_sign_form_spends(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, WIDGET_RATELIMIT_MAIL="1 per day")
    client = app.test_client()
    signer = Supporter(client)
    assert signer.sign(email="budget@example.org").status_code == 200
    with db.sessionmaker(app)() as session:
        three_days_ago = utcnow() - timedelta(hours=72)
        session.execute(
            update(Signature).values(created_at=three_days_ago, mailed_at=three_days_ago)
        )
        session.commit()
        code, output = remind(app)
        assert code == 0
        assert "reminded 0; skipped 1 (mail budget spent 1)." in output
        assert reminders(session) == []
        # not claimed: tomorrow's run may still send it
        assert session.scalar(select(Signature.reminded_at)) is None
    db.engine(app).dispose()


def test_two_runs_at_once_send_each_reminder_once(app: Flask, session: Session) -> None:
    ids = [add_signature(session, f"p{n}@example.org") for n in range(20)]
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        with app.app_context(), db.sessionmaker(app)() as own:
            barrier.wait()
            reports.append(
                remind_unconfirmed(
                    own,
                    now=utcnow(),
                    older_than=timedelta(hours=48),
                    pending_days=14,
                    notices=MailNotices(mail_link, widget_state(app)),
                    may_mail=lambda _key: True,
                    sealed_mode=False,
                    dry_run=False,
                )
            )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(m.signature_id for m in reminders(session)) == ids
    assert sum(r.reminded for r in reports) == 20


def test_the_reminders_link_confirms_and_counts_once(app: Flask, session: Session) -> None:
    waiting = add_signature(session, "waiting@example.org")
    remind(app)
    [mail] = reminders(session)
    link = re.search(r"http://localhost(/v/\S+)", mail.text_body)
    assert link
    client = app.test_client()
    assert client.get(link.group(1)).status_code == 200
    headers = {"Sec-Fetch-Site": "same-origin"}
    assert client.post(link.group(1), headers=headers).status_code == 200
    assert client.post(link.group(1), headers=headers).status_code == 200
    session.expire_all()
    signature = session.get(Signature, waiting)
    assert signature.verified_at is not None
    assert signature.verified_at > signature.reminded_at
    campaign = session.get(Campaign, signature.campaign_id)
    assert tally(session, campaign.id, campaign.actions).count == 1


def test_no_reminder_overtakes_a_confirm_mail_that_has_not_gone(
    app: Flask, session: Session
) -> None:
    """The relay was down, or the first mail failed: a reminder would arrive first, or fail
    the same way."""
    add_signature(session, "queued@example.org", mailed_at=None)
    code, _output = remind(app)
    assert code == 0
    assert reminders(session) == []
    session.expire_all()
    assert session.scalars(select(Signature.reminded_at)).all() == [None]


def test_with_limits_kept_per_process_the_command_says_the_budget_is_its_own(
    app: Flask, session: Session
) -> None:
    add_signature(session, "waiting@example.org")
    result = app.test_cli_runner().invoke(args=["remind"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "WIDGET_RATELIMIT_STORAGE_URL is memory://" in result.stderr
