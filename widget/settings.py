"""Settings: every ``WIDGET_*`` variable is read and validated once, at start-up.

A wrong value stops the app with a message naming the variable and the fix, instead of failing
later on a supporter's request.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from limits import parse_many


class ConfigurationError(RuntimeError):
    """A ``WIDGET_*`` setting is missing or malformed."""


class Names:
    """The environment variables we read, in one place."""

    SECRET_KEY = "WIDGET_SECRET_KEY"
    DATABASE_URL = "WIDGET_DATABASE_URL"
    MAIL_URL = "WIDGET_MAIL_URL"
    MAIL_FROM = "WIDGET_MAIL_FROM"
    RATELIMIT_STORAGE_URL = "WIDGET_RATELIMIT_STORAGE_URL"
    PUBLIC_URL = "WIDGET_PUBLIC_URL"
    TRUSTED_PROXIES = "WIDGET_TRUSTED_PROXIES"
    RATELIMIT_SIGN = "WIDGET_RATELIMIT_SIGN"
    RATELIMIT_IP = "WIDGET_RATELIMIT_IP"
    RATELIMIT_LINKS = "WIDGET_RATELIMIT_LINKS"
    RATELIMIT_MAIL = "WIDGET_RATELIMIT_MAIL"
    RATELIMIT_LOGIN = "WIDGET_RATELIMIT_LOGIN"
    RATELIMIT_LOGIN_ACCOUNT = "WIDGET_RATELIMIT_LOGIN_ACCOUNT"
    RATELIMIT_API = "WIDGET_RATELIMIT_API"
    BLOCKED_EMAIL_DOMAINS = "WIDGET_BLOCKED_EMAIL_DOMAINS"
    MIN_FILL_SECONDS = "WIDGET_MIN_FILL_SECONDS"
    RETENTION_PENDING_DAYS = "WIDGET_RETENTION_PENDING_DAYS"
    RETENTION_CLOSED_DAYS = "WIDGET_RETENTION_CLOSED_DAYS"
    RETENTION_MAIL_DAYS = "WIDGET_RETENTION_MAIL_DAYS"
    REMIND_AFTER_HOURS = "WIDGET_REMIND_AFTER_HOURS"
    IPV6_PREFIX = "WIDGET_IPV6_PREFIX"
    SECURITY_CONTACT = "WIDGET_SECURITY_CONTACT"
    DATA_PUBLIC_KEY = "WIDGET_DATA_PUBLIC_KEY"
    WEBHOOK_ALLOW_PRIVATE = "WIDGET_WEBHOOK_ALLOW_PRIVATE"
    ORG_NAME = "WIDGET_ORG_NAME"
    ORG_URL = "WIDGET_ORG_URL"
    PRIVACY_CONTACT = "WIDGET_PRIVACY_CONTACT"
    STAFF_REQUIRE_2FA = "WIDGET_STAFF_REQUIRE_2FA"

    @classmethod
    def all(cls) -> set[str]:
        return {value for key, value in vars(cls).items() if key.isupper()}


MIN_SECRET_KEY_LENGTH = 16
#: the organisation's name is a letterhead and a mail sender's display name: one line, short
MAX_ORG_NAME_LENGTH = 200
SECRET_KEY_FILE = "secret_key"


@dataclass(frozen=True)
class MailURL:
    """Where mail goes: ``outbox`` keeps it in the database, ``smtp``/``smtps`` deliver it."""

    scheme: str
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 10.0

    @property
    def delivers(self) -> bool:
        return self.scheme in ("smtp", "smtps")


@dataclass(frozen=True)
class Settings:
    """The validated settings of one app."""

    secret_keys: tuple[str, ...] = field(repr=False)
    database_url: str = field(repr=False)
    mail: MailURL = field(default_factory=lambda: MailURL("outbox"))
    mail_from: str = "actions@localhost"
    #: may hold a Redis password, so never in a repr
    ratelimit_storage_url: str = field(default="memory://", repr=False)
    public_url: str | None = None
    trusted_proxies: int = 0
    #: sign attempts per client IP per campaign
    ratelimit_sign: str = "10 per minute;100 per hour"
    #: every state-changing request (sign, confirm) per client IP, all campaigns together
    ratelimit_ip: str = "30 per minute;300 per hour"
    #: opening and using confirm links, per client IP
    ratelimit_links: str = "30 per minute;300 per hour"
    #: mails to one address (confirm links again, "already signed" notes), all campaigns
    ratelimit_mail: str = "3 per hour;6 per day"
    #: staff sign-in: attempts per client IP, and failed attempts per account and client
    ratelimit_login: str = "5 per minute;30 per hour"
    #: failed sign-ins per account from all clients; past it, a client gets one failure a window
    ratelimit_login_account: str = "100 per hour;1000 per day"
    #: requests per API key to ``/api/v1/campaigns/<c>/signatures``, over all processes
    ratelimit_api: str = "600 per minute"
    #: refused email domains, beyond the shipped list of disposable-mail services
    blocked_email_domains: frozenset[str] = frozenset()
    #: a form sent faster than this after it was shown is taken for a bot
    min_fill_seconds: float = 3.0
    #: unconfirmed signatures are deleted after this many days
    retention_pending_days: int = 14
    #: personal data of a closed campaign's signatures is erased this many days after it closed
    retention_closed_days: int = 180
    #: sent (or undeliverable) mail is deleted after this many days
    retention_mail_days: int = 7
    #: ``remind`` mails an unconfirmed signature once it is this many hours old
    remind_after_hours: int = 48
    #: IPv6 clients are limited and grouped by this prefix length (a host has a whole /64)
    ipv6_prefix: int = 64
    #: where to report a security problem (``/.well-known/security.txt``); None: the sender's
    #: address as mailto:
    security_contact: str | None = None
    #: sealed mode (``widget.sealing``): personal fields are stored only sealed for this
    #: X25519 public key (base64); None stores them in clear
    data_public_key: str | None = None
    #: the organisation's own webhook endpoints may reach loopback and private addresses
    #: (local setups, tests); never a partner account's (``widget.webhook_address``)
    webhook_allow_private: bool = False
    #: the organisation: the officials' report's letterhead, the widget, the mails' sender name
    org_name: str | None = None
    #: the organisation's website (http or https), beside its name
    org_url: str | None = None
    #: the address for questions about personal data (the privacy notice's contact)
    privacy_contact: str | None = None
    #: admins sign in with a second factor (``widget.two_factor``); without one they enrol first
    staff_require_2fa: bool = False

    @property
    def sealed(self) -> bool:
        return self.data_public_key is not None

    @property
    def secret_key(self) -> str:
        """The key that signs; the others only verify (rotation)."""
        return self.secret_keys[0]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, instance_path: str | Path
    ) -> Settings:
        """Read ``WIDGET_*`` from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        unknown = sorted(k for k in env if k.startswith("WIDGET_") and k not in Names.all())
        if unknown:
            raise ConfigurationError(
                f"Unknown setting {', '.join(unknown)}. Known settings: "
                f"{', '.join(sorted(Names.all()))}."
            )
        instance = Path(instance_path)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            secret_keys=_secret_keys(get(Names.SECRET_KEY), instance),
            database_url=_database_url(
                get(Names.DATABASE_URL) or f"sqlite:///{instance / 'widget.db'}"
            ),
            mail=parse_mail_url(get(Names.MAIL_URL) or "outbox://"),
            mail_from=_mail_from(get(Names.MAIL_FROM) or "actions@localhost"),
            ratelimit_storage_url=_storage_url(get(Names.RATELIMIT_STORAGE_URL) or "memory://"),
            public_url=_public_url(get(Names.PUBLIC_URL)),
            trusted_proxies=_trusted_proxies(get(Names.TRUSTED_PROXIES) or "0"),
            ratelimit_sign=_rate_limit(
                Names.RATELIMIT_SIGN, get(Names.RATELIMIT_SIGN) or cls.ratelimit_sign
            ),
            ratelimit_ip=_rate_limit(
                Names.RATELIMIT_IP, get(Names.RATELIMIT_IP) or cls.ratelimit_ip
            ),
            ratelimit_links=_rate_limit(
                Names.RATELIMIT_LINKS, get(Names.RATELIMIT_LINKS) or cls.ratelimit_links
            ),
            ratelimit_mail=_rate_limit(
                Names.RATELIMIT_MAIL, get(Names.RATELIMIT_MAIL) or cls.ratelimit_mail
            ),
            ratelimit_login=_rate_limit(
                Names.RATELIMIT_LOGIN, get(Names.RATELIMIT_LOGIN) or cls.ratelimit_login
            ),
            ratelimit_login_account=_rate_limit(
                Names.RATELIMIT_LOGIN_ACCOUNT,
                get(Names.RATELIMIT_LOGIN_ACCOUNT) or cls.ratelimit_login_account,
            ),
            ratelimit_api=_rate_limit(
                Names.RATELIMIT_API, get(Names.RATELIMIT_API) or cls.ratelimit_api
            ),
            blocked_email_domains=_domains(get(Names.BLOCKED_EMAIL_DOMAINS)),
            min_fill_seconds=_seconds(
                Names.MIN_FILL_SECONDS, get(Names.MIN_FILL_SECONDS) or "3", maximum=3
            ),
            retention_pending_days=_days(Names.RETENTION_PENDING_DAYS, get, default=14),
            retention_closed_days=_days(Names.RETENTION_CLOSED_DAYS, get, default=180),
            retention_mail_days=_days(Names.RETENTION_MAIL_DAYS, get, default=7),
            remind_after_hours=_remind_after_hours(get),
            ipv6_prefix=_ipv6_prefix(get(Names.IPV6_PREFIX) or "64"),
            security_contact=_security_contact(get(Names.SECURITY_CONTACT)),
            data_public_key=_data_public_key(get(Names.DATA_PUBLIC_KEY)),
            webhook_allow_private=_on_off(
                Names.WEBHOOK_ALLOW_PRIVATE, get(Names.WEBHOOK_ALLOW_PRIVATE) or "0"
            ),
            org_name=_org_name(get(Names.ORG_NAME)),
            org_url=_org_url(get(Names.ORG_URL)),
            privacy_contact=_privacy_contact(get(Names.PRIVACY_CONTACT)),
            staff_require_2fa=_on_off(Names.STAFF_REQUIRE_2FA, get(Names.STAFF_REQUIRE_2FA) or "0"),
        )


def _secret_keys(value: str | None, instance: Path) -> tuple[str, ...]:
    """A comma-separated list rotates keys: the first signs, all verify.

    Without a value, a key is generated once into the instance folder so a restart does not
    invalidate every link already mailed.
    """
    if value is None:
        return (_instance_secret_key(instance),)
    keys = tuple(k.strip() for k in value.split(","))
    for key in keys:
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigurationError(
                f"{Names.SECRET_KEY}: every key must be at least {MIN_SECRET_KEY_LENGTH} "
                "characters (comma-separated for rotation, no empty entries). Generate one with: "
                'python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
    return keys


def _instance_secret_key(instance: Path) -> str:
    path = instance / SECRET_KEY_FILE
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigurationError(f"{path} holds a key that is too short; delete the file.")
    return key


def redact(url: str) -> str:
    """The URL with everything between ``://`` and its last ``@`` hidden, for error messages
    (they reach logs and terminals). A password that breaks the URL often holds the very
    characters (``/ ? # @``) a parser would stop at, so nothing before the host is kept."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def _database_url(value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except (ArgumentError, ValueError):
        # not echoed: where the password is in a URL that does not parse cannot be told
        raise ConfigurationError(
            f"{Names.DATABASE_URL} is not a valid URL: give an SQLAlchemy URL, e.g. "
            "postgresql+psycopg://user:password@host/widget or sqlite:////path/widget.db."
        ) from None
    return value


def _security_contact(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(("mailto:", "https://")) or any(c.isspace() for c in value):
        raise ConfigurationError(
            f"{Names.SECURITY_CONTACT}={value!r}: give a mailto: or https:// URI, e.g. "
            "mailto:security@example.org."
        )
    return value


def _on_off(name: str, value: str) -> bool:
    if value not in ("0", "1"):
        raise ConfigurationError(f"{name}={value!r}: give 0 or 1.")
    return value == "1"


#: embeddings, overrides and isolates: in a sender's name they can make it read as another's
#: (ZWNJ and ZWJ, which Persian and Urdu names need, are not among them)
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _org_name(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_ORG_NAME_LENGTH or any(
        unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in BIDI_CONTROLS for c in value
    ):
        raise ConfigurationError(
            f"{Names.ORG_NAME}: give the organisation's name on one line, up to "
            f"{MAX_ORG_NAME_LENGTH} characters, e.g. Amnesty International UK."
        )
    return value


def _org_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = urlsplit(""), None
    if (
        parts.scheme not in ("http", "https")
        or not host
        or any(c.isspace() or unicodedata.category(c) == "Cc" for c in value)
        or len(value) > 2000
    ):
        raise ConfigurationError(
            f"{Names.ORG_URL}={value[:200]!r}: give the organisation's website as an http:// or "
            "https:// URL, e.g. https://www.example.org"
        )
    return value


def _privacy_contact(value: str | None) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ConfigurationError(
            f"{Names.PRIVACY_CONTACT}: give one plain email address, e.g. privacy@example.org."
        ) from None


def _data_public_key(value: str | None) -> str | None:
    from .sealing import public_key_from_text, public_key_text

    if value is None:
        return None
    try:
        return public_key_text(public_key_from_text(value))
    except ValueError as error:
        raise ConfigurationError(
            f"{Names.DATA_PUBLIC_KEY}: not a public key ({error}): give the base64 line that "
            "flask --app widget keys generate --output FILE printed (32 bytes)."
        ) from None


def parse_mail_url(value: str) -> MailURL:
    """``outbox://``, ``smtp://user:pass@host:587?starttls=1`` or ``smtps://host``."""
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:
        parts, hostname = urlsplit(""), None
    if parts.scheme == "outbox":
        return MailURL("outbox")
    if parts.scheme not in ("smtp", "smtps") or not hostname:
        raise ConfigurationError(
            f"{Names.MAIL_URL}={redact(value)!r}: use outbox://, "
            "smtp://user:pass@host:587?starttls=1 or smtps://user:pass@host:465."
        )
    query = parse_qs(parts.query)
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        timeout = float(query.get("timeout", ["10"])[0])
    except ValueError:
        raise ConfigurationError(
            f"{Names.MAIL_URL}={redact(value)!r}: the port and ?timeout= must be numbers."
        ) from None
    return MailURL(
        scheme=parts.scheme,
        host=hostname,
        port=port,
        # user:pass in a URL are percent-encoded ("@" as %40); SMTP login wants them decoded
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        timeout=timeout,
    )


def _mail_from(value: str) -> str:
    """One address, with or without a name: ``actions@example.org``, ``Amnesty <actions@...>``."""
    if "@" not in parseaddr(value)[1] or any(c in value for c in "\r\n"):
        raise ConfigurationError(f"{Names.MAIL_FROM}={value!r}: give one email address.")
    return value


def _storage_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number
        scheme = parts.scheme
    except ValueError:
        scheme = ""
    if scheme in ("redis", "rediss") and not parts.hostname:
        scheme = ""  # a Redis URL needs a host
    if scheme not in ("memory", "redis", "rediss", "redis+sentinel"):
        raise ConfigurationError(
            f"{Names.RATELIMIT_STORAGE_URL}={redact(value)!r}: use memory:// or redis://host:6379/0."
        )
    return value


def _public_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ConfigurationError(
            f"{Names.PUBLIC_URL}={value!r}: give the absolute base URL, e.g. "
            "https://actions.example.org"
        )
    return value.rstrip("/")


def _trusted_proxies(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > 10:
        raise ConfigurationError(
            f"{Names.TRUSTED_PROXIES}={value!r}: give how many reverse proxies set "
            "X-Forwarded-For in front of the app (0 to 10; 0 trusts none)."
        )
    return int(value)


def _ipv6_prefix(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 32 <= int(value) <= 128:
        raise ConfigurationError(
            f"{Names.IPV6_PREFIX}={value!r}: give a prefix length from 32 to 128 (64, the "
            "block one IPv6 host is given, is the default; 128 limits each address alone)."
        )
    return int(value)


def _rate_limit(name: str, value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        raise ConfigurationError(
            f"{name}={value!r}: use the limits syntax, e.g. '10 per minute;100 per hour'."
        ) from None
    return value


DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _domains(value: str | None) -> frozenset[str]:
    domains = frozenset(d.strip().lower() for d in (value or "").split(",") if d.strip())
    for domain in domains:
        if not DOMAIN.match(domain):
            raise ConfigurationError(
                f"{Names.BLOCKED_EMAIL_DOMAINS}: {domain!r} is not a domain; give a "
                "comma-separated list such as spam.example,junk.example"
            )
    return domains


def _seconds(name: str, value: str, *, maximum: float) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= maximum:
        raise ConfigurationError(
            f"{name}={value!r}: give a number of seconds from 0 to {maximum:g}."
        )
    return seconds


def _days(name: str, get: Callable[[str], str | None], *, default: int) -> int:
    value = get(name) or str(default)
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 3650:
        raise ConfigurationError(f"{name}={value!r}: give a whole number of days from 1 to 3650.")
    return int(value)


#: the longest wait before a reminder: a year (past the pending retention it reminds no one)
MAX_REMIND_HOURS = 8760


def reminder_hours(name: str, value: str, *, pending_days: int) -> int:
    """A whole number of hours from 1, less than the pending retention (after which the
    signature is gone): the setting and ``remind --older-than`` alike."""
    limit = min(MAX_REMIND_HOURS, pending_days * 24 - 1)
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= limit:
        raise ConfigurationError(
            f"{name}={value!r}: give a whole number of hours from 1 to {limit} (unconfirmed "
            f"signatures are deleted after {pending_days} days, "
            f"{Names.RETENTION_PENDING_DAYS})."
        )
    return int(value)


def _remind_after_hours(get: Callable[[str], str | None]) -> int:
    pending_days = _days(Names.RETENTION_PENDING_DAYS, get, default=14)
    value = get(Names.REMIND_AFTER_HOURS) or str(min(48, pending_days * 24 - 1))
    return reminder_hours(Names.REMIND_AFTER_HOURS, value, pending_days=pending_days)
