"""Origins that may frame the widget: only ``scheme://host[:port]``, from every way in (the
``partner add`` command, campaign files, the staff forms), so no CSP syntax reaches the
``frame-ancestors`` header."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from widget.campaigns import CampaignFileError, parse_campaign
from widget.models import Campaign, Partner
from widget.origins import OriginError, check_origin

from .conftest import StaffActions
from .test_campaigns import campaign_data, write_campaign
from .test_staff import EDITOR_FORM, post

BAD = [
    "https://a.example;",
    "https://a.example; script-src *",
    "https://a.example;script-src",
    "'self'",
    "'unsafe-inline'",
    '"https://a.example"',
    "*",
    "https://*.example.org",
    "*.example.org",
    "https://a.example/path",
    "https://a.example/",
    "https://user@a.example",
    "https://user:pw@a.example",
    "https://a.example?x=1",
    "https://a.example#top",
    "https://a.example ",
    " https://a.example",
    "https://a .example",
    "https://a.example\n",
    "https://a.example\tb",
    "https://a.example,https://b.example",
    "https://a.example:99999",
    "https://a.example:0",
    "https://a.example:",
    "https://a.example:80a",
    "ftp://a.example",
    "javascript:alert(1)",
    "data:",
    "https://",
    "a.example",
    "https://a..example",
    "https://-a.example",
    "https://a-.example",
    "https://a.example.",
    "https://300.1.1.1",
    "https://[::1",
    "https://[not:an:ip]",
    "https://exämple.org",
    "https://" + "a" * 64 + ".example",
    "https://a.example\x00",
]
GOOD = {
    "https://news.example.org": "https://news.example.org",
    "http://localhost:8080": "http://localhost:8080",
    "https://192.0.2.1:8443": "https://192.0.2.1:8443",
    "https://[2001:db8::1]": "https://[2001:db8::1]",
    "HTTPS://News.Example.ORG": "https://news.example.org",
    "https://xn--exmple-cua.org": "https://xn--exmple-cua.org",
}
MESSAGE = "give scheme and host only, e.g. https://news.example.org"


@pytest.mark.parametrize("origin", BAD)
def test_anything_but_scheme_host_and_port_is_refused(origin: str) -> None:
    with pytest.raises(OriginError) as refused:
        check_origin(origin)
    assert str(refused.value) == f"{origin!r} is not valid; {MESSAGE}"


@pytest.mark.parametrize(("origin", "stored"), GOOD.items())
def test_origins_are_accepted_in_lowercase(origin: str, stored: str) -> None:
    assert check_origin(origin) == stored


@pytest.mark.parametrize("origin", BAD)
def test_partner_add_refuses_a_bad_origin_and_adds_nothing(
    app: Flask, session: Session, origin: str
) -> None:
    result = app.test_cli_runner().invoke(
        args=["partner", "add", "courier", "--name", "The Courier", "--origin", origin]
    )
    assert result.exit_code == 1
    assert result.output == f"Error: origin {origin!r} is not valid; {MESSAGE}\n"
    assert session.scalars(select(Partner)).all() == []


@pytest.mark.parametrize(
    ("origins", "refused"),
    [
        (["https://a.example; script-src *"], "https://a.example; script-src *"),
        (["'self'"], "'self'"),
        (["*", "https://a.example"], "*"),
    ],
)
def test_a_campaign_file_refuses_a_bad_origin(
    app: Flask, session: Session, tmp_path: Path, origins: list[str], refused: str
) -> None:
    path = write_campaign(tmp_path)
    text = path.read_text().replace("goal =", f"allowed_origins = {json.dumps(origins)}\ngoal =")
    path.write_text(text)
    result = app.test_cli_runner().invoke(args=["campaign", "load", str(path)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path}: allowed_origins: {refused!r} is not valid; {MESSAGE} "
        '(or "*" alone, for any site)\n'
    )
    assert session.scalars(select(Campaign.slug)).all() == ["ua-109-23"]


def test_a_campaign_may_allow_any_site_with_a_single_star() -> None:
    assert parse_campaign(campaign_data(allowed_origins=["*"]))["allowed_origins"] == ["*"]
    fields = parse_campaign(campaign_data(allowed_origins=["HTTPS://A.example"]))
    assert fields["allowed_origins"] == ["https://a.example"]
    with pytest.raises(CampaignFileError, match="lists a value twice"):
        parse_campaign(campaign_data(allowed_origins=["https://a.example", "HTTPS://a.example"]))


def test_the_staff_partner_form_refuses_a_bad_origin_next_to_the_field(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(
        admin,
        "/staff/partners/new",
        {"slug": "courier", "name": "The Courier", "origins": "https://a.example;script-src"},
    )
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert (
        '<p class="error" id="origins-error">origin '
        f"'https://a.example;script-src' is not valid; {MESSAGE}</p>"
    ) in page
    assert session.scalars(select(Partner)).all() == []


def test_the_staff_editor_refuses_a_bad_origin_next_to_the_field(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    form = {**EDITOR_FORM, "allowed_origins": "https://a.example\n'unsafe-inline'"}
    response = post(admin, "/staff/campaigns/ua-109-23/edit", form)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert '<p class="error" id="allowed_origins-error">' in page
    assert f"allowed_origins: \"'unsafe-inline'\" is not valid; {MESSAGE}" in page


def test_no_stored_value_puts_csp_syntax_into_the_header(
    client: FlaskClient, session: Session
) -> None:
    """Rows written before origins were checked this strictly are left out of the header."""
    session.execute(update(Campaign).values(allowed_origins=["https://ok.example"]))
    session.add(
        Partner(
            slug="old",
            name="Old",
            origins=["https://a.example; script-src 'unsafe-inline'", "https://b.example"],
            active=True,
            created_at=datetime(2024, 1, 1),
        )
    )
    session.commit()
    csp = client.get("/w/ua-109-23").headers["Content-Security-Policy"]
    directives = [d.strip() for d in csp.split(";")]
    assert directives[-1] == "frame-ancestors 'self' https://b.example https://ok.example"
    assert "unsafe-inline" not in csp
