"""Partner accounts (issue 14): created from the command line or by an admin on the partner's
page, they open only their own partner's pages; every other staff URL and method is a 403."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.models import Audit, Campaign, Partner, Staff
from widget.views.staff import PARTNER_PAGES

from .conftest import STAFF_PASSWORD, StaffActions, form_token
from .partners_helpers import (
    HTTPS,
    INACTIVE,
    OTHER,
    PARTNER,
    SAME_ORIGIN,
    add_campaign,
    add_partners,
    add_signature,
    partner_login,
)

NOT_YOURS = "This page is not part of your partner account."
#: what a partner account may open, and what each answers it
ALLOWED = {
    "staff.login",
    "staff.logout",
    "staff.dashboard",
    "staff.password",
    "staff.embed_code",
    "staff.partner_home",
    "staff.partner_supporters_csv",
    # a partner account may have a second factor of its own (tests/test_two_factor.py)
    "staff.login_code",
    "staff.two_factor_page",
    "staff.two_factor_enrol",
    "staff.two_factor_disable",
}
#: pages of the partner's own keys and webhooks (their scoping is tested in
#: tests/test_api_keys.py and tests/test_webhook_staff.py): open, never refused
OWN_TOOLS = {
    "staff.api_keys",
    "staff.revoke_api_key",
    "staff.webhook_list",
    "staff.webhook_add",
    "staff.webhook_pause",
    "staff.webhook_resume",
    "staff.webhook_rotate",
    "staff.webhook_replay",
}


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Served over HTTPS as in production; the walk signs in and posts more than 5 times."""
    return {"WIDGET_PUBLIC_URL": "https://localhost", "WIDGET_RATELIMIT_LOGIN": "100 per minute"}


@pytest.fixture(autouse=True)
def partners(app: Flask) -> None:
    add_partners(app)


def audits(session: Session, action: str) -> list[tuple[str, dict[str, object]]]:
    session.expire_all()
    rows = session.scalars(select(Audit).where(Audit.action == action).order_by(Audit.id))
    return [(row.actor, row.details) for row in rows]


def accounts(session: Session) -> list[tuple[str, str, str | None, bool]]:
    session.expire_all()
    rows = session.execute(
        select(Staff.email, Staff.role, Partner.slug, Staff.active)
        .outerjoin(Partner, Staff.partner_id == Partner.id)
        .order_by(Staff.email)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


# --- the command line ---------------------------------------------------------------------------


def test_staff_create_makes_a_partner_account_and_audits_it(app: Flask, session: Session) -> None:
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "Desk@News.example", "--role", "partner", "--partner", PARTNER],
        input="a long enough password\n",
    )
    assert (result.exit_code, result.output) == (
        0,
        "Created partner desk@news.example of partner news-site.\n",
    )
    assert accounts(session) == [("desk@news.example", "partner", PARTNER, True)]
    [(actor, details)] = audits(session, "staff.create")
    assert actor.startswith("cli:")
    assert details == {"account": "desk@news.example", "role": "partner", "partner": PARTNER}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--role", "partner", "--partner", "no-such-site"], "no partner 'no-such-site'"),
        (["--role", "partner", "--partner", INACTIVE], f"partner '{INACTIVE}' is inactive"),
        (["--role", "partner", "--partner", "NEWS-SITE"], "no partner 'NEWS-SITE'"),
        # a look-alike: Cyrillic ie (U+0435) for the e of "news-site"
        (["--role", "partner", "--partner", "n\u0435ws-site"], "no partner 'n\u0435ws-site'"),
        (["--role", "partner", "--partner", "x" * 5000], "no partner '" + "x" * 69),
        (["--role", "partner", "--partner", ""], "--role partner needs --partner SLUG"),
        (["--role", "partner"], "--role partner needs --partner SLUG"),
        (["--partner", PARTNER], "--partner is only for --role partner"),
        (["--role", "viewer", "--partner", PARTNER], "--partner is only for --role partner"),
    ],
)
def test_staff_create_refuses_a_partner_account_given_wrong(
    app: Flask, session: Session, options: list[str], message: str
) -> None:
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "desk@news.example", *options], input="a long enough password\n"
    )
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output) < 300
    assert accounts(session) == []
    assert audits(session, "staff.create") == []


# --- scoping: every staff URL and method ----------------------------------------------------------


def rule_urls(app: Flask, account_id: int) -> list[tuple[str, str, str]]:
    """(endpoint, URL, method) for every staff rule and method it accepts; a partner's slug in
    partner URLs is the account's own, so only scoping (not a missing partner) can refuse."""
    found = []
    with app.test_request_context(base_url="https://localhost"):
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("staff."):
                continue
            values: dict[str, object] = {}
            if "slug" in rule.arguments:
                partners_url = rule.rule.startswith("/staff/partners/")
                values["slug"] = PARTNER if partners_url else "ua-109-23"
            if "account_id" in rule.arguments:
                values["account_id"] = account_id
            for name in ("key_id", "webhook_id", "entry_id"):
                if name in rule.arguments:
                    values[name] = 1
            url = url_for(rule.endpoint, **values)
            assert url.count("/") == rule.rule.count("/"), (url, rule.rule)
            found += [(rule.endpoint, url, method) for method in sorted(rule.methods or ())]
    # signing out last: it ends the session the walk runs in
    return sorted(found, key=lambda item: item[0] == "staff.logout")


def test_a_partner_account_is_refused_every_staff_url_and_method_but_its_own(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    add_signature(session, "ayesha@example.org")
    browser = partner_login(staff)
    account_id = session.scalar(select(Staff.id).where(Staff.role == "partner"))
    token = form_token(browser.get("/staff/password", **HTTPS).get_data(as_text=True))
    assert {f"staff.{name}" for name in ("login", "logout")} <= PARTNER_PAGES
    assert PARTNER_PAGES == ALLOWED | OWN_TOOLS
    walked = set()
    for endpoint, url, method in rule_urls(app, account_id or 0):
        data = {"csrf_token": token} if method == "POST" else None
        response = browser.open(url, method=method, data=data, headers=SAME_ORIGIN, **HTTPS)
        body = response.get_data(as_text=True)
        walked.add(endpoint)
        where = f"{method} {url}"
        if endpoint in OWN_TOOLS:
            assert response.status_code in (200, 302, 400, 404), where
            assert "ayesha@example.org" not in body, where
            continue
        if endpoint not in ALLOWED:
            assert response.status_code == 403, where
            if method != "HEAD":
                assert NOT_YOURS in html.unescape(body), where
            assert "ayesha@example.org" not in body, where
            continue
        if method == "OPTIONS":
            assert response.status_code == 200, where
            continue
        expected = {
            ("staff.login", "POST"): 400,
            ("staff.password", "POST"): 400,
            # signed in already, with no password step pending: back to the sign-in page
            ("staff.login_code", "GET"): 302,
            ("staff.login_code", "HEAD"): 302,
            ("staff.login_code", "POST"): 302,
            ("staff.two_factor_enrol", "POST"): 400,
            ("staff.two_factor_disable", "POST"): 400,
            ("staff.logout", "POST"): 302,
            ("staff.dashboard", "GET"): 302,
            ("staff.dashboard", "HEAD"): 302,
        }.get((endpoint, method), 200)
        assert response.status_code == expected, where
    assert walked >= ALLOWED | OWN_TOOLS
    assert len(walked) > len(ALLOWED) + 10
    # the walk ended with signing out
    assert browser.get("/staff/password", **HTTPS).status_code == 302


@pytest.mark.parametrize(
    ("slug", "status"),
    [
        (OTHER, 403),
        (INACTIVE, 403),
        ("no-such-site", 403),
        ("NEWS-SITE", 403),
        ("news-site%20", 403),
        ("news-site%00", 400),  # refused as malformed before anything else
    ],
)
@pytest.mark.parametrize("page", ["/home", "/supporters.csv", ""])
def test_a_partner_account_never_sees_another_partners_page(
    staff: StaffActions, session: Session, slug: str, status: int, page: str
) -> None:
    add_signature(session, "other@example.org", partner=OTHER)
    browser = partner_login(staff)
    response = browser.get(f"/staff/partners/{slug}{page}", headers=SAME_ORIGIN, **HTTPS)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert "other@example.org" not in response.get_data(as_text=True)
    assert audits(session, "partner.export") == []


def test_an_admin_opens_every_staff_page(app: Flask, staff: StaffActions, session: Session) -> None:
    admin = staff.signed_in("admin")
    partner_login(staff)
    account_id = session.scalar(select(Staff.id).where(Staff.role == "partner"))
    for endpoint, url, method in rule_urls(app, account_id or 0):
        if method != "GET":
            continue
        response = admin.get(url, headers=SAME_ORIGIN, **HTTPS)
        assert response.status_code in (200, 302), (endpoint, url, response.status_code)


def test_a_viewer_keeps_its_pages_and_gets_no_partner_data(staff: StaffActions) -> None:
    viewer = staff.signed_in("viewer")
    for url in ("/staff/", "/staff/embed", "/staff/password", "/staff/partners"):
        assert viewer.get(url, **HTTPS).status_code == 200, url
    for url in (f"/staff/partners/{PARTNER}/home", f"/staff/partners/{PARTNER}/supporters.csv"):
        response = viewer.get(url, headers=SAME_ORIGIN, **HTTPS)
        assert response.status_code == 403, url
        assert "This page is for admins." in html.unescape(response.get_data(as_text=True))


# --- the partner's own pages ----------------------------------------------------------------------


def test_signing_in_takes_a_partner_to_its_page(staff: StaffActions) -> None:
    browser = partner_login(staff)
    dashboard = browser.get("/staff/", **HTTPS)
    assert dashboard.status_code == 302
    assert dashboard.headers["Location"] == f"/staff/partners/{PARTNER}/home"
    page = browser.get(dashboard.headers["Location"], **HTTPS).get_data(as_text=True)
    assert "<h1>News Site</h1>" in page
    nav = page[page.index('<nav aria-label="Staff">') : page.index("</nav>")]
    assert re.findall(r'href="([^"]+)"', nav) == [
        f"/staff/partners/{PARTNER}/home",
        "/staff/embed",
        "/staff/keys",
        "/staff/webhooks",
        "/staff/password",
        "/staff/two-factor",
    ]
    assert f'href="/staff/partners/{PARTNER}/supporters.csv"' in page


def test_the_partner_page_counts_only_its_partners_verified_signatures(
    staff: StaffActions, session: Session
) -> None:
    add_campaign(session, "second", "UA 2.26")
    add_signature(session, "a@example.org")
    add_signature(session, "b@example.org", partner_opt_in=False)
    add_signature(session, "c@example.org", campaign="second")
    add_signature(session, "pending@example.org", verified=False)
    add_signature(session, "withdrawn@example.org", withdrawn_at=utcnow())
    add_signature(session, "fake@example.org", invalidated_at=utcnow())
    add_signature(session, "other@example.org", partner=OTHER)
    add_signature(session, "direct@example.org", partner=None)
    browser = partner_login(staff)
    page = browser.get(f"/staff/partners/{PARTNER}/home", **HTTPS).get_data(as_text=True)
    rows = re.findall(
        r'<tr>\s*<td>([^<]+)<br>.*?</td>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>',
        html.unescape(page),
    )
    title = session.scalars(select(Campaign.title).where(Campaign.slug == "ua-109-23")).one()
    assert rows == [("UA 2.26 · Campaign UA 2.26", "1", "1"), (f"UA 109.23 · {title}", "2", "1")]
    assert "a@example.org" not in page


def test_the_embed_generator_makes_codes_for_the_partners_own_slug_only(
    staff: StaffActions,
) -> None:
    browser = partner_login(staff)
    page = browser.get("/staff/embed", **HTTPS).get_data(as_text=True)
    select_box = page[
        page.index('<select id="partner"') : page.index(
            "</select>", page.index('<select id="partner"')
        )
    ]
    assert re.findall(r'<option value="([^"]*)"', select_box) == [PARTNER]
    assert f'data-partner="{PARTNER}"' in html.unescape(page)
    assert f"?partner={PARTNER}" in html.unescape(page)
    own = browser.get(f"/staff/embed?partner={PARTNER}&campaign=ua-109-23", **HTTPS)
    assert own.status_code == 200
    for other in (OTHER, INACTIVE, "no-such-site", f"{PARTNER} ", "News-Site"):
        refused = browser.get("/staff/embed", query_string={"partner": other}, **HTTPS)
        assert refused.status_code == 403, other
        assert NOT_YOURS in html.unescape(refused.get_data(as_text=True))
    empty = browser.get("/staff/embed?partner=", **HTTPS)
    assert empty.status_code == 403


def test_an_admins_embed_generator_still_offers_every_active_partner(
    staff: StaffActions,
) -> None:
    admin = staff.signed_in("admin")
    page = admin.get(f"/staff/embed?partner={OTHER}", **HTTPS).get_data(as_text=True)
    select_box = page[
        page.index('<select id="partner"') : page.index(
            "</select>", page.index('<select id="partner"')
        )
    ]
    assert re.findall(r'<option value="([^"]*)"', select_box) == ["", PARTNER, OTHER]
    assert f'data-partner="{OTHER}"' in html.unescape(page)


def test_a_partner_account_changes_its_password(staff: StaffActions) -> None:
    browser = partner_login(staff)
    token = form_token(browser.get("/staff/password", **HTTPS).get_data(as_text=True))
    new = "a brand new partner password"
    response = browser.post(
        "/staff/password",
        data={"csrf_token": token, "current": STAFF_PASSWORD, "new": new, "again": new},
        **HTTPS,
    )
    assert response.status_code == 200
    assert "Your password is changed." in response.get_data(as_text=True)
    assert browser.get(f"/staff/partners/{PARTNER}/home", **HTTPS).status_code == 200
    _client, old = staff.login(f"{PARTNER}@example.org")
    assert old.status_code == 401
    _client, fresh = staff.login(f"{PARTNER}@example.org", new)
    assert fresh.status_code == 302


# --- accounts from the staff area -----------------------------------------------------------------


def post_form(browser: FlaskClient, page: str, url: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    token = form_token(browser.get(page, **HTTPS).get_data(as_text=True))
    return browser.post(url, data={"csrf_token": token, **data}, **HTTPS)


ACCOUNTS = f"/staff/partners/{PARTNER}/accounts"


def test_an_admin_creates_a_partner_account_on_the_partners_page(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    page = admin.get(f"/staff/partners/{PARTNER}", **HTTPS).get_data(as_text=True)
    assert "No accounts yet." in page
    response = post_form(
        admin, f"/staff/partners/{PARTNER}", ACCOUNTS, {"email": "Desk@News.example"}
    )
    assert response.status_code == 200
    shown = response.get_data(as_text=True)
    password = re.search(r'<code class="secret">([^<]+)</code>', shown)
    assert password and len(password.group(1)) == 20
    assert accounts(session) == [
        ("admin@example.org", "admin", None, True),
        ("desk@news.example", "partner", PARTNER, True),
    ]
    assert audits(session, "staff.create") == [
        (
            "admin@example.org",
            {"account": "desk@news.example", "role": "partner", "partner": PARTNER},
        )
    ]
    _browser, signed_in = staff.login("desk@news.example", html.unescape(password.group(1)))
    assert signed_in.status_code == 302
    listed = admin.get(f"/staff/partners/{PARTNER}", **HTTPS).get_data(as_text=True)
    assert "<td>desk@news.example</td><td>active</td>" in listed


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Give the email address of the new account."),
        ("not an address", "Give the email address of the new account."),
        ("admin@example.org", "Admin@example.org already has an account."),
        ("ADMIN@example.org", "Admin@example.org already has an account."),
        ("a" * 250 + "@example.org", "Give the email address of the new account."),
        ("desk@news.example\n", "Give the email address of the new account."),
        ("dësk@news.example\u202e", "Give the email address of the new account."),
    ],
)
def test_a_partner_account_is_not_created_from_a_wrong_address(
    staff: StaffActions, session: Session, email: str, message: str
) -> None:
    admin = staff.signed_in("admin")
    response = post_form(admin, f"/staff/partners/{PARTNER}", ACCOUNTS, {"email": email})
    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))
    assert [a[0] for a in accounts(session)] == ["admin@example.org"]
    assert audits(session, "staff.create") == []


def test_creating_an_account_needs_the_form_token_an_admin_and_an_active_partner(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    forged = admin.post(ACCOUNTS, data={"email": "desk@news.example"}, **HTTPS)
    assert forged.status_code == 400
    replayed = admin.post(
        ACCOUNTS, data={"email": "desk@news.example", "csrf_token": "x" * 40}, **HTTPS
    )
    assert replayed.status_code == 400
    inactive = post_form(
        admin, "/staff/password", f"/staff/partners/{INACTIVE}/accounts", {"email": "d@e.org"}
    )
    assert inactive.status_code == 400
    assert f"Partner '{INACTIVE}' is inactive" in html.unescape(inactive.get_data(as_text=True))
    unknown = post_form(
        admin, "/staff/password", "/staff/partners/nope/accounts", {"email": "d@e.org"}
    )
    assert unknown.status_code == 404
    viewer = staff.signed_in("viewer")
    refused = post_form(viewer, "/staff/password", ACCOUNTS, {"email": "desk@news.example"})
    assert refused.status_code == 403
    assert [a[0] for a in accounts(session)] == ["admin@example.org", "viewer@example.org"]


def test_an_admin_deactivates_a_partner_account_and_signs_it_out(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    partner = partner_login(staff)
    other = partner_login(staff, OTHER)
    account_id = session.scalar(select(Staff.id).where(Staff.email == f"{PARTNER}@example.org"))
    page = f"/staff/partners/{PARTNER}"
    wrong_partner = post_form(
        admin, page, f"/staff/partners/{OTHER}/accounts/{account_id}/deactivate", {}
    )
    assert wrong_partner.status_code == 404
    no_token = admin.post(f"{ACCOUNTS}/{account_id}/deactivate", **HTTPS)
    assert no_token.status_code == 400
    assert partner.get(f"{page}/home", **HTTPS).status_code == 200
    done = post_form(admin, page, f"{ACCOUNTS}/{account_id}/deactivate", {})
    assert done.status_code == 200
    assert partner.get(f"{page}/home", **HTTPS).status_code == 302
    assert other.get(f"/staff/partners/{OTHER}/home", **HTTPS).status_code == 200
    _browser, again = staff.login(f"{PARTNER}@example.org")
    assert again.status_code == 401
    assert audits(session, "staff.deactivate") == [
        (
            "admin@example.org",
            {"account": f"{PARTNER}@example.org", "role": "partner", "partner": PARTNER},
        )
    ]
    listed = admin.get(page, **HTTPS).get_data(as_text=True)
    assert f"<td>{PARTNER}@example.org</td><td>deactivated</td>" in listed


def test_switching_a_partner_off_signs_its_accounts_out(
    app: Flask, staff: StaffActions, session: Session
) -> None:
    browser = partner_login(staff)
    assert browser.get(f"/staff/partners/{PARTNER}/home", **HTTPS).status_code == 200
    partner = session.scalars(select(Partner).where(Partner.slug == PARTNER)).one()
    partner.active = False
    session.commit()
    assert browser.get(f"/staff/partners/{PARTNER}/home", **HTTPS).status_code == 302
    _browser, refused = staff.login(f"{PARTNER}@example.org")
    assert refused.status_code == 401
