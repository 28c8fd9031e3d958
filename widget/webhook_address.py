"""Where a webhook may be delivered: public addresses only, checked on the address we connect
to (resolved once, then connected to as resolved, so a name cannot resolve to a public address
for the check and a private one for the connection).

Loopback, private, link-local, shared (CGNAT), reserved, multicast and unspecified addresses,
IPv4 and IPv6 (an IPv4-mapped IPv6 address counts as its IPv4 one), are refused unless
``WIDGET_WEBHOOK_ALLOW_PRIVATE`` is on *and* the organisation added the endpoint (the CLI or
an admin; never a partner account's). A refused address fails like an unreachable one, with
the same stored text, so the staff page is no port scanner.
"""

from __future__ import annotations

import ipaddress
import socket

#: what a delivery records when it could not connect, refused or unreachable alike
UNREACHABLE = "could not connect to the receiver"


class Unreachable(OSError):
    """No address of the receiver may be or could be connected to."""

    def __init__(self) -> None:
        super().__init__(UNREACHABLE)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_private(host: str) -> bool:
    """The host, as written in a URL, is ``localhost`` or an address that is not public
    (decidable without resolving)."""
    if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return not is_public(host)
    except ValueError:
        return False


def resolve(host: str, port: int, *, private_ok: bool) -> list[str]:
    """The addresses to connect to, in the resolver's order; only public ones unless
    ``private_ok``. Raises ``Unreachable`` when none is left."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unreachable() from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    allowed = [a for a in addresses if private_ok or is_public(a)]
    if not allowed:
        raise Unreachable()
    return allowed
