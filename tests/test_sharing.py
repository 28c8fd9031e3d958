"""Bring others (issue 12) and the funnel per source code (issue 13): share links with ``ref=``,
a signature recording the ``ref`` it came by, and "back to where you signed" that leads only
to a recorded, allowed partner page. Tried with hostile codes and redirect attempts."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.extensions import db
from widget.funnel import campaign_funnel
from widget.models import Campaign, Signature
from widget.sealing import generate_key_file, public_key_text
from widget.sharing import CHANNELS, back_to_source, normalise_ref, share_links, with_ref

from .conftest import StaffActions, Supporter, make_app
from .partners_helpers import HTTPS, add_partners
from .test_journey import SAME_ORIGIN, confirm, confirm_links, receipt_of, state

ARTICLE = "https://news.example/2026/12/refugees"


def hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', page)]


def test_a_source_code_is_short_plain_and_normalised() -> None:
    assert normalise_ref("whatsapp") == "whatsapp"
    assert normalise_ref("  News-Letter_2 ") == "news-letter_2"
    assert normalise_ref("\uff37\uff28\uff21\uff34\uff33\uff21\uff30\uff30") == "whatsapp"
    assert normalise_ref("a" * 32) == "a" * 32
    for hostile in [
        "a" * 33,
        "x" * 100_000,
        "wh\u0430tsapp",  # a Cyrillic a
        "<script>",
        "a b",
        "x';drop table signature;--",
        "-leading",
        "news%20letter",
        "a\x00b",
        "\u200bwa",
        "",
        None,
        ["wa"],
    ]:
        assert normalise_ref(hostile) is None, hostile


def test_a_signature_records_the_ref_it_came_by(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    page = supporter.open_widget(ref="WhatsApp")
    assert 'action="/w/ua-109-23?ref=whatsapp"' in page
    response = client.post("/w/ua-109-23?ref=WhatsApp", data=supporter.form(), headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert session.scalar(select(Signature.ref)) == "whatsapp"


@pytest.mark.parametrize(
    "hostile", ["a" * 33, "<b>x</b>", "wh\u0430tsapp", 'x"onmouseover=alert(1)', "%00"]
)
def test_a_hostile_ref_is_dropped_and_the_signature_kept(
    client: FlaskClient, supporter: Supporter, session: Session, hostile: str
) -> None:
    page = client.get("/w/ua-109-23", query_string={"ref": hostile}).get_data(as_text=True)
    assert "?ref=" not in page and "&amp;ref=" not in page
    response = client.post(
        "/w/ua-109-23", query_string={"ref": hostile}, data=supporter.form(), headers=SAME_ORIGIN
    )
    assert response.status_code == 200
    assert session.execute(select(Signature.ref, Signature.email)).one() == (
        None,
        "ayesha@example.org",
    )


def test_share_links_lead_to_the_partner_page_with_a_ref_each(
    app: Flask, supporter: Supporter
) -> None:
    add_partners(app)
    page = supporter.sign(source=ARTICLE).get_data(as_text=True)
    links = hrefs(page)
    whatsapp = next(h for h in links if h.startswith("https://wa.me/"))
    assert f"{ARTICLE}?ref=whatsapp" in unquote(whatsapp)
    telegram = parse_qs(urlsplit(next(h for h in links if "t.me" in h)).query)
    assert telegram["url"] == [f"{ARTICLE}?ref=telegram"]
    x = parse_qs(urlsplit(next(h for h in links if h.startswith("https://x.com/"))).query)
    assert x["url"] == [f"{ARTICLE}?ref=x"]
    facebook = parse_qs(urlsplit(next(h for h in links if "facebook.com" in h)).query)
    assert facebook["u"] == [f"{ARTICLE}?ref=facebook"]
    assert any(h.startswith("https://bsky.app/intent/compose?text=") for h in links)
    mail = next(h for h in links if h.startswith("mailto:"))
    assert f"{ARTICLE}?ref=email" in unquote(mail)
    assert f'value="{ARTICLE}?ref=copy"' in page
    assert f'data-url="{ARTICLE}?ref=share"' in page
    # in the widget, the supporter is on that page already: no "back" link
    assert "Back to where you signed" not in page


@pytest.mark.parametrize(
    "source",
    [
        None,
        "https://evil.example/phish",  # not a partner origin
        "https://news.example.evil.example/x",
        "https://news.example@evil.example/x",
        "javascript:alert(1)",
        "//evil.example/x",
        "https://news.example:444/x",
    ],
)
def test_links_lead_to_the_widget_page_unless_the_source_is_an_allowed_partner(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session, source: str | None
) -> None:
    add_partners(app)
    page = supporter.sign(source=source).get_data(as_text=True)
    assert 'value="http://localhost/w/ua-109-23?ref=copy"' in page
    assert not [h for h in hrefs(page) if "evil" in h or "news.example" in h]
    confirmed = client.post(confirm_links(session)[0], headers=SAME_ORIGIN).get_data(as_text=True)
    assert "Back to where you signed" not in confirmed
    assert "evil.example" not in confirmed and "news.example" not in confirmed
    assert 'value="http://localhost/w/ua-109-23?ref=copy"' in confirmed


def test_back_to_where_you_signed_returns_to_the_partner_page(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    add_partners(app)
    supporter.sign(source=ARTICLE + "?utm=x#frag")
    assert session.scalar(select(Signature.source_url)) == ARTICLE
    confirmed = client.post(confirm_links(session)[0], headers=SAME_ORIGIN).get_data(as_text=True)
    assert f'<a href="{ARTICLE}">Back to where you signed</a>' in confirmed
    assert f'value="{ARTICLE}?ref=copy"' in confirmed


def test_an_origin_listed_by_the_campaign_counts_as_a_partner_page(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    campaign = session.scalars(select(Campaign)).one()
    campaign.allowed_origins = ["https://blog.example"]
    session.commit()
    supporter.sign(source="https://blog.example/post")
    confirmed = client.post(confirm_links(session)[0], headers=SAME_ORIGIN).get_data(as_text=True)
    assert '<a href="https://blog.example/post">Back to where you signed</a>' in confirmed


def test_back_to_source_refuses_what_a_row_could_hold() -> None:
    allowed = {"https://news.example"}
    assert back_to_source(ARTICLE, allowed) == ARTICLE
    for stored in [
        None,
        "",
        "https://news.example/x?next=//evil",
        "https://u:p@news.example/",
        "http://news.example/x",
        "https://evil.example/",
        "https://[::1",
    ]:
        assert back_to_source(stored, allowed) is None, stored


def test_with_ref_replaces_a_ref_and_keeps_the_rest() -> None:
    assert with_ref("https://a.example/p?x=1&ref=old#f", "wa") == "https://a.example/p?x=1&ref=wa"
    links = share_links("https://a.example/", "I signed", "Title")
    assert set(links.links) == set(CHANNELS) - {"copy", "share"}
    assert all(not h.startswith("http://") for h in links.links.values())


def test_staff_see_signatures_and_confirmations_per_source_code(
    client: FlaskClient, supporter: Supporter, session: Session, staff: StaffActions
) -> None:
    for n, ref in enumerate(["whatsapp", "whatsapp", "x", None]):
        query = f"?ref={ref}" if ref else ""
        form = Supporter(client).form(email=f"s{n}@example.org")
        client.post(f"/w/ua-109-23{query}", data=form, headers=SAME_ORIGIN)
    confirm(client, session)  # the last: no ref
    client.post(confirm_links(session)[0], headers=SAME_ORIGIN)  # the first: whatsapp
    funnel = campaign_funnel(session, session.scalars(select(Campaign)).one())
    figures = {row.ref: (row.signed, row.confirmed) for row in funnel.by_ref}
    assert figures == {"whatsapp": (2, 1), "x": (1, 0), None: (1, 1)}
    page = staff.signed_in().get("/staff/campaigns/ua-109-23/funnel", **HTTPS)
    table = re.search(
        r'<table[^>]*id="funnel-refs">(.*?)</table>', page.get_data(as_text=True), re.S
    )
    assert table
    rows = re.findall(
        r"<tr><th scope=\"row\">(.*?)</th><td class=\"num\">(\d+)</td>", table.group(1)
    )
    assert rows == [
        ("<code>whatsapp</code>", "2"),
        ("<code>x</code>", "1"),
        ("No source code", "1"),
    ]


def test_in_sealed_mode_the_links_degrade_to_the_widget_page(
    database_url: str, tmp_path: Path
) -> None:
    """The source page is sealed: the confirm page cannot know it, so it offers the widget's
    page and no "back"; the page that signed still knows it (in memory) and shares it."""
    key = tmp_path / "data.key"
    sealed = make_app(
        database_url,
        tmp_path,
        WIDGET_DATA_PUBLIC_KEY=public_key_text(generate_key_file(key)),
    )
    add_partners(sealed)
    client = sealed.test_client()
    page = Supporter(client).sign(source=ARTICLE).get_data(as_text=True)
    assert f'value="{ARTICLE}?ref=copy"' in page
    receipt = receipt_of(page)
    with db.sessionmaker(sealed)() as session:
        assert session.scalar(select(Signature.source_url)) is None
        link = confirm_links(session)[0]
    confirmed = client.post(link, headers=SAME_ORIGIN).get_data(as_text=True)
    assert "Back to where you signed" not in confirmed
    assert 'value="http://localhost/w/ua-109-23?ref=copy"' in confirmed
    assert state(client, receipt) == "confirmed"
    db.engine(sealed).dispose()


@pytest.mark.parametrize(
    ("page", "referrer", "recorded"),
    [
        (ARTICLE, "https://news.example/", ARTICLE),  # embed.js's page, the referrer's origin
        (ARTICLE + "?utm=x#top", "https://news.example/", ARTICLE),  # never its query
        (ARTICLE, None, None),  # a page that sends no referrer says nothing of itself
        (ARTICLE, "https://other.example/", "https://other.example/"),  # they disagree
        ("javascript:alert(1)", "https://news.example/", "https://news.example/"),
        ("http://localhost/w/ua-109-23", None, None),  # our own page is no source
    ],
)
def test_the_widget_records_the_article_that_embeds_it(
    client: FlaskClient, page: str, referrer: str | None, recorded: str | None
) -> None:
    headers = {"Referer": referrer} if referrer else {}
    body = client.get("/w/ua-109-23", query_string={"page": page}, headers=headers)
    found = re.search(r'name="source" value="([^"]*)"', body.get_data(as_text=True))
    assert (html.unescape(found.group(1)) if found else None) == recorded


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_share_sheet_and_the_message_name_the_action_in_the_widgets_language(
    client: FlaskClient, supporter: Supporter, session: Session, lang: str
) -> None:
    title = {"en": "Stop deporting Afghan refugees", "ur": "افغان مہاجرین کی ملک بدری روکیں"}[lang]
    signed = client.post(f"/w/ua-109-23?lang={lang}", data=supporter.form(), headers=SAME_ORIGIN)
    confirmed = client.post(confirm_links(session)[-1], headers=SAME_ORIGIN)
    # both pages with the share step: "check your email" (hidden until confirmed) and "confirmed"
    for page in (signed.get_data(as_text=True), confirmed.get_data(as_text=True)):
        check_titles(page, title)


def check_titles(page: str, title: str) -> None:
    titles = re.findall(r'data-web-share data-url="[^"]*" data-title="([^"]*)"', page)
    assert [html.unescape(found) for found in titles] == [title]
    message = unquote(next(href for href in hrefs(page) if "wa.me" in href or "whatsapp" in href))
    assert title in message
