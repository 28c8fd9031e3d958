"""The letter as the supporter edited it, in the language they chose, goes with the sign form so
a form error brings it back ("nothing typed is lost"); it is only shown again, never kept: not in
the signature, the database, the mails or the logs."""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import unquote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from widget.campaigns import save_campaign
from widget.clock import utcnow
from widget.models import Base, Campaign
from widget.take_action import LETTER_MAX, LETTER_POST_BYTES, posted_size, take_action

from .conftest import Supporter
from .test_take_action import HOSTILE, HOSTILE_LETTER, hrefs

EDITED_URDU = "میری اپنی بات: انہیں رہا کرو & ابھی؟\n#2 دوسرا پیراگراف"


@pytest.fixture
def hostile(session: Session, client: FlaskClient) -> Supporter:
    save_campaign(session, dict(HOSTILE), utcnow(), actor=None)
    return Supporter(client, campaign="hostile")


def letter_box(page: str) -> tuple[str, str]:
    """The letter textarea's language and text."""
    found = re.search(
        r'<textarea id="sample-letter"[^>]*lang="([^"]+)"[^>]*>([^<]*)</textarea>', page
    )
    assert found, "no letter on the page"
    return found[1], html.unescape(found[2])


def test_the_widget_posts_the_letter_and_its_language_with_the_sign_form(
    hostile: Supporter,
) -> None:
    page = hostile.open_widget(letter="ur")
    assert 'id="sign-form"' in page
    assert re.search(r'<textarea id="sample-letter" name="letter_text" form="sign-form"', page)
    assert '<input type="hidden" name="letter" value="ur" form="sign-form"' in page
    assert f'maxlength="{LETTER_MAX}"' in page
    # the form's address keeps the chosen language, for a page without the script
    assert 'action="/w/hostile?letter=ur"' in page


def test_a_form_error_brings_back_the_edited_letter_in_its_language(hostile: Supporter) -> None:
    response = hostile.sign(email="not-an-address", letter="ur", letter_text=EDITED_URDU)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert letter_box(page) == ("ur", EDITED_URDU)
    assert '<option value="ur" selected>' in page
    assert '<input type="hidden" name="letter" value="ur" form="sign-form"' in page
    # the links carry the edit too, with the Urdu greeting and the typed name
    body = html.unescape(hrefs(page, "email-letter")[0]).split("body=")[1]
    assert unquote(body) == "محترم،\r\n\r\n" + EDITED_URDU.replace("\n", "\r\n") + "\r\nAyesha Khan"
    # switching back to the campaign's English finds it as the campaign wrote it
    assert 'data-letter-text="en"' in page


def test_the_browser_s_line_breaks_come_back_as_typed(hostile: Supporter) -> None:
    response = hostile.sign(email="x", letter="en", letter_text="One\r\n\r\nTwo")
    assert letter_box(response.get_data(as_text=True)) == ("en", "One\n\nTwo")


def test_an_emptied_letter_stays_empty(hostile: Supporter) -> None:
    response = hostile.sign(email="x", letter="en", letter_text="")
    assert letter_box(response.get_data(as_text=True)) == ("en", "")


@pytest.mark.parametrize("language", ["fa", "UR", "ur\u200f", "../en", "", "ur" * 20])
def test_a_language_the_campaign_lacks_gives_its_own_letter_and_drops_the_text(
    hostile: Supporter, language: str
) -> None:
    response = hostile.sign(email="x", letter=language, letter_text="<script>forged</script>")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert letter_box(page) == ("en", HOSTILE_LETTER)
    assert "forged" not in page


def test_a_letter_too_long_for_the_form_is_not_sent_so_signing_still_works(
    hostile: Supporter, session: Session, client: FlaskClient
) -> None:
    """16 KiB is the widget's body limit: an Urdu letter of 3,000 letters takes 18 KB in a form
    body, so it stays behind (shown as the campaign wrote it after an error); the demo's fits."""
    long_letter = "ب" * 3000
    assert posted_size(long_letter) > LETTER_POST_BYTES
    campaign = {**HOSTILE, "slug": "long", "languages": ["ur"], "sample_letter": long_letter}
    campaign["targets"] = [{"name": "Envoy", "salutation": "محترم", "email": "e@example.org"}]
    campaign.pop("translations")
    save_campaign(session, campaign, utcnow(), actor=None)
    supporter = Supporter(client, campaign="long")
    page = supporter.open_widget()
    assert '<textarea id="sample-letter" form="sign-form"' in page
    assert supporter.sign(email="x").status_code == 400
    assert supporter.sign().status_code == 200
    demo = Supporter(client).open_widget(letter="ur")
    assert '<textarea id="sample-letter" name="letter_text" form="sign-form"' in demo
    # a forged edit longer than any campaign's letter is cut to that length
    row = session.scalars(select(Campaign).where(Campaign.slug == "hostile")).one()
    edited = take_action(row, "en", "en", "", "a" * (LETTER_MAX + 5)).chosen
    assert edited is not None and edited.text == "a" * LETTER_MAX


def test_the_posted_language_wins_over_the_address_s(hostile: Supporter) -> None:
    """The script switches the language without reloading: the form's field says the latest."""
    data = hostile.form(email="x", letter="ur", letter_text=EDITED_URDU)
    response = hostile.client.post(
        "/w/hostile?letter=en", data=data, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert letter_box(response.get_data(as_text=True)) == ("ur", EDITED_URDU)


MARKER = "Xq7-letter-marker-Zr9"


def test_the_letter_is_never_kept(
    hostile: Supporter, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        failed = hostile.sign(email="x", letter="en", letter_text=f"{MARKER} failed")
        assert failed.status_code == 400
        signed = hostile.sign(letter="ur", letter_text=f"{MARKER} signed")
        assert signed.status_code == 200
    assert MARKER not in caplog.text
    assert all(MARKER not in str(record.args) for record in caplog.records)
    rows = 0
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)).all():
            rows += 1
            assert MARKER not in repr(tuple(row)), table.name
    assert rows > 0
    # the signature was stored (so the scan had something to miss), in the widget's language
    assert session.execute(text("select language from signature")).scalar_one() == "en"
