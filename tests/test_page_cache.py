"""The widget page is rendered once per distinct input in each process and reused
(``widget.page_cache``, ``widget.public_facts``): every reader still gets a page of their own
(token, style nonce, embedding page, query), and nothing of one campaign, language, partner or
count is ever shown for another."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from widget import public_facts
from widget.campaigns import load_campaign_file
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Campaign, Signature
from widget.page_cache import PageCache, key_of, page_cache

from .conftest import DEMO, Supporter, form_token
from .partners_helpers import INACTIVE, PARTNER, add_partners

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
NONCE = re.compile(r'nonce="([^"]+)"')
BOX = re.compile(r'<input[^>]*name="partner_opt_in"[^>]*>')


def uncached(app: Flask, supporter: Supporter, **query: str) -> str:
    page_cache(app).clear()
    return supporter.open_widget(**query)


def same_but_token_and_nonce(page: str) -> str:
    page = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "TOKEN", page)
    return NONCE.sub("NONCE", page)


def test_two_readers_get_their_own_single_use_tokens(supporter: Supporter) -> None:
    first, second = supporter.open_widget(), supporter.open_widget()
    assert form_token(first) != form_token(second)
    assert same_but_token_and_nonce(first) == same_but_token_and_nonce(second)
    body = supporter.form(csrf_token=form_token(second))
    assert supporter.client.post("/w/ua-109-23", data=body, headers=SAME_ORIGIN).status_code == 200
    replay = supporter.client.post("/w/ua-109-23", data=body, headers=SAME_ORIGIN)
    assert replay.status_code == 400
    assert "This form was already sent." in replay.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"theme": "dark #d4351c"},
        {"lang": "ur", "host": 'https://news.example/"><script>x</script>'},
        {"partner": PARTNER, "theme": "light #000"},
    ],
)
def test_a_reused_page_is_the_page_rendered_afresh(
    app: Flask, supporter: Supporter, query: dict[str, str]
) -> None:
    add_partners(app)
    fresh = uncached(app, supporter, **query)
    reused = supporter.open_widget(**query)
    assert same_but_token_and_nonce(reused) == same_but_token_and_nonce(fresh)
    assert "<script>x" not in reused


def test_each_reader_gets_their_own_style_nonce_source_and_action(
    app: Flask, supporter: Supporter
) -> None:
    pages = [
        supporter.client.get(
            "/w/ua-109-23",
            query_string={"theme": "dark #d4351c", "host": f"https://site{n}.example"},
            headers={"Referer": f"https://site{n}.example/article-{n}?utm=x"},
        )
        for n in range(2)
    ]
    for n, response in enumerate(pages):
        page = response.get_data(as_text=True)
        [nonce] = NONCE.findall(page)
        assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]
        assert f'name="source" value="https://site{n}.example/article-{n}"' in page
        assert f"host=https://site{n}.example" in page
        assert f"site{1 - n}" not in page
    assert NONCE.findall(pages[0].get_data(as_text=True)) != NONCE.findall(
        pages[1].get_data(as_text=True)
    )
    # one page per partner site: the letter-language form carries the frame's host
    assert len(page_cache(app)) == 2


def test_junk_query_values_do_not_grow_the_cache(app: Flask, supporter: Supporter) -> None:
    # a page with and one without an embedding page (its hidden field is left out)
    supporter.open_widget()
    supporter.client.get("/w/ua-109-23", headers={"Referer": "https://news.example/a"})
    for n in range(30):
        supporter.open_widget(
            partner=f"junk-{n}", theme=f"junk{n}", lang=f"x{n}", host=f"h{n}", other=str(n)
        )
        supporter.client.get(
            "/w/ua-109-23",
            headers={"Accept-Language": f"zz-{n}", "Referer": f"https://r{n}.example/"},
        )
    assert len(page_cache(app)) == 2


def test_distinct_accent_colours_are_bounded(app: Flask, supporter: Supporter) -> None:
    cache = page_cache(app)
    cache.max_entries = 5
    for n in range(12):
        supporter.open_widget(theme=f"#{n:06x}")
    assert len(cache) == 5


def test_a_page_in_one_language_is_never_served_for_another(supporter: Supporter) -> None:
    for _round in range(2):
        assert '<html lang="ur" dir="rtl"' in supporter.open_widget(lang="ur")
        assert '<html lang="en" dir="ltr"' in supporter.open_widget(lang="en")
        urdu = supporter.client.get("/w/ua-109-23", headers={"Accept-Language": "ur"})
        assert '<html lang="ur" dir="rtl"' in urdu.get_data(as_text=True)
        english = supporter.client.get("/w/ua-109-23", headers={"Accept-Language": "en"})
        assert '<html lang="en" dir="ltr"' in english.get_data(as_text=True)


def test_the_partner_box_only_where_it_belongs(app: Flask, supporter: Supporter) -> None:
    add_partners(app)
    for _round in range(2):
        assert len(BOX.findall(supporter.open_widget(partner=PARTNER))) == 1
        assert BOX.findall(supporter.open_widget()) == []
        assert BOX.findall(supporter.open_widget(partner=INACTIVE)) == []
        assert BOX.findall(supporter.open_widget(partner=PARTNER.upper())) == []


def test_a_campaign_change_in_this_process_shows_at_once(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    assert "Renamed at once" not in supporter.open_widget()
    campaign = session.scalar(select(Campaign).where(Campaign.slug == "ua-109-23"))
    assert campaign is not None
    campaign.title = "Renamed at once"
    session.commit()
    assert "Renamed at once" in supporter.open_widget()


def test_a_change_from_another_process_shows_within_the_reuse_time(
    app: Flask, supporter: Supporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(public_facts.time, "monotonic", lambda: clock[0])
    supporter.open_widget()
    # a plain statement on a connection of its own: what another process's change looks like
    with db.engine(app).begin() as connection:
        connection.execute(
            text("UPDATE campaign SET title = 'From elsewhere' WHERE slug = 'ua-109-23'")
        )
    clock[0] += public_facts.FACTS_REUSE / 2
    assert "From elsewhere" not in supporter.open_widget()
    clock[0] += public_facts.FACTS_REUSE
    assert "From elsewhere" in supporter.open_widget()


def test_campaign_load_in_this_process_shows_at_once(
    app: Flask, supporter: Supporter, session: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    supporter.open_widget()
    changed = tmp_path / "changed.toml"
    changed.write_text(
        DEMO.read_text(encoding="utf-8").replace('title = "', 'title = "Loaded again: ', 1),
        encoding="utf-8",
    )
    load_campaign_file(session, changed, utcnow())
    assert "Loaded again: " in supporter.open_widget()


def test_a_confirmation_shows_in_the_count_at_once(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    assert 'data-count="0"' in supporter.open_widget()
    assert supporter.sign().status_code == 200
    signature = session.scalar(select(Signature))
    assert signature is not None
    from widget.signing import confirm_signature

    confirm_signature(session, signature.id, now=utcnow())
    assert 'data-count="1"' in supporter.open_widget()


def test_a_campaign_not_yet_open_is_not_found_even_when_kept(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    supporter.open_widget()
    session.execute(
        update(Campaign)
        .where(Campaign.slug == "ua-109-23")
        .values(opens_at=utcnow() + timedelta(days=1))
    )
    session.commit()
    assert supporter.client.get("/w/ua-109-23").status_code == 404


def test_a_reused_page_runs_no_sql(
    app: Flask, supporter: Supporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public_facts.time, "monotonic", lambda: 1000.0)  # within its reuse
    supporter.open_widget()
    statements: list[str] = []
    engine = db.engine(app)
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        supporter.open_widget()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []


def test_an_input_without_a_key_by_value_is_refused() -> None:
    with pytest.raises(TypeError, match="has no key by value"):
        key_of({"campaign": object()})
    cache = PageCache()
    with pytest.raises(TypeError):
        cache.page("widget/page.html", {"thing": object()}, {}, lambda context: "")
    assert key_of({"a": [1, {"b": 2}]}) == key_of({"a": [1, {"b": 2}]})
