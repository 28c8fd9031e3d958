"""Signed, expiring tokens, one service per purpose (its own salt and lifetime).

itsdangerous gives a signature and an age, not single use: single use is the database's job
(``widget.signing.confirm_signature``). Keys rotate: the first key signs, every key verifies.
"""

from __future__ import annotations

import hmac
import secrets
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


def new_link_secret() -> str:
    """A signature's link secret (``Signature.link_secret``): 24 random bytes, 32 characters."""
    return secrets.token_urlsafe(24)


def link_payload(signature_id: int, link_secret: str | None, **claims: Any) -> dict[str, Any]:
    """What a link to a signature carries: its id and its secret (none for rows from before
    secrets existed), so the link dies when erasure changes the secret."""
    payload: dict[str, Any] = {"s": signature_id, **claims}
    if link_secret is not None:
        payload["k"] = link_secret
    return payload


def link_fits(payload: dict[str, Any], link_secret: str | None) -> bool:
    """Whether a link was made for the signature as it is now. A row with a secret wants it
    (compared in constant time); only a row from before secrets takes a link without one."""
    given = payload.get("k")
    if link_secret is None:
        return given is None
    return isinstance(given, str) and hmac.compare_digest(given.encode(), link_secret.encode())


VERIFY_MAX_AGE = timedelta(days=7)
MANAGE_MAX_AGE = timedelta(days=365)
FORM_MAX_AGE = timedelta(hours=12)
#: a sync that pauses longer than this between pages starts again with ``updated_since``
CURSOR_MAX_AGE = timedelta(days=7)


def verify_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The link in the confirmation mail."""
    return TokenService("verify", VERIFY_MAX_AGE, secret_keys)


def form_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The sign form's cookieless CSRF token (``widget.forms``)."""
    return TokenService("sign-form", FORM_MAX_AGE, secret_keys)


def manage_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The supporter's own link to see and withdraw a signature, in every mail."""
    return TokenService("manage", MANAGE_MAX_AGE, secret_keys)


def cursor_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The API's page cursor (``widget.signature_feed``): signed, so a forged one is refused."""
    return TokenService("api-cursor", CURSOR_MAX_AGE, secret_keys)


#: how long a dry run of taking signatures out may wait for its confirmation
PREVIEW_MAX_AGE = timedelta(hours=1)


def preview_tokens(secret_keys: tuple[str, ...]) -> TokenService:
    """The abuse monitor's confirm button: which signatures its dry run showed
    (``widget.abuse.selection_digest``), so the confirmation takes out exactly those."""
    return TokenService("invalidate-preview", PREVIEW_MAX_AGE, secret_keys)
