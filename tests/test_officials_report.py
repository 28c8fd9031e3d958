"""The count report for officials: the organisation's letterhead (or a neutral heading), the
targets as addressee, countries by name in the report's language in alphabetical order, dates in
words, the statement of how the count was verified, and the report's language (``?lang=``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.extensions import db
from widget.forms import collation_key
from widget.models import Campaign, Signature
from widget.recount import recount

from .conftest import StaffActions, make_app
from .test_recount import signed

HTTPS = {"base_url": "https://localhost"}
REPORT = "/staff/campaigns/ua-109-23/report"


def sign_from(session: Session, country: str, at: datetime, email: str) -> None:
    signature_id = signed(session, email, ["letter"])
    session.execute(
        update(Signature)
        .where(Signature.id == signature_id)
        .values(country=country, verified_at=at, updated_at=at)
    )
    session.commit()


def report(staff: StaffActions, query: str = "") -> str:
    response = staff.signed_in("viewer").get(REPORT + query, **HTTPS)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def between(page: str, start: str, end: str) -> str:
    return page.split(start, 1)[1].split(end, 1)[0]


def test_without_an_organisation_name_the_heading_is_neutral(staff: StaffActions) -> None:
    page = report(staff)
    letterhead = between(page, '<header class="letterhead">', "</header>")
    assert letterhead.strip() == '<p class="kind">Count report</p>'


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"WIDGET_ORG_NAME": "Amnesty International UK"},
            '<p class="org">Amnesty International UK</p>',
        ),
        (
            {"WIDGET_ORG_NAME": "Amnesty & Co", "WIDGET_ORG_URL": "https://www.example.org/uk"},
            '<p class="org"><a href="https://www.example.org/uk">Amnesty &amp; Co</a></p>'
            '<p class="org-url"><bdi dir="ltr">https://www.example.org/uk</bdi></p>',
        ),
    ],
)
def test_the_organisation_name_is_the_letterhead(
    database_url: str, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    app = make_app(database_url, tmp_path, **env)
    try:
        page = report(StaffActions(app))
    finally:
        db.engine(app).dispose()
    letterhead = between(page, '<header class="letterhead">', "</header>")
    assert letterhead.replace("\n  ", "").strip() == expected + '<p class="kind">Count report</p>'


def test_the_addressee_is_each_target_with_title_and_address_as_given(
    staff: StaffActions,
) -> None:
    addressee = between(report(staff), '<section class="addressee"', "</section>")
    assert addressee.count("<address") == 2
    assert (
        '<address lang="en" dir="ltr"><strong>H.E. Anwaar-ul-Haq Kakar</strong><br>'
        'Caretaker Prime Minister<br><span class="postal">Islamic Republic of Pakistan\n'
        "Constitution Avenue\nG-5/2 Islamabad\nPakistan</span></address>"
    ) in addressee
    assert "<strong>Ambassador Masood Khan</strong><br>Pakistani Embassy in the United States" in (
        addressee
    )
    assert "+1 202" not in addressee and "info@embassy" not in addressee  # the address only


def test_countries_are_named_and_sorted_by_name(staff: StaffActions, session: Session) -> None:
    day = datetime(2026, 12, 1, 10)
    for n, country in enumerate(["DE", "DE", "FR", "AF", "GB", "GB", "GB"]):
        sign_from(session, country, day, f"s{n}@example.org")
    table = between(report(staff), '<table class="breakdown countries">', "</table>")
    rows = [
        between(row, "<td>", "</td>") + "=" + between(row, '<td class="num">', "</td>")
        for row in table.split("<tr>")[2:]
    ]
    assert rows == ["Afghanistan=1", "France=1", "Germany=2", "United Kingdom=3"]


def test_countries_in_farsi_follow_the_persian_alphabet(
    staff: StaffActions, session: Session
) -> None:
    # by code point Germany would come first (alef madda before alef), Pakistan last (peh after feh)
    for n, country in enumerate(["PK", "AF", "FR", "DE"]):
        sign_from(session, country, datetime(2026, 12, 1), f"s{n}@example.org")
    table = between(report(staff, "?lang=fa"), '<table class="breakdown countries">', "</table>")
    names = [between(row, "<td>", "</td>") for row in table.split("<tr>")[2:]]
    assert names == ["افغانستان", "آلمان", "پاکستان", "فرانسه"]


def test_collation_puts_accented_letters_with_their_base_letter() -> None:
    names = ["Zambia", "Curaçao", "Åland Islands", "Albania", "Côte d'Ivoire", "cuba", "Chad"]
    assert sorted(names, key=collation_key) == [
        "Åland Islands",
        "Albania",
        "Chad",
        "Côte d'Ivoire",
        "cuba",
        "Curaçao",
        "Zambia",
    ]


def test_the_dates_covered_are_in_words(staff: StaffActions, session: Session) -> None:
    sign_from(session, "PK", datetime(2026, 11, 11, 9), "a@example.org")
    sign_from(session, "PK", datetime(2026, 12, 1, 18), "b@example.org")
    period = between(report(staff), '<dd class="period">', "</dd>")
    assert period == "11 November 2026 to 1 December 2026"


def test_a_single_day_reads_on_that_day(staff: StaffActions, session: Session) -> None:
    sign_from(session, "PK", datetime(2026, 12, 1, 9), "a@example.org")
    sign_from(session, "PK", datetime(2026, 12, 1, 23, 59), "b@example.org")
    page = report(staff)
    assert between(page, '<dd class="period">', "</dd>") == "on 1 December 2026"
    assert "1 December 2026 to 1 December 2026" not in page


def test_without_signatures_the_period_says_none_yet(staff: StaffActions) -> None:
    page = report(staff)
    assert between(page, '<dd class="period">', "</dd>") == "none yet"
    assert "No signature has been confirmed yet." in page
    assert "Each of the 0" not in page


def test_a_persian_report_writes_dates_in_persian_digits(
    staff: StaffActions, session: Session
) -> None:
    sign_from(session, "IR", datetime(2026, 12, 1, 9), "a@example.org")
    page = report(staff, "?lang=fa")
    assert '<html lang="fa" dir="rtl">' in page
    period = between(page, '<dd class="period">', "</dd>")
    assert period == "در \u06f1 دسامبر \u06f2\u06f0\u06f2\u06f6"  # "on", Persian digits 1, 2026


def test_the_statement_says_how_the_count_was_verified(
    staff: StaffActions, session: Session
) -> None:
    signed(session, "a@example.org", ["letter"])
    signed(session, "b@example.org", ["letter"])
    recount(session, session.scalars(select(Campaign)).one(), now=utcnow(), actor="t")
    statement = between(report(staff), '<section class="statement"', "</section>")
    today = utcnow().strftime("%-d %B %Y")
    assert (
        "Each of the 2 signatures counted was confirmed from its signer's own email address: "
        "a link was mailed to that address and opened."
    ) in statement.replace("&#39;", "'")
    assert "Duplicates were removed: a second signature from the same address" in statement
    assert f"The last recount from the signatures, on {today}, agreed with the count." in (
        statement
    )
    assert "This report holds no names or addresses of supporters." in statement


def test_the_statement_and_lead_use_the_singular_for_one(
    staff: StaffActions, session: Session
) -> None:
    signed(session, "a@example.org", ["letter"])
    page = report(staff).replace("&#39;", "'")
    assert "The 1 signature counted was confirmed from its signer's own email address" in page
    assert (
        "1 person took action and confirmed their signature by email, reporting 1 action." in page
    )


def test_the_report_is_in_the_campaigns_first_language_by_default(staff: StaffActions) -> None:
    page = report(staff)
    assert '<html lang="en" dir="ltr">' in page


def test_an_urdu_report_reads_right_to_left_with_urdu_country_names(
    staff: StaffActions, session: Session
) -> None:
    sign_from(session, "DE", datetime(2026, 12, 1, 9), "a@example.org")
    page = report(staff, "?lang=ur")
    assert '<html lang="ur" dir="rtl">' in page
    assert "<td>جرمنی</td>" in page
    assert "<td>Germany</td>" not in page
    assert "1 دسمبر، 2026" in page  # CLDR's long Urdu date


@pytest.mark.parametrize("wanted", ["de", "UR", "ur ", "xx", "", "ur-PK", "../ur", "e\u0301n"])
def test_a_language_the_campaign_does_not_have_is_ignored(staff: StaffActions, wanted: str) -> None:
    response = staff.signed_in("viewer").get(REPORT, query_string={"lang": wanted}, **HTTPS)
    assert response.status_code == 200
    assert '<html lang="en" dir="ltr">' in response.get_data(as_text=True)


def test_the_report_offers_its_other_languages_by_name(staff: StaffActions) -> None:
    nav = between(report(staff), '<nav class="no-print"', "</nav>")
    assert '<strong lang="en" dir="auto">English</strong>' in nav  # each language by its own name
    assert 'hreflang="ur" lang="ur" dir="auto">اردو</a>' in nav
    assert 'hreflang="fa" lang="fa" dir="auto">فارسی</a>' in nav
    assert 'hreflang="ps" lang="ps" dir="auto">پښتو</a>' in nav


def test_signed_out_the_report_sends_to_the_sign_in(app: Flask) -> None:
    anonymous = app.test_client().get(REPORT, **HTTPS)
    assert anonymous.status_code == 302
    assert "/staff/login" in anonymous.headers["Location"]
