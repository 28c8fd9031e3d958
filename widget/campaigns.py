"""Campaign files: one TOML file per campaign, validated whole before anything is written."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Campaign

#: the actions a campaign may offer, in the order the widget lists them
ACTIONS = ("letter", "email", "call", "fax", "social")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
ORIGIN = re.compile(r"^https?://[^/\s?#]+$")
TARGET_FIELDS = ("name", "title", "address", "email", "phone", "fax", "social", "salutation")

REQUIRED_TEXT = {"slug": 64, "reference": 40, "title": 200, "summary": 5000, "ask": 5000}
OPTIONAL_TEXT = {"additional_info": 20000, "sample_letter": 20000, "deadline_note": 1000}
#: the campaign's texts that a ``[translations.<lang>]`` table may give in another language
TRANSLATABLE = ("title", "summary", "ask", "sample_letter", "additional_info", "deadline_note")


class CampaignFileError(ValueError):
    """A campaign file is wrong; ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_campaign(data: dict[str, Any]) -> dict[str, Any]:
    """Check a campaign's fields and return them ready for the ``Campaign`` model."""
    known = {*REQUIRED_TEXT, *OPTIONAL_TEXT, "targets", "languages", "actions", "goal"}
    known |= {"opens_at", "closes_at", "allowed_origins", "translations"}
    for key in data:
        if key not in known:
            raise CampaignFileError(key, f"unknown field; known fields: {', '.join(sorted(known))}")
    fields: dict[str, Any] = {}
    for key, limit in REQUIRED_TEXT.items():
        fields[key] = _text(data, key, limit, required=True)
    for key, limit in OPTIONAL_TEXT.items():
        fields[key] = _text(data, key, limit, required=False)
    if not SLUG.match(fields["slug"]):
        raise CampaignFileError("slug", "use lowercase letters, digits and inner hyphens")
    fields["targets"] = _targets(data.get("targets"))
    fields["languages"] = _list(data, "languages", LANGUAGE.match, "a code such as en or ur")
    fields["actions"] = _list(data, "actions", lambda a: a in ACTIONS, " or ".join(ACTIONS))
    fields["allowed_origins"] = _list(
        {"allowed_origins": data.get("allowed_origins", ["*"])},
        "allowed_origins",
        lambda o: o == "*" or ORIGIN.match(o),
        '"*" or an origin such as https://example.org (no path)',
    )
    goal = data.get("goal")
    if goal is not None and (not isinstance(goal, int) or isinstance(goal, bool) or goal < 1):
        raise CampaignFileError("goal", "must be a whole number above 0")
    fields["goal"] = goal
    fields["translations"] = _translations(data.get("translations", {}), fields["languages"])
    fields["opens_at"] = _time(data, "opens_at")
    fields["closes_at"] = _time(data, "closes_at")
    if fields["opens_at"] and fields["closes_at"] and fields["closes_at"] <= fields["opens_at"]:
        raise CampaignFileError("closes_at", "must be after opens_at")
    return fields


def load_campaign_file(session: Session, path: Path, now: datetime) -> tuple[Campaign, bool]:
    """Create or update the campaign described by ``path``; returns it and whether it is new.

    The whole file is validated before the database is touched, so a bad file changes nothing.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CampaignFileError("file", f"not valid TOML ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CampaignFileError("file", f"cannot be read ({error})") from None
    return save_campaign(session, data, now)


def save_campaign(session: Session, data: dict[str, Any], now: datetime) -> tuple[Campaign, bool]:
    """Validate ``data`` whole, then create or update the campaign with its slug."""
    fields = parse_campaign(data)
    campaign = session.scalar(select(Campaign).where(Campaign.slug == fields["slug"]))
    created = campaign is None
    if campaign is None:
        campaign = Campaign(created_at=now)
        session.add(campaign)
    for key, value in fields.items():
        setattr(campaign, key, value)
    campaign.updated_at = now
    session.commit()
    return campaign, created


def find_campaign(session: Session, slug: str, *, now: datetime | None = None) -> Campaign | None:
    """The campaign with ``slug``; with ``now`` (the public pages), one that has not opened
    yet is hidden as if it did not exist. A string that cannot be a slug costs no query."""
    if not SLUG.fullmatch(slug):
        return None
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is not None and now is not None and campaign.opens_at and now < campaign.opens_at:
        return None
    return campaign


def _text(data: dict[str, Any], key: str, limit: int, *, required: bool) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise CampaignFileError(key, "is required")
        return ""
    if not isinstance(value, str):
        raise CampaignFileError(key, "must be text")
    value = value.strip()
    if required and not value:
        raise CampaignFileError(key, "must not be empty")
    if len(value) > limit:
        raise CampaignFileError(key, f"is longer than {limit} characters")
    return value


def _list(data: dict[str, Any], key: str, valid: Any, expected: str) -> list[str]:
    values = data.get(key)
    if not isinstance(values, list) or not values:
        raise CampaignFileError(key, "must be a non-empty list")
    for value in values:
        if not isinstance(value, str) or not valid(value):
            raise CampaignFileError(key, f"{value!r} is not valid; expected {expected}")
    if len(set(values)) != len(values):
        raise CampaignFileError(key, "lists a value twice")
    return list(values)


def _translations(tables: Any, languages: list[str]) -> dict[str, dict[str, str]]:
    """``[translations.ur]`` tables: the campaign's texts in its other languages."""
    if not isinstance(tables, dict):
        raise CampaignFileError("translations", "must be tables such as [translations.ur]")
    parsed: dict[str, dict[str, str]] = {}
    for language, table in tables.items():
        where = f"translations.{language}"
        if language not in languages[1:]:
            raise CampaignFileError(where, "give it only for the campaign's other languages")
        if not isinstance(table, dict):
            raise CampaignFileError(where, "must be a table")
        for key in table:
            if key not in TRANSLATABLE:
                raise CampaignFileError(f"{where}.{key}", f"only {', '.join(TRANSLATABLE)}")
        limits = {**REQUIRED_TEXT, **OPTIONAL_TEXT}
        texts = {key: _text(table, key, limits[key], required=False) for key in table}
        parsed[language] = {key: text for key, text in texts.items() if text}
    return parsed


def _targets(targets: Any) -> list[dict[str, str]]:
    if not isinstance(targets, list) or not targets:
        raise CampaignFileError("targets", "must list at least one [[targets]] entry")
    parsed = []
    for number, target in enumerate(targets, start=1):
        where = f"targets[{number}]"
        if not isinstance(target, dict):
            raise CampaignFileError(where, "must be a table")
        for key, value in target.items():
            if key not in TARGET_FIELDS:
                raise CampaignFileError(f"{where}.{key}", "unknown field")
            if not isinstance(value, str) or len(value) > 1000:
                raise CampaignFileError(f"{where}.{key}", "must be text up to 1000 characters")
        if not target.get("name", "").strip():
            raise CampaignFileError(f"{where}.name", "is required")
        email = target.get("email")
        if email and ("@" not in email or any(c in email for c in " \r\n<>")):
            raise CampaignFileError(f"{where}.email", f"{email!r} is not an email address")
        parsed.append({key: value.strip() for key, value in target.items() if value.strip()})
    return parsed


def _time(data: dict[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise CampaignFileError(key, "must be a TOML date-time, e.g. 2024-02-08T23:59:00Z")
    if value.tzinfo is None:
        raise CampaignFileError(key, "needs a time zone, e.g. 2024-02-08T23:59:00+05:00")
    return value.astimezone(UTC).replace(tzinfo=None)
