"""What a supporter types as their name never speaks in the organisation's voice: no links, no
invisible characters that reorder or hide text, and no name in the mails we send."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.models import OutboxMessage, Signature
from widget.tokens import verify_tokens

from .conftest import SECRET, Supporter, link_claims
from .test_addresses import wide

LINK_MESSAGE = "Please leave out links and email addresses: just your name."
PHISHING = "Sara. Your asylum file needs action: log in at https://evil.example within 24h"


def error_for(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert match, f"no error shown next to {field}"
    return html.unescape(match.group(1))


def stored_names(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(Signature.name)))


@pytest.mark.parametrize(
    "name",
    [
        PHISHING,
        "Sara http://evil.example",
        "Sara HTTPS://EVIL.EXAMPLE",
        "Sara www.evil.example",
        "Sara, write to help@evil.example",
        "Sara bit.ly/abc",
        "Sara ht\u200btps://evil.example",  # a zero-width space does not hide a link
        "Sara " + wide("https://") + "evil.example",  # nor do full-width letters
    ],
)
def test_a_name_with_a_link_or_address_is_refused_next_to_the_field(
    supporter: Supporter, session: Session, name: str
) -> None:
    response = supporter.sign(name=name)
    assert response.status_code == 400
    assert error_for(response.get_data(as_text=True), "name") == LINK_MESSAGE
    assert stored_names(session) == []


@pytest.mark.parametrize("name", ["Ayesha Khan", "J.R.R. Tolkien", "S.Kim", "Anne-Marie O'Neil"])
def test_ordinary_names_are_accepted(supporter: Supporter, session: Session, name: str) -> None:
    assert supporter.sign(name=name).status_code == 200
    assert stored_names(session) == [name]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Ayesha\u202e nahK\u202c", "Ayesha nahK"),  # right-to-left override and pop
        ("\u2067Ayesha\u2069 Khan", "Ayesha Khan"),  # isolates
        ("Aye\u200bsha\u200e Kh\ufeffan\u2060", "Ayesha Khan"),  # zero-width and marks
        ("\u200d\u200cAyesha Khan\u200c", "Ayesha Khan"),  # joiners next to nothing
        ("زین\u200cالعابدین", "زین\u200cالعابدین"),  # noqa: RUF001 (a joiner is spelling)
    ],
)
def test_invisible_format_characters_are_not_stored(
    supporter: Supporter, session: Session, typed: str, stored: str
) -> None:
    assert supporter.sign(name=typed).status_code == 200
    assert stored_names(session) == [stored]


def test_a_name_of_only_invisible_characters_is_no_name(
    supporter: Supporter, session: Session
) -> None:
    response = supporter.sign(name="\u200b\u202e\ufeff")
    assert response.status_code == 400
    assert error_for(response.get_data(as_text=True), "name") == "Please enter your name."
    assert stored_names(session) == []


def test_no_mail_carries_the_name_the_supporter_typed(
    supporter: Supporter, session: Session
) -> None:
    name = "Sara Your-File-Needs-Action"
    supporter.sign(name=name)
    signature_id = session.scalars(select(Signature.id)).one()
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    assert supporter.client.post(f"/v/{token}", headers={"Sec-Fetch-Site": "same-origin"})
    supporter.sign(name=name)  # already signed: the second mail
    session.expire_all()
    sent = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.kind for m in sent] == ["confirm", "already_signed"]
    for mail in sent:
        for part in (mail.subject, mail.text_body, mail.html_body):
            assert "Sara" not in part
            assert "Your-File" not in part
    assert session.scalar(select(func.count()).select_from(Signature)) == 1
