"""A hostile client against every defence: floods, forged headers, bots, throw-away addresses;
and the staff's tools to take fake signatures out of the count."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget import security
from widget.abuse import ip_hash, is_blocked_domain, recent_activity
from widget.clock import utcnow
from widget.counter import tally
from widget.models import Audit, Campaign, OutboxMessage, Signature
from widget.signing import email_key
from widget.tokens import form_tokens, verify_tokens

from .conftest import SECRET, Supporter, form_token, link_claims, sign_answer

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def rows(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Signature)) or 0,
        session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
    )


def sign_from(
    client: FlaskClient, supporter: Supporter, n: int, *, ip: str = "203.0.113.7", **headers: str
):  # type: ignore[no-untyped-def]
    return client.post(
        "/w/ua-109-23",
        data=supporter.form(email=f"person{n}@example.org"),
        headers={**SAME_ORIGIN, **headers},
        environ_base={"REMOTE_ADDR": ip},
    )


def confirm_all(client: FlaskClient, session: Session) -> None:
    for signature_id in session.scalars(select(Signature.id)).all():
        token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
        assert client.post(f"/v/{token}", headers=SAME_ORIGIN).status_code == 200


# --- rate limits -----------------------------------------------------------------------------


def test_a_flood_with_forged_forwarded_for_headers_is_limited(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    statuses = [
        sign_from(client, supporter, n, **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code
        for n in range(12)
    ]
    assert statuses == [200] * 10 + [429, 429]
    assert rows(session)[0] == 10


def test_over_the_limit_a_person_sees_the_widget_with_what_they_typed(
    client: FlaskClient, supporter: Supporter
) -> None:
    for n in range(10):
        sign_from(client, supporter, n)
    response = sign_from(client, supporter, 99)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    page = response.get_data(as_text=True)
    assert "we have paused signing from it. Please try again in 1 minute." in page
    assert 'value="person99@example.org"' in page
    assert 'value="Ayesha Khan"' in page
    assert form_token(page)
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors *")


@pytest.mark.parametrize("settings_env", [{"WIDGET_TRUSTED_PROXIES": "1"}])
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    statuses = {
        sign_from(
            client, supporter, n, **{"X-Forwarded-For": f"6.6.6.6, 198.51.100.{n}"}
        ).status_code
        for n in range(12)
    }
    assert statuses == {200}
    ip_hashes = set(session.scalars(select(Signature.ip_hash)))
    assert len(ip_hashes) == 12
    assert ip_hash(SECRET, "198.51.100.0") in ip_hashes


@pytest.mark.parametrize(
    "settings_env", [{"WIDGET_RATELIMIT_IP": "3 per minute", "WIDGET_RATELIMIT_SIGN": "50/minute"}]
)
def test_the_per_ip_ceiling_covers_confirmations_too(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    assert [sign_from(client, supporter, n).status_code for n in range(2)] == [200, 200]
    signature_id = session.scalars(select(Signature.id)).first()
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    confirm = client.post(
        f"/v/{token}", headers=SAME_ORIGIN, environ_base={"REMOTE_ADDR": "203.0.113.7"}
    )
    assert confirm.status_code == 200
    assert sign_from(client, supporter, 3).status_code == 429
    assert sign_from(client, supporter, 4, ip="203.0.113.8").status_code == 200


def test_opening_links_is_limited_per_ip(client: FlaskClient) -> None:
    statuses = [client.get(f"/v/guess-{n}").status_code for n in range(31)]
    assert statuses == [400] * 30 + [429]
    response = client.get("/v/guess-again")
    assert "Please wait a moment" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "settings_env", [{"WIDGET_RATELIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"}]
)
def test_with_the_limit_storage_down_signing_still_works(
    client: FlaskClient, supporter: Supporter, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        statuses = [sign_from(client, supporter, n).status_code for n in range(11)]
    assert statuses == [200] * 10 + [429]  # limited per process, in memory
    assert rows(session) == (10, 10)
    assert any("falling back to in-memory storage" in r.getMessage() for r in caplog.records)


# --- bots and addresses ------------------------------------------------------------------------


def test_a_filled_honeypot_gets_the_ordinary_answer_and_nothing_else(
    supporter: Supporter, session: Session
) -> None:
    honest = supporter.sign(email="honest@example.org")
    bot = supporter.sign(email="bot@example.org", website="http://spam.example")
    assert bot.status_code == 200
    assert sign_answer(bot.data) == sign_answer(honest.data)
    assert session.scalars(select(Signature.email)).all() == ["honest@example.org"]
    assert rows(session) == (1, 1)


@pytest.mark.parametrize("settings_env", [{"WIDGET_MIN_FILL_SECONDS": "3"}])
def test_an_instant_submit_gets_the_ordinary_answer_and_nothing_else(
    supporter: Supporter, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # shown and sent in the same second of the form tokens' clock: a slow render on a loaded
    # machine cannot pass for a human's speed (the setting allows at most 3 s)
    shown = time.time()
    monkeypatch.setattr(security, "time", SimpleNamespace(time=lambda: shown))
    response = supporter.sign()
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert rows(session) == (0, 0)


@pytest.mark.parametrize("settings_env", [{"WIDGET_MIN_FILL_SECONDS": "3"}])
def test_a_form_filled_at_human_speed_is_accepted(supporter: Supporter, session: Session) -> None:
    shown_ten_seconds_ago = {"c": "ua-109-23", "n": "x", "t": int(time.time()) - 10}
    token = form_tokens((SECRET,)).dumps(shown_ten_seconds_ago)
    assert supporter.sign(csrf_token=token).status_code == 200
    assert rows(session) == (1, 1)


@pytest.mark.parametrize(
    "address", ["x@mailinator.com", "x@MAILINATOR.com", "x@eu.mailinator.com", "x@yopmail.fr"]
)
def test_a_disposable_address_is_refused_with_a_clear_message(
    supporter: Supporter, session: Session, address: str
) -> None:
    response = supporter.sign(email=address)
    assert response.status_code == 400
    assert "We cannot confirm signatures from temporary email services." in response.get_data(
        as_text=True
    )
    assert rows(session) == (0, 0)


@pytest.mark.parametrize("settings_env", [{"WIDGET_BLOCKED_EMAIL_DOMAINS": "spam.example"}])
def test_staff_can_block_more_domains(supporter: Supporter, session: Session) -> None:
    assert supporter.sign(email="a@spam.example").status_code == 400
    assert supporter.sign(email="a@notspam.example").status_code == 200
    assert rows(session) == (1, 1)


def test_blocked_domain_matching() -> None:
    assert is_blocked_domain("a@mailinator.com")
    assert is_blocked_domain("a@sub.mailinator.com")
    assert not is_blocked_domain("a@notmailinator.co")
    assert not is_blocked_domain("a@gmail.com")
    assert is_blocked_domain("a@junk.example", {"junk.example"})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Ayesha@Example.org", "ayesha@example.org"),
        ("ayesha+ua109@example.org", "ayesha@example.org"),
        ("a.yesha@gmail.com", "ayesha@googlemail.com"),
        ("AYESHA+x@GMail.com", "a.y.e.s.h.a@gmail.com"),
    ],
)
def test_variants_of_one_address_are_one_signature_but_mail_goes_as_typed(
    supporter: Supporter, session: Session, first: str, second: str
) -> None:
    supporter.sign(email=first)
    supporter.sign(email=second)
    [signature] = session.scalars(select(Signature)).all()
    assert signature.email == first  # a pending signature is kept as first submitted
    recipients = session.scalars(select(OutboxMessage.recipient).order_by(OutboxMessage.id))
    assert list(recipients) == [first, first]
    assert email_key(first) == email_key(second)


def test_dots_matter_outside_gmail() -> None:
    assert email_key("a.b@example.org") != email_key("ab@example.org")


def test_no_raw_ip_is_stored(client: FlaskClient, supporter: Supporter, session: Session) -> None:
    sign_from(client, supporter, 1, ip="203.0.113.99")
    [stored] = session.scalars(select(Signature.ip_hash)).all()
    assert stored == ip_hash(SECRET, "203.0.113.99")
    assert "203.0.113.99" not in stored
    assert len(stored) == 32


# --- monitoring and invalidation ---------------------------------------------------------------


def test_activity_marks_the_unusual_groups(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    for n in range(6):
        sign_from(client, supporter, n, ip="203.0.113.50")
    sign_from(client, supporter, 7, ip="203.0.113.51")
    campaign = session.scalars(select(Campaign)).one()
    now = utcnow()
    report = recent_activity(session, campaign, now - timedelta(hours=1), now + timedelta(1))
    assert report.total == 7
    assert [(g.key, g.signatures, g.unusual) for g in report.by_ip] == [
        (ip_hash(SECRET, "203.0.113.50"), 6, True),
        (ip_hash(SECRET, "203.0.113.51"), 1, False),
    ]
    assert [(g.key, g.unusual) for g in report.by_domain] == [("example.org", False)]
    assert [(g.key, g.unusual) for g in report.by_partner] == [("(direct)", False)]


def test_activity_command_prints_the_report(app: Flask, client: FlaskClient, supporter) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        sign_from(client, supporter, n)
    result = app.test_cli_runner().invoke(args=["activity", "ua-109-23"])
    assert result.exit_code == 0
    assert "5 signatures on ua-109-23 in the last 1 h" in result.output
    assert f"!      5  {ip_hash(SECRET, '203.0.113.7')}" in result.output


def test_invalidation_runs_dry_first_then_corrects_counts_exactly(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    for n in range(4):
        sign_from(client, supporter, n, ip="203.0.113.50")
    for n in range(4, 6):
        sign_from(client, supporter, n, ip="203.0.113.51")
    confirm_all(client, session)
    sign_from(client, supporter, 9, ip="203.0.113.50")  # one more, still pending
    campaign_id = session.scalars(select(Campaign.id)).one()
    assert tally(session, campaign_id).count == 6
    bad = ip_hash(SECRET, "203.0.113.50")
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["invalidate", "ua-109-23", "--ip-hash", bad])
    assert dry.exit_code == 0
    assert dry.output == (
        "Would invalidate 4 verified signatures (email 4, letter 4) and 1 pending on ua-109-23.\n"
        "Nothing was changed. Run again with --apply to do it.\n"
    )
    session.expire_all()
    assert tally(session, campaign_id).count == 6
    assert session.scalars(select(Audit)).all() == []

    done = runner.invoke(args=["invalidate", "ua-109-23", "--ip-hash", bad, "--apply"])
    assert done.output.startswith("Invalidated 4 verified signatures (email 4, letter 4) and 1")
    session.expire_all()
    counts = tally(session, campaign_id, ["letter", "email", "call"])
    assert (counts.count, counts.by_action) == (2, {"letter": 2, "email": 2, "call": 0})
    [audit] = session.scalars(select(Audit)).all()
    assert (audit.action, audit.actor.startswith("cli:")) == ("invalidate", True)
    assert audit.details == {
        "campaign": "ua-109-23",
        "selection": {"ip_hash": bad},
        "pending": 1,
        "verified": 4,
    }
    again = runner.invoke(args=["invalidate", "ua-109-23", "--ip-hash", bad, "--apply"])
    assert again.output.startswith("Invalidated 0 verified signatures (no actions) and 0")
    session.expire_all()
    assert tally(session, campaign_id).count == 2


def test_an_invalidated_signature_cannot_be_confirmed_or_revived(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    sign_from(client, supporter, 1)
    app.test_cli_runner().invoke(
        args=["invalidate", "ua-109-23", "--domain", "example.org", "--apply"]
    )
    signature_id = session.scalars(select(Signature.id)).one()
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    assert client.post(f"/v/{token}", headers=SAME_ORIGIN).status_code == 404
    assert sign_from(client, supporter, 1).status_code == 200
    session.expire_all()
    campaign_id = session.scalars(select(Campaign.id)).one()
    assert tally(session, campaign_id).count == 0
    assert rows(session) == (1, 1)  # no new mail


def test_invalidate_needs_a_criterion_and_a_campaign(app: Flask) -> None:
    runner = app.test_cli_runner()
    empty = runner.invoke(args=["invalidate", "ua-109-23"])
    assert empty.exit_code == 2
    assert "Give at least one of --ip-hash" in empty.output
    unknown = runner.invoke(args=["invalidate", "nope", "--domain", "x.org"])
    assert unknown.exit_code == 1
    assert "No campaign 'nope'" in unknown.output
