"""Site origins that may frame the widget: ``scheme://host[:port]`` and nothing else.

They go verbatim into the ``frame-ancestors`` directive of a CSP header, where a ``;`` starts a
new directive, a quote a keyword, a ``*`` a wildcard and a space another source. So an origin is
checked part by part here, once, for the CLI, the campaign files and the staff forms alike.
"""

from __future__ import annotations

import ipaddress
import re

#: one DNS label: letters, digits, inner hyphens (IDNs in their ``xn--`` form)
LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
ORIGIN = re.compile(r"(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?")
#: the longest origin accepted: scheme, a 253-character host name and a port
MAX_LENGTH = len("https://") + 253 + len(":65535")
EXAMPLE = "give scheme and host only, e.g. https://news.example.org"


class OriginError(ValueError):
    """Not an origin that may go into ``frame-ancestors``."""


def check_origin(value: object) -> str:
    """``value`` as a lowercase origin, or ``OriginError`` saying what to give instead."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        raise OriginError(f"{_shown(value)} is not valid; {EXAMPLE}")
    match = ORIGIN.fullmatch(value.lower())
    if match is None or not _valid_host(match.group(2)) or not _valid_port(match.group(3)):
        raise OriginError(f"{_shown(value)} is not valid; {EXAMPLE}")
    return match.group(0)


def is_origin(value: object) -> bool:
    try:
        check_origin(value)
    except OriginError:
        return False
    return True


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    labels = host.split(".")
    return len(host) <= 253 and all(LABEL.fullmatch(label) for label in labels)


def _valid_port(port: str | None) -> bool:
    return port is None or 1 <= int(port) <= 65535


def _shown(value: object) -> str:
    """The refused value for the message, cut short (it may be anything typed)."""
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."
