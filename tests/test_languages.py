"""The widget in Urdu, Farsi and Pashto: complete catalogs, compiled ``.mo`` files that match
them, the page's language and direction, numbers in the reader's digits, form errors and the
confirmation mail in the supporter's language."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget import LOCALES
from widget.models import OutboxMessage, Signature
from widget.paths import PACKAGE

from .conftest import Supporter

TRANSLATIONS = PACKAGE / "translations"
SOURCE_TREE = PACKAGE.parent
#: every interface language but English, the source language
LANGUAGES = [code for code in LOCALES if code != "en"]
CAMPAIGN = "/w/ua-109-23"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
#: the goal, 5,000, and the count, 0, in Persian digits with the Arabic thousands separator
PERSIAN_5000 = "\u06f5\u066c\u06f0\u06f0\u06f0"
PERSIAN_0 = "\u06f0"
#: the digit five in Persian and in Arabic-Indic digits
OTHER_FIVES = ("\u06f5", "\u0665")

PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]")
#: Arabic script, the block Urdu, Farsi and Pashto letters are in
ARABIC_LETTER = re.compile(r"[\u0600-\u06ff]")


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


@cache
def catalog(lang: str) -> Catalog:
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def messages(lang: str) -> list:  # type: ignore[type-arg]
    return [m for m in catalog(lang) if m.id]


def translated(lang: str, msgid: str, **values: str) -> str:
    """The catalog's translation of ``msgid``, formatted like the app does."""
    message = catalog(lang).get(msgid)
    assert message is not None and message.string, f"{msgid!r} has no {lang} translation"
    return str(message.string) % values if values else str(message.string)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def as_dict(cat: Catalog) -> dict[object, object]:
    """Message id to translation; ``read_mo`` gives plural forms as lists."""

    def plain(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {plain(m.id): plain(m.string) for m in cat if m.id}


# The catalogs ---------------------------------------------------------------------------------


def test_every_interface_language_has_a_catalog() -> None:
    on_disk = sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
    assert on_disk == sorted(LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_complete_and_not_fuzzy(lang: str) -> None:
    cat = catalog(lang)
    # A catalog without a header is fuzzy to Babel, and `pybabel compile` skips it silently.
    assert not cat.fuzzy, "the catalog header is missing or marked fuzzy"
    assert str(cat.locale) == lang
    assert cat.num_plurals == 2
    assert len(messages(lang)) > 50
    for message in messages(lang):
        assert "fuzzy" not in message.flags, message.id
        strings = message.string if message.pluralizable else (message.string,)
        if message.pluralizable:
            assert len(strings) == cat.num_plurals, message.id
        for text in strings:
            assert text and text.strip(), f"{message.id!r} is not translated"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_every_placeholder(lang: str) -> None:
    for message in messages(lang):
        ids = message.id if message.pluralizable else (message.id,)
        strings = message.string if message.pluralizable else (message.string,)
        wanted = set().union(*(placeholders(i) for i in ids))
        for text in strings:
            assert placeholders(text) == wanted, f"{message.id!r}: {text!r}"
            # Jinja's gettext always %-formats, so a lone % would break the page.
            assert "%" not in PLACEHOLDER.sub("", text), f"{message.id!r}: {text!r}"
    assert not list(catalog(lang).check()), "Babel found format errors"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_are_in_the_language_not_english(lang: str) -> None:
    for message in messages(lang):
        ids = message.id if message.pluralizable else (message.id,)
        strings = message.string if message.pluralizable else (message.string,)
        for text in strings:
            assert text not in ids, f"{message.id!r} is left in English"
            assert ARABIC_LETTER.search(PLACEHOLDER.sub("", text)), f"{message.id!r}: {text!r}"


def test_catalogs_have_every_interface_string() -> None:
    """`make messages` was run: nothing the templates and code mark is missing a translation."""
    config = SOURCE_TREE / "babel.cfg"
    if not config.is_file():
        pytest.skip("not a source checkout (no babel.cfg)")
    with config.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(config))
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    extracted = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(SOURCE_TREE), method_map, options_map, keywords=keywords
        )
    }
    assert len(extracted) > 50
    for lang in LANGUAGES:
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in messages(lang)}
        assert sorted(extracted - have) == [], f"missing from the {lang} catalog"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_committed_mo_file_matches_the_catalog(lang: str, tmp_path: Path) -> None:
    fresh = tmp_path / "messages.mo"
    with fresh.open("wb") as f:
        write_mo(f, catalog(lang))
    with fresh.open("rb") as f:
        expected = read_mo(f)
    committed = po_path(lang).with_suffix(".mo")
    assert committed.is_file(), "run `make translations` and commit the .mo file"
    with committed.open("rb") as f:
        actual = read_mo(f)
    assert as_dict(actual) == as_dict(expected), "run `make translations`"
    assert actual.plural_forms == expected.plural_forms


# The widget page ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_widget_speaks_the_chosen_language(supporter: Supporter, lang: str) -> None:
    html = supporter.open_widget(lang=lang)
    assert f'<html lang="{lang}" dir="rtl"' in html
    assert str(escape(translated(lang, "Report your action and sign"))) in html
    assert str(escape(translated(lang, "Sign"))) in html
    assert "Report your action and sign" not in html
    # The language is carried to the form, so an error page stays in it.
    assert f"{CAMPAIGN}?lang={lang}" in html


def test_widget_in_english_reads_left_to_right(supporter: Supporter) -> None:
    html = supporter.open_widget(lang="en")
    assert '<html lang="en" dir="ltr"' in html
    assert "Report your action and sign" in html


def test_browser_language_chooses_farsi(client: FlaskClient) -> None:
    response = client.get(CAMPAIGN, headers={"Accept-Language": "fa-IR,fa;q=0.9"})
    html = response.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl"' in html
    assert translated("fa", "Report your action and sign") in html


def test_chosen_language_beats_the_browser_language(client: FlaskClient) -> None:
    response = client.get(CAMPAIGN + "?lang=ur", headers={"Accept-Language": "fa-IR,fa;q=0.9"})
    assert '<html lang="ur" dir="rtl"' in response.get_data(as_text=True)


def test_unknown_language_falls_back_to_the_browser_language(client: FlaskClient) -> None:
    response = client.get(CAMPAIGN + "?lang=xx", headers={"Accept-Language": "fa-IR,fa;q=0.9"})
    assert response.status_code == 200
    assert '<html lang="fa" dir="rtl"' in response.get_data(as_text=True)


@pytest.mark.parametrize("accept", [None, "de-DE,de;q=0.9"])
def test_unknown_language_falls_back_to_the_campaign_language(
    client: FlaskClient, accept: str | None
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    response = client.get(CAMPAIGN + "?lang=xx", headers=headers)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en" dir="ltr"' in html
    assert "Report your action and sign" in html


# Numbers -----------------------------------------------------------------------------------------

COUNT = re.compile(r'<strong class="count" data-count="([^"]*)">([^<]*)</strong>')


def counter(html: str) -> tuple[str, str]:
    match = COUNT.search(html)
    assert match, "the page has no counter"
    return match.group(1), match.group(2)


def test_farsi_page_shows_persian_digits(supporter: Supporter) -> None:
    html = supporter.open_widget(lang="fa")
    assert PERSIAN_5000 in html
    assert translated("fa", "of %(goal)s", goal=PERSIAN_5000) in html
    assert counter(html) == ("0", PERSIAN_0)
    assert 'max="5000"' in html  # attributes stay plain for the browser


def test_pashto_page_shows_persian_digits(supporter: Supporter) -> None:
    html = supporter.open_widget(lang="ps")
    assert PERSIAN_5000 in html
    assert counter(html) == ("0", PERSIAN_0)


def test_urdu_page_shows_latin_digits(supporter: Supporter) -> None:
    html = supporter.open_widget(lang="ur")
    assert "5,000" in html
    assert translated("ur", "of %(goal)s", goal="5,000") in html
    assert not any(five in html for five in OTHER_FIVES)
    assert counter(html) == ("0", "0")


@pytest.mark.parametrize("lang", LOCALES)
def test_data_count_stays_ascii(supporter: Supporter, lang: str) -> None:
    html = supporter.open_widget(lang=lang)
    assert re.findall(r'data-count="([^"]*)"', html) == ["0"]


# Form errors and mail ---------------------------------------------------------------------------


def test_form_error_in_urdu(supporter: Supporter) -> None:
    response = supporter.client.post(
        CAMPAIGN + "?lang=ur", data=supporter.form(name=None), headers=SAME_ORIGIN
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert '<html lang="ur" dir="rtl"' in html
    assert str(escape(translated("ur", "Please enter your name."))) in html
    assert str(escape(translated("ur", "Please correct the following:"))) in html
    assert "Please enter your name." not in html


def test_form_error_in_pashto_for_a_bad_email(supporter: Supporter) -> None:
    response = supporter.client.post(
        CAMPAIGN + "?lang=ps", data=supporter.form(email="not-an-address"), headers=SAME_ORIGIN
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    wanted = translated("ps", "Please enter a valid email address, like name@example.org.")
    assert str(escape(wanted)) in html


def test_confirmation_mail_in_the_signers_language(supporter: Supporter, session: Session) -> None:
    response = supporter.client.post(
        CAMPAIGN + "?lang=fa", data=supporter.form(), headers=SAME_ORIGIN
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl"' in page
    assert translated("fa", "Check your email") in page

    assert session.scalars(select(Signature)).one().language == "fa"
    mail = session.scalars(select(OutboxMessage)).one()
    title = "Stop deporting Afghan refugees"
    assert mail.subject == translated("fa", "Please confirm your signature: %(title)s", title=title)
    thanks = "Thank you for taking action: %(title)s (%(reference)s)."
    assert translated("fa", thanks, title=title, reference="UA 109.23") in mail.text_body
    wanted = "Please open this link and press Confirm, so that your signature counts:"
    assert translated("fa", wanted) in mail.text_body
    assert wanted not in mail.text_body
    assert 'lang="fa" dir="rtl"' in mail.html_body
    assert str(escape(translated("fa", "Confirm my signature"))) in mail.html_body


# The privacy notice ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_privacy_notice_in_each_language(client: FlaskClient, lang: str) -> None:
    response = client.get("/privacy", query_string={"lang": lang, "campaign": "ua-109-23"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}" dir="rtl"' in html
    assert str(escape(translated(lang, "How we handle your data"))) in html
    assert str(escape(translated(lang, "What we keep"))) in html


def test_campaign_texts_follow_the_reader_with_their_own_lang(
    client: FlaskClient, session: Session
) -> None:
    from widget.models import Campaign

    campaign = session.scalars(select(Campaign)).one()
    campaign.translations = {"ur": {"title": "افغان پناہ گزینوں کی ملک بدری روکیں"}}
    session.commit()
    page = client.get("/w/ua-109-23?lang=ur").get_data(as_text=True)
    assert '<h1 lang="ur" dir="rtl">افغان پناہ گزینوں کی ملک بدری روکیں</h1>' in page
    assert '<section class="summary" lang="en" dir="ltr">' in page  # no Urdu summary given
    english = client.get("/w/ua-109-23?lang=en").get_data(as_text=True)
    assert '<h1 lang="en" dir="ltr">Stop deporting Afghan refugees</h1>' in english
