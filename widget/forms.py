"""The sign form: field rules and messages, shown next to each field in the widget's language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache

import wtforms.i18n
from babel import Locale, support
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .abuse import is_blocked_domain
from .addresses import key_fits
from .models import Campaign
from .security import FormTokenCSRF
from .tokens import TokenService

ACTION_LABELS = {
    "letter": _l("I wrote a letter"),
    "email": _l("I sent an email"),
    "call": _l("I phoned"),
    "fax": _l("I sent a fax"),
    "social": _l("I posted on social media"),
}
#: codes CLDR lists among territories that are not ISO 3166-1 alpha-2 countries
NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB"}
NOT_COUNTRIES |= {"XK", "ZZ"}
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: zero-width non-joiner and joiner: part of spelling in Persian, Urdu, Pashto and Indic names
JOINERS = frozenset("\u200c\u200d")
#: a link or an address a mail reader or a spreadsheet would make clickable
LINK = re.compile(
    r"[a-z][a-z0-9+.-]*://|\bwww\d{0,3}\.|[^\s@]@[^\s@]+\.[^\s@]|\b[\w-]+\.[a-z]{2,}/",
    re.IGNORECASE,
)


@cache
def country_names(locale: str) -> tuple[tuple[str, str], ...]:
    """ISO 3166-1 alpha-2 codes with their names in ``locale``, sorted by name."""
    territories = Locale.parse(locale).territories
    codes = (c for c in territories if len(c) == 2 and c.isalpha() and c not in NOT_COUNTRIES)
    return tuple(
        sorted(((code, territories[code]) for code in codes), key=lambda c: collation_key(c[1]))
    )


@cache
def country_codes(locale: str) -> frozenset[str]:
    """The codes ``country_names(locale)`` offers, to check a choice against at once."""
    return frozenset(code for code, _name in country_names(locale))


#: the Persian alphabet's order with Urdu's extra letters after their base letters (and Arabic
#: kaf, yeh, heh as the Persian ones, Pashto's letters as their base letters): in code point
#: order پ چ ژ گ would come after ي
ARABIC_SCRIPT_ORDER = "اآبپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنںوہھیے"
ARABIC_SCRIPT_SPELLINGS = str.maketrans("كيهةۀئۓأإټډړښږځڅڼۍې", "کیہہہییااتدرشژجچنیی")
ARABIC_SCRIPT_KEYS = {
    ord(letter): chr(0xE000 + place) for place, letter in enumerate(ARABIC_SCRIPT_ORDER)
}


def collation_key(name: str) -> tuple[str, str]:
    """Alphabetical order without a collation library (PyICU is not installed): letters
    compared without accents and case (Åland Islands among the A, Côte d'Ivoire among the C),
    Arabic-script letters in the Persian/Urdu alphabet's order; the name as written breaks ties.

    Right for English and the Latin-script languages that sort accents as their base letter;
    close for Persian, Urdu and Pashto (Pashto's own letters sort with their base letters)."""
    bare = "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    ).casefold()
    bare = unicodedata.normalize("NFKD", bare.translate(ARABIC_SCRIPT_SPELLINGS))
    bare = "".join(c for c in bare if not unicodedata.combining(c))
    return bare.translate(ARABIC_SCRIPT_KEYS), name


def no_control_characters(_form: FlaskForm, field: StringField) -> None:
    if field.data and CONTROL_CHARACTERS.search(field.data):
        raise ValidationError(_l("Please use letters, spaces and punctuation only."))


def no_links(_form: FlaskForm, field: StringField) -> None:
    """A name goes into the officials' report and the staff's exports: it must not carry a
    message with a link (phishing written by anyone, delivered under the organisation's name).

    A bare domain without a path (``evil.example``) is let through: ``S.Kim`` or ``Ms.Ng`` are
    names too, and no mail of ours carries the name."""
    if not field.data:
        return
    seen = unicodedata.normalize("NFKC", without_format_characters(field.data, keep_joiners=False))
    if LINK.search(seen):
        raise ValidationError(_l("Please leave out links and email addresses: just your name."))


def strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def without_format_characters(value: str, *, keep_joiners: bool = True) -> str:
    """``value`` without invisible format characters (Unicode category Cf: bidi overrides and
    isolates, zero-width spaces, the byte-order mark), which can reorder or hide what staff and
    officials read. A joiner between two letters is spelling, so it stays unless told."""

    def is_spelling(i: int) -> bool:
        return (
            keep_joiners
            and value[i] in JOINERS
            and 0 < i < len(value) - 1
            and (value[i - 1].isalpha() and value[i + 1].isalpha())
        )

    return "".join(
        char for i, char in enumerate(value) if unicodedata.category(char) != "Cf" or is_spelling(i)
    )


def visible_text(value: str | None) -> str | None:
    """The name as typed, without its invisible format characters, trimmed."""
    return strip(without_format_characters(value)) if isinstance(value, str) else value


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: FlaskForm) -> None:
        offered = {value for value, _label in self.choices}  # type: ignore[union-attr]
        if any(value not in offered for value in self.data or ()):
            raise ValidationError(_l("Please choose from the actions listed."))


class CountryField(SelectField):
    #: the codes of ``choices``, as a set (``make_sign_form`` sets both)
    codes: frozenset[str] = frozenset()

    def pre_validate(self, form: FlaskForm) -> None:
        if not self.data:
            raise StopValidation(_l("Please choose your country."))
        if self.data not in self.codes:
            raise StopValidation(_l("Please choose your country from the list."))


@cache
def wtforms_messages(locale: str) -> object:
    """WTForms' own messages in ``locale``, read once per process (Flask-WTF reads the catalog
    from disk again on every request)."""
    return support.Translations.load(wtforms.i18n.messages_path(), [locale], domain="wtforms")


class SignForm(FlaskForm):
    class Meta:
        csrf = True
        csrf_class = FormTokenCSRF

        def get_translations(self, form: FlaskForm) -> object:
            return wtforms_messages(str(get_locale() or "en"))

    name = StringField(
        _l("Your name"),
        filters=[visible_text],
        validators=[
            DataRequired(_l("Please enter your name.")),
            Length(max=120, message=_l("Please keep your name under 120 characters.")),
            no_control_characters,
            no_links,
        ],
    )
    email = EmailField(
        _l("Your email"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please enter your email address.")),
            Length(max=254, message=_l("This email address is too long.")),
            Email(
                message=_l("Please enter a valid email address, like name@example.org."),
                granular_message=False,
                check_deliverability=False,
            ),
        ],
    )
    country = CountryField(
        _l("Your country"),
        validate_choice=False,
        render_kw={"required": True},
    )
    actions = CheckboxesField(_l("What did you do?"), validate_choice=False)
    consent = BooleanField(validators=[DataRequired(_l("Please agree so that we can count you."))])
    opt_in = BooleanField(default=False)
    #: shown only when embedded for a registered, active partner (``widget.signing`` ignores
    #: it otherwise); never pre-ticked
    partner_opt_in = BooleanField(default=False)
    #: hidden from people and assistive technology; a bot fills it in
    website = StringField()

    blocked_domains: frozenset[str] = frozenset()
    seconds_to_fill: float | None = None
    token_nonce: str | None = None

    def spend_token(self, spend: Callable[[str], bool]) -> bool:
        """Use up this form's token (``spend(nonce)`` is True the first time only), so a sent
        form cannot be sent again and its fill time counts once. Call it only once the form is
        valid: after an error the supporter corrects and sends the same form."""
        if self.token_nonce is not None and spend(self.token_nonce):
            return True
        self.csrf_token.errors.append(_l("This form was already sent. Please sign again."))
        return False

    def validate_email(self, field: EmailField) -> None:
        if not field.data or field.errors:
            return
        if not key_fits(field.data):
            # NFKC and case folding lengthen some letters: the key must fit its column.
            raise ValidationError(_l("This email address is too long."))
        if is_blocked_domain(field.data, self.blocked_domains):
            raise ValidationError(
                _l(
                    "We cannot confirm signatures from temporary email services. "
                    "Please use an address you keep."
                )
            )


def make_sign_form(
    campaign: Campaign,
    tokens: TokenService,
    locale: str,
    blocked_domains: frozenset[str] = frozenset(),
    **kwargs: object,
) -> SignForm:
    """A sign form for ``campaign``: its offered actions, countries named in ``locale``."""
    form = SignForm(meta={"csrf_context": (tokens, campaign.slug)}, **kwargs)
    form.blocked_domains = blocked_domains
    form.actions.choices = [(a, ACTION_LABELS[a]) for a in campaign.actions]
    form.country.choices = list(country_names(locale))
    form.country.codes = country_codes(locale)
    return form
