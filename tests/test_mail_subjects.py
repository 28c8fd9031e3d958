"""What the validator accepts, the database stores: the longest title a campaign may have makes
a mail subject longer than the old 200-character column, and signing must still work."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.campaigns import REQUIRED_TEXT
from widget.models import Campaign, OutboxMessage, Signature

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
