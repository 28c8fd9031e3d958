"""Sign-in throttling: guessing is slowed, but no stranger can lock the real admin out."""

from __future__ import annotations

import pytest
from flask import Flask

from widget import limits

from .conftest import STAFF_PASSWORD, StaffActions, form_token
from .test_staff import HTTPS, get


def attempt(app: Flask, address: str, password: str, email: str = "admin@example.org") -> int:
    """One sign-in from ``address`` in a fresh browser; the status."""
    return attempt_response(app, address, password, email).status_code


def attempt_response(app: Flask, address: str, password: str, email: str = "admin@example.org"):  # type: ignore[no-untyped-def]
    client = app.test_client()
    environ = {"REMOTE_ADDR": address}
    page = client.get("/staff/login", environ_base=environ, **HTTPS).get_data(as_text=True)
    return client.post(
        "/staff/login",
        data={"csrf_token": form_token(page), "email": email, "password": password},
        environ_base=environ,
        **HTTPS,
    )


def test_thirty_wrong_guesses_from_elsewhere_do_not_lock_the_admin_out(
    app: Flask, staff: StaffActions
) -> None:
    staff.create("admin@example.org")
    guesses = [attempt(app, f"203.0.113.{n // 5}", f"guess {n}!") for n in range(30)]
    assert guesses == [401] * 30
    assert attempt(app, "198.51.100.7", STAFF_PASSWORD, "Admin@Example.org") == 302


def test_a_guesser_from_one_address_is_throttled_with_the_staff_page(
    app: Flask, staff: StaffActions
) -> None:
    staff.create("admin@example.org")
    assert [attempt(app, "203.0.113.9", f"guess {n}!") for n in range(5)] == [401] * 5
    blocked = attempt_response(app, "203.0.113.9", STAFF_PASSWORD)
    assert blocked.status_code == 429
    page = blocked.get_data(as_text=True)
    assert "<h1>Too many attempts</h1>" in page
    assert "Too many sign-in attempts. Please try again in 1 minute." in page
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert attempt(app, "198.51.100.7", STAFF_PASSWORD) == 302


@pytest.mark.parametrize("settings_env", [{"WIDGET_RATELIMIT_LOGIN_ACCOUNT": "10 per hour"}])
def test_past_the_accounts_ceiling_each_address_gets_one_guess(
    app: Flask, staff: StaffActions
) -> None:
    staff.create("admin@example.org")
    assert [attempt(app, f"203.0.113.{n}", "wrong!") for n in range(10)] == [401] * 10
    assert attempt(app, "203.0.113.1", "wrong again!") == 429
    assert attempt(app, "203.0.113.1", STAFF_PASSWORD) == 429
    assert attempt(app, "203.0.113.50", "wrong!") == 401
    assert attempt(app, "203.0.113.50", "wrong!") == 429
    client_ok = attempt_response(app, "198.51.100.7", STAFF_PASSWORD)
    assert client_ok.status_code == 302


def test_other_accounts_are_not_slowed(app: Flask, staff: StaffActions) -> None:
    staff.create("admin@example.org")
    staff.create("other@example.org")
    assert [attempt(app, "203.0.113.9", "wrong!") for _ in range(3)] == [401] * 3
    client, response = staff.login("other@example.org")
    assert response.status_code == 302
    assert get(client, "/staff/").status_code == 200


@pytest.mark.parametrize("settings_env", [{"WIDGET_RATELIMIT_LOGIN_ACCOUNT": "10 per hour"}])
def test_a_sign_in_past_the_ceiling_reads_each_window_once(
    app: Flask, staff: StaffActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff.create("admin@example.org")
    assert [attempt(app, f"203.0.113.{n}", "wrong!") for n in range(10)] == [401] * 10
    strategy = limits.store(app).windows
    reads: list[tuple[str, str, str]] = []
    read = strategy.get_window_stats

    def counted(item, *identifiers):  # type: ignore[no-untyped-def]
        reads.append((str(item), *identifiers))
        return read(item, *identifiers)

    monkeypatch.setattr(strategy, "get_window_stats", counted)
    for address, status in (("203.0.113.1", 429), ("198.51.100.7", 302)):
        reads.clear()
        assert attempt(app, address, STAFF_PASSWORD) == status
        assert len(reads) == len(set(reads)) == 3, reads
