"""Webhooks end to end with a real HTTP receiver on loopback: what reaches whom, signed how,
retried how; on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook as Verifier

from widget import webhook_events, widget_state
from widget.campaigns import find_campaign
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Partner, Signature, WebhookDelivery, WebhookEvent
from widget.partners import save_partner
from widget.privacy import erase_supporter, withdraw_signature
from widget.signing import confirm_signature
from widget.webhook_delivery import MAX_ATTEMPTS, Dispatcher, HttpTransport
from widget.webhooks import add_webhook, pause_webhook, replay_failed, resume_webhook, rotate_secret

from .conftest import Supporter
from .webhook_receiver import Receiver, StepClock, serve_receiver

#: generous: a loaded CI machine must not turn a slow loopback answer into a retry
TIMEOUT = 10.0
#: short, for the one test that waits out a receiver hanging on purpose
HANG_TIMEOUT = 0.5


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


def dispatcher(app: Flask, clock: StepClock, timeout: float = TIMEOUT) -> Dispatcher:
    return Dispatcher(db.sessionmaker(app), HttpTransport(timeout, allow_private=True), clock=clock)


def deliver(app: Flask, clock: StepClock, timeout: float = TIMEOUT):  # type: ignore[no-untyped-def]
    worker = dispatcher(app, clock, timeout)
    try:
        return worker.run_once()
    finally:
        worker.close()


def endpoint(session: Session, url: str, clock: StepClock, **options: object) -> tuple[int, str]:
    webhook, secret = add_webhook(session, url, actor="test", now=clock(), **options)  # type: ignore[arg-type]
    return webhook.id, secret


def signed(session: Session, supporter: Supporter, clock: StepClock, **fields: object) -> int:
    """A verified signature; its partner and ``partner_opt_in`` are set on the row (the sign
    form's partner consent is another branch's work)."""
    partner_opt_in = bool(fields.pop("partner_opt_in", False))
    partner = fields.pop("partner", None)
    email = str(fields.pop("email", "ayesha@example.org"))
    assert supporter.sign(email=email, **fields).status_code == 200
    signature = session.scalars(select(Signature).where(Signature.email == email)).one()
    if partner:
        signature.partner_id = session.scalar(select(Partner.id).where(Partner.slug == partner))
    signature.partner_opt_in = partner_opt_in
    signature.partner_consent_version = "2026-12" if partner_opt_in else None
    session.commit()
    assert confirm_signature(session, signature.id, now=clock()).value == "confirmed"
    return signature.id


def verified_body(request, secret: str) -> dict:  # type: ignore[no-untyped-def]
    return Verifier(secret).verify(request.body, request.headers)


@pytest.fixture
def courier(session: Session, clock: StepClock) -> int:
    partner, _created = save_partner(session, "courier", "The Courier", [], clock(), actor="test")
    return partner.id


def test_a_verified_signature_reaches_the_org_endpoint_signed(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    _id, secret = endpoint(session, receiver.url, clock)
    signature_id = signed(session, supporter, clock, opt_in="y")
    report = deliver(app, clock)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-timestamp"] == str(int(clock().timestamp()))
    body = verified_body(request, secret)
    assert body["type"] == "signature.verified"
    data = body["data"]
    assert data["id"] == signature_id
    assert (data["campaign"], data["name"], data["email"]) == (
        "ua-109-23",
        "Ayesha Khan",
        "ayesha@example.org",
    )
    assert (data["country"], data["actions"], data["opt_in"], data["partner"]) == (
        "PK",
        ["letter", "email"],
        True,
        None,
    )
    assert "partner_opt_in" not in data
    # another secret does not verify it
    with pytest.raises(Exception, match="No matching signature"):
        verified_body(request, "whsec_" + "QUJD" * 8)
    # delivered: the body with the supporter's data is not kept
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.body, delivery.last_status, delivery.attempts) == ("", 200, 1)
    assert session.scalar(select(WebhookEvent.payload)) == {}


def test_a_partner_endpoint_gets_only_its_consenting_supporters(
    app: Flask,
    session: Session,
    supporter: Supporter,
    receiver: Receiver,
    clock: StepClock,
    courier: int,
) -> None:
    _org, org_secret = endpoint(session, receiver.url + "/org", clock)
    _partner, partner_secret = endpoint(
        session, receiver.url + "/courier", clock, partner="courier"
    )
    consenting = signed(
        session, supporter, clock, email="a@example.org", partner="courier", partner_opt_in=True
    )
    signed(session, supporter, clock, email="b@example.org", partner="courier")
    signed(session, supporter, clock, email="c@example.org")
    deliver(app, clock)
    to_org = [r for r in receiver.requests if r.path == "/hooks/org"]
    to_partner = [r for r in receiver.requests if r.path == "/hooks/courier"]
    assert len(to_org) == 3
    [only] = to_partner
    data = verified_body(only, partner_secret)["data"]
    assert (data["id"], data["partner"], data["partner_opt_in"]) == (consenting, "courier", True)
    assert data["partner_consent_version"] == "2026-12"
    assert "opt_in" not in data
    partners_seen = sorted(str(verified_body(r, org_secret)["data"]["partner"]) for r in to_org)
    assert partners_seen == ["None", "courier", "courier"]


def test_a_withdrawal_reaches_both_with_only_what_finds_the_record(
    app: Flask,
    session: Session,
    supporter: Supporter,
    receiver: Receiver,
    clock: StepClock,
    courier: int,
) -> None:
    endpoint(session, receiver.url + "/org", clock)
    _partner, secret = endpoint(session, receiver.url + "/courier", clock, partner="courier")
    signature_id = signed(session, supporter, clock, partner="courier", partner_opt_in=True)
    deliver(app, clock)
    clock.advance(seconds=5)
    assert withdraw_signature(session, signature_id, now=clock()).value == "withdrawn"
    receiver.requests.clear()
    deliver(app, clock)
    assert sorted(r.path for r in receiver.requests) == ["/hooks/courier", "/hooks/org"]
    request = next(r for r in receiver.requests if r.path == "/hooks/courier")
    body = verified_body(request, secret)
    assert body["type"] == "signature.withdrawn"
    assert body["data"] == {
        "id": signature_id,
        "campaign": "ua-109-23",
        "withdrawn_at": clock().isoformat(timespec="seconds") + "Z",
        "reason": "withdrawn",
    }


def test_a_pending_signature_withdrawn_announces_nothing(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    endpoint(session, receiver.url, clock)
    assert supporter.sign().status_code == 200
    signature_id = session.scalar(select(Signature.id))
    withdraw_signature(session, signature_id, now=clock())
    assert deliver(app, clock).handled == 0
    assert receiver.requests == []


def test_a_receiver_down_for_a_while_gets_the_event_later_exactly_once(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    _id, secret = endpoint(session, receiver.url, clock)
    signed(session, supporter, clock)
    receiver.statuses = [503, 503]
    assert deliver(app, clock).retrying == 1
    assert deliver(app, clock).handled == 0  # not due before its backoff
    clock.advance(seconds=30)
    assert deliver(app, clock).retrying == 1
    clock.advance(seconds=60)
    assert deliver(app, clock).delivered == 1
    clock.advance(hours=2)
    assert deliver(app, clock).handled == 0
    assert len(set(receiver.ids())) == 1 and len(receiver.ids()) == 3
    verified_body(receiver.requests[-1], secret)
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.attempts, delivery.last_status) == (3, 200)
    assert delivery.delivered_at == clock.now - timedelta(hours=2)


def test_a_hanging_receiver_is_cut_off_and_gets_the_event_later_once(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    endpoint(session, receiver.url, clock)
    signed(session, supporter, clock)
    receiver.hanging = True
    assert deliver(app, clock, HANG_TIMEOUT).retrying == 1
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.last_status is None
    assert delivery.last_error.startswith(f"no complete answer within {HANG_TIMEOUT:g} s")
    receiver.hanging = False
    clock.advance(seconds=30)
    assert deliver(app, clock).delivered == 1
    assert len(receiver.ids()) == 1
    assert receiver.ids()[0] == delivery.message_id


def test_it_gives_up_after_the_retries_and_a_replay_sends_the_same_id(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    endpoint(session, receiver.url, clock)
    signed(session, supporter, clock)
    receiver.statuses = [500] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS):
        deliver(app, clock)
        clock.advance(hours=1)
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.attempts, delivery.last_status) == (MAX_ATTEMPTS, 500)
    assert delivery.failed_at is not None and delivery.next_attempt_at is None
    assert deliver(app, clock).handled == 0
    # the receiver checks the timestamp against its own clock: replay at the real time
    clock.now = utcnow()
    assert replay_failed(session, None, scope=None, actor="test", now=clock()) == [delivery.id]
    assert deliver(app, clock).delivered == 1
    assert len(set(receiver.ids())) == 1


def test_a_gone_endpoint_is_paused_and_keeps_its_events(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    webhook_id, _secret = endpoint(session, receiver.url, clock)
    signed(session, supporter, clock)
    receiver.statuses = [410]
    deliver(app, clock)
    signed(session, supporter, clock, email="second@example.org")
    assert deliver(app, clock).handled == 0
    assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 2
    resume_webhook(session, webhook_id, scope=None, actor="test", now=clock())
    assert deliver(app, clock).delivered == 2
    assert len(receiver.ids()) == 3 and len(set(receiver.ids())) == 2


def test_a_paused_endpoint_keeps_its_events_in_order_until_resumed(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    webhook_id, secret = endpoint(session, receiver.url, clock)
    pause_webhook(session, webhook_id, scope=None, actor="test", now=clock())
    first = signed(session, supporter, clock, email="one@example.org")
    second = signed(session, supporter, clock, email="two@example.org")
    assert deliver(app, clock).handled == 0
    resume_webhook(session, webhook_id, scope=None, actor="test", now=clock())
    assert deliver(app, clock).delivered == 2
    assert [verified_body(r, secret)["data"]["id"] for r in receiver.requests] == [first, second]


def test_batching_sends_several_events_per_delivery(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    _id, secret = endpoint(session, receiver.url, clock, batch_max=2, batch_seconds=60)
    ids = [signed(session, supporter, clock, email=f"s{n}@example.org") for n in range(3)]
    assert deliver(app, clock).delivered == 1  # a full batch of 2; the third waits
    clock.advance(seconds=59)
    assert deliver(app, clock).handled == 0
    clock.advance(seconds=1)
    assert deliver(app, clock).delivered == 1  # the oldest waited its 60 s
    bodies = [verified_body(r, secret) for r in receiver.requests]
    assert [b["type"] for b in bodies] == ["batch", "batch"]
    assert [[e["data"]["id"] for e in b["data"]] for b in bodies] == [ids[:2], ids[2:]]
    assert {e["type"] for b in bodies for e in b["data"]} == {"signature.verified"}


def test_a_failed_batch_is_retried_with_the_same_id_and_members(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    endpoint(session, receiver.url, clock, batch_max=2, batch_seconds=60)
    for n in range(2):
        signed(session, supporter, clock, email=f"s{n}@example.org")
    receiver.statuses = [503]
    deliver(app, clock)
    signed(session, supporter, clock, email="late@example.org")
    clock.advance(seconds=30)
    deliver(app, clock)
    first, second = receiver.requests[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body


def test_rotation_signs_with_both_secrets_for_a_day(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    webhook_id, old = endpoint(session, receiver.url, clock)
    new = rotate_secret(session, webhook_id, scope=None, actor="test", now=clock())
    assert new != old and new.startswith("whsec_")
    signed(session, supporter, clock)
    deliver(app, clock)
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified_body(request, old)["type"] == verified_body(request, new)["type"]


def test_erasure_before_delivery_removes_the_undelivered_event(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    _id, secret = endpoint(session, receiver.url, clock)
    signed(session, supporter, clock)
    assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    erase_supporter(
        session,
        "ayesha@example.org",
        now=clock(),
        actor="test",
        addresses=widget_state(app).addresses,
    )
    events = session.execute(select(WebhookEvent.type, WebhookEvent.payload)).all()
    assert [type_ for type_, _payload in events] == ["signature.withdrawn"]
    assert "Ayesha" not in json.dumps([payload for _type, payload in events])
    deliver(app, clock)
    [request] = receiver.requests
    assert verified_body(request, secret)["type"] == "signature.withdrawn"
    assert b"ayesha" not in request.body.lower()


def test_erasure_of_a_batched_supporter_keeps_the_others(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    _id, secret = endpoint(session, receiver.url, clock, batch_max=2, batch_seconds=60)
    keep = signed(session, supporter, clock, email="keep@example.org")
    gone = signed(session, supporter, clock, email="gone@example.org")
    receiver.statuses = [503]
    deliver(app, clock)
    withdraw_signature(session, gone, now=clock())
    clock.advance(seconds=60)
    deliver(app, clock)
    last = verified_body(receiver.requests[-1], secret)
    assert [(e["type"], e["data"]["id"]) for e in last["data"]] == [
        ("signature.verified", keep),
        ("signature.withdrawn", gone),
    ]
    assert b"gone@example.org" not in receiver.requests[-1].body
    assert receiver.requests[-1].headers["webhook-id"] != receiver.requests[0].headers["webhook-id"]


def test_a_campaign_closed_is_announced_once_with_the_final_count(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    _id, secret = endpoint(session, receiver.url, clock, events=["campaign.closed"])
    signed(session, supporter, clock)
    campaign = find_campaign(session, "ua-109-23")
    assert campaign is not None
    campaign.closes_at = clock()
    session.commit()
    clock.advance(seconds=1)
    assert deliver(app, clock).delivered == 1
    assert deliver(app, clock).handled == 0
    [request] = receiver.requests
    body = verified_body(request, secret)
    assert body["type"] == "campaign.closed"
    assert body["data"]["campaign"] == "ua-109-23"
    assert body["data"]["count"] == 1
    assert body["data"]["by_action"]["letter"] == 1
    assert webhook_events.announce_closed(session, campaign, clock()) is False


def test_an_endpoint_gets_only_the_types_it_asked_for(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver, clock: StepClock
) -> None:
    endpoint(session, receiver.url, clock, events=["signature.withdrawn"])
    signature_id = signed(session, supporter, clock)
    assert deliver(app, clock).handled == 0
    withdraw_signature(session, signature_id, now=clock())
    assert deliver(app, clock).delivered == 1


def test_a_partner_without_the_consent_is_not_told_of_the_withdrawal(
    app: Flask,
    session: Session,
    supporter: Supporter,
    receiver: Receiver,
    clock: StepClock,
    courier: int,
) -> None:
    endpoint(session, receiver.url + "/courier", clock, partner="courier")
    signature_id = signed(session, supporter, clock, partner="courier")
    withdraw_signature(session, signature_id, now=clock())
    assert deliver(app, clock).handled == 0
    assert session.get(Partner, courier) is not None


def test_a_failing_pass_is_logged_and_the_next_one_delivers(
    app: Flask,
    session: Session,
    supporter: Supporter,
    receiver: Receiver,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint(session, receiver.url, clock)
    signed(session, supporter, clock)
    calls = []

    def broken_once() -> datetime:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the clock broke")
        return clock()

    worker = Dispatcher(
        db.sessionmaker(app), HttpTransport(TIMEOUT, allow_private=True), clock=broken_once
    )
    passes = iter([True, True, False])
    try:
        worker.run(interval=0, keep_going=lambda: next(passes), sleep=lambda _s: None)
        for job in list(worker.running.values()):
            job.result(timeout=10)
    finally:
        worker.close()
    assert len(receiver.requests) == 1
    assert "webhooks: dispatch failed, retrying:" in caplog.text
    assert "RuntimeError: the clock broke" in caplog.text
