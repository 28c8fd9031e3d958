"""The funnel: its marks (mail sent and bounced from a real SMTP relay, link opened on the
confirm page), its exact figures, and who may see its page."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import itsdangerous
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from widget import widget_state
from widget.clock import utcnow
from widget.extensions import db
from widget.funnel import campaign_funnel
from widget.models import Campaign, OutboxMessage, Signature
from widget.outbox import deliver_due
from widget.sealing import generate_key_file, load_private_key, public_key_text
from widget.tokens import link_payload

from .conftest import StaffActions, Supporter, make_app
from .partners_helpers import HTTPS, PARTNER, add_partners, partner_id, partner_login
from .test_outbox_faults import Relay, relay, transport
from .test_reminders import add_signature

__all__ = ["relay"]


def demo(session: Session) -> Campaign:
    return session.scalars(select(Campaign).where(Campaign.slug == "ua-109-23")).one()


def test_a_550_for_one_recipient_marks_only_that_signature_bounced(
    app: Flask, relay: Relay, supporter: Supporter, session: Session
) -> None:
    relay.refused["gone@example.org"] = "550 5.1.1 <gone@example.org>: no such mailbox"
    supporter.sign(email="gone@example.org")
    supporter.sign(email="here@example.org")
    report = deliver_due(db.sessionmaker(app), transport(relay))
    assert (report.sent, report.failed) == (1, 1)
    session.expire_all()
    rows = {s.email: s for s in session.scalars(select(Signature))}
    assert rows["gone@example.org"].mail_bounced_at is not None
    assert rows["gone@example.org"].mailed_at is None
    assert rows["here@example.org"].mail_bounced_at is None
    assert rows["here@example.org"].mailed_at is not None
    stored = session.scalars(select(OutboxMessage.last_error)).all()
    assert not any("gone@" in text for text in stored)
    # a bounced signature gets no reminder
    session.execute(update(Signature).values(created_at=utcnow() - timedelta(hours=72)))
    session.commit()
    result = app.test_cli_runner().invoke(args=["remind"], catch_exceptions=False)
    assert "reminded 1; skipped 1 (mail bounced 1)." in result.output


def test_a_4xx_or_a_refusal_at_data_is_no_bounce(
    app: Flask, relay: Relay, supporter: Supporter, session: Session
) -> None:
    relay.refused["busy@example.org"] = "452 4.2.2 mailbox full"
    relay.data_answers = ["554 5.6.0 content refused"]
    supporter.sign(email="busy@example.org")
    supporter.sign(email="content@example.org")
    deliver_due(db.sessionmaker(app), transport(relay))
    session.expire_all()
    assert session.scalars(select(Signature.mail_bounced_at)).all() == [None, None]


def confirm_path(session: Session, email: str) -> str:
    text = session.scalar(
        select(OutboxMessage.text_body).join(Signature).where(Signature.email == email)
    )
    found = re.search(r"http://localhost(/v/\S+)", text or "")
    assert found
    return found.group(1)


def test_the_first_get_of_a_valid_link_marks_it_opened_once(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    path = confirm_path(session, "ayesha@example.org")
    assert client.get(path).status_code == 200
    session.expire_all()
    first = session.scalar(select(Signature.link_opened_at))
    assert first is not None
    assert client.get(path).status_code == 200
    session.expire_all()
    assert session.scalar(select(Signature.link_opened_at)) == first


def test_forged_expired_and_posted_links_mark_nothing(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    path = confirm_path(session, "ayesha@example.org")
    token = path.removeprefix("/v/")
    assert client.get(f"/v/{token[:-2]}xx").status_code == 400
    assert client.get("/v/not-a-token").status_code == 400
    signature = session.scalars(select(Signature)).one()
    eight_days_ago = time.time() - 8 * 24 * 3600
    with mock.patch.object(itsdangerous.timed.time, "time", return_value=eight_days_ago):
        old = widget_state(app).verify_tokens.dumps(
            link_payload(signature.id, signature.link_secret, c="ua-109-23")
        )
    assert client.get(f"/v/{old}").status_code == 410
    other = widget_state(app).verify_tokens.dumps(link_payload(signature.id, "wrong-secret"))
    assert client.get(f"/v/{other}").status_code == 404
    # a link checker's HEAD shows the page and opens nothing
    assert client.head(path).status_code == 200
    # confirming with a POST alone is no "link opened"
    assert client.post(path, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    session.expire_all()
    assert session.scalar(select(Signature.link_opened_at)) is None


def test_the_funnel_figures_are_exact(app: Flask, session: Session) -> None:
    add_partners(app)
    news = partner_id(session, PARTNER)
    now = utcnow()
    later = now + timedelta(hours=1)
    # news-site: 4 signed, 3 mailed, 1 bounced, 2 opened, 2 confirmed, 1 after its reminder
    add_signature(session, "a@x.org", partner_id=news, mailed_at=now, link_opened_at=now,
                  verified_at=now)  # fmt: skip
    add_signature(session, "b@x.org", partner_id=news, mailed_at=now, reminded_at=now,
                  link_opened_at=later, verified_at=later)  # fmt: skip
    add_signature(session, "c@x.org", partner_id=news, mailed_at=now, reminded_at=now)
    add_signature(session, "d@x.org", partner_id=news, mailed_at=None, mail_bounced_at=now)
    # no partner: 1 signed, mailed, nothing more
    add_signature(session, "e@x.org", mailed_at=now)

    funnel = campaign_funnel(session, demo(session))

    [news_row, none_row] = funnel.by_partner
    assert news_row.partner == "News Site"
    assert (news_row.signed, news_row.mailed, news_row.bounced, news_row.opened) == (4, 3, 1, 2)
    assert (news_row.confirmed, news_row.reminded, news_row.confirmed_after_reminder) == (2, 2, 1)
    assert none_row.partner is None
    assert (none_row.signed, none_row.mailed, none_row.confirmed) == (1, 1, 0)
    total = funnel.total
    assert (total.signed, total.mailed, total.bounced, total.opened) == (5, 4, 1, 2)
    assert total.rate("mailed") == "80.0\u00a0%"
    assert total.rate("bounced") == "25.0\u00a0%"
    assert total.rate("confirmed") == "40.0\u00a0%"
    assert total.rate("confirmed_after_reminder") == "50.0\u00a0%"
    assert news_row.rate("opened") == "66.7\u00a0%"
    assert none_row.rate("confirmed_after_reminder") == "\u2013"


def test_an_empty_campaign_has_an_empty_funnel(app: Flask, session: Session) -> None:
    funnel = campaign_funnel(session, demo(session))
    assert funnel.by_partner == []
    assert funnel.total.signed == 0
    assert funnel.total.rate("confirmed") == "\u2013"


def test_viewers_see_the_funnel_page_with_counts_only(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    add_signature(session, "secret.person@example.org", mailed_at=utcnow())
    client = staff.signed_in("viewer")
    campaign_page = client.get("/staff/campaigns/ua-109-23", **HTTPS).get_data(as_text=True)
    assert 'href="/staff/campaigns/ua-109-23/funnel"' in campaign_page
    response = client.get("/staff/campaigns/ua-109-23/funnel", **HTTPS)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Refused by the receiving server" in page
    assert "No partner" in page
    assert "100.0\u00a0%" in page
    assert "secret.person" not in page and "Ayesha" not in page
    assert client.get("/staff/campaigns/nope/funnel", **HTTPS).status_code == 404


def test_a_partner_account_may_not_see_the_organisations_funnel(
    app: Flask, staff: StaffActions
) -> None:
    add_partners(app)
    client = partner_login(staff)
    assert client.get("/staff/campaigns/ua-109-23/funnel", **HTTPS).status_code == 403


def test_signed_out_the_funnel_asks_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/staff/campaigns/ua-109-23/funnel", **HTTPS)
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


def test_sealed_mode_sends_no_reminder_and_says_so(database_url: str, tmp_path: Path) -> None:
    key = tmp_path / "keys" / "data.key"
    key.parent.mkdir()
    generate_key_file(key)
    public_key = public_key_text(load_private_key(key).public_key)
    app = make_app(database_url, tmp_path, WIDGET_DATA_PUBLIC_KEY=public_key)
    Supporter(app.test_client()).sign(email="sealed@example.org")
    with db.sessionmaker(app)() as session:
        three_days_ago = utcnow() - timedelta(hours=72)
        mailed = {"created_at": three_days_ago, "mailed_at": three_days_ago}
        session.execute(update(Signature).values(mailed))
        session.commit()
        result = app.test_cli_runner().invoke(args=["remind"], catch_exceptions=False)
        assert result.exit_code == 0
        assert "1 unconfirmed signature is sealed (WIDGET_DATA_PUBLIC_KEY): its address" in (
            result.output
        )
        assert "reminded 0; skipped 1 (sealed 1)." in result.output
        assert session.scalar(select(Signature.reminded_at)) is None
        kinds = session.scalars(select(OutboxMessage.kind)).all()
        assert kinds == ["confirm"]
    db.engine(app).dispose()
