"""Every mailed link is bound to its signature's secret, so it dies with the signature
(issue 17, item 2): after a withdrawal, an erasure, the retention rules or a purge, an old link
opens nothing, and a link signed with our key but for another row's secret opens nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.models import Campaign, OutboxMessage, Signature
from widget.privacy import Retention, purge
from widget.tokens import manage_tokens, verify_tokens

from .conftest import SECRET, Supporter

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def mailed_links(session: Session, email: str) -> tuple[str, str]:
    """The confirm and manage links of the first mail to ``email``, as paths."""
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id)
    ).first()
    assert message is not None
    verify = re.search(r"https?://[^/\s]+(/v/\S+)", message.text_body)
    manage = re.search(r"https?://[^/\s]+(/m/\S+)", message.text_body)
    assert verify and manage, message.text_body
    return verify.group(1), manage.group(1)


def row(session: Session, email: str) -> Signature:
    session.expire_all()
    return session.scalars(select(Signature).where(Signature.email == email)).one()


def assert_gone(client: FlaskClient, link: str, *never_shown: str) -> None:
    for response in (client.get(link), client.post(link, headers=SAME_ORIGIN)):
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert "This signature no longer exists" in page
        for text in never_shown:
            assert text not in page


def test_every_signature_gets_its_own_link_secret_and_its_mails_carry_it(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    signature = row(session, "ayesha@example.org")
    assert signature.link_secret is not None and len(signature.link_secret) == 32
    verify, manage = mailed_links(session, "ayesha@example.org")
    assert verify_tokens((SECRET,)).loads(verify[3:])["k"] == signature.link_secret
    assert manage_tokens((SECRET,)).loads(manage[3:])["k"] == signature.link_secret
    assert "Ayesha Khan" in client.get(manage).get_data(as_text=True)
    assert "Ayesha Khan" in client.get(verify).get_data(as_text=True)


def test_links_die_when_the_signature_is_withdrawn(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    verify, manage = mailed_links(session, "ayesha@example.org")
    assert client.post(manage, headers=SAME_ORIGIN).status_code == 200
    assert_gone(client, manage, "Ayesha", "ayesha@example.org")
    assert_gone(client, verify, "Ayesha", "ayesha@example.org")


def test_links_die_when_staff_erase_the_supporter(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    verify, manage = mailed_links(session, "ayesha@example.org")
    result = app.test_cli_runner().invoke(args=["erase", "ayesha@example.org", "--apply"])
    assert result.exit_code == 0, result.output
    assert_gone(client, manage, "Ayesha")
    assert_gone(client, verify, "Ayesha")


def test_links_die_when_a_closed_campaign_is_anonymised(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    _verify, manage = mailed_links(session, "ayesha@example.org")
    now = utcnow()
    session.execute(update(Campaign).values(closes_at=now - timedelta(days=200)))
    session.commit()
    report = purge(session, Retention(), now=now, actor="test", apply=True)
    assert report.anonymised == 1
    assert_gone(client, manage, "Ayesha")


def test_a_link_signed_with_our_key_for_another_rows_secret_is_refused(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    supporter.sign(email="stranger@example.org", name="Sara Stranger")
    victim = row(session, "stranger@example.org")
    mine = row(session, "ayesha@example.org")
    forged = [
        {"s": victim.id},  # no secret at all
        {"s": victim.id, "k": mine.link_secret},  # a secret, but another row's
        {"s": victim.id, "k": ""},
    ]
    for claims in forged:
        manage = "/m/" + manage_tokens((SECRET,)).dumps(claims)
        verify = "/v/" + verify_tokens((SECRET,)).dumps({**claims, "c": "ua-109-23"})
        assert_gone(client, manage, "Sara Stranger", "stranger@example.org")
        assert_gone(client, verify, "Sara Stranger", "stranger@example.org")
    after = row(session, "stranger@example.org")
    assert (after.name, after.withdrawn_at, after.verified_at) == ("Sara Stranger", None, None)


def test_a_row_from_before_link_secrets_takes_its_old_links_until_it_is_erased(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    signature_id = row(session, "ayesha@example.org").id
    session.execute(update(Signature).values(link_secret=None))
    session.commit()
    legacy = "/m/" + manage_tokens((SECRET,)).dumps({"s": signature_id})
    assert "Ayesha Khan" in client.get(legacy).get_data(as_text=True)
    with_a_secret = "/m/" + manage_tokens((SECRET,)).dumps({"s": signature_id, "k": "x" * 32})
    assert_gone(client, with_a_secret, "Ayesha")
    assert client.post(legacy, headers=SAME_ORIGIN).status_code == 200
    assert_gone(client, legacy, "Ayesha")


def test_after_a_purge_the_next_signature_gets_a_new_id_and_old_links_open_nothing(
    client: FlaskClient, supporter: Supporter, session: Session, database_url: str
) -> None:
    supporter.sign(email="old@example.org", name="Old Pending")
    old_id = row(session, "old@example.org").id
    _verify, manage = mailed_links(session, "old@example.org")
    report = purge(
        session, Retention(), now=utcnow() + timedelta(days=15), actor="test", apply=True
    )
    assert report.pending_deleted == 1
    supporter.sign(email="new@example.org", name="New Person")
    assert row(session, "new@example.org").id > old_id
    assert_gone(client, manage, "New Person", "new@example.org")
    # the old link's id, with a valid signature but no secret, opens no one either
    bare = "/m/" + manage_tokens((SECRET,)).dumps({"s": row(session, "new@example.org").id})
    assert_gone(client, bare, "New Person")


@pytest.mark.parametrize("token_id", ["1", "null", '"1"'])
def test_an_odd_id_in_a_signed_link_is_gone(
    client: FlaskClient, supporter: Supporter, token_id: str
) -> None:
    import json

    supporter.sign()
    claims = {"s": json.loads(token_id)}
    assert_gone(client, "/m/" + manage_tokens((SECRET,)).dumps(claims), "Ayesha")
