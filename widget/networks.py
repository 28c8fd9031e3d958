"""Which network a client is in: the unit every limit and the abuse monitor count by.

An IPv6 host gets a whole /64 (often a /56 or /48), and picks a fresh address in it at will, so
a limit per IPv6 address limits nothing. IPv6 clients are counted by their prefix
(``WIDGET_IPV6_PREFIX``, default 64); IPv4 clients, and IPv4-mapped IPv6 ones, by their address.
"""

from __future__ import annotations

import ipaddress


def client_network(ip: str | None, ipv6_prefix: int) -> str | None:
    """``ip``'s network as text: ``2001:db8:1:2::/64`` for IPv6, the address itself for IPv4.

    A value that is not an IP address (a Unix socket's peer, a test) is returned as it is."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        # From the integer, so a zone (``fe80::1%eth0``) does not split one network in two.
        return str(ipaddress.IPv6Network((int(address), ipv6_prefix), strict=False))
    return str(address)
