"""Property: no request from outside, however malformed, makes the app answer 5xx.

Hypothesis builds requests to every public endpoint and form: odd slugs and tokens (NUL,
unicode, slashes), unparsable ``Referer`` and ``source`` URLs, query strings, JSON bodies of any
shape, files in text fields, raw bytes, wrong content types. Each test runs on SQLite and
PostgreSQL, derandomized and bounded, so CI sees the same requests every time.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from widget import widget_state

from .conftest import Supporter, form_token

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

CAMPAIGN = "ua-109-23"


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Limits high enough that the forms, not the 429 page, meet most requests."""
    many = "100000 per minute"
    return {f"WIDGET_RATELIMIT_{kind}": many for kind in ("SIGN", "IP", "LINKS", "LOGIN")}


# --- what a hostile client may send ----------------------------------------------------------


#: header values: any latin-1 text a client can put on the wire (no line breaks)
def on_the_wire(text: str) -> bool:
    """Whether a client can send ``text`` as a header value at all."""
    return "\r" not in text and "\n" not in text and all(ord(c) < 256 for c in text)


header_text = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60)
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "a\x00b", "http://[::1", "http://h:port/", "%", "..", "/"]),
)
urls = st.one_of(
    odd_text,
    st.sampled_from(
        [
            "http://[::1",
            "https://[::1]:99999/x",
            "http://u:p@partner.example/p?q=1",
            "https://news.example/\x00",
            "javascript:alert(1)",
            "http://localhost/w/ua-109-23",
        ]
    ),
)
slugs = st.one_of(st.just(CAMPAIGN), st.just(CAMPAIGN), odd_text)
query = st.dictionaries(
    st.sampled_from(["partner", "lang", "theme", "host", "view", "ref", "campaign", "x"]),
    odd_text,
    max_size=4,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Referer": urls.filter(on_the_wire),
        "Origin": st.one_of(st.just("http://localhost"), header_text),
        "Sec-Fetch-Site": st.sampled_from(["same-origin", "cross-site", "none", ""]),
        "Accept-Language": st.one_of(
            st.sampled_from(["ur", "fa;q=0.5,en", "*", "x-y"]), header_text
        ),
        "If-None-Match": header_text,
    },
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
form_fields = st.dictionaries(
    st.sampled_from(
        [
            *("csrf_token", "name", "email", "country", "actions", "consent", "opt_in"),
            *("website", "source", "partner_opt_in", "email\x00", "password", "next"),
            *("receipt", "again"),
        ]
    ),
    st.one_of(odd_text, st.lists(odd_text, max_size=3), urls),
    max_size=8,
)


@st.composite
def bodies(draw: st.DrawFn, token: str) -> dict[str, Any]:
    """Keyword arguments for ``client.open``: the body and its content type."""
    kind = draw(st.sampled_from(["none", "form", "form+token", "json", "file", "raw"]))
    if kind == "none":
        return {}
    if kind in ("form", "form+token"):
        fields = draw(form_fields)
        if kind == "form+token":
            fields = {"csrf_token": token, "consent": "y", **fields}
        return {"data": fields, "content_type": "application/x-www-form-urlencoded"}
    if kind == "json":
        value = draw(json_values)
        return {"data": json.dumps(value), "content_type": "application/json"}
    if kind == "file":
        from io import BytesIO

        field = draw(st.sampled_from(["name", "email", "country", "csrf_token"]))
        return {"data": {field: (BytesIO(draw(st.binary(max_size=50))), "x.txt")}}
    return {
        "data": draw(st.binary(max_size=200)),
        "content_type": draw(st.sampled_from(["text/plain", "", "multipart/form-data"])),
    }


# --- the properties ---------------------------------------------------------------------------


def assert_no_server_error(client: FlaskClient, method: str, path: str, **kwargs: Any) -> None:
    response = client.open(path, method=method, **kwargs)
    response.close()
    assert response.status_code < 500, (method, path, kwargs, response.status_code)


def quoted(text: str) -> str:
    return quote(text, safe="")


@pytest.fixture
def tokens(app: Flask, supporter: Supporter) -> dict[str, str]:
    """A real pending signature's links and a real form token, so requests get past parsing."""
    from widget.extensions import db
    from widget.models import Signature

    assert supporter.sign().status_code == 200
    with app.app_context():
        signature = db.session.query(Signature).one()
        state = widget_state(app)
        return {
            "form": form_token(supporter.open_widget()),
            "verify": state.verify_tokens.dumps({"s": signature.id}),
            "manage": state.manage_tokens.dumps({"s": signature.id}),
        }


@FUZZ
@given(data=st.data())
def test_the_widget_page_never_fails(client: FlaskClient, data: st.DataObject) -> None:
    assert_no_server_error(
        client,
        data.draw(st.sampled_from(["GET", "HEAD"])),
        f"/w/{quoted(data.draw(slugs))}",
        query_string=data.draw(query),
        headers=data.draw(headers),
    )


@FUZZ
@given(data=st.data())
def test_the_sign_form_never_fails(
    client: FlaskClient, tokens: dict[str, str], data: st.DataObject
) -> None:
    """Sent as from our own page, so every request reaches the form and what it reads."""
    assert_no_server_error(
        client,
        data.draw(st.sampled_from(["POST", "PUT"])),
        f"/w/{quoted(data.draw(slugs))}",
        query_string=data.draw(query),
        headers={**data.draw(headers), "Sec-Fetch-Site": "same-origin"},
        **data.draw(bodies(tokens["form"])),
    )


@FUZZ
@given(data=st.data())
def test_mailed_links_never_fail(
    client: FlaskClient, tokens: dict[str, str], data: st.DataObject
) -> None:
    prefix, kind = data.draw(st.sampled_from([("/v/", "verify"), ("/m/", "manage")]))
    token = data.draw(st.one_of(st.just(tokens[kind]), odd_text, st.just(tokens[kind] + "x")))
    method = data.draw(st.sampled_from(["GET", "POST"]))
    assert_no_server_error(
        client,
        method,
        prefix + quoted(token),
        query_string=data.draw(query),
        headers={**data.draw(headers), "Sec-Fetch-Site": "same-origin"},
        **(data.draw(bodies(tokens["form"])) if method == "POST" else {}),
    )


@FUZZ
@given(data=st.data())
def test_the_other_public_endpoints_never_fail(
    client: FlaskClient, tokens: dict[str, str], data: st.DataObject
) -> None:
    slug = quoted(data.draw(slugs))
    method, path = data.draw(
        st.sampled_from(
            [
                ("GET", f"/api/v1/campaigns/{slug}"),
                ("GET", f"/api/v1/campaigns/{slug}/count"),
                ("GET", "/embed.js"),
                ("GET", "/privacy"),
                ("GET", "/healthz"),
                ("GET", "/.well-known/security.txt"),
                ("GET", "/staff/login"),
                ("POST", "/staff/login"),
            ]
        )
    )
    assert_no_server_error(
        client,
        method,
        path,
        query_string=data.draw(query),
        headers=data.draw(headers),
        base_url="https://localhost",
        **(data.draw(bodies(tokens["form"])) if method == "POST" else {}),
    )


@FUZZ
@given(data=st.data())
def test_the_after_signing_endpoints_never_fail(
    client: FlaskClient, tokens: dict[str, str], data: st.DataObject
) -> None:
    """The sign receipt's poll and "correct the address" (``views.progress``)."""
    slug = quoted(data.draw(slugs))
    path = data.draw(st.sampled_from([f"/w/{slug}/progress", f"/w/{slug}/correct"]))
    assert_no_server_error(
        client,
        "POST",
        path,
        query_string=data.draw(query),
        headers={**data.draw(headers), "Sec-Fetch-Site": "same-origin"},
        **data.draw(bodies(tokens["form"])),
    )
