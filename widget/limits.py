"""Rate limits, all in one place (the ``limits`` package's moving window).

- Client IP: ``request.remote_addr``, which ``WIDGET_TRUSTED_PROXIES`` (werkzeug's ProxyFix)
  takes from ``X-Forwarded-For`` only as far as trusted proxies wrote it. With 0 proxies the
  header is ignored, so forging it buys no fresh budget. An IPv6 client counts by its
  ``WIDGET_IPV6_PREFIX`` network (``widget.networks``), since it may use any address in it.
- One round trip: a view's limits (``limited``) are all taken by one Redis script
  (``TAKE_ALL``), as is an address's mail budget; a sign POST costs Redis three round trips
  (its limits, its form token, the mail budget) where a decorator per limit and a call per
  window cost it seven. Either every window has room and each is charged, or none is: a refused
  request spends nothing.
- Storage: ``WIDGET_RATELIMIT_STORAGE_URL``. If Redis cannot be reached, limits fall back to
  each process's memory (a warning is logged) rather than failing supporters with a 500 or
  letting everything through, and Redis is tried again after 1, 2, 4 … 64 seconds.
- The windows are the ``limits`` package's own (its Redis keys and list of entries), so a
  window's statistics (``login_wait``) read what the script wrote.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request
from limits import RateLimitItem, WindowStats, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from . import widget_state
from .extensions import db
from .networks import client_network
from .report_pdf import LIMIT_PER_MINUTE
from .runtime_limits import RuntimeLimits, raised
from .tokens import FORM_MAX_AGE

log = logging.getLogger(__name__)

#: the first part of every window's identity (as the limits were keyed before this module)
PREFIX = "action-widget"
#: seconds to connect to Redis, and to wait for any one answer: a limit check is on every
#: sign and confirm, so a Redis that hangs must cost a request well under a second
REDIS_TIMEOUT = 0.5
#: after Redis failed, seconds before it is tried again: doubling from 1 up to this
MAX_RETRY_SECONDS = 64

#: Every window (KEYS[i], ARGV[2i] requests in ARGV[2i+1] seconds) checked as the limits
#: package's ``acquire_moving_window.lua`` does: a list of entry times, newest first, full when
#: the entry ``amount`` back is inside the window (it has room again ``expiry`` seconds after
#: that entry). Only if none is full is an entry added to each. Answers ``{0}``, or how many
#: windows are full and (as text: a number reply would lose its fraction) when the last of them
#: has room again.
TAKE_ALL = """
local now = tonumber(ARGV[1])
local full, free = 0, 0
for i = 1, #KEYS do
  local amount, expiry = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local entry = redis.call('lindex', KEYS[i], amount - 1)
  if entry and tonumber(entry) >= now - expiry then
    full = full + 1
    free = math.max(free, tonumber(entry) + expiry)
  end
end
if full > 0 then
  return {full, tostring(free)}
end
for i = 1, #KEYS do
  local amount, expiry = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('lpush', KEYS[i], now)
  redis.call('ltrim', KEYS[i], 0, amount - 1)
  redis.call('expire', KEYS[i], expiry)
end
return {0}
"""

#: one window to charge: its limit and the strings that name whose budget it is
Window = tuple[RateLimitItem, Sequence[str]]


class Store:
    """Where the windows live: the configured storage, and this process's memory while Redis
    cannot be reached."""

    def __init__(self, url: str) -> None:
        options: dict[str, Any] = {} if url.startswith("memory") else redis_options()
        configured: Storage = storage_from_string(url, **options)
        self.redis = configured if isinstance(configured, RedisStorage) else None
        self._windows = MovingWindowRateLimiter(configured)
        #: memory: the configured storage (``memory://``), or the fallback of a Redis one
        self.memory = MovingWindowRateLimiter(MemoryStorage()) if self.redis else self._windows
        self._take_all = (
            self.redis.get_connection().register_script(TAKE_ALL) if self.redis else None
        )
        self._lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0

    @property
    def windows(self) -> MovingWindowRateLimiter:
        """The strategy to read and charge windows with now: Redis's, or memory's while Redis is
        down."""
        return self.memory if self._redis_down() else self._windows

    def take(self, windows: Sequence[Window]) -> float | None:
        """Charge every window, or none if one is full: None, or seconds until every full
        window has room again (the client's Retry-After)."""
        if not windows:
            return None
        if self._take_all is not None and not self._redis_down():
            try:
                return self._take_in_redis(windows)
            except self.redis.base_exceptions:  # type: ignore[union-attr]
                self.failed()
        return self._take_in_memory(windows)

    def failed(self, error: BaseException | None = None) -> None:
        """Redis did not answer (or raised ``error``, if it is one of Redis's): use memory until
        the next try (1, 2, 4 … seconds away). Requests that were waiting on the same outage
        when it was found count as that one failure."""
        if self.redis is None or (
            error is not None and not isinstance(error, self.redis.base_exceptions)
        ):
            return
        with self._lock:
            now = time.monotonic()
            if self._failures and now < self._retry_at:
                return
            if not self._failures:
                log.warning("Rate limit storage unreachable - falling back to in-memory storage")
            self._retry_at = now + min(2**self._failures, MAX_RETRY_SECONDS)
            self._failures += 1

    def _redis_down(self) -> bool:
        return bool(self._failures) and time.monotonic() < self._retry_at

    def _take_in_redis(self, windows: Sequence[Window]) -> float | None:
        assert self.redis is not None and self._take_all is not None
        now = time.time()
        keys = [self.redis.prefixed_key(item.key_for(*names)) for item, names in windows]
        args: list[float] = [now]
        for item, _names in windows:
            args += [item.amount, item.get_expiry()]
        answer = self._take_all(keys=keys, args=args)
        if self._failures:
            with self._lock:
                recovered, self._failures = self._failures, 0
            if recovered:
                log.info("Rate limit storage recovered")
        return float(answer[1]) - now if int(answer[0]) else None

    def _take_in_memory(self, windows: Sequence[Window]) -> float | None:
        with self._lock:  # test-then-hit, with no other thread's hit in between
            full = [
                self.memory.get_window_stats(item, *names).reset_time
                for item, names in windows
                if not self.memory.test(item, *names)
            ]
            if full:
                return max(full) - time.time()
            for item, names in windows:
                self.memory.hit(item, *names)
        return None


def store(app: Flask | None = None) -> Store:
    found: Store = (app or current_app).extensions["widget.limits"]
    return found


def redis_options() -> dict[str, object]:
    """Timeouts on connecting and on every read, and no retries: a hung or lost Redis fails
    fast and the limits fall back to memory. redis-py 6+ retries three times by default
    (and warns about ``retry_on_timeout``), so the ``Retry`` is given explicitly; 5 accepts it."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": REDIS_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
    }


def init_app(app: Flask) -> None:
    settings = widget_state(app).settings
    app.extensions["widget.runtime_limits"] = RuntimeLimits(settings, db.engine(app))
    app.extensions["widget.limits"] = Store(settings.ratelimit_storage_url)


def runtime_limits() -> RuntimeLimits:
    """The limits in force (``widget.runtime_limits``): an admin's override or the setting."""
    limits: RuntimeLimits = current_app.extensions["widget.runtime_limits"]
    return limits


@functools.lru_cache(maxsize=256)
def _items(limit: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit))


def client_ip() -> str:
    """The client's network (``widget.networks``): one budget per IPv4 address or IPv6 prefix."""
    network = client_network(request.remote_addr, widget_state().settings.ipv6_prefix)
    return network or "unknown"


def client_and_campaign() -> str:
    return f"{client_ip()}/{(request.view_args or {}).get('slug', '')}"


@dataclass(frozen=True)
class Limit:
    """One of a view's limits: the limit in force (asked on every request, so an admin's change
    holds at once), whose budget it spends (``key``), the methods it applies to (all when
    empty), and its ``scope``: a name several views share one budget under, or (None) each
    view its own."""

    limit: Callable[[], str]
    key: Callable[[], str]
    methods: frozenset[str] = frozenset()
    scope: str | None = None

    def windows(self) -> list[Window]:
        names = (PREFIX, self.key(), self.scope or request.endpoint or "")
        return [(item, names) for item in _items(self.limit())]


F = TypeVar("F", bound=Callable[..., Any])


def limited(*view_limits: Limit) -> Callable[[F], F]:
    """Charge the request to each of ``view_limits`` that applies to its method, in one round
    trip; over any of them, 429 (the blueprint's handler answers it, with ``retry_after``)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            windows = [
                window
                for limit in view_limits
                if not limit.methods or request.method in limit.methods
                for window in limit.windows()
            ]
            wait = store().take(windows)
            if wait is not None:
                g.retry_after = max(1, int(wait))
                abort(429)
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def retry_after() -> int:
    """Seconds until the limit that was just hit lets the client in again."""
    seconds: int = g.get("retry_after", 60)
    return seconds


# The per-client limits are asked of the runtime limits on every request. A client in an
# allowed network of shared addresses gets them raised by that network's multiplier
# (``RuntimeLimits.client_limit``); its budget is then its own, since a window's key includes
# its limit.


def _client_limit(name: str) -> Callable[[], str]:
    return lambda: runtime_limits().client_limit(name, request.remote_addr)


POST = frozenset({"POST"})
#: per client IP per campaign, on sign POSTs only
SIGNING = Limit(_client_limit("sign"), client_and_campaign, POST)
#: one budget per client IP shared by every state-changing request
PER_IP = Limit(_client_limit("ip"), client_ip, POST, scope="ip")
#: confirm links, per client IP, whatever the method
LINKS = Limit(_client_limit("links"), client_ip, scope="links")
#: the sign receipt's poll (``views.progress``): an open widget asks every 5 s for 2 minutes,
#: every 20 s to 10 minutes, then once a minute (static/progress.js), about 100 times in its
#: first hour and 60 in each after: room for 5 widgets starting at once behind one address and
#: about 30 in an hour; an allowed shared network gets it raised like the other limits
PROGRESS_LIMIT = "60 per minute;3000 per hour"


def _progress_limit() -> str:
    multiplier = runtime_limits().multiplier(request.remote_addr)
    return raised(PROGRESS_LIMIT, multiplier) if multiplier > 1 else PROGRESS_LIMIT


PROGRESS = Limit(_progress_limit, client_ip)


def api_key_id() -> str:
    """The API key the request was let in with (``views.api``): one budget per key, whatever
    address it comes from, so a key shared by several servers of a CRM is limited as one."""
    return f"api-key/{g.api_key.id}"


#: API requests per key; applied after the key is checked, so only known keys are counted
PER_API_KEY = Limit(lambda: runtime_limits().limit("api"), api_key_id)
#: staff sign-in attempts per client IP, each form its own budget (password, code, new password)
LOGIN = Limit(lambda: runtime_limits().limit("login"), client_ip, POST)


def staff_account() -> str:
    return f"staff/{g.staff.id}"


#: report PDFs per staff account (each is seconds of a core), whatever address it comes from
REPORT_PDF = Limit(lambda: f"{LIMIT_PER_MINUTE} per minute", staff_account, scope="report-pdf")


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
    windows = store().windows
    try:
        own = [
            (item, windows.get_window_stats(item, "login-client", client))
            for item in _items(limits.limit("login"))
        ]
        waits = [_wait(item, stats) for item, stats in own]
        if not any(waits):
            ceiling = _items(limits.limit("login_account"))
            if any(
                _wait(item, windows.get_window_stats(item, "login-account", account))
                for item in ceiling
            ):
                waits = [_wait(item, stats, failed=1) for item, stats in own]
        return max(waits)
    except Exception as error:
        store().failed(error)
        log.exception("rate limit storage unreachable: sign-in not limited per account")
    return 0


def wait_out_login(email: str) -> None:
    """Answer 429 (with Retry-After) while this client must wait before trying this account's
    password or code again (``login_wait``); every form that judges one starts with it."""
    wait = login_wait(email)
    if wait:
        abort(429, retry_after=wait)


def login_failed(email: str) -> None:
    """Count a wrong password against the account, from this client and from all clients."""
    limits = runtime_limits()
    account, client = _login_keys(email)
    windows = store().windows
    try:
        for item in _items(limits.limit("login")):
            windows.hit(item, "login-client", client)
        for item in _items(limits.limit("login_account")):
            windows.hit(item, "login-account", account)
    except Exception as error:
        store().failed(error)
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
    """Spend one of the address's mail budget (``WIDGET_RATELIMIT_MAIL``), if any is left: every
    window of it in one round trip, charged only if each has room.

    Shared by every process through the limits' storage; while Redis is unreachable, by each
    process's memory (``Store``)."""
    windows = [(item, ("mail", address_key)) for item in _items(runtime_limits().limit("mail"))]
    return store().take(windows) is None


def spend_form_token(nonce: str) -> bool:
    """Whether this is the first use of the sign form token with ``nonce``; remembered for the
    token's lifetime in the limits' storage (shared by every process when it is Redis), by
    one atomic increment. If that storage is unreachable the form is taken (and it is logged):
    the signature matters more than the fill-time check."""
    try:
        storage = store().windows.storage
        key = f"{PREFIX}/form-token/{nonce}"
        return storage.incr(key, int(FORM_MAX_AGE.total_seconds())) == 1
    except Exception as error:
        store().failed(error)
        log.exception("rate limit storage unreachable: form token reuse not checked")
    return True
