"""Webhooks reach public addresses only: a partner account cannot point one at this machine,
the cloud's metadata service or a private network, and no name that resolves there is
connected to; a refused address reads like an unreachable one. On both databases."""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.extensions import db
from widget.models import WebhookDelivery
from widget.partners import save_partner
from widget.webhook_address import UNREACHABLE, is_public
from widget.webhook_delivery import Dispatcher, HttpTransport
from widget.webhooks import add_webhook

from .conftest import StaffActions, Supporter
from .test_webhook_staff import endpoints, partner_client, post
from .test_webhooks import signed
from .webhook_receiver import Receiver, StepClock, serve_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


def deliver(app: Flask, clock: StepClock, *, allow_private: bool):  # type: ignore[no-untyped-def]
    transport = HttpTransport(10.0, allow_private=allow_private)
    worker = Dispatcher(db.sessionmaker(app), transport, clock=clock)
    try:
        return worker.run_once()
    finally:
        worker.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:2375/containers/json",
        "http://localhost:6379/",
        "https://LOCALHOST./",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hooks",
        "https://192.168.1.1/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://224.0.0.1/",
    ],
)
def test_a_partner_account_cannot_add_a_private_address(
    staff: StaffActions,
    session: Session,
    url: str,
) -> None:
    courier, _ = save_partner(session, "courier", "Courier", [], utcnow(), actor="t")
    client = partner_client(staff.app, staff, courier.id)
    response = post(client, "/staff/webhooks", url=url)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "The URL must reach a public address on the internet." in page
    assert endpoints(session) == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::ffff:93.184.216.34", True),
        ("fe80::1%eth0", False),
        ("ff02::1", False),
        ("198.18.0.1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_a_name_resolving_to_loopback_is_refused_unless_allowed(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver
) -> None:
    clock = StepClock()
    name = socket.gethostname()
    assert not is_public(socket.getaddrinfo(name, 80)[0][4][0])
    url = receiver.url.replace("127.0.0.1", name)
    add_webhook(session, url, allow_plain_http=True, actor="t", now=clock())
    signed(session, supporter, clock)
    assert deliver(app, clock, allow_private=False).retrying == 1
    assert receiver.requests == []
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.last_status, delivery.last_error) == (None, UNREACHABLE)
    clock.advance(hours=1)
    assert deliver(app, clock, allow_private=True).delivered == 1
    assert len(receiver.requests) == 1


def test_a_closed_port_reads_like_a_refused_address(
    app: Flask, session: Session, supporter: Supporter
) -> None:
    clock = StepClock()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    add_webhook(session, f"http://127.0.0.1:{port}/hooks", actor="t", now=clock())
    signed(session, supporter, clock)
    assert deliver(app, clock, allow_private=True).retrying == 1
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.last_status, delivery.last_error) == (None, UNREACHABLE)


def test_a_partner_accounts_endpoint_never_reaches_loopback_even_when_allowed(
    app: Flask, session: Session, supporter: Supporter, receiver: Receiver
) -> None:
    clock = StepClock()
    url = receiver.url.replace("127.0.0.1", socket.gethostname())
    add_webhook(session, url, allow_plain_http=True, partner_account=True, actor="t", now=clock())
    signed(session, supporter, clock)
    assert deliver(app, clock, allow_private=True).retrying == 1
    assert receiver.requests == []
