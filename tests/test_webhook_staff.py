"""/staff/webhooks: admins see every endpoint, a partner account only its own partner's; a
secret is shown once; every change is a CSRF-protected POST; on both databases."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.extensions import db
from widget.models import Audit, Staff, Webhook, WebhookDelivery, WebhookEvent
from widget.partners import save_partner
from widget.staff import create_staff
from widget.webhooks import MAX_PARTNER_ENDPOINTS, WebhookError, add_webhook

from .conftest import STAFF_PASSWORD, StaffActions, form_token

HTTPS = "https://localhost"


@pytest.fixture
def partners(session: Session) -> dict[str, int]:
    ids = {}
    for slug in ("courier", "herald"):
        partner, _ = save_partner(session, slug, slug.title(), [], utcnow(), actor="test")
        ids[slug] = partner.id
    return ids


def partner_client(app: Flask, staff: StaffActions, partner_id: int) -> FlaskClient:
    """A partner account (created on the row: the ``--role partner`` command is not ours)."""
    with db.sessionmaker(app)() as session:
        create_staff(session, "p@example.org", STAFF_PASSWORD, "viewer", utcnow())
        account = session.scalars(select(Staff).where(Staff.email == "p@example.org")).one()
        account.role, account.partner_id = "partner", partner_id
        session.commit()
    client, response = staff.login("p@example.org")
    assert response.status_code == 302
    return client


def get(client: FlaskClient, path: str = "/staff/webhooks"):  # type: ignore[no-untyped-def]
    return client.get(path, base_url=HTTPS)


def post(client: FlaskClient, path: str, **data: object):  # type: ignore[no-untyped-def]
    token = form_token(get(client).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, base_url=HTTPS)


def endpoints(session: Session) -> list[Webhook]:
    session.expire_all()
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(
    staff: StaffActions, session: Session
) -> None:
    client = staff.signed_in("admin")
    response = post(
        client,
        "/staff/webhooks",
        url="https://crm.example.org/hooks",
        events=["signature.verified", "campaign.closed"],
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    [webhook] = endpoints(session)
    assert webhook.events == ["campaign.closed", "signature.verified"]
    assert webhook.secret in html and "shown only this once" in html
    assert webhook.secret not in get(client).get_data(as_text=True)
    assert session.scalar(select(Audit.actor).where(Audit.action == "webhook-add")) == (
        "admin@example.org"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "http://crm.example.org/"}, "Use https://"),
        ({"url": "javascript:alert(1)"}, "must start with https://"),
        ({"url": "https://crm.example.org/", "events": ["nope"]}, "Check the form"),
        ({"url": "https://crm.example.org/", "partner": "nobody"}, "No partner"),
        ({"url": "https://crm.example.org/", "batch_max": "x"}, "Check the form"),
        ({"url": "https://crm.example.org/", "batch_max": "3"}, "both a maximum"),
    ],
)
def test_a_bad_add_is_refused_next_to_the_form(
    staff: StaffActions, session: Session, data: dict[str, object], message: str
) -> None:
    client = staff.signed_in("admin")
    response = post(client, "/staff/webhooks", **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert endpoints(session) == []


def test_changes_need_the_csrf_token(staff: StaffActions, session: Session) -> None:
    add_webhook(session, "https://crm.example.org/", actor="t", now=utcnow())
    client = staff.signed_in("admin")
    for path in ("/staff/webhooks/1/pause", "/staff/webhooks/1/rotate", "/staff/webhooks"):
        assert (
            client.post(path, data={"url": "https://x.example/"}, base_url=HTTPS).status_code == 400
        )
    [webhook] = endpoints(session)
    assert webhook.paused_at is None and webhook.previous_secret is None


def test_pause_resume_and_rotate(staff: StaffActions, session: Session) -> None:
    _webhook, old = add_webhook(session, "https://crm.example.org/", actor="t", now=utcnow())
    client = staff.signed_in("admin")
    assert post(client, "/staff/webhooks/1/pause").status_code == 302
    assert endpoints(session)[0].paused_at is not None
    assert "Resume webhook 1" in get(client).get_data(as_text=True)
    assert post(client, "/staff/webhooks/1/resume").status_code == 302
    assert endpoints(session)[0].paused_at is None
    rotated = post(client, "/staff/webhooks/1/rotate")
    [webhook] = endpoints(session)
    assert webhook.previous_secret == old and webhook.secret in rotated.get_data(as_text=True)
    assert post(client, "/staff/webhooks/9/pause").status_code == 404


def test_a_viewer_may_not_open_it(staff: StaffActions) -> None:
    client = staff.signed_in("viewer")
    assert get(client).status_code == 403


def test_a_partner_account_sees_and_manages_only_its_own(
    app: Flask, staff: StaffActions, session: Session, partners: dict[str, int]
) -> None:
    add_webhook(session, "https://org.example.org/", actor="t", now=utcnow())
    add_webhook(session, "https://herald.example.org/", partner="herald", actor="t", now=utcnow())
    add_webhook(session, "https://courier.example.org/", partner="courier", actor="t", now=utcnow())
    client = partner_client(app, staff, partners["courier"])
    html = get(client).get_data(as_text=True)
    assert "courier.example.org" in html
    assert "org.example.org/" not in html.replace("courier.example.org", "")
    assert "herald" not in html
    assert 'name="partner"' not in html
    for other in (1, 2):
        for action in ("pause", "resume", "rotate"):
            assert post(client, f"/staff/webhooks/{other}/{action}").status_code == 404
    assert post(client, "/staff/webhooks/3/pause").status_code == 302
    # an add is its partner's, whatever the form says
    added = post(client, "/staff/webhooks", url="https://courier.example.org/2", partner="")
    assert added.status_code == 200
    webhooks = endpoints(session)
    assert [(w.id, w.partner_id) for w in webhooks][-1] == (4, partners["courier"])
    assert [w.paused_at is not None for w in webhooks] == [False, False, True, False]
    assert all(w.previous_secret is None for w in webhooks)


def test_a_partner_replays_only_its_own_failed_deliveries(
    app: Flask, staff: StaffActions, session: Session, partners: dict[str, int]
) -> None:
    now = utcnow()
    for number, partner in enumerate((None, "courier")):
        webhook, _ = add_webhook(
            session, f"https://h{number}.example.org/", partner=partner, actor="t", now=now
        )
        session.add(
            WebhookDelivery(
                webhook_id=webhook.id,
                message_id=f"msg_{number}",
                body="{}",
                created_at=now,
                attempts=20,
                failed_at=now,
                last_status=500,
                last_error="the receiver answered 500",
            )
        )
    session.commit()
    client = partner_client(app, staff, partners["courier"])
    html = get(client).get_data(as_text=True)
    assert "Replay delivery 2" in html and "Replay delivery 1" not in html
    assert (
        post(client, "/staff/webhooks/replay", id=["1", "2"])
        .headers["Location"]
        .endswith("replayed=1")
    )
    session.expire_all()
    failed = dict(session.execute(select(WebhookDelivery.id, WebhookDelivery.failed_at)).all())
    assert failed[1] is not None and failed[2] is None


def test_the_page_shows_deliveries_with_their_status(staff: StaffActions, session: Session) -> None:
    webhook, _ = add_webhook(session, "https://crm.example.org/", actor="t", now=utcnow())
    session.add(
        WebhookDelivery(
            webhook_id=webhook.id,
            message_id="msg_x",
            body="{}",
            created_at=utcnow(),
            attempts=3,
            last_status=503,
            last_error="the receiver answered 503",
            next_attempt_at=utcnow(),
        )
    )
    session.commit()
    html = get(staff.signed_in("admin")).get_data(as_text=True)
    row = re.search(r"<tr>\s*<td>1</td>.*?</tr>", html, re.S)
    assert row is not None
    assert "retrying" in row.group(0) and "503" in row.group(0) and ">3<" in row.group(0)


def test_closing_a_campaign_queues_campaign_closed_once(
    staff: StaffActions, session: Session
) -> None:
    add_webhook(
        session, "https://crm.example.org/", events=["campaign.closed"], actor="t", now=utcnow()
    )
    client = staff.signed_in("admin")
    token = form_token(get(client, "/staff/campaigns/ua-109-23").get_data(as_text=True))
    for _ in range(2):
        answer = client.post(
            "/staff/campaigns/ua-109-23/close", data={"csrf_token": token}, base_url=HTTPS
        )
        assert answer.status_code == 302
    events = session.execute(select(WebhookEvent.type, WebhookEvent.payload)).all()
    assert [(type_, data["campaign"], data["count"]) for type_, data in events] == [
        ("campaign.closed", "ua-109-23", 0)
    ]


def test_a_partner_has_at_most_a_few_endpoints_delivering(
    app: Flask, staff: StaffActions, session: Session, partners: dict[str, int]
) -> None:
    for n in range(MAX_PARTNER_ENDPOINTS):
        add_webhook(
            session, f"https://courier.example.org/{n}", partner="courier", actor="t", now=utcnow()
        )
    # the organisation's own endpoints and another partner's are not counted
    add_webhook(session, "https://org.example.org/", actor="t", now=utcnow())
    add_webhook(session, "https://herald.example.org/", partner="herald", actor="t", now=utcnow())
    client = partner_client(app, staff, partners["courier"])
    refused = post(client, "/staff/webhooks", url="https://courier.example.org/more")
    assert refused.status_code == 400
    message = f"A partner has at most {MAX_PARTNER_ENDPOINTS} endpoints delivering at once"
    assert message in refused.get_data(as_text=True)
    assert len(endpoints(session)) == MAX_PARTNER_ENDPOINTS + 2
    # a paused one makes room; resuming it again, with the room taken, is refused as well
    assert post(client, "/staff/webhooks/1/pause").status_code == 302
    assert (
        post(client, "/staff/webhooks", url="https://courier.example.org/more").status_code == 200
    )
    resumed = post(client, "/staff/webhooks/1/resume")
    assert resumed.status_code == 400 and message in resumed.get_data(as_text=True)
    assert endpoints(session)[0].paused_at is not None
    # the command line keeps the same rule
    result = app.test_cli_runner().invoke(args=["webhook", "resume", "1"])
    assert result.exit_code != 0 and message in result.output
    with pytest.raises(WebhookError, match="pause one first"):
        add_webhook(
            session, "https://courier.example.org/x", partner="courier", actor="t", now=utcnow()
        )
