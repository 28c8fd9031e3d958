"""Every spelling of one mailbox is one supporter: one signature, one count, one mail budget,
and staff find it by any spelling."""

from __future__ import annotations

import unicodedata

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.addresses import KEY_LENGTH, email_key
from widget.counter import tally
from widget.models import Campaign, OutboxMessage, Signature
from widget.tokens import verify_tokens

from .conftest import SECRET, StaffActions, Supporter, erase_search, link_claims, sign_answer

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def wide(text: str) -> str:
    """``text`` in full-width forms, as East Asian keyboards type it (U+FF41 for ``a``)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


SPELLINGS = [
    pytest.param("ayesha@" + wide("example.org"), "ayesha@example.org", id="full-width-domain"),
    pytest.param(wide("AYESHA") + "@example.org", "ayesha@example.org", id="full-width-local"),
    pytest.param("ÖMER@example.org", "ömer@example.org", id="case-beyond-ascii"),
    pytest.param("STRAßE@example.org", "strasse@example.org", id="sharp-s-folds"),
    pytest.param("ΣΊΣΥΦΟΣ@example.org", "σίσυφος@example.org", id="final-sigma"),
    pytest.param(
        unicodedata.normalize("NFD", "josé@example.org"),
        unicodedata.normalize("NFC", "josé@example.org"),
        id="nfd-nfc",
    ),
    pytest.param("ayesha@bücher.de", "ayesha@xn--bcher-kva.de", id="idn-unicode-punycode"),
    pytest.param("ayesha@BÜCHER.de", "Ayesha+ua@xn--bcher-kva.de", id="idn-case-and-tag"),
]


def signatures(session: Session) -> list[Signature]:
    session.expire_all()
    return list(session.scalars(select(Signature)))


def mails(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def count(session: Session) -> int:
    return tally(session, session.scalars(select(Campaign.id)).one()).count


def confirm(client: FlaskClient, session: Session, signature_id: int) -> None:
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    assert client.post(f"/v/{token}", headers=SAME_ORIGIN).status_code == 200


@pytest.mark.parametrize(("first", "second"), SPELLINGS)
def test_two_spellings_sign_once_and_count_once(
    supporter: Supporter, session: Session, first: str, second: str
) -> None:
    signed = supporter.sign(email=first)
    assert signed.status_code == 200
    [signature] = signatures(session)
    confirm(supporter.client, session, signature.id)

    again = supporter.sign(email=second)
    # the same answer, but for what each answer has of its own (the address as typed, a token)
    assert (again.status_code, sign_answer(again.data)) == (200, sign_answer(signed.data))
    [still] = signatures(session)
    assert still.id == signature.id
    assert count(session) == 1
    recipients = session.scalars(select(OutboxMessage.recipient).order_by(OutboxMessage.id))
    assert list(recipients) == [first, first]  # the notice goes to the confirmed spelling


@pytest.mark.parametrize("settings_env", [{"WIDGET_RATELIMIT_MAIL": "2 per hour"}])
def test_spellings_share_one_mail_budget(supporter: Supporter, session: Session) -> None:
    for spelling in (
        "ayesha@bücher.de",
        "ayesha@xn--bcher-kva.de",
        "AYESHA@" + wide("B") + "Ü" + wide("CHER") + ".de",
    ):
        assert supporter.sign(email=spelling).status_code == 200
    assert len(signatures(session)) == 1
    assert mails(session) == 2


def test_staff_find_a_supporter_by_any_spelling(
    supporter: Supporter, staff: StaffActions, session: Session
) -> None:
    supporter.sign(email="ÖMER@bücher.de")
    admin = staff.signed_in()
    page = erase_search(admin, "ömer@xn--bcher-kva.de").get_data(as_text=True)
    assert "Erase 1 signature" in page


def test_an_address_whose_key_would_not_fit_is_refused(
    supporter: Supporter, session: Session
) -> None:
    # U+FDFA is one letter that NFKC spells as 18: 15 of them fold to 270 characters.
    response = supporter.sign(email="\ufdfa" * 15 + "@example.org")
    assert response.status_code == 400
    assert "This email address is too long." in response.get_data(as_text=True)
    assert signatures(session) == []


def test_every_key_fits_its_column_and_any_string_has_one() -> None:
    assert len(email_key("\ufdfa" * 15 + "@example.org")) <= KEY_LENGTH
    assert email_key("not an address") == "@not an address"
    assert email_key(wide("SOMEONE") + "@@" + wide("EXAMPLE")) == "someone@@example"


@pytest.mark.parametrize("domain", [wide("mailinator.com"), "eu." + wide("MAILINATOR") + ".com"])
def test_a_disposable_domain_is_refused_however_spelled(
    supporter: Supporter, session: Session, domain: str
) -> None:
    response = supporter.sign(email=f"x@{domain}")
    assert response.status_code == 400
    assert "We cannot confirm signatures from temporary email services." in response.get_data(
        as_text=True
    )
    assert signatures(session) == []
