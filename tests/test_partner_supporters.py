"""``GET /staff/partners/<slug>/supporters.csv`` (issue 14): that partner's consenting, verified
supporters, formula-safe, with a BOM, audited, only from our own pages, never another's."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.models import Audit

from .conftest import StaffActions
from .partners_helpers import (
    HTTPS,
    OTHER,
    PARTNER,
    SAME_ORIGIN,
    add_campaign,
    add_partners,
    add_signature,
    partner_login,
)

CSV = f"/staff/partners/{PARTNER}/supporters.csv"
HEADER = [
    "name",
    "email",
    "country",
    "language",
    "signed_at",
    "confirmed_at",
    "campaign",
    "campaign_reference",
]


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"WIDGET_PUBLIC_URL": "https://localhost", "WIDGET_RATELIMIT_LOGIN": "100 per minute"}


@pytest.fixture(autouse=True)
def partners(app: Flask) -> None:
    add_partners(app)


def exports(session: Session) -> list[tuple[str, dict[str, object]]]:
    session.expire_all()
    rows = session.scalars(select(Audit).where(Audit.action == "partner.export").order_by(Audit.id))
    return [(row.actor, row.details) for row in rows]


def download(browser: FlaskClient, url: str = CSV, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return browser.get(url, headers=headers if headers is not None else SAME_ORIGIN, **HTTPS)


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"))))


def test_the_csv_holds_exactly_the_partners_consenting_verified_supporters(
    staff: StaffActions, session: Session
) -> None:
    add_campaign(session, "second", "UA 2.26")
    add_signature(session, "ayesha@example.org")
    add_signature(
        session,
        "reza@example.org",
        campaign="second",
        name="رضا احمدی",
        country="IR",
        language="fa",
    )
    add_signature(session, "no@example.org", partner_opt_in=False)
    add_signature(session, "pending@example.org", verified=False)
    add_signature(session, "withdrawn@example.org", withdrawn_at=utcnow())
    add_signature(session, "fake@example.org", invalidated_at=utcnow())
    add_signature(session, "old@example.org", anonymised_at=utcnow())
    add_signature(session, "sealed@example.org", sealed="c2VhbGVk", sealed_key="k1")
    add_signature(session, "other@example.org", partner=OTHER)
    add_signature(session, "direct@example.org", partner=None)
    browser = partner_login(staff)
    response = download(browser)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{PARTNER}-supporters-{utcnow():%Y-%m-%d}.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    title_ref = "UA 109.23"
    assert rows_of(response.data) == [
        HEADER,
        [
            "Ayesha Khan",
            "ayesha@example.org",
            "PK",
            "en",
            "2026-11-20 09:30:05",
            "2026-11-20 09:35:05",
            "ua-109-23",
            title_ref,
        ],
        [
            "رضا احمدی",
            "reza@example.org",
            "IR",
            "fa",
            "2026-11-20 09:30:05",
            "2026-11-20 09:35:05",
            "second",
            "UA 2.26",
        ],
    ]
    assert exports(session) == [(f"{PARTNER}@example.org", {"partner": PARTNER, "rows": 2})]


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("https://evil.example")', '\'=HYPERLINK("https://evil.example")'),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\uff1dcmd", "'\uff1dcmd"),
        ('Ayesha, "Ash" Khan', 'Ayesha, "Ash" Khan'),
    ],
)
def test_the_csv_cells_are_formula_safe(
    staff: StaffActions, session: Session, name: str, cell: str
) -> None:
    add_signature(session, "ayesha@example.org", name=name)
    add_signature(session, "=cmd|x@example.org", name="Plain")
    rows = rows_of(download(partner_login(staff)).data)
    assert sorted((row[0], row[1]) for row in rows[1:]) == sorted(
        [(cell, "ayesha@example.org"), ("Plain", "'=cmd|x@example.org")]
    )


def test_an_empty_csv_is_still_audited_with_its_count(
    staff: StaffActions, session: Session
) -> None:
    add_signature(session, "no@example.org", partner_opt_in=False)
    rows = rows_of(download(partner_login(staff)).data)
    assert rows == [HEADER]
    assert exports(session) == [(f"{PARTNER}@example.org", {"partner": PARTNER, "rows": 0})]


def test_an_admin_downloads_any_partners_csv(staff: StaffActions, session: Session) -> None:
    add_signature(session, "other@example.org", partner=OTHER)
    admin = staff.signed_in("admin")
    rows = rows_of(download(admin, f"/staff/partners/{OTHER}/supporters.csv").data)
    assert [row[1] for row in rows] == ["email", "other@example.org"]
    assert exports(session) == [("admin@example.org", {"partner": OTHER, "rows": 1})]
    missing = download(admin, "/staff/partners/no-such-site/supporters.csv")
    assert missing.status_code == 404
    assert len(exports(session)) == 1


def test_another_partners_account_gets_no_csv_and_writes_no_audit(
    staff: StaffActions, session: Session
) -> None:
    add_signature(session, "ayesha@example.org")
    other = partner_login(staff, OTHER)
    response = download(other)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "ayesha@example.org" not in response.get_data(as_text=True)
    assert exports(session) == []


def test_a_viewer_gets_no_csv(staff: StaffActions, session: Session) -> None:
    add_signature(session, "ayesha@example.org")
    response = download(staff.signed_in("viewer"))
    assert response.status_code == 403
    assert exports(session) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Referer": "https://localhost/staff/"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_a_cross_site_request_gets_no_csv_and_writes_no_audit(
    staff: StaffActions, session: Session, headers: dict[str, str]
) -> None:
    add_signature(session, "ayesha@example.org")
    response = download(partner_login(staff), headers=headers)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "<h1>Download from the campaign page</h1>" in response.get_data(as_text=True)
    assert exports(session) == []


@pytest.mark.parametrize(
    "headers", [{"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {}]
)
def test_our_own_page_or_the_address_bar_gets_the_csv(
    staff: StaffActions, session: Session, headers: dict[str, str]
) -> None:
    add_signature(session, "ayesha@example.org")
    response = download(partner_login(staff), headers=headers)
    assert response.status_code == 200
    assert exports(session) == [(f"{PARTNER}@example.org", {"partner": PARTNER, "rows": 1})]


def test_signed_out_the_csv_is_no_page_to_go_on_to(client: FlaskClient, session: Session) -> None:
    response = client.get(CSV, headers=SAME_ORIGIN, **HTTPS)
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/login"
    assert exports(session) == []
