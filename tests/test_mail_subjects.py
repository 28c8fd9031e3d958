"""What the validator accepts, the database stores: the longest title a campaign may have makes
a mail subject longer than the old 200-character column, and signing must still work."""

from __future__ import annotations

from babel.numbers import format_decimal
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.campaigns import REQUIRED_TEXT
from widget.models import Campaign, OutboxMessage, Signature
from widget.tokens import VERIFY_MAX_AGE

from .conftest import Supporter


def test_the_longest_allowed_title_still_signs_and_queues_its_mail(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    longest = "Ä" * REQUIRED_TEXT["title"]
    campaign = session.scalars(select(Campaign)).one()
    campaign.title = longest
    session.commit()

    response = supporter.sign()

    assert response.status_code == 200
    session.expire_all()
    assert session.scalars(select(Signature.email)).all() == ["ayesha@example.org"]
    [subject] = session.scalars(select(OutboxMessage.subject)).all()
    assert subject == f"Please confirm your signature: {longest}"


def test_the_confirm_mail_says_how_long_its_link_works_in_its_language(
    supporter: Supporter, session: Session
) -> None:
    """From the link's real lifetime (``tokens.VERIFY_MAX_AGE``), in words and digits of the
    supporter's language, in both parts."""
    days = VERIFY_MAX_AGE.days
    supporter.sign()
    supporter.sign(headers={"Accept-Language": "fa"}, email="farid@example.org")
    english, persian = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    for part in (english.text_body, english.html_body):
        assert f"The link works for {days} days." in part
    digits = format_decimal(days, locale="fa")
    for part in (persian.text_body, persian.html_body):
        assert f"این پیوند تا {digits} روز کار می‌کند." in part or (
            f"این پیوند تا {days} روز کار می‌کند." in part
        )
