"""Facts about a peer address that policy decisions need."""

from __future__ import annotations

import functools
import ipaddress


@functools.lru_cache(maxsize=1024)  # asked several times per IMAP connection; bounded
def is_loopback(ip: str) -> bool:
    """Whether ip is in 127.0.0.0/8 or is ::1 (also as an IPv4-mapped IPv6 address)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def plaintext_login_allowed(*, tls_active: bool, peer_ip: str, loopback_ok: bool) -> bool:
    """Passwords only over TLS, or from loopback when the operator allows it (RFC 8314)."""
    return tls_active or (loopback_ok and is_loopback(peer_ip))
