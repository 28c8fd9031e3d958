"""The whole loop over HTTP with a real SMTP server: sign, mail, look, confirm, count once."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.models import OutboxMessage, Signature

from .conftest import SmtpServer, Supporter, link_in, sign_answer, text_part

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def settings_env(smtp_server: SmtpServer) -> dict[str, str]:
    return {"WIDGET_MAIL_URL": smtp_server.url, "WIDGET_MAIL_FROM": "actions@example.org"}


def deliver(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def count(client: FlaskClient) -> dict[str, object]:
    response = client.get("/api/v1/campaigns/ua-109-23/count")
    assert response.status_code == 200
    return response.get_json()


def signatures(session: Session) -> list[Signature]:
    session.expire_all()
    return list(session.scalars(select(Signature)).all())


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_sign_confirm_count_once(
    app: Flask, client: FlaskClient, supporter: Supporter, smtp_server: SmtpServer, session: Session
) -> None:
    response = supporter.sign()
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    [pending] = signatures(session)
    assert (pending.email, pending.name, pending.country) == (
        "ayesha@example.org",
        "Ayesha Khan",
        "PK",
    )
    assert pending.actions == ["letter", "email"]
    assert pending.verified_at is None
    assert count(client)["count"] == 0

    assert deliver(app) == "sent 1, retrying 0, failed 0\n"
    [mail] = smtp_server.mailbox.messages
    assert mail["To"] == "ayesha@example.org"
    assert mail["From"] == "actions@example.org"
    assert mail["Subject"] == "Please confirm your signature: Stop deporting Afghan refugees"
    assert mail.get_body(preferencelist=("html",)) is not None
    link = path_of(link_in(mail))

    # A mail scanner following the link confirms nothing.
    looked = client.get(link)
    assert looked.status_code == 200
    assert "Confirm your signature" in looked.get_data(as_text=True)
    assert "Ayesha Khan" in looked.get_data(as_text=True)
    assert client.head(link).status_code == 200
    assert signatures(session)[0].verified_at is None
    assert count(client)["count"] == 0

    confirmed = client.post(link, headers=SAME_ORIGIN)
    assert confirmed.status_code == 200
    assert "Thank you! Your signature is confirmed." in confirmed.get_data(as_text=True)
    assert 'data-count="1"' in confirmed.get_data(as_text=True)
    assert signatures(session)[0].verified_at is not None
    assert count(client) == {
        "campaign": "ua-109-23",
        "count": 1,
        "goal": 5000,
        "by_action": {"letter": 1, "email": 1, "call": 0, "fax": 0, "social": 0},
        "offline": 0,
        "offline_by_action": {"letter": 0, "email": 0, "call": 0, "fax": 0, "social": 0},
        "total": 1,
        "updated_at": count(client)["updated_at"],
    }

    replayed = client.post(link, headers=SAME_ORIGIN)
    assert replayed.status_code == 200
    assert "Your signature was already confirmed." in replayed.get_data(as_text=True)
    assert count(client)["count"] == 1
    assert count(client)["by_action"]["letter"] == 1  # type: ignore[index]

    page = supporter.open_widget()
    assert 'data-count="1"' in page


def test_repeat_signers_see_the_same_page_whatever_the_state(
    app: Flask, client: FlaskClient, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    new = supporter.sign()
    pending_again = supporter.sign(name="Ayesha K.")
    deliver(app)
    _first, second = smtp_server.mailbox.messages
    client.post(path_of(link_in(second)), headers=SAME_ORIGIN)
    already_verified = supporter.sign()
    assert new.status_code == pending_again.status_code == already_verified.status_code == 200
    assert sign_answer(new.data) == sign_answer(pending_again.data)
    assert sign_answer(new.data) == sign_answer(already_verified.data)

    deliver(app)
    subjects = [m["Subject"] for m in smtp_server.mailbox.messages]
    assert subjects == [
        "Please confirm your signature: Stop deporting Afghan refugees",
        "Please confirm your signature: Stop deporting Afghan refugees",
        "You have already signed: Stop deporting Afghan refugees",
    ]
    assert "/v/" not in text_part(smtp_server.mailbox.messages[2])
    assert count(client)["count"] == 1


def test_a_pending_signature_is_kept_as_first_submitted_and_a_re_sign_resends_its_link(
    app: Flask, client: FlaskClient, supporter: Supporter, smtp_server: SmtpServer, session: Session
) -> None:
    supporter.sign(name="First Try", actions=["letter"])
    supporter.sign(name="Second Try", actions=["call"])
    deliver(app)
    first, second = smtp_server.mailbox.messages
    assert (
        first["Subject"]
        == second["Subject"]
        == ("Please confirm your signature: Stop deporting Afghan refugees")
    )
    page = client.get(path_of(link_in(second))).get_data(as_text=True)
    assert "First Try" in page and "Second Try" not in page
    client.post(path_of(link_in(second)), headers=SAME_ORIGIN)
    assert count(client)["by_action"] == {"letter": 1, "email": 0, "call": 0, "fax": 0, "social": 0}
    [signature] = signatures(session)
    assert signature.name == "First Try"


def test_addresses_differing_only_in_case_and_spaces_are_one_signature(
    supporter: Supporter, session: Session
) -> None:
    supporter.sign(email="Ayesha@Example.ORG")
    supporter.sign(email="  ayesha@example.org ")
    [signature] = signatures(session)
    assert signature.email == "Ayesha@Example.ORG"  # the first, as typed
    assert signature.email_key == "ayesha@example.org"


def test_mails_to_one_address_are_capped(
    app: Flask, supporter: Supporter, smtp_server: SmtpServer, session: Session
) -> None:
    responses = [supporter.sign() for _ in range(5)]
    assert {r.status_code for r in responses} == {200}
    assert len({sign_answer(r.data) for r in responses}) == 1
    deliver(app)
    assert len(smtp_server.mailbox.to("ayesha@example.org")) == 3


def test_each_signature_counts_its_own_actions(
    app: Flask, client: FlaskClient, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    supporter.sign(email="one@example.org", actions=["letter"])
    supporter.sign(email="two@example.org", actions=["letter", "call", "social"])
    supporter.sign(email="three@example.org", actions=None)
    deliver(app)
    for mail in smtp_server.mailbox.messages:
        assert client.post(path_of(link_in(mail)), headers=SAME_ORIGIN).status_code == 200
    assert count(client)["count"] == 3
    assert count(client)["by_action"] == {"letter": 2, "email": 0, "call": 1, "fax": 0, "social": 1}


@pytest.mark.parametrize("settings_env", [{"WIDGET_PUBLIC_URL": "https://act.example.org"}])
def test_a_confirm_link_uses_the_public_url_when_set(
    supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    [message] = session.scalars(select(OutboxMessage)).all()
    assert "https://act.example.org/v/" in message.text_body
    assert 'href="https://act.example.org/v/' in message.html_body


@pytest.mark.parametrize("settings_env", [{"WIDGET_PUBLIC_URL": "https://act.example.org"}])
def test_a_forged_host_header_never_reaches_the_links_in_a_mail(
    supporter: Supporter, session: Session
) -> None:
    """An attacker who sets ``Host`` (no Origin, as any script can) must not receive the
    supporter's tokens: every link in the mail is under the configured public URL."""
    supporter.open_widget()
    response = supporter.client.post(
        "/w/ua-109-23",
        data=supporter.form(),
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 200
    [message] = session.scalars(select(OutboxMessage)).all()
    for body in (message.text_body, message.html_body):
        assert "evil.example" not in body
        assert "https://act.example.org/v/" in body
        assert "https://act.example.org/m/" in body


def test_outbox_rows_are_written_with_the_signature(supporter: Supporter, session: Session) -> None:
    supporter.sign()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert session.scalar(select(func.count()).select_from(Signature)) == 1
