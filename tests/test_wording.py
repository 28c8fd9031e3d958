"""Wording in the staff area and the commands: one and many read differently (``ngettext``), and
countries and languages appear by name, not by code."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from widget.extensions import db
from widget.models import Signature

from .conftest import DEMO, StaffActions, erase_search, form_token, make_app
from .test_recount import signed
from .test_staff_signin import attempt_response

HTTPS = {"base_url": "https://localhost"}
CAMPAIGN = "/staff/campaigns/ua-109-23"


def second_campaign(app: Flask, tmp_path: Path) -> None:
    second = tmp_path / "second.toml"
    second.write_text(DEMO.read_text().replace('slug = "ua-109-23"', 'slug = "ua-2"'))
    assert app.test_cli_runner().invoke(args=["campaign", "load", str(second)]).exit_code == 0


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["letter"], "<p><strong>1</strong> action reported</p>"),
        (["letter", "call"], "<p><strong>2</strong> actions reported</p>"),
    ],
)
def test_the_campaign_page_counts_actions_in_singular_and_plural(
    staff: StaffActions, session: Session, actions: list[str], expected: str
) -> None:
    signed(session, "a@example.org", actions)
    page = staff.signed_in("viewer").get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert expected in page


def test_the_campaign_page_names_countries_and_languages(
    staff: StaffActions, session: Session
) -> None:
    for n, country in enumerate(["DE", "FR", "FR"]):
        signature_id = signed(session, f"s{n}@example.org", ["letter"])
        session.execute(
            update(Signature).where(Signature.id == signature_id).values(country=country)
        )
    session.commit()
    page = staff.signed_in("viewer").get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    by_country = page.split("<caption>Signatures by country</caption>", 1)[1].split("</table>")[0]
    assert "<tr><td>France</td>" in by_country and "<tr><td>Germany</td>" in by_country
    assert by_country.index("France") < by_country.index("Germany")  # by count, most first
    assert "<td>DE</td>" not in by_country and "<td>FR</td>" not in by_country
    assert (" · English, Urdu, Persian, Pashto</p>") in page


def test_erasure_of_one_and_of_two_signatures_reads_right(
    app: Flask, staff: StaffActions, session: Session, tmp_path: Path
) -> None:
    admin = staff.signed_in()
    signed(session, "ayesha@example.org", ["letter"])
    one = erase_search(admin, "ayesha@example.org").get_data(as_text=True)
    assert '<button type="submit" class="danger">Erase 1 signature</button>' in one
    second_campaign(app, tmp_path)
    signed(session, "ayesha@example.org", ["letter"], slug="ua-2")
    two = erase_search(admin, "ayesha@example.org").get_data(as_text=True)
    assert '<button type="submit" class="danger">Erase all 2 signatures</button>' in two
    done = admin.post(
        "/staff/erase/confirm",
        data={"csrf_token": form_token(two), "email": "ayesha@example.org"},
        **HTTPS,
    ).get_data(as_text=True)
    assert "2 signatures erased; the counts were corrected. The audit log records" in done
    assert "(s)" not in done
    session.expire_all()
    assert session.scalars(select(Signature.email)).all() == ["", ""]  # erased


def test_the_sign_in_throttle_counts_minutes_in_the_plural(
    database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url, tmp_path, WIDGET_RATELIMIT_LOGIN="1 per hour")
    try:
        StaffActions(app).create("admin@example.org")
        assert attempt_response(app, "203.0.113.9", "wrong guess!").status_code == 401
        blocked = attempt_response(app, "203.0.113.9", "another guess!")
        assert blocked.status_code == 429
        minutes = -(-int(blocked.headers["Retry-After"]) // 60)
        assert minutes > 1
        page = blocked.get_data(as_text=True)
        assert f"Too many sign-in attempts. Please try again in {minutes} minutes." in page
    finally:
        db.engine(app).dispose()


def test_the_commands_count_in_singular_and_plural(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    signed(session, "ayesha@example.org", ["letter"])
    assert runner.invoke(args=["erase", "ayesha@example.org"]).output.startswith(
        "Would erase 1 signature (campaigns: ua-109-23)."
    )
    second_campaign(app, tmp_path)
    signed(session, "ayesha@example.org", ["letter"], slug="ua-2")
    assert runner.invoke(args=["erase", "ayesha@example.org"]).output.startswith(
        "Would erase 2 signatures (campaigns: ua-109-23, ua-2)."
    )
    one = runner.invoke(args=["offline", "add", "ua-109-23", "--count", "1", "--note", "Stall"])
    assert one.exit_code == 0, one.output
    assert runner.invoke(args=["offline", "list", "ua-109-23"]).output.endswith(
        "1 offline action on ua-109-23.\n"
    )
    runner.invoke(args=["offline", "add", "ua-109-23", "--count", "4", "--note", "Vigil"])
    assert runner.invoke(args=["offline", "list", "ua-109-23"]).output.endswith(
        "5 offline actions on ua-109-23.\n"
    )


def test_no_staff_template_or_message_says_s_in_brackets() -> None:
    root = Path(__file__).parent.parent
    sources = [*root.glob("templates/**/*.html"), *root.glob("widget/**/*.py")]
    offenders = [str(p.relative_to(root)) for p in sources if "(s)" in p.read_text()]
    assert offenders == []


def test_the_abuse_monitor_counts_one_signature_in_the_singular(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    signed(session, "a@example.org", ["letter"])
    page = admin.get(f"{CAMPAIGN}/activity", **HTTPS).get_data(as_text=True)
    assert "<p>1 signature from " in page
    signed(session, "b@example.org", ["letter"])
    page = admin.get(f"{CAMPAIGN}/activity", **HTTPS).get_data(as_text=True)
    assert "<p>2 signatures from " in page


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {},
            "Would delete 0 unconfirmed signatures (older than 14 days), would anonymise 0 "
            "signatures of campaigns closed over 180 days ago, would delete 0 mails and 0 webhook "
            "deliveries older than 7 days.\n",
        ),
        (
            {"WIDGET_RETENTION_PENDING_DAYS": "1", "WIDGET_RETENTION_MAIL_DAYS": "1"},
            "Would delete 0 unconfirmed signatures (older than 1 day), would anonymise 0 "
            "signatures of campaigns closed over 180 days ago, would delete 0 mails and 0 webhook "
            "deliveries older than 1 day.\n",
        ),
    ],
)
def test_purge_counts_days_in_singular_and_plural(
    database_url: str, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    app = make_app(database_url, tmp_path, **env)
    try:
        result = app.test_cli_runner().invoke(args=["purge", "--dry-run"])
        assert result.output == expected
    finally:
        db.engine(app).dispose()
