"""The numbers staff watch and officials receive: totals, breakdowns, a daily series.

Nothing here returns a name or an address: the count report goes to the officials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel import Locale, UnknownLocaleError
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .counter import tally
from .directions import text_direction
from .forms import collation_key, country_names
from .models import Campaign, Partner, Signature

#: how the count report names each action, for officials rather than supporters
REPORT_LABELS = {
    "letter": _l("Letters written"),
    "email": _l("Emails sent"),
    "call": _l("Phone calls made"),
    "fax": _l("Faxes sent"),
    "social": _l("Social media posts"),
}


def counted() -> tuple[object, ...]:
    """The signatures that count: confirmed, not withdrawn, not invalidated."""
    return (
        Signature.verified_at.is_not(None),
        Signature.withdrawn_at.is_(None),
        Signature.invalidated_at.is_(None),
    )


@dataclass(frozen=True)
class CampaignNumbers:
    campaign: Campaign
    verified: int
    pending: int
    by_action: dict[str, int]
    by_country: list[tuple[str, int]]
    by_partner: list[tuple[str, int]]
    first_confirmed: datetime | None
    last_confirmed: datetime | None

    @property
    def goal_percent(self) -> int | None:
        goal = self.campaign.goal
        return min(100, round(100 * self.verified / goal)) if goal else None

    @property
    def total_actions(self) -> int:
        return sum(self.by_action.values())


def campaign_numbers(session: Session, campaign: Campaign) -> CampaignNumbers:
    counts = tally(session, campaign.id, campaign.actions)
    pending = session.scalar(
        select(func.count())
        .where(Signature.campaign_id == campaign.id)
        .where(Signature.verified_at.is_(None), Signature.withdrawn_at.is_(None))
        .where(Signature.invalidated_at.is_(None))
    )
    by_country = session.execute(
        select(Signature.country, func.count())
        .where(Signature.campaign_id == campaign.id, *counted())
        .group_by(Signature.country)
        .order_by(func.count().desc(), Signature.country)
    ).all()
    by_partner = session.execute(
        select(func.coalesce(Partner.name, "(direct)"), func.count())
        .select_from(Signature)
        .outerjoin(Partner, Signature.partner_id == Partner.id)
        .where(Signature.campaign_id == campaign.id, *counted())
        .group_by(Partner.name)
        .order_by(func.count().desc())
    ).all()
    first, last = session.execute(
        select(func.min(Signature.verified_at), func.max(Signature.verified_at)).where(
            Signature.campaign_id == campaign.id, *counted()
        )
    ).one()
    return CampaignNumbers(
        campaign,
        counts.count,
        pending or 0,
        counts.by_action,
        [(c, n) for c, n in by_country],
        [(p, n) for p, n in by_partner],
        first,
        last,
    )


def daily_confirmations(
    session: Session, campaign: Campaign, today: date, days: int = 30
) -> list[tuple[date, int]]:
    """Confirmations per day for the last ``days`` days, every day present (zeros too)."""
    start = today - timedelta(days=days - 1)
    day = func.date(Signature.verified_at)  # a date on PostgreSQL, "YYYY-MM-DD" on SQLite
    rows = session.execute(
        select(day, func.count())
        .where(Signature.campaign_id == campaign.id, *counted())
        .where(Signature.verified_at >= datetime.combine(start, datetime.min.time()))
        .group_by(day)
    ).all()
    per_day = {(d if isinstance(d, date) else date.fromisoformat(str(d))): n for d, n in rows}
    return [
        (start + timedelta(days=i), per_day.get(start + timedelta(days=i), 0)) for i in range(days)
    ]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int


def bar_chart(series: Sequence[tuple[date, int]], width: int = 600, height: int = 160) -> Chart:
    """Bar geometry for a server-rendered SVG: no chart library, no download."""
    peak = max((value for _day, value in series), default=0)
    slot = width / max(1, len(series))
    bars = [
        Bar(
            x=round(i * slot + slot * 0.1, 2),
            y=round(height - (value / peak * height if peak else 0), 2),
            width=round(slot * 0.8, 2),
            height=round(value / peak * height if peak else 0, 2),
            day=day,
            value=value,
        )
        for i, (day, value) in enumerate(series)
    ]
    return Chart(width, height, bars, peak)


# --- the officials' report ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLanguage:
    """The language a report is written in: its code (``lang``), Babel locale and direction."""

    code: str
    locale: str

    @property
    def direction(self) -> str:
        return text_direction(self.code)


def report_language(campaign: Campaign, wanted: str | None) -> ReportLanguage:
    """``wanted`` if it is one of the campaign's languages, else the campaign's first: a report
    is never written in a language the campaign does not speak."""
    languages = [str(code) for code in campaign.languages or ["en"]]
    code = wanted if wanted in languages else languages[0]
    try:
        locale = str(Locale.parse(code, sep="-"))
    except (UnknownLocaleError, ValueError):
        locale = "en"  # a code CLDR does not know: names and dates in English
    return ReportLanguage(code, locale)


def countries_by_name(by_country: Sequence[tuple[str, int]], locale: str) -> list[tuple[str, int]]:
    """Each country's name in ``locale`` with its count, in alphabetical order
    (``widget.forms.collation_key``); a code CLDR does not name stays a code."""
    names = dict(country_names(locale))
    named = [(names.get(code, code), count) for code, count in by_country]
    return sorted(named, key=lambda row: collation_key(row[0]))
