"""The limits' store (``widget.limits.Store``): all of a request's windows in one Redis round
trip, charged all or none, the same answers from Redis and from memory, and memory while Redis
is down."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from flask import Flask
from limits import parse_many
from sqlalchemy import select

from widget.extensions import db
from widget.limits import PREFIX, Store, store
from widget.models import Signature
from widget.tokens import verify_tokens

from .conftest import SECRET, Supporter, free_port, link_claims, make_app

WINDOWS = [
    (parse_many("2 per minute")[0], (PREFIX, "203.0.113.7/ua-109-23", "widget.sign")),
    (parse_many("3 per hour")[0], (PREFIX, "203.0.113.7", "ip")),
]


@pytest.fixture(params=["memory", "redis"])
def limits_store(request: pytest.FixtureRequest) -> Store:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return Store(url)


def remaining(limits_store: Store) -> list[int]:
    return [
        limits_store.windows.get_window_stats(item, *names).remaining for item, names in WINDOWS
    ]


def test_every_window_is_charged_until_one_is_full(limits_store: Store) -> None:
    assert limits_store.take(WINDOWS) is None
    assert remaining(limits_store) == [1, 2]
    assert limits_store.take(WINDOWS) is None
    assert remaining(limits_store) == [0, 1]
    wait = limits_store.take(WINDOWS)
    assert wait is not None and 0 < wait <= 60
    # a refused request is charged to no window: the hourly one still has room for one
    assert remaining(limits_store) == [0, 1]
    assert limits_store.take(WINDOWS[1:]) is None
    wait = limits_store.take(WINDOWS[1:])
    assert wait is not None and 3540 < wait <= 3600
    # with both full, the wait is until both have room: the hour's, whatever the order
    for windows in (WINDOWS, WINDOWS[::-1]):
        wait = limits_store.take(windows)
        assert wait is not None and 3540 < wait <= 3600


def test_nothing_to_take_is_never_refused(limits_store: Store) -> None:
    assert limits_store.take([]) is None


def test_a_window_of_one_has_room_again_after_its_period(limits_store: Store) -> None:
    once = [(parse_many("1 per second")[0], (PREFIX, "198.51.100.1", "ip"))]
    assert limits_store.take(once) is None
    assert limits_store.take(once) is not None
    time.sleep(1.1)
    assert limits_store.take(once) is None


def test_one_round_trip_takes_every_window(redis_url: str) -> None:
    limits_store = Store(redis_url)
    assert limits_store.redis is not None
    client = limits_store.redis.get_connection()
    with mock.patch.object(client, "execute_command", wraps=client.execute_command) as sent:
        limits_store.take(WINDOWS)
    assert [call.args[0] for call in sent.call_args_list] == ["EVALSHA"]


def test_an_unreachable_redis_falls_back_to_memory_and_is_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits_store = Store(f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.INFO, logger="widget.limits"):
        assert limits_store.take(WINDOWS) is None  # memory: nobody is refused for Redis's sake
        assert limits_store.take(WINDOWS) is None
        assert limits_store.take(WINDOWS) is not None  # memory limits as Redis would
    assert limits_store.windows is limits_store.memory
    assert caplog.messages == ["Rate limit storage unreachable - falling back to in-memory storage"]
    # one second on, Redis is tried again (and fails again: two seconds next time)
    later = time.monotonic() + 1.01
    with mock.patch("widget.limits.time.monotonic", return_value=later):
        assert limits_store.windows is not limits_store.memory
        assert limits_store.take(WINDOWS) is not None
        assert limits_store.windows is limits_store.memory
    with mock.patch("widget.limits.time.monotonic", return_value=later + 1.5):
        assert limits_store.windows is limits_store.memory
    assert len(caplog.messages) == 1  # the warning once, not once per request


def test_requests_waiting_on_one_outage_count_as_one_failure(redis_url: str) -> None:
    limits_store = Store(redis_url)
    assert limits_store.redis is not None
    for _ in range(8):  # eight threads that were waiting on the same hung Redis
        limits_store.failed(limits_store.redis.base_exceptions("timed out"))
    assert limits_store.windows is limits_store.memory
    later = time.monotonic() + 1.01
    with mock.patch("widget.limits.time.monotonic", return_value=later):
        assert limits_store.windows is not limits_store.memory  # tried again after 1 s


def test_an_error_that_is_not_redis_s_keeps_redis(redis_url: str) -> None:
    limits_store = Store(redis_url)
    limits_store.failed(ValueError("a bug, not an outage"))
    assert limits_store.windows is not limits_store.memory
    memory = Store("memory://")
    memory.failed(OSError("memory has no outage"))
    assert memory.windows is memory.memory


def test_redis_back_is_used_again_and_it_is_logged(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    limits_store = Store(redis_url)
    assert limits_store.redis is not None
    error = limits_store.redis.base_exceptions
    client = limits_store.redis.get_connection()
    with mock.patch.object(client, "execute_command", side_effect=error("gone")):
        assert limits_store.take(WINDOWS) is None
    assert remaining(limits_store) == [1, 2]  # in memory
    caplog.clear()
    later = time.monotonic() + 1.01
    with (
        caplog.at_level(logging.INFO, logger="widget.limits"),
        mock.patch("widget.limits.time.monotonic", return_value=later),
    ):
        assert limits_store.take(WINDOWS) is None
        assert limits_store.windows is not limits_store.memory
        assert remaining(limits_store) == [1, 2]  # in Redis, which had not seen the first
    assert caplog.messages == ["Rate limit storage recovered"]


# --- a request's round trips ----------------------------------------------------------------


@pytest.fixture
def redis_app(database_url: str, tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path, WIDGET_RATELIMIT_STORAGE_URL=redis_url)
    yield app
    db.engine(app).dispose()


def commands_of(app: Flask, request: object) -> list[str]:
    limits_store = store(app)
    assert limits_store.redis is not None
    client = limits_store.redis.get_connection()
    with mock.patch.object(client, "execute_command", wraps=client.execute_command) as sent:
        request()  # type: ignore[operator]
    return [call.args[0] for call in sent.call_args_list]


def test_a_sign_costs_redis_three_round_trips(redis_app: Flask) -> None:
    supporter = Supporter(redis_app.test_client())
    # a first sign loads the scripts into a Redis server that has not run them yet
    assert supporter.sign(email="first@example.org").status_code == 200
    body = supporter.form()

    def sign() -> None:
        response = supporter.client.post(
            "/w/ua-109-23", data=body, headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert response.status_code == 200

    # the limits (sign per campaign, per IP), the form token, the address's mail budget
    assert commands_of(redis_app, sign) == ["EVALSHA", "EVALSHA", "EVALSHA"]


def test_a_confirm_costs_redis_one_round_trip(redis_app: Flask) -> None:
    client = redis_app.test_client()
    assert Supporter(client).sign().status_code == 200
    with db.sessionmaker(redis_app)() as session:
        signature_id = session.scalars(select(Signature.id)).one()
        claims = link_claims(session, signature_id, c="ua-109-23")
    token = verify_tokens((SECRET,)).dumps(claims)

    def confirm() -> None:
        response = client.post(f"/v/{token}", headers={"Sec-Fetch-Site": "same-origin"})
        assert response.status_code == 200

    # the links and the per-IP limits together
    assert commands_of(redis_app, confirm) == ["EVALSHA"]
