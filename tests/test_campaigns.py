"""Campaign files: checked whole, field by field, before ``campaign load`` writes anything."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.campaigns import CampaignFileError, parse_campaign
from widget.models import Campaign
from widget.paths import CAMPAIGNS

PKT = timezone(timedelta(hours=5))


def campaign_data(**changes: Any) -> dict[str, Any]:
    """The fields of a small valid campaign file, as ``tomllib`` gives them."""
    data: dict[str, Any] = {
        "slug": "water-defenders",
        "reference": "UA 1.24",
        "title": "Release the water defenders",
        "summary": "Three activists were detained for defending a river.",
        "ask": "Write to the minister.",
        "languages": ["en"],
        "actions": ["letter", "email"],
        "targets": [{"name": "Minister of the Interior", "email": "minister@example.org"}],
    }
    data.update(changes)
    return data


def without(key: str) -> dict[str, Any]:
    data = campaign_data()
    del data[key]
    return data


def field_of_error(data: dict[str, Any]) -> str:
    with pytest.raises(CampaignFileError) as error:
        parse_campaign(data)
    return error.value.field


# The shipped demo campaign


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    with (CAMPAIGNS / "ua-109-23.toml").open("rb") as file:
        return parse_campaign(tomllib.load(file))


def test_the_demo_campaign_is_urgent_action_109_23(demo: dict[str, Any]) -> None:
    assert demo["slug"] == "ua-109-23"
    assert demo["reference"] == "UA 109.23"


def test_the_demo_campaign_writes_to_the_prime_minister_and_the_ambassador(
    demo: dict[str, Any],
) -> None:
    prime_minister, ambassador = demo["targets"]
    assert prime_minister["name"] == "H.E. Anwaar-ul-Haq Kakar"
    assert ambassador["name"] == "Ambassador Masood Khan"
    assert ambassador["email"] == "info@embassyofpakistanusa.org"
    assert ambassador["phone"] == "+1 202 243 6500"


def test_the_demo_campaign_offers_every_action(demo: dict[str, Any]) -> None:
    assert demo["actions"] == ["letter", "email", "call", "fax", "social"]


def test_the_demo_campaign_is_in_english_first(demo: dict[str, Any]) -> None:
    assert demo["languages"][0] == "en"


def test_the_demo_campaign_never_closes_and_keeps_its_deadline_as_a_note(
    demo: dict[str, Any],
) -> None:
    assert demo["closes_at"] is None
    assert "February 8, 2024" in demo["deadline_note"]


def test_the_demo_sample_letter_leaves_the_salutation_to_each_target(
    demo: dict[str, Any],
) -> None:
    prime_minister, ambassador = demo["targets"]
    assert demo["sample_letter"].startswith("I am deeply concerned")
    assert prime_minister["salutation"] == "Dear H.E. Anwar-ul-Haq Kakar"
    assert ambassador["salutation"] == "Dear Ambassador"
    assert ambassador["salutations"]["ur"] == "محترم سفیر صاحب"


# parse_campaign: what a valid file gives


def test_a_valid_file_gives_model_fields_with_defaults() -> None:
    fields = parse_campaign(campaign_data())

    assert fields == {
        "slug": "water-defenders",
        "reference": "UA 1.24",
        "title": "Release the water defenders",
        "summary": "Three activists were detained for defending a river.",
        "ask": "Write to the minister.",
        "additional_info": "",
        "sample_letter": "",
        "deadline_note": "",
        "call_script": "",
        "targets": [{"name": "Minister of the Interior", "email": "minister@example.org"}],
        "languages": ["en"],
        "actions": ["letter", "email"],
        "allowed_origins": ["*"],
        "goal": None,
        "count_offline_in_widget": False,
        "opens_at": None,
        "closes_at": None,
        "translations": {},
    }


def test_texts_in_other_languages_fall_back_to_the_first() -> None:
    fields = parse_campaign(
        campaign_data(
            languages=["en", "ur"],
            translations={"ur": {"title": "پانی کے محافظوں کو رہا کرو", "ask": "  "}},
        )
    )
    assert fields["translations"] == {"ur": {"title": "پانی کے محافظوں کو رہا کرو"}}
    campaign = Campaign(**{k: v for k, v in fields.items() if k != "slug"}, slug="x")
    assert campaign.text("title", "ur") == ("پانی کے محافظوں کو رہا کرو", "ur")
    assert campaign.text("ask", "ur") == ("Write to the minister.", "en")
    assert campaign.text("title", "fa") == ("Release the water defenders", "en")


@pytest.mark.parametrize(
    ("translations", "field"),
    [
        ({"fa": {"title": "x"}}, "translations.fa"),
        ({"en": {"title": "x"}}, "translations.en"),
        ({"ur": {"slug": "x"}}, "translations.ur.slug"),
        ({"ur": "not a table"}, "translations.ur"),
        ({"ur": {"title": 5}}, "translations.ur.title"),
        ("nope", "translations"),
    ],
)
def test_bad_translation_tables_are_refused(translations: object, field: str) -> None:
    with pytest.raises(CampaignFileError) as refused:
        parse_campaign(campaign_data(languages=["en", "ur"], translations=translations))
    assert refused.value.field == field


def test_times_are_stored_as_naive_utc() -> None:
    fields = parse_campaign(campaign_data(closes_at=datetime(2024, 2, 8, 23, 59, tzinfo=PKT)))

    assert fields["closes_at"] == datetime(2024, 2, 8, 18, 59)


def test_a_title_of_exactly_200_characters_is_accepted() -> None:
    assert parse_campaign(campaign_data(title="t" * 200))["title"] == "t" * 200


# parse_campaign: each mistake names its field


def test_a_missing_title_is_refused() -> None:
    assert field_of_error(without("title")) == "title"


def test_an_empty_summary_is_refused() -> None:
    assert field_of_error(campaign_data(summary="   ")) == "summary"


def test_a_slug_with_capitals_and_spaces_is_refused() -> None:
    assert field_of_error(campaign_data(slug="Bad Slug")) == "slug"


def test_an_unknown_top_level_key_is_refused() -> None:
    assert field_of_error(campaign_data(colour="red")) == "colour"


def test_an_action_the_widget_does_not_offer_is_refused() -> None:
    assert field_of_error(campaign_data(actions=["petition"])) == "actions"


def test_a_language_listed_twice_is_refused() -> None:
    assert field_of_error(campaign_data(languages=["en", "en"])) == "languages"


@pytest.mark.parametrize("goal", [0, -5, "ten", True, 10.5])
def test_a_goal_that_is_not_a_whole_number_above_zero_is_refused(goal: object) -> None:
    assert field_of_error(campaign_data(goal=goal)) == "goal"


def test_a_closing_time_without_a_time_zone_is_refused() -> None:
    assert field_of_error(campaign_data(closes_at=datetime(2024, 2, 8, 23, 59))) == "closes_at"


def test_a_closing_time_before_the_opening_time_is_refused() -> None:
    data = campaign_data(
        opens_at=datetime(2024, 2, 1, tzinfo=UTC), closes_at=datetime(2024, 1, 1, tzinfo=UTC)
    )

    assert field_of_error(data) == "closes_at"


def test_missing_targets_are_refused() -> None:
    assert field_of_error(without("targets")) == "targets"


def test_a_target_without_a_name_is_refused() -> None:
    data = campaign_data(targets=[{"email": "minister@example.org"}])

    assert field_of_error(data) == "targets[1].name"


def test_a_target_with_an_unknown_key_is_refused() -> None:
    data = campaign_data(targets=[{"name": "Minister", "twitter": "@minister"}])

    assert field_of_error(data) == "targets[1].twitter"


def test_an_allowed_origin_with_a_path_is_refused() -> None:
    data = campaign_data(allowed_origins=["https://example.org/path"])

    assert field_of_error(data) == "allowed_origins"


def test_a_title_longer_than_200_characters_is_refused() -> None:
    assert field_of_error(campaign_data(title="t" * 201)) == "title"


# campaign load


def write_campaign(
    folder: Path, *, slug: str = "water-defenders", title: str = "Release them", goal: str = "100"
) -> Path:
    path = folder / f"{slug}.toml"
    path.write_text(
        f'slug = "{slug}"\n'
        'reference = "UA 1.24"\n'
        f'title = "{title}"\n'
        'summary = "Three activists were detained for defending a river."\n'
        'ask = "Write to the minister."\n'
        'languages = ["en"]\n'
        'actions = ["letter", "email"]\n'
        f"goal = {goal}\n"
        "\n"
        "[[targets]]\n"
        'name = "Minister of the Interior"\n',
        encoding="utf-8",
    )
    return path


def load(app: Flask, *paths: Path) -> Result:
    return app.test_cli_runner().invoke(args=["campaign", "load", *map(str, paths)])


def campaigns_named(session: Session, slug: str) -> list[Campaign]:
    return list(session.scalars(select(Campaign).where(Campaign.slug == slug)))


def test_loading_a_new_file_creates_the_campaign(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    result = load(app, write_campaign(tmp_path))

    assert result.exit_code == 0
    assert result.output == "Created campaign water-defenders (UA 1.24): Release them\n"
    [campaign] = campaigns_named(session, "water-defenders")
    assert (campaign.title, campaign.goal) == ("Release them", 100)


def test_loading_a_changed_file_again_updates_the_same_campaign(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    load(app, write_campaign(tmp_path, title="Release them"))

    result = load(app, write_campaign(tmp_path, title="Release them now"))

    assert result.exit_code == 0
    assert result.output == "Updated campaign water-defenders (UA 1.24): Release them now\n"
    [campaign] = campaigns_named(session, "water-defenders")
    assert campaign.title == "Release them now"


def test_a_new_file_with_a_bad_field_is_refused_and_writes_nothing(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    path = write_campaign(tmp_path, goal="0")

    result = load(app, path)

    assert result.exit_code == 1
    assert result.output == f"Error: {path}: goal: must be a whole number above 0\n"
    assert campaigns_named(session, "water-defenders") == []


def test_a_bad_update_leaves_the_campaign_as_it_was(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    load(app, write_campaign(tmp_path, title="Release them"))

    result = load(app, write_campaign(tmp_path, title="Changed", goal="0"))

    assert result.exit_code == 1
    [campaign] = campaigns_named(session, "water-defenders")
    assert (campaign.title, campaign.goal) == ("Release them", 100)


def test_a_file_that_is_not_toml_is_refused(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text("slug = ua-1\n", encoding="utf-8")

    result = load(app, path)

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: file: not valid TOML (")


def test_a_missing_file_is_refused_naming_it(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"

    result = load(app, path)

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: file: cannot be read (")
    assert "No such file or directory" in result.output


# Campaign.is_open

NOW = datetime(2024, 2, 8, 12, 0)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("opens_at", "closes_at", "is_open"),
    [
        pytest.param(None, None, True, id="no-dates"),
        pytest.param(NOW - HOUR, None, True, id="opened"),
        pytest.param(NOW + HOUR, None, False, id="not-yet-open"),
        pytest.param(NOW, None, True, id="opens-now"),
        pytest.param(None, NOW + HOUR, True, id="closes-later"),
        pytest.param(None, NOW - HOUR, False, id="closed"),
        pytest.param(None, NOW, False, id="closes-now"),
        pytest.param(NOW - HOUR, NOW + HOUR, True, id="between"),
        pytest.param(NOW + HOUR, NOW + 2 * HOUR, False, id="before-window"),
        pytest.param(NOW - 2 * HOUR, NOW - HOUR, False, id="after-window"),
    ],
)
def test_a_campaign_is_open_from_opens_at_until_closes_at(
    opens_at: datetime | None, closes_at: datetime | None, is_open: bool
) -> None:
    campaign = Campaign(opens_at=opens_at, closes_at=closes_at)

    assert campaign.is_open(NOW) is is_open


# One-line fields, addresses and lengths that fit the columns


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "Release them\nnow"}, "title", "must be one line: remove the line break"),
        ({"title": "Release them\rnow"}, "title", "must be one line: remove the line break"),
        ({"title": "Release\u2028them"}, "title", "must be one line: remove the line break"),
        ({"reference": "UA\x001"}, "reference", "holds a control character (U+0000); remove it"),
        ({"reference": "UA\x1b[31m"}, "reference", "holds a control character (U+001B)"),
        ({"title": "a\tb"}, "title", "holds a control character (U+0009); remove it"),
        ({"summary": "Three\x00activists"}, "summary", "holds a control character (U+0000)"),
        (
            {"languages": ["en", "ur"], "translations": {"ur": {"title": "a\nb"}}},
            "translations.ur.title",
            "must be one line",
        ),
        ({"targets": [{"name": "Minister\nBcc: x"}]}, "targets[1].name", "must be one line"),
        ({"targets": [{"name": "M", "title": "a\rb"}]}, "targets[1].title", "must be one line"),
        (
            {"targets": [{"name": "M", "salutation": "Dear\n"}, {"name": "N", "phone": "1\n2"}]},
            "targets[2].phone",
            "must be one line",
        ),
        ({"targets": [{"name": "M", "address": "a\x07b"}]}, "targets[1].address", "(U+0007)"),
    ],
)
def test_control_characters_and_line_breaks_are_refused_naming_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(CampaignFileError) as refused:
        parse_campaign(campaign_data(**changes))
    assert refused.value.field == field
    assert message in str(refused.value)


def test_multi_line_texts_keep_their_line_breaks() -> None:
    target = {"name": "Minister", "address": "Ministry\nStreet 1\nCapital"}
    fields = parse_campaign(campaign_data(summary="One.\n\nTwo.\tThree.", targets=[target]))
    assert fields["summary"] == "One.\n\nTwo.\tThree."
    assert fields["targets"][0]["address"] == "Ministry\nStreet 1\nCapital"


@pytest.mark.parametrize(
    "email",
    [
        "minister@example.org?cc=someone@example.net",
        "?cc=someone@example.net",
        "minister@example.org&bcc=x@example.net",
        "minister%40example.org@example.net",
        "min#ister@example.org",
        "Minister <minister@example.org>",
        '"minister"@example.org',
        "minister@",
        "minister@example..org",
        "minister@exa mple.org",
    ],
)
def test_a_target_email_must_be_a_plain_address(email: str) -> None:
    with pytest.raises(CampaignFileError) as refused:
        parse_campaign(campaign_data(targets=[{"name": "Minister", "email": email}]))
    assert refused.value.field == "targets[1].email"
    assert str(refused.value) == (
        f"targets[1].email: {email!r} is not an email address "
        "(give a plain address, e.g. info@example.org)"
    )


def test_a_target_email_is_kept_normalised() -> None:
    target = {"name": "Minister", "email": "Minister@EXAMPLE.org"}
    assert parse_campaign(campaign_data(targets=[target]))["targets"][0]["email"] == (
        "Minister@example.org"
    )


def test_a_goal_beyond_the_databases_integer_is_refused() -> None:
    assert parse_campaign(campaign_data(goal=2**31 - 1))["goal"] == 2**31 - 1
    with pytest.raises(CampaignFileError, match="goal: must be at most 2,147,483,647"):
        parse_campaign(campaign_data(goal=2**31))


def test_a_code_with_a_trailing_line_break_is_refused(app: Flask, session: Session) -> None:
    from widget.clock import utcnow
    from widget.partners import PartnerError, save_partner

    assert field_of_error(campaign_data(languages=["en\n"])) == "languages"
    with pytest.raises(PartnerError) as refused:
        save_partner(session, "courier\n", "The Courier", [], utcnow(), actor="test")
    assert refused.value.field == "slug"


def test_the_longest_accepted_values_fit_the_columns(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    """On PostgreSQL a VARCHAR raises on a longer value: what is accepted must fit."""
    from widget.campaigns import save_campaign
    from widget.clock import utcnow
    from widget.partners import save_partner

    longest = campaign_data(slug="s" * 64, reference="R" * 40, title="T" * 200)
    campaign, created = save_campaign(session, longest, utcnow(), actor="test")
    assert created
    partner, _ = save_partner(session, "p" * 64, "N" * 200, [], utcnow(), actor="test")
    session.expire_all()
    assert (len(campaign.slug), len(campaign.reference), len(campaign.title)) == (64, 40, 200)
    assert (len(partner.slug), len(partner.name)) == (64, 200)
    for changes in ({"slug": "s" * 65}, {"reference": "R" * 41}, {"title": "T" * 201}):
        with pytest.raises(CampaignFileError):
            save_campaign(session, campaign_data(**changes), utcnow(), actor="test")
