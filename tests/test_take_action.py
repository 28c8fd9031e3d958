"""Taking the action: each target's email link carries its own salutation, the letter and the
typed name, exactly encoded, in the letter's chosen language; a letter too long for a link
falls back to copying; calls, posts, fax and postal addresses are shown where given."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.campaigns import CampaignFileError, parse_campaign, save_campaign
from widget.clock import utcnow
from widget.models import Campaign
from widget.take_action import MAILTO_LIMIT, greeting, letter_body, mailto, social_link

from .conftest import StaffActions, Supporter
from .test_campaign_editor import NEW, NEW_FORM
from .test_staff import get, post

#: a title, letter and names full of what breaks links: ? & # % quotes, line breaks
HOSTILE_TITLE = 'Q&A: "Free" #them? 100%'
HOSTILE_LETTER = "Stop it & now?\n#1 'yes' \"no\""
HOSTILE: dict[str, Any] = {
    "slug": "hostile",
    "reference": "UA 9.99",
    "title": HOSTILE_TITLE,
    "summary": "A test campaign.",
    "ask": "Write to them.",
    "sample_letter": HOSTILE_LETTER,
    "call_script": "Say: free them & now.",
    "languages": ["en", "ur"],
    "actions": ["letter", "email"],
    "targets": [
        {
            "name": "Ms O'Brien & <Co>",
            "salutation": "Dear Ms O'Brien & Co?",
            "salutations": {"ur": "محترم"},
            "email": "o.brien+ua@example.org",
            "phone": "+44 (20) 7946 0000",
            "fax": "+44 20 7946 0001",
            "social": "@obrien_1",
            "address": "1 Road\nLondon",
        },
        {"name": "Minister", "social": "@minister.bsky.social", "email": "m@example.org"},
        {"name": "Mayor with a postal address only", "address": "Town Hall\nSpringfield"},
    ],
    "translations": {"ur": {"title": "رہا کرو", "sample_letter": "رہا کرو"}},
}
#: HOSTILE_TITLE and the first target's body, percent-encoded by hand (RFC 6068)
SUBJECT = "Q%26A%3A%20%22Free%22%20%23them%3F%20100%25"
BODY = (
    "Dear%20Ms%20O%27Brien%20%26%20Co%3F%2C%0D%0A%0D%0A"
    "Stop%20it%20%26%20now%3F%0D%0A%231%20%27yes%27%20%22no%22"
)
#: "رہا کرو" and "محترم،" as UTF-8, percent-encoded
URDU_TITLE = "%D8%B1%DB%81%D8%A7%20%DA%A9%D8%B1%D9%88"
URDU_GREETING = "%D9%85%D8%AD%D8%AA%D8%B1%D9%85%D8%8C"


def hrefs(page: str, css_class: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(rf'class="{css_class}" href="([^"]*)"', page)]


@pytest.fixture
def hostile(session: Session, client: FlaskClient) -> Supporter:
    save_campaign(session, dict(HOSTILE), utcnow(), actor=None)
    return Supporter(client, campaign="hostile")


# The rules, alone


def test_mailto_encodes_every_character_that_would_change_the_link() -> None:
    assert mailto("a+b@example.org", HOSTILE_TITLE, "x\ny") == (
        f"mailto:a%2Bb@example.org?subject={SUBJECT}&body=x%0D%0Ay"
    )
    assert mailto("a@example.org", "T", "") == "mailto:a@example.org?subject=T"


def test_the_greeting_takes_the_comma_of_its_language() -> None:
    assert greeting("Dear Ambassador", "en") == "Dear Ambassador,"
    assert greeting("محترم سفیر صاحب", "ur") == "محترم سفیر صاحب،"
    assert greeting("Dear Ambassador,", "en") == "Dear Ambassador,"
    assert greeting("", "en") == ""


def test_a_salutation_in_another_language_keeps_its_comma_and_its_direction() -> None:
    """An English salutation in an Urdu letter: the English comma, isolated (FSI ... PDI) so the
    right-to-left letter does not move it; same direction, no isolate."""
    assert greeting("Dear Ambassador", "en", "ur") == "\u2068Dear Ambassador,\u2069"
    assert greeting("محترم", "ur", "en") == "\u2068محترم،\u2069"
    assert greeting("محترم", "ur", "fa") == "محترم،"
    assert greeting("Dear Ambassador", "en", "uk") == "Dear Ambassador,"
    urdu = "رہا کرو"
    assert letter_body("Dear Sir", urdu, "Ali", "ur", "en") == (
        f"\u2068Dear Sir,\u2069\n\n{urdu}\nAli"
    )


def test_an_urdu_letter_to_a_target_greeted_only_in_english(
    session: Session, client: FlaskClient
) -> None:
    envoy = {"name": "Envoy", "salutation": "Dear Envoy", "email": "envoy@example.org"}
    save_campaign(session, {**HOSTILE, "slug": "envoy", "targets": [envoy]}, utcnow(), actor=None)
    page = Supporter(client, campaign="envoy").open_widget(letter="ur")
    assert 'data-greeting lang="en" dir="ltr">Dear Envoy,</span>' in page
    assert "Dear Envoy،" not in page
    assert hrefs(page, "email-letter") == [
        f"mailto:envoy@example.org?subject={URDU_TITLE}"
        f"&body=%E2%81%A8Dear%20Envoy%2C%E2%81%A9%0D%0A%0D%0A{URDU_TITLE}"
    ]
    # the script gets each letter language's greeting ready: shown, and as the first line
    openings = json.loads(html.unescape(re.search(r'data-openings="([^"]*)"', page)[1]))
    assert openings == {
        "en": {"text": "Dear Envoy,", "language": "en", "direction": "ltr", "line": "Dear Envoy,"},
        "ur": {
            "text": "Dear Envoy,",
            "language": "en",
            "direction": "ltr",
            "line": "\u2068Dear Envoy,\u2069",
        },
    }


def test_the_body_is_greeting_letter_then_name_and_leaves_out_what_is_missing() -> None:
    assert letter_body("Dear Sir", "Free them.\n\nYours,", " Ayesha ", "en") == (
        "Dear Sir,\n\nFree them.\n\nYours,\nAyesha"
    )
    assert letter_body("", "Free them.", "", "en") == "Free them."
    assert letter_body("Dear Sir", "Free them.", "", "en") == "Dear Sir,\n\nFree them."


@pytest.mark.parametrize(
    ("handle", "network", "name"),
    [
        ("@PakinUSA", "x", "@PakinUSA"),
        ("https://x.com/PakinUSA", "x", "@PakinUSA"),
        ("https://twitter.com/PakinUSA/", "x", "@PakinUSA"),
        ("@embassy.bsky.social", "bluesky", "@embassy.bsky.social"),
        ("https://bsky.app/profile/embassy.bsky.social", "bluesky", "@embassy.bsky.social"),
    ],
)
def test_x_and_bluesky_handles_become_compose_links(handle: str, network: str, name: str) -> None:
    social = social_link(handle, "Free them & now?")
    assert social is not None
    assert (social.network, social.handle) == (network, name)
    prefix = {"x": "https://x.com/intent/post", "bluesky": "https://bsky.app/intent/compose"}
    encoded_name = name.replace("@", "%40")
    assert social.url == f"{prefix[network]}?text={encoded_name}%20Free%20them%20%26%20now%3F"


@pytest.mark.parametrize(
    "handle",
    ["PakinUSA", "@me@mastodon.social", "@a b", "javascript:alert(1)", "@" + "x" * 16],
)
def test_other_handles_get_no_link(handle: str) -> None:
    assert social_link(handle, "t") is None


def test_salutations_only_in_the_campaigns_other_languages() -> None:
    def error(salutations: object) -> str:
        target = {"name": "M", "salutations": salutations}
        with pytest.raises(CampaignFileError) as caught:
            parse_campaign({**HOSTILE, "targets": [target], "translations": {}})
        return caught.value.field

    assert error({"de": "Sehr geehrte"}) == "targets[1].salutations.de"
    assert error({"en": "Dear"}) == "targets[1].salutations.en"
    assert error({"ur": "a\nb"}) == "targets[1].salutations.ur"
    assert error({"ur": 5}) == "targets[1].salutations.ur"
    assert error("ur: x") == "targets[1].salutations"


# The page


def test_each_target_gets_its_salutation_the_letter_and_an_exact_link(hostile: Supporter) -> None:
    page = hostile.open_widget()
    assert hrefs(page, "email-letter") == [
        f"mailto:o.brien%2Bua@example.org?subject={SUBJECT}&body={BODY}",
        f"mailto:m@example.org?subject={SUBJECT}&body="
        "Stop%20it%20%26%20now%3F%0D%0A%231%20%27yes%27%20%22no%22",
    ]
    assert 'data-greeting lang="en" dir="ltr">Dear Ms O&#39;Brien &amp; Co?,</span>' in page
    assert "Ms O&#39;Brien &amp; &lt;Co&gt;" in page
    assert 'href="tel:+442079460000"' in page
    assert "+44 20 7946 0001" in page
    assert "<p>Say: free them &amp; now.</p>" in page
    assert "data-too-long hidden>" in page


def test_the_letter_can_be_sent_in_urdu_with_the_urdu_salutation(hostile: Supporter) -> None:
    page = hostile.open_widget(letter="ur")
    assert hrefs(page, "email-letter")[0] == (
        f"mailto:o.brien%2Bua@example.org?subject={URDU_TITLE}"
        f"&body={URDU_GREETING}%0D%0A%0D%0A{URDU_TITLE}"
    )
    # the second target has no Urdu salutation: the letter alone, never another's greeting
    assert hrefs(page, "email-letter")[1] == (
        f"mailto:m@example.org?subject={URDU_TITLE}&body={URDU_TITLE}"
    )
    assert 'lang="ur" dir="rtl">رہا کرو</textarea>' in page
    assert '<option value="ur" selected>' in page


def test_a_letter_language_the_campaign_lacks_falls_back_to_the_reader_s(
    hostile: Supporter,
) -> None:
    page = hostile.open_widget(letter="fa&x")
    assert f"subject={SUBJECT}&amp;body=" in page
    assert '<option value="en" selected>' in page


def test_the_name_typed_in_the_sign_form_signs_the_letter(hostile: Supporter) -> None:
    response = hostile.sign(name="Ayesha & Co #1", email="not-an-address")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert hrefs(page, "email-letter")[0] == (
        f"mailto:o.brien%2Bua@example.org?subject={SUBJECT}&body={BODY}"
        "%0D%0AAyesha%20%26%20Co%20%231"
    )


def test_posts_go_to_x_and_bluesky_compose_pages_and_nothing_else_loads(
    hostile: Supporter,
) -> None:
    page = hostile.open_widget()
    assert hrefs(page, "social-post") == [
        f"https://x.com/intent/post?text=%40obrien_1%20{SUBJECT}",
        f"https://bsky.app/intent/compose?text=%40minister.bsky.social%20{SUBJECT}",
    ]
    assert "Post to @obrien_1 on X" in page
    assert "Post to @minister.bsky.social on Bluesky" in page
    assert re.findall(r'<script src="([^"]+)"', page) == [
        "/static/letter.js",
        "/static/widget.js",
    ]


def test_a_target_with_a_postal_address_only_gets_the_letter_to_copy(
    hostile: Supporter,
) -> None:
    page = hostile.open_widget()
    mayor = page.split('id="target-3"')[1].split("</li>\n  \n  </ul>")[0]
    assert "Town Hall\nSpringfield</address>" in mayor
    assert "mailto:" not in mayor and "tel:" not in mayor and "intent" not in mayor
    assert "data-copy-letter" in mayor


def test_a_link_over_the_limit_carries_the_subject_only_and_says_why(
    session: Session, client: FlaskClient
) -> None:
    prefix = len("mailto:m@example.org?subject=T&body=")
    for length, fits in ((MAILTO_LIMIT - prefix, True), (MAILTO_LIMIT - prefix + 1, False)):
        data = {
            **HOSTILE,
            "slug": f"long-{length}",
            "title": "T",
            "languages": ["en"],
            "translations": {},
            "sample_letter": "a" * length,
            "targets": [{"name": "M", "email": "m@example.org"}],
        }
        save_campaign(session, data, utcnow(), actor=None)
        page = Supporter(client, campaign=f"long-{length}").open_widget()
        expected = "mailto:m@example.org?subject=T" + (f"&body={'a' * length}" if fits else "")
        assert hrefs(page, "email-letter") == [expected]
        assert ("data-too-long hidden>" in page) is fits
        assert "too long for an email link" in page


def test_the_demo_in_english_and_in_urdu(supporter: Supporter) -> None:
    page = supporter.open_widget()
    assert page.count("data-greeting") == 2
    assert "Dear H.E. Anwar-ul-Haq Kakar,</span>" in page
    assert "Dear Ambassador,</span>" in page
    # the demo's letter is longer than a link carries: the subject only, and the fallback said
    assert hrefs(page, "email-letter") == [
        "mailto:info@embassyofpakistanusa.org?subject=Stop%20deporting%20Afghan%20refugees"
    ]
    assert "data-too-long>" in page
    urdu = supporter.open_widget(lang="ur")
    assert '<h1 lang="ur" dir="rtl">افغان مہاجرین کی ملک بدری روکیں</h1>' in urdu
    assert 'data-greeting lang="ur" dir="rtl">محترم سفیر صاحب،</span>' in urdu
    assert 'lang="ur" dir="rtl">مجھے حکومتِ پاکستان' in urdu
    for language in ("ur", "fa", "ps"):
        assert f'data-letter-text="{language}"' in page


# The staff editor keeps the same fields as the file


def test_the_editor_saves_salutations_per_language_and_the_call_script(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    form = {
        **NEW_FORM,
        "call_script": "Say: release them.",
        "translations-0-call_script": "کہیں: انہیں رہا کرو",
        "targets-0-salutations": "ur: محترم وزیر صاحب\n\n",
    }
    assert post(admin, NEW, form).status_code == 302
    session.expire_all()
    campaign = session.scalars(select(Campaign).where(Campaign.slug == "ua-110-24")).one()
    assert campaign.call_script == "Say: release them."
    assert campaign.translations["ur"]["call_script"] == "کہیں: انہیں رہا کرو"
    assert campaign.targets[0]["salutations"] == {"ur": "محترم وزیر صاحب"}
    edit_page = html.unescape(get(admin, "/staff/campaigns/ua-110-24/edit").get_data(as_text=True))
    assert 'rows="3">\r\nur: محترم وزیر صاحب</textarea>' in edit_page
    assert ">\r\nSay: release them.</textarea>" in edit_page


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ("محترم وزیر صاحب", "write one a line as code: salutation"),
        ("de: Sehr geehrter Herr Minister", "give it only for the campaign's other languages"),
    ],
)
def test_the_editor_explains_a_wrong_salutation_line_next_to_its_box(
    staff: StaffActions, box: str, message: str
) -> None:
    admin = staff.signed_in()
    response = post(admin, NEW, {**NEW_FORM, "targets-0-salutations": box})
    assert response.status_code == 400
    error = re.search(
        r'<p class="error" id="targets-0-salutations-error">([^<]*)</p>',
        html.unescape(response.get_data(as_text=True)),
    )
    assert error and message in error.group(1)


def test_markup_in_a_campaign_s_texts_stays_text(session: Session, client: FlaskClient) -> None:
    markup = '</textarea></template><script>alert(1)</script>"><b>'
    data = {
        **HOSTILE,
        "slug": "markup",
        "sample_letter": markup,
        "targets": [{"name": markup, "salutation": markup, "email": "m@example.org"}],
    }
    save_campaign(session, data, utcnow(), actor=None)
    page = Supporter(client, campaign="markup").open_widget()
    assert "<script>alert" not in page and "<b>" not in page
    escaped = (
        "&lt;/textarea&gt;&lt;/template&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;b&gt;"
    )
    assert f'dir="ltr">{escaped}</textarea>' in page
    assert "\\u003c/textarea\\u003e" in page  # the salutations' JSON, in its attribute
