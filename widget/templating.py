"""Jinja filters and globals: formatting only, so templates never compute."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal
from flask import Flask, current_app
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from .directions import text_direction
from .forms import ACTION_LABELS, country_names
from .models import Campaign
from .organisation import Organisation
from .themes import Theme

#: the date style of a language where CLDR's own is not the organisation's: English dates
#: read "1 December 2026", not "December 1, 2026"
DATE_LOCALES = {"en": "en_GB"}
URL = re.compile(r"https?://[^\s<>\"']+")


def paragraphs(text: str) -> Markup:
    """Blank-line separated text as ``<p>`` elements, single newlines kept as ``<br>``."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text or "") if block.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(escape(line) for line in b.split("\n")))
        for b in blocks
    )


def linkify(text: str) -> Markup:
    """Plain text with its URLs as links (the dev mailbox)."""
    escaped = str(escape(text))
    return Markup(URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped))


def country_name(code: str) -> str:
    return dict(country_names(str(get_locale() or "en"))).get(code, code)


def date_in_words(day: date | datetime) -> str:
    """``1 December 2026`` in English; CLDR's long date in the reader's other languages."""
    locale = str(get_locale() or "en")
    return native_digits(format_date(day, "long", locale=DATE_LOCALES.get(locale, locale)))


def country_names_of(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``(code, count)`` rows as ``(name, count)`` in the reader's language, order kept."""
    return [(country_name(code), count) for code, count in rows]


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def language_name(code: str, in_language: str | None = None) -> str:
    """A language's name in the reader's language (CLDR), e.g. "Urdu" or "اردو"; with
    ``in_language`` in that language (``code | language_name(code)``: its own name)."""
    try:
        name = Locale.parse(code, sep="-").get_display_name(
            (in_language or str(get_locale() or "en")).replace("-", "_")
        )
    except (UnknownLocaleError, ValueError, TypeError):
        return code
    return name or code


@dataclass(frozen=True)
class CampaignText:
    """One of a campaign's texts in the reader's language where the campaign gives it, with the
    ``lang`` and ``dir`` of the language it is really in (an English ask inside an Urdu widget
    must still read left to right)."""

    text: str
    language: str

    @property
    def attrs(self) -> Markup:
        return Markup(' lang="{}" dir="{}"').format(self.language, text_direction(self.language))


def language_attrs(language: str) -> Markup:
    """``lang`` and ``dir`` for a text known to be in ``language``."""
    return CampaignText("", language).attrs


def campaign_text(campaign: Campaign, field: str) -> CampaignText:
    return CampaignText(*campaign.text(field, str(get_locale() or "en")))


def own_language(campaign: Campaign) -> CampaignText:
    """For texts given only in the campaign's first language (the targets' addresses)."""
    return CampaignText("", (campaign.languages or ["en"])[0])


def page_context() -> dict[str, object]:
    """The text direction of the current locale; first-party pages follow the reader's OS theme;
    the organisation behind the widget (footer, titles, privacy notice, mails)."""
    locale = get_locale()
    state = current_app.extensions.get("widget")
    return {
        "text_direction": text_direction(str(locale or "en")),
        "default_theme": Theme("auto"),
        "org": Organisation.from_settings(state.settings) if state else Organisation(),
    }


#: the digits of the numbering systems our locales default to (Babel formats, not transliterates)
DIGITS = {"arab": "٠١٢٣٤٥٦٧٨٩", "arabext": "۰۱۲۳۴۵۶۷۸۹"}


def number(value: int) -> str:
    """A number in the reader's digits and grouping (Persian digits in Farsi and Pashto, Latin
    in Urdu, as CLDR has it); ``data-count`` attributes keep plain digits for scripts."""
    text = format_decimal(value, locale=str(get_locale() or "en"), numbering_system="default")
    return native_digits(text)


def native_digits(text: str) -> str:
    """``text``'s Latin digits in the digits of the reader's numbering system."""
    digits = DIGITS.get(Locale.parse(str(get_locale() or "en")).default_numbering_system)
    return text.translate(str.maketrans("0123456789", digits)) if digits else text


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        paragraphs=paragraphs,
        linkify=linkify,
        country_name=country_name,
        country_names=country_names_of,
        action_label=action_label,
        language_name=language_name,
        number=number,
        date_in_words=date_in_words,
    )
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals.update(
        campaign_text=campaign_text,
        own_language=own_language,
        language_attrs=language_attrs,
        language_direction=text_direction,
    )
    # The staff area's session-bound token (Flask-WTF), for forms that are only a button.
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
    app.context_processor(page_context)
