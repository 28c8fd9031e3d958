"""Signed, expiring tokens, one service per purpose (its own salt and lifetime).

itsdangerous gives a signature and an age, not single use: single use is the database's job
(``widget.signing.confirm_signature``). Keys rotate: the first key signs, every key verifies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer


class TokenInvalid(Exception):
    """The token was not made by us, or not for this purpose."""


class TokenExpired(TokenInvalid):
    """The token was made by us but is too old; ``payload`` says what it was for."""

    def __init__(self, payload: Any) -> None:
        super().__init__("token expired")
        self.payload = payload


@dataclass(frozen=True)
class TokenService:
    purpose: str
    max_age: timedelta
    secret_keys: tuple[str, ...]

    @cached_property
    def _serializer(self) -> URLSafeTimedSerializer:
        # itsdangerous signs with the *last* key of its list; ours signs with the first.
        return URLSafeTimedSerializer(
            list(reversed(self.secret_keys)), salt=f"action-widget.{self.purpose}"
        )

    def dumps(self, payload: dict[str, Any]) -> str:
        return self._serializer.dumps({**payload, "p": self.purpose})

    def loads(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The payload, or ``TokenExpired``/``TokenInvalid``.

        ``now`` (a Unix time) lets tests move the clock instead of waiting.
        """
        try:
            payload, signed_at = self._serializer.loads(token, return_timestamp=True)
        except BadSignature:
            raise TokenInvalid("bad signature") from None
        if not isinstance(payload, dict) or payload.get("p") != self.purpose:
            raise TokenInvalid("wrong purpose")
        age = (time.time() if now is None else now) - signed_at.timestamp()
        if age > self.max_age.total_seconds():
            raise TokenExpired(payload)
        return payload


VERIFY_MAX_AGE = timedelta(days=7)
MANAGE_MAX_AGE = timedelta(days=365)
FORM_MAX_AGE = timedelta(hours=12)


def verify_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The link in the confirmation mail."""
    return TokenService("verify", VERIFY_MAX_AGE, secret_keys)


def form_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The sign form's cookieless CSRF token (``widget.forms``)."""
    return TokenService("sign-form", FORM_MAX_AGE, secret_keys)


def manage_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The supporter's own link to see and withdraw a signature, in every mail."""
    return TokenService("manage", MANAGE_MAX_AGE, secret_keys)
