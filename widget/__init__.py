"""action-widget: an embeddable take-action widget with verified signatures and live counts.

``create_app()`` builds a standalone app; ``ActionWidget().init_app(app, url_prefix="/act")``
mounts the widget into an organisation's own Flask site.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import logs, paths
from .cookie_sessions import ReusedSerializerSessions
from .extensions import babel, db
from .privacy import Retention
from .sealing import AddressHasher, Sealer
from .settings import ConfigurationError, Names, Settings
from .tokens import TokenService, cursor_tokens, form_tokens, manage_tokens, verify_tokens

__all__ = ["ActionWidget", "ConfigurationError", "Settings", "create_app"]

#: the interface languages that have a catalog (``widget/translations``); English first
LOCALES = ("en", "ur", "fa", "ps")
#: where links in mails point in debug when ``WIDGET_PUBLIC_URL`` is not set (``flask run``)
DEBUG_PUBLIC_URL = "http://127.0.0.1:5000"
#: the largest request body any route of the standalone app accepts (staff forms included)
MAX_CONTENT_LENGTH = 64 * 1024
#: routes that need more: a campaign's texts in four languages may reach some 200 KB
LARGER_BODIES = {"staff.new_campaign": 1024 * 1024, "staff.edit_campaign": 1024 * 1024}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WidgetState:
    """What the widget keeps on the app, as ``app.extensions["widget"]``."""

    settings: Settings
    verify_tokens: TokenService = field(init=False)
    form_tokens: TokenService = field(init=False)
    manage_tokens: TokenService = field(init=False)
    cursor_tokens: TokenService = field(init=False)
    #: the address hash under every secret key: always, so erasure finds sealed rows after
    #: the mode is turned off or the secret key rotated
    addresses: AddressHasher = field(init=False)
    #: sealed mode's public key and address hasher; None when the mode is off
    sealer: Sealer | None = field(init=False)

    def __post_init__(self) -> None:
        keys = self.settings.secret_keys
        object.__setattr__(self, "verify_tokens", verify_tokens(keys))
        object.__setattr__(self, "form_tokens", form_tokens(keys))
        object.__setattr__(self, "manage_tokens", manage_tokens(keys))
        object.__setattr__(self, "cursor_tokens", cursor_tokens(keys))
        addresses = AddressHasher.from_secret_keys(keys)
        object.__setattr__(self, "addresses", addresses)
        public_key = self.settings.data_public_key
        sealer = Sealer.from_settings(public_key, addresses) if public_key else None
        object.__setattr__(self, "sealer", sealer)

    @property
    def retention(self) -> Retention:
        s = self.settings
        return Retention(s.retention_pending_days, s.retention_closed_days, s.retention_mail_days)


def widget_state(app: Flask | None = None) -> WidgetState:
    state: WidgetState = (app or current_app).extensions["widget"]
    return state


def select_locale() -> str:
    """The widget's language: chosen by the view (``g.widget_locale``), else the browser's;
    a command (no request) speaks the first."""
    if not has_request_context():
        return LOCALES[0]
    return g.get("widget_locale") or request.accept_languages.best_match(LOCALES) or LOCALES[0]


class ActionWidget:
    """The Flask extension: settings, database, blueprints and commands on any app."""

    def __init__(
        self, app: Flask | None = None, settings: Settings | None = None, url_prefix: str = ""
    ) -> None:
        if app is not None:
            self.init_app(app, settings, url_prefix=url_prefix)

    def init_app(
        self, app: Flask, settings: Settings | None = None, *, url_prefix: str = ""
    ) -> None:
        from . import cli, limits, templating
        from .views import api, dev, embed, health, manage, progress, staff, wellknown

        if settings is None:
            settings = Settings.from_env(instance_path=app.instance_path)
        settings = _with_public_url(app, settings)
        app.extensions["widget"] = WidgetState(settings)
        db.init_app(app, settings.database_url)
        limits.init_app(app)
        if "babel" not in app.extensions:
            app.config.setdefault(
                "BABEL_TRANSLATION_DIRECTORIES", str(paths.PACKAGE / "translations")
            )
            babel.init_app(app, locale_selector=select_locale)
        blueprints = [embed.bp, progress.bp, manage.bp, staff.bp, api.bp, health.bp, wellknown.bp]
        blueprints += [dev.bp] if has_dev_mailbox(app, settings) else []
        for blueprint in blueprints:
            # register_blueprint's url_prefix replaces the blueprint's own, so join them here.
            prefix = url_prefix.rstrip("/") + (blueprint.url_prefix or "")
            app.register_blueprint(blueprint, url_prefix=prefix or None)
        templating.register(app)
        cli.register(app)


def has_dev_mailbox(app: Flask, settings: Settings) -> bool:
    """``/dev/mail`` shows every mail with its live links to whoever asks, so it exists only
    where mail stays in the database and the app is a developer's (debug); never when mail
    goes out over SMTP, whatever ``FLASK_DEBUG`` says."""
    return app.debug and not settings.mail.delivers


def _with_public_url(app: Flask, settings: Settings) -> Settings:
    """Links in mails carry tokens, so their origin is configured, never taken from a request's
    ``Host`` header (which anyone can set). Only a debug app whose mail stays in the outbox may
    fall back to a local default: real mail with ``127.0.0.1`` links would reach no one."""
    if settings.public_url is not None:
        return settings
    if not app.debug or settings.mail.delivers:
        raise ConfigurationError(
            f"{Names.PUBLIC_URL} is not set. Give the address supporters reach the widget at, "
            "e.g. https://actions.example.org: links in mails are built from it, never from "
            "a request's Host header."
        )
    log.warning("%s is not set: mail links point to %s", Names.PUBLIC_URL, DEBUG_PUBLIC_URL)
    return replace(settings, public_url=DEBUG_PUBLIC_URL)


def _larger_body_limit() -> None:
    if request.endpoint in LARGER_BODIES:
        request.max_content_length = LARGER_BODIES[request.endpoint]


def create_app(settings: Settings | None = None) -> Flask:
    """The standalone app (``flask --app widget``); settings from ``WIDGET_*`` unless given."""
    app = logs.WidgetFlask(__name__, static_folder=None, template_folder=str(paths.TEMPLATES))
    logs.configure(app)
    if settings is None:
        settings = Settings.from_env(instance_path=app.instance_path)
    app.secret_key = settings.secret_key
    app.session_interface = ReusedSerializerSessions()
    # Every route's body limit; the widget's own pages keep a smaller one (views.protect).
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.before_request(_larger_body_limit)
    # The staff area's session: first-party, never sent cross-site, short-lived.
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not app.debug,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
    )
    # A list, never a string: a string would be taken as one-character keys.
    app.config["SECRET_KEY_FALLBACKS"] = list(settings.secret_keys[1:])
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    ActionWidget(app, settings)
    return app
