"""Flask's signed-cookie session, with its serializer made once per app and keys.

Flask builds an itsdangerous serializer for the session on every request, though most requests
(every widget page and count a reader loads) carry no session cookie; only the staff area
uses the session. The serializer depends only on the secret key and its fallbacks, so it is
kept for as long as they stay the same."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class ReusedSerializerSessions(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._made: tuple[Any, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._made is None or self._made[0] != keys:
            self._made = (keys, super().get_signing_serializer(app))
        return self._made[1]
