"""An IPv6 host owns a whole /64: rotating addresses inside it buys no fresh budget, no fresh
IP hash in the monitor; and one catch-all domain's subdomains are one sender."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.abuse import ip_hash, recent_activity
from widget.clock import utcnow
from widget.kdf import hkdf_sha256
from widget.models import Campaign, Signature

from .conftest import SECRET, Supporter

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def sign_from(supporter: Supporter, ip: str, email: str):  # type: ignore[no-untyped-def]
    return supporter.client.post(
        "/w/ua-109-23",
        data=supporter.form(email=email),
        headers=SAME_ORIGIN,
        environ_base={"REMOTE_ADDR": ip},
    )


def in_one_64(n: int) -> str:
    """The n-th address a host picks inside its 2001:db8:1:2::/64."""
    return f"2001:db8:1:2:{n:x}:{n * 7:x}::{n + 1:x}"


def stored_hashes(session: Session) -> list[str | None]:
    session.expire_all()
    return list(session.scalars(select(Signature.ip_hash).order_by(Signature.id)))


def test_rotating_inside_one_64_hits_the_sign_limit_like_one_address(
    supporter: Supporter, session: Session
) -> None:
    statuses = [
        sign_from(supporter, in_one_64(n), f"p{n}@example.org").status_code for n in range(40)
    ]
    assert statuses == [200] * 10 + [429] * 30
    assert sign_from(supporter, "2001:db8:1:3::1", "other@example.org").status_code == 200
    hashes = stored_hashes(session)
    assert len(hashes) == 11
    assert set(hashes[:10]) == {ip_hash(SECRET, in_one_64(0))}
    assert hashes[10] != hashes[0]


def test_an_ipv4_mapped_address_is_the_ipv4_address(supporter: Supporter, session: Session) -> None:
    for n in range(5):
        sign_from(supporter, "203.0.113.7", f"p{n}@example.org")
    for n in range(5, 10):
        sign_from(supporter, "::ffff:203.0.113.7", f"p{n}@example.org")
    assert sign_from(supporter, "::ffff:203.0.113.7", "p10@example.org").status_code == 429
    assert set(stored_hashes(session)) == {ip_hash(SECRET, "203.0.113.7")}


def test_ipv4_addresses_keep_their_own_budgets(supporter: Supporter, session: Session) -> None:
    statuses = {
        sign_from(supporter, f"198.51.100.{n}", f"p{n}@example.org").status_code for n in range(12)
    }
    assert statuses == {200}
    assert len(set(stored_hashes(session))) == 12


@pytest.mark.parametrize("settings_env", [{"WIDGET_IPV6_PREFIX": "56"}])
def test_the_prefix_is_a_setting(supporter: Supporter) -> None:
    # 2001:db8:1:200::/56 holds 256 /64s; a host given one of those blocks uses them all
    statuses = [
        sign_from(supporter, f"2001:db8:1:2{n:02x}::1", f"p{n}@example.org").status_code
        for n in range(11)
    ]
    assert statuses == [200] * 10 + [429]
    assert sign_from(supporter, "2001:db8:1:300::1", "q@example.org").status_code == 200


def test_opening_links_is_limited_per_64(client: FlaskClient) -> None:
    statuses = [
        client.get(f"/v/guess-{n}", environ_base={"REMOTE_ADDR": in_one_64(n)}).status_code
        for n in range(31)
    ]
    assert statuses == [400] * 30 + [429]
    other = client.get("/v/guess", environ_base={"REMOTE_ADDR": "2001:db8:9::1"})
    assert other.status_code == 400


def test_staff_sign_in_is_limited_per_64(app: Flask) -> None:
    client = app.test_client()
    statuses = [
        client.post(
            "/staff/login",
            data={"email": f"x{n}@example.org", "password": "guess"},
            base_url="https://localhost",
            environ_base={"REMOTE_ADDR": in_one_64(n)},
        ).status_code
        for n in range(6)
    ]
    assert statuses[-1] == 429
    assert 429 not in statuses[:5]


def test_the_monitor_shows_one_64_as_one_group(supporter: Supporter, session: Session) -> None:
    for n in range(6):
        sign_from(supporter, in_one_64(n), f"p{n}@example.org")
    campaign = session.scalars(select(Campaign)).one()
    now = utcnow()
    report = recent_activity(session, campaign, now - timedelta(hours=1), now + timedelta(1))
    assert [(g.key, g.signatures, g.unusual) for g in report.by_ip] == [
        (ip_hash(SECRET, "2001:db8:1:2::"), 6, True)
    ]


@pytest.mark.parametrize("settings_env", [{"WIDGET_RATELIMIT_SIGN": "100/minute"}])
def test_the_monitor_groups_a_catch_all_by_its_registrable_domain(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    for n in range(12):
        sign_from(supporter, f"198.51.100.{n}", f"x@a{n}.spam.example")
    sign_from(supporter, "198.51.100.99", "x@mail.spam.co.uk")
    sign_from(supporter, "198.51.100.98", "x@notspam.example")
    campaign = session.scalars(select(Campaign)).one()
    now = utcnow()
    report = recent_activity(session, campaign, now - timedelta(hours=1), now + timedelta(1))
    assert [(g.key, g.signatures, g.unusual) for g in report.by_domain] == [
        ("spam.example", 12, True),
        ("spam.co.uk", 1, False),
        ("notspam.example", 1, False),
    ]
    runner = app.test_cli_runner()
    done = runner.invoke(args=["invalidate", "ua-109-23", "--domain", "SPAM.example", "--apply"])
    assert done.output.startswith("Invalidated 0 verified signatures (no actions) and 12 pending")
    session.expire_all()
    left = session.scalars(select(Signature.email).where(Signature.invalidated_at.is_(None)))
    assert sorted(left) == ["x@mail.spam.co.uk", "x@notspam.example"]


# --- the IP hash's key ---------------------------------------------------------------------------


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    okm = hkdf_sha256(b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)))
    assert okm.hex() == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"


def test_the_ip_hash_key_is_derived_for_that_purpose_alone(
    supporter: Supporter, session: Session
) -> None:
    sign_from(supporter, "203.0.113.7", "p@example.org")
    [stored] = stored_hashes(session)
    key = hkdf_sha256(SECRET.encode(), b"action-widget/hkdf/v1", b"action-widget/ip-hash/v1")
    assert stored == hmac.new(key, b"203.0.113.7", hashlib.sha256).hexdigest()[:32]
    old_key = hashlib.sha256(f"action-widget.ip-hash:{SECRET}".encode()).digest()
    assert stored != hmac.new(old_key, b"203.0.113.7", hashlib.sha256).hexdigest()[:32]


def test_the_ip_hash_is_the_same_in_another_process() -> None:
    code = f"from widget.abuse import ip_hash; print(ip_hash({SECRET!r}, '2001:db8:1:2::99'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert other.stdout.strip() == ip_hash(SECRET, in_one_64(3))
