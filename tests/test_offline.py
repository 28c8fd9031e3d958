"""Offline actions: entered by command or by an admin's form, audited, counted apart from the
verified online signatures (``offline``) and together (``total``), shown by the widget only
when the campaign says so, and listed with their notes in the report."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.campaigns import ACTIONS
from widget.clock import utcnow
from widget.models import Audit, Campaign, OfflineAction
from widget.offline import add_offline_action

from .conftest import StaffActions, form_token
from .test_recount import signed

HTTPS = {"base_url": "https://localhost"}
#: the demo campaign offers every action
NONE = dict.fromkeys(ACTIONS, 0)
CAMPAIGN = "/staff/campaigns/ua-109-23"


def run(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=list(args))


def entries(session: Session) -> list[OfflineAction]:
    session.expire_all()
    return list(session.scalars(select(OfflineAction).order_by(OfflineAction.id)))


def audits(session: Session, action: str) -> list[Audit]:
    session.expire_all()
    return list(session.scalars(select(Audit).where(Audit.action == action)))


def demo(session: Session) -> Campaign:
    return session.scalars(select(Campaign).where(Campaign.slug == "ua-109-23")).one()


def enter(session: Session, count: int, action: str | None = "letter", note: str = "Vigil") -> None:
    add_offline_action(
        session, demo(session), count=count, action=action, note=note, now=utcnow(), actor="t"
    )


# --- the command --------------------------------------------------------------------------------


def test_offline_add_counts_them_and_audits_it(app: Flask, session: Session) -> None:
    result = run(
        app, "offline", "add", "ua-109-23", "--count", "120", "--action", "letter",
        "--note", "Vigil at the embassy, 3 Dec",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == "Entry 1: 120 letter offline on ua-109-23.\n"
    (entry,) = entries(session)
    assert (entry.count, entry.action, entry.note) == (120, "letter", "Vigil at the embassy, 3 Dec")
    assert entry.created_by.startswith("cli:") and entry.removed_at is None
    (audit,) = audits(session, "offline.add")
    assert audit.details == {"campaign": "ua-109-23", "entry": 1, "count": 120, "action": "letter"}


def test_offline_add_without_an_action_counts_actions_of_no_one_kind(
    app: Flask, session: Session
) -> None:
    result = run(app, "offline", "add", "ua-109-23", "--count", "7", "--note", "Stall")
    assert result.exit_code == 0, result.output
    assert entries(session)[0].action is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "5"], "Missing option '--note'"),
        (["--note", "Vigil"], "Missing option '--count'"),
        (["--count", "5", "--note", ""], "Say where these actions come from"),
        (["--count", "5", "--note", "   "], "Say where these actions come from"),
        (["--count", "5", "--note", "x" * 501], "at most 500 characters"),
        (["--count", "5", "--note", "bell\x07"], "control character"),
        (["--count", "0", "--note", "Vigil"], "at least 1"),
        (["--count", "-1", "--note", "Vigil"], "whole number"),
        (["--count", "1000001", "--note", "Vigil"], "at most 1,000,000 per entry"),
        (["--count", "99999999999999999999", "--note", "Vigil"], "whole number"),
        (["--count", "twelve", "--note", "Vigil"], "whole number"),
        (["--count", "1,200", "--note", "Vigil"], "whole number"),
        (["--count", "1_200", "--note", "Vigil"], "whole number"),
        (["--count", "1e3", "--note", "Vigil"], "whole number"),
        (["--count", "²", "--note", "Vigil"], "whole number"),
        (["--count", "5", "--action", "petition", "--note", "Vigil"], "'petition' is not an"),
        (["--count", "5", "--action", "LETTER", "--note", "Vigil"], "'LETTER' is not an action"),
    ],
)
def test_offline_add_refuses_bad_input_with_exit_2_and_counts_nothing(
    app: Flask, session: Session, args: list[str], message: str
) -> None:
    result = run(app, "offline", "add", "ua-109-23", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert entries(session) == [] and audits(session, "offline.add") == []


def test_offline_add_refuses_an_action_the_campaign_does_not_offer(
    app: Flask, session: Session
) -> None:
    demo(session).actions = ["letter", "email"]
    session.commit()
    result = run(
        app, "offline", "add", "ua-109-23", "--count", "5", "--action", "fax", "--note", "V"
    )
    assert result.exit_code == 2
    assert "'fax' is not an action of this campaign (it offers letter, email)" in result.output
    assert entries(session) == []


def test_offline_add_takes_digits_of_any_script(app: Flask, session: Session) -> None:
    """Staff typing in Urdu or Persian give the same number in their own digits."""
    # Arabic-Indic, Persian and full-width digits
    for digits in ("\u0661\u0662\u0660", "\u06f1\u06f2\u06f0", "\uff11\uff12\uff10"):
        assert (
            run(app, "offline", "add", "ua-109-23", "--count", digits, "--note", "V").exit_code == 0
        )
    assert [e.count for e in entries(session)] == [120, 120, 120]


def test_offline_add_to_an_unknown_campaign_is_a_clear_error(app: Flask) -> None:
    result = run(app, "offline", "add", "no-such", "--count", "5", "--note", "Vigil")
    assert result.exit_code == 2
    assert "no campaign 'no-such'" in result.output
    assert run(app, "offline", "list", "no-such").exit_code == 2


def test_offline_list_and_remove(app: Flask, session: Session) -> None:
    enter(session, 120)
    enter(session, 30, None, "Stall in the market")
    assert run(app, "offline", "remove", "ua-109-23", "1").exit_code == 0
    listed = run(app, "offline", "list", "ua-109-23")
    assert listed.exit_code == 0
    assert "Stall in the market" in listed.output and "Vigil" not in listed.output
    assert listed.output.endswith("30 offline actions on ua-109-23.\n")
    with_removed = run(app, "offline", "list", "ua-109-23", "--removed").output
    assert "Vigil" in with_removed and "(removed " in with_removed
    again = run(app, "offline", "remove", "ua-109-23", "1")
    assert again.exit_code == 2 and "no entry 1 that counts" in again.output
    (audit,) = audits(session, "offline.remove")
    assert audit.details == {"campaign": "ua-109-23", "entry": 1, "count": 120}


# --- the count JSON -----------------------------------------------------------------------------


def test_the_count_json_gives_online_offline_and_total(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    signed(session, "a@example.org", ["letter", "email"])
    before = client.get("/api/v1/campaigns/ua-109-23/count")
    assert before.json["offline"] == 0 and before.json["total"] == 1
    enter(session, 120, "letter")
    enter(session, 5, None)
    after = client.get("/api/v1/campaigns/ua-109-23/count")
    assert after.json["count"] == 1
    assert after.json["by_action"] == {**NONE, "letter": 1, "email": 1, "call": 0}
    assert after.json["offline"] == 125
    assert after.json["offline_by_action"] == {**NONE, "letter": 120, "email": 0, "call": 0}
    assert after.json["total"] == 126
    assert after.headers["ETag"] != before.headers["ETag"]
    unchanged = client.get(
        "/api/v1/campaigns/ua-109-23/count", headers={"If-None-Match": after.headers["ETag"]}
    )
    assert unchanged.status_code == 304


def test_a_removed_entry_leaves_the_count_and_changes_the_etag(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    enter(session, 120)
    with_entry = client.get("/api/v1/campaigns/ua-109-23/count")
    assert run(app, "offline", "remove", "ua-109-23", "1").exit_code == 0
    without = client.get("/api/v1/campaigns/ua-109-23/count")
    assert (without.json["offline"], without.json["total"]) == (0, 0)
    assert without.headers["ETag"] != with_entry.headers["ETag"]


# --- the widget ---------------------------------------------------------------------------------


def show_offline(session: Session, show: bool) -> None:
    campaign = demo(session)
    campaign.count_offline_in_widget = show
    session.commit()


def test_the_widget_leaves_offline_actions_out_unless_the_campaign_shows_them(
    client: FlaskClient, session: Session
) -> None:
    signed(session, "a@example.org", ["letter"])
    enter(session, 120)
    page = client.get("/w/ua-109-23").get_data(as_text=True)
    assert 'data-count="1"' in page
    assert "offline" not in page


def test_the_widget_shows_offline_actions_on_their_own_line_when_asked(
    client: FlaskClient, session: Session
) -> None:
    signed(session, "a@example.org", ["letter"])
    show_offline(session, True)
    enter(session, 1)
    page = client.get("/w/ua-109-23").get_data(as_text=True)
    assert 'data-count="1"' in page  # still the verified online count
    assert 'data-offline="1"' in page and "plus 1 action taken offline</p>" in page
    enter(session, 1_199)
    page = client.get("/w/ua-109-23?lang=en").get_data(as_text=True)
    assert "plus 1,200 actions taken offline</p>" in page
    farsi = client.get("/w/ua-109-23?lang=fa").get_data(as_text=True)
    assert 'data-offline="1200"' in farsi and "\u06f1\u066c\u06f2\u06f0\u06f0" in farsi


def test_a_campaign_file_sets_whether_the_widget_shows_them(app: Flask, session: Session) -> None:
    from widget.campaigns import CampaignFileError, parse_campaign

    base = {"slug": "x", "reference": "R", "title": "T", "summary": "S", "ask": "A"}
    base |= {"targets": [{"name": "N"}], "languages": ["en"], "actions": ["letter"]}
    assert parse_campaign(base)["count_offline_in_widget"] is False
    assert parse_campaign({**base, "count_offline_in_widget": True})["count_offline_in_widget"]
    with pytest.raises(CampaignFileError, match="must be true or false"):
        parse_campaign({**base, "count_offline_in_widget": "yes"})


# --- the staff form -----------------------------------------------------------------------------


def offline_post(client: FlaskClient, **fields: str):  # type: ignore[no-untyped-def]
    token = form_token(client.get(CAMPAIGN, **HTTPS).get_data(as_text=True))
    data = {"csrf_token": token, "count": "40", "action": "letter", "note": "Vigil", **fields}
    return client.post(f"{CAMPAIGN}/offline", data=data, **HTTPS)


def test_an_admin_counts_offline_actions_from_the_campaign_page(
    staff: StaffActions, session: Session
) -> None:
    client = staff.signed_in("admin")
    response = offline_post(client, note="Letters from the vigil")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/campaigns/ua-109-23#offline-title")
    (entry,) = entries(session)
    assert (entry.count, entry.action, entry.created_by) == (40, "letter", "admin@example.org")
    assert audits(session, "offline.add")[0].actor == "admin@example.org"
    page = client.get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert "40 actions taken offline are counted apart" in page
    assert "Letters from the vigil" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"count": ""}, "count", "whole number"),
        ({"count": "0"}, "count", "at least 1"),
        ({"count": "-1"}, "count", "whole number"),
        ({"count": "abc"}, "count", "whole number"),
        ({"count": "2000000"}, "count", "at most 1,000,000"),
        ({"action": "petition"}, "action", "is not an action of this campaign"),
        ({"note": ""}, "note", "Say where these actions come from"),
        ({"note": "n" * 501}, "note", "at most 500 characters"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_counts_nothing(
    staff: StaffActions, session: Session, fields: dict[str, str], field: str, message: str
) -> None:
    client = staff.signed_in("admin")
    response = offline_post(client, **fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = page.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error
    assert f'aria-describedby="{field}-error"' in page
    assert entries(session) == []


def test_what_was_typed_is_kept_after_an_error(staff: StaffActions) -> None:
    page = offline_post(staff.signed_in("admin"), count="0", note="Vigil, 3 Dec").get_data(
        as_text=True
    )
    assert "Vigil, 3 Dec</textarea>" in page and 'value="0"' in page


def test_the_form_needs_its_csrf_token(staff: StaffActions, session: Session) -> None:
    client = staff.signed_in("admin")
    response = client.post(f"{CAMPAIGN}/offline", data={"count": "5", "note": "Vigil"}, **HTTPS)
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)
    forged = client.post(
        f"{CAMPAIGN}/offline", data={"csrf_token": "x", "count": "5", "note": "V"}, **HTTPS
    )
    assert forged.status_code == 400
    assert entries(session) == []


def test_viewers_cannot_count_or_remove(staff: StaffActions, session: Session) -> None:
    enter(session, 3)
    client = staff.signed_in("viewer")
    page = client.get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert "3 actions taken offline are counted apart" in page
    assert "Count them" not in page and "Remove entry" not in page
    token = form_token(page)
    data = {"csrf_token": token, "count": "5", "note": "Vigil"}
    assert client.post(f"{CAMPAIGN}/offline", data=data, **HTTPS).status_code == 403
    removal = client.post(f"{CAMPAIGN}/offline/1/remove", data={"csrf_token": token}, **HTTPS)
    assert removal.status_code == 403
    assert [e.removed_at for e in entries(session)] == [None] and len(entries(session)) == 1


def test_an_admin_removes_a_mistaken_entry(staff: StaffActions, session: Session) -> None:
    enter(session, 3000, note="Typo: meant 300")
    client = staff.signed_in("admin")
    token = form_token(client.get(CAMPAIGN, **HTTPS).get_data(as_text=True))
    response = client.post(f"{CAMPAIGN}/offline/1/remove", data={"csrf_token": token}, **HTTPS)
    assert response.status_code == 302
    assert entries(session)[0].removed_by == "admin@example.org"
    assert audits(session, "offline.remove")[0].actor == "admin@example.org"
    without_token = client.post(f"{CAMPAIGN}/offline/1/remove", **HTTPS)
    assert without_token.status_code == 400


# --- the report ---------------------------------------------------------------------------------


def test_the_report_gives_online_offline_and_together_with_each_note(
    staff: StaffActions, session: Session
) -> None:
    signed(session, "a@example.org", ["letter"])
    signed(session, "b@example.org", ["email"])
    enter(session, 120, "letter", "Letters from the vigil at the embassy")
    enter(session, 30, None, "Petition sheets from the market stall")
    enter(session, 9, None, "Entered twice by mistake")
    assert run(staff.app, "offline", "remove", "ua-109-23", "3").exit_code == 0
    page = staff.signed_in("viewer").get(f"{CAMPAIGN}/report", **HTTPS).get_data(as_text=True)
    totals = page.split('class="breakdown totals"', 1)[1].split("</table>", 1)[0]
    assert 'Online: signatures confirmed by email</th><td class="num">2</td>' in totals
    assert '(listed below)</th><td class="num">150</td>' in totals
    assert 'Together</th><td class="num">152</td>' in totals
    listed = page.split('class="breakdown offline-entries"', 1)[1].split("</table>", 1)[0]
    assert '<td>Letters written</td><td class="num">120</td>' in listed
    assert "Letters from the vigil at the embassy" in listed
    assert '<td>Actions</td><td class="num">30</td>' in listed
    assert "Petition sheets from the market stall" in listed
    assert "Entered twice by mistake" not in page
    assert utcnow().strftime("%-d %B %Y") in listed
