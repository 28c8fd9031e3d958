"""Run-time limits and the allow-list of shared networks (issue 13): set by an admin in the
staff area, kept in the database, audited, validated, and in force in every process within a
few seconds without a restart, at the cost of one small read per process every two seconds."""

from __future__ import annotations

import html
import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

import widget
from widget import create_app
from widget.campaigns import load_campaign_file
from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Audit, LimitAllowance, RuntimeLimit
from widget.runtime_limits import (
    CHECK_SECONDS,
    RuntimeLimitError,
    RuntimeLimits,
    add_allowance,
    check_limit,
    check_multiplier,
    check_network,
    raised,
    set_limit,
)

from .conftest import DEMO, SECRET, StaffActions, free_port, make_app, make_settings
from .test_redis_limits import sign, wait_until_serving

HTTPS = {"base_url": "https://localhost"}
LIMITS = "/staff/limits"


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"WIDGET_RATELIMIT_SIGN": "50 per minute"}


def token_of(page: str) -> str:
    return page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]


def post(admin: FlaskClient, url: str, **data: str):  # type: ignore[no-untyped-def]
    token = token_of(admin.get(LIMITS, **HTTPS).get_data(as_text=True))
    return admin.post(url, data={"csrf_token": token, **data}, **HTTPS)


def audits(session: Session) -> list[tuple[str, str, dict[str, object]]]:
    session.expire_all()
    rows = session.scalars(select(Audit).where(Audit.action.like("%.%")).order_by(Audit.id))
    return [(row.actor, row.action, row.details) for row in rows if row.action != "staff.create"]


def widget_sign(client: FlaskClient, n: int, ip: str = "198.51.100.7") -> int:
    page = client.get("/w/ua-109-23").get_data(as_text=True)
    data = {"csrf_token": token_of(page), "name": "A", "email": f"p{n}@example.org"}
    data |= {"country": "PK", "consent": "y"}
    response = client.post(
        "/w/ua-109-23",
        data=data,
        headers={"Sec-Fetch-Site": "same-origin"},
        environ_base={"REMOTE_ADDR": ip},
    )
    return response.status_code


# --- what an admin may give ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["10 per minute;100 per hour", " 5/second ", "1 per day", "3 per hour,6 per day"]
)
def test_limit_strings_the_limits_package_reads_are_taken(value: str) -> None:
    assert check_limit(value) == value.strip()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Give a limit such as"),
        ("ten per minute", "not a limit string"),
        ("10 per fortnight", "not a limit string"),
        ("10 per minute;", "not a limit string"),
        ("-1 per minute", "not a limit string"),
        ("10 per minute; DROP TABLE runtime_limit", "not a limit string"),
        ("0 per minute", "at least 1 request"),
        ("1 per minute\n5 per hour", "Give a limit such as"),
        ("\uff11\uff10 per minute", "Give a limit such as"),  # full-width digits
        ("10 per minute" + "\u202e", "Give a limit such as"),
        ("1 per minute;" * 20 + "1 per day", "Give a limit such as"),
        ("1/second;1/minute;1/hour;1/day;1/month", "Give one to 4 limits"),
        # periods Redis cannot expire (every request would then be refused)
        ("1 per 1000000000 year", "period may be at most 366 days"),
        ("1 per 367 day", "period may be at most 366 days"),
        ("10 per minute;1 per 2 year", "period may be at most 366 days"),
        # amounts that are no limit at all
        ("1000000 per second", "at most 10,000 requests per period"),
        ("10001 per day", "at most 10,000 requests per period"),
    ],
)
def test_limits_it_cannot_read_are_refused(value: str, message: str) -> None:
    with pytest.raises(RuntimeLimitError, match=message):
        check_limit(value)


@pytest.mark.parametrize("value", ["10000 per 366 day", "10000 per 1 year", "1 per 12 month"])
def test_the_widest_limits_allowed_are_taken(value: str) -> None:
    assert check_limit(value) == value


@pytest.mark.parametrize("name", ["login", "login_account"])
@pytest.mark.parametrize(
    ("value", "taken"),
    [
        ("1 per day", False),
        ("9 per hour", False),
        ("239 per day", False),
        ("30 per minute;1 per hour", False),
        ("10 per hour", True),
        ("240 per day", True),
        ("1 per 6 minute", True),
        ("5 per minute;50 per hour", True),
    ],
)
def test_the_sign_in_limits_have_a_floor(name: str, value: str, taken: bool) -> None:
    """No slip may lock every admin out of the page that would undo it."""
    if taken:
        assert check_limit(value, name) == value
    else:
        with pytest.raises(RuntimeLimitError, match="at least 10 attempts an hour"):
            check_limit(value, name)
    assert check_limit(value, "sign") == value  # the floor is the sign-in limits' alone


@pytest.mark.parametrize("value", ["2", " 20 ", "1000"])
def test_multipliers_in_bounds_are_taken(value: str) -> None:
    assert check_multiplier(value) == int(value)


@pytest.mark.parametrize("value", ["1", "0", "-20", "1001", "20.5", "twenty", "", "\uff12\uff10"])
def test_multipliers_out_of_bounds_are_refused(value: str) -> None:
    with pytest.raises(RuntimeLimitError, match="whole number from 2 to 1000"):
        check_multiplier(value)


def test_a_raised_limit_multiplies_every_part() -> None:
    assert raised("5 per minute;50/hour", 20) == "100 per 1 minute;1000 per 1 hour"
    assert raised("3 per 2 day", 1000) == "3000 per 2 day"
    assert raised("10000 per hour", 1000) == "100000 per 1 hour"  # its ceiling


@pytest.mark.parametrize(
    ("value", "network"),
    [
        ("192.0.2.7/24", "192.0.2.0/24"),
        (" 198.51.100.0/24 ", "198.51.100.0/24"),
        ("203.0.113.9", "203.0.113.9/32"),
        ("172.16.0.0/16", "172.16.0.0/16"),
        ("2001:DB8:0::/48", "2001:db8::/48"),
    ],
)
def test_networks_are_kept_in_their_normal_form(value: str, network: str) -> None:
    assert check_network(value) == network


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.0.0.0/0", "at most a /16 for IPv4"),
        ("10.0.0.0/8", "at most a /16 for IPv4"),
        ("::/0", "at most a /32 for IPv6"),
        ("2001:db8::/31", "at most a /32 for IPv6"),
        ("192.0.2.0/33", "not a network"),
        ("192.0.2.256/24", "not a network"),
        ("campus", "not a network"),
        ("192.0.2.0/24; 10.0.0.0/8", "not a network"),
        ("\uff11\uff19\uff12.0.2.0/24", "Give a network such as"),
        ("", "Give a network such as"),
        ("::ffff:192.0.2.0/120", "Give an IPv4 network as such"),
        ("fe80::%eth0/64", "Give an IPv4 network as such"),
    ],
)
def test_networks_that_are_not_or_are_too_wide_are_refused(value: str, message: str) -> None:
    with pytest.raises(RuntimeLimitError, match=message):
        check_network(value)


# --- the staff page ------------------------------------------------------------------------------


def test_an_admin_changes_a_limit_and_it_holds_at_once_in_this_process(
    staff: StaffActions, client: FlaskClient, session: Session
) -> None:
    admin = staff.signed_in("admin")
    page = admin.get(LIMITS, **HTTPS).get_data(as_text=True)
    assert '<code data-limit="sign">50 per minute</code>' in page
    assert widget_sign(client, 0) == 200
    response = post(admin, LIMITS, name="sign", value="2 per minute")
    assert response.status_code == 302
    page = admin.get(LIMITS, **HTTPS).get_data(as_text=True)
    assert '<code data-limit="sign">2 per minute</code>' in page
    assert "the setting says <code>50 per minute</code>" in page
    # a new limit counts from its change (a window is keyed by its limit)
    assert [widget_sign(client, n) for n in (1, 2, 3)] == [200, 200, 429]
    assert audits(session) == [
        (
            "admin@example.org",
            "limit.set",
            {"limit": "sign", "value": "2 per minute", "previous": None},
        )
    ]
    assert post(admin, f"{LIMITS}/reset", name="sign").status_code == 302
    assert widget_sign(client, 4) == 200
    assert session.scalars(select(RuntimeLimit)).all() == []
    assert audits(session)[-1] == ("admin@example.org", "limit.reset", {"limit": "sign"})


BAD_LIMITS = [
    ({"name": "sign", "value": "lots"}, 400, "not a limit string"),
    ({"name": "sign", "value": "0 per minute"}, 400, "at least 1 request"),
    ({"name": "sign", "value": "<script>x</script>"}, 400, "not a limit string"),
    ({"name": "sign", "value": "1 per 1000000000 year"}, 400, "at most 366 days"),
    ({"name": "sign", "value": "1000000 per second"}, 400, "at most 10,000 requests"),
    ({"name": "login", "value": "1 per day"}, 400, "at least 10 attempts an hour"),
    ({"name": "storage_url", "value": "1 per day"}, 400, "could not be used"),
    ({"name": "", "value": "1 per day"}, 400, "could not be used"),
]


def test_a_limit_that_cannot_be_used_is_refused_and_nothing_changes(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    for data, status, shown in BAD_LIMITS:
        response = post(admin, LIMITS, **data)
        assert response.status_code == status, data
        body = response.get_data(as_text=True)
        assert shown in html.unescape(body), data
        assert "<script>x</script>" not in body
    assert session.scalars(select(RuntimeLimit)).all() == []
    assert audits(session) == []


def test_a_shared_network_gets_the_per_client_limits_raised_not_lifted(
    staff: StaffActions, client: FlaskClient, session: Session
) -> None:
    admin = staff.signed_in("admin")
    # an hour's window: the first sign must still count at the end, however slow the machine
    post(admin, LIMITS, name="sign", value="1 per hour")
    assert [widget_sign(client, n, ip="192.0.2.9") for n in (0, 1)] == [200, 429]
    added = post(
        admin,
        f"{LIMITS}/allowances",
        network="192.0.2.77/24",
        note=" Campus\n Wi-Fi ",
        multiplier="3",
    )
    assert added.status_code == 302
    # three an hour now, for each address in it (its own budget: the limit string is new)
    assert [widget_sign(client, n, ip="192.0.2.9") for n in (2, 3, 4, 5)] == [200, 200, 200, 429]
    # an IPv4 client seen through an IPv4-mapped IPv6 address is the same network
    assert widget_sign(client, 6, ip="::ffff:192.0.2.10") == 200
    # outside the network the limit holds as it was
    assert [widget_sign(client, n, ip="192.0.3.9") for n in (7, 8)] == [200, 429]
    [entry] = session.scalars(select(LimitAllowance)).all()
    assert (entry.network, entry.note, entry.multiplier, entry.created_by) == (
        "192.0.2.0/24",
        "Campus Wi-Fi",
        3,
        "admin@example.org",
    )
    page = admin.get(LIMITS, **HTTPS).get_data(as_text=True)
    assert "<code>192.0.2.0/24</code>" in page
    assert 'data-multiplier="3"' in page
    # the multiplier is changed per network, in bounds
    url = f"{LIMITS}/allowances/{entry.id}/multiplier"
    for bad in ("1", "1001", "x", "\uff15"):
        refused = post(admin, url, multiplier=bad)
        assert refused.status_code == 400, bad
        assert "Give the multiplier as a whole number from 2 to 1000." in refused.get_data(True)
        assert f'value="{bad}"' in refused.get_data(True)  # what was typed, to mend
    assert post(admin, f"{LIMITS}/allowances/999/multiplier", multiplier="5").status_code == 404
    assert post(admin, url, multiplier="5").status_code == 302
    assert widget_sign(client, 9, ip="192.0.2.9") == 200
    session.expire_all()
    assert session.get(LimitAllowance, entry.id).multiplier == 5  # type: ignore[union-attr]
    again = post(admin, f"{LIMITS}/allowances", network="192.0.2.0/24", note="Again")
    assert again.status_code == 400
    assert "192.0.2.0/24 is on the list already." in again.get_data(as_text=True)
    too_many = post(
        admin, f"{LIMITS}/allowances", network="198.51.100.0/24", note="X", multiplier="5000"
    )
    assert too_many.status_code == 400
    removed = post(admin, f"{LIMITS}/allowances/{entry.id}/remove")
    assert removed.status_code == 302
    assert widget_sign(client, 10, ip="192.0.2.9") == 429
    assert post(admin, f"{LIMITS}/allowances/{entry.id}/remove").status_code == 404
    assert [(action, details.get("multiplier")) for _actor, action, details in audits(session)] == [
        ("limit.set", None),
        ("allowance.add", 3),
        ("allowance.multiplier", 5),
        ("allowance.remove", None),
    ]


def test_a_network_added_without_a_multiplier_gets_twenty(
    staff: StaffActions, client: FlaskClient, session: Session
) -> None:
    admin = staff.signed_in("admin")
    post(admin, LIMITS, name="sign", value="1 per hour")  # 21 signs may take a minute
    token = token_of(admin.get(LIMITS, **HTTPS).get_data(as_text=True))
    form = {"csrf_token": token, "network": "192.0.2.0/24", "note": "Campus"}
    assert admin.post(f"{LIMITS}/allowances", data=form, **HTTPS).status_code == 302
    assert session.scalars(select(LimitAllowance.multiplier)).one() == 20
    assert [widget_sign(client, n, ip="192.0.2.9") for n in range(21)] == [200] * 20 + [429]


BAD_NETWORKS = [
    ("0.0.0.0/0", "Everyone", "A network may be at most a /16 for IPv4."),
    ("campus", "Campus", "That is not a network"),
    ("192.0.2.0/24", "   ", "Say whose addresses they are"),
    ("192.0.2.0/24", "x" * 201, "Say whose addresses they are"),
]


def test_a_network_that_cannot_be_used_is_refused(staff: StaffActions, session: Session) -> None:
    admin = staff.signed_in("admin")
    for network, note, shown in BAD_NETWORKS:
        response = post(admin, f"{LIMITS}/allowances", network=network, note=note)
        assert response.status_code == 400, network
        assert shown in response.get_data(as_text=True), network
    assert session.scalars(select(LimitAllowance)).all() == []
    assert audits(session) == []


CHANGES = [
    (LIMITS, {"name": "sign", "value": "1 per day"}),
    (f"{LIMITS}/reset", {"name": "sign"}),
    (f"{LIMITS}/allowances", {"network": "192.0.2.0/24", "note": "Campus"}),
    (f"{LIMITS}/allowances/1/remove", {}),
]


def test_only_admins_with_the_form_token_change_limits(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in("admin")
    viewer = staff.signed_in("viewer")
    assert viewer.get(LIMITS, **HTTPS).status_code == 403
    token = token_of(viewer.get("/staff/password", **HTTPS).get_data(as_text=True))
    for url, data in CHANGES:
        for forged in ("", "forged"):
            response = admin.post(url, data={"csrf_token": forged, **data}, **HTTPS)
            assert response.status_code == 400, url
        assert viewer.post(url, data={"csrf_token": token, **data}, **HTTPS).status_code == 403
    assert session.scalars(select(RuntimeLimit)).all() == []
    assert session.scalars(select(LimitAllowance)).all() == []
    assert audits(session) == []


# --- the cost per request, and another process --------------------------------------------------


def test_a_process_reads_the_database_at_most_every_two_seconds(
    app: Flask, session: Session
) -> None:
    now = [1000.0]
    engine = db.engine(app)
    runtime = RuntimeLimits(app.extensions["widget"].settings, engine, clock=lambda: now[0])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert runtime.limit("sign") == "50 per minute"
    first = len(statements)
    assert first >= 1
    for _ in range(1000):
        runtime.limit("sign")
        runtime.multiplier("192.0.2.9")
    assert len(statements) == first
    set_limit(session, "sign", "3 per minute", now=utcnow(), actor="t")
    add_allowance(session, "192.0.2.0/24", "Campus", now=utcnow(), actor="t")
    statements.clear()
    now[0] += CHECK_SECONDS - 0.1
    assert runtime.limit("sign") == "50 per minute"  # not looked yet
    now[0] += 0.2
    assert runtime.limit("sign") == "3 per minute"
    assert (runtime.multiplier("192.0.2.9"), runtime.multiplier("192.0.3.9")) == (20, 1)
    reads = len(statements)
    now[0] += CHECK_SECONDS
    runtime.limit("sign")
    assert len(statements) == reads + 1  # the version alone: nothing changed


SERVE = (
    "import sys; from werkzeug.serving import run_simple; from widget import create_app; "
    "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)"
)


@pytest.fixture
def other_process(redis_url: str, tmp_path: Path) -> Iterator[tuple[Flask, int]]:
    """This test's app and a second app process on one SQLite database and one Redis."""
    database = f"sqlite:///{tmp_path}/shared.db"
    env = {
        "WIDGET_RATELIMIT_STORAGE_URL": redis_url,
        "WIDGET_RATELIMIT_SIGN": "50 per minute",
        "WIDGET_PUBLIC_URL": "https://localhost",
    }
    app = create_app(make_settings(database, tmp_path, **env))
    app.config["TESTING"] = True
    upgrade_database(app)
    with app.app_context():
        load_campaign_file(db.session, DEMO, utcnow())
        db.session.close()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        env={
            **os.environ,
            **env,
            "WIDGET_SECRET_KEY": SECRET,
            "WIDGET_DATABASE_URL": database,
            "WIDGET_PUBLIC_URL": "http://127.0.0.1",
            "WIDGET_MIN_FILL_SECONDS": "0",
            # this checkout's code, not whichever the environment has installed
            "PYTHONPATH": str(Path(widget.__file__).parents[1]),
        },
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(port, process)
        yield app, port
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()
        db.engine(app).dispose()


def until(condition, what: str, seconds: float = 15.0) -> int:  # type: ignore[no-untyped-def]
    """Polls ``condition`` (which returns a truthy value when met) with a deadline."""
    deadline = time.monotonic() + seconds
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        if condition():
            return tries
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {seconds} s")


def healthz(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/healthz")
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_limit_changed_on_the_staff_page_holds_in_another_process(
    other_process: tuple[Flask, int],
) -> None:
    app, port = other_process
    staff = StaffActions(app)
    admin = staff.signed_in("admin")
    assert [sign(port, n) for n in range(3)] == [200, 200, 200]
    assert post(admin, LIMITS, name="sign", value="3 per minute").status_code == 302
    numbers = iter(range(100, 200))
    # the other process refuses once it has looked (its budget of 3 is spent already)
    tries = until(lambda: sign(port, next(numbers)) == 429, "the new limit in the other process")
    assert tries < 50  # never the 50 of the old limit
    allowed = post(admin, f"{LIMITS}/allowances", network="127.0.0.0/16", note="Loopback")
    assert allowed.status_code == 302
    until(lambda: sign(port, next(numbers)) == 200, "the shared network in the other process")
    assert healthz(port) == 200
    with db.sessionmaker(app)() as session:
        actions = session.scalars(
            select(Audit.action).where(Audit.action.not_in(["staff.create", "signin"]))
        )
        assert list(actions) == ["limit.set", "allowance.add"]


def test_an_unreadable_database_keeps_the_last_values_and_logs_once(
    app: Flask, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that is not migrated yet (or down): the settings hold, one log line."""
    from sqlalchemy import create_engine

    now = [0.0]
    engine = create_engine(f"sqlite:///{tmp_path}/empty.db")
    runtime = RuntimeLimits(app.extensions["widget"].settings, engine, clock=lambda: now[0])
    for _ in range(3):
        assert runtime.limit("sign") == "50 per minute"
        assert runtime.multiplier("192.0.2.9") == 1
        now[0] += CHECK_SECONDS
    engine.dispose()
    logged = [r for r in caplog.records if r.name == "widget.runtime_limits"]
    assert [r.getMessage() for r in logged] == [
        "run-time limits unreadable: the last known values stay in force"
    ]


def test_the_widest_limit_allowed_still_limits_on_redis(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    """The longest period and the largest amount the page takes, on real Redis: counted there
    (a key that expires in 366 days), no fall back to memory, the next sign refused."""
    import redis

    app = make_app(database_url, tmp_path, WIDGET_RATELIMIT_STORAGE_URL=redis_url)
    try:
        admin = StaffActions(app).signed_in("admin")
        widest = "10000 per 366 day;1 per 366 day"
        assert post(admin, LIMITS, name="sign", value=widest).status_code == 302
        client = app.test_client()
        assert [widget_sign(client, n) for n in range(3)] == [200, 429, 429]
        store = redis.Redis.from_url(redis_url)
        keys = [key for key in store.keys("*") if b"366" in key]
        assert len(keys) == 2, keys
        for key in keys:
            assert 365 * 86400 < store.ttl(key) <= 366 * 86400
        store.close()
    finally:
        db.engine(app).dispose()


def test_a_stored_limit_out_of_bounds_is_not_used(app: Flask, session: Session) -> None:
    """A value stored before the bounds (or by hand): the setting holds, not a 429 for all."""
    session.add(
        RuntimeLimit(
            name="sign", value="1 per 1000000000 year", updated_at=utcnow(), updated_by="t"
        )
    )
    session.commit()
    runtime = RuntimeLimits(app.extensions["widget"].settings, db.engine(app))
    assert runtime.limit("sign") == "50 per minute"


def test_the_command_line_lists_and_resets_a_limit(app: Flask, session: Session) -> None:
    """The way back when no admin can sign in to the page: ``limits reset NAME``, audited."""
    import getpass

    runner = app.test_cli_runner()
    set_limit(session, "login", "10 per hour", now=utcnow(), actor="admin@example.org")
    listed = runner.invoke(args=["limits", "list"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert [line.split("\t")[0] for line in lines] == [
        "sign",
        "ip",
        "links",
        "mail",
        "login",
        "login_account",
        "api",
    ]
    assert lines[0] == "sign\t50 per minute\tsetting"
    assert lines[4].startswith("login\t10 per hour\tset by admin@example.org, ")
    reset = runner.invoke(args=["limits", "reset", "login"])
    assert (reset.exit_code, reset.output) == (0, "login: back to the setting\n")
    assert runner.invoke(args=["limits", "reset", "login"]).output == (
        "login: the setting holds already\n"
    )
    assert runner.invoke(args=["limits", "reset", "storage_url"]).exit_code == 2
    assert session.scalars(select(RuntimeLimit)).all() == []
    assert audits(session)[-1] == (f"cli:{getpass.getuser()}", "limit.reset", {"limit": "login"})
    default = app.extensions["widget"].settings.ratelimit_login
    assert runner.invoke(args=["limits", "list"]).output.splitlines()[4] == (
        f"login\t{default}\tsetting"
    )
