"""Two-factor sign-in (issue 13): TOTP codes computed with pyotp from the secret the enrolment
page shows, recovery codes, replay, the previous and next windows, brute force of the code step,
the half-signed-in cookie, forced enrolment for admins, disabling, and resets by an admin and
from the command line."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget import two_factor, widget_state
from widget.clock import utcnow
from widget.kdf import derive_key
from widget.models import Audit, OutboxMessage, Staff, StaffRecoveryCode, StaffSession
from widget.settings import ConfigurationError, Settings

from .conftest import STAFF_PASSWORD, StaffActions, form_token
from .partners_helpers import HTTPS, add_partners, partner_login

WRONG = "That code is not right. Codes change every 30 seconds, and each works once."


@pytest.fixture
def settings_env() -> dict[str, str]:
    """The per-client sign-in limit out of the way: the code step's own limit is tested."""
    return {"WIDGET_RATELIMIT_LOGIN": "100 per minute"}


def post(client: FlaskClient, page: str, data: dict[str, str], url: str | None = None):  # type: ignore[no-untyped-def]
    token = form_token(client.get(page, **HTTPS).get_data(as_text=True))
    return client.post(url or page, data={"csrf_token": token, **data}, **HTTPS)


def enrol(client: FlaskClient, enrol_code: str = "") -> tuple[str, list[str]]:
    """Enrol the signed-in account as a person would: read the key off the page, type a code."""
    page = client.get("/staff/two-factor/enrol", **HTTPS).get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page)[1].replace(" ", "")  # type: ignore[index]
    data = {"csrf_token": form_token(page), "password": STAFF_PASSWORD, "enrol_code": enrol_code}
    data["code"] = pyotp.TOTP(secret).now()
    response = client.post("/staff/two-factor/enrol", data=data, **HTTPS)
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", response.get_data(as_text=True))
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the next 30 seconds (accepted early): the current one went to enrolling."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def password_step(staff: StaffActions, email: str) -> FlaskClient:
    client, response = staff.login(email)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login/code")
    return client


def code_step(client: FlaskClient, code: str):  # type: ignore[no-untyped-def]
    return post(client, "/staff/login/code", {"code": code})


def enrolled_admin(staff: StaffActions, email: str = "admin@example.org") -> tuple[str, list[str]]:
    staff.create(email, "admin")
    client, _response = staff.login(email)
    return enrol(client)


def actions(session: Session, prefix: str) -> list[tuple[str, str, dict[str, object]]]:
    session.expire_all()
    rows = session.scalars(select(Audit).where(Audit.action.like(f"{prefix}%")).order_by(Audit.id))
    return [(row.actor, row.action, row.details) for row in rows]


def test_enrolment_shows_the_key_and_qr_uncached_and_seals_the_secret(
    staff: StaffActions, session: Session
) -> None:
    other = staff.signed_in("admin")
    client, _ = staff.login("admin@example.org")
    page = client.get("/staff/two-factor/enrol", **HTTPS)
    assert page.headers["Cache-Control"] == "no-store"
    body = page.get_data(as_text=True)
    assert '<svg role="img" aria-label="Enrolment QR code"' in body
    assert "http" not in body.split('<div class="qr">')[1].split("</div>")[0].replace(
        "http://www.w3.org", ""
    )
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body)[1].replace(" ", "")  # type: ignore[index]
    token = form_token(body)
    # a wrong code, a code of another secret, a wrong password: nothing changes
    for password, code, field_error in (
        (STAFF_PASSWORD, "000000", "That code is not the one the app shows; try the next one."),
        (STAFF_PASSWORD, pyotp.TOTP(pyotp.random_base32()).now(), "That code is not the one"),
        ("wrong password", pyotp.TOTP(secret).now(), "The password is not right."),
    ):
        data = {"csrf_token": token, "password": password, "code": code}
        refused = client.post("/staff/two-factor/enrol", data=data, **HTTPS)
        assert refused.status_code == 400
        assert field_error in html.unescape(refused.get_data(as_text=True))
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret)) is None
    data = {"csrf_token": token, "password": STAFF_PASSWORD, "code": pyotp.TOTP(secret).now()}
    done = client.post("/staff/two-factor/enrol", data=data, **HTTPS)
    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", done.get_data(as_text=True))
    assert len(codes) == len(set(codes)) == 10
    session.expire_all()
    stored = session.scalar(select(Staff.totp_secret))
    assert stored is not None and secret not in stored and stored.startswith("v2:")
    assert two_factor.open_secret(widget_state(staff.app).settings, stored, 1) == secret
    hashes = session.scalars(select(StaffRecoveryCode.code_hash)).all()
    assert len(hashes) == 10 and not set(codes) & set(hashes)
    # the other browser is out, this one stays in
    assert other.get("/staff/", **HTTPS).status_code == 302
    assert client.get("/staff/", **HTTPS).status_code == 200
    assert actions(session, "2fa") == [
        ("admin@example.org", "2fa.enrol", {"account": "admin@example.org"})
    ]


def test_sign_in_with_a_code_and_no_session_before_it(
    staff: StaffActions, session: Session
) -> None:
    secret, _codes = enrolled_admin(staff)
    sessions_before = session.scalar(select(StaffSession.id).order_by(StaffSession.id.desc()))
    half = password_step(staff, "admin@example.org")
    # the half-signed-in cookie opens no staff page, and no session row was made for it
    for page in ("/staff/", "/staff/audit", "/staff/erase", "/staff/two-factor"):
        refused = half.get(page, **HTTPS)
        assert refused.status_code == 302 and refused.headers["Location"].startswith("/staff/login")
    session.expire_all()
    newest = session.scalar(select(StaffSession.id).order_by(StaffSession.id.desc()))
    assert newest == sessions_before
    # a forged CSRF token: refused, not counted as a wrong code
    forged = half.post("/staff/login/code", data={"csrf_token": "x", "code": "1"}, **HTTPS)
    assert forged.status_code == 400
    assert actions(session, "signin.code") == []
    used = next_code(secret)
    done = code_step(half, used)
    assert (done.status_code, done.headers["Location"]) == (302, "/staff/")
    assert half.get("/staff/audit", **HTTPS).status_code == 200
    # the same code again, from another browser that knows the password: spent (taken as it
    # was: a slow run may cross into the next 30 s)
    replay = code_step(password_step(staff, "admin@example.org"), used)
    assert replay.status_code == 401
    assert WRONG in html.unescape(replay.get_data(as_text=True))


def test_codes_of_the_next_and_previous_window_only_once_and_never_older(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    secret, _ = enrolled_admin(staff)
    settings = widget_state(app).settings
    account = session.scalar(select(Staff))
    assert account is not None
    totp = pyotp.TOTP(secret)
    later = utcnow() + timedelta(minutes=10)
    step = 30

    def check(code: str, at: object) -> str | None:
        result = two_factor.check_second_factor(session, settings, account, code, at)  # type: ignore[arg-type]
        session.commit()
        return result

    code_at = lambda delta: totp.at(later + timedelta(seconds=delta))  # noqa: E731
    assert check(code_at(-2 * step), later) is None
    assert check(code_at(2 * step), later) is None
    assert check(code_at(-step), later) == "totp"
    assert check(code_at(-step), later) is None  # replayed
    assert check(code_at(step), later) == "totp"
    # the current step is earlier than the last one used: refused too
    assert check(code_at(0), later) is None
    assert check(code_at(step), later + timedelta(seconds=step)) is None
    full_width = "\uff11\uff12\uff13\uff14\uff15\uff16"  # digits, NFKC says, but wrong
    assert check(full_width, later) is None
    assert check(code_at(2 * step), later + timedelta(seconds=step)) == "totp"


def test_recovery_codes_sign_in_once_each(staff: StaffActions, session: Session) -> None:
    _secret, codes = enrolled_admin(staff)
    typed = " " + codes[0].upper().replace("-", " ") + " "
    done = code_step(password_step(staff, "admin@example.org"), typed)
    assert done.status_code == 302
    again = code_step(password_step(staff, "admin@example.org"), codes[0])
    assert again.status_code == 401
    session.expire_all()
    spent = select(StaffRecoveryCode).where(StaffRecoveryCode.used_at.is_not(None))
    assert len(session.scalars(spent).all()) == 1
    signins = [details for _actor, action, details in actions(session, "signin")]
    assert signins[-2]["with"] == "recovery-code"  # then the failure of the reused one


def test_the_code_step_is_limited_per_account(staff: StaffActions, session: Session) -> None:
    secret, _ = enrolled_admin(staff)
    half = password_step(staff, "admin@example.org")
    for _ in range(two_factor.MAX_CODE_FAILURES):
        assert code_step(half, "000000").status_code == 401
    # even the right code now waits, from another browser too
    for client in (half, password_step(staff, "admin@example.org")):
        limited = code_step(client, next_code(secret))
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) == 15 * 60
    assert len(actions(session, "signin.code-failed")) == two_factor.MAX_CODE_FAILURES


def test_a_ticket_dies_with_the_account_its_password_or_its_use(
    staff: StaffActions, session: Session
) -> None:
    secret, _ = enrolled_admin(staff)
    half = password_step(staff, "admin@example.org")
    account = session.scalar(select(Staff))
    assert account is not None
    account.active = False
    session.commit()
    gone = half.get("/staff/login/code", **HTTPS)
    assert (gone.status_code, gone.headers["Location"]) == (302, "/staff/login")
    account.active = True
    session.commit()
    # a copy of the ticket is dead once a code has signed in with it
    half = password_step(staff, "admin@example.org")
    cookie = half.get_cookie("session", domain="localhost")
    assert cookie is not None
    assert code_step(half, next_code(secret)).status_code == 302
    copy = staff.client()
    copy.set_cookie("session", cookie.value, domain="localhost")
    gone = copy.get("/staff/login/code", **HTTPS)
    assert (gone.status_code, gone.headers["Location"]) == (302, "/staff/login")
    half = password_step(staff, "admin@example.org")
    account.password_hash = account.password_hash + "x"
    session.commit()
    gone = half.get("/staff/login/code", **HTTPS)
    assert (gone.status_code, gone.headers["Location"]) == (302, "/staff/login")
    assert half.get("/staff/", **HTTPS).status_code == 302


@pytest.mark.parametrize(
    "settings_env",
    [{"WIDGET_RATELIMIT_LOGIN": "100 per minute", "WIDGET_STAFF_REQUIRE_2FA": "1"}],
)
def test_a_required_admin_enrols_before_anything_else(
    staff: StaffActions, session: Session
) -> None:
    staff.create("admin@example.org")
    client, response = staff.login("admin@example.org")
    assert response.headers["Location"] == "/staff/two-factor/enrol"
    for page in ("/staff/", "/staff/audit", "/staff/erase?email=a@b.org", "/staff/password"):
        sent = client.get(page, **HTTPS)
        assert (sent.status_code, sent.headers["Location"]) == (302, "/staff/two-factor/enrol")
    forced = client.get("/staff/two-factor/enrol", **HTTPS).get_data(as_text=True)
    assert "nothing else opens until then" in forced
    secret, codes = enrol(client, cli_enrol_code(staff, "admin@example.org"))
    assert client.get("/staff/audit", **HTTPS).status_code == 200
    # an admin may not turn it off, only move it to a new app
    data = {"password": STAFF_PASSWORD, "code": codes[1]}
    refused = post(client, "/staff/two-factor", data, "/staff/two-factor/disable")
    assert refused.status_code == 400
    assert "must keep a second factor, so it cannot be turned off" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret)) is not None
    # a viewer is not made to enrol
    viewer = staff.signed_in("viewer")
    assert viewer.get("/staff/", **HTTPS).status_code == 200
    assert secret


def test_disabling_needs_the_password_and_a_code_and_ends_other_sessions(
    staff: StaffActions, session: Session
) -> None:
    staff.create("viewer@example.org", "viewer")
    client, _ = staff.login("viewer@example.org")
    secret, _codes = enrol(client)
    other = password_step(staff, "viewer@example.org")
    assert code_step(other, next_code(secret)).status_code == 302
    for password, code, status in (
        ("wrong password", next_code(secret), 400),
        (STAFF_PASSWORD, "000000", 400),
    ):
        data = {"password": password, "code": code}
        refused = post(client, "/staff/two-factor", data, "/staff/two-factor/disable")
        assert refused.status_code == status
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret)) is not None
    data = {"password": STAFF_PASSWORD, "code": _codes[0]}
    off = post(client, "/staff/two-factor", data, "/staff/two-factor/disable")
    assert off.status_code == 200
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret)) is None
    assert session.scalars(select(StaffRecoveryCode)).all() == []
    assert other.get("/staff/", **HTTPS).status_code == 302
    assert client.get("/staff/", **HTTPS).status_code == 200
    assert [action for _a, action, _d in actions(session, "2fa")] == ["2fa.enrol", "2fa.disable"]
    assert outbox_mails(session) == [
        ("viewer@example.org", "2fa.enrol"),
        ("viewer@example.org", "2fa.disable"),
    ]


def test_an_admin_resets_a_locked_out_account_and_a_viewer_cannot(
    staff: StaffActions, session: Session
) -> None:
    staff.create("viewer@example.org", "viewer")
    locked, _ = staff.login("viewer@example.org")
    enrol(locked)
    admin = staff.signed_in("admin")
    account = session.scalar(select(Staff).where(Staff.email == "viewer@example.org"))
    assert account is not None
    url = f"/staff/accounts/{account.id}/two-factor/reset"
    assert locked.get(url, **HTTPS).status_code == 403
    assert admin.post(url, data={"csrf_token": "forged"}, **HTTPS).status_code == 400
    page = admin.get("/staff/accounts", **HTTPS).get_data(as_text=True)
    assert f'href="{url}"' in page
    # the admin session alone is not enough: the acting admin's own password is asked again
    for password in ("", "wrong password", "x" * 5000):
        refused = post(admin, url, {"password": password})
        assert refused.status_code == 400
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret).where(Staff.id == account.id)) is not None
    assert post(admin, url, {"password": STAFF_PASSWORD}).status_code == 200
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret).where(Staff.id == account.id)) is None
    assert locked.get("/staff/", **HTTPS).status_code == 302  # its browsers are out
    _client, again = staff.login("viewer@example.org")
    assert again.headers["Location"] == "/staff/"
    assert actions(session, "2fa.reset") == [
        ("admin@example.org", "2fa.reset", {"account": "viewer@example.org"})
    ]
    # nothing left to reset
    assert admin.get(url, **HTTPS).headers["Location"] == "/staff/accounts"
    assert post(admin, "/staff/accounts", {"password": STAFF_PASSWORD}, url).status_code == 400
    assert ("viewer@example.org", "2fa.reset") in outbox_mails(session)


def test_a_reset_asks_an_enrolled_admin_for_a_code_and_never_resets_itself(
    staff: StaffActions, session: Session
) -> None:
    secret, _codes = enrolled_admin(staff)
    admin = password_step(staff, "admin@example.org")
    used = next_code(secret)
    assert code_step(admin, used).status_code == 302
    staff.create("viewer@example.org", "viewer")
    locked, _ = staff.login("viewer@example.org")
    enrol(locked)
    own, other = (
        session.scalar(select(Staff.id).where(Staff.email == email))
        for email in ("admin@example.org", "viewer@example.org")
    )
    url = f"/staff/accounts/{other}/two-factor/reset"
    # the code just used is spent (taken as it was: a slow run may cross into the next 30 s)
    for code in ("", "000000", used):
        refused = post(admin, url, {"password": STAFF_PASSWORD, "code": code})
        assert refused.status_code == 400
    self_url = f"/staff/accounts/{own}/two-factor/reset"
    assert f'href="{self_url}"' not in admin.get("/staff/accounts", **HTTPS).get_data(as_text=True)
    refused = post(admin, self_url, {"password": STAFF_PASSWORD})
    assert refused.status_code == 400
    assert "not your own" in html.unescape(refused.get_data(as_text=True))
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret).where(Staff.id == own)) is not None
    assert session.scalar(select(Staff.totp_secret).where(Staff.id == other)) is not None
    done = post(admin, url, {"password": STAFF_PASSWORD, "code": _codes[0]})
    assert done.status_code == 200, done.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret).where(Staff.id == other)) is None


def test_the_command_line_resets_a_locked_out_admin(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    enrolled_admin(staff)
    runner = app.test_cli_runner()
    done = runner.invoke(args=["staff", "reset-2fa", "Admin@Example.org"])
    assert done.exit_code == 0, done.output
    assert done.output == (
        "Reset two-factor sign-in of admin@example.org; its browsers are signed out.\n"
    )
    again = runner.invoke(args=["staff", "reset-2fa", "admin@example.org"])
    assert again.exit_code == 1
    assert "admin@example.org has no two-factor sign-in to reset" in again.output
    unknown = runner.invoke(args=["staff", "reset-2fa", "nobody@example.org"])
    assert unknown.exit_code == 1 and "no account 'nobody@example.org'" in unknown.output
    [(actor, _action, details)] = actions(session, "2fa.reset")
    assert actor.startswith("cli:") and details == {"account": "admin@example.org"}


def test_a_partner_account_may_have_a_second_factor(app: Flask, staff: StaffActions) -> None:
    add_partners(app)
    client = partner_login(staff)
    secret, _ = enrol(client)
    half = password_step(staff, "news-site@example.org")
    assert code_step(half, "000000").status_code == 401
    done = code_step(half, next_code(secret))
    assert done.status_code == 302
    assert half.get("/staff/two-factor", **HTTPS).status_code == 200
    assert half.get("/staff/accounts", **HTTPS).status_code == 403


@pytest.mark.parametrize("value", ["yes", "true", "on", "2", "\uff11"])
def test_the_requirement_setting_takes_0_or_1(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^WIDGET_STAFF_REQUIRE_2FA=.*give 0 or 1\.$"):
        Settings.from_env({"WIDGET_STAFF_REQUIRE_2FA": value}, instance_path=tmp_path)
    assert Settings.from_env({}, instance_path=tmp_path).staff_require_2fa is False
    on = Settings.from_env({"WIDGET_STAFF_REQUIRE_2FA": "1"}, instance_path=tmp_path)
    assert on.staff_require_2fa is True


def test_the_enrolment_secret_is_sealed_in_the_cookie(staff: StaffActions) -> None:
    """The session cookie is signed, not encrypted: the candidate secret rides in it sealed."""
    staff.create("admin@example.org", "admin")
    client, _ = staff.login("admin@example.org")
    body = client.get("/staff/two-factor/enrol", **HTTPS).get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body)[1].replace(" ", "")  # type: ignore[index]
    cookie = client.get_cookie("session", domain="localhost")
    assert cookie is not None
    serializer = staff.app.session_interface.get_signing_serializer(staff.app)  # type: ignore[attr-defined]
    payload = serializer.loads(cookie.value)
    assert secret not in json.dumps(payload) and secret.lower() not in json.dumps(payload).lower()
    # the same secret stays on the page across loads until it is proven
    again = client.get("/staff/two-factor/enrol", **HTTPS).get_data(as_text=True)
    assert two_factor.secret_for_display(secret) in again


def outbox_mails(session: Session) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
    return [(row.recipient, row.kind) for row in rows]


@pytest.mark.parametrize(
    "settings_env",
    [{"WIDGET_RATELIMIT_LOGIN": "100 per minute", "WIDGET_STAFF_REQUIRE_2FA": "1"}],
)
def test_a_required_first_enrolment_needs_a_one_time_code_from_elsewhere(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    """Whoever knows the password must not enrol their own app first and lock the admin out."""
    staff.create("admin@example.org")
    client, _ = staff.login("admin@example.org")
    page = client.get("/staff/two-factor/enrol", **HTTPS).get_data(as_text=True)
    assert 'name="enrol_code"' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)[1].replace(" ", "")  # type: ignore[index]
    data = {"csrf_token": form_token(page), "password": STAFF_PASSWORD}
    for enrol_code in ("", "aaaa-bbbb-cccc-dddd", "x" * 5000):
        data |= {"code": pyotp.TOTP(secret).now(), "enrol_code": enrol_code}
        refused = client.post("/staff/two-factor/enrol", data=data, **HTTPS)
        assert refused.status_code == 400
        assert "The enrolment code is not right." in html.unescape(refused.get_data(as_text=True))
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret)) is None
    runner = app.test_cli_runner()
    issued = runner.invoke(args=["staff", "enrol-code", "Admin@Example.org"])
    assert issued.exit_code == 0, issued.output
    code = re.search(r"\b([a-z2-7]{4}(?:-[a-z2-7]{4}){3})\b", issued.output)[1]  # type: ignore[index]
    assert "single use" in issued.output and "1 hour" in issued.output
    stored = session.scalar(select(Staff.enrol_code_hash))
    assert stored is not None and code not in stored and code.replace("-", "") not in stored
    unknown = runner.invoke(args=["staff", "enrol-code", "nobody@example.org"])
    assert unknown.exit_code == 1
    data |= {"code": pyotp.TOTP(secret).now(), "enrol_code": code.upper().replace("-", " ")}
    done = client.post("/staff/two-factor/enrol", data=data, **HTTPS)
    assert done.status_code == 200, done.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Staff.enrol_code_hash)) is None  # spent
    assert [a for _actor, a, _d in actions(session, "2fa")] == ["2fa.enrol-code", "2fa.enrol"]
    assert outbox_mails(session) == [("admin@example.org", "2fa.enrol")]


@pytest.mark.parametrize(
    "settings_env",
    [{"WIDGET_RATELIMIT_LOGIN": "100 per minute", "WIDGET_STAFF_REQUIRE_2FA": "1"}],
)
def test_an_admin_issues_an_enrolment_code_shown_once(
    staff: StaffActions, session: Session
) -> None:
    staff.create("new@example.org", "admin")
    secret, _codes = enrolled_admin_with_code(staff)
    account = session.scalar(select(Staff).where(Staff.email == "new@example.org"))
    assert account is not None
    url = f"/staff/accounts/{account.id}/enrol-code"
    admin = staff.login("admin@example.org")[0]
    assert code_step(admin, next_code(secret)).status_code == 302
    shown = post(admin, "/staff/accounts", {}, url)
    assert shown.status_code == 200
    body = shown.get_data(as_text=True)
    code = re.search(r'<code id="enrol-code">([a-z2-7-]+)</code>', body)[1]  # type: ignore[index]
    session.expire_all()
    assert session.scalar(select(Staff.enrol_code_hash).where(Staff.id == account.id)) not in (
        None,
        code,
    )
    assert code not in admin.get("/staff/accounts", **HTTPS).get_data(as_text=True)
    assert ("admin@example.org", "2fa.enrol-code", {"account": "new@example.org"}) in actions(
        session, "2fa"
    )


def cli_enrol_code(staff: StaffActions, email: str) -> str:
    issued = staff.app.test_cli_runner().invoke(args=["staff", "enrol-code", email])
    return re.search(r"\b([a-z2-7]{4}(?:-[a-z2-7]{4}){3})\b", issued.output)[1]  # type: ignore[index]


def enrolled_admin_with_code(staff: StaffActions) -> tuple[str, list[str]]:
    """An admin enrolled where it is required: with a code from the command line."""
    staff.create("admin@example.org", "admin")
    client, _ = staff.login("admin@example.org")
    return enrol(client, cli_enrol_code(staff, "admin@example.org"))


def test_parallel_wrong_codes_are_judged_at_most_the_limit(
    staff: StaffActions, session: Session
) -> None:
    """Twelve wrong codes at once with one ticket: no more than the limit are ever judged."""
    secret, _ = enrolled_admin(staff)
    half = password_step(staff, "admin@example.org")
    ticket = half.get_cookie("session", domain="localhost")
    assert ticket is not None
    clients, tokens = [], []
    for _ in range(12):
        client = staff.client()
        client.set_cookie("session", ticket.value, domain="localhost")
        tokens.append(form_token(client.get("/staff/login/code", **HTTPS).get_data(as_text=True)))
        clients.append(client)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def guess(client: FlaskClient, token: str) -> None:
        barrier.wait()
        data = {"csrf_token": token, "code": "000000"}
        statuses.append(client.post("/staff/login/code", data=data, **HTTPS).status_code)

    threads = [
        threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    judged = statuses.count(401)
    assert sorted(set(statuses)) in ([401, 429], [429]) and len(statuses) == 12
    assert judged <= two_factor.MAX_CODE_FAILURES
    assert len(actions(session, "signin.code-failed")) == judged
    assert code_step(clients[0], next_code(secret)).status_code in (302, 429)


def test_wrong_codes_on_the_enrol_and_disable_pages_count_against_the_limit(
    staff: StaffActions, session: Session
) -> None:
    staff.create("viewer@example.org", "viewer")
    client, _ = staff.login("viewer@example.org")
    secret, _codes = enrol(client)
    page = client.get("/staff/two-factor/enrol", **HTTPS).get_data(as_text=True)
    candidate = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)[1].replace(" ", "")  # type: ignore[index]
    for _ in range(3):
        data = {"password": STAFF_PASSWORD, "current": "000000"}
        data["code"] = pyotp.TOTP(candidate).now()
        assert post(client, "/staff/two-factor/enrol", data).status_code == 400
    for _ in range(2):
        data = {"password": STAFF_PASSWORD, "code": "000000"}
        refused = post(client, "/staff/two-factor", data, "/staff/two-factor/disable")
        assert refused.status_code == 400
    assert len(actions(session, "signin.code-failed")) == two_factor.MAX_CODE_FAILURES
    # now even the right code waits, on every page that asks for one
    data = {"password": STAFF_PASSWORD, "code": next_code(secret)}
    limited = post(client, "/staff/two-factor", data, "/staff/two-factor/disable")
    assert limited.status_code == 429
    other = password_step(staff, "viewer@example.org")
    assert code_step(other, next_code(secret)).status_code == 429
    session.expire_all()
    assert session.scalar(select(Staff.totp_secret)) is not None


def test_a_copied_ticket_dies_when_a_recovery_code_signs_in(staff: StaffActions) -> None:
    _secret, codes = enrolled_admin(staff)
    half = password_step(staff, "admin@example.org")
    cookie = half.get_cookie("session", domain="localhost")
    assert cookie is not None
    copy = staff.client()
    copy.set_cookie("session", cookie.value, domain="localhost")
    assert code_step(half, codes[0]).status_code == 302
    page = copy.get("/staff/login/code", **HTTPS)
    assert (page.status_code, page.headers["Location"]) == (302, "/staff/login")


def test_a_rotated_key_reseals_the_secret_and_seals_are_bound_to_their_account(
    staff: StaffActions, session: Session
) -> None:
    secret, _ = enrolled_admin(staff)
    old = widget_state(staff.app).settings
    rotated = dataclasses.replace(old, secret_keys=("n" * 32, *old.secret_keys))
    new_only = dataclasses.replace(old, secret_keys=("n" * 32,))
    admin = session.scalar(select(Staff).where(Staff.email == "admin@example.org"))
    assert admin is not None and admin.totp_secret is not None
    assert two_factor.open_secret(new_only, admin.totp_secret, admin.id) is None
    now = utcnow() + timedelta(seconds=30)
    assert two_factor.check_second_factor(session, rotated, admin, next_code(secret), now)
    session.commit()
    session.expire_all()
    assert admin.totp_secret is not None and admin.totp_secret.startswith("v2:")
    # sealed again with the first key: the old one can go from the list
    assert two_factor.open_secret(new_only, admin.totp_secret, admin.id) == secret
    # a seal copied onto another account's row does not open there
    assert two_factor.open_secret(new_only, admin.totp_secret, admin.id + 1) is None
    # a seal of before (v1, no account bound) still opens, and is sealed again on use
    nonce = os.urandom(12)
    key = derive_key(new_only.secret_key, "totp-secret/v1")
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), None)
    admin.totp_secret = "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()
    session.commit()
    assert two_factor.open_secret(new_only, admin.totp_secret, admin.id) == secret
    later = now + timedelta(seconds=30)
    code = pyotp.TOTP(secret).at(later)
    assert two_factor.check_second_factor(session, new_only, admin, code, later) == "totp"
    session.commit()
    session.expire_all()
    assert admin.totp_secret.startswith("v2:")
