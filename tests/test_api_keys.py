"""API keys and ``GET /api/v1/campaigns/<c>/signatures``: who is let in (401, 403), what each
key reads, the cursor walk, the limits, the commands, the staff page; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from widget.apikeys import create_key, hash_key
from widget.clock import utcnow
from widget.extensions import db
from widget.models import ApiKey, Audit, Campaign, Partner, Signature, Staff
from widget.partners import save_partner
from widget.signature_feed import SETTLE
from widget.views import api as api_views

from .conftest import STAFF_PASSWORD, StaffActions, form_token, make_app

URL = "/api/v1/campaigns/ua-109-23/signatures"
#: old enough to be past the feed's settling time
EARLIER = utcnow() - timedelta(hours=2)


def add_partner(session: Session, slug: str) -> Partner:
    partner, _ = save_partner(session, slug, slug.title(), [], utcnow(), actor="test")
    return partner


def add_signature(session: Session, n: int, **fields: Any) -> Signature:
    """A signature on the demo campaign, verified unless told otherwise, changed ``EARLIER``
    plus ``n`` seconds (so the order of ``updated_at`` is the order of ``n``)."""
    campaign = session.scalar(select(Campaign))
    moment = EARLIER + timedelta(seconds=n)
    values: dict[str, Any] = {
        "campaign_id": campaign.id,
        "email": f"Person{n}@Example.org",
        "email_key": f"person{n}@example.org",
        "name": f"Person {n}",
        "country": "PK",
        "actions": ["letter"],
        "consent_version": "2026-11",
        "opt_in": False,
        "language": "en",
        "created_at": moment,
        "verified_at": moment,
        "updated_at": moment,
    }
    values.update(fields)
    signature = Signature(**values)
    session.add(signature)
    session.commit()
    return signature


def new_key(session: Session, partner: str | None = None, name: str = "CRM") -> str:
    return create_key(session, name, partner, utcnow(), actor="test")[1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def listed(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["identifiers"][0] for r in response.get_json()["_embedded"]["osdi:signatures"]]


def ids(*signatures: Signature) -> list[str]:
    return [f"action-widget:{s.id}" for s in signatures]


# --- who is let in ----------------------------------------------------------------------------


def unauthorized(response: Any, challenge: str) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "error": "unauthorized",
        "message": "Give a valid API key: Authorization: Bearer aw_...",
    }


def test_no_key_is_401_and_reveals_nothing(client: FlaskClient) -> None:
    for url in (URL, "/api/v1/campaigns/no-such-campaign/signatures"):
        unauthorized(client.get(url), 'Bearer realm="action-widget"')


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "aw_" + "a" * 43,
        "Basic dXNlcjpwYXNz",
        "Token aw_" + "a" * 43,
        "Bearer aw_" + "a" * 42,
        "Bearer aw_" + "a" * 44,
        "Bearer aw_" + "a" * 42 + "é",
        "Bearer aw_" + "a" * 42 + "\uff41",
        "Bearer xx_" + "a" * 43,
        "Bearer aw_" + "a" * 43 + " extra",
    ],
)
def test_a_malformed_header_or_wrong_scheme_is_401(
    client: FlaskClient, session: Session, header: str
) -> None:
    new_key(session)
    response = client.get(URL, headers={"Authorization": header})
    wrong_scheme = header.split(" ")[0].lower() != "bearer"
    problem = "invalid_request" if wrong_scheme else "invalid_token"
    unauthorized(response, f'Bearer realm="action-widget", error="{problem}"')


def test_an_unknown_key_is_401(client: FlaskClient, session: Session) -> None:
    key = new_key(session)
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    unauthorized(
        client.get(URL, headers=bearer(forged)),
        'Bearer realm="action-widget", error="invalid_token"',
    )


def test_a_revoked_key_is_401(app: Flask, client: FlaskClient, session: Session) -> None:
    key = new_key(session)
    assert client.get(URL, headers=bearer(key)).status_code == 200
    result = app.test_cli_runner().invoke(args=["apikey", "revoke", key[:11]])
    assert result.exit_code == 0, result.output
    unauthorized(
        client.get(URL, headers=bearer(key)), 'Bearer realm="action-widget", error="invalid_token"'
    )


def test_a_key_of_a_deactivated_partner_is_401_until_it_is_active_again(
    client: FlaskClient, session: Session
) -> None:
    add_partner(session, "amnesty-pk")
    key = new_key(session, "amnesty-pk")
    assert client.get(URL, headers=bearer(key)).status_code == 200
    save_partner(session, "amnesty-pk", "Amnesty PK", [], utcnow(), actor="test", active=False)
    unauthorized(
        client.get(URL, headers=bearer(key)), 'Bearer realm="action-widget", error="invalid_token"'
    )
    save_partner(session, "amnesty-pk", "Amnesty PK", [], utcnow(), actor="test", active=True)
    assert client.get(URL, headers=bearer(key)).status_code == 200


def test_the_scheme_is_case_insensitive(client: FlaskClient, session: Session) -> None:
    key = new_key(session)
    assert client.get(URL, headers={"Authorization": f"bearer {key}"}).status_code == 200


def test_an_unknown_campaign_is_404_only_with_a_key(client: FlaskClient, session: Session) -> None:
    key = new_key(session)
    response = client.get("/api/v1/campaigns/no-such-campaign/signatures", headers=bearer(key))
    assert response.status_code == 404
    assert response.get_json() == {"error": "not-found", "message": "No campaign with this name."}


def test_answers_are_never_cached_or_shared_cross_site(
    client: FlaskClient, session: Session
) -> None:
    key = new_key(session)
    response = client.get(URL, headers={**bearer(key), "Origin": "https://evil.example"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.mimetype == "application/json"


# --- what each key reads ----------------------------------------------------------------------


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    """Two partners, and signatures of every state."""
    courier, herald = add_partner(session, "courier"), add_partner(session, "herald")
    rows = {
        "direct": add_signature(session, 1, opt_in=True, source_url="https://news.example/a"),
        "courier_yes": add_signature(
            session, 2, partner_id=courier.id, partner_opt_in=True, actions=["letter", "call"]
        ),
        "courier_no": add_signature(session, 3, partner_id=courier.id, partner_opt_in=False),
        "herald_yes": add_signature(session, 4, partner_id=herald.id, partner_opt_in=True),
        "pending": add_signature(session, 5, verified_at=None),
        "withdrawn": add_signature(session, 6, withdrawn_at=EARLIER),
        "invalidated": add_signature(session, 7, invalidated_at=EARLIER),
        "erased": add_signature(
            session, 8, partner_id=courier.id, partner_opt_in=True, anonymised_at=EARLIER
        ),
        "fresh": add_signature(session, 9, updated_at=utcnow()),
    }
    return {"courier": courier, "herald": herald, **rows}


def test_an_organisation_key_reads_every_verified_signature(
    client: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    response = client.get(URL, headers=bearer(new_key(session)))
    assert listed(response) == ids(
        world["direct"], world["courier_yes"], world["courier_no"], world["herald_yes"]
    )
    body = response.get_json()
    assert body["per_page"] == 100
    assert body["next"] is None
    assert "next" not in body["_links"]
    assert body["_links"]["self"] == {"href": "http://localhost" + URL}
    first = body["_embedded"]["osdi:signatures"][0]
    moment = (EARLIER + timedelta(seconds=1)).isoformat(timespec="seconds") + "Z"
    assert first == {
        "identifiers": [f"action-widget:{world['direct'].id}"],
        "origin_system": "action-widget",
        "created_date": moment,
        "modified_date": moment,
        "action_date": moment,
        "person": {
            "name": "Person 1",
            "email_addresses": [
                {"address": "Person1@Example.org", "primary": True, "status": "subscribed"}
            ],
            "postal_addresses": [{"primary": True, "country": "PK"}],
            "languages_spoken": ["en"],
        },
        "referrer_data": {"website": "news.example", "url": "https://news.example/a"},
        "action_widget": {
            "campaign": "ua-109-23",
            "actions": ["letter"],
            "language": "en",
            "partner": None,
            "partner_opt_in": False,
            "verified_date": moment,
            "opt_in": True,
        },
    }
    courier_no = body["_embedded"]["osdi:signatures"][2]
    assert courier_no["person"]["email_addresses"][0]["status"] == "unsubscribed"
    assert courier_no["action_widget"]["partner"] == "courier"


def test_the_organisation_filters_by_partner(
    client: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    key = new_key(session)
    response = client.get(URL, query_string={"partner": "courier"}, headers=bearer(key))
    assert listed(response) == ids(world["courier_yes"], world["courier_no"])
    for slug in ("nobody", "courier\x00", "", "Courier", "x" * 65):
        unknown = client.get(URL, query_string={"partner": slug}, headers=bearer(key))
        assert unknown.status_code == 400
        assert unknown.get_json() == {
            "error": "bad-request",
            "parameter": "partner",
            "message": "partner: no partner with this name.",
        }


def test_a_partner_key_reads_only_its_consenting_supporters(
    client: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    key = new_key(session, "courier")
    response = client.get(URL, headers=bearer(key))
    assert listed(response) == ids(world["courier_yes"])
    record = response.get_json()["_embedded"]["osdi:signatures"][0]
    assert "opt_in" not in record["action_widget"]
    assert record["action_widget"]["partner"] == "courier"
    assert record["action_widget"]["partner_opt_in"] is True
    assert record["action_widget"]["actions"] == ["letter", "call"]
    assert record["person"]["email_addresses"][0]["status"] == "subscribed"
    own = client.get(URL, query_string={"partner": "courier"}, headers=bearer(key))
    assert listed(own) == ids(world["courier_yes"])


@pytest.mark.parametrize(
    "other", ["herald", "nobody", "COURIER", "courier\u200b", "courier\x00", "", "x" * 65]
)
def test_a_partner_key_asking_for_other_data_is_403(
    client: FlaskClient, session: Session, world: dict[str, Any], other: str
) -> None:
    response = client.get(
        URL, query_string={"partner": other}, headers=bearer(new_key(session, "courier"))
    )
    assert response.status_code == 403
    assert response.get_json() == {
        "error": "forbidden",
        "message": "This key reads only its own partner's supporters.",
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_a_sealed_row_carries_its_box_in_place_of_the_personal_fields(
    client: FlaskClient, session: Session
) -> None:
    add_signature(
        session, 1, name="", email="", email_key="sealed-1", sealed="c2VhbGVk", source_url=None
    )
    record = client.get(URL, headers=bearer(new_key(session))).get_json()["_embedded"][
        "osdi:signatures"
    ][0]
    assert record["sealed"] == "c2VhbGVk"
    assert record["person"] == {"postal_addresses": [{"primary": True, "country": "PK"}]}
    assert "referrer_data" not in record


# --- the cursor walk --------------------------------------------------------------------------


def walk(client: FlaskClient, key: str, between: Any = None, **query: str) -> list[list[str]]:
    """Every page from the first to ``next: null``; ``between(n)`` runs after page n."""
    pages: list[list[str]] = []
    url: str | None = URL + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    while url:
        response = client.get(url, headers=bearer(key))
        pages.append(listed(response))
        url = response.get_json()["next"]
        if between and url:
            between(len(pages))
    return pages


def test_pages_walk_every_record_once(client: FlaskClient, session: Session) -> None:
    rows = [add_signature(session, n) for n in range(7)]
    # three rows changed in the same microsecond, across a page's end: the id breaks the tie
    session.execute(
        update(Signature)
        .where(Signature.id.in_([rows[2].id, rows[3].id, rows[4].id]))
        .values(updated_at=EARLIER + timedelta(seconds=3))
    )
    session.commit()
    pages = walk(client, new_key(session), per_page="3")
    assert pages == [ids(*rows[0:3]), ids(*rows[3:6]), ids(rows[6])]


def test_a_row_changed_during_the_walk_comes_once_more_and_none_is_skipped(
    client: FlaskClient, session: Session
) -> None:
    rows = [add_signature(session, n) for n in range(6)]
    changed = utcnow() - SETTLE - timedelta(seconds=5)

    def change(page: int) -> None:
        if page == 1:  # one row already read and one not yet read change
            session.execute(
                update(Signature)
                .where(Signature.id.in_([rows[0].id, rows[3].id]))
                .values(updated_at=changed, opt_in=True)
            )
            session.commit()

    pages = walk(client, new_key(session), change, per_page="2")
    seen = [identifier for page in pages for identifier in page]
    assert seen == ids(rows[0], rows[1], rows[2], rows[4], rows[5], rows[0], rows[3])
    assert sorted(set(seen)) == sorted(ids(*rows))


def test_a_row_withdrawn_during_the_walk_leaves_it(client: FlaskClient, session: Session) -> None:
    rows = [add_signature(session, n) for n in range(4)]

    def withdraw(page: int) -> None:
        session.execute(
            update(Signature).where(Signature.id == rows[2].id).values(withdrawn_at=utcnow())
        )
        session.commit()

    assert walk(client, new_key(session), withdraw, per_page="2") == [
        ids(rows[0], rows[1]),
        ids(rows[3]),
    ]


def test_a_change_newer_than_the_settling_time_waits(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utcnow()
    monkeypatch.setattr(api_views, "utcnow", lambda: now)  # the request's now: nothing settles
    settled = add_signature(session, 1)
    add_signature(session, 2, updated_at=now - SETTLE + timedelta(seconds=1))
    assert listed(client.get(URL, headers=bearer(new_key(session)))) == ids(settled)


def test_updated_since_reads_only_later_changes(client: FlaskClient, session: Session) -> None:
    rows = [add_signature(session, n) for n in range(4)]
    key = new_key(session)
    since = (EARLIER + timedelta(seconds=2)).isoformat() + "Z"
    assert listed(
        client.get(URL, query_string={"updated_since": since}, headers=bearer(key))
    ) == ids(rows[2], rows[3])
    # the same moment written with an offset, and without a zone (UTC)
    moment = EARLIER + timedelta(seconds=2)
    for spelling in (
        (moment + timedelta(hours=5, minutes=30)).isoformat() + "+05:30",
        moment.isoformat(),
    ):
        response = client.get(URL, query_string={"updated_since": spelling}, headers=bearer(key))
        assert listed(response) == ids(rows[2], rows[3])
    pages = walk(client, key, per_page="1", updated_since=since.replace("+", "%2B"))
    assert pages == [ids(rows[2]), ids(rows[3])]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2026-13-01",
        "2026-12-01T25:00",
        "1" * 41,
        "2026-12-01T10:00:00+99:00",
        "0001-01-01T00:00:00+14:00",
        "\uff12\uff10\uff12\uff16-12-01",
        "2026-12-01\x00",
    ],
)
def test_a_bad_updated_since_is_400(client: FlaskClient, session: Session, value: str) -> None:
    response = client.get(
        URL, query_string={"updated_since": value}, headers=bearer(new_key(session))
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "bad-request",
        "parameter": "updated_since",
        "message": "updated_since: give an ISO 8601 time, e.g. 2026-12-01T10:00:00Z.",
    }


def next_cursor(client: FlaskClient, key: str, **query: str) -> str:
    response = client.get(URL, query_string={"per_page": "1", **query}, headers=bearer(key))
    return parse_qs(urlsplit(response.get_json()["next"]).query)["cursor"][0]


def test_a_forged_or_foreign_cursor_is_400(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    add_partner(session, "courier")
    for n in range(3):
        add_signature(session, n, partner_id=1, partner_opt_in=True)
    org, courier = new_key(session), new_key(session, "courier")
    good = next_cursor(client, org)
    from widget import widget_state

    with app.app_context():
        cursors = widget_state().cursor_tokens
        forged_payloads = [
            cursors.dumps({"c": 1, "a": None, "u": "not a time", "i": 1}),
            cursors.dumps({"c": 1, "a": None, "u": EARLIER.isoformat(), "i": "1"}),
            cursors.dumps({"c": 1, "a": None, "u": EARLIER.isoformat()}),
            cursors.dumps({"c": 99, "a": None, "u": EARLIER.isoformat(), "i": 1}),
        ]
        other_purpose = widget_state().manage_tokens.dumps({"s": 1})
    bad = [
        good[:-2] + ("AA" if good[-2:] != "AA" else "BB"),
        good + "x",
        "garbage",
        "",
        "x" * 401,
        other_purpose,
        *forged_payloads,
        next_cursor(client, courier),  # made for another key's scope
    ]
    for cursor in bad:
        response = client.get(URL, query_string={"cursor": cursor}, headers=bearer(org))
        assert response.status_code == 400, cursor
        assert response.get_json() == {
            "error": "bad-request",
            "parameter": "cursor",
            "message": "cursor: not a cursor of this list; start again without it.",
        }
    assert client.get(URL, query_string={"cursor": good}, headers=bearer(org)).status_code == 200


@pytest.mark.parametrize("value", ["0", "501", "-1", "1.5", "ten", "", "٣", "00001", " 5", "1e2"])
def test_per_page_out_of_bounds_is_400(client: FlaskClient, session: Session, value: str) -> None:
    response = client.get(URL, query_string={"per_page": value}, headers=bearer(new_key(session)))
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "per_page"
    assert response.get_json()["message"] == "per_page: give a whole number from 1 to 500."


def test_per_page_bounds_are_taken(client: FlaskClient, session: Session) -> None:
    rows = [add_signature(session, n) for n in range(3)]
    key = new_key(session)
    one = client.get(URL, query_string={"per_page": "1"}, headers=bearer(key))
    assert listed(one) == ids(rows[0])
    assert one.get_json()["per_page"] == 1
    most = client.get(URL, query_string={"per_page": "500"}, headers=bearer(key))
    assert listed(most) == ids(*rows)
    assert most.get_json()["next"] is None


# --- limits and bookkeeping -------------------------------------------------------------------


def limited_app(database_url: str, tmp_path: Path, **env: str) -> Flask:
    return make_app(database_url, tmp_path, WIDGET_RATELIMIT_API="3 per minute", **env)


def test_each_key_has_its_own_rate_limit(database_url: str, tmp_path: Path) -> None:
    app = limited_app(database_url, tmp_path)
    client = app.test_client()
    with db.sessionmaker(app)() as session:
        first, second = new_key(session), new_key(session)
    for _ in range(3):
        assert client.get(URL, headers=bearer(first)).status_code == 200
    over = client.get(URL, headers=bearer(first))
    assert over.status_code == 429
    assert over.get_json()["error"] == "rate-limited"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["Cache-Control"] == "no-store"
    assert client.get(URL, headers=bearer(second)).status_code == 200
    # a refused key is not let in by the limit's budget, nor counted
    for _ in range(5):
        assert client.get(URL).status_code == 401
    db.engine(app).dispose()


def test_the_rate_limit_is_kept_in_redis(database_url: str, tmp_path: Path, redis_url: str) -> None:
    """A second app (another process) on the same Redis finds the key's budget spent."""
    first = limited_app(database_url, tmp_path / "1", WIDGET_RATELIMIT_STORAGE_URL=redis_url)
    with db.sessionmaker(first)() as session:
        key = new_key(session)
    codes = [first.test_client().get(URL, headers=bearer(key)).status_code for _ in range(3)]
    second = limited_app(database_url, tmp_path / "2", WIDGET_RATELIMIT_STORAGE_URL=redis_url)
    codes.append(second.test_client().get(URL, headers=bearer(key)).status_code)
    assert codes == [200, 200, 200, 429]
    for app in (first, second):
        db.engine(app).dispose()


def test_last_use_is_written_at_most_once_a_minute(client: FlaskClient, session: Session) -> None:
    key = new_key(session)
    assert client.get(URL, headers=bearer(key)).status_code == 200
    first = session.scalar(select(ApiKey.last_used_at))
    assert first is not None and utcnow() - first < timedelta(minutes=1)
    assert client.get(URL, headers=bearer(key)).status_code == 200
    session.expire_all()
    assert session.scalar(select(ApiKey.last_used_at)) == first
    long_ago = datetime(2026, 1, 1)
    session.execute(update(ApiKey).values(last_used_at=long_ago))
    session.commit()
    assert client.get(URL, headers=bearer(key)).status_code == 200
    session.expire_all()
    assert session.scalar(select(ApiKey.last_used_at)) > long_ago


def test_the_database_holds_only_the_hash(app: Flask, session: Session) -> None:
    result = app.test_cli_runner().invoke(args=["apikey", "create", "Our CRM"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("aw_") and len(key) == 46
    row = session.scalars(select(ApiKey)).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() == hash_key(key)
    assert row.prefix == key[:11]
    assert row.created_by.startswith("cli:")
    dump = [
        str(value)
        for table in ("api_key", "audit")
        for record in session.execute(text(f"SELECT * FROM {table}")).all()
        for value in record
    ]
    assert not [value for value in dump if key in value or key[11:30] in value]


# --- the commands -----------------------------------------------------------------------------


def test_create_list_and_revoke_from_the_command_line(app: Flask, session: Session) -> None:
    add_partner(session, "courier")
    runner = app.test_cli_runner()
    org = runner.invoke(args=["apikey", "create", "Our CRM"])
    partner = runner.invoke(args=["apikey", "create", "Courier sync", "--partner", "courier"])
    assert org.exit_code == partner.exit_code == 0
    assert "for partner courier" in partner.stderr
    org_row, partner_row = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    listing = runner.invoke(args=["apikey", "list"]).output.splitlines()
    assert listing[0] == "id\tprefix\tpartner\tcreated\tlast used\trevoked\tname"
    assert listing[1].split("\t")[:3] == [str(partner_row.id), partner_row.prefix, "courier"]
    assert listing[1].split("\t")[4:] == ["-", "-", "Courier sync"]
    assert listing[2].split("\t")[:3] == [str(org_row.id), org_row.prefix, "-"]
    revoked = runner.invoke(args=["apikey", "revoke", str(org_row.id)])
    assert revoked.exit_code == 0
    assert revoked.output == f"Revoked key {org_row.id} ({org_row.prefix}) 'Our CRM'.\n"
    assert runner.invoke(args=["apikey", "list"]).output.splitlines()[2].split("\t")[5] != "-"
    audits = session.scalars(select(Audit).where(Audit.action.like("apikey.%")).order_by(Audit.id))
    assert [(a.action, a.details["prefix"], a.details["partner"]) for a in audits] == [
        ("apikey.create", org_row.prefix, None),
        ("apikey.create", partner_row.prefix, "courier"),
        ("apikey.revoke", org_row.prefix, None),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "X", "--partner", "nobody"], "no partner 'nobody'; see: partner add"),
        (["create", ""], "name: give 1 to 100 characters"),
        (["create", "   "], "name: give 1 to 100 characters"),
        (["create", "x" * 101], "name: give 1 to 100 characters"),
        (["create", "two\nlines"], "name: must be one line: remove the line break"),
        (["create", "tab\there"], "name: holds a control character (U+0009); remove it"),
        (["revoke", "999"], "no key '999'; see: apikey list"),
        (["revoke", "aw_nothing1"], "no key 'aw_nothing1'; see: apikey list"),
        (["revoke", "nonsense"], "'nonsense': give a key's id or its prefix (aw_...)"),
        (["revoke", "٣"], "'٣': give a key's id or its prefix (aw_...)"),
    ],
)
def test_bad_command_input_exits_2_with_a_clear_message(
    app: Flask, session: Session, args: list[str], message: str
) -> None:
    result = app.test_cli_runner().invoke(args=["apikey", *args])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert session.scalars(select(ApiKey)).all() == []


def test_revoking_twice_is_refused(app: Flask, session: Session) -> None:
    new_key(session)
    prefix = session.scalar(select(ApiKey.prefix))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["apikey", "revoke", prefix]).exit_code == 0
    again = runner.invoke(args=["apikey", "revoke", prefix])
    assert again.exit_code == 2
    assert again.stderr == f"Error: key {prefix} was revoked already\n"
    assert session.scalar(select(Audit.id).where(Audit.action == "apikey.revoke").offset(1)) is None


# --- the staff page ---------------------------------------------------------------------------


def partner_account(app: Flask, slug: str) -> str:
    """A partner's staff account (as ``staff create --role partner`` makes it), by its rows."""
    email = f"{slug}@partners.example"
    with db.sessionmaker(app)() as session:
        partner = session.scalar(select(Partner).where(Partner.slug == slug))
        session.add(
            Staff(
                email=email,
                password_hash=generate_password_hash(STAFF_PASSWORD),
                role="partner",
                partner_id=partner.id,
                active=True,
                created_at=utcnow(),
            )
        )
        session.commit()
    return email


HTTPS = {"base_url": "https://localhost"}


def keys_page(client: FlaskClient) -> str:
    response = client.get("/staff/keys", **HTTPS)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def create_on_page(client: FlaskClient, **fields: str) -> Any:
    token = form_token(keys_page(client))
    return client.post("/staff/keys", data={"csrf_token": token, **fields}, **HTTPS)


def shown_key(html: str) -> str:
    import re

    match = re.search(r'<code class="new-key"[^>]*>(aw_[A-Za-z0-9_-]{43})</code>', html)
    assert match, html
    return match.group(1)


def test_an_admin_makes_and_revokes_keys_on_the_staff_page(
    staff: StaffActions, session: Session, client: FlaskClient
) -> None:
    add_partner(session, "courier")
    admin = staff.signed_in("admin")
    assert "API keys" in keys_page(admin)
    made = create_on_page(admin, name="Our CRM", partner="")
    assert made.status_code == 200
    key = shown_key(made.get_data(as_text=True))
    assert client.get(URL, headers=bearer(key)).status_code == 200
    row = session.scalars(select(ApiKey)).one()
    assert (row.name, row.partner_id, row.created_by) == ("Our CRM", None, "admin@example.org")
    page = keys_page(admin)
    assert row.prefix in page and key not in page
    made = create_on_page(admin, name="Courier", partner="courier")
    assert session.scalars(select(ApiKey.partner_id).order_by(ApiKey.id)).all() == [None, 1]
    token = form_token(keys_page(admin))
    revoked = admin.post(f"/staff/keys/{row.id}/revoke", data={"csrf_token": token}, **HTTPS)
    assert revoked.status_code == 302
    assert client.get(URL, headers=bearer(key)).status_code == 401
    assert session.scalar(select(Audit.actor).where(Audit.action == "apikey.revoke")) == (
        "admin@example.org"
    )


def test_the_staff_page_refuses_bad_input_and_forms_without_a_token(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    for fields in ({"name": ""}, {"name": "x" * 101}, {"name": "a", "partner": "nobody"}):
        response = create_on_page(admin, **fields)
        assert response.status_code == 400
    assert "name: give 1 to 100 characters" in create_on_page(admin, name=" ").get_data(
        as_text=True
    )
    no_token = admin.post("/staff/keys", data={"name": "Sneaky"}, **HTTPS)
    assert no_token.status_code == 400
    new_key(session)
    key_id = session.scalar(select(ApiKey.id))
    assert admin.post(f"/staff/keys/{key_id}/revoke", data={}, **HTTPS).status_code == 400
    assert session.scalar(select(ApiKey.revoked_at)) is None
    assert session.scalar(select(ApiKey.name).where(ApiKey.name == "Sneaky")) is None


def test_viewers_may_not_open_the_keys_page(staff: StaffActions) -> None:
    viewer = staff.signed_in("viewer")
    assert viewer.get("/staff/keys", **HTTPS).status_code == 403
    token = form_token(viewer.get("/staff/", **HTTPS).get_data(as_text=True))
    made = viewer.post("/staff/keys", data={"csrf_token": token, "name": "Mine"}, **HTTPS)
    assert made.status_code == 403
    assert "API keys" not in viewer.get("/staff/", **HTTPS).get_data(as_text=True)


def test_a_partner_account_sees_and_makes_only_its_own_keys(
    app: Flask, staff: StaffActions, session: Session, client: FlaskClient
) -> None:
    add_partner(session, "courier")
    add_partner(session, "herald")
    new_key(session, name="Organisation key")
    new_key(session, "herald", name="Herald key")
    mine = new_key(session, "courier", name="Courier key")
    courier, response = staff.login(partner_account(app, "courier"))
    assert response.status_code == 302
    page = keys_page(courier)
    assert "Courier key" in page
    assert "Organisation key" not in page and "Herald key" not in page
    assert 'name="partner"' not in page
    # a partner field sent anyway is ignored: the key is the account's partner's
    made = create_on_page(courier, name="Second", partner="herald")
    assert made.status_code == 200
    key = shown_key(made.get_data(as_text=True))
    row = session.scalar(select(ApiKey).where(ApiKey.name == "Second"))
    assert row.partner.slug == "courier"
    assert (
        client.get(URL, query_string={"partner": "herald"}, headers=bearer(key)).status_code == 403
    )
    others = session.scalars(select(ApiKey.id).where(ApiKey.partner_id != row.partner_id)).all()
    token = form_token(keys_page(courier))
    for other in [*others, session.scalar(select(ApiKey.id).where(ApiKey.partner_id.is_(None)))]:
        refused = courier.post(f"/staff/keys/{other}/revoke", data={"csrf_token": token}, **HTTPS)
        assert refused.status_code == 404
    assert session.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_not(None))).all() == []
    own_id = session.scalar(select(ApiKey.id).where(ApiKey.name == "Courier key"))
    assert (
        courier.post(
            f"/staff/keys/{own_id}/revoke", data={"csrf_token": token}, **HTTPS
        ).status_code
        == 302
    )
    assert client.get(URL, headers=bearer(mine)).status_code == 401
