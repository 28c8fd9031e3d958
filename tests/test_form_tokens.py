"""A sign form token is good for one accepted submission: a replay stores nothing and says so,
while a supporter correcting an error keeps signing with the form in front of them."""

from __future__ import annotations

import logging
import re
import time
from unittest import mock

import pytest
from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.limits import store
from widget.models import OutboxMessage, Signature
from widget.tokens import form_tokens

from .conftest import SECRET, Supporter, form_token

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
ALREADY_SENT = "This form was already sent. Please sign again."


def rows(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Signature)) or 0,
        session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
    )


def post(supporter: Supporter, body: dict[str, object]):  # type: ignore[no-untyped-def]
    return supporter.client.post("/w/ua-109-23", data=body, headers=SAME_ORIGIN)


def summary(page: str) -> list[str]:
    block = re.search(r'<div class="error-summary".*?</div>', page, re.DOTALL)
    assert block, "no error summary"
    return re.findall(r"<li>([^<]*)</li>", block.group(0))


def test_replaying_an_accepted_form_stores_nothing_and_says_so(
    supporter: Supporter, session: Session
) -> None:
    body = supporter.form()
    assert post(supporter, body).status_code == 200
    replay = post(supporter, body)
    assert replay.status_code == 400
    page = replay.get_data(as_text=True)
    assert summary(page) == [ALREADY_SENT]
    assert 'value="Ayesha Khan"' in page  # the form again, with what was typed
    assert form_token(page) != body["csrf_token"]
    assert rows(session) == (1, 1)


def test_a_replay_with_another_address_is_refused_too(
    supporter: Supporter, session: Session
) -> None:
    body = supporter.form()
    post(supporter, body)
    replay = post(supporter, {**body, "email": "someone.else@example.org"})
    assert summary(replay.get_data(as_text=True)) == [ALREADY_SENT]
    assert rows(session) == (1, 1)


def test_a_form_with_an_error_can_be_corrected_and_sent_with_the_same_token(
    supporter: Supporter, session: Session
) -> None:
    body = supporter.form(consent=None)
    first = post(supporter, body)
    assert first.status_code == 400
    fresh = form_token(first.get_data(as_text=True))
    assert fresh != body["csrf_token"]  # the page after an error carries a new token
    assert post(supporter, {**body, "consent": "y"}).status_code == 200
    assert rows(session) == (1, 1)
    # and the fresh token is a form of its own
    other = {**body, "consent": "y", "csrf_token": fresh, "email": "b@example.org"}
    assert post(supporter, other).status_code == 200
    assert rows(session) == (2, 2)


@pytest.mark.parametrize("settings_env", [{"WIDGET_MIN_FILL_SECONDS": "3"}])
def test_the_fill_time_counts_once(supporter: Supporter, session: Session) -> None:
    shown_ten_seconds_ago = {"c": "ua-109-23", "n": "n1", "t": int(time.time()) - 10}
    token = form_tokens((SECRET,)).dumps(shown_ten_seconds_ago)
    for n in range(5):
        post(supporter, supporter.form(csrf_token=token, email=f"p{n}@example.org"))
    assert rows(session) == (1, 1)


def test_a_token_taken_for_a_bot_is_spent(supporter: Supporter, session: Session) -> None:
    body = supporter.form(website="http://spam.example")
    assert post(supporter, body).status_code == 200  # the ordinary answer
    replay = post(supporter, {**body, "website": ""})
    assert summary(replay.get_data(as_text=True)) == [ALREADY_SENT]
    assert rows(session) == (0, 0)


def test_with_the_storage_failing_a_form_is_taken_and_it_is_logged(
    app: Flask, supporter: Supporter, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    body = supporter.form()
    # a Redis that stops answering between the rate limit checks and the token's
    fails = mock.patch.object(
        type(store(app).windows.storage), "incr", side_effect=RedisConnectionError("gone")
    )
    with fails, caplog.at_level(logging.ERROR, logger="widget.limits"):
        assert post(supporter, body).status_code == 200
    assert rows(session) == (1, 1)
    assert [r.getMessage() for r in caplog.records] == [
        "rate limit storage unreachable: form token reuse not checked"
    ]
