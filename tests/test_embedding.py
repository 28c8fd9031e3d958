"""Embedding over HTTP: the script, partners and attribution, who may frame, themes."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.models import Campaign, Partner, Signature
from widget.themes import Theme, contrast, parse_theme

from .conftest import Supporter, form_token

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def add_partner(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["partner", "add", *args])
    return f"{result.exit_code}: {result.output.strip()}"


def test_embed_js_is_served_small_cacheable_and_to_any_site(client: FlaskClient) -> None:
    with client.get("/embed.js") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert "document.currentScript" in response.get_data(as_text=True)


def test_partner_add_creates_then_updates(app: Flask, session: Session) -> None:
    assert (
        add_partner(
            app, "courier", "--name", "The Daily Courier", "--origin", "https://courier.example"
        )
        == "0: Added partner courier (The Daily Courier): https://courier.example"
    )
    assert (
        add_partner(
            app,
            "courier",
            "--name",
            "Courier",
            "--origin",
            "https://a.example",
            "--origin",
            "https://b.example",
        )
        == "0: Updated partner courier (Courier): https://a.example, https://b.example"
    )
    [partner] = session.scalars(select(Partner)).all()
    assert (partner.name, partner.origins, partner.active) == (
        "Courier",
        ["https://a.example", "https://b.example"],
        True,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Slug", "--name", "X"], "slug 'Bad Slug': use lowercase letters"),
        (["ok", "--name", "  "], "name: give 1 to 200 characters"),
        (["ok", "--name", "X", "--origin", "courier.example"], "origin 'courier.example'"),
        (["ok", "--name", "X", "--origin", "https://c.example/path"], "give scheme and host only"),
    ],
)
def test_partner_add_refuses_bad_input(
    app: Flask, session: Session, args: list[str], message: str
) -> None:
    outcome = add_partner(app, *args)
    assert outcome.startswith("1: Error: ")
    assert message in outcome
    assert session.scalars(select(Partner)).all() == []


def fresh_token(client: FlaskClient) -> str:
    """A form token of its own: each is good for one accepted form."""
    return form_token(client.get("/w/ua-109-23").get_data(as_text=True))


def test_signatures_are_credited_to_a_known_partner(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    add_partner(app, "courier", "--name", "Courier")
    page = client.get("/w/ua-109-23?partner=courier&host=https://courier.example")
    form = {
        "csrf_token": form_token(page.get_data(as_text=True)),
        "name": "A",
        "email": "a@example.org",
        "country": "PK",
        "consent": "y",
    }
    assert 'action="/w/ua-109-23?partner=courier&amp;host=https' in page.get_data(as_text=True)
    client.post("/w/ua-109-23?partner=courier", data=form, headers=SAME_ORIGIN)
    client.post(
        "/w/ua-109-23?partner=nobody-we-know",
        data={**form, "email": "b@example.org", "csrf_token": fresh_token(client)},
        headers=SAME_ORIGIN,
    )
    credited = {
        s.email: s.partner.slug if s.partner else None for s in session.scalars(select(Signature))
    }
    assert credited == {"a@example.org": "courier", "b@example.org": None}


def test_an_inactive_partner_credits_nobody(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    add_partner(app, "courier", "--name", "Courier")
    partner = session.scalars(select(Partner)).one()
    partner.active = False
    session.commit()
    supporter.client.post(
        "/w/ua-109-23?partner=courier", data=supporter.form(), headers=SAME_ORIGIN
    )
    assert session.scalars(select(Signature.partner_id)).one() is None


def test_the_embedding_page_is_kept_without_query_or_fragment(
    client: FlaskClient, session: Session
) -> None:
    page = client.get(
        "/w/ua-109-23", headers={"Referer": "https://courier.example/2024/story?reader=42#top"}
    ).get_data(as_text=True)
    assert '<input type="hidden" name="source" value="https://courier.example/2024/story">' in page
    client.post(
        "/w/ua-109-23",
        data={
            "csrf_token": form_token(page),
            "name": "A",
            "email": "a@example.org",
            "country": "PK",
            "consent": "y",
            "source": "https://courier.example/2024/story?reader=42",
        },
        headers=SAME_ORIGIN,
    )
    assert session.scalars(select(Signature.source_url)).one() == (
        "https://courier.example/2024/story"
    )


@pytest.mark.parametrize(
    "referrer", [None, "http://localhost/w/ua-109-23", "javascript:alert(1)", "not a url"]
)
def test_no_source_from_our_own_pages_or_junk(client: FlaskClient, referrer: str | None) -> None:
    headers = {"Referer": referrer} if referrer else {}
    page = client.get("/w/ua-109-23", headers=headers).get_data(as_text=True)
    assert 'name="source"' not in page


def test_a_restricted_campaign_lists_its_origins_and_partners(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    campaign = session.scalars(select(Campaign)).one()
    campaign.allowed_origins = ["https://amnesty.example"]
    session.commit()
    add_partner(app, "courier", "--name", "Courier", "--origin", "https://courier.example")
    add_partner(app, "gone", "--name", "Gone", "--origin", "https://gone.example")
    gone = session.scalars(select(Partner).where(Partner.slug == "gone")).one()
    gone.active = False
    session.commit()
    csp = client.get("/w/ua-109-23").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self' https://amnesty.example https://courier.example")
    assert "X-Frame-Options" not in client.get("/w/ua-109-23").headers


def test_pages_other_than_the_widget_cannot_be_framed(client: FlaskClient) -> None:
    for url in ("/v/not-a-token", "/w/no-such-campaign"):
        assert client.get(url).headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")


def test_a_theme_sets_mode_and_a_readable_accent(client: FlaskClient) -> None:
    response = client.get("/w/ua-109-23", query_string={"theme": "dark #fc0"})
    page = response.get_data(as_text=True)
    assert 'class="theme-dark"' in page
    nonce = re.search(r'<style nonce="([^"]+)">', page)
    assert nonce
    assert (
        f"style-src 'self' 'nonce-{nonce.group(1)}'" in response.headers["Content-Security-Policy"]
    )
    assert "--accent: #ffcc00; --accent-text: #000000; --link: var(--accent);" in page


def test_only_known_parameters_reach_the_form(client: FlaskClient) -> None:
    page = client.get("/w/ua-109-23?lang=en&evil=1&partner=courier").get_data(as_text=True)
    assert 'action="/w/ua-109-23?partner=courier&amp;lang=en"' in page


def test_a_hostile_theme_is_ignored(client: FlaskClient) -> None:
    page = client.get(
        "/w/ua-109-23", query_string={"theme": "</style><script>alert(1)</script> red"}
    ).get_data(as_text=True)
    assert 'class="theme-light"' in page
    assert "<style nonce" not in page
    assert "<script>alert" not in page


def test_parse_theme() -> None:
    assert parse_theme(None) == Theme("light", None)
    assert parse_theme("DARK") == Theme("dark", None)
    assert parse_theme("auto,#1D4ED8") == Theme("auto", "#1d4ed8")
    assert parse_theme("#12345 dark #zzz") == Theme("dark", None)


def test_accent_text_is_the_more_readable_of_black_and_white() -> None:
    assert Theme("light", "#ffcc00").accent_text == "#000000"
    assert Theme("light", "#1d4ed8").accent_text == "#ffffff"
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0


def test_an_accent_unreadable_as_link_text_leaves_links_alone() -> None:
    assert Theme("light", "#1d4ed8").accent_links is True
    assert Theme("light", "#ffcc00").accent_links is False  # yellow on white
    assert Theme("dark", "#ffcc00").accent_links is True
    assert Theme("auto", "#ffcc00").accent_links is False  # must read on both
