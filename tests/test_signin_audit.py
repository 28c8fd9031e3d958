"""The audit of sign-ins and of views of personal data (issue 13): every success and failure
with the keyed hash of the client's network, never the IP; the address tried only when it is an
account's; the page says the same whatever was wrong; the audit page shows them."""

from __future__ import annotations

import html
import time

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget import widget_state
from widget.abuse import ip_hash
from widget.models import Audit, Staff
from widget.signin_audit import UNKNOWN

from .conftest import STAFF_PASSWORD, StaffActions, erase_search, form_token
from .partners_helpers import HTTPS, add_signature
from .test_two_factor import enrol

NO_MATCH = "That email address and password do not match an account."


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"WIDGET_RATELIMIT_LOGIN": "100 per minute"}


def rows(session: Session) -> list[tuple[str, str, dict[str, object]]]:
    session.expire_all()
    found = session.scalars(select(Audit).order_by(Audit.id))
    return [(row.actor, row.action, row.details) for row in found]


def local_hash(app: Flask) -> str:
    settings = widget_state(app).settings
    value = ip_hash(settings.secret_key, "127.0.0.1", settings.ipv6_prefix)
    assert value is not None
    return value


def test_sign_in_failures_and_success_are_audited_exactly(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    staff.create("admin@example.org")
    staff.create("gone@example.org", "viewer")
    session.execute(Audit.__table__.delete())
    session.commit()

    gone = session.scalar(select(Staff).where(Staff.email == "gone@example.org"))
    assert gone is not None
    gone.active = False
    session.commit()
    pages = []
    for email, password in (
        ("Admin@Example.org", "wrong password"),
        ("stranger@example.org", STAFF_PASSWORD),
        ("gone@example.org", STAFF_PASSWORD),
        ("x" * 300 + "@example.org", "p"),
    ):
        _client, response = staff.login(email, password)
        assert response.status_code == 401
        pages.append(html.unescape(response.get_data(as_text=True)))
    assert all(NO_MATCH in page for page in pages)
    _client, ok = staff.login("admin@example.org")
    assert ok.status_code == 302
    hashed = {"ip_hash": local_hash(app)}
    assert rows(session) == [
        ("admin@example.org", "signin.failed", hashed),
        (UNKNOWN, "signin.failed", hashed),
        ("gone@example.org", "signin.failed", hashed),
        (UNKNOWN, "signin.failed", hashed),
        ("admin@example.org", "signin", {**hashed, "with": "password"}),
    ]
    # neither the stranger's address nor the IP is kept anywhere in the audit
    dump = repr(rows(session))
    assert "stranger" not in dump and "127.0.0.1" not in dump


def test_the_second_step_is_audited_and_shown_on_the_audit_page(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    staff.create("admin@example.org")
    client, _ = staff.login("admin@example.org")
    secret, _codes = enrol(client)
    half, response = staff.login("admin@example.org")
    assert response.status_code == 302
    token = form_token(half.get("/staff/login/code", **HTTPS).get_data(as_text=True))
    for code in ("123456", pyotp.TOTP(secret).at(time.time() + 30)):
        half.post("/staff/login/code", data={"csrf_token": token, "code": code}, **HTTPS)
    hashed = {"ip_hash": local_hash(app)}
    assert rows(session)[-3:] == [
        ("admin@example.org", "2fa.enrol", {"account": "admin@example.org"}),
        ("admin@example.org", "signin.code-failed", hashed),
        ("admin@example.org", "signin", {**hashed, "with": "totp"}),
    ]
    page = html.unescape(half.get("/staff/audit", **HTTPS).get_data(as_text=True))
    assert "signin.code-failed" in page and f"ip_hash: {hashed['ip_hash']}" in page
    assert "with: totp" in page


def test_an_erasure_search_is_audited_without_the_address(
    app: Flask, staff: StaffActions, session: Session
) -> None:

    add_signature(session, "ayesha@example.org", partner=None)
    admin = staff.signed_in("admin")
    for email, status in (("ayesha@example.org", 200), ("nobody@example.org", 200)):
        assert erase_search(admin, email).status_code == status
    assert erase_search(admin, "not-an-address").status_code == 400
    assert admin.get("/staff/erase", **HTTPS).status_code == 200
    # a link (from another site, or the history) carries no search: nothing found, no audit
    linked = admin.get("/staff/erase?email=ayesha%40example.org", **HTTPS)
    assert linked.status_code == 200 and "Erase 1 signature" not in linked.get_data(as_text=True)
    # nor does a POST without the page's CSRF token
    data = {"email": "ayesha@example.org"}
    assert admin.post("/staff/erase", data=data, **HTTPS).status_code == 400
    forged = admin.post("/staff/erase", data=data | {"csrf_token": "forged"}, **HTTPS)
    assert forged.status_code == 400
    searches = [row for row in rows(session) if row[1] == "erase.search"]
    assert searches == [
        ("admin@example.org", "erase.search", {"found": 1}),
        ("admin@example.org", "erase.search", {"found": 0}),
    ]
    assert "ayesha" not in repr(rows(session))
