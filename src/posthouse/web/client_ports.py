"""What a mail client is told to use: this server's name, the ports it serves, and which of
our domains a request is about.

The ports are the ones the listeners bound (the standard ones in production; moved ones
under ``--port-base``), so an answer never names a port nothing listens on; a listener that
is off is left out of every answer. The domain of a request comes from the address the
client asks about, else from the Host header (``autoconfig.<domain>``,
``autodiscover.<domain>``, or the domain itself); only local domains are answered, and no
answer depends on whether the address's user exists (RFC-less, but the issue's rule: an
answer reveals nothing about users).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from posthouse.dns.idn import canonical_address, canonical_domain

# Host name prefixes clients put before the mail domain.
CLIENT_HOST_PREFIXES = ("autoconfig.", "autodiscover.", "mta-sts.")
MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3 (a path of 256 with its angle brackets)


@dataclass(frozen=True)
class ClientPorts:
    """The client-facing ports that listen now (None: that listener is off)."""

    imaps: int | None = 993
    imap: int | None = 143
    pop3s: int | None = 995
    submissions: int | None = 465
    submission: int | None = 587


@dataclass(frozen=True)
class MailServer:
    """What the client configuration pages need to know about the server."""

    hostname: str
    ports: Callable[[], ClientPorts]
    is_local_domain: Callable[[str], Awaitable[bool]]

    async def domain_for(self, address: str | None, host: str) -> str | None:
        """The local domain a request is about, or None (answer 404)."""
        if address:
            parsed = parse_address(address)
            if parsed is None:
                return None
            domain = parsed.rpartition("@")[2]
        else:
            domain = host
            for prefix in CLIENT_HOST_PREFIXES:
                if domain.startswith(prefix):
                    domain = domain[len(prefix):]
                    break
        if not domain:
            return None
        domain = canonical_domain(domain)
        return domain if await self.is_local_domain(domain) else None


def parse_address(text: str) -> str | None:
    """A plausible ``local@domain`` in canonical form, or None."""
    text = text.strip()
    if len(text) > MAX_ADDRESS or text.count("@") != 1:
        return None
    local, _, domain = text.partition("@")
    if not local or not domain or any(c in text for c in " <>\"\\\r\n\t/"):
        return None
    if "." not in domain or domain.startswith(".") or ".." in domain:
        return None
    return canonical_address(text)
