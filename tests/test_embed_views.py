"""``?view=`` (``data-view``): the full widget, the form first, or the count alone; anything
else is the full widget."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.clock import utcnow
from widget.embed_views import VIEWS, parse_view
from widget.models import Campaign

from .conftest import Supporter, form_token
from .partners_helpers import PARTNER, add_partners


def widget(client: FlaskClient, **query: str) -> str:
    response = client.get("/w/ua-109-23", query_string=query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_full_widget_is_the_default_ask_first(client: FlaskClient) -> None:
    html = widget(client)
    assert '<body class="page view-full">' in html
    assert html.index('id="ask-title"') < html.index('id="sign-title"')
    assert '<details class="fold">' not in html
    # the default is not carried on: one URL, one page, whether view=full is given or not
    assert 'action="/w/ua-109-23"' in widget(client, view="full")


def test_compact_puts_the_form_first_and_folds_the_ask_under_it(client: FlaskClient) -> None:
    html = widget(client, view="compact", partner="courier")
    assert '<body class="page view-compact">' in html
    form, fold = html.index('id="sign-title"'), html.index('<details class="fold">')
    assert form < fold < html.index('id="ask-title"') < html.index('id="targets-title"')
    # a submit stays compact, and keeps the partner
    assert 'action="/w/ua-109-23?partner=courier&amp;view=compact"' in html
    # no skip link down to a form that is already first
    assert 'href="#sign-title"' not in html


def test_compact_shows_form_errors_and_stays_compact(supporter: Supporter) -> None:
    client = supporter.client
    token = form_token(widget(client, view="compact"))
    response = client.post(
        "/w/ua-109-23?view=compact",
        data={"csrf_token": token, "name": "", "email": "not-an-address"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<body class="page view-compact">' in html
    assert html.index('id="error-summary"') < html.index('<details class="fold">')


def test_counter_is_the_count_and_a_link_to_the_action(app: Flask, client: FlaskClient) -> None:
    add_partners(app)
    html = widget(client, view="counter", partner=PARTNER, lang="ur", host="https://news.example")
    assert '<body class="page view-counter">' in html
    assert "data-count=" in html and "<progress" in html
    for absent in ('<form class="sign"', 'id="ask-title"', 'id="targets-title"', "<textarea"):
        assert absent not in html
    # the whole action, on a page of its own: not the frame's host, not the counter again
    [link] = re.findall(r'<p class="action-link"><a href="([^"]+)" target="_blank"', html)
    assert link == f"/w/ua-109-23?partner={PARTNER}&amp;lang=ur"
    # a slug that is no registered, active partner credits nobody: the link leaves it out
    html = widget(client, view="counter", partner="courier", lang="ur")
    [link] = re.findall(r'<p class="action-link"><a href="([^"]+)" target="_blank"', html)
    assert link == "/w/ua-109-23?lang=ur"


def test_counter_keeps_the_framing_rules(client: FlaskClient, session: Session) -> None:
    campaign = session.scalars(select(Campaign)).one()
    campaign.allowed_origins = ["https://only.example.org"]
    session.commit()
    response = client.get("/w/ua-109-23?view=counter")
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://only.example.org" in policy


def test_a_closed_action_counts_on_in_every_view(client: FlaskClient, session: Session) -> None:
    campaign = session.scalars(select(Campaign)).one()
    campaign.closes_at = utcnow() - timedelta(days=1)
    session.commit()
    counter = widget(client, view="counter")
    assert "See the action" in counter and "Take action now" not in counter
    compact = widget(client, view="compact")
    assert "This action has closed" in compact
    assert '<form class="sign"' not in compact and '<details class="fold">' not in compact


@pytest.mark.parametrize(
    "value",
    [
        "",
        "COMPACT",
        "Counter",
        " compact",
        "compact\u200b",
        "\uff43\uff4f\uff4d\uff50\uff41\uff43\uff54",  # full-width "compact"
        "counter\t",
        "compact" * 2000,
        "<script>alert(1)</script>",
        "full;compact",
    ],
)
def test_an_unknown_view_is_the_full_widget(client: FlaskClient, value: str) -> None:
    html = widget(client, view=value)
    assert '<body class="page view-full">' in html
    assert 'action="/w/ua-109-23"' in html  # nothing of it carried on
    assert "<script>alert" not in html


def test_parse_view_takes_only_the_exact_names() -> None:
    assert [parse_view(view) for view in VIEWS] == ["full", "compact", "counter"]
    assert parse_view(None) == "full"
    assert parse_view("compact ") == "full"


def test_embed_js_stays_within_its_2_kb_budget(client: FlaskClient) -> None:
    """What every reader of a partner's page downloads (bench/embed_size.py has the figures)."""
    with client.get("/embed.js") as response:
        body = response.get_data()
    assert len(gzip.compress(body, compresslevel=9)) <= 2048
    # the views it knows are the server's
    assert "/^(compact|counter)$/" in body.decode()
    assert set(VIEWS) == {"full", "compact", "counter"}
