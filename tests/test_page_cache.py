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
from widget.models import Campaign, OutboxMessage, Signature
from widget.page_cache import PageCache, key_of, page_cache
from widget.signing import confirm_signature

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


def check_email(supporter: Supporter, query: dict[str, str] | None = None, **fields: object) -> str:
    response = supporter.client.post(
        "/w/ua-109-23",
        query_string=query or {},
        data=supporter.form(**fields),
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="result-title"' in page  # the check-email page, in any language
    return page


def own_parts_out(page: str) -> str:
    """A check-email page without what is its own: the token, receipt, nonce, address, typed
    values and source."""
    page = re.sub(r'<input type="hidden" name="source" value="[^"]*">\n', "", page)
    page = re.sub(r'value="[^"]*"', 'value="…"', page)
    page = re.sub(r'data-receipt="[^"]*"', "RECEIPT", page)
    page = re.sub(r'<strong class="typed-address" dir="ltr">[^<]*', "ADDRESS", page)
    return NONCE.sub("NONCE", page)


def test_the_check_email_page_is_reused_with_each_supporters_own_values(
    app: Flask, supporter: Supporter
) -> None:
    first = check_email(supporter, name="Alpha Signer", email="alpha-signer@example.org")
    kept = len(page_cache(app))
    second = check_email(
        supporter,
        name='Bravo <b>"Signer"</b>',
        email="bravo-signer@example.org",
        source='https://news.example/bravo&"x"?query=dropped',
    )
    assert len(page_cache(app)) == kept
    for page, mine, theirs in ((first, "alpha", "bravo"), (second, "bravo", "alpha")):
        assert f'<strong class="typed-address" dir="ltr">{mine}-signer@example.org</strong>' in page
        assert theirs not in page.lower()
    assert own_parts_out(first) == own_parts_out(second)
    # the typed values go back escaped, once per form; the source only where it was sent
    assert second.count('name="name" value="Bravo &lt;b&gt;&#34;Signer&#34;&lt;/b&gt;"') == 2
    assert second.count('name="source" value="https://news.example/bravo&amp;&#34;x&#34;"') == 2
    assert 'name="source"' not in first
    tokens = [re.findall(r'name="csrf_token" value="([^"]+)"', page) for page in (first, second)]
    receipts = [re.findall(r'name="receipt" value="([^"]+)"', page) for page in (first, second)]
    assert all(len(set(found)) == 1 for found in tokens + receipts)
    assert tokens[0] != tokens[1] and receipts[0] != receipts[1]


def test_a_reused_check_email_page_is_the_page_rendered_afresh(
    app: Flask, supporter: Supporter
) -> None:
    add_partners(app)
    query = {"lang": "ur", "theme": "dark #d4351c", "partner": PARTNER, "ref": "whatsapp"}
    check_email(supporter, query, email="warm@example.org")
    reused = check_email(supporter, query, email="reused@example.org")
    page_cache(app).clear()
    fresh = check_email(supporter, query, email="fresh@example.org")
    assert own_parts_out(reused) == own_parts_out(fresh)
    assert '<html lang="ur" dir="rtl"' in reused
    for action in ("/w/ua-109-23?", "/w/ua-109-23/correct?", 'href="/w/ua-109-23?'):
        assert action in reused
    assert reused.count(f"partner={PARTNER}") >= 3 and reused.count("ref=whatsapp") >= 3


def test_the_share_links_of_a_reused_check_email_page_lead_to_each_supporters_page(
    app: Flask, supporter: Supporter
) -> None:
    add_partners(app)
    pages = [
        check_email(
            supporter,
            {"partner": PARTNER},
            email=f"share{n}@example.org",
            source=f"https://news.example/article-{n}",
        )
        for n in range(2)
    ]
    for n, page in enumerate(pages):
        assert f"article-{n}" in page and f"article-{1 - n}" not in page


def test_a_reused_check_email_page_keeps_its_language_and_its_notice(
    supporter: Supporter,
) -> None:
    again = "If this address is waiting for its confirmation, we have sent the link again."
    for _round in range(2):
        assert '<html lang="ur" dir="rtl"' in check_email(supporter, {"lang": "ur"})
        assert again not in check_email(supporter, {"lang": "en"})
        assert again in check_email(supporter, {"lang": "en"}, again="y")
        assert '<html lang="en" dir="ltr"' in check_email(supporter)


def test_a_plain_text_page_takes_its_slots_as_they_are() -> None:
    cache = PageCache()
    for escaped, expected in ((True, "<p>a &lt;b&gt; &amp; c</p>"), (False, "<p>a <b> & c</p>")):
        template = f"t-{escaped}"
        for _round in range(2):
            page = cache.page(
                template,
                {},
                {"value": "a <b> & c"},
                lambda context: f"<p>{context['value']}</p>",
                escaped=escaped,
            )
            assert page == expected


MAIL_LINK = re.compile(r"https?://\S+/(?:v|m)/[^\s<\"]+")


def mails(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_each_mail_of_a_reused_rendering_has_its_own_links(
    app: Flask, supporter: Supporter, session: Session
) -> None:
    supporter.sign(email="one@example.org")
    supporter.sign(email="two@example.org")
    page_cache(app).clear()
    supporter.sign(email="three@example.org")
    # a repeat: the "already signed" mail, with the manage link only
    signature = session.scalar(select(Signature).where(Signature.email == "one@example.org"))
    assert signature is not None
    confirm_signature(session, signature.id, now=utcnow())
    supporter.sign(email="one@example.org")
    one, two, three, again = mails(session)
    links = [set(MAIL_LINK.findall(mail.text_body)) for mail in (one, two, three, again)]
    assert all(len(found) == 2 for found in links[:3]) and len(links[3]) == 1
    assert len(set.union(*links[:3])) == 6
    for mail, found in zip((one, two, three, again), links, strict=True):
        assert all(link in mail.html_body for link in found)
    for part in ("text_body", "html_body"):
        reused, fresh = (
            re.sub(r"/(v|m)/[^\s<\"]+", "/LINK", getattr(mail, part)) for mail in (two, three)
        )
        assert reused == fresh
