"""``webhook ...`` commands and ``outbox work``: secrets printed once, bad input exits 2,
audited; mail and webhooks delivered by one command, neither waiting for the other."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook as Verifier

from widget.clock import utcnow
from widget.extensions import db
from widget.models import Audit, OutboxMessage, Webhook
from widget.partners import save_partner
from widget.relay import SmtpTransport
from widget.sender import run as run_mail
from widget.settings import parse_mail_url
from widget.signing import confirm_signature
from widget.webhook_delivery import Dispatcher, HttpTransport
from widget.webhooks import add_webhook

from .conftest import SmtpServer, Supporter, make_app
from .webhook_receiver import Receiver, serve_receiver


@pytest.fixture
def settings_env(smtp_server: SmtpServer) -> dict[str, str]:
    return {"WIDGET_MAIL_URL": smtp_server.url, "WIDGET_WEBHOOK_ALLOW_PRIVATE": "1"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


def cli(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["webhook", *args])


def test_add_prints_a_secret_once_and_lists_the_endpoint(app: Flask, session: Session) -> None:
    result = cli(app, "add", "https://crm.example.org/hooks", "--event", "signature.verified")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Added webhook 1: https://crm.example.org/hooks\n")
    secret = result.output.split(": ")[-1].strip()
    assert secret.startswith("whsec_") and len(Verifier(secret).sign("m", utcnow(), "x")) > 3
    webhook = session.scalars(select(Webhook)).one()
    assert webhook.secret == secret and webhook.events == ["signature.verified"]
    listed = cli(app, "list")
    assert listed.output == ("1\tactive\t-\tsignature.verified\thttps://crm.example.org/hooks\n")
    assert secret not in listed.output
    [audit] = session.scalars(select(Audit).where(Audit.action == "webhook-add")).all()
    assert audit.details["webhook"] == 1 and secret not in str(audit.details)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", ""], "Give the endpoint's URL"),
        (["add", "ftp://crm.example.org/"], "must start with https://"),
        (["add", "http://crm.example.org/"], "Use https://"),
        (["add", "https://user:pw@crm.example.org/"], "user name and password"),
        (["add", "https://crm.example.org/" + "a" * 2000], "too long"),
        (["add", "https://crm.exämple.org/"], "plain ASCII"),
        (["add", "https://crm.example.org/a b"], "plain ASCII"),
        (["add", "https://crm.example.org/\n"], "plain ASCII"),
        (["add", "https://crm.example.org:99999/"], "check the host and port"),
        (["add", "https:///path"], "no host"),
        (["add", "https://crm.example.org/#x"], "fragment"),
        (["add", "https://crm.example.org/", "--partner", "nobody"], "No partner 'nobody'"),
        (["add", "https://crm.example.org/", "--event", "signature.signed"], "Unknown event"),
        (["add", "https://crm.example.org/", "--batch-max", "5"], "both a maximum size"),
        (["add", "https://crm.example.org/", "--batch-max", "1", "--batch-seconds", "5"], "2 to"),
        (["add", "https://crm.example.org/", "--batch-max", "5", "--batch-seconds", "0"], "1 to"),
        (["pause", "7"], "No webhook 7"),
        (["resume", "7"], "No webhook 7"),
        (["rotate", "7"], "No webhook 7"),
        (["pause", "x"], "is not a valid integer"),
        (["retry"], "Give delivery IDs or --all-failed"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    app: Flask, session: Session, args: list[str], message: str
) -> None:
    result = cli(app, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert session.scalars(select(Webhook)).all() == []


def test_plain_http_is_allowed_to_a_receiver_on_this_machine(app: Flask) -> None:
    for url in ("http://127.0.0.1:8080/hooks", "http://localhost/hooks", "http://[::1]/"):
        assert cli(app, "add", url).exit_code == 0


def test_a_partner_endpoint_pause_resume_and_rotate_are_audited(
    app: Flask, session: Session
) -> None:
    save_partner(session, "courier", "The Courier", [], utcnow(), actor="test")
    added = cli(app, "add", "https://courier.example.org/h", "--partner", "courier")
    old = added.output.split(": ")[-1].strip()
    assert cli(app, "pause", "1").exit_code == 0
    assert "1\tpaused\tcourier\tall\thttps://courier.example.org/h" in cli(app, "list").output
    assert cli(app, "resume", "1").exit_code == 0
    rotated = cli(app, "rotate", "1")
    assert rotated.exit_code == 0
    new = rotated.output.splitlines()[0].split(": ")[-1]
    session.expire_all()
    webhook = session.get_one(Webhook, 1)
    assert (webhook.secret, webhook.previous_secret) == (new, old)
    actions = session.scalars(select(Audit.action).order_by(Audit.id)).all()
    assert actions[-4:] == ["webhook-add", "webhook-pause", "webhook-resume", "webhook-rotate"]


def test_outbox_work_once_sends_mail_and_webhooks(
    app: Flask,
    session: Session,
    supporter: Supporter,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    _webhook, secret = add_webhook(session, receiver.url, actor="test", now=utcnow())
    assert supporter.sign().status_code == 200
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.output == "sent 1, retrying 0, failed 0\n"
    assert len(smtp_server.mailbox.to("ayesha@example.org")) == 1
    confirm_signature(session, 1, now=utcnow())
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.output == "webhooks: delivered 1, retrying 0, failed 0\n"
    [request] = receiver.requests
    assert Verifier(secret).verify(request.body, request.headers)["data"]["id"] == 1


def test_mail_and_other_receivers_keep_flowing_while_one_receiver_hangs(
    app: Flask,
    session: Session,
    supporter: Supporter,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    """As ``outbox work`` runs: the mail loop in one thread, the webhook dispatcher in another."""
    with serve_receiver() as healthy:
        add_webhook(session, receiver.url, actor="test", now=utcnow())
        add_webhook(session, healthy.url, actor="test", now=utcnow())
        receiver.hanging = True
        assert supporter.sign(email="first@example.org").status_code == 200
        confirm_signature(session, 1, now=utcnow())
        stop = threading.Event()
        dispatcher = Dispatcher(db.sessionmaker(app), HttpTransport(timeout=60, allow_private=True))
        threads = [
            threading.Thread(
                target=dispatcher.run,
                kwargs={"interval": 0.05, "keep_going": lambda: not stop.is_set()},
            ),
            threading.Thread(
                target=run_mail,
                args=(
                    db.sessionmaker(app),
                    SmtpTransport(parse_mail_url(smtp_server.url), "actions@example.org"),
                ),
                kwargs={"interval": 0.05, "keep_going": lambda: not stop.is_set()},
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: receiver.hung == 1 and len(healthy.requests) == 1)
            # a signature while the first receiver hangs: its mail still goes
            assert supporter.sign(email="second@example.org").status_code == 200
            wait_for(lambda: len(smtp_server.mailbox.to("second@example.org")) == 1)
            assert receiver.hung == 1 and receiver.requests == []
        finally:
            stop.set()
            receiver.released.set()
            for thread in threads:
                thread.join(10)
            dispatcher.close()


def wait_for(condition, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Poll with a deadline: a failure to get there fails the test, a success returns early."""
    done = threading.Event()
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError("the condition was not met in time")


def test_outbox_work_delivers_webhooks_while_mail_stays_in_the_outbox(
    database_url: str,
    tmp_path,
    receiver: Receiver,  # type: ignore[no-untyped-def]
) -> None:
    kept = make_app(database_url, tmp_path, WIDGET_WEBHOOK_ALLOW_PRIVATE="1")
    try:
        with db.sessionmaker(kept)() as session:
            _webhook, secret = add_webhook(session, receiver.url, actor="test", now=utcnow())
            assert Supporter(kept.test_client()).sign().status_code == 200
            confirm_signature(session, 1, now=utcnow())
        result = kept.test_cli_runner().invoke(args=["outbox", "work", "--once"])
        assert result.exit_code == 0
        assert result.output.endswith("webhooks: delivered 1, retrying 0, failed 0\n")
        assert "mail stays in the database" in result.output
        [request] = receiver.requests
        assert Verifier(secret).verify(request.body, request.headers)["data"]["id"] == 1
        with db.sessionmaker(kept)() as session:
            [mail] = session.scalars(select(OutboxMessage)).all()
            assert mail.sent_at is None and mail.attempts == 0
    finally:
        db.engine(kept).dispose()
