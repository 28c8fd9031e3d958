"""Rate limits, all in one place (Flask-Limiter, moving window).

- Client IP: ``request.remote_addr``, which ``WIDGET_TRUSTED_PROXIES`` (werkzeug's ProxyFix)
  takes from ``X-Forwarded-For`` only as far as trusted proxies wrote it. With 0 proxies the
  header is ignored, so forging it buys no fresh budget. An IPv6 client counts by its
  ``WIDGET_IPV6_PREFIX`` network (``widget.networks``), since it may use any address in it.
- Storage: ``WIDGET_RATELIMIT_STORAGE_URL``. If Redis goes down, limits fall back to each
  process's memory (logged as a warning by Flask-Limiter) rather than failing supporters with
  a 500 or letting everything through.
- Flask-Limiter keeps its storage on the ``limiter`` object, so one process serves one app.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from limits import RateLimitItem, WindowStats, parse_many

from . import widget_state
from .extensions import db
from .networks import client_network
from .report_pdf import LIMIT_PER_MINUTE
from .runtime_limits import RuntimeLimits, raised
from .tokens import FORM_MAX_AGE

log = logging.getLogger(__name__)


def client_ip() -> str:
    """The client's network (``widget.networks``): one budget per IPv4 address or IPv6 prefix."""
    network = client_network(request.remote_addr, widget_state().settings.ipv6_prefix)
    return network or "unknown"


def client_and_campaign() -> str:
    return f"{client_ip()}/{(request.view_args or {}).get('slug', '')}"


limiter = Limiter(
    client_ip,
    strategy="moving-window",
    in_memory_fallback_enabled=True,
    key_prefix="action-widget",
)


def runtime_limits() -> RuntimeLimits:
    """The limits in force (``widget.runtime_limits``): an admin's override or the setting."""
    limits: RuntimeLimits = current_app.extensions["widget.runtime_limits"]
    return limits


# The per-client limits are Flask-Limiter's dynamic limits: a callable it asks on every
# request. A client in an allowed network of shared addresses gets them raised by that
# network's multiplier (``RuntimeLimits.client_limit``); its budget is then its own, since
# Flask-Limiter's keys include the limit.


def sign_limit() -> str:
    return runtime_limits().client_limit("sign", request.remote_addr)


def ip_limit() -> str:
    return runtime_limits().client_limit("ip", request.remote_addr)


def links_limit() -> str:
    return runtime_limits().client_limit("links", request.remote_addr)


#: per client IP per campaign, on sign POSTs only
limit_signing = limiter.limit(sign_limit, key_func=client_and_campaign, methods=["POST"])
#: one budget per client IP shared by every state-changing request
limit_per_ip = limiter.shared_limit(ip_limit, scope="ip", methods=["POST"])
#: confirm links, per client IP, whatever the method
limit_links = limiter.shared_limit(links_limit, scope="links")
#: the sign receipt's poll (``views.progress``): an open widget asks every 5 s for 2 minutes,
#: every 20 s to 10 minutes, then once a minute (static/progress.js), about 100 times in its
#: first hour and 60 in each after: room for 5 widgets starting at once behind one address and
#: about 30 in an hour; an allowed shared network gets it raised like the other limits
PROGRESS_LIMIT = "60 per minute;3000 per hour"


def progress_limit() -> str:
    multiplier = runtime_limits().multiplier(request.remote_addr)
    return raised(PROGRESS_LIMIT, multiplier) if multiplier > 1 else PROGRESS_LIMIT


limit_progress = limiter.limit(progress_limit, key_func=client_ip)


def init_app(app: Flask) -> None:
    settings = widget_state(app).settings
    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_url
    if settings.ratelimit_storage_url.startswith("memory"):
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {}
    else:
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", redis_options())
    app.extensions["widget.runtime_limits"] = RuntimeLimits(settings, db.engine(app))
    limiter.init_app(app)
    _drop_app_wide_hooks(app)
    # init_app makes fresh storage but keeps the old storage's "dead" flag; a new app (tests,
    # a reloaded dev server) must start by trying its own storage.
    limiter._storage_dead = False


#: seconds to connect to Redis, and to wait for any one answer: a limit check is on every
#: sign and confirm, so a Redis that hangs must cost a request well under a second
REDIS_TIMEOUT = 0.5


def redis_options() -> dict[str, object]:
    """Timeouts on connecting and on every read, and no retries: a hung or lost Redis fails
    fast and Flask-Limiter falls back to memory. redis-py 6+ retries three times by default
    (and warns about ``retry_on_timeout``), so the ``Retry`` is given explicitly; 5 accepts it."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": REDIS_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
    }


def _drop_app_wide_hooks(app: Flask) -> None:
    """Every limit here is a view decorator, which checks itself. Flask-Limiter's app-wide hooks
    serve default limits, rate-limit headers and conditional deductions, none of which is used;
    they would only cost every request (the polled count most of all) its time."""
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    for hooks in (app.after_request_funcs, app.teardown_request_funcs):
        hooks[None] = [
            hook
            for hook in hooks[None]
            if getattr(hook, "__self__", None) is not limiter
            and getattr(hook, "args", ()) != (limiter,)
        ]


def retry_after() -> int:
    """Seconds until the limit that was just hit lets the client in again."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))


def api_limit() -> str:
    return runtime_limits().limit("api")


def api_key_id() -> str:
    """The API key the request was let in with (``views.api``): one budget per key, whatever
    address it comes from, so a key shared by several servers of a CRM is limited as one."""
    return f"api-key/{g.api_key.id}"


#: API requests per key; applied after the key is checked, so only known keys are counted
limit_per_api_key = limiter.limit(api_limit, key_func=api_key_id)


def login_limit() -> str:
    return runtime_limits().limit("login")


#: staff login attempts per client IP
limit_login = limiter.limit(login_limit, key_func=client_ip, methods=["POST"])


def staff_account() -> str:
    return f"staff/{g.staff.id}"


#: report PDFs per staff account (each is seconds of a core), whatever address it comes from
limit_report_pdf = limiter.limit(
    f"{LIMIT_PER_MINUTE} per minute", key_func=staff_account, scope="report-pdf"
)


def login_wait(email: str) -> int:
    """Seconds before this client may try this account's password again; 0: it may now.

    Only failures count (``login_failed``), per account *and* client, so strangers cannot lock
    the real admin out. Past the account's ceiling over all clients
    (``WIDGET_RATELIMIT_LOGIN_ACCOUNT``) a client that has failed already waits out its window:
    a distributed guesser gets one guess per address, and a client that has not failed (the
    admin, from their own address) is still let in with the right password.
    """
    limits = runtime_limits()
    account, client = _login_keys(email)
    try:
        strategy = limiter.limiter
        own = [
            (item, strategy.get_window_stats(item, "login-client", client))
            for item in parse_many(limits.limit("login"))
        ]
        waits = [_wait(item, stats) for item, stats in own]
        if not any(waits):
            ceiling = parse_many(limits.limit("login_account"))
            if any(
                _wait(item, strategy.get_window_stats(item, "login-account", account))
                for item in ceiling
            ):
                waits = [_wait(item, stats, failed=1) for item, stats in own]
        return max(waits)
    except Exception:
        log.exception("rate limit storage unreachable: sign-in not limited per account")
    return 0


def login_failed(email: str) -> None:
    """Count a wrong password against the account, from this client and from all clients."""
    limits = runtime_limits()
    account, client = _login_keys(email)
    try:
        strategy = limiter.limiter
        for item in parse_many(limits.limit("login")):
            strategy.hit(item, "login-client", client)
        for item in parse_many(limits.limit("login_account")):
            strategy.hit(item, "login-account", account)
    except Exception:
        log.exception("rate limit storage unreachable: a failed sign-in was not counted")


def _login_keys(email: str) -> tuple[str, str]:
    account = email.strip().lower()
    return account, f"{account}/{client_ip()}"


def _wait(item: RateLimitItem, stats: WindowStats, failed: int = 0) -> int:
    """Seconds until a key with these window ``stats`` may try again under ``item``: when its
    window is full, or (with ``failed``) when it holds that many failures already."""
    used = item.amount - stats.remaining
    if used < (failed or item.amount):
        return 0
    return max(1, int(stats.reset_time - time.time()))


def may_mail(address_key: str) -> bool:
    """Spend one of the address's mail budget (``WIDGET_RATELIMIT_MAIL``), if any is left.

    Shared by every process through the limiter's storage; if that storage is unreachable the
    mail goes out (a supporter's confirmation matters more than a cap) and it is logged."""
    return _spend("mail", address_key, runtime_limits().limit("mail"))


def spend_form_token(nonce: str) -> bool:
    """Whether this is the first use of the sign form token with ``nonce``; remembered for the
    token's lifetime in the limiter's storage (shared by every process when it is Redis), by
    one atomic increment. If that storage is unreachable the form is taken (and it is logged):
    the signature matters more than the fill-time check."""
    try:
        storage = limiter.limiter.storage
        key = f"action-widget/form-token/{nonce}"
        return storage.incr(key, int(FORM_MAX_AGE.total_seconds())) == 1
    except Exception:
        log.exception("rate limit storage unreachable: form token reuse not checked")
    return True


def _spend(scope: str, key: str, limit: str) -> bool:
    """One atomic take per limit (a round trip each), stopping at the first that is used up; a
    take from an earlier limit then is lost, which only matters to someone already refused."""
    try:
        strategy = limiter.limiter
        return all(strategy.hit(item, scope, key) for item in parse_many(limit))
    except Exception:
        log.exception("rate limit storage unreachable: %s not limited", scope)
    return True
