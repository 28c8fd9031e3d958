"""Who a sign receipt tells what (the review of issue 12): only the page whose submission made
the signature learns of its confirmation, a resend from that page keeps its receipt, and a
stranger's sign with someone else's address learns nothing, now or later."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from widget.models import OutboxMessage, Signature

from .conftest import Supporter
from .test_journey import (
    SAME_ORIGIN,
    confirm,
    confirm_links,
    fields_with_fresh_token,
    hidden_fields,
    receipt_of,
    state,
)


def test_a_strangers_receipt_never_learns_that_the_owner_confirmed(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    owner = receipt_of(supporter.sign().get_data(as_text=True))
    # someone who suspects the address signs with it while it waits for its confirmation
    stranger = receipt_of(Supporter(client).sign().get_data(as_text=True))
    confirm(client, session)  # the owner, with their own first link
    assert state(client, owner) == "confirmed"
    assert state(client, stranger) == "pending"


def test_a_strangers_receipt_corrects_nothing(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    page = Supporter(client).sign().get_data(as_text=True)
    fields = hidden_fields(page, "/w/ua-109-23/correct")
    client.post("/w/ua-109-23/correct", data=MultiDict(fields), headers=SAME_ORIGIN)
    assert len(session.scalars(select(Signature)).all()) == 1


def resend(client: FlaskClient, page: str, **changed: str) -> str:
    """The page's "send the link again", with ``changed`` fields as a stranger would forge."""
    fields = fields_with_fresh_token(hidden_fields(page, "/w/ua-109-23"), [page])
    fields = [(k, changed.get(k, v)) for k, v in fields]
    response = client.post("/w/ua-109-23", data=MultiDict(fields), headers=SAME_ORIGIN)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_after_send_the_link_again_correct_it_still_drops_the_mistyped_signature(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    first = supporter.sign(email="ayesha@exmaple.org").get_data(as_text=True)
    again = resend(client, resend(client, first))
    assert receipt_of(again) == receipt_of(first)
    fields = hidden_fields(again, "/w/ua-109-23/correct")
    assert ("receipt", receipt_of(first)) in fields
    response = client.post("/w/ua-109-23/correct", data=MultiDict(fields), headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert session.scalars(select(Signature)).all() == []
    assert session.scalars(select(OutboxMessage)).all() == []


def test_after_send_the_link_again_the_page_still_learns_of_the_confirmation(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    again = resend(client, supporter.sign().get_data(as_text=True))
    confirm(client, session)
    assert state(client, receipt_of(again)) == "confirmed"


def test_a_stranger_posting_a_receipt_of_their_own_learns_nothing(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()  # the owner's, pending
    # the stranger signs with their own address (a real receipt), then "sends the link again"
    # with the owner's address and that receipt
    own = Supporter(client).sign(email="stranger@example.org").get_data(as_text=True)
    forged = resend(client, own, email="ayesha@example.org")
    assert receipt_of(forged) != receipt_of(own)
    fields = hidden_fields(forged, "/w/ua-109-23/correct")
    client.post("/w/ua-109-23/correct", data=MultiDict(fields), headers=SAME_ORIGIN)
    assert len(session.scalars(select(Signature)).all()) == 2
    owners_link = confirm_links(session)[0]
    assert client.post(owners_link, headers=SAME_ORIGIN).status_code == 200
    assert state(client, receipt_of(forged)) == "pending"
    # a forged receipt answers like a first sign
    assert receipt_of(resend(client, forged, receipt="A" * 32)) != "A" * 32
