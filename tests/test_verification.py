"""Confirmation links: signed, expiring, bound to a purpose, counted once, never by a GET."""

from __future__ import annotations

import threading
import time
from unittest import mock

import itsdangerous.timed
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget import signing
from widget.clock import utcnow
from widget.counter import tally
from widget.extensions import db
from widget.models import Campaign, Signature
from widget.tokens import form_tokens, verify_tokens

from .conftest import SECRET, Supporter, link_claims, recount_agrees

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def pending_signature(supporter: Supporter, session: Session, email: str = "a@example.org") -> int:
    supporter.sign(email=email)
    return session.scalars(select(Signature.id).where(Signature.email == email)).one()


def link(
    signature_id: int, keys: tuple[str, ...] = (SECRET,), session: Session | None = None
) -> str:
    """A confirm link as mailed (with the row's secret when ``session`` can read it)."""
    claims = link_claims(session, signature_id) if session else {"s": signature_id}
    return "/v/" + verify_tokens(keys).dumps({**claims, "c": "ua-109-23"})


def verified_count(session: Session) -> int:
    session.expire_all()
    campaign_id = session.scalars(select(Campaign.id)).one()
    return tally(session, campaign_id).count


def test_a_forged_link_is_refused_with_a_way_forward(client: FlaskClient) -> None:
    for token in ("garbage", "eyJzIjoxfQ.abc.def", link(1, ("an-attacker-key-0123",))[3:]):
        response = client.get(f"/v/{token}")
        assert response.status_code == 400
        assert "This link does not work" in response.get_data(as_text=True)
        assert client.post(f"/v/{token}", headers=SAME_ORIGIN).status_code == 400


def test_a_tampered_link_is_refused(
    supporter: Supporter, session: Session, client: FlaskClient
) -> None:
    signature_id = pending_signature(supporter, session)
    payload, stamp, mac = link(signature_id, session=session)[3:].split(".")
    tampered = f"{payload}.{stamp}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}"
    assert client.post(f"/v/{tampered}", headers=SAME_ORIGIN).status_code == 400
    assert verified_count(session) == 0


def test_a_token_for_another_purpose_is_refused(
    supporter: Supporter, session: Session, client: FlaskClient
) -> None:
    signature_id = pending_signature(supporter, session)
    form_token = form_tokens((SECRET,)).dumps({"s": signature_id, "c": "ua-109-23"})
    assert client.post(f"/v/{form_token}", headers=SAME_ORIGIN).status_code == 400
    assert verified_count(session) == 0


def test_an_expired_link_says_so_and_links_back_to_the_campaign(
    supporter: Supporter, session: Session, client: FlaskClient
) -> None:
    signature_id = pending_signature(supporter, session)
    eight_days_ago = time.time() - 8 * 24 * 3600
    with mock.patch.object(itsdangerous.timed.time, "time", return_value=eight_days_ago):
        old = link(signature_id, session=session)
    for response in (client.get(old), client.post(old, headers=SAME_ORIGIN)):
        assert response.status_code == 410
        page = response.get_data(as_text=True)
        assert "This link has expired" in page
        assert 'href="/w/ua-109-23"' in page
    assert verified_count(session) == 0


def test_a_link_signed_with_a_rotated_out_key_still_works(
    app: Flask, supporter: Supporter, session: Session, client: FlaskClient
) -> None:
    signature_id = pending_signature(supporter, session)
    old_link = link(signature_id, ("the-old-key-0123456789",), session)
    rotated = app.extensions["widget"].settings.__class__.from_env(
        {
            "WIDGET_SECRET_KEY": f"{SECRET},the-old-key-0123456789",
            "WIDGET_DATABASE_URL": app.extensions["widget"].settings.database_url,
            "WIDGET_PUBLIC_URL": "http://localhost",
        },
        instance_path="/nonexistent",
    )
    from widget import create_app

    rotated_app = create_app(rotated)
    try:
        response = rotated_app.test_client().post(old_link, headers=SAME_ORIGIN)
        assert response.status_code == 200
        assert verified_count(session) == 1
    finally:
        db.engine(rotated_app).dispose()
    assert client.post(old_link, headers=SAME_ORIGIN).status_code == 400


def test_a_link_to_a_deleted_signature_is_404(client: FlaskClient) -> None:
    response = client.get(link(987654))
    assert response.status_code == 404
    assert "This signature no longer exists" in response.get_data(as_text=True)


def test_confirming_from_another_site_is_refused(
    supporter: Supporter, session: Session, client: FlaskClient
) -> None:
    signature_id = pending_signature(supporter, session)
    response = client.post(
        link(signature_id, session=session), headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert verified_count(session) == 0


def test_verify_pages_cannot_be_framed_or_cached(
    supporter: Supporter, session: Session, client: FlaskClient
) -> None:
    response = client.get(link(pending_signature(supporter, session), session=session))
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_concurrent_confirmations_of_one_signature_count_once(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    signature_id = pending_signature(supporter, session)
    outcomes: list[signing.Confirmed] = []
    start = threading.Barrier(4)

    def confirm() -> None:
        with app.app_context(), db.sessionmaker(app)() as own:
            start.wait()
            outcomes.append(signing.confirm_signature(own, signature_id, now=utcnow()))

    threads = [threading.Thread(target=confirm) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.value for o in outcomes) == [
        "already-confirmed",
        "already-confirmed",
        "already-confirmed",
        "confirmed",
    ]
    assert verified_count(session) == 1
    assert recount_agrees(session)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_no_safe_method_confirms(
    supporter: Supporter, session: Session, client: FlaskClient, method: str
) -> None:
    client.open(link(pending_signature(supporter, session), session=session), method=method)
    assert verified_count(session) == 0
