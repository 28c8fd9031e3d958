"""Sealed mode and partners (issue 15): the partner CSV, partner API keys and partner webhooks
are refused with the reason, and a sealed signature's data never reaches a partner; the
organisation's webhooks and API keys carry the sealed box, which the private key opens to the
exact fields. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from nacl.public import PrivateKey, SealedBox
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook as Verifier

from widget.apikeys import KEY_SHAPE, create_key
from widget.campaigns import find_campaign
from widget.clock import utcnow
from widget.extensions import db
from widget.models import ApiKey, Audit, Signature, Webhook
from widget.privacy import withdraw_signature
from widget.sealed_partners import API_REFUSED, CSV_REFUSED, KEY_REFUSED, WEBHOOK_REFUSED
from widget.sealing import generate_key_file, load_private_key, public_key_text
from widget.signing import confirm_signature
from widget.webhook_delivery import Dispatcher, HttpTransport
from widget.webhooks import add_webhook

from .conftest import StaffActions, Supporter, form_token
from .partners_helpers import (
    HTTPS,
    PARTNER,
    SAME_ORIGIN,
    add_partners,
    add_signature,
    partner_login,
)
from .webhook_receiver import Received, Receiver, StepClock, serve_receiver

NAME = "Zarmina Qaderi"
EMAIL = "Zarmina.Q+petition@qaderi-family.org"
SOURCE = "https://news.example/refugee-appeal"
#: what must never reach a partner, in any case
CLEAR = ("zarmina", "qaderi", "refugee-appeal")
API = "/api/v1/campaigns/ua-109-23/signatures"
CSV = f"/staff/partners/{PARTNER}/supporters.csv"
HOME = f"/staff/partners/{PARTNER}/home"
#: what every refusal says: why, in the same words
REASON = "that key is not given to partners, because it opens every supporter&#39;s data"


@pytest.fixture
def private_key(tmp_path: Path) -> PrivateKey:
    path = tmp_path / "keys" / "data.key"
    path.parent.mkdir()
    generate_key_file(path)
    return load_private_key(path)


@pytest.fixture
def settings_env(private_key: PrivateKey) -> dict[str, str]:
    return {
        "WIDGET_PUBLIC_URL": "https://localhost",
        "WIDGET_RATELIMIT_LOGIN": "100 per minute",
        "WIDGET_DATA_PUBLIC_KEY": public_key_text(private_key.public_key),
    }


@pytest.fixture(autouse=True)
def partners(app: Flask) -> None:
    add_partners(app)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


def sealed_signature(session: Session, supporter: Supporter, clock: StepClock) -> Signature:
    """Signed through the partner's embed with its box ticked, sealed by the sign path, then
    confirmed; its last change moved back past the API's settling time."""
    response = supporter.client.post(
        "/w/ua-109-23",
        query_string={"partner": PARTNER},
        data=supporter.form(name=NAME, email=EMAIL, source=SOURCE, partner_opt_in="y"),
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    signature = session.scalars(select(Signature)).one()
    assert (signature.name, signature.email, signature.partner_opt_in) == ("", "", True)
    assert signature.partner.slug == PARTNER and signature.sealed
    assert confirm_signature(session, signature.id, now=clock()).value == "confirmed"
    session.execute(update(Signature).values(updated_at=clock() - timedelta(minutes=1)))
    session.commit()
    session.refresh(signature)
    return signature


def opened(private_key: PrivateKey, box: str) -> dict[str, object]:
    fields: dict[str, object] = json.loads(SealedBox(private_key).decrypt(base64.b64decode(box)))
    return fields


def no_clear_fields(text: str, box: str) -> None:
    lowered = text.lower()
    for clear in CLEAR:
        assert clear not in lowered, clear
    assert box not in text


def deliver(app: Flask, clock: StepClock) -> None:
    worker = Dispatcher(db.sessionmaker(app), HttpTransport(10.0, allow_private=True), clock=clock)
    try:
        worker.run_once()
    finally:
        worker.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def to(receiver: Receiver, path: str) -> list[Received]:
    return [request for request in receiver.requests if request.path == path]


def staff_post(client: FlaskClient, path: str, **data: object):  # type: ignore[no-untyped-def]
    token = form_token(client.get(path, **HTTPS).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, **HTTPS)


def html_of(message: str) -> str:
    """A message as the page writes it (Jinja escapes the apostrophes)."""
    return str(escape(message))


def audit_actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(Audit.action).order_by(Audit.id)))


# --- the partner CSV ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["partner", "admin"])
def test_the_partner_csv_is_refused_with_the_reason_and_nothing_is_audited(
    staff: StaffActions,
    session: Session,
    supporter: Supporter,
    clock: StepClock,
    who: str,
) -> None:
    signature = sealed_signature(session, supporter, clock)
    # a row from before the mode was on, in clear: refused all the same
    add_signature(session, "before@example.org", name="Reza Before")
    browser = partner_login(staff) if who == "partner" else staff.signed_in("admin")
    before = audit_actions(session)
    response = browser.get(CSV, headers=SAME_ORIGIN, **HTTPS)
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "<h1>Supporters&#39; data is sealed</h1>" in body
    assert REASON in body
    assert "The organisation can share them with the partner by other means" in body
    assert "Content-Disposition" not in response.headers
    no_clear_fields(body, signature.sealed or "")
    assert "Reza Before" not in body and "before@example.org" not in body
    assert audit_actions(session) == before


def test_the_partner_home_says_why_in_place_of_the_csv_link(
    staff: StaffActions, session: Session, supporter: Supporter, clock: StepClock
) -> None:
    sealed_signature(session, supporter, clock)
    page = partner_login(staff).get(HOME, **HTTPS)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<p class="notice" role="note" id="sealed-note">' in html
    assert html_of(CSV_REFUSED) in html
    assert "supporters.csv" not in html and "Download the supporters" not in html
    # the counts still work without the key
    assert '<td class="num">1</td>' in html


# --- partner API keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [API, f"{API}?partner={PARTNER}", f"{API}?per_page=nope", "/api/v1/campaigns/nope/signatures"],
)
def test_a_partner_key_reads_nothing_403_sealed(
    app: Flask,
    session: Session,
    client: FlaskClient,
    supporter: Supporter,
    clock: StepClock,
    path: str,
) -> None:
    """A key made before the mode was on: refused before the query or the campaign is looked at."""
    signature = sealed_signature(session, supporter, clock)
    _row, key = create_key(session, "Partner CRM", PARTNER, utcnow(), actor="test")
    response = client.get(path, headers=bearer(key))
    assert response.status_code == 403
    assert response.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.get_json() == {"error": "sealed", "message": API_REFUSED}
    no_clear_fields(response.get_data(as_text=True), signature.sealed or "")
    session.expire_all()
    assert session.scalar(select(ApiKey.last_used_at)) is not None  # the key was checked


def test_an_organisation_key_gets_the_box_that_opens_to_the_exact_fields(
    session: Session,
    client: FlaskClient,
    supporter: Supporter,
    clock: StepClock,
    private_key: PrivateKey,
) -> None:
    signature = sealed_signature(session, supporter, clock)
    _row, key = create_key(session, "Our CRM", None, utcnow(), actor="test", sealed=True)
    response = client.get(API, headers=bearer(key))
    assert response.status_code == 200
    [record] = response.get_json()["_embedded"]["osdi:signatures"]
    assert record["identifiers"] == [f"action-widget:{signature.id}"]
    assert record["sealed"] == signature.sealed
    assert record["person"] == {"postal_addresses": [{"primary": True, "country": "PK"}]}
    assert "referrer_data" not in record
    assert record["action_widget"]["partner"] == PARTNER
    assert opened(private_key, record["sealed"]) == {
        "name": NAME,
        "email": EMAIL,
        "source_url": SOURCE,
    }


def test_apikey_create_refuses_a_partner_key_exit_2(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["apikey", "create", "Partner CRM", "--partner", PARTNER])
    assert refused.exit_code == 2
    assert KEY_REFUSED in refused.output
    assert "aw_" not in refused.output
    # refused whatever the slug: the mode, not the partner, is the reason
    unknown = runner.invoke(args=["apikey", "create", "X", "--partner", "nobody"])
    assert unknown.exit_code == 2 and KEY_REFUSED in unknown.output
    assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
    made = runner.invoke(args=["apikey", "create", "Our CRM"])
    assert made.exit_code == 0, made.output
    assert session.scalars(select(ApiKey.partner_id)).all() == [None]


def test_a_partner_account_cannot_make_a_key_and_the_page_says_why(
    staff: StaffActions, session: Session
) -> None:
    browser = partner_login(staff)
    page = browser.get("/staff/keys", **HTTPS).get_data(as_text=True)
    assert '<p class="notice" role="note" id="sealed-note">' in page
    assert html_of(KEY_REFUSED) in page
    assert "Make a key</button>" not in page
    refused = staff_post(browser, "/staff/keys", name="Mine")
    assert refused.status_code == 400
    assert html_of(KEY_REFUSED) in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
    assert "apikey.create" not in audit_actions(session)


def test_an_admin_cannot_make_a_partner_key_but_can_make_the_organisations(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    assert "Make a key</button>" in admin.get("/staff/keys", **HTTPS).get_data(as_text=True)
    refused = staff_post(admin, "/staff/keys", name="Partner CRM", partner=PARTNER)
    assert refused.status_code == 400
    assert html_of(KEY_REFUSED) in refused.get_data(as_text=True)
    # no key shown (a form token may hold the letters "aw_" by chance: the key's whole shape)
    assert not KEY_SHAPE.search(refused.get_data(as_text=True))
    assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
    made = staff_post(admin, "/staff/keys", name="Our CRM", partner="")
    assert made.status_code == 200
    assert session.scalars(select(ApiKey.partner_id)).all() == [None]


# --- partner webhooks ---


def test_webhook_add_refuses_a_partner_endpoint_exit_2(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    url = "https://crm.news.example/hooks"
    refused = runner.invoke(args=["webhook", "add", url, "--partner", PARTNER])
    assert refused.exit_code == 2
    assert WEBHOOK_REFUSED in " ".join(refused.output.split())
    assert "whsec_" not in refused.output
    assert session.scalar(select(func.count()).select_from(Webhook)) == 0
    made = runner.invoke(args=["webhook", "add", url])
    assert made.exit_code == 0, made.output
    assert session.scalars(select(Webhook.partner_id)).all() == [None]


def test_a_partner_account_cannot_add_an_endpoint_and_the_page_says_why(
    staff: StaffActions, session: Session
) -> None:
    browser = partner_login(staff)
    page = browser.get("/staff/webhooks", **HTTPS).get_data(as_text=True)
    assert '<p class="notice" role="note" id="sealed-note">' in page
    assert html_of(WEBHOOK_REFUSED) in page
    assert "Add endpoint</button>" not in page
    refused = staff_post(browser, "/staff/webhooks", url="https://crm.news.example/hooks")
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert f'<p class="error" role="alert">{html_of(WEBHOOK_REFUSED)}</p>' in html
    assert "whsec_" not in html
    assert session.scalar(select(func.count()).select_from(Webhook)) == 0
    assert "webhook-add" not in audit_actions(session)


def test_an_admin_choosing_a_partner_is_refused_the_organisation_endpoint_is_added(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    page = admin.get("/staff/webhooks", **HTTPS).get_data(as_text=True)
    assert "Add endpoint</button>" in page and "sealed-note" not in page
    url = "https://crm.example.org/hooks"
    refused = staff_post(admin, "/staff/webhooks", url=url, partner=PARTNER)
    assert refused.status_code == 400
    assert html_of(WEBHOOK_REFUSED) in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Webhook)) == 0
    made = staff_post(admin, "/staff/webhooks", url=url, partner="")
    assert made.status_code == 200 and "whsec_" in made.get_data(as_text=True)
    assert session.scalars(select(Webhook.partner_id)).all() == [None]


def test_a_partner_endpoint_hears_nothing_of_a_sealed_signature_but_the_closing(
    app: Flask,
    session: Session,
    supporter: Supporter,
    clock: StepClock,
    receiver: Receiver,
    private_key: PrivateKey,
) -> None:
    """Endpoints from before the mode was on: the organisation's gets the box, which opens to
    the exact fields, and the withdrawal; the partner's only ``campaign.closed``."""
    _org, org_secret = add_webhook(session, receiver.url + "/org", actor="t", now=clock())
    _partner, partner_secret = add_webhook(
        session, receiver.url + "/partner", partner=PARTNER, actor="t", now=clock()
    )
    signature = sealed_signature(session, supporter, clock)
    box = signature.sealed or ""
    deliver(app, clock)
    assert to(receiver, "/hooks/partner") == []
    [verified] = to(receiver, "/hooks/org")
    event = Verifier(org_secret).verify(verified.body, verified.headers)
    assert event["type"] == "signature.verified"
    data = event["data"]
    assert (data["id"], data["partner"], data["sealed"]) == (signature.id, PARTNER, box)
    assert not {"name", "email", "source_url"} & data.keys()
    assert opened(private_key, data["sealed"]) == {
        "name": NAME,
        "email": EMAIL,
        "source_url": SOURCE,
    }
    clock.advance(seconds=5)
    assert withdraw_signature(session, signature.id, now=clock()).value == "withdrawn"
    deliver(app, clock)
    assert to(receiver, "/hooks/partner") == []
    withdrawn = to(receiver, "/hooks/org")[-1]
    assert Verifier(org_secret).verify(withdrawn.body, withdrawn.headers)["type"] == (
        "signature.withdrawn"
    )
    campaign = find_campaign(session, "ua-109-23")
    assert campaign is not None
    campaign.closes_at = clock()
    session.commit()
    clock.advance(seconds=1)
    deliver(app, clock)
    [closed] = to(receiver, "/hooks/partner")
    assert Verifier(partner_secret).verify(closed.body, closed.headers)["type"] == (
        "campaign.closed"
    )
    assert [r.path for r in receiver.requests].count("/hooks/org") == 3


def test_a_clear_consenting_signature_still_reaches_the_partner_endpoint(
    app: Flask, session: Session, clock: StepClock, receiver: Receiver
) -> None:
    """The condition is on the sealed row, nothing else: a clear row (signed before the mode
    was on) confirmed now reaches the partner's endpoint as before."""
    _partner, secret = add_webhook(
        session, receiver.url + "/partner", partner=PARTNER, actor="t", now=clock()
    )
    row = add_signature(session, "before@example.org", verified=False, name="Reza Before")
    assert confirm_signature(session, row.id, now=clock()).value == "confirmed"
    session.commit()
    deliver(app, clock)
    [request] = to(receiver, "/hooks/partner")
    data = Verifier(secret).verify(request.body, request.headers)["data"]
    assert (data["id"], data["name"], data["email"]) == (
        row.id,
        "Reza Before",
        "before@example.org",
    )


# --- all three at once ---


def test_a_sealed_rows_fields_never_reach_a_partner_through_any_output(
    app: Flask,
    staff: StaffActions,
    session: Session,
    supporter: Supporter,
    clock: StepClock,
    receiver: Receiver,
) -> None:
    add_webhook(session, receiver.url + "/partner", partner=PARTNER, actor="t", now=clock())
    _row, key = create_key(session, "Partner CRM", PARTNER, utcnow(), actor="test")
    signature = sealed_signature(session, supporter, clock)
    box = signature.sealed or ""
    deliver(app, clock)
    withdraw_signature(session, signature.id, now=clock())
    deliver(app, clock)
    heard = b"".join(request.body for request in receiver.requests).decode()
    browser = partner_login(staff)
    outputs = [
        heard,
        browser.get(CSV, headers=SAME_ORIGIN, **HTTPS).get_data(as_text=True),
        browser.get(HOME, **HTTPS).get_data(as_text=True),
        supporter.client.get(API, headers=bearer(key)).get_data(as_text=True),
        supporter.client.get(f"{API}?partner={PARTNER}", headers=bearer(key)).get_data(
            as_text=True
        ),
    ]
    assert receiver.requests == []
    for output in outputs:
        no_clear_fields(output, box)
