"""Malformed and cross-site requests to the staff area: a 4xx with a staff page, never a 500;
the signatures CSV only for our own pages."""

from __future__ import annotations

import html
import io
from itertools import count

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.campaigns import SLUG
from widget.models import Audit

from .conftest import STAFF_PASSWORD, StaffActions, form_token
from .test_staff import EDITOR_FORM, HTTPS, get, post

CSV = "/staff/campaigns/ua-109-23/signatures.csv"
STAFF_PAGE = "action-widget · staff"


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Served over HTTPS as in production: our pages' origin is ``https://localhost``."""
    return {"WIDGET_PUBLIC_URL": "https://localhost"}


def exports(session: Session) -> int:
    session.expire_all()
    return len(session.scalars(select(Audit).where(Audit.action == "export")).all())


# --- the signatures CSV ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Referer": "https://localhost/staff/"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://[::1"},
    ],
)
def test_a_cross_site_request_gets_no_csv_and_writes_no_audit(
    staff: StaffActions, session: Session, headers: dict[str, str]
) -> None:
    admin = staff.signed_in()
    response = admin.get(CSV, headers=headers, **HTTPS)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "<h1>Download from the campaign page</h1>" in response.get_data(as_text=True)
    assert exports(session) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Referer": "https://localhost/staff/campaigns/x"},
        {"Sec-Fetch-Site": "none"},
        {"Referer": "https://localhost/staff/campaigns/ua-109-23"},
        {},
    ],
)
def test_our_own_download_form_gets_the_csv(
    staff: StaffActions, session: Session, headers: dict[str, str]
) -> None:
    admin = staff.signed_in()
    with admin.get(CSV, headers=headers, **HTTPS) as response:
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
    assert exports(session) == 1


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Referer": "https://evil.example/page"},
]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_cross_site_link_while_signed_out_is_not_kept_for_after_sign_in(
    staff: StaffActions, session: Session, headers: dict[str, str]
) -> None:
    staff.create("admin@example.org")
    browser = staff.client()
    followed = browser.get(CSV, headers=headers, **HTTPS)
    assert followed.status_code == 403
    assert "Location" not in followed.headers
    assert "<h1>Download from the campaign page</h1>" in followed.get_data(as_text=True)
    _, signed_in = staff.login("admin@example.org", client=browser)
    assert signed_in.headers["Location"] == "/staff/"
    after = browser.get("/staff/", headers={"Sec-Fetch-Site": "same-origin"}, **HTTPS)
    assert after.status_code == 200
    assert after.mimetype == "text/html"
    assert exports(session) == 0


def test_a_signed_out_request_for_the_csv_signs_in_to_the_dashboard(
    staff: StaffActions, session: Session
) -> None:
    staff.create("admin@example.org")
    browser = staff.client()
    typed = browser.get(CSV, headers={"Sec-Fetch-Site": "none"}, **HTTPS)
    assert typed.status_code == 302
    assert typed.headers["Location"] == "/staff/login"
    page = browser.get(f"/staff/login?next={CSV}", **HTTPS).get_data(as_text=True)
    response = browser.post(
        f"/staff/login?next={CSV}",
        data={
            "csrf_token": form_token(page),
            "email": "admin@example.org",
            "password": STAFF_PASSWORD,
        },
        **HTTPS,
    )
    assert response.headers["Location"] == "/staff/"
    assert exports(session) == 0


def test_a_signed_out_plain_page_is_kept_for_after_sign_in(staff: StaffActions) -> None:
    response = staff.client().get("/staff/campaigns/ua-109-23/report", **HTTPS)
    assert response.headers["Location"] == ("/staff/login?next=/staff/campaigns/ua-109-23/report?")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Referer": "https://evil.example/staff/"},
        {"Referer": "https://evil.example/staff/campaigns/ua-109-23"},
    ],
)
def test_a_forged_host_does_not_make_its_own_pages_ours(
    staff: StaffActions, session: Session, headers: dict[str, str]
) -> None:
    admin = staff.signed_in()
    response = admin.get(CSV, headers={"Host": "evil.example", **headers}, **HTTPS)
    assert response.status_code == 403
    assert "<h1>Download from the campaign page</h1>" in response.get_data(as_text=True)
    assert exports(session) == 0


def test_the_campaign_page_downloads_with_a_same_origin_form(staff: StaffActions) -> None:
    page = get(staff.signed_in(), "/staff/campaigns/ua-109-23").get_data(as_text=True)
    assert f'<form method="get" action="{CSV}" class="inline export">' in page
    assert "Download CSV" in page


# --- malformed requests ---------------------------------------------------------------------------


def test_a_line_break_in_next_after_a_good_password_goes_to_the_dashboard(
    staff: StaffActions,
) -> None:
    staff.create("admin@example.org")
    client = staff.client()
    page = client.get("/staff/login", **HTTPS).get_data(as_text=True)
    response = client.post(
        "/staff/login?next=/staff/%0d%0aSet-Cookie:%20x=1",
        data={
            "csrf_token": form_token(page),
            "email": "admin@example.org",
            "password": STAFF_PASSWORD,
        },
        **HTTPS,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"


@pytest.mark.parametrize("hours", ["nan", "NaN", "inf", "-inf", "-1", "0", "1e400", "721", "x"])
def test_the_abuse_monitor_refuses_a_time_span_it_cannot_use(
    staff: StaffActions, hours: str
) -> None:
    response = get(staff.signed_in(), f"/staff/campaigns/ua-109-23/activity?hours={hours}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<h1>Bad time span</h1>" in page
    assert "Give the hours as a number from 0.25 to 720." in page


@pytest.mark.parametrize("hours", ["0.25", "1", "720"])
def test_the_abuse_monitor_shows_a_usable_time_span(staff: StaffActions, hours: str) -> None:
    assert (
        get(staff.signed_in(), f"/staff/campaigns/ua-109-23/activity?hours={hours}").status_code
        == 200
    )


@pytest.mark.parametrize(
    ("goal", "message"),
    [
        ("99999999999999999999", "goal: must be at most 2,147,483,647"),
        ("2147483648", "goal: must be at most 2,147,483,647"),
        ("ten", "Not a valid integer value."),
    ],
)
def test_the_editor_refuses_a_goal_the_database_cannot_hold(
    staff: StaffActions, goal: str, message: str
) -> None:
    form = {**EDITOR_FORM, "goal": goal}
    response = post(staff.signed_in(), "/staff/campaigns/ua-109-23/edit", form)
    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))


BAD_VALUES = [
    "\x00",
    "a\x00b",
    "line\r\nbreak",
    "x" * 20_000,
    "-1",
    "1e400",
    "nan",
    "😀",
    "%00",
    "'; DROP TABLE staff; --",
]
FILE = object()  # stands for a file uploaded into a text field
FORMS = {
    "/staff/campaigns/new": [
        "slug",
        "reference",
        "title",
        "summary",
        "ask",
        "sample_letter",
        "additional_info",
        "deadline_note",
        "goal",
        "closes_at",
        "languages",
        "allowed_origins",
        "targets",
        "actions",
        "upload",
    ],
    "/staff/campaigns/ua-109-23/edit": ["title", "goal", "closes_at", "targets", "actions"],
    "/staff/partners/new": ["slug", "name", "origins", "active"],
    "/staff/password": ["current", "new", "again"],
    "/staff/erase/confirm": ["email"],
}
QUERIES = {
    CSV: ["since", "partner", "opted_in"],
    "/staff/campaigns/ua-109-23/activity": ["hours"],
    "/staff/embed": ["campaign", "partner", "lang", "theme", "accent"],
    "/staff/erase": ["email"],
}
PATHS = [
    "/staff/campaigns/{}",
    "/staff/campaigns/{}/report",
    "/staff/campaigns/{}/edit",
    "/staff/campaigns/{}/activity",
    "/staff/campaigns/{}/signatures.csv",
    "/staff/partners/{}",
]

addresses = count(1)


def query_status(url: str, param: str, value: str) -> int:
    """What a staff page answers to ``?param=value``: NUL is refused at the door; a filter the
    page cannot use is a 400 with its message; a value a page only shows back (the embed
    generator's choices) or takes as a yes, or ignores (the erase page searches by POST only), is no
    error."""
    if url == CSV and param == "partner" and SLUG.fullmatch(value):
        return 200  # a well-formed slug: the CSV of no partner's signatures
    refused = (f"{CSV}?since", f"{CSV}?partner")
    if "\x00" in value or f"{url}?{param}" in refused or url.endswith("/activity"):
        return 400
    return 200


def assert_staff_answer(response, what: str) -> None:  # type: ignore[no-untyped-def]
    assert 400 <= response.status_code < 500, (what, response.status_code)
    assert response.mimetype == "text/html", what
    assert STAFF_PAGE in response.get_data(as_text=True), what


def environ() -> dict[str, object]:
    """Each request from its own address, so the sign-in limits do not answer first."""
    n = next(addresses)
    return {"environ_base": {"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}}


@pytest.mark.parametrize("url", list(FORMS))
def test_no_staff_form_answers_500_to_malformed_fields(staff: StaffActions, url: str) -> None:
    admin = staff.signed_in()
    token = form_token(get(admin, "/staff/").get_data(as_text=True))
    for field in FORMS[url]:
        for value in [*BAD_VALUES, FILE]:
            data: dict[str, object] = {"csrf_token": token}
            data[field] = (io.BytesIO(b"\x00\xff"), "f.toml") if value is FILE else value
            response = admin.post(
                url, data=data, content_type="multipart/form-data", **HTTPS, **environ()
            )
            assert_staff_answer(response, f"{url} {field}={value!r:.40}")
            response.close()


def test_sign_in_answers_no_500_to_malformed_fields(app: Flask, staff: StaffActions) -> None:
    staff.create("admin@example.org")
    client = app.test_client()
    token = form_token(client.get("/staff/login", **HTTPS).get_data(as_text=True))
    for field in ("email", "password"):
        for value in [*BAD_VALUES, FILE]:
            data: dict[str, object] = {
                "csrf_token": token,
                "email": "a@example.org",
                "password": "p",
            }
            data[field] = (io.BytesIO(b"\x00"), "f.txt") if value is FILE else value
            response = client.post(
                "/staff/login", data=data, content_type="multipart/form-data", **HTTPS, **environ()
            )
            assert_staff_answer(response, f"login {field}={value!r:.40}")
    for value in BAD_VALUES:
        response = client.get("/staff/login", query_string={"next": value}, **HTTPS)
        # the sign-in page shows whatever ``next`` says; only a NUL is refused at the door
        expected = 400 if "\x00" in value else 200
        assert (response.status_code, STAFF_PAGE in response.get_data(as_text=True)) == (
            expected,
            True,
        ), f"login next={value!r:.40}"


def test_no_staff_query_or_path_answers_500(staff: StaffActions, client: FlaskClient) -> None:
    admin = staff.signed_in()
    for url, params in QUERIES.items():
        for param in params:
            for value in BAD_VALUES:
                with admin.get(url, query_string={param: value}, **HTTPS) as response:
                    what = f"{url}?{param}={value!r:.40}"
                    expected = query_status(url, param, value)
                    assert response.status_code == expected, (what, response.status_code)
                    if expected != 200 or response.mimetype == "text/html":
                        assert STAFF_PAGE in response.get_data(as_text=True), what
    for path in PATHS:
        for value in ["x" * 300, "%F0%9F%98%80", "UA-109-23", "new-"]:
            with admin.get(path.format(value), **HTTPS) as response:
                assert response.status_code == 404, path.format(value)
                assert STAFF_PAGE in response.get_data(as_text=True)


def bad_request(response) -> None:  # type: ignore[no-untyped-def]
    """The staff area's one answer to a NUL byte anywhere: 400 with its own page."""
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert STAFF_PAGE in page
    assert "<h1>Bad request</h1>" in page


@pytest.mark.parametrize("path", [p.format(v) for p in PATHS for v in ("%00", "a%00b")])
def test_a_nul_byte_in_a_staff_path_is_refused_at_the_door(staff: StaffActions, path: str) -> None:
    bad_request(staff.signed_in().get(path, **HTTPS))


@pytest.mark.parametrize(
    ("url", "param"), [(url, param) for url, params in QUERIES.items() for param in params]
)
def test_a_nul_byte_in_a_staff_query_is_refused_at_the_door(
    staff: StaffActions, session: Session, url: str, param: str
) -> None:
    bad_request(staff.signed_in().get(url, query_string={param: "a\x00b"}, **HTTPS))
    assert exports(session) == 0


@pytest.mark.parametrize("field", ["email", "password", "csrf_token"])
def test_a_nul_byte_in_the_sign_in_form_is_refused_at_the_door(
    staff: StaffActions, field: str
) -> None:
    staff.create("admin@example.org")
    client = staff.client()
    page = client.get("/staff/login", **HTTPS).get_data(as_text=True)
    data = {"csrf_token": form_token(page), "email": "admin@example.org"}
    data["password"] = STAFF_PASSWORD
    data[field] = data[field] + "\x00"
    bad_request(client.post("/staff/login", data=data, **HTTPS))
    bad_request(client.get("/staff/login", query_string={"next": "/staff/\x00"}, **HTTPS))
