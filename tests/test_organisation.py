"""Who is behind the widget: the organisation in the footer, the titles, the privacy notice and
the mails' sender; and nothing of it (no "None") when it is not set."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.extensions import db
from widget.models import OutboxMessage
from widget.outbox import deliver_due
from widget.relay import SmtpTransport
from widget.settings import parse_mail_url

from .conftest import SmtpServer, Supporter, make_app, text_part

ORG = {
    "WIDGET_ORG_NAME": "Ḥuqūq Watch — انجمن حقوق بشر",
    "WIDGET_ORG_URL": "https://huquq.example.org/",
    "WIDGET_PRIVACY_CONTACT": "privacy@huquq.example.org",
    "WIDGET_RETENTION_PENDING_DAYS": "3",
    "WIDGET_RETENTION_CLOSED_DAYS": "30",
    "WIDGET_RETENTION_MAIL_DAYS": "2",
}
NAME = ORG["WIDGET_ORG_NAME"]


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)  # type: ignore[union-attr]


def footer_of(html: str) -> str:
    return re.search(r'<footer class="widget-footer">(.*?)</footer>', html, re.S).group(1)  # type: ignore[union-attr]


def queued_mails(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.fixture
def org_app(database_url: str, tmp_path) -> Flask:  # type: ignore[no-untyped-def]
    app = make_app(database_url, tmp_path, **ORG)
    yield app
    db.engine(app).dispose()


def test_without_an_organisation_nothing_says_none(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    pages = [
        client.get(path).get_data(as_text=True)
        for path in (
            "/w/ua-109-23",
            "/w/ua-109-23?view=compact",
            "/w/ua-109-23?view=counter",
            "/privacy?campaign=ua-109-23",
            "/w/no-such-campaign",
        )
    ]
    supporter.sign()
    mails = [body for m in queued_mails(session) for body in (m.text_body, m.html_body)]
    for text in pages + mails:
        assert "None" not in text
        assert "An action by" not in text
    assert title_of(pages[0]) == "Stop deporting Afghan refugees"
    assert "The data controller is the organisation that runs this action." in pages[3]
    assert "ask the organisation that runs this action" in pages[3]
    # the footer is the privacy link alone; the privacy notice does not link to itself
    assert re.sub(r"\s+", " ", footer_of(pages[0])).strip() == (
        '<p><a href="/privacy?lang=en&amp;campaign=ua-109-23" target="_blank" '
        'rel="noopener">Privacy</a></p>'
    )
    assert '<footer class="widget-footer">' not in pages[3]


def test_the_footer_and_titles_name_the_organisation(org_app: Flask) -> None:
    client = org_app.test_client()
    for query in ("", "?view=compact", "?view=counter", "?lang=ur"):
        html = client.get(f"/w/ua-109-23{query}").get_data(as_text=True)
        footer = footer_of(html)
        link = '<a href="https://huquq.example.org/" target="_blank" rel="noopener">'
        assert f"{link}<bdi>{NAME}</bdi></a>" in footer
        assert title_of(html).endswith(f" · {NAME}")
    english = footer_of(client.get("/w/ua-109-23").get_data(as_text=True))
    assert "An action by" in english and "Privacy</a>" in english


def test_an_organisation_name_is_escaped(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url, tmp_path, WIDGET_ORG_NAME='<b>"Rights" & Co</b>')
    try:
        html = app.test_client().get("/w/ua-109-23").get_data(as_text=True)
        assert "<b>" not in html
        assert "An action by <bdi>&lt;b&gt;&#34;Rights&#34; &amp; Co&lt;/b&gt;</bdi>" in html
    finally:
        db.engine(app).dispose()


def test_the_privacy_notice_names_the_controller_contact_and_real_retention(
    org_app: Flask,
) -> None:
    html = org_app.test_client().get("/privacy?campaign=ua-109-23").get_data(as_text=True)
    text = re.sub(r"\s+", " ", html)
    assert (
        f'The data controller is <a href="https://huquq.example.org/"><bdi>{NAME}</bdi></a>, the'
        " organisation that runs this action." in text
    )
    assert (
        '<a href="mailto:privacy@huquq.example.org"><bdi dir="ltr">privacy@huquq.example.org'
        "</bdi></a>" in text
    )
    assert "A signature that is not confirmed is deleted after 3 days." in text
    assert "erased 30 days later" in text
    assert "deleted from our system 2 days after sending" in text
    assert title_of(html) == f"How we handle your data · {NAME}"


def test_mails_name_the_organisation_in_both_parts(org_app: Flask) -> None:
    Supporter(org_app.test_client()).sign()
    with db.sessionmaker(org_app)() as session:
        [mail] = queued_mails(session)
    assert f"An action by {NAME}" in mail.text_body
    assert "https://huquq.example.org/" in mail.text_body
    assert "/privacy?lang=en" in mail.text_body
    assert f"An action by <bdi>{NAME}</bdi>" in mail.html_body
    assert "None" not in mail.text_body + mail.html_body


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (NAME, "=?utf-8?"),
        ('Rights, "Watch" UK', '"Rights, \\"Watch\\" UK" <actions@example.org>'),
        ("Amnesty Test", "From: Amnesty Test <actions@example.org>"),
    ],
)
def test_the_sender_name_is_the_organisation_properly_encoded(
    app: Flask, supporter: Supporter, smtp_server: SmtpServer, name: str, raw: str
) -> None:
    supporter.sign()
    transport = SmtpTransport(
        parse_mail_url(smtp_server.url + "?timeout=15"), "actions@example.org", sender_name=name
    )
    assert deliver_due(db.sessionmaker(app), transport).sent == 1
    [mail] = smtp_server.mailbox.messages
    assert mail["From"].addresses[0].display_name == name
    assert mail["From"].addresses[0].addr_spec == "actions@example.org"
    assert raw in mail.as_string()
    assert "/v/" in text_part(mail)


def test_outbox_work_sends_from_the_organisation(
    database_url: str, tmp_path, smtp_server: SmtpServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(
        database_url,
        tmp_path,
        WIDGET_MAIL_URL=smtp_server.url,
        WIDGET_MAIL_FROM="actions@huquq.example.org",
        WIDGET_ORG_NAME=NAME,
    )
    try:
        Supporter(app.test_client()).sign()
        result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
        assert result.exit_code == 0, result.output
        [mail] = smtp_server.mailbox.messages
        assert str(mail["From"]) == f"{NAME} <actions@huquq.example.org>"
    finally:
        db.engine(app).dispose()


def test_a_mail_without_an_organisation_is_from_the_bare_address(
    app: Flask, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    supporter.sign()
    transport = SmtpTransport(parse_mail_url(smtp_server.url + "?timeout=15"), "a@example.org")
    deliver_due(db.sessionmaker(app), transport)
    [mail] = smtp_server.mailbox.messages
    assert isinstance(mail, EmailMessage)
    assert mail["From"] == "a@example.org"


@pytest.mark.parametrize(
    ("org_name", "display"), [(None, "Amnesty"), (NAME, NAME)], ids=["own-name", "org-wins"]
)
def test_a_mail_from_setting_with_a_name_of_its_own_still_sends(
    database_url: str, tmp_path, smtp_server: SmtpServer, org_name: str | None, display: str
) -> None:  # type: ignore[no-untyped-def]
    """``WIDGET_MAIL_FROM="Amnesty <actions@example.org>"`` has always been accepted: its mails
    go out from that address, named by the organisation if one is set, else by its own name."""
    extra = {"WIDGET_ORG_NAME": org_name} if org_name else {}
    app = make_app(
        database_url,
        tmp_path,
        WIDGET_MAIL_URL=smtp_server.url,
        WIDGET_MAIL_FROM="Amnesty <actions@example.org>",
        **extra,
    )
    try:
        Supporter(app.test_client()).sign()
        result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
        assert result.exit_code == 0, result.output
        [mail] = smtp_server.mailbox.messages
        assert mail["From"].addresses[0].display_name == display
        assert mail["From"].addresses[0].addr_spec == "actions@example.org"
        assert mail["Message-ID"].endswith("@example.org>")
        assert not mail["Message-ID"].endswith(">>")
    finally:
        db.engine(app).dispose()
