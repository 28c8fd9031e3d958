"""Signed tokens: only ours, only for their purpose, only while fresh, across key rotation."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from widget.tokens import TokenExpired, TokenInvalid, form_tokens, verify_tokens

KEYS = ("test-secret-key-0123456789",)
OLD = "old-key-0123456789"
NEW = "new-key-0123456789"
SEVEN_DAYS = timedelta(days=7).total_seconds()


def swap(character: str) -> str:
    """Another character of the URL-safe base64 alphabet."""
    return "B" if character == "A" else "A"


def tamper(token: str, part: int) -> str:
    """``token`` with the first character of one part (payload 0, signature 2) changed."""
    parts = token.split(".")
    parts[part] = swap(parts[part][0]) + parts[part][1:]
    return ".".join(parts)


def test_a_token_loads_back_to_its_payload_and_purpose() -> None:
    tokens = verify_tokens(KEYS)

    assert tokens.loads(tokens.dumps({"signature": 42})) == {"signature": 42, "p": "verify"}


def test_a_form_token_is_not_accepted_as_a_verify_token() -> None:
    token = form_tokens(KEYS).dumps({"signature": 42})

    with pytest.raises(TokenInvalid, match="bad signature"):
        verify_tokens(KEYS).loads(token)


def test_a_verify_token_is_not_accepted_as_a_form_token() -> None:
    token = verify_tokens(KEYS).dumps({"signature": 42})

    with pytest.raises(TokenInvalid, match="bad signature"):
        form_tokens(KEYS).loads(token)


def test_a_token_with_a_changed_signature_is_invalid() -> None:
    tokens = verify_tokens(KEYS)
    token = tokens.dumps({"signature": 42})

    with pytest.raises(TokenInvalid, match="bad signature"):
        tokens.loads(tamper(token, 2))


def test_a_token_with_a_changed_payload_is_invalid() -> None:
    tokens = verify_tokens(KEYS)
    token = tokens.dumps({"signature": 42})

    with pytest.raises(TokenInvalid, match="bad signature"):
        tokens.loads(tamper(token, 0))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "..", "abc.def"])
def test_garbage_is_invalid(garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        verify_tokens(KEYS).loads(garbage)


def test_a_token_older_than_seven_days_is_expired_and_says_what_it_was_for() -> None:
    tokens = verify_tokens(KEYS)
    issued = time.time()
    token = tokens.dumps({"signature": 42})

    with pytest.raises(TokenExpired) as expired:
        tokens.loads(token, now=issued + SEVEN_DAYS + 1)

    assert expired.value.payload == {"signature": 42, "p": "verify"}


def test_an_expired_token_is_also_an_invalid_token() -> None:
    assert issubclass(TokenExpired, TokenInvalid)


def test_a_token_just_under_seven_days_old_still_loads() -> None:
    tokens = verify_tokens(KEYS)
    issued = time.time()
    token = tokens.dumps({"signature": 42})

    assert tokens.loads(token, now=issued + SEVEN_DAYS - 1) == {"signature": 42, "p": "verify"}


def test_a_form_token_expires_after_twelve_hours() -> None:
    tokens = form_tokens(KEYS)
    issued = time.time()
    token = tokens.dumps({})

    with pytest.raises(TokenExpired):
        tokens.loads(token, now=issued + timedelta(hours=12).total_seconds() + 1)


def test_a_token_made_before_rotation_loads_after_it() -> None:
    token = verify_tokens((OLD,)).dumps({"signature": 42})

    assert verify_tokens((NEW, OLD)).loads(token) == {"signature": 42, "p": "verify"}


def test_after_rotation_new_tokens_are_signed_with_the_new_key() -> None:
    token = verify_tokens((NEW, OLD)).dumps({"signature": 42})

    assert verify_tokens((NEW,)).loads(token) == {"signature": 42, "p": "verify"}


def test_after_rotation_new_tokens_are_not_signed_with_the_old_key() -> None:
    token = verify_tokens((NEW, OLD)).dumps({"signature": 42})

    with pytest.raises(TokenInvalid, match="bad signature"):
        verify_tokens((OLD,)).loads(token)


def test_a_token_made_with_a_key_no_longer_listed_is_invalid() -> None:
    token = verify_tokens((OLD,)).dumps({"signature": 42})

    with pytest.raises(TokenInvalid, match="bad signature"):
        verify_tokens((NEW,)).loads(token)
