"""Creating and changing campaigns and partners: "new" never overwrites an existing slug, and
every change, from the staff area or a command, is in the audit log."""

from __future__ import annotations

import getpass
import html
import io
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.models import Audit, Campaign, Partner
from widget.paths import CAMPAIGNS

from .conftest import StaffActions, form_token
from .test_campaigns import write_campaign
from .test_staff import EDITOR_FORM, HTTPS, get, post

CAMPAIGN_FORM = {**EDITOR_FORM, "title": "Someone else's campaign"}


def audits(session: Session) -> list[tuple[str, str, dict[str, str]]]:
    """What the editing did: sign-ins are audited too, and tested in test_signin_audit.py."""
    session.expire_all()
    rows = session.scalars(select(Audit).where(~Audit.action.like("signin%")).order_by(Audit.id))
    return [(a.actor, a.action, a.details) for a in rows]


def titles(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(Campaign.title).order_by(Campaign.id)))


def test_new_campaign_refuses_an_existing_slug_next_to_the_field(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(admin, "/staff/campaigns/new", {**CAMPAIGN_FORM, "slug": "ua-109-23"})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert (
        '<p class="error" id="slug-error">slug: a campaign \'ua-109-23\' exists already; '
        "change it from its own edit page</p>"
    ) in page
    assert titles(session) == ["Stop deporting Afghan refugees"]
    assert audits(session) == []


def test_new_campaign_refuses_the_slug_new_which_is_the_editors_own_address(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(admin, "/staff/campaigns/new", {**CAMPAIGN_FORM, "slug": "new"})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert (
        '<p class="error" id="slug-error">slug: \'new\' is the staff area\'s own address; '
        "choose another</p>"
    ) in page
    assert titles(session) == ["Stop deporting Afghan refugees"]
    assert audits(session) == []


def test_the_edit_page_saves_only_its_own_campaign(staff: StaffActions, session: Session) -> None:
    admin = staff.signed_in()
    text = (
        (CAMPAIGNS / "ua-109-23.toml").read_text().replace('slug = "ua-109-23"', 'slug = "other"')
    )
    url = "/staff/campaigns/ua-109-23/edit"
    token = form_token(get(admin, url).get_data(as_text=True))
    response = admin.post(
        url,
        data={"csrf_token": token, "upload": (io.BytesIO(text.encode()), "c.toml")},
        content_type="multipart/form-data",
        **HTTPS,
    )
    assert response.status_code == 400
    assert "slug: this file is for &#39;other&#39;, not &#39;ua-109-23&#39;" in (
        response.get_data(as_text=True)
    )
    assert titles(session) == ["Stop deporting Afghan refugees"]


def test_an_uploaded_file_cannot_overwrite_an_existing_campaign(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    text = (
        (CAMPAIGNS / "ua-109-23.toml")
        .read_text()
        .replace('title = "Stop deporting Afghan refugees"', 'title = "Overwritten"')
    )
    assert "Overwritten" in text
    token = form_token(get(admin, "/staff/campaigns/new").get_data(as_text=True))
    response = admin.post(
        "/staff/campaigns/new",
        data={"csrf_token": token, "upload": (io.BytesIO(text.encode()), "c.toml")},
        content_type="multipart/form-data",
        **HTTPS,
    )
    assert response.status_code == 400
    assert "a campaign &#39;ua-109-23&#39; exists already" in response.get_data(as_text=True)
    assert titles(session) == ["Stop deporting Afghan refugees"]
    assert audits(session) == []


def test_an_edit_page_takes_no_file_for_another_campaign(
    staff: StaffActions, session: Session, app: Flask, tmp_path: Path
) -> None:
    app.test_cli_runner().invoke(args=["campaign", "load", str(write_campaign(tmp_path))])
    admin = staff.signed_in()
    text = (CAMPAIGNS / "ua-109-23.toml").read_text().replace("Stop deporting", "Overwritten")
    token = form_token(get(admin, "/staff/campaigns/water-defenders/edit").get_data(as_text=True))
    response = admin.post(
        "/staff/campaigns/water-defenders/edit",
        data={"csrf_token": token, "upload": (io.BytesIO(text.encode()), "c.toml")},
        content_type="multipart/form-data",
        **HTTPS,
    )
    assert response.status_code == 400
    assert "slug: this file is for &#39;ua-109-23&#39;, not &#39;water-defenders&#39;" in (
        response.get_data(as_text=True)
    )
    assert titles(session) == ["Stop deporting Afghan refugees", "Release them"]


def test_creating_and_editing_a_campaign_in_the_staff_area_is_audited(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    created = post(admin, "/staff/campaigns/new", {**CAMPAIGN_FORM, "slug": "ua-2-25"})
    assert created.headers["Location"] == "/staff/campaigns/ua-2-25"
    edited = post(admin, "/staff/campaigns/ua-2-25/edit", {**CAMPAIGN_FORM, "title": "Changed"})
    assert edited.status_code == 302
    assert audits(session) == [
        ("admin@example.org", "campaign.create", {"campaign": "ua-2-25"}),
        ("admin@example.org", "campaign.update", {"campaign": "ua-2-25"}),
    ]
    log = html.unescape(get(admin, "/staff/audit").get_data(as_text=True))
    assert "campaign.update" in log


def test_the_editor_refuses_a_line_break_in_the_title(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(
        admin, "/staff/campaigns/ua-109-23/edit", {**CAMPAIGN_FORM, "title": "Stop\r\nBcc: x"}
    )
    assert response.status_code == 400
    assert (
        '<p class="error" id="title-error">title: must be one line: remove the line break</p>'
    ) in response.get_data(as_text=True)
    assert titles(session) == ["Stop deporting Afghan refugees"]


def test_add_a_partner_refuses_an_existing_slug_next_to_the_field(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    first = {"slug": "courier", "name": "The Courier", "origins": "https://courier.example"}
    assert post(admin, "/staff/partners/new", {**first, "active": "y"}).status_code == 302
    again = post(
        admin,
        "/staff/partners/new",
        {"slug": "courier", "name": "Impostor", "origins": "https://evil.example"},
    )
    assert again.status_code == 400
    page = html.unescape(again.get_data(as_text=True))
    assert (
        '<p class="error" id="slug-error">a partner \'courier\' exists already; '
        "change it from its own page</p>"
    ) in page
    session.expire_all()
    partner = session.scalars(select(Partner)).one()
    assert (partner.name, partner.origins, partner.active) == (
        "The Courier",
        ["https://courier.example"],
        True,
    )
    edited = post(admin, "/staff/partners/courier", {"name": "The Courier Daily", "origins": ""})
    assert edited.status_code == 302
    session.expire_all()
    assert (partner.name, partner.active) == ("The Courier Daily", False)
    assert audits(session) == [
        ("admin@example.org", "partner.create", {"partner": "courier"}),
        ("admin@example.org", "partner.update", {"partner": "courier"}),
    ]


def test_the_commands_stay_create_or_update_and_are_audited(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    path = write_campaign(tmp_path)
    assert runner.invoke(args=["campaign", "load", str(path)]).exit_code == 0
    assert runner.invoke(args=["campaign", "load", str(path)]).output.startswith("Updated")
    add = ["partner", "add", "courier", "--name", "The Courier"]
    assert runner.invoke(args=add).exit_code == 0
    assert runner.invoke(args=add).output.startswith("Updated partner courier")
    actor = f"cli:{getpass.getuser()}"
    assert audits(session) == [
        (actor, "campaign.create", {"campaign": "water-defenders"}),
        (actor, "campaign.update", {"campaign": "water-defenders"}),
        (actor, "partner.create", {"partner": "courier"}),
        (actor, "partner.update", {"partner": "courier"}),
    ]


def test_add_a_partner_refuses_the_slug_new_which_is_the_forms_own_address(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(
        admin,
        "/staff/partners/new",
        {"slug": "new", "name": "New", "origins": "https://new.example"},
    )
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert (
        '<p class="error" id="slug-error">slug \'new\' is the staff area\'s own address; '
        "choose another</p>"
    ) in page
    assert session.scalars(select(Partner)).all() == []
