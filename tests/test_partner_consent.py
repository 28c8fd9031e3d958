"""Consent to share with a partner (issue 14): a separate box, shown only when the widget is
embedded for a registered, active partner, never pre-ticked, stored with its wording's version,
the owner's to untick on the confirm page, gone with a withdrawal."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.models import OutboxMessage, Signature
from widget.partners import save_partner
from widget.signing import CONSENT_VERSION, PARTNER_CONSENT_VERSION

from .conftest import Supporter
from .partners_helpers import INACTIVE, OTHER, PARTNER, add_partners

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
BOX = re.compile(r'<input[^>]*name="partner_opt_in"[^>]*>')


@pytest.fixture(autouse=True)
def partners(app: Flask) -> None:
    add_partners(app)


def sign_for(supporter: Supporter, partner: str | None, **fields: object):  # type: ignore[no-untyped-def]
    query = {"partner": partner} if partner is not None else {}
    return supporter.client.post(
        "/w/ua-109-23",
        query_string=query,
        data=supporter.form(**fields),
        headers=SAME_ORIGIN,
    )


def stored(session: Session, email: str = "ayesha@example.org") -> tuple[object, ...]:
    session.expire_all()
    signature = session.scalars(select(Signature).where(Signature.email == email)).one()
    partner = signature.partner.slug if signature.partner else None
    return (partner, signature.partner_opt_in, signature.partner_consent_version)


def mailed_paths(session: Session, prefix: str) -> list[str]:
    session.expire_all()
    bodies = session.scalars(select(OutboxMessage.text_body).order_by(OutboxMessage.id))
    found = []
    for body in bodies:
        match = re.search(rf"https?://[^/\s]+({prefix}\S+)", body)
        assert match, body
        found.append(match.group(1))
    return found


# --- the sign form --------------------------------------------------------------------------------


def test_the_box_is_shown_unticked_for_a_registered_active_partner(
    supporter: Supporter,
) -> None:
    page = supporter.open_widget(partner=PARTNER)
    [box] = BOX.findall(page)
    assert 'type="checkbox"' in box
    assert "checked" not in box
    assert 'id="partner_opt_in"' in box
    assert (
        '<label for="partner_opt_in">Also let News Site contact me. They receive my name, '
        "email address, country and language. (Optional)</label>"
    ) in page
    # separate from the organisation's own box, which stays as it was
    assert page.count('name="opt_in"') == 1


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"partner": ""},
        {"partner": "no-such-site"},
        {"partner": INACTIVE},
        {"partner": PARTNER.upper()},
        {"partner": f"{PARTNER} "},
        {"partner": "n\u0435ws-site"},  # Cyrillic ie for the e
        {"partner": PARTNER * 40},
    ],
)
def test_the_box_is_not_shown_without_a_registered_active_partner(
    supporter: Supporter, query: dict[str, str]
) -> None:
    page = supporter.open_widget(**query)
    assert BOX.findall(page) == []
    assert "Also let" not in page


def test_the_partners_name_is_shown_as_text_not_markup(app: Flask, supporter: Supporter) -> None:
    from widget.clock import utcnow
    from widget.extensions import db

    with db.sessionmaker(app)() as session:
        save_partner(session, "tricky", 'Ñews & Co "<b>"', [], utcnow(), actor="t")
    page = supporter.open_widget(partner="tricky")
    assert "Also let Ñews &amp; Co &#34;&lt;b&gt;&#34; contact me." in page
    assert "<b>" not in page


def test_a_tick_for_an_active_partner_is_stored_with_its_version(
    supporter: Supporter, session: Session
) -> None:
    response = sign_for(supporter, PARTNER, partner_opt_in="y")
    assert response.status_code == 200
    assert stored(session) == (PARTNER, True, PARTNER_CONSENT_VERSION)
    assert PARTNER_CONSENT_VERSION != CONSENT_VERSION
    assert len(PARTNER_CONSENT_VERSION) <= 20


def test_no_tick_stores_no_and_no_version(supporter: Supporter, session: Session) -> None:
    sign_for(supporter, PARTNER)
    assert stored(session) == (PARTNER, False, None)


@pytest.mark.parametrize("partner", [None, "", "no-such-site", INACTIVE, "NEWS-SITE"])
@pytest.mark.parametrize("value", ["y", "1", "on", "yes"])
def test_a_tick_posted_without_a_registered_active_partner_is_ignored(
    supporter: Supporter, session: Session, partner: str | None, value: str
) -> None:
    response = sign_for(supporter, partner, partner_opt_in=value)
    assert response.status_code == 200
    assert stored(session) == (None, False, None)


def test_the_tick_never_reaches_another_partner(supporter: Supporter, session: Session) -> None:
    """The box answers for the partner the widget was embedded for, the one credited."""
    sign_for(supporter, OTHER, partner_opt_in="y")
    assert stored(session) == (OTHER, True, PARTNER_CONSENT_VERSION)


def test_a_re_sign_does_not_change_the_stored_answer(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    sign_for(supporter, PARTNER)
    again = sign_for(Supporter(client), PARTNER, partner_opt_in="y")
    assert again.status_code == 200
    assert stored(session) == (PARTNER, False, None)
    sign_for(supporter, OTHER, email="reza@example.org", partner_opt_in="y")
    sign_for(Supporter(client), OTHER, email="reza@example.org")
    assert stored(session, "reza@example.org") == (OTHER, True, PARTNER_CONSENT_VERSION)


def test_a_form_error_keeps_the_supporters_own_tick(supporter: Supporter) -> None:
    response = sign_for(supporter, PARTNER, partner_opt_in="y", name="")
    assert response.status_code == 400
    [box] = BOX.findall(response.get_data(as_text=True))
    assert "checked" in box


# --- the confirm page -----------------------------------------------------------------------------


def test_the_confirm_page_shows_the_answer_and_keeps_it_when_left_ticked(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    sign_for(supporter, PARTNER, partner_opt_in="y")
    [link] = mailed_paths(session, "/v/")
    page = html.unescape(client.get(link).get_data(as_text=True))
    assert "<dt>May News Site contact you</dt><dd>Yes</dd>" in page
    [box] = BOX.findall(page)
    assert "checked" in box
    assert '<input type="hidden" name="partner_opt_in_shown" value="y">' in page
    response = client.post(
        link, data={"partner_opt_in_shown": "y", "partner_opt_in": "y"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 200
    assert stored(session) == (PARTNER, True, PARTNER_CONSENT_VERSION)


def test_unticking_on_the_confirm_page_stores_no(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    sign_for(supporter, PARTNER, partner_opt_in="y", opt_in="y")
    [link] = mailed_paths(session, "/v/")
    response = client.post(
        link,
        data={"partner_opt_in_shown": "y", "opt_in_shown": "y", "opt_in": "y"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    assert stored(session) == (PARTNER, False, None)
    session.expire_all()
    signature = session.scalars(select(Signature)).one()
    assert (signature.opt_in, signature.verified_at is not None) == (True, True)


def test_the_confirm_page_cannot_turn_a_no_into_a_yes(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    sign_for(supporter, PARTNER)
    [link] = mailed_paths(session, "/v/")
    page = html.unescape(client.get(link).get_data(as_text=True))
    assert "<dt>May News Site contact you</dt><dd>No</dd>" in page
    assert BOX.findall(page) == []
    client.post(
        link, data={"partner_opt_in_shown": "y", "partner_opt_in": "y"}, headers=SAME_ORIGIN
    )
    assert stored(session) == (PARTNER, False, None)


def test_the_confirm_page_says_nothing_of_a_partner_when_there_is_none(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    sign_for(supporter, None)
    [link] = mailed_paths(session, "/v/")
    page = client.get(link).get_data(as_text=True)
    assert "contact you</dt>" not in page.replace("May the organisation email you", "")
    assert BOX.findall(page) == []


# --- withdrawal and erasure -----------------------------------------------------------------------


def test_withdrawing_withdraws_the_partner_consent_too(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    sign_for(supporter, PARTNER, partner_opt_in="y")
    [confirm] = mailed_paths(session, "/v/")
    client.post(
        confirm, data={"partner_opt_in_shown": "y", "partner_opt_in": "y"}, headers=SAME_ORIGIN
    )
    [manage] = mailed_paths(session, "/m/")
    assert client.post(manage, headers=SAME_ORIGIN).status_code == 200
    assert stored(session, "") == (PARTNER, False, None)


def test_erasure_on_request_clears_the_partner_consent(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    sign_for(supporter, PARTNER, partner_opt_in="y")
    result = app.test_cli_runner().invoke(args=["erase", "ayesha@example.org", "--apply"])
    assert result.exit_code == 0, result.output
    assert stored(session, "") == (PARTNER, False, None)
