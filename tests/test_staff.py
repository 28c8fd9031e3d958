"""The staff area: who may see what, sign-in throttling, CSRF, the editor, partners, the export,
the audit log and the count report for officials."""

from __future__ import annotations

import csv
import html
import io
import math

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.exports import BATCH, ExportFilter, csv_chunks
from widget.models import Audit, Campaign, Partner, Signature
from widget.tokens import verify_tokens

from .conftest import (
    SECRET,
    STAFF_PASSWORD,
    StaffActions,
    Supporter,
    erase_search,
    form_token,
    link_claims,
)

HTTPS = {"base_url": "https://localhost"}
#: a campaign editor form that saves: tests change one field of it
EDITOR_FORM: dict[str, object] = {
    "reference": "UA 1",
    "title": "New title",
    "summary": "S",
    "ask": "A",
    "targets-0-name": "X",
    "languages": "en",
    "actions": ["letter"],
    "allowed_origins": "*",
}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}

EVERYONE = [
    "/staff/",
    "/staff/campaigns/ua-109-23",
    "/staff/campaigns/ua-109-23/report",
    "/staff/partners",
    "/staff/embed",
]
ADMINS = [
    "/staff/campaigns/ua-109-23/signatures.csv",
    "/staff/campaigns/ua-109-23/edit",
    "/staff/campaigns/ua-109-23/activity",
    "/staff/campaigns/new",
    "/staff/partners/new",
    "/staff/audit",
    "/staff/erase",
]


def get(client: FlaskClient, url: str):  # type: ignore[no-untyped-def]
    return client.get(url, **HTTPS)


def post(client: FlaskClient, url: str, data: dict[str, object], page: str | None = None):  # type: ignore[no-untyped-def]
    token = form_token(get(client, page or url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data}, **HTTPS)


def verified(client: FlaskClient, supporter: Supporter, session: Session, **fields: object) -> None:
    supporter.sign(**fields)
    email = fields.get("email", "ayesha@example.org")
    signature_id = session.scalars(select(Signature.id).where(Signature.email == email)).one()
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    assert client.post(f"/v/{token}", headers=SAME_ORIGIN).status_code == 200


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", EVERYONE + ADMINS)
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, url: str) -> None:
    response = get(client, url)
    assert response.status_code == 302
    kept = "" if url.endswith(".csv") else f"?next={url}?"  # the CSV is no page to go on to
    assert response.headers["Location"] == f"/staff/login{kept}"


@pytest.mark.parametrize("url", ADMINS)
def test_viewers_cannot_reach_data_or_changes(staff: StaffActions, url: str) -> None:
    response = get(staff.signed_in("viewer"), url)
    assert response.status_code == 403
    assert "This page is for admins" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", EVERYONE)
def test_viewers_see_the_numbers(staff: StaffActions, url: str) -> None:
    assert get(staff.signed_in("viewer"), url).status_code == 200


@pytest.mark.parametrize("url", EVERYONE + ADMINS)
def test_admins_reach_every_page(staff: StaffActions, url: str) -> None:
    with get(staff.signed_in("admin"), url) as response:
        assert response.status_code == 200


def test_staff_pages_are_never_framed_or_cached(staff: StaffActions) -> None:
    response = get(staff.signed_in(), "/staff/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    assert response.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_first_party_secure_and_script_proof(staff: StaffActions) -> None:
    staff.create("a@example.org")
    _client, response = staff.login("a@example.org")
    cookie = response.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in cookie


# --- signing in ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password"),
    [("a@example.org", "wrong password!"), ("nobody@example.org", STAFF_PASSWORD)],
)
def test_a_failed_sign_in_says_the_same_whatever_was_wrong(
    staff: StaffActions, email: str, password: str
) -> None:
    staff.create("a@example.org")
    client, response = staff.login(email, password)
    assert response.status_code == 401
    assert "do not match an account" in response.get_data(as_text=True)
    assert get(client, "/staff/").status_code == 302


def test_sign_in_never_redirects_off_site(staff: StaffActions) -> None:
    staff.create("a@example.org")
    client = staff.client()
    page = client.get("/staff/login?next=//evil.example/x", **HTTPS).get_data(as_text=True)
    response = client.post(
        "/staff/login?next=//evil.example/x",
        data={"csrf_token": form_token(page), "email": "a@example.org", "password": STAFF_PASSWORD},
        **HTTPS,
    )
    assert response.headers["Location"] == "/staff/"


def test_sign_in_is_throttled_per_ip(staff: StaffActions) -> None:
    staff.create("a@example.org")
    client = staff.client()
    statuses = [staff.login("a@example.org", "wrong!", client)[1].status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    _client, blocked = staff.login("a@example.org", STAFF_PASSWORD, client)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1


def test_sign_out_needs_the_csrf_token(staff: StaffActions) -> None:
    client = staff.signed_in()
    client.post("/staff/logout", **HTTPS)
    assert get(client, "/staff/").status_code == 200
    post(client, "/staff/logout", {}, page="/staff/")
    assert get(client, "/staff/").status_code == 302


def test_staff_create_reads_the_password_from_stdin(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(
        args=["staff", "create", "New@Example.org", "--role", "viewer"],
        input="a long enough password\n",
    )
    assert (ok.exit_code, ok.output) == (0, "Created viewer new@example.org.\n")
    again = runner.invoke(args=["staff", "create", "new@example.org"], input="another password!\n")
    assert (again.exit_code, again.output) == (1, "Error: new@example.org already has an account\n")
    short = runner.invoke(args=["staff", "create", "b@example.org"], input="short\n")
    assert "at least 12 characters" in short.output
    role = runner.invoke(args=["staff", "create", "c@example.org", "--role", "owner"], input="x\n")
    assert role.exit_code == 2


# --- campaigns ------------------------------------------------------------------------------------


def test_close_and_reopen_need_an_admin_and_a_token(staff: StaffActions, session: Session) -> None:
    viewer = staff.signed_in("viewer")
    assert viewer.post("/staff/campaigns/ua-109-23/close", **HTTPS).status_code == 403
    admin = staff.signed_in("admin")
    admin.post("/staff/campaigns/ua-109-23/close", **HTTPS)  # no token: nothing happens
    session.expire_all()
    assert session.scalars(select(Campaign.closes_at)).one() is None
    post(admin, "/staff/campaigns/ua-109-23/close", {}, page="/staff/campaigns/ua-109-23")
    session.expire_all()
    assert session.scalars(select(Campaign.closes_at)).one() is not None
    post(admin, "/staff/campaigns/ua-109-23/reopen", {}, page="/staff/campaigns/ua-109-23")
    session.expire_all()
    assert session.scalars(select(Campaign.closes_at)).one() is None


def test_the_editor_saves_valid_changes(staff: StaffActions, session: Session) -> None:
    admin = staff.signed_in()
    page = html.unescape(get(admin, "/staff/campaigns/ua-109-23/edit").get_data(as_text=True))
    assert "[[targets]]" not in page
    assert 'name="targets-0-name" type="text" value="H.E. Anwaar-ul-Haq Kakar"' in page
    assert 'type="text" value="Ambassador Masood Khan"' in page
    form = {
        "reference": "UA 109.23",
        "title": "Stop deporting Afghan refugees now",
        "summary": "Summary.",
        "ask": "Write to them.",
        "targets-0-name": "Someone",
        "languages": "en, ur",
        "actions": ["letter", "call"],
        "allowed_origins": "*",
        "goal": "100",
    }
    response = post(admin, "/staff/campaigns/ua-109-23/edit", form)
    assert response.status_code == 302
    session.expire_all()
    campaign = session.scalars(select(Campaign)).one()
    assert (campaign.title, campaign.actions, campaign.goal, campaign.languages) == (
        "Stop deporting Afghan refugees now",
        ["letter", "call"],
        100,
        ["en", "ur"],
    )
    assert campaign.targets == [{"name": "Someone"}]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"goal": "0"}, "goal", "goal: must be a whole number above 0"),
        ({"title": ""}, "title", "title: must not be empty"),
        (
            {"targets-0-name": "", "targets-0-title": "no name"},
            "targets-0-name",
            "targets[1].name: is required",
        ),
        ({"allowed_origins": "example.org"}, "allowed_origins", "'example.org' is not valid"),
    ],
)
def test_the_editor_refuses_bad_input_saving_nothing(
    staff: StaffActions, session: Session, change: dict[str, str], field: str, message: str
) -> None:
    admin = staff.signed_in()
    form = {**EDITOR_FORM, **change}
    response = post(admin, "/staff/campaigns/ua-109-23/edit", form)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert f'<p class="error" id="{field}-error">' in page
    assert message in page
    session.expire_all()
    assert session.scalars(select(Campaign.title)).one() == "Stop deporting Afghan refugees"


def test_a_new_campaign_from_an_uploaded_file(staff: StaffActions, session: Session) -> None:
    from widget.paths import CAMPAIGNS

    admin = staff.signed_in()
    text = (CAMPAIGNS / "ua-109-23.toml").read_text().replace('"ua-109-23"', '"ua-110-24"')
    token = form_token(get(admin, "/staff/campaigns/new").get_data(as_text=True))
    response = admin.post(
        "/staff/campaigns/new",
        data={"csrf_token": token, "upload": (io.BytesIO(text.encode()), "c.toml")},
        content_type="multipart/form-data",
        **HTTPS,
    )
    assert response.headers["Location"] == "/staff/campaigns/ua-110-24"
    assert sorted(session.scalars(select(Campaign.slug))) == ["ua-109-23", "ua-110-24"]


# --- partners and the embed code ------------------------------------------------------------------


def test_partners_are_added_and_counted(
    staff: StaffActions, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(
        admin,
        "/staff/partners/new",
        {
            "slug": "courier",
            "name": "The Courier",
            "origins": "https://courier.example",
            "active": "y",
        },
    )
    assert response.status_code == 302
    bad = post(admin, "/staff/partners/new", {"slug": "Bad Slug", "name": "X"})
    assert bad.status_code == 400
    supporter.client.post(
        "/w/ua-109-23?partner=courier", data=supporter.form(), headers=SAME_ORIGIN
    )
    signature_id = session.scalars(select(Signature.id)).one()
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    client.post(f"/v/{token}", headers=SAME_ORIGIN)
    page = get(admin, "/staff/partners").get_data(as_text=True)
    assert "The Courier" in page
    assert '<td class="num">1</td>' in page
    assert session.scalars(select(Partner.origins)).one() == ["https://courier.example"]


def test_the_embed_code_generator_writes_the_snippet(staff: StaffActions) -> None:
    page = get(
        staff.signed_in("viewer"),
        "/staff/embed?campaign=ua-109-23&partner=&lang=ur&theme=dark&accent=d4351c",
    ).get_data(as_text=True)
    assert (
        '&lt;script async src="http://localhost/embed.js" data-campaign="ua-109-23" '
        'data-lang="ur" data-theme="dark #d4351c"&gt;&lt;/script&gt;'
    ) in page
    assert 'id="embed-preview"' in page


# --- export ---------------------------------------------------------------------------------------


def export_rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_export_holds_only_counted_signatures_safely_and_is_audited(
    staff: StaffActions, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    verified(client, supporter, session, email="a@example.org", name='=HYPERLINK("x")')
    verified(client, supporter, session, email="b@example.org", name="زینب بی بی", opt_in="y")
    verified(client, supporter, session, email="c@example.org", name="+1 Ayesha")
    supporter.sign(email="pending@example.org")
    verified(client, supporter, session, email="gone@example.org")
    gone = session.scalars(select(Signature).where(Signature.email == "gone@example.org")).one()
    gone.withdrawn_at = utcnow()
    session.commit()

    admin = staff.signed_in()
    response = get(admin, "/staff/campaigns/ua-109-23/signatures.csv")
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment;" in response.headers["Content-Disposition"]
    rows = export_rows(response)
    assert rows[0] == [
        "signed_at",
        "confirmed_at",
        "name",
        "email",
        "country",
        "actions",
        "opt_in",
        "partner",
        "language",
        "partner_opt_in",
    ]
    by_email = {row[3]: row for row in rows[1:]}
    assert sorted(by_email) == ["a@example.org", "b@example.org", "c@example.org"]
    assert by_email["a@example.org"][2] == '\'=HYPERLINK("x")'
    assert by_email["b@example.org"][2] == "زینب بی بی"
    assert by_email["c@example.org"][2] == "'+1 Ayesha"
    assert by_email["b@example.org"][5:7] == ["letter email", "yes"]
    assert by_email["b@example.org"][9] == "no"
    b = session.scalars(select(Signature).where(Signature.email == "b@example.org")).one()
    assert by_email["b@example.org"][:2] == [
        f"{b.created_at:%Y-%m-%d %H:%M:%S}",
        f"{b.verified_at:%Y-%m-%d %H:%M:%S}",
    ]
    assert '"=HYPERLINK' not in response.get_data(as_text=True)

    opted = export_rows(get(admin, "/staff/campaigns/ua-109-23/signatures.csv?opted_in=1"))
    assert [row[3] for row in opted[1:]] == ["b@example.org"]
    future = export_rows(get(admin, "/staff/campaigns/ua-109-23/signatures.csv?since=2999-01-01"))
    assert future[1:] == []
    assert get(admin, "/staff/campaigns/ua-109-23/signatures.csv?since=soon").status_code == 400

    audits = session.scalars(select(Audit).where(Audit.action == "export").order_by(Audit.id))
    assert [(a.actor, a.details) for a in audits] == [
        ("admin@example.org", {"campaign": "ua-109-23", "filter": {}, "rows": 3}),
        (
            "admin@example.org",
            {"campaign": "ua-109-23", "filter": {"opted_in_only": "yes"}, "rows": 1},
        ),
        (
            "admin@example.org",
            {"campaign": "ua-109-23", "filter": {"since": "2999-01-01"}, "rows": 0},
        ),
    ]
    log = get(admin, "/staff/audit").get_data(as_text=True)
    assert "admin@example.org" in log
    assert "opted_in_only=yes" in log


@pytest.mark.parametrize(
    "cell",
    [
        "=1+1",
        "+1",
        "-1",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "\nx",
        "\uff1d1",
        "\uff0b1",
        "\uff0d1",
        "\uff201",
    ],
)
def test_every_formula_start_is_neutralised(cell: str) -> None:
    from widget.exports import safe_cell

    assert safe_cell(cell) == "'" + cell
    assert safe_cell("Ayesha " + cell) == "Ayesha " + cell


def test_the_export_streams_in_batches_not_all_at_once(app: Flask, session: Session) -> None:
    """The constant-memory shape: rows leave in batches of BATCH while the query still runs."""
    campaign = session.scalars(select(Campaign)).one()
    now = utcnow()
    n = 2 * BATCH + 7
    session.add_all(
        Signature(
            campaign_id=campaign.id,
            email=f"p{i}@example.org",
            email_key=f"p{i}@example.org",
            name=f"P {i}",
            country="PK",
            actions=["letter"],
            consent_version="2026-11",
            opt_in=False,
            language="en",
            created_at=now,
            verified_at=now,
        )
        for i in range(n)
    )
    session.commit()
    chunks = csv_chunks(session, campaign, ExportFilter())
    header = next(chunks)
    first = next(chunks)
    assert header.startswith('\ufeff"signed_at"')
    assert first.count("\r\n") == BATCH  # the first batch is out, the rest not yet read
    rest = list(chunks)
    assert len(rest) == math.ceil(n / BATCH) - 1
    assert sum(chunk.count("\r\n") for chunk in [first, *rest]) == n


# --- the report -------------------------------------------------------------------------------


def test_the_report_has_the_numbers_and_no_personal_data(
    staff: StaffActions, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    verified(
        client,
        supporter,
        session,
        email="zainab@example.org",
        name="Zainab Secretname",
        country="DE",
        actions=["letter", "call"],
    )
    verified(client, supporter, session, email="b@example.org", name="Other Person")
    page = get(staff.signed_in("viewer"), "/staff/campaigns/ua-109-23/report").get_data(
        as_text=True
    )
    assert "UA 109.23: Stop deporting Afghan refugees" in page
    assert (
        "2 people took action and confirmed their signature by email, reporting 4 actions." in page
    )
    assert '<td>Letters written</td><td class="num">2</td>' in page
    assert '<td>Phone calls made</td><td class="num">1</td>' in page
    assert '<td>Germany</td><td class="num">1</td>' in page
    for private in ("zainab", "Secretname", "Other Person", "@example.org"):
        assert private.lower() not in page.lower()


def test_the_dashboard_and_campaign_page_show_the_numbers(
    staff: StaffActions, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    verified(client, supporter, session)
    supporter.sign(email="pending@example.org")
    admin = staff.signed_in()
    dashboard = get(admin, "/staff/").get_data(as_text=True)
    assert '<p class="big">1 <span>verified</span></p>' in dashboard
    assert "1 waiting for confirmation" in dashboard
    page = get(admin, "/staff/campaigns/ua-109-23").get_data(as_text=True)
    assert "<svg" in page
    assert "busiest day: 1" in page
    assert "<td>Pakistan</td>" in page  # countries by name, not code
    assert "<td>PK</td>" not in page


def test_staff_erasure_from_the_browser_is_audited(
    staff: StaffActions, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    verified(client, supporter, session)
    admin = staff.signed_in()
    found = erase_search(admin, "Ayesha@example.org").get_data(as_text=True)
    assert "Erase 1 signature" in found
    response = admin.post(
        "/staff/erase/confirm",
        data={"csrf_token": form_token(found), "email": "ayesha@example.org"},
        **HTTPS,
    )
    assert "1 signature erased; the counts were corrected." in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalars(select(Signature.email)).one() == ""
    [audit] = session.scalars(select(Audit).where(Audit.action == "erase")).all()
    assert audit.actor == "admin@example.org"
