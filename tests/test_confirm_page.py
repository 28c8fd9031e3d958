"""Consent is the owner's (issue 17, item 11): a re-sign cannot rewrite a pending signature, the
confirm page shows everything that will be stored, and the owner may untick the opt-in there."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.models import OutboxMessage, Signature

from .conftest import Supporter

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def stored(session: Session) -> tuple[object, ...]:
    session.expire_all()
    s = session.scalars(select(Signature)).one()
    return (s.name, s.email, s.country, s.actions, s.opt_in, s.language, s.partner_id)


def links(session: Session) -> list[tuple[str, str]]:
    """(confirm link, manage link) of every mail, as paths, oldest first."""
    session.expire_all()
    found = []
    for body in session.scalars(select(OutboxMessage.text_body).order_by(OutboxMessage.id)):
        verify = re.search(r"https?://[^/\s]+(/v/\S+)", body)
        manage = re.search(r"https?://[^/\s]+(/m/\S+)", body)
        assert verify and manage, body
        found.append((verify.group(1), manage.group(1)))
    return found


def test_a_strangers_re_sign_changes_nothing_stored(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    before = stored(session)
    assert before == (
        "Ayesha Khan",
        "ayesha@example.org",
        "PK",
        ["letter", "email"],
        False,
        "en",
        None,
    )
    stranger = Supporter(client)
    response = client.post(
        "/w/ua-109-23?lang=ur",
        data=stranger.form(
            name="Someone Else",
            email="AYESHA@example.org",
            country="AF",
            actions=["call"],
            opt_in="y",
        ),
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    assert stored(session) == before
    # the owner got her link again, in her language, showing what she typed
    assert len(links(session)) == 2
    page = client.get(links(session)[1][0]).get_data(as_text=True)
    assert "Ayesha Khan" in page and "Someone Else" not in page
    assert '<html lang="en"' in page


def test_the_confirm_page_shows_everything_that_will_be_stored(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign(opt_in="y", actions=["letter", "call"], country="DE")
    page = html.unescape(client.get(links(session)[0][0]).get_data(as_text=True))
    details = re.search(r'<dl class="details">(.*?)</dl>', page, re.S)
    assert details
    pairs = re.findall(r"<dt>([^<]*)</dt>\s*<dd>(.*?)</dd>", details.group(1), re.S)
    assert [(term, re.sub("<[^>]+>", "", value).strip()) for term, value in pairs] == [
        ("Name", "Ayesha Khan"),
        ("Email", "ayesha@example.org"),
        ("Country", "Germany"),
        ("Actions you took", "I wrote a letter, I phoned"),
        ("May the organisation email you", "Yes"),
        ("Language", "English"),
    ]
    assert 'name="opt_in" value="y" checked' in page
    # and a way out for whoever did not sign
    assert "Not you, or not right?" in page
    assert "an unconfirmed signature is deleted after 14 days" in page
    manage = re.search(r'<a href="(/m/[^"]+)">Withdraw and erase these details</a>', page)
    assert manage
    assert "Withdraw and erase my signature" in client.get(manage.group(1)).get_data(as_text=True)


def test_without_opt_in_the_page_says_no_and_offers_no_box(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    page = client.get(links(session)[0][0]).get_data(as_text=True)
    assert "<dt>May the organisation email you</dt><dd>No</dd>" in page
    assert 'name="opt_in"' not in page
    # a forged "opt_in=y" on the confirm POST cannot turn a no into a yes
    client.post(
        links(session)[0][0], data={"opt_in": "y", "opt_in_shown": "y"}, headers=SAME_ORIGIN
    )
    assert stored(session)[4] is False


def test_unticking_the_opt_in_at_confirmation_stores_no(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign(opt_in="y")
    verify = links(session)[0][0]
    # the form as the browser sends it with the box unticked: the marker, no opt_in
    response = client.post(verify, data={"opt_in_shown": "y"}, headers=SAME_ORIGIN)
    assert "Thank you! Your signature is confirmed." in response.get_data(as_text=True)
    session.expire_all()
    signature = session.scalars(select(Signature)).one()
    assert (signature.verified_at is not None, signature.opt_in) == (True, False)


def test_keeping_the_box_ticked_keeps_the_opt_in(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign(opt_in="y")
    verify = links(session)[0][0]
    client.post(verify, data={"opt_in_shown": "y", "opt_in": "y"}, headers=SAME_ORIGIN)
    assert stored(session)[4] is True


def test_the_confirm_page_is_in_the_signatures_language(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    client.post("/w/ua-109-23?lang=ur", data=supporter.form(opt_in="y"), headers=SAME_ORIGIN)
    page = client.get(links(session)[0][0] + "?lang=en").get_data(as_text=True)
    assert '<html lang="ur" dir="rtl"' in page
    assert "اردو" in page
