"""What the webhooks carry follows the supporter's last word: the confirm page's answer, a
partner switched off, an invalidation, a withdrawal while a delivery is on its way; and what
retention leaves of them. On both databases, with real receivers on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.abuse import Selection, invalidate
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Audit, Campaign, Signature, Webhook, WebhookDelivery, WebhookEvent
from widget.partners import save_partner
from widget.privacy import Retention, purge
from widget.webhook_delivery import MAX_ATTEMPTS, Dispatcher, HttpTransport
from widget.webhooks import add_webhook, pause_webhook, resume_webhook

from .conftest import Supporter
from .partners_helpers import PARTNER, add_partners
from .test_partner_consent import SAME_ORIGIN, mailed_paths, sign_for
from .test_webhooks import endpoint, signed
from .webhook_receiver import Receiver, StepClock, serve_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


def deliver(app: Flask, clock: StepClock):  # type: ignore[no-untyped-def]
    worker = Dispatcher(db.sessionmaker(app), HttpTransport(10.0, allow_private=True), clock=clock)
    try:
        return worker.run_once()
    finally:
        worker.close()


def bodies(receiver: Receiver, path: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.body) for r in receiver.requests if r.path == path]


@pytest.fixture
def org_and_partner(app: Flask, session: Session, receiver: Receiver, clock: StepClock) -> None:
    add_partners(app)
    add_webhook(session, receiver.url + "/org", actor="t", now=clock())
    add_webhook(session, receiver.url + "/partner", partner=PARTNER, actor="t", now=clock())


@pytest.mark.usefixtures("org_and_partner")
def test_unticking_on_the_confirm_page_keeps_the_partner_out(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    session: Session,
    receiver: Receiver,
    clock: StepClock,
) -> None:
    sign_for(supporter, PARTNER, partner_opt_in="y", opt_in="y")
    [link] = mailed_paths(session, "/v/")
    response = client.post(
        link,
        data={"partner_opt_in_shown": "y", "opt_in_shown": "y"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    report = deliver(app, clock)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    assert bodies(receiver, "/hooks/partner") == []
    [org] = bodies(receiver, "/hooks/org")
    assert org["type"] == "signature.verified"
    assert (org["data"]["opt_in"], org["data"]["partner"]) == (False, PARTNER)
    assert "partner_opt_in" not in org["data"]


@pytest.mark.usefixtures("org_and_partner")
def test_left_ticked_on_the_confirm_page_the_partner_hears(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    session: Session,
    receiver: Receiver,
    clock: StepClock,
) -> None:
    sign_for(supporter, PARTNER, partner_opt_in="y", opt_in="y")
    [link] = mailed_paths(session, "/v/")
    data = {"partner_opt_in_shown": "y", "partner_opt_in": "y", "opt_in_shown": "y", "opt_in": "y"}
    assert client.post(link, data=data, headers=SAME_ORIGIN).status_code == 200
    assert deliver(app, clock).delivered == 2
    [partner] = bodies(receiver, "/hooks/partner")
    assert (partner["data"]["email"], partner["data"]["partner_opt_in"]) == (
        "ayesha@example.org",
        True,
    )
    [org] = bodies(receiver, "/hooks/org")
    assert org["data"]["opt_in"] is True


def sign_and_confirm(client: FlaskClient, supporter: Supporter, session: Session, email: str):  # type: ignore[no-untyped-def]
    """Signs for the partner with both boxes ticked and confirms, leaving them ticked."""
    before = len(mailed_paths(session, "/v/"))
    sign_for(supporter, PARTNER, email=email, partner_opt_in="y", opt_in="y")
    link = mailed_paths(session, "/v/")[before]
    data = {"partner_opt_in_shown": "y", "partner_opt_in": "y", "opt_in_shown": "y", "opt_in": "y"}
    assert client.post(link, data=data, headers=SAME_ORIGIN).status_code == 200
    return session.scalars(select(Signature.id).where(Signature.email == email)).one()


def switch_partner(session: Session, clock: StepClock, *, active: bool) -> None:
    save_partner(session, PARTNER, "News Site", [], clock(), actor="t", active=active)


@pytest.mark.usefixtures("org_and_partner")
def test_a_partner_switched_off_hears_nothing_while_off(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    session: Session,
    receiver: Receiver,
    clock: StepClock,
) -> None:
    sign_and_confirm(client, supporter, session, "before@example.org")
    switch_partner(session, clock, active=False)
    # queued before it was switched off: held, not delivered
    assert deliver(app, clock).delivered == 1
    assert [len(bodies(receiver, p)) for p in ("/hooks/org", "/hooks/partner")] == [1, 0]
    # while off, nothing new is queued for it
    during = sign_and_confirm(client, supporter, session, "during@example.org")
    queued = select(WebhookEvent.webhook_id, WebhookEvent.signature_id)
    partner_hook = session.scalar(select(Webhook.id).where(Webhook.partner_id.is_not(None)))
    assert (partner_hook, during) not in [tuple(row) for row in session.execute(queued)]
    assert deliver(app, clock).delivered == 1
    assert [len(bodies(receiver, p)) for p in ("/hooks/org", "/hooks/partner")] == [2, 0]
    # switched on again, it gets what was queued for it, not what happened while it was off
    switch_partner(session, clock, active=True)
    assert deliver(app, clock).delivered == 1
    [partner] = bodies(receiver, "/hooks/partner")
    assert partner["data"]["email"] == "before@example.org"


# --- retention --------------------------------------------------------------------------------

RULES = Retention(pending_days=14, closed_days=180, mail_days=7)


def test_anonymising_forgets_the_events_a_paused_endpoint_still_holds(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    webhook_id, _secret = endpoint(session, receiver.url, clock)
    pause_webhook(session, webhook_id, scope=None, actor="t", now=clock())
    signed(session, supporter, clock)
    assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    campaign = session.scalars(select(Campaign)).one()
    campaign.closes_at = clock() + timedelta(days=1)
    session.commit()
    later = clock() + timedelta(days=182)
    report = purge(session, RULES, now=later, actor="t", apply=True)
    assert report.anonymised == 1
    assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    resume_webhook(session, webhook_id, scope=None, actor="t", now=clock())
    assert deliver(app, clock).handled == 0
    assert receiver.requests == []


def test_purge_deletes_failed_and_delivered_deliveries_past_the_mails_days(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    endpoint(session, receiver.url, clock)
    signed(session, supporter, clock)
    receiver.statuses = [500] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS):
        deliver(app, clock)
        clock.advance(hours=1)
    failed = session.scalars(select(WebhookDelivery)).one()
    assert failed.failed_at is not None and "ayesha@example.org" in failed.body
    clock.now = utcnow()
    signed(session, supporter, clock, email="second@example.org")
    assert deliver(app, clock).delivered == 1
    deliveries = select(func.count()).select_from(WebhookDelivery)
    events = select(func.count()).select_from(WebhookEvent)

    # within the mail's days both stay; a dry run only counts
    soon = purge(session, RULES, now=clock() + timedelta(days=6), actor="t", apply=True)
    assert (soon.deliveries_deleted, session.scalar(deliveries)) == (0, 2)
    dry = purge(session, RULES, now=clock() + timedelta(days=8), actor="t", apply=False)
    assert (dry.deliveries_deleted, session.scalar(deliveries)) == (2, 2)
    done = purge(session, RULES, now=clock() + timedelta(days=8), actor="t", apply=True)
    assert done.deliveries_deleted == 2
    session.expire_all()
    assert (session.scalar(deliveries), session.scalar(events)) == (0, 0)
    audit = session.scalars(select(Audit.details).where(Audit.action == "purge")).all()
    assert audit[-1]["deliveries_deleted"] == 2
    again = purge(session, RULES, now=clock() + timedelta(days=9), actor="t", apply=True)
    assert again.deliveries_deleted == 0


# --- invalidation -----------------------------------------------------------------------------


def test_an_invalidation_tells_the_receivers_and_forgets_what_was_not_sent(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    webhook_id, _secret = endpoint(session, receiver.url, clock)
    sent = signed(session, supporter, clock, email="sent@bots.example")
    assert deliver(app, clock).delivered == 1
    pause_webhook(session, webhook_id, scope=None, actor="t", now=clock())
    unsent = signed(session, supporter, clock, email="unsent@bots.example")
    kept = signed(session, supporter, clock, email="kept@example.org")
    campaign = session.scalars(select(Campaign)).one()
    outcome = invalidate(
        session, campaign, Selection(domain="bots.example"), now=clock(), actor="t", apply=True
    )
    assert outcome.verified == 2
    resume_webhook(session, webhook_id, scope=None, actor="t", now=clock())
    assert deliver(app, clock).delivered == 3
    later = [json.loads(r.body) for r in receiver.requests[1:]]
    assert [(b["type"], b["data"]["id"]) for b in later] == [
        ("signature.verified", kept),
        ("signature.withdrawn", sent),
        ("signature.withdrawn", unsent),
    ]
    assert later[1]["data"] == {
        "id": sent,
        "campaign": "ua-109-23",
        "withdrawn_at": later[1]["data"]["withdrawn_at"],
        "reason": "invalidated",
    }
    assert b"unsent@" not in b"".join(r.body for r in receiver.requests)
    # invalidating again tells nothing more
    invalidate(
        session, campaign, Selection(domain="bots.example"), now=clock(), actor="t", apply=True
    )
    assert deliver(app, clock).handled == 0
