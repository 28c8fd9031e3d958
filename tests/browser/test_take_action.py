"""Taking the action in Chromium, inside a partner's page on another site: the supporter edits the
letter, types a name in the sign form, switches the letter to Urdu, and every target's email
link follows; copying gives the same letter; a keyboard alone does it all; axe finds nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from widget.campaigns import save_campaign
from widget.clock import utcnow
from widget.extensions import db
from widget.take_action import letter_body, mailto

from .conftest import LiveSite, embed_tag, screenshot
from .test_accessibility import assert_accessible
from .test_embed_views import freeze_clock

pytestmark = pytest.mark.browser

URDU_LETTER = ("براہِ کرم تینوں محافظوں کو رہا کریں اور الزامات واپس لیں۔", "والسلام")  # noqa: RUF001
#: short enough for its email links to carry the whole letter, in English and in Urdu
SHORT: dict[str, Any] = {
    "slug": "short-letter",
    "reference": "UA 1.25",
    "title": "Free the river defenders",
    "summary": "Three activists are held for defending a river.",
    "ask": "Write to both officials.",
    "sample_letter": "Please release the three defenders & drop the charges.\n\nYours sincerely,",
    "call_script": "Please release the river defenders.",
    "languages": ["en", "ur"],
    "actions": ["letter", "email", "call", "social"],
    "targets": [
        {
            "name": "Minister Sara Ahmed",
            "salutation": "Dear Minister",
            "salutations": {"ur": "محترمہ وزیر صاحبہ"},
            "email": "minister@example.org",
            "phone": "+92 51 000 0000",
            "social": "@minister_ahmed",
        },
        {
            "name": "Governor Ali Raza",
            "salutation": "Dear Governor",
            "salutations": {"ur": "محترم گورنر صاحب"},
            "email": "governor@example.org",
            "address": "Governor House\nLahore",
        },
    ],
    "translations": {
        "ur": {
            "title": "دریا کے محافظوں کو رہا کریں",
            "sample_letter": "\n\n".join(URDU_LETTER),
        }
    },
}
SUBJECTS = {"en": SHORT["title"], "ur": SHORT["translations"]["ur"]["title"]}


@pytest.fixture
def site(live_site: LiveSite) -> LiveSite:
    with db.sessionmaker(live_site.app)() as session:
        save_campaign(session, dict(SHORT), utcnow(), actor=None)
    return live_site


def expected_links(letter: str, name: str, language: str) -> list[str]:
    return [
        mailto(
            target["email"],
            SUBJECTS[language],
            letter_body(
                target["salutations"]["ur"] if language == "ur" else target["salutation"],
                letter,
                name,
                language,
            ),
        )
        for target in SHORT["targets"]
    ]


def email_links(widget: Any) -> list[str]:
    return widget.locator("a.email-letter").evaluate_all("links => links.map(a => a.href)")


def test_the_email_links_follow_the_edited_letter_the_name_and_the_language(
    site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    third_party: list[str] = []
    page.on(
        "request",
        lambda r: (
            third_party.append(r.url)
            if not r.url.startswith((site.widget_url, site.partner_origin))
            else None
        ),
    )
    page.goto(site.partner_page(embed_tag(site.widget_url, "short-letter"), path="/short"))
    widget = page.frame_locator("iframe")
    box = widget.locator("#sample-letter")
    box.wait_for()
    assert email_links(widget) == expected_links(SHORT["sample_letter"], "", "en")

    edited = 'Release them now? Drop #all charges & "free" them.\n\nYours,'
    box.fill(edited)
    widget.locator("#name").fill("Ayesha Khan")
    links = email_links(widget)
    assert links == expected_links(edited, "Ayesha Khan", "en")
    assert unquote(links[0].split("body=")[1]) == (
        "Dear Minister,\r\n\r\n" + edited.replace("\n", "\r\n") + "\r\nAyesha Khan"
    )

    widget.locator("#letter-language").select_option("ur")
    assert box.input_value() == SHORT["translations"]["ur"]["sample_letter"]
    assert (box.get_attribute("lang"), box.get_attribute("dir")) == ("ur", "rtl")
    assert email_links(widget) == expected_links(
        SHORT["translations"]["ur"]["sample_letter"], "Ayesha Khan", "ur"
    )
    assert widget.locator("[data-greeting]").all_inner_texts() == [
        "محترمہ وزیر صاحبہ،",
        "محترم گورنر صاحب،",
    ]
    post = widget.locator("a.social-post").get_attribute("href")
    assert unquote(post or "") == f"https://x.com/intent/post?text=@minister_ahmed {SUBJECTS['ur']}"
    assert widget.locator("[data-letter-announce]").inner_text() == (
        "The letter is now in اردو (Urdu)."
    )

    screenshot(page, "take-action-embedded-letter-in-urdu-1280")
    page.set_viewport_size({"width": 360, "height": 800})
    screenshot(page, "take-action-embedded-letter-in-urdu-360")

    # back to English: the edits made there are still there
    widget.locator("#letter-language").select_option("en")
    assert box.input_value() == edited
    assert third_party == []


def test_copying_gives_each_target_its_own_letter(site: LiveSite, browser_context: Any) -> None:
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.widget_url)
    page = browser_context.new_page()
    freeze_clock(page)  # "Copied" turns back after 2 s of the page's clock: never, here
    page.goto(f"{site.widget_url}/w/short-letter")
    page.locator("#name").fill("Ayesha Khan")
    page.locator("button[data-copy-letter]").nth(1).click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == letter_body(
        "Dear Governor", SHORT["sample_letter"], "Ayesha Khan", "en"
    )


def test_the_demo_letter_is_too_long_for_a_link_so_it_is_copied_and_pasted(
    live_site: LiveSite, browser_context: Any
) -> None:
    browser_context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live_site.widget_url
    )
    page = browser_context.new_page()
    freeze_clock(page)  # "Copied" turns back after 2 s of the page's clock: never, here
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    notice = page.locator("[data-too-long]")
    link = page.locator("a.email-letter")
    assert notice.is_visible()
    subject_only = (
        "mailto:info@embassyofpakistanusa.org?subject=Stop%20deporting%20Afghan%20refugees"
    )
    assert link.get_attribute("href") == subject_only
    # following the link copies the whole letter, to paste into the email it opens
    page.evaluate(
        "() => { document.querySelector('a.email-letter').onclick = (e) => e.preventDefault(); }"
    )
    link.click()
    page.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Dear Ambassador,\n\nI am deeply concerned")
    assert copied.endswith("Yours sincerely,")
    page.locator("#sample-letter").fill("Stop the deportations.")
    assert not notice.is_visible()
    assert link.get_attribute("href") == (
        f"{subject_only}&body=Dear%20Ambassador%2C%0D%0A%0D%0AStop%20the%20deportations."
    )
    page.locator("#letter-language").select_option("ur")
    assert notice.is_visible()
    assert page.locator("#sample-letter").input_value().startswith("مجھے حکومتِ پاکستان")


def test_a_keyboard_alone_chooses_the_language_edits_copies_and_emails(
    site: LiveSite, browser_context: Any
) -> None:
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.widget_url)
    page = browser_context.new_page()
    freeze_clock(page)  # "Copied" turns back after 2 s of the page's clock: never, here
    page.goto(f"{site.widget_url}/w/short-letter")

    def tab_to(selector: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#letter-language")
    page.keyboard.press("ArrowDown")  # a focused <select> changes its value with the arrows
    assert page.locator("#sample-letter").get_attribute("lang") == "ur"
    tab_to("#sample-letter")
    page.keyboard.press("Control+End")
    page.keyboard.type(" آپ کا شکریہ")
    tab_to("a.email-letter")
    href = page.evaluate("document.activeElement.href")
    assert unquote(href).endswith("والسلام آپ کا شکریہ")
    tab_to("button[data-copy-letter]")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Copied").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()").endswith("والسلام آپ کا شکریہ")


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_ask_has_no_axe_violations_and_is_photographed(
    site: LiveSite, browser_context: Any, lang: str
) -> None:
    page = browser_context.new_page()
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for slug in ("ua-109-23", "short-letter"):
            page.goto(f"{site.widget_url}/w/{slug}?lang={lang}")
            page.locator("details.call-script summary").click()
            assert_accessible(page, f"the ask of {slug} ({lang}, {width} px)")
            screenshot(page, f"take-action-{slug}-{lang}-{width}")
    page.goto(f"{site.widget_url}/w/ua-109-23?lang={lang}")
    page.locator("#letter-language").select_option("ur" if lang == "en" else "en")
    assert_accessible(page, f"the ask with the letter switched ({lang})")
    screenshot(page, f"take-action-{lang}-letter-switched-1280")
