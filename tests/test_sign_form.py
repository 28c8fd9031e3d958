"""The sign form against hostile input: a bad form is refused, explained, and changes nothing."""

from __future__ import annotations

import html
import re
import time
from unittest import mock

import itsdangerous.timed
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.models import OutboxMessage, Signature
from widget.tokens import form_tokens

from .conftest import SECRET, Supporter, form_token


def rows(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Signature)) or 0,
        session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
    )


def error_for(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert match, f"no error shown next to {field}"
    return html.unescape(match.group(1))


def test_widget_page_shows_the_ask_targets_letter_counter_and_form(supporter: Supporter) -> None:
    page = supporter.open_widget()
    assert '<h1 lang="en" dir="ltr">Stop deporting Afghan refugees</h1>' in page
    assert "UA 109.23" in page
    assert 'href="mailto:info@embassyofpakistanusa.org?subject=Stop%20deporting' in page
    assert 'href="tel:+12022436500"' in page
    assert "Constitution Avenue" in page
    assert 'lang="en" dir="ltr">I am deeply concerned' in page
    assert 'data-greeting lang="en" dir="ltr">Dear Ambassador,</span>' in page
    assert 'data-count="0"' in page
    for name in ("name", "email", "country", "actions", "consent", "opt_in", "csrf_token"):
        assert f'name="{name}"' in page
    assert 'name="opt_in" type="checkbox" value="y">' in page  # never pre-ticked
    assert "February 8, 2024" in page


def test_widget_page_sets_no_cookie_and_may_be_framed_by_any_site(client: FlaskClient) -> None:
    response = client.get("/w/ua-109-23")
    assert "Set-Cookie" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers


def test_unknown_campaign_is_a_clear_404(client: FlaskClient, supporter: Supporter) -> None:
    response = client.get("/w/no-such-campaign")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
    response = client.post(
        "/w/no-such-campaign", data=supporter.form(), headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 404


BAD_FIELDS = [
    ("name", {"name": None}, "Please enter your name."),
    ("name", {"name": "   "}, "Please enter your name."),
    ("name", {"name": "x" * 121}, "Please keep your name under 120 characters."),
    (
        "name",
        {"name": "Ayesha\r\nBcc: x@example.org"},
        "Please use letters, spaces and punctuation only.",
    ),
    ("email", {"email": None}, "Please enter your email address."),
    ("email", {"email": "ayesha"}, "Please enter a valid email address, like name@example.org."),
    ("email", {"email": "ayesha@"}, "Please enter a valid email address, like name@example.org."),
    (
        "email",
        {"email": "a b@example.org"},
        "Please enter a valid email address, like name@example.org.",
    ),
    ("email", {"email": "a" * 250 + "@example.org"}, "This email address is too long."),
    ("country", {"country": None}, "Please choose your country."),
    ("country", {"country": ""}, "Please choose your country."),
    ("country", {"country": "QQ"}, "Please choose your country from the list."),
    ("country", {"country": "pk"}, "Please choose your country from the list."),
    ("country", {"country": "EU"}, "Please choose your country from the list."),
    ("country", {"country": "PAK"}, "Please choose your country from the list."),
    ("actions", {"actions": ["petition"]}, "Please choose from the actions listed."),
    ("actions", {"actions": ["letter", "<script>"]}, "Please choose from the actions listed."),
    ("consent", {"consent": None}, "Please agree so that we can count you."),
]


@pytest.mark.parametrize(("field", "change", "message"), BAD_FIELDS)
def test_a_bad_field_is_explained_next_to_it_and_nothing_is_stored(
    supporter: Supporter, session: Session, field: str, change: dict[str, object], message: str
) -> None:
    response = supporter.sign(**change)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert error_for(page, field) == message
    assert (
        f'href="#{field if field != "actions" else "actions-0"}">{html.escape(message)}</a>' in page
    )
    assert rows(session) == (0, 0)


def test_what_was_typed_is_kept_after_an_error(supporter: Supporter) -> None:
    page = supporter.sign(consent=None, name="Zainab بی بی", actions=["call"]).get_data(
        as_text=True
    )
    assert 'value="Zainab بی بی"' in page
    assert 'value="ayesha@example.org"' in page
    assert '<option value="PK" selected>Pakistan</option>' in page
    assert 'checked id="actions-2" name="actions" type="checkbox" value="call"' in page
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="consent-error"' in page


def test_a_new_form_token_comes_with_the_error_page(supporter: Supporter) -> None:
    page = supporter.sign(name=None).get_data(as_text=True)
    assert form_token(page)


def test_a_form_without_token_is_refused(supporter: Supporter, session: Session) -> None:
    response = supporter.sign(csrf_token=None)
    assert response.status_code == 400
    assert "This form could not be checked. Please sign again." in response.get_data(as_text=True)
    assert rows(session) == (0, 0)


def test_a_forged_form_token_is_refused(supporter: Supporter, session: Session) -> None:
    forged = form_tokens(("some-other-secret-key-123",)).dumps({"c": "ua-109-23", "n": "x"})
    response = supporter.sign(csrf_token=forged)
    assert response.status_code == 400
    assert "This form could not be checked. Please sign again." in response.get_data(as_text=True)
    assert rows(session) == (0, 0)


def test_a_form_token_for_another_campaign_is_refused(
    supporter: Supporter, session: Session
) -> None:
    other = form_tokens((SECRET,)).dumps({"c": "another-campaign", "n": "x"})
    response = supporter.sign(csrf_token=other)
    assert response.status_code == 400
    assert "This form belongs to another campaign." in response.get_data(as_text=True)
    assert rows(session) == (0, 0)


def test_an_expired_form_token_asks_to_sign_again_keeping_the_input(
    supporter: Supporter, session: Session
) -> None:
    thirteen_hours_ago = time.time() - 13 * 3600
    with mock.patch.object(itsdangerous.timed.time, "time", return_value=thirteen_hours_ago):
        old = form_tokens((SECRET,)).dumps({"c": "ua-109-23", "n": "x"})
    response = supporter.sign(csrf_token=old)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This form was open for a long time." in page
    assert 'value="Ayesha Khan"' in page
    assert rows(session) == (0, 0)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": None, "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": None, "Origin": "null"},
        {"Sec-Fetch-Site": None, "Origin": "http://localhost.evil.example"},
    ],
)
def test_a_post_from_another_site_is_refused(
    supporter: Supporter, session: Session, headers: dict[str, str | None]
) -> None:
    form = supporter.form()
    sent = {k: v for k, v in headers.items() if v is not None}
    response = supporter.client.post("/w/ua-109-23", data=form, headers=sent)
    assert response.status_code == 403
    assert "This form was sent from another website" in response.get_data(as_text=True)
    assert rows(session) == (0, 0)


def test_a_post_with_our_own_origin_is_accepted(supporter: Supporter, session: Session) -> None:
    form = supporter.form()
    response = supporter.client.post(
        "/w/ua-109-23", data=form, headers={"Origin": "http://localhost"}
    )
    assert response.status_code == 200
    assert rows(session) == (1, 1)


def test_an_oversized_body_is_refused_with_413(supporter: Supporter, session: Session) -> None:
    response = supporter.sign(name="x" * 70_000)
    assert response.status_code == 413
    assert "That was too much text" in response.get_data(as_text=True)
    assert rows(session) == (0, 0)


def test_repeated_and_wrongly_typed_fields_do_not_break_the_form(
    supporter: Supporter, session: Session
) -> None:
    response = supporter.client.post(
        "/w/ua-109-23",
        data={**supporter.form(), "name": ["One", "Two"], "consent": "no-such-value"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200
    [signature] = session.scalars(select(Signature)).all()
    assert signature.name == "One"


def test_a_json_body_is_refused(supporter: Supporter, session: Session) -> None:
    """Our form never sends JSON; Flask-WTF would take it as form data (see test_robustness)."""
    response = supporter.client.post(
        "/w/ua-109-23",
        json={"csrf_token": form_token(supporter.open_widget()), "name": "A", "email": "x"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 415
    assert "We could not read what was sent" in response.get_data(as_text=True)
    assert rows(session) == (0, 0)


def test_a_closed_campaign_shows_the_final_count_and_no_form(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session, tmp_path
) -> None:
    form = supporter.form()
    closed = tmp_path / "closed.toml"
    from widget.paths import CAMPAIGNS

    closed.write_text(
        (CAMPAIGNS / "ua-109-23.toml")
        .read_text()
        .replace(
            'allowed_origins = ["*"]',
            'allowed_origins = ["*"]\ncloses_at = 2024-02-08T23:59:00+05:00',
        )
    )
    assert app.test_cli_runner().invoke(args=["campaign", "load", str(closed)]).exit_code == 0
    page = client.get("/w/ua-109-23").get_data(as_text=True)
    assert "This action has closed" in page
    assert "<form" not in page
    assert 'data-count="0"' in page
    response = client.post("/w/ua-109-23", data=form, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 409
    assert rows(session) == (0, 0)
