"""Rules kept in one place: the text direction of a language (pages, mails, the officials'
report, a letter's greeting) and the whitespace trim of the staff and widget forms."""

from __future__ import annotations

import pytest
from flask import Flask, g

from widget import directions, forms, reports, templating
from widget.views.staff import abuse


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ur", "rtl"),
        ("ur-PK", "rtl"),
        ("ur_PK", "rtl"),
        ("fa-AF", "rtl"),
        ("AR", "rtl"),
        ("he", "rtl"),
        ("en", "ltr"),
        ("en-GB", "ltr"),
        ("uk", "ltr"),
        ("", "ltr"),
    ],
)
def test_every_part_takes_its_direction_from_one_rule(
    app: Flask, language: str, expected: str
) -> None:
    assert directions.text_direction(language) == expected
    assert reports.ReportLanguage(language, "en").direction == expected
    assert f'dir="{expected}"' in templating.language_attrs(language)
    assert app.jinja_env.globals["language_direction"] is directions.text_direction


@pytest.mark.parametrize(("language", "expected"), [("ur", "rtl"), ("fa", "rtl"), ("en", "ltr")])
def test_the_page_direction_follows_the_same_rule(app: Flask, language: str, expected: str) -> None:
    with app.test_request_context():
        g.widget_locale = language
        assert templating.page_context()["text_direction"] == expected


def test_one_trim_for_every_form() -> None:
    assert abuse.strip is forms.strip
    padded = "  a b \n"
    assert forms.strip(padded) == "a b"
    assert forms.strip(None) is None


def test_templates_only_read_the_take_action_data_the_view_built(app: Flask) -> None:
    """The letters and links come from the view (``render_widget``), not from a template global
    reading the request: templates never compute, and no rule reads Flask's request."""
    assert "take_action" not in app.jinja_env.globals
    assert not hasattr(templating, "request")
    source = app.jinja_env.loader.get_source(app.jinja_env, "widget/_take_action.html")[0]
    assert "take_action(" not in source
